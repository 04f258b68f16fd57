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


class SamplingCfg(Model):
    """When a subgroup is taken. A rational subgroup is a few consecutive parts made under
    the same conditions; subgroups are spaced out so that the variation between them shows
    what changes over time. Exactly one of ``every_parts``, ``every_s`` and ``trigger``.
    Sampling happens only while the characteristic's machine runs: a subgroup interrupted
    by a stop is discarded, and stopped time does not make subgroups due."""

    every_parts: Annotated[int, Field(ge=1, le=10_000_000)] | None = None
    """Take a subgroup every N parts, counted by the machine's total (else good) counter."""
    every_s: Annotated[float, Field(gt=0, le=86_400)] | None = None
    """Take a subgroup every T seconds of running time."""
    trigger: str | None = None
    """Take one value each time this tag changes (e.g. a checkweigher's weighing counter);
    ``subgroup_size`` consecutive triggers make a subgroup."""

    @model_validator(mode="after")
    def _one(self) -> SamplingCfg:
        given = [k for k in ("every_parts", "every_s", "trigger") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of every_parts, every_s or trigger")
        return self


class AttributeCfg(Model):
    """Where the counts of an attribute chart (p, np, c, u) come from when they are read
    from the line: the increase of a cumulative counter tag over each sampling interval,
    against the parts made in it (the machine's counter)."""

    count_tag: str
    """Cumulative counter of defectives (p, np) or defects (c, u), e.g. a reject counter."""
    size_tag: str | None = None
    """Cumulative counter of inspected units; default: the machine's total (else good) counter."""


#: Chart kinds charted live at the line.
LIVE_CHARTS = ("imr", "xbar-r", "xbar-s", "p", "np", "c", "u", "ewma", "cusum")


class CharacteristicCfg(Model):
    name: Annotated[str, Field(pattern=r"^[A-Za-z][A-Za-z0-9_.\-]*$")]
    """Characteristic name (fill_weight, cap_torque)."""
    tag: str | None = None
    """Tag measured for a variables chart; each new value while a subgroup is being taken
    is one part's measurement."""
    attribute: AttributeCfg | None = None
    """Counter tags of an attribute chart read from the line."""
    manual: bool = False
    """Values (or counts) are entered by operators instead of read from tags."""
    sampling: SamplingCfg | None = None
    """When subgroups are taken from the line (required unless manual)."""
    machine: str | None = None
    """Machine whose running state gates sampling and whose counter counts parts (default:
    the line machine)."""
    chart: Literal["imr", "xbar-r", "xbar-s", "p", "np", "c", "u", "ewma", "cusum"] = "imr"
    """Chart used live: variables (imr, xbar-r, xbar-s), attributes (p, np, c, u) or
    time-weighted (ewma, cusum: of individual values, or of subgroup means with
    subgroup_size)."""
    subgroup_size: Annotated[int, Field(ge=2, le=25)] | None = None
    """Subgroup size for X̄-R / X̄-S (and EWMA/CUSUM of subgroup means)."""
    sample_size: Annotated[int, Field(ge=1, le=10_000_000)] | None = None
    """Units per sample of an np chart (constant)."""
    spec: SpecLimits = SpecLimits()
    """Specification limits (out-of-spec is kept apart from out-of-control)."""
    rules: str = "we"
    """Run rules on Shewhart charts: ``nelson``, ``we`` or a list like ``we1,we2``."""
    baseline_points: Annotated[int, Field(ge=10, le=10_000)] = 100
    """Plotted points collected before limits are computed and frozen (phase I)."""
    limits: FixedLimits | None = None
    """Known centre and sigma; skips the baseline."""
    product: str | None = None
    """Only while this product is made (None: always). Same as ``products: [X]``."""
    products: list[str] = []
    """Only while one of these products is made (empty: every product). Limits are kept per
    product either way."""
    rearm_s: Annotated[float, Field(ge=0, le=7 * 86_400)] = 1800.0
    """After an acknowledgement, the same rule raises no alarm within this window unless a
    new violation completes from points after the acknowledgement."""
    ewma_lambda: Annotated[float, Field(gt=0, le=1)] = 0.2
    """EWMA: weight of the newest point."""
    ewma_L: Annotated[float, Field(gt=0, le=6)] = 2.962
    """EWMA: width of the limits in sigmas (2.962 with λ 0.2 gives ARL0 500)."""
    cusum_k: Annotated[float, Field(ge=0, le=3)] = 0.5
    """CUSUM: reference value in sigmas (half the shift to detect)."""
    cusum_h: Annotated[float, Field(gt=0, le=20)] = 5.0
    """CUSUM: decision interval in sigmas."""
    expected_false_alarms_per_day: Annotated[float, Field(ge=0)] | None = None
    """The most false alarms a day the line accepts in control: at least what the rules
    and sampling promise (subgroups a day / ARL0, which `lineside spc arl` computes); the
    replay test of the shipped line holds a day of the simulator to it."""
    actions: SpcActions = SpcActions()
    """What an alarm does on the line."""

    @property
    def all_products(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(([self.product] if self.product else []) + list(self.products)))

    @property
    def values_per_point(self) -> int:
        """Values that make one plotted point (1 for individuals and attribute samples)."""
        if self.chart in ("xbar-r", "xbar-s", "ewma", "cusum") and self.subgroup_size:
            return self.subgroup_size
        return 1

    @model_validator(mode="after")
    def _shape(self) -> CharacteristicCfg:
        attr = self.chart in ("p", "np", "c", "u")
        sources = (self.tag is not None) + (self.attribute is not None) + self.manual
        if sources != 1:
            raise ValueError("give exactly one of tag (variables), attribute (counter tags) or manual: true")
        if attr and self.tag is not None:
            raise ValueError(
                f"a {self.chart} chart counts: give attribute: {{count_tag: ...}} or manual: true"
            )
        if not attr and self.attribute is not None:
            raise ValueError(f"attribute counters need a p, np, c or u chart, not {self.chart}")
        if not self.manual and self.sampling is None:
            raise ValueError(
                "say when subgroups are taken: sampling: {every_parts: N} or {every_s: T} or {trigger: TAG}"
            )
        if self.manual and self.sampling is not None:
            raise ValueError(
                "sampling is for values read from the line; manual values are charted as entered"
            )
        if self.chart in ("xbar-r", "xbar-s") and self.subgroup_size is None:
            raise ValueError(f"a {self.chart} chart needs subgroup_size")
        if self.chart == "np" and self.sample_size is None:
            raise ValueError("an np chart needs sample_size")
        if attr and self.limits is not None:
            raise ValueError("typed limits (center, sigma) are for variables charts")
        from edge.logic.quality.rules import resolve_rules

        try:
            resolve_rules(self.rules)
        except ValueError as e:
            raise ValueError(f"rules: {e}") from None
        return self


class SpcCfg(Model):
    """What the line does around SPC alarms: the out-of-control action plan (OCAP) lists
    an acknowledgement picks its cause and action from, and the reason a stop-line books."""

    causes: list[Annotated[str, Field(pattern=r"^[A-Za-z][A-Za-z0-9_.\-]*$")]] = [
        "no_cause_found",
        "measurement_error",
        "material",
        "machine",
        "method",
        "operator",
    ]
    """Assignable-cause codes an acknowledgement chooses from."""
    actions: list[Annotated[str, Field(pattern=r"^[A-Za-z][A-Za-z0-9_.\-]*$")]] = [
        "none",
        "adjusted",
        "repaired",
        "remeasured",
        "parts_quarantined",
        "escalated",
    ]
    """Action codes an acknowledgement chooses from."""
    quality_hold_reason: str | None = None
    """Reason code (from the reason tree) booked automatically on the line machine's stop
    while an SPC alarm holds the line (stop-line); None leaves the stop unexplained."""

    @model_validator(mode="after")
    def _lists(self) -> SpcCfg:
        if not self.causes or not self.actions:
            raise ValueError("causes and actions need at least one code each")
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
        refs = [("tag", c.tag)]
        if c.sampling is not None:
            refs.append(("sampling.trigger", c.sampling.trigger))
        if c.attribute is not None:
            refs += [
                ("attribute.count_tag", c.attribute.count_tag),
                ("attribute.size_tag", c.attribute.size_tag),
            ]
        for field, t in refs:
            if t is not None and t not in tags:
                errors.append(f"{where}.{field}: characteristic {c.name!r} refers to unknown tag {t!r}")
        machines = {m.name: m for m in cfg.machines}
        if c.machine is not None and c.machine not in machines:
            errors.append(f"{where}.machine: unknown machine {c.machine!r}")
        if not c.manual:
            m_name = c.machine or cfg.line_machine or (cfg.machines[0].name if cfg.machines else None)
            m = machines.get(m_name) if m_name else None
            if m is None:
                errors.append(
                    f"{where}: sampling from the line needs a machine (machines: ...) whose running state gates it"
                )
            elif (
                (c.sampling and c.sampling.every_parts) or (c.attribute and not c.attribute.size_tag)
            ) and not (m.counters and (m.counters.total or m.counters.good)):
                errors.append(
                    f"{where}.sampling: machine {m.name!r} has no total or good counter to count parts"
                )
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
        for p in c.all_products:
            if p not in {p.id for p in cfg.products}:
                errors.append(f"{where}.products: unknown product {p!r}")
    hold = cfg.spc.quality_hold_reason
    if hold is not None:
        codes: set[str] = set()
        stack = list(cfg.reasons)
        while stack:
            r = stack.pop()
            codes.add(r.code)
            stack.extend(r.children)
        if hold not in codes:
            errors.append(f"spc.quality_hold_reason: {hold!r} is not in the reason tree")
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
