"""Config sections for line logic: machines and their state rules, counters, the reason
tree, fault-code map, shift calendar and products. Turned into the pure logic's inputs
by ``build_*`` helpers so the logic never sees pydantic.
"""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator

from edge.config.base import Id, Model
from edge.logic.production.downtime import Loss, Reason, ReasonTree
from edge.logic.production.shifts import DAYS, Break, ShiftCalendar, ShiftPattern
from edge.logic.production.state import Rule, State, StateModel

StateName = Literal["running", "idle", "starved", "blocked", "down", "planned_stop"]


class StateRuleCfg(Model):
    state: StateName
    """State that applies while the condition holds."""
    tag: str
    """Tag the condition reads."""
    op: Literal["eq", "ne", "gt", "ge", "lt", "le"] = "eq"
    """Comparison."""
    value: bool | int | float | str = True
    """Value compared with."""


class StateCfg(Model):
    """How the machine state is derived. Order: no data → operator planned stop → rules
    (first match) → state code map → cycle counter advancing → ``default``."""

    code_tag: str | None = None
    """Tag holding the PLC's state code."""
    codes: dict[int, StateName] = {}
    """State code → state."""
    rules: list[StateRuleCfg] = []
    """Ordered rules, e.g. ``down`` while a fault bit is set."""
    counter_tag: str | None = None
    """Running while this counter advanced within ``running_window_s``."""
    running_window_s: Annotated[float, Field(gt=0)] = 10.0
    """Window for the counter rule."""
    default: StateName = "idle"
    """State when nothing else applies."""


class CounterCfg(Model):
    tag: str
    """Tag of the PLC counter."""
    bits: Literal[16, 32, 64] = 32
    """Counter width (wraps at 2^bits)."""


class CountersCfg(Model):
    """Give good and scrap, or total and scrap (good = total − scrap). A total next to
    good and scrap is only a cross-check."""

    total: CounterCfg | None = None
    """Counter of all parts made."""
    good: CounterCfg | None = None
    """Counter of good parts."""
    scrap: CounterCfg | None = None
    """Counter of rejected parts."""
    max_step: Annotated[int, Field(ge=1)] = 10_000
    """Largest plausible increase between two readings; bigger jumps are not counted."""


class MachineCfg(Model):
    name: Annotated[str, Field(pattern=r"^[A-Za-z][A-Za-z0-9_.\-]*$")]
    """Machine name (filler, capper, ...)."""
    state: StateCfg
    """State derivation."""
    fault_code_tag: str | None = None
    """Tag with the PLC fault code; mapped to a reason by ``fault_codes``."""
    counters: CountersCfg | None = None
    """Production counters."""
    micro_stop_s: Annotated[float, Field(ge=0)] = 30.0
    """Stops shorter than this are micro-stops: a performance loss, not availability."""
    scrap_entry: Literal["from_good", "extra"] = "from_good"
    """Scrap an operator books on this machine: ``from_good``, parts its counters already
    counted as good (found bad afterwards: they move from good to scrap); ``extra``,
    parts the counters never saw (only scrap grows)."""


class ReasonCfg(Model):
    code: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.\-]+$")]
    """Unique reason code."""
    name: str
    """Text shown to operators."""
    loss: Literal["availability", "performance", "quality", "planned"] | None = None
    """OEE loss category; inherited from the parent when absent (root default: availability)."""
    children: list[ReasonCfg] = []
    """Finer reasons."""


class BreakCfg(Model):
    start: time
    """Local time the break starts."""
    minutes: Annotated[float, Field(gt=0, le=600)]
    """Length."""


class ShiftCfg(Model):
    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9_\-]+$")]
    """Shift name (early, late, night)."""
    start: time
    """Local start time."""
    end: time
    """Local end time (earlier than start = ends the next day)."""
    days: list[Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]] = ["mon", "tue", "wed", "thu", "fri"]
    """Weekdays on which the shift starts."""
    breaks: list[BreakCfg] = []
    """Planned breaks."""


