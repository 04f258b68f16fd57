"""The plan's tables in the plant store (SQL lives here and in the aggregator's other
store modules only): orders and routings to plan, plans with their status and diff,
replan trigger events, maintenance windows and material notices entered at the plant,
the lines' reports about their sequence, and the line status and downtime the triggers
read. Functions take an open :class:`~sync.aggregator.store.AggregatorStore`; writers
run in the caller's transaction (``store.tx()``) or on their own (autocommit)."""

from __future__ import annotations

import json
from typing import Any

from sync.aggregator.store import AggregatorStore

# ----------------------------------------------------------------------------- orders


def upsert_order(st: AggregatorStore, o: dict[str, Any], now: float) -> bool:
    """Add or update an order to plan; True when it is new (or reopened)."""
    before = st.query("SELECT status FROM plan_orders WHERE order_id = ?", (o["id"],))
    st.db.execute(
        "INSERT INTO plan_orders (order_id, product, quantity, release_ts, due, deadline, priority, materials, "
        "status, updated) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'open', ?) ON CONFLICT (order_id) DO UPDATE SET "
        "product = excluded.product, quantity = excluded.quantity, release_ts = excluded.release_ts, "
        "due = excluded.due, deadline = excluded.deadline, priority = excluded.priority, "
        "materials = excluded.materials, status = 'open', updated = excluded.updated",
        (
            o["id"],
            o["product"],
            o["quantity"],
            o.get("release"),
            o.get("due"),
            o.get("deadline"),
            o.get("priority", 0),
            json.dumps(o.get("materials", [])),
            now,
        ),
    )
    return not before or before[0][0] != "open"


def set_order_status(st: AggregatorStore, order_id: str, status: str, now: float) -> bool:
    cur = st.db.execute(
        "UPDATE plan_orders SET status = ?, updated = ? WHERE order_id = ? AND status <> ?",
        (status, now, order_id, status),
    )
    return bool(cur.rowcount)


def orders(st: AggregatorStore, *, status: str | None = "open") -> list[dict[str, Any]]:
    q = "SELECT order_id, product, quantity, release_ts, due, deadline, priority, materials, status FROM plan_orders"
    rows = st.query(
        q + (" WHERE status = ?" if status else "") + " ORDER BY order_id", (status,) if status else ()
    )
    return [
        {
            "id": r[0],
            "product": r[1],
            "quantity": int(r[2]),
            "release": r[3],
            "due": r[4],
            "deadline": r[5],
            "priority": int(r[6]),
            "materials": json.loads(r[7]),
            "status": r[8],
        }
        for r in rows
    ]


def upsert_routing(st: AggregatorStore, product: str, body: dict[str, Any], now: float) -> None:
    st.db.execute(
        "INSERT INTO plan_routings (product, body, updated) VALUES (?, ?, ?) "
        "ON CONFLICT (product) DO UPDATE SET body = excluded.body, updated = excluded.updated",
        (product, json.dumps(body), now),
    )


def routings(st: AggregatorStore) -> list[dict[str, Any]]:
    return [json.loads(b) for (b,) in st.query("SELECT body FROM plan_routings ORDER BY product")]


# ----------------------------------------------------------------------------- plans


PLAN_COLS = (
    "id",
    "created",
    "origin",
    "status",
    "trigger",
    "objective",
    "bound",
    "gap",
    "body",
    "diff",
    "decided_by",
    "decided_at",
    "released_at",
)
_SELECT = (
    "SELECT id, created, origin, status, trigger_kind, objective, bound, gap, body, diff, decided_by, "
    "decided_at, released_at FROM plans"
)


def _plan_row(r: tuple[Any, ...]) -> dict[str, Any]:
    d = dict(zip(PLAN_COLS, r, strict=True))
    d["id"] = int(d["id"])
    d["body"] = json.loads(d["body"])
    d["diff"] = json.loads(d["diff"])
    return d


def add_plan(
    st: AggregatorStore,
    *,
    created: float,
    origin: float,
    status: str,
    trigger: str,
    objective: float | None,
    bound: float | None,
    gap: float | None,
    body: dict[str, Any],
    diff: dict[str, Any],
) -> int:
    rows = st.db.execute(
        "INSERT INTO plans (created, origin, status, trigger_kind, objective, bound, gap, body, diff) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
        (created, origin, status, trigger, objective, bound, gap, json.dumps(body), json.dumps(diff)),
    ).fetchall()
    return int(rows[0][0])


def plan(st: AggregatorStore, plan_id: int) -> dict[str, Any] | None:
    rows = st.query(_SELECT + " WHERE id = ?", (plan_id,))
    return _plan_row(rows[0]) if rows else None


def latest(st: AggregatorStore, statuses: tuple[str, ...]) -> dict[str, Any] | None:
    marks = ", ".join("?" for _ in statuses)
    rows = st.query(_SELECT + f" WHERE status IN ({marks}) ORDER BY id DESC LIMIT 1", statuses)
    return _plan_row(rows[0]) if rows else None


def plans(st: AggregatorStore, limit: int = 20) -> list[dict[str, Any]]:
    return [_plan_row(r) for r in st.query(_SELECT + " ORDER BY id DESC LIMIT ?", (limit,))]


