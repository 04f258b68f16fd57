"""What the plant sends down to a line: the bodies of its commands (a work order released
or cancelled, a reason tree, a product list), validated like the config. The line's
command service (``edge.services.commands``) applies them; the wire protocol
(``sync.protocol``) carries them."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, Field

from edge.config.base import Id, Model
from edge.config.materials import BomCfg, MaterialMasterCfg
from edge.config.operators import OperatorCfg
from edge.config.production import ProductCfg, ReasonCfg
from edge.core.parse import check_text


class WorkOrderBody(Model):
    """Body of ``cmd/work_order``: release (or update) an order on the line's dispatch
    list, or cancel one that has not started."""

    action: Literal["release", "cancel"] = "release"
    order_id: Id
    """Work order id (the id rule: printable, at most 64 characters, no ``+ # /``)."""
    product: Id | None = None
    """Product id; required to release."""
    # Strict: a quantity of 5.7 or ``true`` in an ERP export is an error, not 5 or 1.
    quantity: Annotated[int, Field(strict=True, gt=0, le=100_000_000)] | None = None
    """Ordered quantity (a whole number)."""
    due: Annotated[float, Field(strict=True, ge=0, le=253_402_300_799)] | None = None
    """Due date, epoch seconds."""
    priority: Annotated[int, Field(strict=True, ge=0, le=1000)] = 0
    """Higher first on the line's dispatch list."""
    description: Annotated[str, Field(max_length=500), AfterValidator(check_text)] = ""
    """Free text for the operators (no control characters)."""


class PlanEntry(Model):
    """One order of a line's released sequence."""

    order_id: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[^\s/#+]+$")]
    product: str
    quantity: Annotated[int, Field(gt=0, le=100_000_000)]
    due: float | None = None
    priority: Annotated[int, Field(ge=0, le=1000)] = 0
    resource: str = ""
    start: float
    """Planned start (epoch s)."""
    end: float
    """Planned end."""
    setup_min: Annotated[float, Field(ge=0)] = 0.0
    """Changeover planned before it."""
    crew: list[str] = []
    """Operators planned for it."""
    tools: list[str] = []
    """Tools or moulds (copies) planned for it."""
    materials: list[str] = []


class PlanBody(Model):
    """Body of ``cmd/plan``: the released part of the plant's plan for this line, in
    sequence. It replaces the line's previous plan; its orders go on the dispatch list."""

    plan_id: Annotated[str, Field(min_length=1, max_length=64)]
    released_at: float
    rules: Literal["next_feasible"] = "next_feasible"
    """How the line resequences on its own while the plant is unreachable: the next
    order of the sequence that can start."""
    sequence: list[PlanEntry] = []


class ReasonsBody(Model):
    """Body of ``cmd/reasons``: a reason tree that replaces the config file's."""

    reasons: list[ReasonCfg]


class ProductsBody(Model):
    """Body of ``cmd/products``: a product list that replaces the config file's."""

    products: list[ProductCfg]


class OperatorsBody(Model):
    """Body of ``cmd/operators``: the operators who may log in, replacing the config
    file's. They carry PIN hashes (``lineside operator hash-pin``) only: a field holding
    a PIN is refused (the model forbids unknown fields) and so is a ``pin_hash`` that is
    not a hash (the line's cross-checks)."""

    operators: list[OperatorCfg]


class MaterialMasterBody(Model):
    """Body of ``cmd/material_master``: a material master that replaces the config file's."""

    materials: list[MaterialMasterCfg]


class BomsBody(Model):
    """Body of ``cmd/boms``: bills of materials that replace the config file's."""

    boms: list[BomCfg]


LotStatus = Literal["released", "quarantine", "blocked", "expired"]


class LotEntry(Model):
    """A material lot as the plant knows it: received, with its status."""

    lot: Id
    """Lot number (the plant's, as scanned at the line)."""
    material: Id
    """Material id."""
    status: LotStatus
    """Only released lots may be moved to the line; a block holds what was made from it."""
    expiry: Annotated[float, Field(strict=True, ge=0, le=253_402_300_799)] | None = None
    """Expiry, epoch seconds (None: does not expire)."""
    supplier_lot: Annotated[str, Field(max_length=64), AfterValidator(check_text)] = ""
    """The supplier's lot number (for a supplier's recall)."""
    quantity: Annotated[float, Field(strict=False, ge=0, le=1e12)] | None = None
    """Quantity received."""
    reason: Annotated[str, Field(max_length=500), AfterValidator(check_text)] = ""
    """Why the status is what it is (a recall notice, a failed incoming inspection)."""


class LotsBody(Model):
    """Body of ``cmd/lots``: lots received at the plant or whose status changed; each
    replaces the line's cached entry of that lot."""

    lots: Annotated[list[LotEntry], Field(min_length=1, max_length=10_000)]


#: Command kind → the model of its body.
BODIES: dict[str, type[Model]] = {
    "work_order": WorkOrderBody,
    "reasons": ReasonsBody,
    "products": ProductsBody,
    "plan": PlanBody,
    "material_master": MaterialMasterBody,
    "boms": BomsBody,
    "lots": LotsBody,
    "operators": OperatorsBody,
}
