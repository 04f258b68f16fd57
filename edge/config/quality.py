"""Config of SPC characteristics: what is measured, how it is charted, its spec limits,
which rules apply and what an alarm does on the line."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, model_validator

from edge.config.base import Id, Model


class SpecLimits(Model):
    lsl: float | None = None
    """Lower specification limit."""
    target: float | None = None
    """Target (nominal) value."""
    usl: float | None = None
    """Upper specification limit."""

    @model_validator(mode="after")
    def _order(self) -> SpecLimits:
        if self.lsl is not None and self.usl is not None and self.lsl >= self.usl:
            raise ValueError("lsl must be below usl")
        return self


class FixedLimits(Model):
    """Known process centre and sigma (e.g. from an earlier study): limits are frozen from
    the start instead of after a baseline."""

    center: float
    """Process centre."""
    sigma: Annotated[float, Field(gt=0)]
    """Process standard deviation (within subgroups)."""


class SpcActions(Model):
    stop_line_tag: str | None = None
    """Writable tag set true on an out-of-control alarm (and false when acknowledged)."""
    andon_tag: str | None = None
    """Writable tag set true while an alarm is unacknowledged."""
    act_on: Literal["out_of_control", "out_of_spec", "both"] = "out_of_control"
    """Which alarms act on the line."""


class CharacteristicCfg(Model):
    name: Annotated[str, Field(pattern=r"^[A-Za-z][A-Za-z0-9_.\-]*$")]
    """Characteristic name (fill_weight, cap_torque)."""
    tag: str | None = None
    """Tag sampled for the characteristic (each new value, or on trigger)."""
    trigger: str | None = None
    """Take a sample of ``tag`` when this tag changes (e.g. the cycle counter)."""
    manual: bool = False
    """Values are entered by operators instead of read from a tag."""
    chart: Literal["imr", "xbar-r", "xbar-s"] = "imr"
    """Variables chart used live."""
    subgroup_size: Annotated[int, Field(ge=2, le=25)] | None = None
    """Subgroup size for X̄-R / X̄-S."""
    spec: SpecLimits = SpecLimits()
    """Specification limits (out-of-spec is kept apart from out-of-control)."""
    rules: str = "we"
    """Run rules: ``nelson``, ``we`` or a list like ``nelson1,nelson2,nelson5``."""
    baseline_points: Annotated[int, Field(ge=10, le=10_000)] = 100
    """Plotted points collected before limits are computed and frozen (phase I)."""
    limits: FixedLimits | None = None
    """Known centre and sigma; skips the baseline."""
    product: str | None = None
    """Only while this product is made (None: always)."""
    actions: SpcActions = SpcActions()
    """What an alarm does on the line."""

    @model_validator(mode="after")
    def _shape(self) -> CharacteristicCfg:
        if self.manual == (self.tag is not None):
            raise ValueError("give either tag (read from the line) or manual: true")
        if self.chart in ("xbar-r", "xbar-s") and self.subgroup_size is None:
            raise ValueError(f"a {self.chart} chart needs subgroup_size")
        from edge.logic.quality.rules import resolve_rules

        try:
            resolve_rules(self.rules)
        except ValueError as e:
            raise ValueError(f"rules: {e}") from None
        return self


def check_quality_sections(cfg: Any) -> list[str]:
    errors: list[str] = []
    tags = {t.name: t for t in cfg.tags}
    seen: set[str] = set()
    for i, c in enumerate(cfg.characteristics):
        where = f"characteristics[{i}]"
        if c.name in seen:
            errors.append(f"{where}.name: duplicate characteristic {c.name!r}")
        seen.add(c.name)
        for field in ("tag", "trigger"):
            t = getattr(c, field)
            if t is not None and t not in tags:
                errors.append(f"{where}.{field}: characteristic {c.name!r} refers to unknown tag {t!r}")
        for field in ("stop_line_tag", "andon_tag"):
            t = getattr(c.actions, field)
            if t is None:
                continue
            if t not in tags:
                errors.append(f"{where}.actions.{field}: unknown tag {t!r}")
            elif not tags[t].writable:
                errors.append(
                    f"{where}.actions.{field}: tag {t!r} is not writable (set writable: true to allow SPC to write it)"
                )
            elif tags[t].type != "bool":
                errors.append(f"{where}.actions.{field}: tag {t!r} must be a bool")
        if c.product is not None and c.product not in {p.id for p in cfg.products}:
            errors.append(f"{where}.product: unknown product {c.product!r}")
    for i, m in enumerate(cfg.materials):
        if m.lot_tag not in tags:
            errors.append(f"materials[{i}].lot_tag: unknown tag {m.lot_tag!r}")
    plans: set[str] = set()
    for i, pl in enumerate(cfg.inspections):
        if pl.name in plans:
            errors.append(f"inspections[{i}].name: duplicate inspection plan {pl.name!r}")
        plans.add(pl.name)
        if pl.product is not None and pl.product not in {p.id for p in cfg.products}:
            errors.append(f"inspections[{i}].product: unknown product {pl.product!r}")
        items: set[str] = set()
        for j, it in enumerate(pl.items):
            if it.name in items:
                errors.append(f"inspections[{i}].items[{j}].name: duplicate item {it.name!r}")
            items.add(it.name)
    return errors


class InspectionItemCfg(Model):
    name: Annotated[str, Field(pattern=r"^[A-Za-z][A-Za-z0-9_.\-]*$")]
    """Item name."""
    kind: Literal["measure", "check"] = "check"
    """``measure``: a number (within lsl/usl passes); ``check``: pass or fail."""
    text: str = ""
    """What to check, shown to the operator."""
    unit: str = ""
    """Unit of a measurement."""
    lsl: float | None = None
    """Lowest passing value."""
    usl: float | None = None
    """Highest passing value."""
    plausible: tuple[float, float] | None = None
    """Values outside this range are refused as typing errors, not recorded as fails."""


class InspectionPlanCfg(Model):
    name: Annotated[str, Field(pattern=r"^[A-Za-z][A-Za-z0-9_.\-]*$")]
    """Plan name (first_off, hourly_check)."""
    product: str | None = None
    """Only for this product (None: every product)."""
    at_order_start: bool = False
    """Due when a work order starts."""
    every_parts: Annotated[int, Field(gt=0)] | None = None
    """Due every N parts (good + scrap) of the order."""
    every_minutes: Annotated[float, Field(gt=0)] | None = None
    """Due every T minutes while an order runs."""
    grace_minutes: Annotated[float, Field(ge=0)] = 10.0
    """A due inspection becomes overdue after this long."""
    items: list[InspectionItemCfg]
    """What is inspected."""

    @model_validator(mode="after")
    def _when(self) -> InspectionPlanCfg:
        if not (self.at_order_start or self.every_parts or self.every_minutes):
            raise ValueError("say when it is due: at_order_start, every_parts or every_minutes")
        if not self.items:
            raise ValueError("an inspection plan needs at least one item")
        return self


class MaterialCfg(Model):
    material: Id
    """Material id (preforms, caps, labels)."""
    lot_tag: str
    """Tag holding the lot number of the material being fed (e.g. from a scanner on the
    PLC); each new value while an order runs is recorded as consumed."""
