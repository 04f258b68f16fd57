"""Maintenance logic of a line: samples and line-logic facts in, work orders to raise out
(pure). The same object runs live in the agent and in ``lineside replay``.

Inputs: every stored sample (only the tags a plan watches cost more than one dict
lookup), the line logic's facts (a machine's ``running`` state drives run-hour meters
without a run signal; ``down`` stops open corrective orders), and ticks (calendar plans,
holds that complete between samples, stops that grow past the threshold).

Outputs: :class:`~.plans.PlanDue` (a plan came due) and :class:`CorrectiveDue` (a
machine has been down longer than its threshold: open a corrective order pre-filled
with the stop's fault-code reason).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from edge.logic.maintenance.plans import PlanDue, PlanSpec, PlanTracker, PlcDataFault
from edge.logic.production.downtime import DowntimeEvent
from edge.logic.production.state import State, StateChange


@dataclass(frozen=True)
class OrderTemplate:
    """What a work order raised by a plan carries (title, estimate, parts, reason)."""

    title: str = ""
    estimate_h: float = 0.0
    parts: tuple[tuple[str, float], ...] = ()
    reason: str | None = None
    tolerance_s: float = 0.0
    missed_s: float = 0.0


@dataclass(frozen=True)
class CorrectiveDue:
    """A machine has been down longer than its threshold: open a corrective order."""

    ts: float
    machine: str
    event_id: str
    start: float
    reason: str | None
    key: str


@dataclass(frozen=True)
class OrderDue:
    """A plan's due point with the order template attached (what the store records)."""

    due: PlanDue
    template: OrderTemplate

    @property
    def ts(self) -> float:
        return self.due.ts


MaintFact = OrderDue | CorrectiveDue | PlcDataFault
#: What a sample of a tag no plan reads returns (shared: callers only read it).
_NONE: list[MaintFact] = []


class MaintenanceLogic:
    def __init__(
        self,
        plans: Iterable[tuple[PlanSpec, OrderTemplate]],
        *,
        corrective_after_s: dict[str, float] | None = None,
    ) -> None:
        self.trackers: dict[str, PlanTracker] = {}
        self.templates: dict[str, OrderTemplate] = {}
        self.by_tag: dict[str, list[PlanTracker]] = {}
        self.by_machine: dict[str, list[PlanTracker]] = {}
        for spec, tmpl in plans:
            tr = PlanTracker(spec)
            self.trackers[spec.id] = tr
            self.templates[spec.id] = tmpl
            if spec.tag is not None:
                self.by_tag.setdefault(spec.tag, []).append(tr)
            elif spec.trigger == "run_hours" and spec.machine is not None:
                self.by_machine.setdefault(spec.machine, []).append(tr)
        self._handlers: dict[str, list[Any]] = {
            t: [tr.handle for tr in trs] for t, trs in self.by_tag.items()
        }
        self._calendars = [t for t in self.trackers.values() if t.spec.trigger == "calendar"]
        self._cal_next = min((t.next_due for t in self._calendars), default=float("inf"))
        self._holds = [t for t in self.trackers.values() if t.hold is not None]
        self._runs = [t for t in self.trackers.values() if t.run is not None]
        self.corrective_after_s = corrective_after_s or {}
        self.open_stops: dict[str, DowntimeEvent] = {}
        self._opened: set[str] = set()

    def _wrap(self, due: PlanDue | None, out: list[MaintFact]) -> None:
        if due is not None:
            out.append(OrderDue(due, self.templates[due.plan]))

    def on_sample(self, ts: float, tag: str, value: Any, good: bool) -> list[MaintFact]:
        handlers = self._handlers.get(tag)
        if handlers is None:
            return _NONE
        v = value if good else None
        out: list[MaintFact] | None = None
        for h in handlers:
            due = h(ts, v)
            if due is not None:
                if out is None:
                    out = []
                out.append(OrderDue(due, self.templates[due.plan]) if type(due) is PlanDue else due)
        return out if out is not None else _NONE

    def follow(self, facts: Iterable[Any]) -> list[MaintFact]:
        """The line logic's facts: state changes drive run meters, down stops are watched."""
        out: list[MaintFact] = []
        for f in facts:
            if isinstance(f, StateChange):
                trs = self.by_machine.get(f.machine)
                if trs:
                    running = None if f.new == State.NO_DATA else f.new == State.RUNNING
                    for tr in trs:
                        self._wrap(tr.on_running(f.ts, running), out)
            elif isinstance(f, DowntimeEvent) and f.machine in self.corrective_after_s:
                if f.state == State.DOWN and not f.micro:
                    out += self._check_stop(f, f.end if f.end is not None else f.start)
                if f.end is None and f.state == State.DOWN:
                    self.open_stops[f.machine] = f
                elif (
                    self.open_stops.get(f.machine, None) is not None and self.open_stops[f.machine].id == f.id
                ):
                    del self.open_stops[f.machine]
        return out

    def _check_stop(self, ev: DowntimeEvent, now: float) -> list[MaintFact]:
        limit = self.corrective_after_s[ev.machine]
        if ev.id in self._opened or now - ev.start < limit:
            return []
        self._opened.add(ev.id)
        if len(self._opened) > 10_000:  # stop ids only grow: keep the recent ones
            self._opened = set(list(self._opened)[-1000:])
        return [CorrectiveDue(ev.start + limit, ev.machine, ev.id, ev.start, ev.auto_reason, f"stop:{ev.id}")]

    def tick(self, now: float) -> list[MaintFact]:
        """Time passes: calendar points reached, holds completed, run meters that passed a
        due point between samples, stops that grew past the threshold. Only what can be
        due is looked at (calendars when the earliest point is reached, holds that are
        holding, meters that run)."""
        out: list[MaintFact] = []
        if now >= self._cal_next:
            for tr in self._calendars:
                self._wrap(tr.tick(now), out)
            self._cal_next = min(t.next_due for t in self._calendars)
        for tr in self._holds:
            h = tr.hold
            if h is not None and h.since is not None and h.armed and now - h.since >= h.for_s:
                self._wrap(tr.tick(now), out)
        for tr in self._runs:
            r = tr.run
            since = r.running_since if r is not None else None
            if r is not None and since is not None and r.seconds + now - since >= tr.next_due * 3600.0:
                self._wrap(tr.tick(now), out)
        if self.open_stops:
            for ev in list(self.open_stops.values()):
                out += self._check_stop(ev, now)
        return out

    # ------------------------------------------------------------------ restart

    def snapshot(self, now: float) -> dict[str, dict[str, Any]]:
        return {pid: tr.snapshot(now) for pid, tr in self.trackers.items()}

    def restore(self, states: dict[str, dict[str, Any]]) -> None:
        for pid, d in states.items():
            tr = self.trackers.get(pid)
            if tr is not None:
                tr.restore(d)
        self._cal_next = min((t.next_due for t in self._calendars), default=float("inf"))

    def mark_opened(self, stop_ids: Iterable[str]) -> None:
        """Stops that already have their corrective order (after a restart)."""
        self._opened.update(stop_ids)