class CalendarCfg(Model):
    patterns: list[ShiftCfg] = []
    """Shift patterns."""
    non_working: list[date] = []
    """Days without shifts (holidays)."""


class ProductCfg(Model):
    id: Id
    """Product id (as the ERP knows it)."""
    name: str = ""
    """Description."""
    ideal_cycle_s: Annotated[float, Field(gt=0)] | None = None
    """Ideal time per part, seconds."""
    ideal_rate_per_min: Annotated[float, Field(gt=0)] | None = None
    """Alternative to ideal_cycle_s: parts per minute at ideal speed."""
    changeover_min: Annotated[float, Field(ge=0)] = 0.0
    """Planned changeover time onto this product."""

    @property
    def cycle_s(self) -> float:
        if self.ideal_cycle_s is not None:
            return self.ideal_cycle_s
        assert self.ideal_rate_per_min is not None
        return 60.0 / self.ideal_rate_per_min

    @field_validator("ideal_rate_per_min")
    @classmethod
    def _one_of(cls, v: float | None, info: Any) -> float | None:
        if v is not None and info.data.get("ideal_cycle_s") is not None:
            raise ValueError("give ideal_cycle_s or ideal_rate_per_min, not both")
        return v


class ScrapReasonCfg(Model):
    code: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.\-]+$")]
    """Unique scrap reason code."""
    name: str
    """Text shown to operators."""
    children: list[ScrapReasonCfg] = []
    """Finer reasons."""


class ChangeoverCfg(Model):
    """Changeovers from one product to another. The standard length is planned time;
    what a changeover takes beyond it is the "setup & adjustments" availability loss."""

    matrix: dict[str, dict[str, Annotated[float, Field(ge=0)]]] = {}
    """Standard minutes from product → to product. A pair not listed takes the target
    product's ``changeover_min``; the same product needs none."""
    overrun_reason: str | None = None
    """Reason (in the ``SETUP`` category of the reason tree) the overrun is booked with.
    Default: the first reason under ``SETUP``."""
    end_at_first_good: bool = True
    """The changeover ends with the first good part of the line machine (Nakajima's
    "last good part to first good part"); otherwise only ``order changeover_end``."""


class OrderCfg(Model):
    """A work order known in advance (replay, tests); live orders come from operators or above."""

    id: Id
    """Work order id."""
    product: Id
    """Product id."""
    quantity: Annotated[int, Field(gt=0)]
    """Ordered quantity."""
    start: datetime
    """When it started (plant local time if no offset)."""
    end: datetime | None = None
    """When it ended."""
    due: datetime | None = None
    """Due date."""


# ------------------------------------------------------------------------------ builders


def build_reason_tree(reasons: list[ReasonCfg]) -> ReasonTree:
    tree = ReasonTree()

    def walk(node: ReasonCfg, parent_loss: str, path: tuple[str, ...], category: str) -> None:
        loss = node.loss or parent_loss
        p = (*path, node.code)
        tree.reasons[node.code] = Reason(node.code, node.name, Loss(loss), category, p)
        for c in node.children:
            walk(c, loss, p, category)

    for r in reasons:
        walk(r, r.loss or "availability", (), r.code)
    return tree


def build_state_model(m: MachineCfg) -> StateModel:
    s = m.state
    return StateModel(
        machine=m.name,
        code_tag=s.code_tag,
        codes={k: State(v) for k, v in s.codes.items()},
        rules=tuple(Rule(State(r.state), r.tag, r.op, r.value) for r in s.rules),
        counter_tag=s.counter_tag,
        running_window_s=s.running_window_s,
        default=State(s.default),
    )


def build_calendar(cal: CalendarCfg, timezone: str) -> ShiftCalendar:
    pats = [
        ShiftPattern(
            p.name, p.start, p.end, frozenset(p.days), tuple(Break(b.start, b.minutes) for b in p.breaks)
        )
        for p in cal.patterns
    ]
    return ShiftCalendar(timezone, pats, frozenset(cal.non_working))


