"""Work-order numbers and steps as rows, and the orders the line logic raises (a plan
came due, a stop grew long) — kept apart from ``edge.store.maintenance`` because the
transaction that stores line-logic facts (``edge.store.facts``) writes them, and that
module must not depend on the store class."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from typing import Any

from edge.logic.maintenance.engine import CorrectiveDue, OrderDue

#: Who the line's own records are by.
LINE = "line"


def new_order(db: sqlite3.Connection, ts: float, key: str | None = None) -> str | None:
    """A new order number (``WO-<n>``); None when ``key`` was raised already."""
    cur = db.execute("INSERT OR IGNORE INTO maint_orders (key, ts) VALUES (?, ?)", (key, ts))
    if cur.rowcount == 0:
        return None
    return f"WO-{cur.lastrowid}"


def add_event(db: sqlite3.Connection, ts: float, wo: str, kind: str, data: dict[str, Any], by: str) -> int:
    cur = db.execute(
        "INSERT INTO maint_events (ts, wo, kind, data, by) VALUES (?, ?, ?, ?, ?)",
        (ts, wo, kind, json.dumps(data, sort_keys=True), by),
    )
    return int(cur.lastrowid or 0)


def insert_fact(
    db: sqlite3.Connection, f: OrderDue | CorrectiveDue, audit: Callable[..., int] | None
) -> None:
    """Raise the work order of a plan's due point or of a long stop (once per due point)."""
    if isinstance(f, OrderDue):
        d, t = f.due, f.template
        wo = new_order(db, d.ts, d.key)
        if wo is None:
            return
        data: dict[str, Any] = {
            "type": d.kind,
            "asset": d.asset,
            "title": t.title,
            "state": "approved",
            "plan": d.plan,
            "trigger": d.trigger,
            "detail": d.detail,
            "due": d.ts,
            "estimate_h": t.estimate_h,
            "parts": dict(t.parts),
            "reason": t.reason,
            "tolerance_s": t.tolerance_s,
            "missed_s": t.missed_s,
            "priority": "urgent" if d.kind == "condition" else "normal",
        }
        if d.meter is not None:
            data["meter"] = d.meter
        entity, action = wo, "maintenance.plan_due"
    else:
        wo = new_order(db, f.ts, f.key)
        if wo is None:
            return
        data = {
            "type": "corrective",
            "asset": f.machine,
            "title": f"{f.machine} down for more than {max(1.0, (f.ts - f.start) / 60):.0f} min"
            + (f" ({f.reason})" if f.reason else ""),
            "state": "requested",
            "stop_event": f.event_id,
            "failure_start": f.start,
            "reason": f.reason,
            "priority": "urgent",
        }
        entity, action = wo, "maintenance.auto_corrective"
    add_event(db, f.ts, wo, "created", data, LINE)
    if audit is not None:
        audit(who=LINE, action=action, entity=entity, new=data, meaning="performed", ts=f.ts)
