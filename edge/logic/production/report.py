"""KPI report from line-logic facts (pure): per shift, per work order, per day, the
downtime list and MTBF/MTTR per machine.

Time outside any shift is not scheduled: it is a planned stop for OEE. Without a shift
calendar the whole window is scheduled.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from edge.logic.production.downtime import DowntimeEvent, ReasonTree, loss_of
from edge.logic.production.line import Fact, MachineCount, OrderChange
from edge.logic.production.oee import Interval, Kpi, compute, intervals
from edge.logic.production.shifts import ShiftCalendar
from edge.logic.production.state import StateChange


@dataclass
class Facts:
    changes: dict[str, list[StateChange]]
    events: dict[str, list[DowntimeEvent]]
    counts: dict[str, list[MachineCount]]
    orders: list[OrderChange]

    @classmethod
    def collect(cls, facts: list[Fact]) -> Facts:
        changes: dict[str, list[StateChange]] = {}
        events: dict[str, dict[str, DowntimeEvent]] = {}
        counts: dict[str, list[MachineCount]] = {}
        orders: list[OrderChange] = []
        for f in facts:
            if isinstance(f, StateChange):
                changes.setdefault(f.machine, []).append(f)
            elif isinstance(f, DowntimeEvent):
                events.setdefault(f.machine, {})[f.id] = f  # the closed version replaces the open one
            elif isinstance(f, MachineCount):
                counts.setdefault(f.machine, []).append(f)
            elif isinstance(f, OrderChange):
                orders.append(f)
        return cls(changes, {m: list(v.values()) for m, v in events.items()}, counts, orders)


def unscheduled(
    calendar: ShiftCalendar | None, start: float, end: float, commissioned: float | None = None
) -> list[tuple[float, float]]:
    """Planned-stop intervals: outside shifts, during breaks and before the line was
    commissioned."""
    out: list[tuple[float, float]] = []
    if commissioned is not None and commissioned > start:
        out.append((start, min(commissioned, end)))
    if calendar is not None and calendar.patterns:
        t = start
        for s in calendar.instances_between(start, end):
            if s.start > t:
                out.append((t, s.start))
            out.extend(s.breaks)
            t = max(t, s.end)
        if t < end:
            out.append((t, end))
    # Sorted and non-overlapping, so that ``planned_overlap`` can bisect.
    merged: list[tuple[float, float]] = []
    for a, b in sorted(out):
        if merged and a <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], b))
        else:
            merged.append((a, b))
    return merged


def planned_overlap(planned: list[tuple[float, float]], a: float, b: float) -> float:
    """Seconds of [a, b) inside the sorted, non-overlapping ``planned`` intervals."""
    total = 0.0
    j = bisect.bisect_left(planned, (b,)) - 1  # the last interval starting before b
    while j >= 0 and planned[j][1] > a:
        s, e = planned[j]
        total += max(0.0, min(b, e) - max(a, s))
        j -= 1
    return total


def kpi_for(
    facts: Facts,
    machine: str,
    start: float,
    end: float,
    tree: ReasonTree,
    planned: list[tuple[float, float]],
    events: list[DowntimeEvent] | None = None,
) -> Kpi:
    states: list[Interval] = intervals(facts.changes.get(machine, []), end)
    evs = events if events is not None else facts.events.get(machine, [])
    return compute(start, end, states, evs, facts.counts.get(machine, []), tree, planned)


def order_windows(orders: list[OrderChange], end: float) -> list[tuple[str, str, float, float]]:
    out = []
    open_: dict[str, tuple[str, float]] = {}
    for o in orders:
        if o.action == "start":
            open_[o.order] = (o.product, o.ts)
        elif o.action == "complete" and o.order in open_:
            product, t0 = open_.pop(o.order)
            out.append((o.order, product, t0, o.ts))
    out.extend((oid, product, t0, end) for oid, (product, t0) in open_.items())
    return sorted(out, key=lambda w: w[2])


def build_report(
    facts: Facts,
    start: float,
    end: float,
    *,
    line_machine: str,
    tree: ReasonTree,
    calendar: ShiftCalendar | None,
    events: dict[str, list[DowntimeEvent]] | None = None,
    commissioned: float | None = None,
) -> dict[str, Any]:
    """Everything ``lineside replay`` / ``lineside kpi`` print, as plain data. Time before
    ``commissioned`` (the line went into production) is outside planned production time."""
    evs = events if events is not None else facts.events
    planned_all = unscheduled(calendar, start, end, commissioned)
    rep: dict[str, Any] = {"start": start, "end": end, "line_machine": line_machine}

    def line_kpi(a: float, b: float) -> dict[str, Any]:
        return kpi_for(facts, line_machine, a, b, tree, planned_all, evs.get(line_machine, [])).as_dict()

    rep["total"] = line_kpi(start, end)
    shifts = []
    if calendar is not None:
        for s in calendar.instances_between(start, end):
            a, b = max(s.start, start), min(s.end, end)
            shifts.append({"shift": s.key, "partial": (a, b) != (s.start, s.end)} | line_kpi(a, b))
    rep["shifts"] = shifts
    rep["orders"] = [
        {"order": oid, "product": product} | line_kpi(max(a, start), min(b, end))
        for oid, product, a, b in order_windows(facts.orders, end)
        if b > start and a < end
    ]
    days = []
    if calendar is not None:
        tz = calendar.tz
        d = datetime.fromtimestamp(start, tz).date()
        while True:
            a = datetime.combine(d, datetime.min.time(), tzinfo=tz).timestamp()
            b = datetime.combine(d + timedelta(days=1), datetime.min.time(), tzinfo=tz).timestamp()
            if a >= end:
                break
            days.append({"day": d.isoformat()} | line_kpi(max(a, start), min(b, end)))
            d += timedelta(days=1)
    rep["days"] = days
    hours = []
    h = start - (start % 3600)
    while h < end:
        a, b = max(h, start), min(h + 3600, end)
        hours.append({"hour": h} | line_kpi(a, b))
        h += 3600
    rep["hours"] = hours
    rep["machines"] = {
        m: {
            k: v
            for k, v in kpi_for(facts, m, start, end, tree, planned_all, evs.get(m, [])).as_dict().items()
            if k
            in (
                "availability",
                "performance",
                "quality",
                "oee",
                "failures",
                "mtbf_s",
                "mttr_s",
                "run_s",
                "downtime_s",
                "good",
                "scrap",
            )
        }
        for m in sorted(set(facts.changes) | set(evs))
    }
    rep["downtime"] = [
        downtime_row(e, tree, planned_all, end)
        for m in sorted(evs)
        for e in sorted(evs[m], key=lambda x: x.start)
        if e.start < end and (e.end is None or e.end > start) and e.end != e.start
    ]
    return rep


def downtime_row(
    e: DowntimeEvent, tree: ReasonTree, planned: list[tuple[float, float]], now: float
) -> dict[str, Any]:
    """One downtime event as reported. A stop that lies wholly in planned time (a break,
    outside shifts) is a planned stop and needs no explanation."""
    e_end = e.end if e.end is not None else now
    in_planned = planned_overlap(planned, e.start, e_end)
    wholly_planned = e_end > e.start and in_planned >= (e_end - e.start) - 1e-6 and e.reason is None
    return {
        "id": e.id,
        "machine": e.machine,
        "start": e.start,
        "end": e.end,
        "duration_s": e.duration,
        "state": e.state.value,
        "reason": e.effective_reason if not wholly_planned else (e.auto_reason or "planned time"),
        "reason_source": "operator"
        if e.reason
        else ("plc" if e.auto_reason else ("calendar" if wholly_planned else None)),
        "loss": "planned" if wholly_planned else loss_of(e, tree).value,
        "micro": e.micro,
        "explained": e.explained or wholly_planned,
    }
