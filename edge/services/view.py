"""What the operator terminal shows, read from the line's store in one consistent pass
(no UI code): the ``LineView`` snapshot.

``ViewReader.read`` is called every refresh (by the terminal, in a worker thread, on its
own read-only connection); the shift KPIs and the stops list (the costly parts) are
rebuilt when the streams they are made from grow or every ``kpi_every_s`` seconds, so
the screens follow new state, counts and alarms within the refresh interval.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from edge.core.errors import LinesideError
from edge.services.context import Line, LineContext, line_context
from edge.services.inspections import due, recent_results
from edge.services.maintenance import plans as maintenance_plans
from edge.services.maintenance import recent_requests, work_orders
from edge.services.materials import materials_view
from edge.services.production import dispatch_list, kpi_report, list_downtime
from edge.services.quality import SpcView, capability, limit_requests, spc_alarms, spc_view
from edge.services.status import status_of
from edge.store import Store
from edge.store import production as production_repo
from edge.store import status as status_repo

#: The stops screen lists the stops of the last week (older ones: `lineside downtime list`).
DOWNTIME_DAYS = 7

__all__ = ["DOWNTIME_DAYS", "LineView", "SpcView", "ViewReader"]


@dataclass
class LineView:
    now: float
    status: dict[str, Any]
    machine: str | None
    state: str | None
    state_since: float | None
    machines: dict[str, tuple[str | None, float | None]]
    order: str | None
    product: str | None
    order_start: float | None
    target: int | None
    order_good: int
    order_scrap: int
    changeover: bool
    paused: bool
    held: bool  # on hold: a failed first-off
    shift: dict[str, Any] | None  # kpi_report of the running shift (None: no calendar/shift)
    alarms: list[dict[str, Any]]
    downtime: list[dict[str, Any]]
    dispatch: list[dict[str, Any]]
    inspections_due: list[dict[str, Any]]
    inspections_done: list[dict[str, Any]]
    maintenance: list[dict[str, Any]]
    spc: dict[str, SpcView] = field(default_factory=dict)
    limit_requests: list[dict[str, Any]] = field(default_factory=list)
    """Pending requests for new SPC limits, newest first."""
    maint_orders: list[dict[str, Any]] = field(default_factory=list)
    """Open maintenance work orders, newest first."""
    maint_plans: list[dict[str, Any]] = field(default_factory=list)
    """Maintenance plans with their meters, next due point and status."""
    materials: dict[str, Any] = field(default_factory=dict)
    """Lineside stock (``on_hand``), open holds (``holds``) and feeders running short
    (``shortages``); empty on a line without materials."""

    @property
    def backlog(self) -> int:
        return int(sum(self.status["backlog"].values()))


class _Cached:
    """A value rebuilt when its key changes (the last sequences of the streams it is
    made from) or when it is ``max_age_s`` old (for what depends on the clock)."""

    def __init__(self, max_age_s: float) -> None:
        self.max_age_s = max_age_s
        self.key: tuple[Any, ...] | None = None
        self.at = 0.0
        self.value: Any = None

    def get(self, key: tuple[Any, ...], now: float, build: Callable[[], Any]) -> Any:
        if key != self.key or now - self.at >= self.max_age_s:
            self.key, self.at, self.value = key, now, build()
        return self.value


class ViewReader:
    """Reads ``LineView`` snapshots from one store; keeps the shift KPIs and the stops
    list between refreshes while nothing they are made from changes."""

    def __init__(self, line: Line, store: Store, *, kpi_every_s: float = 5.0) -> None:
        self.line = line_context(line, store)
        self.store = store
        self._kpi = _Cached(kpi_every_s)
        self._dt = _Cached(kpi_every_s)

    @property
    def ctx(self) -> LineContext:
        return self.line

    def _shift_kpis(self, now: float) -> dict[str, Any] | None:
        key = status_repo.last_seqs(self.store, ("state_changes", "counts", "downtime_edits", "orders"))
        return self._kpi.get(key, now, lambda: self._build_kpis(now))

    def _build_kpis(self, now: float) -> dict[str, Any] | None:
        ctx = self.line
        if ctx.machine is None:
            return None
        try:
            shift = "current" if ctx.calendar is not None else None
            since = None if ctx.calendar is not None else now - 8 * 3600
            kpi = kpi_report(ctx, self.store, shift=shift, since=since, now=now)
        except LinesideError:  # no shift running now (a non-working day)
            return None
        s = ctx.calendar.shift_at(now) if ctx.calendar is not None else None
        kpi["shift_key"] = s.key if s is not None else "last 8 h"
        return kpi

    def _downtime(self, now: float) -> list[dict[str, Any]]:
        """The stops list, rebuilt when a stop or an edit is recorded, else every few seconds
        (an open stop's duration is drawn from the clock by the screen)."""
        since = now - DOWNTIME_DAYS * 86400
        return self._dt.get(
            status_repo.last_seqs(self.store, ("downtime", "downtime_edits")),
            now,
            lambda: list_downtime(self.line, self.store, now=now, since=since)[:200],
        )

    def read(self, now: float) -> LineView:
        """One snapshot; the store's errors leave as ``StoreError``."""
        with self.store.snapshot():
            self.line = ctx = line_context(self.line, self.store)
            return self._read(ctx, now)

    def _read(self, ctx: LineContext, now: float) -> LineView:
        st = self.store
        machines: dict[str, tuple[str | None, float | None]] = {}
        for m in ctx.config.machines:
            latest = production_repo.latest_state(st, m.name)
            machines[m.name] = latest if latest else (None, None)
        lm = ctx.machine
        state, since = machines.get(lm, (None, None)) if lm else (None, None)
        running = production_repo.running_order(st)
        target = None
        good = scrap = 0
        if running is not None and running.start is not None:
            target = production_repo.requested_quantity(st, running.order)
            good, scrap = production_repo.counts_since(st, lm, running.start)
        return LineView(
            now=now,
            status=status_of(ctx, st, now),
            machine=lm,
            state=state,
            state_since=since,
            machines=machines,
            order=running.order if running else None,
            product=running.product if running else None,
            order_start=running.start if running else None,
            target=target,
            order_good=good,
            order_scrap=scrap,
            changeover=production_repo.in_changeover(st),
            held=running is not None and running.last_action == "hold",
            paused=running is not None and running.last_action == "pause",
            shift=self._shift_kpis(now),
            alarms=spc_alarms(ctx, st),
            downtime=self._downtime(now),
            dispatch=dispatch_list(st),
            inspections_due=due(ctx, st, now),
            inspections_done=recent_results(st, 20),
            maintenance=recent_requests(st, 20),
            spc={c.name: spc_view(ctx, st, c.name) for c in ctx.config.characteristics},
            limit_requests=limit_requests(st),
            maint_orders=[w.as_dict() for w in work_orders(st, open_only=True)[:50]],
            maint_plans=maintenance_plans(ctx, st, now=now),
            materials=materials_view(ctx, st, now),
        )

    def capability(self, name: str) -> dict[str, Any] | None:
        """Cp/Cpk and Pp/Ppk of a characteristic from the subgroups of its limit version."""
        with self.store.snapshot():
            return capability(self.line, self.store, name)
