"""Materials at the line: the material master, bills of materials per product, the
line's stock locations (feeders, staging), shortage notices and how produced lots are
made. The material master and the BOMs may also come down from the plant
(``lineside aggregator material …``, ``bom …``); they then replace the file's, checked
by the same models and cross-checks.

Lot numbers read from tags (``materials:``) are a separate, older section
(``edge.config.quality.MaterialCfg``).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, model_validator

from edge.config.base import Id, Model
from edge.core.parse import check_text


def _unit(v: object) -> str:
    return check_text(v, max_len=16)


class MaterialMasterCfg(Model):
    """A material (component, raw material, packaging) the line uses."""

    id: Id
    """Material id (as the ERP knows it)."""
    name: Annotated[str, Field(max_length=120), AfterValidator(check_text)] = ""
    """Description."""
    unit: Annotated[str, Field(min_length=1), AfterValidator(_unit)] = "pcs"
    """Unit of quantities (pcs, kg, m …)."""
    lot_controlled: bool = True
    """Every quantity of it belongs to a lot the plant has received and released; an
    unknown lot is refused at move-in."""
    shelf_life_days: Annotated[float, Field(gt=0, le=36500)] | None = None
    """Days from receipt until a lot expires (the plant sets the expiry at receipt)."""
    backflush: bool = True
    """Consumed automatically from the parts counted (else issued explicitly with
    ``lineside stock issue``)."""


class BomItemCfg(Model):
    """One component of a product's bill of materials."""

    material: Id
    """Material id (must be in ``material_master``)."""
    quantity: Annotated[float, Field(gt=0, le=1e9)]
    """Quantity per unit of product, in the material's unit."""
    scrap_allowance: Annotated[float, Field(ge=0, le=10)] = 0.0
    """Extra share lost in the process (0.02 = 2 %): consumed = (good + scrap) ×
    quantity × (1 + scrap_allowance)."""
    feeder: Id | None = None
    """Location (``stock.locations``) it is loaded at; backflush takes it from the lots
    there. None: taken from any location holding it."""


class BomCfg(Model):
    """The bill of materials of one product."""

    product: Id
    """Product id (must be in ``products``)."""
    components: Annotated[list[BomItemCfg], Field(min_length=1)]
    """Its components."""

    @model_validator(mode="after")
    def _unique(self) -> BomCfg:
        seen: set[str] = set()
        for c in self.components:
            if c.material in seen:
                raise ValueError(f"material {c.material!r} is listed twice")
            seen.add(c.material)
        return self


class LocationCfg(Model):
    """A stock location at the line."""

    id: Id
    """Location id (scanned or typed at move-in)."""
    kind: Literal["feeder", "staging"] = "feeder"
    """A feeder loads a machine (backflush takes from it); staging holds lots waiting."""
    machine: str | None = None
    """Machine the feeder loads (documentation and the plant's genealogy)."""


class ProducedLotsCfg(Model):
    """How produced lots and serials are created automatically (with the order, product,
    quantity, time window and the material lots consumed in that window)."""

    every_parts: Annotated[int, Field(ge=1, le=10_000_000)] | None = None
    """A new lot every N parts counted (a pallet on the palletiser)."""
    machine: str | None = None
    """Machine whose counts make the parts (default: the line machine)."""
    serial_tag: str | None = None
    """A tag whose every new value is a produced serial (a label printer's serial)."""

    @model_validator(mode="after")
    def _one(self) -> ProducedLotsCfg:
        if self.every_parts is None and self.serial_tag is None:
            raise ValueError("give every_parts or serial_tag")
        return self


class StockCfg(Model):
    """Lineside stock: locations, shortage notices and produced lots."""

    locations: list[LocationCfg] = []
    """Feeders and staging areas at the line."""
    shortage_minutes: Annotated[float, Field(gt=0, le=10080)] = 30.0
    """Notice when stock at a feeder runs out within this many minutes at the current rate."""
    rate_window_min: Annotated[float, Field(gt=0, le=1440)] = 15.0
    """Trailing window of the consumption rate."""
    produced_lots: ProducedLotsCfg | None = None
    """Create produced lots/serials automatically (absent: recorded by hand)."""


def check_materials_sections(cfg: Any) -> list[str]:
    """Cross-section checks; each message starts with the field path."""
    errors: list[str] = []
    master: set[str] = set()
    for i, m in enumerate(cfg.material_master):
        if m.id in master:
            errors.append(f"material_master[{i}].id: duplicate material {m.id!r}")
        master.add(m.id)
    locations: set[str] = set()
    for i, loc in enumerate(cfg.stock.locations):
        if loc.id in locations:
            errors.append(f"stock.locations[{i}].id: duplicate location {loc.id!r}")
        locations.add(loc.id)
        if loc.machine is not None and loc.machine not in {m.name for m in cfg.machines}:
            errors.append(f"stock.locations[{i}].machine: unknown machine {loc.machine!r}")
    products = {p.id for p in cfg.products}
    boms: set[str] = set()
    for i, b in enumerate(cfg.boms):
        if b.product in boms:
            errors.append(f"boms[{i}].product: a second BOM for product {b.product!r}")
        boms.add(b.product)
        if b.product not in products:
            known = ", ".join(sorted(products)) or "none configured"
            errors.append(f"boms[{i}].product: unknown product {b.product!r} (known: {known})")
        for j, c in enumerate(b.components):
            if c.material not in master:
                errors.append(f"boms[{i}].components[{j}].material: {c.material!r} is not in material_master")
            if c.feeder is not None and c.feeder not in locations:
                errors.append(f"boms[{i}].components[{j}].feeder: unknown location {c.feeder!r}")
    pl = cfg.stock.produced_lots
    if pl is not None:
        if pl.serial_tag is not None and pl.serial_tag not in {t.name for t in cfg.tags}:
            errors.append(f"stock.produced_lots.serial_tag: unknown tag {pl.serial_tag!r}")
        if pl.machine is not None and pl.machine not in {m.name for m in cfg.machines}:
            errors.append(f"stock.produced_lots.machine: unknown machine {pl.machine!r}")
    return errors
