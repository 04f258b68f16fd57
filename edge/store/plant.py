"""Repository of what the plant sends down: commands (by id, with their result), the
dispatch list of released work orders, and master data (reason tree, products) that
replaces the config file's.

Functions take an open :class:`~edge.store.db.Store`; writers do not open a transaction
themselves, the caller groups them with the audit entry in ``store.transaction()``.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from edge.store.db import Store

# ----------------------------------------------------------------------------- commands


def command_result(store: Store, command_id: str) -> tuple[bool, str] | None:
    """(accepted, reason) stored for a command id, or None if it was never applied."""
    row = store.db.execute("SELECT accepted, reason FROM commands WHERE id = ?", (command_id,)).fetchone()
    return (bool(row[0]), str(row[1])) if row else None


def add_command(
    store: Store,
    command_id: str,
    kind: str,
    *,
    issued_at: float | None,
    body: dict[str, Any],
    accepted: bool,
    reason: str,
    received: float,
) -> None:
    store.db.execute(
        "INSERT INTO commands (id, kind, issued_at, received, body, accepted, reason) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (command_id, kind, issued_at, received, json.dumps(body), int(accepted), reason),
    )


# ----------------------------------------------------------------------------- work orders


def work_order_status(store: Store, order: str) -> str | None:
    """'released' or 'cancelled'; None when the order is not on the dispatch list."""
    row = store.db.execute("SELECT status FROM work_orders WHERE order_id = ?", (order,)).fetchone()
    return str(row[0]) if row else None


def released_work_order(store: Store, order: str) -> tuple[str, int | None, float | None] | None:
    """(product, quantity, due) of a released work order."""
    row = store.db.execute(
        "SELECT product, quantity, due FROM work_orders WHERE order_id = ? AND status = 'released'", (order,)
    ).fetchone()
    return (row[0], row[1], row[2]) if row else None


def release_work_order(
    store: Store,
    order: str,
    *,
    product: str,
    quantity: int | None,
    due: float | None,
    priority: int,
    description: str,
    command_id: str,
    ts: float,
) -> None:
    """Put a work order on the dispatch list, or update it (released again if cancelled)."""
    store.db.execute(
        "INSERT INTO work_orders (order_id, product, quantity, due, priority, description, status, command_id, updated) "
        "VALUES (?, ?, ?, ?, ?, ?, 'released', ?, ?) ON CONFLICT(order_id) DO UPDATE SET product = excluded.product, "
        "quantity = excluded.quantity, due = excluded.due, priority = excluded.priority, "
        "description = excluded.description, status = 'released', command_id = excluded.command_id, updated = excluded.updated",
        (order, product, quantity, due, priority, description, command_id, ts),
    )


def cancel_work_order(store: Store, order: str, *, command_id: str, ts: float) -> None:
    store.db.execute(
        "UPDATE work_orders SET status = 'cancelled', command_id = ?, updated = ? WHERE order_id = ?",
        (command_id, ts, order),
    )


def work_orders(store: Store) -> list[dict[str, Any]]:
    """The dispatch list by priority and due date, each with the line's last order fact
    about it (``last_action``: None before the line started it)."""
    cols = (
        "order_id",
        "product",
        "quantity",
        "due",
        "priority",
        "description",
        "status",
        "updated",
        "last_action",
    )
    return [
        dict(zip(cols, r, strict=True))
        for r in store.db.execute(
            "SELECT w.order_id, w.product, w.quantity, w.due, w.priority, w.description, w.status, w.updated, "
            "(SELECT action FROM orders o WHERE o.order_id = w.order_id ORDER BY seq DESC LIMIT 1) "
            "FROM work_orders w ORDER BY w.priority DESC, coalesce(w.due, 1e18), w.order_id"
        )
    ]


# ----------------------------------------------------------------------------- master data


def master_data(store: Store) -> dict[str, Any]:
    """Master data sent down by the plant, by kind (``reasons``, ``products``): decoded JSON."""
    try:
        rows = store.db.execute("SELECT kind, body FROM master_data").fetchall()
    except sqlite3.OperationalError:  # a read-only store from before commands existed
        return {}
    return {kind: json.loads(body) for kind, body in rows}


def master_version(store: Store) -> tuple[tuple[str, str], ...]:
    """Which commands set the master data in force: changes whenever the plant sends new."""
    try:
        rows = store.db.execute("SELECT kind, command_id FROM master_data ORDER BY kind").fetchall()
    except sqlite3.OperationalError:
        return ()
    return tuple((str(k), str(c)) for k, c in rows)


def set_master_data(store: Store, kind: str, data: Any, *, command_id: str, ts: float) -> None:
    store.db.execute(
        "INSERT INTO master_data (kind, body, command_id, updated) VALUES (?, ?, ?, ?) "
        "ON CONFLICT(kind) DO UPDATE SET body = excluded.body, command_id = excluded.command_id, updated = excluded.updated",
        (kind, json.dumps(data), command_id, ts),
    )


# ----------------------------------------------------------------------------- the plan


def set_plan(store: Store, plan_id: str, entries: list[dict[str, Any]], *, ts: float) -> None:
    """Replace the line's plan with ``entries`` (in sequence)."""
    store.db.execute("DELETE FROM line_plan")
    store.db.executemany(
        "INSERT INTO line_plan (position, plan_id, order_id, product, planned_start, planned_end, setup_min, "
        "crew, tools, materials, received) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            (
                i,
                plan_id,
                e["order_id"],
                e["product"],
                e["start"],
                e["end"],
                e.get("setup_min", 0.0),
                json.dumps(e.get("crew", [])),
                json.dumps(e.get("tools", [])),
                json.dumps(e.get("materials", [])),
                ts,
            )
            for i, e in enumerate(entries)
        ],
    )


