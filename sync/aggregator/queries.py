"""The plant view from the aggregator's store: status of every line and a shift report
(OEE, downtime Pareto, MTBF/MTTR as the lines computed them; SPC alarms), maintenance,
inspections missed and due."""

from __future__ import annotations

import json
from typing import Any

from sync.aggregator.config import AggregatorConfig
from sync.aggregator.inspections_store import inspection_misses, inspections_due
from sync.aggregator.store import open_store


def plant_status(cfg: AggregatorConfig, *, now: float) -> list[dict[str, Any]]:
    store = open_store(cfg)
    try:
        status = {
            r[0]: r
            for r in store.query(
                "SELECT line, online, ts, agent, state, order_id, last_data, backlog, devices, received FROM line_status"
            )
        }
        received = dict(store.query("SELECT line, max(updated) FROM progress GROUP BY line"))
        counts: dict[str, int] = {}
        for (line, _stream), n in store.record_counts().items():
            counts[line] = counts.get(line, 0) + n
        dead = store.dead_letter_counts()
        out = []
        for ln in cfg.lines:
            s = status.get(ln.key)
            out.append(
                {
                    "line": ln.key,
                    "description": ln.description,
                    "online": bool(s[1]) if s else None,
                    "status_ts": s[2] if s else None,
                    "agent": s[3] if s else None,
                    "state": s[4] if s else None,
                    "order": s[5] if s else None,
                    "last_data": s[6] if s else None,
                    "backlog": int(s[7]) if s else 0,
                    "devices": json.loads(s[8]) if s else {},
                    "last_received": received.get(ln.key),
                    "records": counts.get(ln.key, 0),
                    "dead_letters": dead,
                }
            )
        return out
    finally:
        store.close()


def plant_report(cfg: AggregatorConfig, *, shift: str | None = None) -> dict[str, Any]:
    store = open_store(cfg)
    try:
        lines = []
        plant: dict[tuple[str, str], dict[str, Any]] = {}
        for ln in cfg.lines:
            if shift:
                rows = store.query(
                    "SELECT shift, start_ts, end_ts, data FROM shift_kpis WHERE line = ? AND shift = ?",
                    (ln.key, shift),
                )
            else:
                rows = store.query(
                    "SELECT shift, start_ts, end_ts, data FROM shift_kpis WHERE line = ? ORDER BY end_ts DESC LIMIT 1",
                    (ln.key,),
                )
                if not rows:  # a line without a shift calendar: its rolling window
                    rows = [
                        (None, d["start"], d["end"], json.dumps(d))
                        for (raw,) in store.query(
                            "SELECT data FROM line_state WHERE line = ? AND name = 'shift_kpi'", (ln.key,)
                        )
                        if (d := json.loads(raw))
                    ]
            entry: dict[str, Any] = {
                "line": ln.key,
                "shift": None,
                "kpi": None,
                "pareto": [],
                "spc_alarms": [],
            }
            if rows:
                sh, start, end, raw = rows[0]
                data = json.loads(raw)
                entry.update(
                    shift=sh, start=start, end=end, kpi=data.get("kpi"), pareto=data.get("pareto", [])
                )
                entry["spc_alarms"] = [
                    {
                        "seq": r[0],
                        "ts": r[1],
                        "characteristic": r[2],
                        "kind": r[3],
                        "rule": r[4],
                        "detail": r[5],
                        "value": r[6],
                    }
                    for r in store.query(
                        "SELECT seq, ts, characteristic, kind, rule, detail, value FROM spc_alarms "
                        "WHERE line = ? AND ts >= ? AND ts < ? ORDER BY seq",
                        (ln.key, start, end),
                    )
                ]
                for p in entry["pareto"]:
                    agg = plant.setdefault(
                        (p["reason"], p["loss"]),
                        {"reason": p["reason"], "loss": p["loss"], "count": 0, "duration_s": 0.0},
                    )
                    agg["count"] += p["count"]
                    agg["duration_s"] += p["duration_s"]
            lines.append(entry)
        return {
            "shift": shift,
            "lines": lines,
            "pareto": sorted(plant.values(), key=lambda p: -p["duration_s"]),
        }
    finally:
        store.close()


