"""Line-logic facts ⇄ rows: state changes, downtime versions, counts, orders, edits.

``load_facts`` rebuilds the pure logic's inputs from the store so KPIs can be computed
for any window (``lineside kpi``) with the operators' edits applied.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

from edge.logic.production.downtime import Assign, DowntimeEvent, Split
from edge.logic.production.line import MachineCount, OrderChange
from edge.logic.production.report import Facts
from edge.logic.production.state import State, StateChange


def spec_to_json(spec: Any) -> str:
    import json

    def lim(x: Any) -> Any:
        return (
            None
            if x is None
            else {k: float(getattr(x, k)) for k in ("center", "ucl", "lcl", "point_sigma")}
            | {"chart": x.chart, "n": x.n}
        )

    return json.dumps(
        {
            "kind": spec.kind,
            "sigma_within": spec.sigma_within,
            "primary": lim(spec.primary),
            "secondary": lim(spec.secondary),
        }
    )


def spec_from_json(text: str) -> Any:
    import json

    from edge.logic.quality.charts import ChartSpec, Limits

    d = json.loads(text)

    def lim(x: Any) -> Any:
        return (
            None
            if x is None
            else Limits(x["chart"], x["center"], x["ucl"], x["lcl"], x["point_sigma"], x["n"])
        )

    return ChartSpec(d["kind"], lim(d["primary"]), lim(d["secondary"]), d["sigma_within"])


def insert_facts(db: sqlite3.Connection, facts: Sequence[Any]) -> None:
    from edge.logic.quality.live import LimitsFrozen, SpcAlarm, SpcPoint

    for f in facts:
        if isinstance(f, SpcPoint):
            db.execute(
                "INSERT INTO spc_points (ts, characteristic, value, dispersion, z) VALUES (?, ?, ?, ?, ?)",
                (f.ts, f.characteristic, f.value, f.dispersion, f.z),
            )
            continue
        if isinstance(f, SpcAlarm):
            db.execute(
                "INSERT INTO spc_alarms (ts, characteristic, kind, rule, detail, value) VALUES (?, ?, ?, ?, ?, ?)",
                (f.ts, f.characteristic, f.kind, f.rule, f.detail, f.value),
            )
            continue
        if isinstance(f, LimitsFrozen):
            db.execute(
                "INSERT INTO spc_limits (ts, characteristic, action, spec, by, reason) VALUES (?, ?, 'frozen', ?, 'line', ?)",
                (f.ts, f.characteristic, spec_to_json(f.spec), f"{f.reason} ({f.points} points)"),
            )
            continue
        if isinstance(f, StateChange):
            db.execute(
                "INSERT INTO state_changes (ts, machine, old, new, cause) VALUES (?, ?, ?, ?, ?)",
                (f.ts, f.machine, f.old.value if f.old else None, f.new.value, f.cause),
            )
        elif isinstance(f, DowntimeEvent):
            db.execute(
                "INSERT INTO downtime (event_id, machine, start, end, state, auto_reason, micro) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (f.id, f.machine, f.start, f.end, f.state.value, f.auto_reason, int(f.micro)),
            )
        elif isinstance(f, MachineCount):
            db.execute(
                "INSERT INTO counts (ts, machine, good, scrap, ideal_cycle_s, startup, order_id, product) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (f.ts, f.machine, f.good, f.scrap, f.ideal_cycle_s, int(f.startup), f.order, f.product),
            )
        elif isinstance(f, OrderChange):
            db.execute(
                "INSERT INTO orders (ts, order_id, product, action, by, applied) VALUES (?, ?, ?, ?, 'line', 1)",
                (f.ts, f.order, f.product, f.action),
            )


def load_downtime(db: sqlite3.Connection, since: float = float("-inf")) -> dict[str, list[DowntimeEvent]]:
    rows = db.execute(
        "SELECT d.event_id, d.machine, d.start, d.end, d.state, d.auto_reason, d.micro FROM downtime d "
        "JOIN (SELECT event_id, max(seq) AS seq FROM downtime GROUP BY event_id) l ON l.seq = d.seq "
        "WHERE d.end IS NULL OR d.end >= ? ORDER BY d.start",
        (since,),
    ).fetchall()
    out: dict[str, list[DowntimeEvent]] = {}
    for eid, machine, start, end, state, auto, micro in rows:
        out.setdefault(machine, []).append(
            DowntimeEvent(eid, machine, start, end, State(state), auto, micro=bool(micro))
        )
    return out


def load_edits(db: sqlite3.Connection) -> list[Assign | Split]:
    out: list[Assign | Split] = []
    for kind, eid, reason, at, comment, by, ts in db.execute(
        "SELECT kind, event_id, reason, at, comment, by, ts FROM downtime_edits ORDER BY seq"
    ):
        out.append(Assign(eid, reason, comment, by, ts) if kind == "assign" else Split(eid, at, by, ts))
    return out


def load_facts(db: sqlite3.Connection, start: float, end: float) -> Facts:
    """Facts relevant to [start, end): state changes from the last one before start."""
    changes: dict[str, list[StateChange]] = {}
    machines = [r[0] for r in db.execute("SELECT DISTINCT machine FROM state_changes")]
    for m in machines:
        first = db.execute(
            "SELECT max(seq) FROM state_changes WHERE machine = ? AND ts <= ?", (m, start)
        ).fetchone()[0]
        rows = db.execute(
            "SELECT ts, machine, old, new, cause FROM state_changes WHERE machine = ? AND seq >= ? AND ts < ? ORDER BY seq",
            (m, first or 0, end),
        ).fetchall()
        changes[m] = [
            StateChange(ts, mm, State(old) if old else None, State(new), cause)
            for ts, mm, old, new, cause in rows
        ]
    counts: dict[str, list[MachineCount]] = {}
    for ts, machine, good, scrap, ideal, startup, order, product in db.execute(
        "SELECT ts, machine, good, scrap, ideal_cycle_s, startup, order_id, product FROM counts WHERE ts >= ? AND ts < ? ORDER BY seq",
        (start, end),
    ):
        counts.setdefault(machine, []).append(
            MachineCount(ts, good, scrap, ideal, bool(startup), machine=machine, order=order, product=product)
        )
    orders = [
        OrderChange(ts, oid, product, action)
        for ts, oid, product, action in db.execute(
            "SELECT ts, order_id, product, action FROM orders WHERE by = 'line' ORDER BY seq"
        )
    ]
    return Facts(changes, load_downtime(db, start), counts, orders)
