"""OEE, the six big losses and MTBF/MTTR over a time window (pure).

Standard definitions (Nakajima; oee.com):

* planned production time  PPT = calendar time − planned stops (breaks, planned
  maintenance, changeovers booked as planned)
* run time = PPT − availability losses (unplanned stops of at least the micro-stop
  threshold; shorter ones stay in run time and are performance losses)
* Availability A = run time / PPT
* Performance  P = Σ(ideal cycle time × total count) / run time   (not capped: a P above 1
  means the ideal cycle time in the config is too slow, and is shown as such)
* Quality      Q = good count / total count
* OEE = A × P × Q = Σ(ideal cycle time × good count) / PPT

The window is cut into elementary segments at every state change and break edge, so
each second of calendar time is classified exactly once.

Two rules keep every loss ≥ 0 (each a figure the plant can check):

* a machine that runs and makes parts during a break (or outside its shift) did not
  take the break: that part of it is run time, so the parts made then have run time
  to be made in (a machine merely shown running through a break, with nothing counted,
  took it);
* parts counted after a time without data (the agent or the device was down and the
  counter caught up) were produced while not observed. They are counted (good, scrap),
  and the gap's time without data becomes run time as long as those parts took at ideal
  speed (``unobserved_run_s``), first from unplanned, then from planned time: they
  never push Performance above what was observed.
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Iterable
from dataclasses import dataclass, field

from edge.logic.production.downtime import DowntimeEvent, Loss, ReasonTree, loss_of
from edge.logic.production.state import UNPLANNED_STOPS, State, StateChange


@dataclass(frozen=True)
class Interval:
    start: float
    end: float
    state: State


@dataclass(frozen=True)
class CountRecord:
    ts: float
    good: int
    scrap: int
    ideal_cycle_s: float | None  # of the product being made; None if unknown
    startup: bool = False  # made inside the start-up window of an order / changeover
    unobserved: bool = False  # booked when a counter caught up after a time without data


#: Run time below which Performance is not defined (seconds).
MIN_RUN_S = 1e-6


@dataclass
class Kpi:
    start: float
    end: float
    calendar_s: float = 0.0
    planned_stop_s: float = 0.0
    downtime_s: float = 0.0
    run_s: float = 0.0
    micro_stop_s: float = 0.0
    no_data_s: float = 0.0
    good: int = 0
    scrap: int = 0
    ideal_s: float = 0.0
    good_ideal_s: float = 0.0
    startup_scrap_ideal_s: float = 0.0
    breakdown_s: float = 0.0
    setup_s: float = 0.0
    state_s: dict[str, float] = field(default_factory=dict)
    failures: int = 0
    unknown_ideal_count: int = 0
    no_data_planned_s: float = 0.0  # no data in planned time (breaks, outside shifts)
    unobserved_count: int = 0  # parts produced while not observed
    unobserved_run_s: float = 0.0  # time without data that became run time for them

    @property
    def planned_production_s(self) -> float:
        # Calendar time minus planned stops, summed from its parts: the same figure, but
        # never below run time through rounding (so availability never exceeds 1).
        return self.run_s + self.downtime_s

    @property
    def total(self) -> int:
        return self.good + self.scrap

    @property
    def availability(self) -> float | None:
        ppt = self.planned_production_s
        return self.run_s / ppt if ppt > 0 else None

    @property
    def performance(self) -> float | None:
        # Below a microsecond of run time (a sliver left between a state change and a
        # break edge) there is no rate to speak of; dividing by it overflows to inf.
        return self.ideal_s / self.run_s if self.run_s > MIN_RUN_S else None

    @property
    def quality(self) -> float | None:
        return self.good / self.total if self.total > 0 else None

    @property
    def oee(self) -> float | None:
        a, p, q = self.availability, self.performance, self.quality
        return None if a is None or p is None or q is None else a * p * q

    @property
    def mtbf_s(self) -> float | None:
        """Mean run time between failures (breakdowns)."""
        return self.run_s / self.failures if self.failures else None

    @property
    def mttr_s(self) -> float | None:
        """Mean time to repair a failure."""
        return self.breakdown_s / self.failures if self.failures else None

    def six_big_losses(self) -> dict[str, float]:
        """Seconds lost to each of the six big losses, plus time without data (unknown,
        counted against availability but not called a breakdown); with the good parts'
        ideal time they add up to the planned production time."""
        scrap_ideal = self.ideal_s - self.good_ideal_s
        return {
            "no_data": self.no_data_s,
            "breakdowns": self.breakdown_s,
            "setup_adjustments": self.setup_s,
            "small_stops": self.micro_stop_s,
            "reduced_speed": self.run_s - self.micro_stop_s - self.ideal_s,
            "startup_rejects": self.startup_scrap_ideal_s,
            "production_rejects": scrap_ideal - self.startup_scrap_ideal_s,
        }

    def as_dict(self) -> dict[str, object]:
        return {
            "start": self.start,
            "end": self.end,
            "calendar_s": self.calendar_s,
            "planned_stop_s": self.planned_stop_s,
            "planned_production_s": self.planned_production_s,
            "run_s": self.run_s,
            "downtime_s": self.downtime_s,
            "no_data_s": self.no_data_s,
            "good": self.good,
            "scrap": self.scrap,
            "availability": self.availability,
            "performance": self.performance,
            "quality": self.quality,
            "oee": self.oee,
            "six_big_losses_s": self.six_big_losses(),
            "state_s": dict(self.state_s),
            "failures": self.failures,
            "unobserved_count": self.unobserved_count,
            "unobserved_run_s": self.unobserved_run_s,
            "mtbf_s": self.mtbf_s,
            "mttr_s": self.mttr_s,
        }


def intervals(changes: Iterable[StateChange], end: float) -> list[Interval]:
    """State changes of one machine → contiguous intervals up to ``end``."""
    out: list[Interval] = []
    cur: StateChange | None = None
    for ch in changes:
        if cur is not None and ch.ts > cur.ts:
            out.append(Interval(cur.ts, ch.ts, cur.new))
        cur = ch
    if cur is not None and end > cur.ts:
        out.append(Interval(cur.ts, end, cur.new))
    return out


def _fill_gaps(states: list[Interval], start: float, end: float) -> list[Interval]:
    out: list[Interval] = []
    t = start
    for iv in sorted(states, key=lambda i: i.start):
        if iv.end <= t or iv.start >= end:
            continue
        if iv.start > t:
            out.append(Interval(t, iv.start, State.NO_DATA))
        out.append(Interval(max(iv.start, t), iv.end, iv.state))
        t = iv.end
    if t < end:
        out.append(Interval(t, end, State.NO_DATA))
    return out


def compute(
    start: float,
    end: float,
    states: list[Interval],
    events: list[DowntimeEvent],
    counts: Iterable[CountRecord],
    tree: ReasonTree,
    planned: list[tuple[float, float]] = (),  # type: ignore[assignment]
    setup_categories: frozenset[str] = frozenset({"SETUP"}),
) -> Kpi:
    """KPIs of one machine (or line) for [start, end)."""
    k = Kpi(start, end, calendar_s=end - start)
    counts = list(counts)
    made = sorted(c.ts for c in counts if not c.unobserved and c.good + c.scrap > 0)
    # Time no interval covers (before the first state is known, gaps) is no data:
    # every second of the window is classified exactly once.
    states = _fill_gaps(states, start, end)
    breaks = sorted((max(s, start), min(e, end)) for s, e in planned if e > start and s < end)
    # Cut points: interval edges, break edges, downtime event edges.
    ev_by_start = sorted((e for e in events if e.end is None or e.end > start), key=lambda e: e.start)
    for iv in states:
        s, e = max(iv.start, start), min(iv.end, end)
        if e <= s:
            continue
        cuts = {s, e}
        for b0, b1 in breaks:
            cuts.update(x for x in (b0, b1) if s < x < e)
        for ev in ev_by_start:
            cuts.update(x for x in (ev.start, ev.end) if x is not None and s < x < e)
        pts = sorted(cuts)
        for p0, p1 in itertools.pairwise(pts):
            d = p1 - p0
            k.state_s[iv.state.value] = k.state_s.get(iv.state.value, 0.0) + d
            mid = (p0 + p1) / 2
            in_break = any(b0 <= mid < b1 for b0, b1 in breaks)
            if iv.state == State.RUNNING and (not in_break or _made_in(made, p0, p1)):
                k.run_s += d  # in a break too when parts were made: it was not taken
                continue
            if in_break or iv.state == State.PLANNED_STOP:
                k.planned_stop_s += d
                if iv.state == State.NO_DATA:
                    k.no_data_planned_s += d
                continue
            # A stop: classify by the downtime event covering it.
            covering = next(
                (x for x in ev_by_start if x.start <= mid and (x.end is None or mid < x.end)), None
            )
            loss = loss_of(covering, tree) if covering is not None else Loss.AVAILABILITY
            if loss == Loss.PLANNED:
                k.planned_stop_s += d
                if iv.state == State.NO_DATA:
                    k.no_data_planned_s += d
            elif loss == Loss.PERFORMANCE:
                k.run_s += d
                k.micro_stop_s += d
            else:
                k.downtime_s += d
                reason = tree.reasons.get(covering.effective_reason or "") if covering is not None else None
                if reason is not None and reason.category in setup_categories:
                    k.setup_s += d
                elif iv.state != State.NO_DATA:
                    k.breakdown_s += d
                else:
                    k.no_data_s += d
    k.failures = sum(
        1
        for ev in events
        if ev.state == State.DOWN and start <= ev.start < end and loss_of(ev, tree) == Loss.AVAILABILITY
    )
    unobserved_ideal = 0.0
    for c in counts:
        if not (start <= c.ts < end):
            continue
        k.good += c.good
        k.scrap += c.scrap
        if c.ideal_cycle_s is None:
            k.unknown_ideal_count += c.good + c.scrap
            continue
        k.ideal_s += (c.good + c.scrap) * c.ideal_cycle_s
        k.good_ideal_s += c.good * c.ideal_cycle_s
        if c.startup:
            k.startup_scrap_ideal_s += c.scrap * c.ideal_cycle_s
        if c.unobserved:
            k.unobserved_count += c.good + c.scrap
            unobserved_ideal += (c.good + c.scrap) * c.ideal_cycle_s
    if unobserved_ideal > 0:
        _produced_while_not_observed(k, unobserved_ideal)
    return k


def _made_in(made: list[float], a: float, b: float) -> bool:
    """Whether parts were counted in [a, b] (``made`` sorted)."""
    i = bisect.bisect_left(made, a)
    return i < len(made) and made[i] <= b


def _produced_while_not_observed(k: Kpi, ideal_s: float) -> None:
    """Parts that were made while nobody watched took at least their ideal time: that
    much of the time without data is run time, from unplanned time without data first
    (an availability loss that was not one), then from planned time without data (a
    break or time outside the shift that was worked). What is left of ``ideal_s`` beyond
    all time without data stays in Performance: the ideal cycle in the config is too slow."""
    take = min(ideal_s, k.no_data_s)
    k.no_data_s -= take
    k.downtime_s -= take
    k.run_s += take
    rest = min(ideal_s - take, k.no_data_planned_s)
    k.no_data_planned_s -= rest
    k.planned_stop_s -= rest
    k.run_s += rest
    k.unobserved_run_s = take + rest


__all__ = ["UNPLANNED_STOPS", "CountRecord", "Interval", "Kpi", "compute", "intervals"]
