"""Repository of maintenance: requests raised at the line, work-order steps
(``maint_events``), spare-parts movements (``maint_stock``), order numbers with the due
point each was raised for (``maint_orders``) and where each plan's meters stand
(``maint_plan_state``). Writers do not open a transaction themselves; the caller groups
them with the audit entry in ``store.transaction()`` — except :func:`insert_fact`, which
runs inside the transaction that stores the line-logic facts (``edge.store.facts``)."""

from __future__ import annotations

import json
from typing import Any

from edge.logic.maintenance.stock import Part, apply_movement
from edge.logic.maintenance.workorders import WoEvent
from edge.store.db import Store
from edge.store.maintenance_orders import add_event, new_order

__all__ = ["add_event", "new_order"]


def add_request(store: Store, machine: str, *, priority: str, text: str, by: str, ts: float) -> int:
    cur = store.db.execute(
        "INSERT INTO maintenance_requests (ts, machine, priority, text, by) VALUES (?, ?, ?, ?, ?)",
        (ts, machine, priority, text, by),
    )
    return int(cur.lastrowid or 0)


def recent_requests(store: Store, limit: int = 20) -> list[dict[str, Any]]:
    """The latest maintenance requests, newest first."""
    return [
        {"seq": seq, "ts": ts, "machine": m, "priority": p, "text": t, "by": by}
        for seq, ts, m, p, t, by in store.db.execute(
            "SELECT seq, ts, machine, priority, text, by FROM maintenance_requests ORDER BY seq DESC LIMIT ?",
            (limit,),
        )
    ]


def request(store: Store, seq: int) -> dict[str, Any] | None:
    row = store.db.execute(
        "SELECT seq, ts, machine, priority, text, by FROM maintenance_requests WHERE seq = ?", (seq,)
    ).fetchone()
    if row is None:
        return None
    return dict(zip(("seq", "ts", "machine", "priority", "text", "by"), row, strict=True))


# ------------------------------------------------------------------ work orders


def events(store: Store, wo: str | None = None) -> list[WoEvent]:
    sql = "SELECT seq, ts, wo, kind, data, by FROM maint_events"
    rows = (
        store.db.execute(sql + " WHERE wo = ? ORDER BY seq", (wo,))
        if wo is not None
        else store.db.execute(sql + " ORDER BY seq")
    )
    return [WoEvent.of(*r) for r in rows]


def raised_keys(store: Store) -> set[str]:
    return {k for (k,) in store.db.execute("SELECT key FROM maint_orders WHERE key IS NOT NULL")}


# ------------------------------------------------------------------ spare parts


def add_movement(
    store: Store, ts: float, part: str, kind: str, qty: float, *, wo: str | None, by: str, why: str
) -> int:
    cur = store.db.execute(
        "INSERT INTO maint_stock (ts, part, kind, qty, wo, by, why) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (ts, part, kind, qty, wo, by, why),
    )
    return int(cur.lastrowid or 0)


def stock(store: Store, parts: dict[str, Part]) -> dict[str, Part]:
    """Fold every movement into ``parts`` (configured items with min/max)."""
    for part, kind, qty, wo in store.db.execute("SELECT part, kind, qty, wo FROM maint_stock ORDER BY seq"):
        apply_movement(parts, part, kind, float(qty), wo)
    return parts


def movements(store: Store, part: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
    sql = "SELECT seq, ts, part, kind, qty, wo, by, why FROM maint_stock"
    rows = (
        store.db.execute(sql + " WHERE part = ? ORDER BY seq DESC LIMIT ?", (part, limit))
        if part
        else store.db.execute(sql + " ORDER BY seq DESC LIMIT ?", (limit,))
    )
    keys = ("seq", "ts", "part", "kind", "qty", "wo", "by", "why")
    return [dict(zip(keys, r, strict=True)) for r in rows]


# ------------------------------------------------------------------ plan meters


def plan_states(store: Store) -> dict[str, dict[str, Any]]:
    return {p: json.loads(s) for p, s in store.db.execute("SELECT plan, state FROM maint_plan_state")}


def save_plan_states(store: Store, states: dict[str, dict[str, Any]], ts: float) -> None:
    store.db.executemany(
        "INSERT INTO maint_plan_state (plan, state, ts) VALUES (?, ?, ?) "
        "ON CONFLICT (plan) DO UPDATE SET state = excluded.state, ts = excluded.ts",
        [(p, json.dumps(s), ts) for p, s in states.items()],
    )


# ------------------------------------------------------------------ stops (reliability)


def stops(store: Store, since: float) -> list[tuple[Any, ...]]:
    """(event_id, machine, start, end, state, micro, reason) of the latest version of every
    down stop since ``since``, with the reason an operator gave, else the automatic one."""
    return store.db.execute(
        "SELECT d.event_id, d.machine, d.start, d.end, d.state, d.micro, "
        "coalesce((SELECT e.reason FROM downtime_edits e WHERE e.event_id = d.event_id AND e.kind = 'assign' "
        "ORDER BY e.seq DESC LIMIT 1), d.auto_reason) "
        "FROM downtime d JOIN (SELECT event_id, max(seq) AS seq FROM downtime GROUP BY event_id) l "
        "ON l.seq = d.seq WHERE d.state = 'down' AND (d.end IS NULL OR d.end >= ?) ORDER BY d.start",
        (since,),
    ).fetchall()