def machine_tags(m: MachineCfg) -> list[tuple[str, str]]:
    """(field path, tag) of every tag a machine refers to, for cross-checks."""
    out: list[tuple[str, str]] = []
    if m.state.code_tag:
        out.append(("state.code_tag", m.state.code_tag))
    if m.state.counter_tag:
        out.append(("state.counter_tag", m.state.counter_tag))
    out += [(f"state.rules[{i}].tag", r.tag) for i, r in enumerate(m.state.rules)]
    if m.fault_code_tag:
        out.append(("fault_code_tag", m.fault_code_tag))
    if m.counters:
        for k in ("total", "good", "scrap"):
            c = getattr(m.counters, k)
            if c is not None:
                out.append((f"counters.{k}.tag", c.tag))
    return out


def check_line_sections(cfg: Any) -> list[str]:
    """Cross-section checks; each message starts with the field path."""
    errors: list[str] = []
    tags = {t.name for t in cfg.tags}
    names: set[str] = set()
    for i, m in enumerate(cfg.machines):
        if m.name in names:
            errors.append(f"machines[{i}].name: duplicate machine name {m.name!r}")
        names.add(m.name)
        for path, tag in machine_tags(m):
            if tag not in tags:
                errors.append(f"machines[{i}].{path}: machine {m.name!r} refers to unknown tag {tag!r}")
        s = m.state
        if not (s.code_tag or s.rules or s.counter_tag):
            errors.append(f"machines[{i}].state: machine {m.name!r} needs code_tag, rules or counter_tag")
        if s.code_tag and not s.codes:
            errors.append(f"machines[{i}].state.codes: code_tag is set but no codes are mapped")
        if m.counters and (
            m.counters.scrap is None or (m.counters.good is None and m.counters.total is None)
        ):
            errors.append(f"machines[{i}].counters: give scrap and good, or scrap and total")
    codes: dict[str, str] = {}

    def walk(node: Any, path: str) -> None:
        if node.code in codes:
            errors.append(f"{path}.code: duplicate reason code {node.code!r} (also at {codes[node.code]})")
        codes[node.code] = path
        for j, c in enumerate(node.children):
            walk(c, f"{path}.children[{j}]")

    for i, r in enumerate(cfg.reasons):
        walk(r, f"reasons[{i}]")
    for code, reason in cfg.fault_codes.items():
        if reason not in codes:
            errors.append(f"fault_codes.{code}: reason {reason!r} is not in the reason tree")
    pids = set()
    for i, p in enumerate(cfg.products):
        if p.id in pids:
            errors.append(f"products[{i}].id: duplicate product {p.id!r}")
        pids.add(p.id)
        if p.ideal_cycle_s is None and p.ideal_rate_per_min is None:
            errors.append(f"products[{i}]: product {p.id!r} needs ideal_cycle_s or ideal_rate_per_min")
    for a, row in cfg.changeovers.matrix.items():
        for b in (a, *row):
            if b not in pids:
                errors.append(f"changeovers.matrix.{a}: {b!r} is not a product")
    reason = cfg.changeovers.overrun_reason
    if reason is not None and reason not in codes:
        errors.append(f"changeovers.overrun_reason: {reason!r} is not in the reason tree")
    elif reason is not None and not any(r.code == "SETUP" for r in cfg.reasons if _holds(r, reason)):
        errors.append(
            f"changeovers.overrun_reason: {reason!r} must lie under the SETUP category "
            "(setup & adjustments is one of the six big losses)"
        )
    scrap_codes: set[str] = set()

    def walk_scrap(node: Any, path: str) -> None:
        if node.code in scrap_codes:
            errors.append(f"{path}.code: duplicate scrap reason code {node.code!r}")
        scrap_codes.add(node.code)
        for j, c in enumerate(node.children):
            walk_scrap(c, f"{path}.children[{j}]")

    for i, r in enumerate(cfg.scrap_reasons):
        walk_scrap(r, f"scrap_reasons[{i}]")
    for i, o in enumerate(cfg.orders):
        if o.product not in pids:
            errors.append(f"orders[{i}].product: order {o.id!r} is for unknown product {o.product!r}")
    if cfg.line_machine is not None and cfg.line_machine not in names:
        errors.append(f"line_machine: {cfg.line_machine!r} is not a machine")
    if cfg.default_product is not None and cfg.default_product not in pids:
        errors.append(f"default_product: {cfg.default_product!r} is not a product")
    for i, p in enumerate(cfg.shifts.patterns):
        if p.start == p.end:
            errors.append(f"shifts.patterns[{i}].end: shift {p.name!r} has zero length")
    return errors


