"""Repository of maintenance: requests raised at the line (machine, priority, what is
wrong, who). Writers do not open a transaction themselves; the caller groups them with
the audit entry in ``store.transaction()``."""

from __future__ import annotations

from typing import Any

from edge.store.db import Store


def add_request(store: Store, machine: str, *, priority: str, text: str, by: str, ts: float) -> int:
    cur = store.db.execute(
        "INSERT INTO maintenance_requests (ts, machine, priority, text, by) VALUES (?, ?, ?, ?, ?)",
        (ts, machine, priority, text, by),
    )
    return int(cur.lastrowid or 0)


def recent_requests(store: Store, limit: int = 20) -> list[dict[str, Any]]:
    """The latest maintenance requests, newest first."""
    return [
        {"ts": ts, "machine": m, "priority": p, "text": t, "by": by}
        for ts, m, p, t, by in store.db.execute(
            "SELECT ts, machine, priority, text, by FROM maintenance_requests ORDER BY seq DESC LIMIT ?",
            (limit,),
        )
    ]