def plant_maintenance(
    cfg: AggregatorConfig, *, since: float, until: float, line: str | None = None
) -> list[dict[str, Any]]:
    """Per line: open work orders (the backlog) and the maintenance report (reliability per
    asset and failure mode, Pareto, compliance, backlog hours), folded from the records
    the line sent with the line's own logic, so the figures are the line's."""
    from edge.logic.maintenance.reliability import Stop
    from edge.logic.maintenance.report import maintenance_report
    from edge.logic.maintenance.stock import Part, apply_movement
    from edge.logic.maintenance.workorders import WoEvent, fold

    store = open_store(cfg)
    try:
        out = []
        for ln in cfg.lines:
            if line is not None and line not in (ln.key, ln.key.rsplit("/", 1)[-1]):
                continue
            evs = [
                WoEvent.of(*r)
                for r in store.query(
                    "SELECT seq, ts, wo, kind, data, by_who FROM maint_events WHERE line = ? ORDER BY seq",
                    (ln.key,),
                )
            ]
            orders = fold(evs)
            stops = [
                Stop(e, m, float(s), None if en is None else float(en), st, bool(mi), r)
                for e, m, s, en, st, mi, r in store.query(
                    "SELECT d.event_id, d.machine, d.start_ts, d.end_ts, d.state, d.micro, "
                    "coalesce(r.reason, d.auto_reason) FROM downtime d LEFT JOIN downtime_reasons r "
                    "ON r.line = d.line AND r.event_id = d.event_id "
                    "WHERE d.line = ? AND d.state = 'down' AND (d.end_ts IS NULL OR d.end_ts >= ?) ORDER BY d.start_ts",
                    (ln.key, since),
                )
            ]
            parts: dict[str, Part] = {}
            for part, kind, qty, wo in store.query(
                "SELECT part, kind, qty, wo FROM maint_stock WHERE line = ? ORDER BY seq", (ln.key,)
            ):
                apply_movement(parts, part, kind, float(qty), wo)
            backlog = sorted(
                (o.as_dict() for o in orders.values() if o.open),
                key=lambda o: (o["due"] or o["created"], o["id"]),
            )
            windows = sorted(
                (
                    {
                        "order": o.id,
                        "asset": o.asset,
                        "start": (at := o.scheduled_start or o.due or o.created),
                        "end": at + o.estimate_h * 3600,
                        "duration_h": o.estimate_h,
                        "title": o.title,
                    }
                    for o in orders.values()
                    if o.open and o.type != "corrective"
                ),
                key=lambda w: (w["start"], w["order"]),
            )
            out.append(
                {
                    "line": ln.key,
                    "windows": windows,
                    "backlog": [
                        {
                            k: o[k]
                            for k in (
                                "id",
                                "type",
                                "asset",
                                "title",
                                "state",
                                "priority",
                                "due",
                                "remaining_h",
                            )
                        }
                        for o in backlog
                    ],
                    "report": maintenance_report(orders, stops, since, until),
                    "stock": {
                        p.id: {"on_hand": p.on_hand, "reserved": p.reserved, "available": p.available}
                        for p in parts.values()
                    },
                }
            )
        return out
    finally:
        store.close()


def plant_inspections(
    cfg: AggregatorConfig, *, since: float, line: str | None = None
) -> dict[str, list[dict[str, Any]]]:
    """Missed inspections since ``since`` and inspections due now, of every line (or the
    line ``line``: its key or short name)."""
    key = cfg.line(line).key if line is not None else None
    store = open_store(cfg)
    try:
        return {
            "missed": inspection_misses(store, since=since, line=key),
            "due": inspections_due(store, line=key),
        }
    finally:
        store.close()


def audit_verify(cfg: AggregatorConfig) -> list[dict[str, Any]]:
    """Each line's audit chain as the plant anchors it: the head verified as the entries
    arrived, against the head the line reports now. Problems: a chain broken on arrival
    (unlinked, unsigned, a gap), a line whose chain now ends before what the plant
    verified (cut off at the end, or wiped, even with ``sqlite_sequence`` reset: the
    plant's copy remembers), one that differs where both have it (rewritten), and a
    store recreated (its earlier chain ended where the plant last saw it)."""
    store = open_store(cfg)
    try:
        heads: dict[str, list[dict[str, Any]]] = {}
        for h in store.audit_heads():
            heads.setdefault(h["line"], []).append(h)
        epochs = {(i["line"], i["incarnation"]): i["epoch"] for i in store.incarnations()}
        out = []
        for ln in cfg.lines:
            latest = store.latest_incarnation(ln.key)
            problems: list[str] = []
            verified = 0
            for h in sorted(heads.get(ln.key, []), key=lambda h: epochs.get((ln.key, h["incarnation"]), 0)):
                inc, seq = h["incarnation"], int(h["seq"] or 0)
                if h["problem"]:
                    problems.append(f"broken on arrival: {h['problem']}")
                if inc != latest:
                    if seq:
                        problems.append(
                            f"wiped: the line's store was recreated; its chain before (incarnation {inc or '-'}) "
                            f"reached entry {seq} at the plant"
                        )
                    continue
                verified = seq
                rep = h["reported_seq"]
                if rep is None:
                    continue
                rep = int(rep)
                if rep < seq:
                    what = "wiped" if rep == 0 else "cut off"
                    problems.append(
                        f"{what}: the line's chain now ends at entry {rep}, the plant verified it up to {seq} "
                        f"(entries {rep + 1}..{seq} are gone at the line)"
                    )
                if 1 <= rep <= seq:
                    mac = store.audit_mac_at(ln.key, inc, rep)
                    if mac is not None and mac != h["reported_mac"]:
                        problems.append(
                            f"rewritten: the line's entry {rep} differs from the one the plant verified"
                        )
            out.append(
                {
                    "line": ln.key,
                    "verified": verified,
                    "keyed": ln.audit_key is not None,
                    "problems": problems,
                }
            )
        return out
    finally:
        store.close()