def set_plan_status(
    st: AggregatorStore, plan_id: int, status: str, *, by: str = "", at: float, released: bool = False
) -> None:
    st.db.execute(
        "UPDATE plans SET status = ?, decided_by = CASE WHEN ? <> '' THEN ? ELSE decided_by END, "
        "decided_at = ?, released_at = CASE WHEN ? = 1 THEN ? ELSE released_at END WHERE id = ?",
        (status, by, by, at, int(released), at, plan_id),
    )


def supersede(st: AggregatorStore, keep: int, statuses: tuple[str, ...], at: float) -> None:
    """Plans in ``statuses`` other than ``keep`` are superseded."""
    marks = ", ".join("?" for _ in statuses)
    st.db.execute(
        f"UPDATE plans SET status = 'superseded', decided_at = ? WHERE id <> ? AND status IN ({marks})",
        (at, keep, *statuses),
    )


# ----------------------------------------------------------------------------- triggers


def add_event(
    st: AggregatorStore, ts: float, kind: str, *, line: str = "", ref: str = "", detail: str = ""
) -> int:
    rows = st.db.execute(
        "INSERT INTO plan_events (ts, kind, line, ref, detail) VALUES (?, ?, ?, ?, ?) RETURNING id",
        (ts, kind, line, ref, detail),
    ).fetchall()
    return int(rows[0][0])


def events(st: AggregatorStore, *, open_only: bool = False, limit: int = 50) -> list[dict[str, Any]]:
    rows = st.query(
        "SELECT id, ts, kind, line, ref, detail, plan_id FROM plan_events"
        + (" WHERE plan_id IS NULL" if open_only else "")
        + " ORDER BY id DESC LIMIT ?",
        (limit,),
    )
    cols = ("id", "ts", "kind", "line", "ref", "detail", "plan_id")
    return [dict(zip(cols, r, strict=True)) for r in rows]


def event_since(st: AggregatorStore, kind: str, line: str, ref: str, since: float) -> bool:
    """Whether an event of this kind about (line, ref) was recorded at or after ``since``."""
    return bool(
        st.query(
            "SELECT 1 FROM plan_events WHERE kind = ? AND line = ? AND ref = ? AND ts >= ? LIMIT 1",
            (kind, line, ref, since),
        )
    )


def close_events(st: AggregatorStore, plan_id: int) -> None:
    st.db.execute("UPDATE plan_events SET plan_id = ? WHERE plan_id IS NULL", (plan_id,))


def add_maintenance(
    st: AggregatorStore, resource: str, start: float, end: float, reason: str, now: float
) -> None:
    st.db.execute(
        "INSERT INTO plan_maintenance (resource, start_ts, end_ts, reason, added) VALUES (?, ?, ?, ?, ?)",
        (resource, start, end, reason, now),
    )


def maintenance(st: AggregatorStore, after: float) -> list[tuple[str, float, float, str]]:
    return [
        (r, float(a), float(b), why)
        for r, a, b, why in st.query(
            "SELECT resource, start_ts, end_ts, reason FROM plan_maintenance WHERE end_ts > ? ORDER BY start_ts",
            (after,),
        )
    ]


def set_material(
    st: AggregatorStore, material: str, available_at: float | None, order_ids: list[str], now: float
) -> None:
    st.db.execute(
        "INSERT INTO plan_materials (material, available_at, orders, updated) VALUES (?, ?, ?, ?) "
        "ON CONFLICT (material) DO UPDATE SET available_at = excluded.available_at, orders = excluded.orders, "
        "updated = excluded.updated",
        (material, available_at, json.dumps(order_ids), now),
    )


def materials(st: AggregatorStore) -> list[tuple[str, float | None, list[str]]]:
    return [
        (m, a, json.loads(o))
        for m, a, o in st.query("SELECT material, available_at, orders FROM plan_materials ORDER BY material")
    ]


# ----------------------------------------------------------------------------- what the lines say


def deviations(st: AggregatorStore, *, unhandled: bool = False, limit: int = 50) -> list[dict[str, Any]]:
    rows = st.query(
        "SELECT line, seq, ts, kind, plan_id, planned, chosen, reason, message, handled FROM plan_deviations"
        + (" WHERE handled = 0" if unhandled else "")
        + " ORDER BY ts DESC LIMIT ?",
        (limit,),
    )
    cols = ("line", "seq", "ts", "kind", "plan_id", "planned", "chosen", "reason", "message", "handled")
    return [dict(zip(cols, r, strict=True)) for r in rows]


def mark_deviations(st: AggregatorStore, keys: list[tuple[str, int]]) -> None:
    st.db.executemany("UPDATE plan_deviations SET handled = 1 WHERE line = ? AND seq = ?", keys)


def line_states(st: AggregatorStore) -> dict[str, dict[str, Any]]:
    """Each line's latest status: online, state, running order."""
    return {
        r[0]: {"online": bool(r[1]), "state": r[2], "order": r[3], "ts": r[4]}
        for r in st.query("SELECT line, online, state, order_id, ts FROM line_status")
    }


def open_downtime(st: AggregatorStore) -> list[tuple[str, str, float, str]]:
    """(line, event id, start, state) of downtime events still open, oldest first."""
    return [
        (ln, ev, float(start), state)
        for ln, ev, start, state in st.query(
            "SELECT line, event_id, start_ts, state FROM downtime WHERE end_ts IS NULL ORDER BY start_ts"
        )
    ]
