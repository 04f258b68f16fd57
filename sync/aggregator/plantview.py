"""What the plant web view reads: the board's tiles, a line's state timeline, OEE and
the six big losses by hour, day or shift, the two-level downtime Pareto, SPC charts
with their limits and capability, orders plan against actual, and reports over any
period and scope. Everything long-range reads the hourly rollups
(``sync.aggregator.rollups``), never raw samples; the web handlers call these functions
and never speak SQL themselves.

Plant-side OEE follows the line's textbook definitions (``edge.logic.production.oee``)
from the raw records, with the plant's conventions where the line's configuration is
not known at the plant: a reason code's first segment (``MECH`` of ``MECH.JAM``) is its
category; categories named in ``web.planned_categories`` are planned stops (outside the
planned production time) and those in ``web.setup_categories`` setup and adjustments;
micro-stops stay in run time as small stops; every other stop is a breakdown. Periods
are whole UTC hours (the rollups' grain); the still-open state and stop are added up
to now.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from edge.logic.production.oee import Kpi
from edge.logic.quality.capability import capability
from sync.aggregator.config import AggregatorConfig, AggregatorLine
from sync.aggregator.inspections_store import inspection_misses, inspections_due
from sync.aggregator.rollups import DAY, HOUR, hour_of, split_hours
from sync.aggregator.store import AggregatorStore

#: States that are not planned production time.
NOT_PLANNED = ("planned_stop", "no_data")


def _planned_cats(cfg: AggregatorConfig) -> tuple[set[str], set[str]]:
    w = cfg.web
    planned = set(w.planned_categories) if w else {"PLANNED"}
    setup = set(w.setup_categories) if w else {"SETUP"}
    return planned, setup


def category(reason: str | None) -> str:
    """The top level of a reason code (``MECH`` of ``MECH.JAM``); ``unexplained`` without one."""
    return reason.split(".", 1)[0] if reason else "unexplained"


def loss_class(reason: str | None, micro: bool, planned: set[str], setup: set[str]) -> str:
    """planned, setup, small_stop or breakdown (see the module docstring)."""
    cat = category(reason)
    if cat in planned:
        return "planned"
    if micro:
        return "small_stop"
    if cat in setup:
        return "setup"
    return "breakdown"


def scope_lines(cfg: AggregatorConfig, scope: str) -> list[AggregatorLine]:
    """Lines of a scope: ``plant``, ``site:S``, ``area:S/A`` or ``line:KEY`` (or a line's
    key or short name alone). ValueError naming the scope when nothing matches."""
    if scope in ("", "plant"):
        return list(cfg.lines)
    kind, _, name = scope.partition(":")
    if kind == "site":
        found = [ln for ln in cfg.lines if ln.site == name]
    elif kind == "area":
        found = [ln for ln in cfg.lines if f"{ln.site}/{ln.area}" == name]
    else:
        want = name if kind == "line" else scope
        found = [ln for ln in cfg.lines if want in (ln.key, ln.line)]
    if not found:
        raise ValueError(f"scope: {scope!r} names no configured line (plant, site:S, area:S/A, line:KEY)")
    return found


class PlantView:
    """The plant view's reads over one open store."""

    def __init__(self, cfg: AggregatorConfig, store: AggregatorStore) -> None:
        self.cfg = cfg
        self.store = store
        self.q = store.query

    # ------------------------------------------------------------------ board

    def board(self, now: float | None = None) -> list[dict[str, Any]]:
        """One tile per configured line (see the README's Plant board)."""
        now = now if now is not None else time.time()
        status = {
            r[0]: r
            for r in self.q("SELECT line, online, ts, state, order_id, last_data, backlog FROM line_status")
        }
        state: dict[tuple[str, str], dict[str, Any]] = {}
        for line, name, data in self.q(
            "SELECT line, name, data FROM line_state WHERE name IN ('shift_kpi', 'current_order', 'alarms')"
        ):
            try:
                state[(line, name)] = json.loads(data)
            except ValueError:
                continue
        keys = [ln.key for ln in self.cfg.lines]
        marks = ", ".join("?" for _ in keys)
        stops = {}
        for line, ev, machine, start, st, auto, reason in self.q(
            "SELECT d.line, d.event_id, d.machine, d.start_ts, d.state, d.auto_reason, r.reason FROM downtime d "
            "LEFT JOIN downtime_reasons r ON r.line = d.line AND r.event_id = d.event_id "
            f"WHERE d.line IN ({marks}) AND d.end_ts IS NULL ORDER BY d.start_ts",
            keys,
        ):
            stops[line] = {
                "event_id": ev,
                "machine": machine,
                "since": start,
                "state": st,
                "reason": reason or auto,
            }
        latest = self._latest_changes()
        tiles = []
        for ln in self.cfg.lines:
            s = status.get(ln.key)
            st = s[3] if s else None
            since = next((ts for ts, new in latest.get(ln.key, []) if new == st), None) if st else None
            kpi_msg = state.get((ln.key, "shift_kpi")) or {}
            kpi = kpi_msg.get("kpi") or {}
            co = state.get((ln.key, "current_order")) or {}
            order = (s[4] if s else None) or co.get("order")
            progress = None
            for w in co.get("dispatch") or []:
                if w.get("order_id") == order:
                    progress = w
            alarms = state.get((ln.key, "alarms"))
            tiles.append(
                {
                    "line": ln.key,
                    "name": ln.line,
                    "description": ln.description,
                    "site": ln.site,
                    "area": ln.area,
                    "online": bool(s[1]) if s else None,
                    "status_ts": s[2] if s else None,
                    "state": st,
                    "since": since,
                    "stop": stops.get(ln.key),
                    "order": order,
                    "product": co.get("product"),
                    "progress": _progress(progress),
                    "shift": kpi_msg.get("shift"),
                    "oee": kpi.get("oee"),
                    "availability": kpi.get("availability"),
                    "performance": kpi.get("performance"),
                    "quality": kpi.get("quality"),
                    "alarms": int(alarms.get("count", 0)) if isinstance(alarms, dict) else 0,
                    "backlog": int(s[6]) if s else 0,
                    "last_data": s[5] if s else None,
                    "now": now,
                }
            )
        return tiles

    def _latest_changes(self) -> dict[str, list[tuple[float, str]]]:
        """The newest state changes of each line, newest first: its OEE machine's last
        one when configured, else the line's last 20 (the board takes the newest into the
        line's current state as "since"). One round trip: an index probe per line."""
        parts, params = [], []
        for i, ln in enumerate(self.cfg.lines):
            if ln.machine:
                parts.append(
                    f"SELECT * FROM (SELECT line, ts, new FROM state_changes WHERE line = ? AND machine = ? "
                    f"ORDER BY ts DESC LIMIT 1) AS q{i}"
                )
                params += [ln.key, ln.machine]
            else:
                parts.append(
                    f"SELECT * FROM (SELECT line, ts, new FROM state_changes WHERE line = ? "
                    f"ORDER BY seq DESC LIMIT 20) AS q{i}"
                )
                params.append(ln.key)
        out: dict[str, list[tuple[float, str]]] = {}
        for line, ts, new in self.q(" UNION ALL ".join(parts), params) if parts else []:
            out.setdefault(line, []).append((float(ts), str(new)))
        for v in out.values():
            v.sort(reverse=True)
        return out

    # ------------------------------------------------------------------ timeline

    def timeline(self, line: str, start: float, end: float) -> dict[str, Any]:
        """States per machine as intervals clipped to [start, end), and the stops with
        their reasons (a Gantt of states and stops)."""
        end = min(end, time.time()) if end > time.time() else end
        machines: dict[str, list[dict[str, Any]]] = {}
        names = [
            m
            for (m,) in self.q(
                "SELECT DISTINCT machine FROM rollup_state WHERE line = ? AND hour >= ? AND hour < ?",
                (line, hour_of(start), end),
            )
        ]
        names += [
            m
            for (m,) in self.q(
                "SELECT DISTINCT machine FROM state_changes WHERE line = ? AND ts >= ?", (line, hour_of(end))
            )
            if m not in names
        ]
        for m in sorted(names):
            first = self.q(
                "SELECT ts, new FROM state_changes WHERE line = ? AND machine = ? AND ts < ? ORDER BY ts DESC LIMIT 1",
                (line, m, start),
            )
            rows = self.q(
                "SELECT ts, new FROM state_changes WHERE line = ? AND machine = ? AND ts >= ? AND ts < ? ORDER BY ts, seq",
                (line, m, start, end),
            )
            changes = [(start, first[0][1])] if first else []
            changes += [(float(t), str(s)) for t, s in rows]
            ivs = []
            for i, (t0, st) in enumerate(changes):
                t1 = changes[i + 1][0] if i + 1 < len(changes) else end
                if t1 > t0:
                    ivs.append({"start": t0, "end": t1, "state": st})
            machines[m] = ivs
        stops = [
            {
                "event_id": ev,
                "machine": m,
                "start": max(float(s), start),
                "end": min(float(e), end) if e is not None else end,
                "reason": r or auto,
                "micro": bool(micro),
            }
            for ev, m, s, e, auto, micro, r in self.q(
                "SELECT d.event_id, d.machine, d.start_ts, d.end_ts, d.auto_reason, d.micro, r.reason FROM downtime d "
                "LEFT JOIN downtime_reasons r ON r.line = d.line AND r.event_id = d.event_id "
                "WHERE d.line = ? AND d.start_ts < ? AND (d.end_ts IS NULL OR d.end_ts > ?) "
                "AND d.start_ts > ? ORDER BY d.start_ts",
                (line, end, start, start - 7 * 86400),
            )
        ]
        return {"start": start, "end": end, "machines": machines, "stops": stops}

    # ------------------------------------------------------------------ OEE

    def oee_machine(self, ln: AggregatorLine) -> str | None:
        """The machine whose state and counts are the line's OEE (configured, else the
        first by name that has counts)."""
        if ln.machine:
            return ln.machine
        rows = self.q("SELECT min(machine) FROM rollup_counts WHERE line = ?", (ln.key,))
        return rows[0][0] if rows and rows[0][0] else None

    def hourly(self, lines: Iterable[AggregatorLine], start: float, end: float) -> dict[float, Kpi]:
        """Plant-side KPIs per hour in [start, end) over ``lines`` (summed)."""
        start, end = hour_of(start), _ceil_hour(end)
        now = time.time()
        planned_cats, setup_cats = _planned_cats(self.cfg)
        out: dict[float, Kpi] = {}

        def k(h: float) -> Kpi:
            if h not in out:
                out[h] = Kpi(h, h + HOUR, calendar_s=HOUR)
            return out[h]

        acc: dict[float, dict[str, float]] = {}

        def a(h: float) -> dict[str, float]:
            return acc.setdefault(h, {"running": 0.0, "all": 0.0, "planned": 0.0, "planned_state": 0.0})

        for ln in lines:
            machine = self.oee_machine(ln)
            if machine is None:
                continue
            for h, st, s in self.q(
                "SELECT hour, state, seconds FROM rollup_state WHERE line = ? AND machine = ? AND hour >= ? AND hour < ?",
                (ln.key, machine, start, end),
            ):
                d = a(float(h))
                if st == "running":
                    d["running"] += s
                if st not in NOT_PLANNED:
                    d["all"] += s
                if st == "planned_stop":
                    d["planned_state"] += s
            # The open interval after the latest change (not in the rollups yet).
            last = self.q(
                "SELECT ts, new FROM state_changes WHERE line = ? AND machine = ? ORDER BY ts DESC LIMIT 1",
                (ln.key, machine),
            )
            if last:
                t0, st = float(last[0][0]), str(last[0][1])
                for h, s in split_hours(max(t0, start), min(now, end)):
                    d = a(h)
                    if st == "running":
                        d["running"] += s
                    if st not in NOT_PLANNED:
                        d["all"] += s
            for h, good, scrap, ideal, good_ideal, su in self.q(
                "SELECT hour, good, scrap, ideal_s, good_ideal_s, startup_scrap_ideal_s FROM rollup_counts "
                "WHERE line = ? AND machine = ? AND hour >= ? AND hour < ?",
                (ln.key, machine, start, end),
            ):
                kk = k(float(h))
                kk.good += int(good)
                kk.scrap += int(scrap)
                kk.ideal_s += float(ideal)
                kk.good_ideal_s += float(good_ideal)
                kk.startup_scrap_ideal_s += float(su)
            for h, seconds, reason, micro, dstart, dstate in self._downtime_hours(
                ln.key, machine, start, end, now
            ):
                cls = loss_class(reason, micro, planned_cats, setup_cats)
                kk, d = k(h), a(h)
                if cls == "planned":
                    if dstate not in NOT_PLANNED:  # else outside planned time already
                        d["planned"] += seconds
                elif cls == "small_stop":
                    kk.micro_stop_s += seconds
                elif cls == "setup":
                    kk.setup_s += seconds
                else:
                    kk.breakdown_s += seconds
                    if hour_of(dstart) == h:
                        kk.failures += 1
        for h, d in acc.items():
            kk = k(h)
            kk.run_s = d["running"] + kk.micro_stop_s
            ppt = max(d["all"] - d["planned"], kk.run_s)
            kk.downtime_s = ppt - kk.run_s
            kk.planned_stop_s = d["planned"] + d["planned_state"]
        return dict(sorted(out.items()))

    def _machines(self, lines: list[AggregatorLine]) -> dict[str, str]:
        """The OEE machine of each line that has one (see :meth:`oee_machine`)."""
        out = {ln.key: ln.machine for ln in lines if ln.machine}
        rest = [ln.key for ln in lines if not ln.machine]
        if rest:
            marks = ", ".join("?" for _ in rest)
            out.update(
                (line, m)
                for line, m in self.q(
                    f"SELECT line, min(machine) FROM rollup_counts WHERE line IN ({marks}) GROUP BY line",
                    rest,
                )
                if m
            )
        return out

    def _stop_rows(
        self, keys: list[str], start: float, end: float, now: float
    ) -> list[tuple[str, str, str | None, bool, float, int, str]]:
        """(line, machine, reason, micro, seconds, stops, state) of the lines' stops in
        [start, end), grouped in the database (day rollups for whole days, hours at the
        edges); open stops up to now. A stop counts in the hour it started (a stop that
        began before the period adds its seconds, not a stop)."""
        if not keys:
            return []
        marks = ", ".join("?" for _ in keys)
        hours, days = _split(start, end)
        rows: list[tuple[str, str, str | None, bool, float, int, str]] = []
        for a, b in hours:
            rows += [
                (str(line), str(m), r or auto, bool(micro), float(s), int(n), str(dst))
                for line, m, r, auto, micro, dst, s, n in self.q(
                    "SELECT h.line, d.machine, r.reason, d.auto_reason, d.micro, d.state, sum(h.seconds), "
                    "sum(CASE WHEN h.hour <= d.start_ts THEN 1 ELSE 0 END) "
                    "FROM downtime_hours h JOIN downtime d ON d.line = h.line AND d.event_id = h.event_id "
                    "LEFT JOIN downtime_reasons r ON r.line = h.line AND r.event_id = h.event_id "
                    f"WHERE h.line IN ({marks}) AND h.hour >= ? AND h.hour < ? "
                    "GROUP BY h.line, d.machine, r.reason, d.auto_reason, d.micro, d.state",
                    (*keys, a, b),
                )
            ]
        if days:
            rows += [
                (str(line), str(m), reason or None, bool(micro), float(s), int(n), str(dst))
                for line, m, reason, micro, dst, s, n in self.q(
                    "SELECT line, machine, reason, micro, state, sum(seconds), sum(stops) FROM rollup_stops_days "
                    f"WHERE line IN ({marks}) AND day >= ? AND day < ? GROUP BY line, machine, reason, micro, state",
                    (*keys, *days),
                )
            ]
        for line, m, ds, auto, micro, r, dst in self.q(
            "SELECT d.line, d.machine, d.start_ts, d.auto_reason, d.micro, r.reason, d.state FROM downtime d "
            "LEFT JOIN downtime_reasons r ON r.line = d.line AND r.event_id = d.event_id "
            f"WHERE d.line IN ({marks}) AND d.end_ts IS NULL",
            keys,
        ):
            s = min(now, end) - max(float(ds), start)
            if s > 0:
                rows.append((str(line), str(m), r or auto, bool(micro), s, int(float(ds) >= start), str(dst)))
        return rows

    def period_kpis(
        self,
        lines: list[AggregatorLine],
        start: float,
        end: float,
        stops: list[tuple[str, str, str | None, bool, float, int, str]] | None = None,
    ) -> dict[str, Kpi]:
        """Plant-side KPIs of each line over [start, end) (whole hours), summed in the
        database: a handful of grouped queries however long the period and however many
        lines (what a plant year report needs)."""
        start, end = hour_of(start), _ceil_hour(end)
        now = time.time()
        planned_cats, setup_cats = _planned_cats(self.cfg)
        machines = self._machines(lines)
        out = {ln.key: Kpi(start, end, calendar_s=end - start) for ln in lines}
        if not machines:
            return out
        keys = list(machines)
        ", ".join("?" for _ in keys)
        acc = {k: {"running": 0.0, "all": 0.0, "planned": 0.0, "planned_state": 0.0} for k in keys}

        def add_state(line: str, st: str, s: float) -> None:
            if st == "running":
                acc[line]["running"] += s
            if st not in NOT_PLANNED:
                acc[line]["all"] += s
            if st == "planned_stop":
                acc[line]["planned_state"] += s

        for line, m, st, s in self.q(
            *_union(
                "line, machine, state",
                "seconds",
                "rollup_state",
                "rollup_state_days",
                keys,
                start,
                end,
                "line, machine, state",
            )
        ):
            if machines.get(line) == m:
                add_state(line, str(st), float(s))
        if now > start:
            for line, m in machines.items():
                last = self.q(
                    "SELECT ts, new FROM state_changes WHERE line = ? AND machine = ? ORDER BY ts DESC LIMIT 1",
                    (line, m),
                )
                if last and min(now, end) > max(float(last[0][0]), start):
                    add_state(line, str(last[0][1]), min(now, end) - max(float(last[0][0]), start))
        for line, m, good, scrap, ideal, good_ideal, su in self.q(
            *_union(
                "line, machine",
                "good, scrap, ideal_s, good_ideal_s, startup_scrap_ideal_s",
                "rollup_counts",
                "rollup_counts_days",
                keys,
                start,
                end,
                "line, machine",
            )
        ):
            if machines.get(line) == m:
                k = out[line]
                k.good, k.scrap = int(good), int(scrap)
                k.ideal_s, k.good_ideal_s, k.startup_scrap_ideal_s = (
                    float(ideal),
                    float(good_ideal),
                    float(su),
                )
        if stops is None:
            stops = self._stop_rows(keys, start, end, now)
        for line, m, reason, micro, seconds, n, dstate in stops:
            if machines.get(line) != m:
                continue
            k, cls = out[line], loss_class(reason, micro, planned_cats, setup_cats)
            if cls == "planned":
                # A planned stop in a state outside planned time already is not subtracted twice.
                if dstate not in NOT_PLANNED:
                    acc[line]["planned"] += seconds
            elif cls == "small_stop":
                k.micro_stop_s += seconds
            elif cls == "setup":
                k.setup_s += seconds
            else:
                k.breakdown_s += seconds
                k.failures += n
        for line, d in acc.items():
            k = out[line]
            k.run_s = d["running"] + k.micro_stop_s
            ppt = max(d["all"] - d["planned"], k.run_s)
            k.downtime_s = ppt - k.run_s
            k.planned_stop_s = d["planned"] + d["planned_state"]
        return out

    def _downtime_hours(
        self, line: str, machine: str, start: float, end: float, now: float
    ) -> list[tuple[float, float, str | None, bool, float, str]]:
        """(hour, seconds, reason, micro, event start, state) of the machine's stops."""
        rows = [
            (float(h), float(s), r or auto, bool(micro), float(ds), str(st))
            for h, s, r, auto, micro, ds, st in self.q(
                "SELECT h.hour, h.seconds, r.reason, d.auto_reason, d.micro, d.start_ts, d.state "
                "FROM downtime_hours h JOIN downtime d ON d.line = h.line AND d.event_id = h.event_id "
                "LEFT JOIN downtime_reasons r ON r.line = h.line AND r.event_id = h.event_id "
                "WHERE h.line = ? AND h.hour >= ? AND h.hour < ? AND d.machine = ?",
                (line, start, end, machine),
            )
        ]
        for ds, auto, micro, r, st in self.q(
            "SELECT d.start_ts, d.auto_reason, d.micro, r.reason, d.state FROM downtime d "
            "LEFT JOIN downtime_reasons r ON r.line = d.line AND r.event_id = d.event_id "
            "WHERE d.line = ? AND d.end_ts IS NULL AND d.machine = ?",
            (line, machine),
        ):
            for h, s in split_hours(max(float(ds), start), min(now, end)):
                rows.append((h, s, r or auto, bool(micro), float(ds), str(st)))
        return rows

    def trend(self, line: str, start: float, end: float, by: str) -> list[dict[str, Any]]:
        """OEE, A/P/Q and the six big losses per hour, day (in ``web.timezone``) or
        shift (the line's own figures for its shifts)."""
        ln = self.cfg.line(line)
        if by == "shift":
            rows = self.q(
                "SELECT shift, start_ts, end_ts, data FROM shift_kpis WHERE line = ? AND end_ts > ? AND start_ts < ? "
                "ORDER BY start_ts",
                (ln.key, start, end),
            )
            out = []
            for sh, s, e, data in rows:
                kpi = json.loads(data).get("kpi") or {}
                out.append({"label": sh, "start": s, "end": e} | _kpi_fields(kpi))
            return out
        hours = self.hourly([ln], start, end)
        if by == "hour":
            return [
                {"label": _label(h, "hour", self._tz), "start": h, "end": h + HOUR} | _kpi(k)
                for h, k in hours.items()
            ]
        days: dict[float, Kpi] = {}
        for h, k in hours.items():
            d = _day_start(h, self._tz)
            days[d] = _add(days.get(d), k, d)
        return [
            {"label": _label(d, "day", self._tz), "start": d, "end": d + 86400} | _kpi(k)
            for d, k in days.items()
        ]

    @property
    def _tz(self) -> ZoneInfo:
        return ZoneInfo(self.cfg.web.timezone if self.cfg.web else "UTC")

    # ------------------------------------------------------------------ Pareto

    def pareto(self, lines: Iterable[AggregatorLine], start: float, end: float) -> list[dict[str, Any]]:
        """Downtime by category, each with its reasons (seconds, stops), longest first;
        all machines of the lines, planned stops included and marked."""
        start, end = hour_of(start), _ceil_hour(end)
        now = time.time()
        return self._pareto_of(self._stop_rows([ln.key for ln in lines], start, end, now))

    def _pareto_of(
        self, stops: list[tuple[str, str, str | None, bool, float, int, str]]
    ) -> list[dict[str, Any]]:
        planned_cats, setup_cats = _planned_cats(self.cfg)
        cats: dict[str, dict[str, Any]] = {}
        rows = [(reason, None, micro, seconds, n) for _l, _m, reason, micro, seconds, n, _st in stops]
        for r, auto, micro, seconds, n in rows:
            reason = r or auto or "unexplained"
            cat = category(r or auto)
            c = cats.setdefault(
                cat,
                {
                    "category": cat,
                    "loss": loss_class(r or auto, False, planned_cats, setup_cats),
                    "seconds": 0.0,
                    "stops": 0,
                    "reasons": {},
                },
            )
            c["seconds"] += float(seconds or 0)
            c["stops"] += int(n)
            rr = c["reasons"].setdefault(reason, {"reason": reason, "seconds": 0.0, "stops": 0, "micro": 0})
            rr["seconds"] += float(seconds or 0)
            rr["stops"] += int(n)
            rr["micro"] += int(n) if micro else 0
        out = []
        for c in sorted(cats.values(), key=lambda c: -c["seconds"]):
            c["reasons"] = sorted(c["reasons"].values(), key=lambda r: -r["seconds"])
            out.append(c)
        return out

    # ------------------------------------------------------------------ SPC

    def characteristics(self, line: str) -> list[str]:
        return [
            c
            for (c,) in self.q(
                "SELECT DISTINCT characteristic FROM spc_limits WHERE line = ? UNION "
                "SELECT DISTINCT characteristic FROM spc_alarms WHERE line = ?",
                (line, line),
            )
        ] or [c for (c,) in self.q("SELECT DISTINCT characteristic FROM spc_points WHERE line = ?", (line,))]

    def spc_chart(
        self, line: str, characteristic: str, start: float, end: float, limit: int = 500
    ) -> dict[str, Any]:
        """The chart's points (the newest ``limit`` in the period), the frozen centre
        line and limits in force, the alarms marked on it, and capability (with the
        spec limits of ``web.spec_limits``)."""
        pts = self.q(
            "SELECT ts, value, dispersion FROM spc_points WHERE line = ? AND characteristic = ? AND ts >= ? AND ts < ? "
            "ORDER BY ts DESC LIMIT ?",
            (line, characteristic, start, end, limit),
        )[::-1]
        lim = self.q(
            "SELECT ts, spec FROM spc_limits WHERE line = ? AND characteristic = ? AND action = 'frozen' "
            "ORDER BY seq DESC LIMIT 1",
            (line, characteristic),
        )
        spec = json.loads(lim[0][1]) if lim and lim[0][1] else None
        primary = (spec or {}).get("primary") or {}
        alarms = [
            {"ts": t, "kind": k, "rule": r, "detail": d, "value": v}
            for t, k, r, d, v in self.q(
                "SELECT ts, kind, rule, detail, value FROM spc_alarms WHERE line = ? AND characteristic = ? "
                "AND ts >= ? AND ts < ? ORDER BY ts",
                (line, characteristic, start, end),
            )
        ]
        limits = self.cfg.web.spec_limits.get(characteristic) if self.cfg.web else None
        cap = None
        values = [float(v) for _, v, _ in pts]
        if len(values) >= 2:
            try:
                cap = capability(
                    values,
                    lsl=limits.lsl if limits else None,
                    usl=limits.usl if limits else None,
                    sigma_within=(spec or {}).get("sigma_within"),
                    target=limits.target if limits else None,
                )
            except ValueError:
                cap = None
        flagged = {round(float(a["ts"]), 3) for a in alarms}
        return {
            "characteristic": characteristic,
            "ts": [float(t) for t, _, _ in pts],
            "values": values,
            "dispersion": [d for _, _, d in pts],
            "violations": [i for i, (t, _, _) in enumerate(pts) if round(float(t), 3) in flagged],
            "center": primary.get("center"),
            "ucl": primary.get("ucl"),
            "lcl": primary.get("lcl"),
            "chart": primary.get("chart") or (spec or {}).get("kind"),
            "limits_at": lim[0][0] if lim else None,
            "spec": limits.model_dump() if limits else None,
            "alarms": alarms,
            "capability": cap,
        }

    # ------------------------------------------------------------------ orders

    def orders(self, line: str) -> list[dict[str, Any]]:
        """The line's dispatch list (as it last published it), with what each order did
        on the line (first and last activity, good and scrap) and its planned window."""
        co = self._state(line, "current_order") or {}
        runs = {
            r[0]: {"product": r[1], "first": r[2], "last": r[3], "last_action": r[4]}
            for r in self.q(
                "SELECT order_id, product, first_ts, last_ts, last_action FROM order_runs WHERE line = ? "
                "ORDER BY last_ts DESC LIMIT 50",
                (line,),
            )
        }
        made = {
            o: (int(g), int(s))
            for o, g, s in self.q(
                "SELECT order_id, sum(good), sum(scrap) FROM counts WHERE line = ? AND order_id IN ("
                "SELECT order_id FROM order_runs WHERE line = ? ORDER BY last_ts DESC LIMIT 50) GROUP BY order_id",
                (line, line),
            )
        }
        out: dict[str, dict[str, Any]] = {}
        for w in co.get("dispatch") or []:
            oid = str(w.get("order_id"))
            out[oid] = {
                "order_id": oid,
                "product": w.get("product"),
                "quantity": w.get("quantity"),
                "state": w.get("state"),
                "due": w.get("due"),
                "planned_start": w.get("planned_start"),
                "planned_end": w.get("planned_end"),
            }
        for oid, r in runs.items():
            o = out.setdefault(
                oid,
                {
                    "order_id": oid,
                    "product": r["product"],
                    "quantity": None,
                    "state": r["last_action"],
                    "due": None,
                    "planned_start": None,
                    "planned_end": None,
                },
            )
            o.update(first=r["first"], last=r["last"], last_action=r["last_action"])
        for oid, o in out.items():
            g, s = made.get(oid, (0, 0))
            o.update(good=g, scrap=s)
            q = o.get("quantity")
            o["progress"] = g / q if q else None
        return list(out.values())

    def commands(self, line: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
        return self.store.commands(line)[-limit:][::-1]

    def _state(self, line: str, name: str) -> dict[str, Any] | None:
        rows = self.q("SELECT data FROM line_state WHERE line = ? AND name = ?", (line, name))
        return json.loads(rows[0][0]) if rows else None

    # ------------------------------------------------------------------ reports

    def report(self, scope: str, start: float, end: float) -> dict[str, Any]:
        """OEE with A/P/Q, the six big losses, MTBF/MTTR, the top downtime reasons and
        scrap by reason over any period and scope, from the hourly rollups."""
        lines = scope_lines(self.cfg, scope)
        start, end = hour_of(start), _ceil_hour(end)
        stops = self._stop_rows([ln.key for ln in lines], start, end, time.time())
        kpis = self.period_kpis(lines, start, end, stops)
        per_line = []
        total: Kpi | None = None
        for ln in lines:
            kl = kpis[ln.key]
            per_line.append({"line": ln.key, "name": ln.line, "site": ln.site, "area": ln.area} | _kpi(kl))
            total = _add(total, kl, start)
        total = total or Kpi(start, end)
        total.end, total.calendar_s = end, (end - start) * len(lines)
        keys = [ln.key for ln in lines]
        ", ".join("?" for _ in keys)
        scrap = [
            {"reason": r, "scrap": int(n)}
            for r, n in sorted(
                self.q(
                    *_union(
                        "reason", "scrap", "rollup_scrap", "rollup_scrap_days", keys, start, end, "reason"
                    )
                ),
                key=lambda x: -int(x[1]),
            )
        ]
        pareto = self._pareto_of(stops)
        top = sorted(
            ({"category": c["category"], **r} for c in pareto for r in c["reasons"]),
            key=lambda r: -r["seconds"],
        )[:10]
        return {
            "scope": scope or "plant",
            "start": start,
            "end": end,
            "total": _kpi(total),
            "lines": per_line,
            "top_reasons": top,
            "pareto": pareto,
            "scrap": scrap,
        }

    # ------------------------------------------------------------------ quality

    def quality(self, now: float | None = None, days: float = 7) -> dict[str, Any]:
        """SPC alarms across the plant, the lines' unacknowledged alarms, inspections of
        the last ``days`` (failed ones marked), open holds, the dispositions of the last
        ``days``, the orders held by a failed first-off, the inspections the lines
        recorded as missed in the last ``days`` and those due now per line (as each line
        last published them)."""
        now = now if now is not None else time.time()
        since = now - days * 86400
        alarms = [
            {"line": ln, "ts": t, "characteristic": c, "kind": k, "rule": r, "detail": d, "value": v}
            for ln, t, c, k, r, d, v in self.q(
                "SELECT line, ts, characteristic, kind, rule, detail, value FROM spc_alarms WHERE ts >= ? "
                "ORDER BY ts DESC LIMIT 200",
                (since,),
            )
        ]
        active = []
        for line, data in self.q("SELECT line, data FROM line_state WHERE name = 'alarms'"):
            try:
                d = json.loads(data)
            except ValueError:
                continue
            for a in d.get("active") or []:
                active.append({"line": line} | (a if isinstance(a, dict) else {"detail": str(a)}))
        inspections = [
            {"line": ln, "ts": t, "plan": p, "order_id": o, "passed": bool(ok), "by": b, "comment": c}
            for ln, t, p, o, ok, b, c in self.q(
                "SELECT line, ts, plan, order_id, passed, by_who, comment FROM inspections WHERE ts >= ? "
                "ORDER BY ts DESC LIMIT 200",
                (since,),
            )
        ]
        return {
            "alarms": alarms,
            "active": active,
            "inspections": inspections,
            "since": since,
            "holds": self.open_holds(),
            "dispositions": self.dispositions(since),
            "first_off_holds": self.first_off_holds(),
            "missed": inspection_misses(self.store, since=since),
            "due": inspections_due(self.store),
        }

    def open_holds(self) -> list[dict[str, Any]]:
        """Holds the lines put on lots, orders and time windows that no disposition has
        ended yet (the latest row of a line's hold is its state), oldest first."""
        cols = ("line", "hold_id", "target_kind", "target", "start", "end", "reason", "source", "by", "ts")
        return [
            dict(zip(cols, r, strict=True))
            for r in self.q(
                "SELECT h.line, h.hold_id, h.target_kind, h.target, h.start_ts, h.end_ts, h.reason, h.source, "
                "h.by_who, h.ts FROM plant_holds h WHERE h.action = 'hold' AND h.seq = (SELECT max(x.seq) "
                "FROM plant_holds x WHERE x.line = h.line AND x.hold_id = h.hold_id) ORDER BY h.ts LIMIT 500"
            )
        ]

    def dispositions(self, since: float) -> list[dict[str, Any]]:
        """Holds disposed of since ``since`` (released, scrapped or sent to rework), newest
        first, with what the hold was for and why it was put."""
        cols = (
            "line",
            "ts",
            "hold_id",
            "target_kind",
            "target",
            "action",
            "reason",
            "corrective_action",
            "by",
            "held_at",
            "held_by",
            "hold_reason",
        )
        return [
            dict(zip(cols, r, strict=True))
            for r in self.q(
                "SELECT d.line, d.ts, d.hold_id, d.target_kind, d.target, d.action, d.reason, d.corrective_action, "
                "d.by_who, h.ts, h.by_who, h.reason FROM plant_holds d LEFT JOIN plant_holds h ON h.line = d.line "
                "AND h.hold_id = d.hold_id AND h.action = 'hold' AND h.seq = (SELECT min(y.seq) FROM plant_holds y "
                "WHERE y.line = d.line AND y.hold_id = d.hold_id AND y.action = 'hold') "
                "WHERE d.action <> 'hold' AND d.ts >= ? ORDER BY d.ts DESC LIMIT 200",
                (since,),
            )
        ]

    def first_off_holds(self) -> list[dict[str, Any]]:
        """Orders each line holds after a failed first-off inspection, from the dispatch
        list the line last published (the line keeps the hold; a passing re-check or a
        supervisor's release at the line ends it)."""
        out = []
        for line, data in self.q(
            "SELECT line, data FROM line_state WHERE name = 'current_order' ORDER BY line"
        ):
            try:
                d = json.loads(data)
            except ValueError:
                continue
            for w in d.get("dispatch") or []:
                blocked = w.get("blocked") if isinstance(w, dict) else None
                # The words of edge.services.plan.BLOCK_REASONS["first_off"].
                if isinstance(blocked, str) and blocked.startswith("first-off hold"):
                    out.append(
                        {
                            "line": line,
                            "order_id": w.get("order_id"),
                            "product": w.get("product"),
                            "detail": blocked,
                            "ts": d.get("ts"),
                        }
                    )
        return out

    # ------------------------------------------------------------------ audit

    def audit(
        self,
        *,
        who: str,
        role: str,
        action: str,
        entity: str,
        detail: str,
        meaning: str = "performed",
        address: str = "",
        now: float | None = None,
    ) -> None:
        """Record what a plant user did in the browser."""
        self.store.web_audit(
            now if now is not None else time.time(), who, role, action, entity, detail, meaning, address
        )

    def audit_log(self, limit: int = 200) -> list[dict[str, Any]]:
        cols = ("ts", "who", "role", "action", "entity", "detail", "meaning", "address")
        return [
            dict(zip(cols, r, strict=True))
            for r in self.q(
                "SELECT ts, who, role, action, entity, detail, meaning, address FROM web_audit ORDER BY id DESC LIMIT ?",
                (limit,),
            )
        ]


def _split(start: float, end: float) -> tuple[list[tuple[float, float]], tuple[float, float] | None]:
    """[start, end) (whole hours) as hour ranges at the edges and the whole UTC days between."""
    d0, d1 = math.ceil(start / DAY) * DAY, math.floor(end / DAY) * DAY
    if d0 >= d1:
        return [(start, end)], None
    return [(a, b) for a, b in ((start, d0), (d1, end)) if b > a], (d0, d1)


def _union(
    keys_cols: str,
    sum_cols: str,
    hourly: str,
    daily: str,
    lines: list[str],
    start: float,
    end: float,
    group: str,
) -> tuple[str, list[Any]]:
    """SQL summing ``sum_cols`` by ``group`` over an hourly rollup at the period's edges
    and its day rollup for the whole days between (one statement)."""
    marks = ", ".join("?" for _ in lines)
    hours, days = _split(start, end)
    parts, params = [], []
    cols = f"{keys_cols}, {sum_cols}"
    for a, b in hours:
        parts.append(f"SELECT {cols} FROM {hourly} WHERE line IN ({marks}) AND hour >= ? AND hour < ?")
        params += [*lines, a, b]
    if days:
        parts.append(f"SELECT {cols} FROM {daily} WHERE line IN ({marks}) AND day >= ? AND day < ?")
        params += [*lines, *days]
    sums = ", ".join(f"sum({c.strip()})" for c in sum_cols.split(","))
    return f"SELECT {group}, {sums} FROM ({' UNION ALL '.join(parts)}) AS u GROUP BY {group}", params


def _ceil_hour(ts: float) -> float:
    return math.ceil(ts / HOUR) * HOUR


def _progress(w: dict[str, Any] | None) -> dict[str, Any] | None:
    if not w:
        return None
    q, g = w.get("quantity"), w.get("good") or w.get("made") or 0
    return {
        "quantity": q,
        "good": g,
        "fraction": (g / q) if q else None,
        "planned_end": w.get("planned_end"),
        "adherence": w.get("adherence"),
    }


def _kpi(k: Kpi) -> dict[str, Any]:
    d = k.as_dict()
    return _kpi_fields(d)


def _kpi_fields(d: dict[str, Any]) -> dict[str, Any]:
    keys = (
        "oee",
        "availability",
        "performance",
        "quality",
        "good",
        "scrap",
        "run_s",
        "downtime_s",
        "planned_production_s",
        "failures",
        "mtbf_s",
        "mttr_s",
    )
    out = {k: d.get(k) for k in keys}
    out["losses"] = d.get("six_big_losses_s") or {}
    return out


def _add(acc: Kpi | None, k: Kpi, start: float) -> Kpi:
    """Sum of two windows' KPIs (times and counts add; the ratios follow)."""
    if acc is None:
        acc = Kpi(start, k.end)
    for f in (
        "calendar_s",
        "planned_stop_s",
        "downtime_s",
        "run_s",
        "micro_stop_s",
        "no_data_s",
        "ideal_s",
        "good_ideal_s",
        "startup_scrap_ideal_s",
        "breakdown_s",
        "setup_s",
    ):
        setattr(acc, f, getattr(acc, f) + getattr(k, f))
    acc.good += k.good
    acc.scrap += k.scrap
    acc.failures += k.failures
    acc.end = max(acc.end, k.end)
    return acc


def _day_start(ts: float, tz: ZoneInfo) -> float:
    d = datetime.fromtimestamp(ts, tz)
    return datetime(d.year, d.month, d.day, tzinfo=tz).timestamp()


def _label(ts: float, by: str, tz: ZoneInfo) -> str:
    d = datetime.fromtimestamp(ts, tz)
    return d.strftime("%Y-%m-%d %H:00") if by == "hour" else d.strftime("%Y-%m-%d")


def parse_period(text: str | None, now: float, tz: ZoneInfo, default: str = "8h") -> tuple[float, float]:
    """``Nh``/``Nd`` (the last N hours or days), ``today``, ``month`` (the last 30 days)
    or ``START..END`` (ISO dates or times in the plant's time zone). ValueError naming
    the field otherwise."""
    t = (text or default).strip()
    if t == "today":
        d = datetime.fromtimestamp(now, tz)
        return datetime(d.year, d.month, d.day, tzinfo=tz).timestamp(), now
    if t == "month":
        return now - 30 * 86400, now
    if t == "year":
        return now - 365 * 86400, now
    if t[-1:] in ("h", "d") and t[:-1].isdigit():
        n = int(t[:-1])
        if not 1 <= n <= 3660:
            raise ValueError("period: between 1 and 3660 hours or days")
        return now - n * (3600 if t[-1] == "h" else 86400), now
    if ".." in t:
        a, _, b = t.partition("..")
        try:
            s = datetime.fromisoformat(a.strip())
            e = datetime.fromisoformat(b.strip())
        except ValueError:
            raise ValueError("period: START..END as ISO dates or times (2026-11-01..2026-12-01)") from None
        s = s if s.tzinfo else s.replace(tzinfo=tz)
        e = e if e.tzinfo else e.replace(tzinfo=tz)
        if len(b.strip()) == 10:  # a date: through the end of that day
            e = e + timedelta(days=1)
        if not e > s:
            raise ValueError("period: END must be after START")
        return s.timestamp(), e.timestamp()
    raise ValueError("period: 8h, 7d, today, month, year or START..END")


def finite(x: Any) -> Any:
    """JSON-safe numbers (NaN and infinities as None)."""
    return None if isinstance(x, float) and not math.isfinite(x) else x