def line_plan(store: Store) -> list[dict[str, Any]]:
    """The plan in sequence: position, plan id, order, product, planned start and end,
    setup, crew, tools, materials. Empty before the plant released one."""
    try:
        rows = store.db.execute(
            "SELECT position, plan_id, order_id, product, planned_start, planned_end, setup_min, crew, tools, "
            "materials FROM line_plan ORDER BY position"
        ).fetchall()
    except sqlite3.OperationalError:  # a read-only store from before plans existed
        return []
    cols = ("position", "plan_id", "order_id", "product", "planned_start", "planned_end", "setup_min")
    return [
        dict(zip(cols, r[:7], strict=True))
        | {"crew": json.loads(r[7]), "tools": json.loads(r[8]), "materials": json.loads(r[9])}
        for r in rows
    ]


def order_starts(store: Store) -> dict[str, tuple[float, float | None]]:
    """Order → (first start, completion) as the line recorded them."""
    return {
        o: (float(a), b)
        for o, a, b in store.db.execute(
            "SELECT order_id, min(CASE WHEN action = 'start' THEN ts END), "
            "max(CASE WHEN action = 'complete' THEN ts END) FROM orders GROUP BY order_id "
            "HAVING min(CASE WHEN action = 'start' THEN ts END) IS NOT NULL"
        )
    }


def set_block(store: Store, order: str, reason: str, detail: str, *, by: str, ts: float) -> None:
    store.db.execute(
        "INSERT INTO order_blocks (order_id, reason, detail, by, ts) VALUES (?, ?, ?, ?, ?) "
        "ON CONFLICT(order_id) DO UPDATE SET reason = excluded.reason, detail = excluded.detail, by = excluded.by, "
        "ts = excluded.ts",
        (order, reason, detail, by, ts),
    )


def clear_block(store: Store, order: str) -> bool:
    return bool(store.db.execute("DELETE FROM order_blocks WHERE order_id = ?", (order,)).rowcount)


def blocks(store: Store) -> dict[str, tuple[str, str]]:
    """Order → (reason, detail) of orders that cannot start now."""
    try:
        rows = store.db.execute("SELECT order_id, reason, detail FROM order_blocks").fetchall()
    except sqlite3.OperationalError:
        return {}
    return {o: (r, d) for o, r, d in rows}


def decided(store: Store, plan_id: str, planned: str, kind: str) -> bool:
    return bool(
        store.db.execute(
            "SELECT 1 FROM plan_decisions WHERE plan_id = ? AND planned = ? AND kind = ?",
            (plan_id, planned, kind),
        ).fetchone()
    )


def add_decision(store: Store, plan_id: str, planned: str, kind: str, chosen: str, *, ts: float) -> None:
    store.db.execute(
        "INSERT INTO plan_decisions (plan_id, planned, kind, chosen, ts) VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
        (plan_id, planned, kind, chosen, ts),
    )
