"""Preventive and condition-based plans (pure): when each comes due, and whether the
work was done in time.

Triggers:

* ``calendar`` — every ``every_s`` seconds from ``start`` (due at ``start + k·every_s``);
* ``run_hours`` — every ``every`` hours of running time (run signal or machine state);
* ``cycles`` — every ``every`` counts of a PLC cycle counter (across wraps and resets);
* ``threshold`` — a tag above/below a limit for a duration (:class:`~.conditions.Hold`);
* ``trend`` — a tag's linear trend reaches a limit within a horizon (:class:`~.conditions.Trend`).

Calendar and meter plans run on a fixed schedule: the next due point is the previous
due point plus the interval, whatever happened to the order (SAP PM calls this
scheduling from planned dates). That keeps a plan's due points a function of the
machine's data alone, so ``lineside replay`` of the stored samples comes to the same
orders as the live agent did. When a meter jumps past several due points at once (the
agent was down a long time), one order is raised, for the last point passed.

Compliance of a due order (:func:`compliance`): done up to ``tolerance_s`` after its due
time is on time, later is late; not done ``missed_s`` after it came due is missed (and
so is one cancelled). Before that an open one is ``due`` (within the tolerance) or
``overdue``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal

from edge.logic.maintenance.conditions import Direction, Hold, Trend
from edge.logic.maintenance.meters import CycleMeter, RunMeter

TriggerKind = Literal["calendar", "run_hours", "cycles", "threshold", "trend"]
METER_TRIGGERS = ("run_hours", "cycles")
CONDITION_TRIGGERS = ("threshold", "trend")


@dataclass(frozen=True)
class PlanSpec:
    """One plan of one asset (built from config by ``edge.config.maintenance``)."""

    id: str
    asset: str
    trigger: TriggerKind
    every: float = 0.0
    """calendar: seconds; run_hours: hours; cycles: counts."""
    start: float = 0.0
    """calendar: the first due time (epoch seconds)."""
    tag: str | None = None
    """cycles: the counter; threshold/trend: the watched tag; run_hours: the run signal
    (None: the machine state of ``machine``)."""
    machine: str | None = None
    """run_hours without a run signal: the machine whose ``running`` state counts."""
    bits: int = 32
    limit: float = 0.0
    op: Direction = "above"
    for_s: float = 0.0
    window_s: float = 0.0
    horizon_s: float = 0.0
    min_points: int = 10
    tolerance_s: float = 0.0
    missed_s: float = math.inf

    @property
    def kind(self) -> str:
        """Work-order type the plan raises."""
        return "condition" if self.trigger in CONDITION_TRIGGERS else "preventive"


@dataclass(frozen=True)
class PlanDue:
    """A plan came due: raise a work order. ``key`` identifies the due point (a plan
    never raises two orders for one key, across restarts)."""

    ts: float
    plan: str
    asset: str
    kind: str  # preventive | condition
    trigger: str
    key: str
    detail: str
    meter: float | None = None


@dataclass(frozen=True)
class PlcDataFault:
    """A sample of a plan's tag the plan cannot count (a cycle counter that is not a
    whole number: text, a list, NaN, an infinity): ignored, and recorded once until the
    tag sends a number again, naming the tag."""

    ts: float
    plan: str
    tag: str
    value: str  # repr() of what the PLC sent
    detail: str


@dataclass
class PlanTracker:
    """Evaluates one plan; feed it samples (its tag), run states and ticks."""

    spec: PlanSpec
    next_due: float = 0.0
    """calendar: time; meters: meter value of the next due point."""
    run: RunMeter | None = None
    cycles: CycleMeter | None = None
    hold: Hold | None = None
    trend: Trend | None = None
    fires: int = 0
    data_fault: bool = False
    """The tag's last value could not be counted (recorded once until it can again)."""

    def __post_init__(self) -> None:
        s = self.spec
        if s.trigger == "calendar":
            self.next_due = s.start
        elif s.trigger == "run_hours":
            self.run = RunMeter()
            self.next_due = s.every
        elif s.trigger == "cycles":
            self.cycles = CycleMeter(bits=s.bits)
            self.next_due = s.every
        elif s.trigger == "threshold":
            self.hold = Hold(s.limit, s.for_s, s.op)
        elif s.trigger == "trend":
            self.trend = Trend(s.limit, s.horizon_s, s.window_s, s.op, s.min_points)
        #: The sample handler of this trigger (the engine calls it for every sample of
        #: the plan's tag: one call, no dispatch on the trigger).
        self.handle = {
            "cycles": self._on_cycles,
            "run_hours": self._on_run,
            "threshold": self._on_watch,
            "trend": self._on_watch,
        }.get(s.trigger, self.on_value)
        watch = self.hold or self.trend
        self._watch = watch.update if watch is not None else None

    def _on_watch(self, ts: float, value: Any) -> PlanDue | None:
        """A sample of a threshold or trend plan's tag: straight to its watch."""
        fired = self._watch(ts, value if type(value) is float else _number(value))  # type: ignore[misc]
        if fired is None:
            return None
        self.fires += 1
        s = self.spec
        return PlanDue(
            fired.ts, s.id, s.asset, s.kind, s.trigger, f"{s.id}#{fired.ts:.3f}", fired.detail, fired.value
        )

    def _on_cycles(self, ts: float, value: Any) -> PlanDue | PlcDataFault | None:
        c = self.cycles
        assert c is not None
        if value is not None:
            try:
                c.total += c.tracker.update(value)
            except (TypeError, ValueError, OverflowError):
                return self._bad_cycles(ts, value)
            if self.data_fault:
                self.data_fault = False
            if c.total < self.next_due:
                return None
        return self._meter_due(ts)

    def _bad_cycles(self, ts: float, value: Any) -> PlcDataFault | None:
        """A counter value that is no whole number: not counted (the meter keeps its last
        good reading, so the next good one counts the cycles in between)."""
        if self.data_fault:
            return None
        self.data_fault = True
        s = self.spec
        shown = repr(value)
        if len(shown) > 60:
            shown = shown[:57] + "..."
        return PlcDataFault(
            ts,
            s.id,
            s.tag or "",
            shown,
            f"{s.tag}: cycle counter value {shown} is not a whole number; plan {s.id} does not count it",
        )

    def _on_run(self, ts: float, value: Any) -> PlanDue | None:
        r = self.run
        assert r is not None
        r.set_running(ts, None if value is None else bool(value))
        return self._meter_due(ts)

    # ------------------------------------------------------------------ inputs

    def on_value(self, ts: float, value: Any) -> PlanDue | None:
        """A sample of the plan's tag (None: no good value)."""
        s = self.spec
        if self.cycles is not None:
            if value is not None:
                self.cycles.update(value)
            return self._meter_due(ts)
        if self.run is not None:
            self.run.set_running(ts, None if value is None else bool(value))
            return self._meter_due(ts)
        num = value if type(value) is float else _number(value)
        watch = self.hold or self.trend
        if watch is None:
            return None
        fired = watch.update(ts, num)
        if fired is None:
            return None
        self.fires += 1
        return PlanDue(
            fired.ts, s.id, s.asset, s.kind, s.trigger, f"{s.id}#{fired.ts:.3f}", fired.detail, fired.value
        )

    def on_running(self, ts: float, running: bool | None) -> PlanDue | None:
        """The machine's state turned running (True), another state (False) or no data."""
        if self.run is None:
            return None
        self.run.set_running(ts, running)
        return self._meter_due(ts)

    def tick(self, now: float) -> PlanDue | None:
        s = self.spec
        if s.trigger == "calendar":
            if now < self.next_due:
                return None
            k = math.floor((now - s.start) / s.every)
            due = s.start + k * s.every
            self.next_due = due + s.every
            return PlanDue(
                due, s.id, s.asset, s.kind, s.trigger, f"{s.id}@{due:.0f}", f"every {s.every / 86400:g} d"
            )
        if self.run is not None:
            return self._meter_due(now)
        if self.hold is not None:
            fired = self.hold.tick(now)
            if fired is not None:
                return PlanDue(
                    fired.ts,
                    s.id,
                    s.asset,
                    s.kind,
                    s.trigger,
                    f"{s.id}#{fired.ts:.3f}",
                    fired.detail,
                    fired.value,
                )
        return None

    def _meter_due(self, ts: float) -> PlanDue | None:
        s = self.spec
        meter = self.meter(ts)
        if meter is None or meter < self.next_due:
            return None
        k = math.floor(meter / s.every)
        point = k * s.every
        self.next_due = point + s.every
        unit = "h" if s.trigger == "run_hours" else "cycles"
        at = ts
        if self.run is not None and self.run.running_since is not None:
            # The moment the meter passed the point (ticks and samples notice it later),
            # so the agent and a replay stamp it alike.
            at = max(self.run.running_since, ts - (meter - point) * 3600.0)
        return PlanDue(
            at, s.id, s.asset, s.kind, s.trigger, f"{s.id}={point:g}", f"{point:g} {unit} reached", point
        )

    def meter(self, now: float) -> float | None:
        """Run hours or cycles so far (None for the other triggers)."""
        if self.run is not None:
            return self.run.value(now) / 3600.0
        if self.cycles is not None:
            return self.cycles.value()
        return None

    def until_due(self, now: float) -> float | None:
        """Calendar: seconds to the next due point; meters: units left (hours, cycles)."""
        if self.spec.trigger == "calendar":
            return self.next_due - now
        m = self.meter(now)
        return None if m is None else self.next_due - m

    # ------------------------------------------------------------------ restart

    def snapshot(self, now: float) -> dict[str, Any]:
        d: dict[str, Any] = {"next_due": self.next_due}
        if self.run is not None:
            d["run"] = self.run.snapshot(now)
        if self.cycles is not None:
            d["cycles"] = self.cycles.snapshot(now)
        if self.hold is not None:
            d["armed"] = self.hold.armed
        if self.trend is not None:
            d["armed"] = self.trend.armed
        return d

    def restore(self, d: dict[str, Any]) -> None:
        self.next_due = float(d.get("next_due", self.next_due))
        if self.run is not None and "run" in d:
            self.run.restore(d["run"])
        if self.cycles is not None and "cycles" in d:
            self.cycles.restore(d["cycles"])
        if self.hold is not None:
            self.hold.armed = bool(d.get("armed", True))
        if self.trend is not None:
            self.trend.armed = bool(d.get("armed", True))


