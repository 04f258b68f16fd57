"""Spare parts at the line's store room (pure): on hand, reserved, available, and the
reorder notice, folded from append-only movements.

Movements: ``receipt`` (+qty arrives), ``count`` (a stock count: qty is the delta that
makes the book match what was counted), ``issue`` (−qty to a work order), ``reserve``
(+qty reserved for a scheduled order) and ``release`` (−qty of a reservation: issued,
cancelled or finished without it). On hand changes with receipt, count and issue;
reserved with reserve and release. Available = on hand − reserved; a part whose
available quantity falls below its minimum needs reordering, up to its maximum.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

ON_HAND_KINDS = ("receipt", "count", "issue")
MOVEMENT_KINDS = ("receipt", "count", "issue", "reserve", "release")


@dataclass
class Part:
    id: str
    name: str = ""
    min: float = 0.0
    max: float = 0.0
    on_hand: float = 0.0
    reserved: float = 0.0
    by_order: dict[str, float] = field(default_factory=dict)  # reserved per work order

    @property
    def available(self) -> float:
        return self.on_hand - self.reserved

    @property
    def reorder(self) -> bool:
        return self.available < self.min

    @property
    def reorder_qty(self) -> float:
        return max(0.0, self.max - self.available) if self.reorder else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "part": self.id,
            "name": self.name,
            "min": self.min,
            "max": self.max,
            "on_hand": self.on_hand,
            "reserved": self.reserved,
            "available": self.available,
            "reorder": self.reorder,
            "reorder_qty": self.reorder_qty,
        }


def apply_movement(parts: dict[str, Part], part: str, kind: str, qty: float, wo: str | None) -> None:
    p = parts.setdefault(part, Part(part))
    if kind in ON_HAND_KINDS:
        p.on_hand += qty
    elif kind in ("reserve", "release"):
        p.reserved += qty
        if wo:
            left = p.by_order.get(wo, 0.0) + qty
            if left > 1e-9:
                p.by_order[wo] = left
            else:
                p.by_order.pop(wo, None)