def _holds(node: Any, code: str) -> bool:
    return node.code == code or any(_holds(c, code) for c in node.children)


def overrun_reason(cfg: Any) -> str | None:
    """The reason a changeover's overrun is booked with: configured, else the first
    reason under ``SETUP`` (a leaf if it has children), else None (unexplained stops)."""
    if cfg.changeovers.overrun_reason is not None:
        return str(cfg.changeovers.overrun_reason)
    for r in cfg.reasons:
        if r.code == "SETUP":
            node = r
            while node.children:
                node = node.children[0]
            return str(node.code)
    return None


def changeover_matrix(cfg: Any) -> dict[tuple[str, str], float]:
    """Standard changeover seconds for every ordered pair of different products, and
    ``("", to)`` for a changeover onto ``to`` from a product not known."""
    by_id = {p.id: p for p in cfg.products}
    out: dict[tuple[str, str], float] = {}
    for b, pb in by_id.items():
        out[("", b)] = pb.changeover_min * 60.0  # from a product not known
    for a in by_id:
        for b, pb in by_id.items():
            if a != b:
                minutes = cfg.changeovers.matrix.get(a, {}).get(b, pb.changeover_min)
                out[(a, b)] = minutes * 60.0
    return out


def scrap_reason_names(cfg: Any) -> dict[str, str]:
    """Scrap reason code → "Parent / Child" name, in tree order."""
    out: dict[str, str] = {}

    def walk(node: Any, prefix: str) -> None:
        name = f"{prefix}{node.name}"
        out[node.code] = name
        for c in node.children:
            walk(c, f"{name} / ")

    for r in cfg.scrap_reasons:
        walk(r, "")
    return out


__all__ = [
    "DAYS",
    "CalendarCfg",
    "ChangeoverCfg",
    "MachineCfg",
    "OrderCfg",
    "ProductCfg",
    "ReasonCfg",
    "ScrapReasonCfg",
    "build_calendar",
    "build_reason_tree",
    "build_state_model",
    "changeover_matrix",
    "check_line_sections",
    "overrun_reason",
    "scrap_reason_names",
]


def build_line_logic(cfg: Any) -> Any:
    """The pure ``LineLogic`` for a validated line config."""
    from edge.logic.production.line import LineLogic, MachineSpec

    specs = []
    for m in cfg.machines:
        counters = {}
        if m.counters:
            for kind in ("total", "good", "scrap"):
                c = getattr(m.counters, kind)
                if c is not None:
                    counters[kind] = (c.tag, c.bits)
        specs.append(
            MachineSpec(
                build_state_model(m),
                fault_code_tag=m.fault_code_tag,
                micro_stop_s=m.micro_stop_s,
                counters=counters,
                max_step=m.counters.max_step if m.counters else 10_000,
            )
        )
    return LineLogic(
        specs,
        fault_reasons=dict(cfg.fault_codes),
        ideal_cycle={p.id: p.cycle_s for p in cfg.products},
        default_product=cfg.default_product,
        changeover_s=changeover_matrix(cfg),
        setup_reason=overrun_reason(cfg),
        line_machine=line_machine(cfg),
        end_changeover_at_first_good=cfg.changeovers.end_at_first_good,
    )


def line_machine(cfg: Any) -> str | None:
    return cfg.line_machine or (cfg.machines[0].name if cfg.machines else None)