def _number(v: Any) -> float | None:
    if v is None or isinstance(v, (str, list)):
        return None
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


# ------------------------------------------------------------------ compliance

Compliance = Literal["upcoming", "due", "overdue", "on_time", "late", "missed"]


def compliance(
    due_ts: float,
    *,
    tolerance_s: float,
    missed_s: float,
    now: float,
    done_ts: float | None = None,
    cancelled: bool = False,
) -> Compliance:
    """Where an order raised by a plan stands (see the module docstring)."""
    if done_ts is not None:
        return "on_time" if done_ts <= due_ts + tolerance_s else "late"
    if cancelled or now > due_ts + missed_s:
        return "missed"
    if now < due_ts:
        return "upcoming"
    return "due" if now <= due_ts + tolerance_s else "overdue"


@dataclass
class ComplianceSummary:
    on_time: int = 0
    late: int = 0
    missed: int = 0
    open: int = 0
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def ratio(self) -> float | None:
        """PM compliance: on-time share of the orders whose outcome is known."""
        closed = self.on_time + self.late + self.missed
        return None if closed == 0 else self.on_time / closed


def summarize(states: list[Compliance]) -> ComplianceSummary:
    out = ComplianceSummary()
    for s in states:
        out.counts[s] = out.counts.get(s, 0) + 1
        if s == "on_time":
            out.on_time += 1
        elif s == "late":
            out.late += 1
        elif s == "missed":
            out.missed += 1
        else:
            out.open += 1
    return out
