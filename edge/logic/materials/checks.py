"""Whether a lot may go to the line (pure): the checks of a move in, each refusal with
its reason.

A lot is accepted at a line location only when its material is a component of the
running product's bill of materials, the plant knows the lot (it is in the cached lot
list the plant sent down), the lot is *released* and it has not expired. An unknown lot
of a material that is not lot-controlled is accepted (no lot list covers it).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

#: Lot statuses, as at the plant: only ``released`` lots may be used.
STATUSES = ("released", "quarantine", "blocked", "expired")


@dataclass(frozen=True)
class LotInfo:
    """A lot as the plant sent it down."""

    lot: str
    material: str
    status: str
    expiry: float | None


def refusal(
    *,
    lot: str,
    material: str,
    info: LotInfo | None,
    bom_materials: Collection[str] | None,
    product: str | None,
    lot_controlled: bool,
    now: float,
) -> str | None:
    """Why ``lot`` of ``material`` may not be moved in now (None: it may).

    ``bom_materials`` are the components of the running product (None: no product is
    running, so no BOM applies and the check is skipped)."""
    if bom_materials is not None and material not in bom_materials:
        return f"material {material!r} is not in the bill of materials of product {product!r}"
    if info is None:
        if lot_controlled:
            return f"lot {lot!r} is not in the plant's lot list (not received, or not sent to this line yet)"
        return None
    if info.material != material:
        return f"lot {lot!r} is a lot of {info.material!r}, not {material!r}"
    if info.status != "released":
        return f"lot {lot!r} is {info.status}, not released"
    if info.expiry is not None and info.expiry <= now:
        return f"lot {lot!r} expired"
    return None
