"""What the operator terminal shows, read from the line's store in one pass (no UI code).

``read_view`` is called every refresh; the shift KPIs (the only costly part) are
recomputed when the store's facts change or every ``kpi_every_s`` seconds, so the
screens follow new state, counts and alarms within the refresh interval.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from edge.config.line import LineConfig
from edge.config.production import build_calendar, line_machine
from edge.core.errors import LinesideError, StoreError
from edge.services.commands import dispatch_list
from edge.services.inspections import due
from edge.services.production import current_order, kpi_report, list_downtime, spc_alarms
from edge.services.status import status_of
from edge.store import Store
from edge.store.facts import spec_from_json

#: The stops screen lists the stops of the last week (older ones: `lineside downtime list`).
DOWNTIME_DAYS = 7


@dataclass
class SpcView:
    name: str
    chart: str
    unit: str
    points: list[tuple[float, float]]  # (ts, plotted value)
    center: float | None
    ucl: float | None
    lcl: float | None
    lsl: float | None
    usl: float | None
    violations: set[float]  # ts of points that raised an alarm
    frozen: bool
    sigma_within: float | None
    manual: bool


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
    shift: dict[str, Any] | None  # kpi_report of the running shift (None: no calendar/shift)
    alarms: list[dict[str, Any]]
    downtime: list[dict[str, Any]]
    dispatch: list[dict[str, Any]]
    inspections_due: list[dict[str, Any]]
    inspections_done: list[dict[str, Any]]
    maintenance: list[dict[str, Any]]
    spc: dict[str, SpcView] = field(default_factory=dict)

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
    """Reads ``LineView`` snapshots; keeps the shift KPIs and the stops list between
    refreshes while nothing they are made from changes."""

    def __init__(self, cfg: LineConfig, store: Store, *, kpi_every_s: float = 5.0) -> None:
        self.cfg = cfg
        self.store = store
        self._kpi = _Cached(kpi_every_s)
        self._dt = _Cached(kpi_every_s)
        self.calendar = build_calendar(cfg.shifts, cfg.line.timezone) if cfg.shifts.patterns else None

    def _last_seqs(self, *streams: str) -> tuple[Any, ...]:
        sql = ", ".join(f"(SELECT max(seq) FROM {s})" for s in streams)
        return tuple(self.store.db.execute(f"SELECT {sql}").fetchone())

    def _shift_kpis(self, now: float) -> dict[str, Any] | None:
        key = self._last_seqs("state_changes", "counts", "downtime_edits", "orders")
        return self._kpi.get(key, now, lambda: self._build_kpis(now))

    def _build_kpis(self, now: float) -> dict[str, Any] | None:
        if line_machine(self.cfg) is None:
            return None
        try:
            shift = "current" if self.calendar is not None else None
            since = None if self.calendar is not None else now - 8 * 3600
            kpi = kpi_report(self.cfg, self.store, shift=shift, since=since, now=now)
        except LinesideError:  # no shift running now (a non-working day)
            return None
        s = self.calendar.shift_at(now) if self.calendar is not None else None
        kpi["shift_key"] = s.key if s is not None else "last 8 h"
        return kpi

    def _downtime(self, now: float) -> list[dict[str, Any]]:
        """The stops list, rebuilt when a stop or an edit is recorded, else every few seconds
        (an open stop's duration is drawn from the clock by the screen)."""
        since = now - DOWNTIME_DAYS * 86400
        return self._dt.get(
            self._last_seqs("downtime", "downtime_edits"),
            now,
            lambda: list_downtime(self.cfg, self.store, now=now, since=since)[:200],
        )

    def read(self, now: float) -> LineView:
        cfg, st, db = self.cfg, self.store, self.store.db
        status = status_of(cfg, st, now)
        machines: dict[str, tuple[str | None, float | None]] = {}
        for m in cfg.machines:
            row = db.execute(
                "SELECT new, ts FROM state_changes WHERE machine = ? ORDER BY seq DESC LIMIT 1", (m.name,)
            ).fetchone()
            machines[m.name] = (row[0], row[1]) if row else (None, None)
        lm = line_machine(cfg)
        state, since = machines.get(lm, (None, None)) if lm else (None, None)
        order, product, start = current_order(st)
        target = None
        good = scrap = 0
        changeover = paused = False
        if order is not None and start is not None:
            row = db.execute(
                "SELECT quantity FROM orders WHERE order_id = ? AND action = 'start' AND quantity IS NOT NULL "
                "ORDER BY seq DESC LIMIT 1",
                (order,),
            ).fetchone()
            target = row[0] if row else None
            g, s = db.execute(
                "SELECT coalesce(sum(good), 0), coalesce(sum(scrap), 0) FROM counts WHERE machine = ? AND ts >= ?",
                (lm, start),
            ).fetchone()
            good, scrap = int(g), int(s)
        last = db.execute(
            "SELECT action FROM orders WHERE by = 'line' AND action != 'start' ORDER BY seq DESC LIMIT 1"
        ).fetchone()
        if last is not None and order is not None:
            changeover = last[0] == "changeover_start"
            paused = last[0] == "pause"
        done = [
            {"ts": ts, "plan": plan, "order": o, "passed": bool(p), "by": by, "items": json.loads(items)}
            for ts, plan, o, p, by, items in db.execute(
                "SELECT ts, plan, order_id, passed, by, items FROM inspections ORDER BY seq DESC LIMIT 20"
            )
        ]
        maint = [
            {"ts": ts, "machine": m, "priority": p, "text": t, "by": by}
            for ts, m, p, t, by in db.execute(
                "SELECT ts, machine, priority, text, by FROM maintenance_requests ORDER BY seq DESC LIMIT 20"
            )
        ]
        return LineView(
            now=now,
            status=status,
            machine=lm,
            state=state,
            state_since=since,
            machines=machines,
            order=order,
            product=product,
            order_start=start,
            target=target,
            order_good=good,
            order_scrap=scrap,
            changeover=changeover,
            paused=paused,
            shift=self._shift_kpis(now),
            alarms=spc_alarms(cfg, st),
            downtime=self._downtime(now),
            dispatch=dispatch_list(st),
            inspections_due=due(cfg, st, now),
            inspections_done=done,
            maintenance=maint,
            spc={c.name: self._spc(c) for c in cfg.characteristics},
        )

    def _spc(self, c: Any, limit: int = 60) -> SpcView:
        db = self.store.db
        pts = db.execute(
            "SELECT ts, value FROM spc_points WHERE characteristic = ? ORDER BY seq DESC LIMIT ?",
            (c.name, limit),
        ).fetchall()[::-1]
        row = db.execute(
            "SELECT spec FROM spc_limits WHERE characteristic = ? AND action = 'frozen' ORDER BY seq DESC LIMIT 1",
            (c.name,),
        ).fetchone()
        center = ucl = lcl = sigma = None
        if row is not None and row[0]:
            spec = spec_from_json(row[0])
            p = spec.primary
            center, sigma = float(p.center), spec.sigma_within
            ucl = float(p.ucl) if not hasattr(p.ucl, "__len__") else float(p.ucl[-1])
            lcl = float(p.lcl) if not hasattr(p.lcl, "__len__") else float(p.lcl[-1])
        elif c.limits is not None:
            from edge.logic.quality.live import fixed_spec

            spec = fixed_spec(c.chart, c.subgroup_size, c.limits.center, c.limits.sigma)
            center, ucl, lcl = float(spec.primary.center), float(spec.primary.ucl), float(spec.primary.lcl)
            sigma = c.limits.sigma
        first = pts[0][0] if pts else 0.0
        viol = {
            ts
            for (ts,) in db.execute(
                "SELECT ts FROM spc_alarms WHERE characteristic = ? AND ts >= ?", (c.name, first)
            )
        }
        unit = ""
        if c.tag:
            try:
                unit = self.cfg.tag(c.tag).eng_unit or ""
            except KeyError:
                pass
        return SpcView(
            name=c.name,
            chart=c.chart,
            unit=unit,
            points=[(float(t), float(v)) for t, v in pts],
            center=center,
            ucl=ucl,
            lcl=lcl,
            lsl=c.spec.lsl,
            usl=c.spec.usl,
            violations=viol,
            frozen=center is not None,
            sigma_within=sigma,
            manual=c.manual,
        )

    def capability(self, name: str, since: float) -> dict[str, Any] | None:
        """Cp/Cpk (within sigma of the frozen limits) and Pp/Ppk (overall) from the
        individual values since ``since``: the tag's samples or the manual measurements."""
        from edge.logic.quality.capability import capability

        c = next((c for c in self.cfg.characteristics if c.name == name), None)
        if c is None:
            return None
        if c.manual or not c.tag:
            xs = [
                v
                for (v,) in self.store.db.execute(
                    "SELECT value FROM measurements WHERE characteristic = ? AND ts >= ? ORDER BY seq",
                    (name, since),
                )
            ]
        else:
            try:
                xs = [
                    r["value"]
                    for r in self.store.history(c.tag, since=since)
                    if r["quality"] == "good" and isinstance(r["value"], (int, float))
                ][-5000:]
            except StoreError:  # the tag has never been recorded in this store
                return None
        if len(xs) < 2 or (c.spec.lsl is None and c.spec.usl is None):
            return None
        sigma = self._spc(c, limit=1).sigma_within
        try:
            return capability(xs, lsl=c.spec.lsl, usl=c.spec.usl, sigma_within=sigma, target=c.spec.target)
        except ValueError:
            return None
