"""SQL of the ERP confirmations (``sync.aggregator.erp``): completed orders not yet
confirmed, what each did (from the tables the projections keep), and the outbox."""

from __future__ import annotations

import json
from typing import Any

from sync.aggregator.store import AggregatorStore


def unconfirmed_orders(store: AggregatorStore) -> list[tuple[str, str, str | None, float, float]]:
    """(line, order, product, first, last) of every completed order without a confirmation."""
    rows = store.query(
        "SELECT r.line, r.order_id, r.product, r.first_ts, r.last_ts FROM order_runs r "
        "WHERE r.last_action = 'complete' AND NOT EXISTS "
        "(SELECT 1 FROM erp_outbox o WHERE o.line = r.line AND o.order_id = r.order_id AND o.kind = 'order') "
        "ORDER BY r.last_ts"
    )
    return [(str(a), str(b), c, float(d), float(e)) for a, b, c, d, e in rows]


def order_facts(store: AggregatorStore, line: str, order_id: str) -> dict[str, Any]:
    """Counts by machine and scrap reason, lots consumed and produced, and the state
    changes of the machines that counted for the order (for run and down time)."""
    counts = store.query(
        "SELECT machine, coalesce(scrap_reason, ''), sum(good), sum(scrap) FROM counts "
        "WHERE line = ? AND order_id = ? GROUP BY machine, coalesce(scrap_reason, '')",
        (line, order_id),
    )
    consumed = store.query(
        "SELECT material, lot, sum(quantity) FROM lot_moves WHERE line = ? AND order_id = ? "
        "AND kind IN ('backflush', 'issue') GROUP BY material, lot ORDER BY material, lot",
        (line, order_id),
    )
    produced = store.query(
        "SELECT lot, kind, coalesce(sum(quantity), 0) FROM produced_lots WHERE line = ? AND order_id = ? "
        "GROUP BY lot, kind ORDER BY lot",
        (line, order_id),
    )
    return {"counts": counts, "consumed": consumed, "produced": produced}


def state_changes(store: AggregatorStore, line: str, machine: str, until: float) -> list[tuple[float, str]]:
    """(ts, new state) of ``machine`` up to ``until``, oldest first."""
    rows = store.query(
        "SELECT ts, new FROM state_changes WHERE line = ? AND machine = ? AND ts <= ? ORDER BY ts",
        (line, machine, until),
    )
    return [(float(t), str(s)) for t, s in rows]


def add(store: AggregatorStore, rows: list[tuple[str, str, str, str, dict[str, Any]]], now: float) -> None:
    """Queue (id, line, order, kind, body) confirmations; an id already there is kept."""
    with store.tx():
        for cid, line, order_id, kind, body in rows:
            store._exec(
                "INSERT INTO erp_outbox (id, line, order_id, kind, body, created, next_try) "
                "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                (cid, line, order_id, kind, json.dumps(body, sort_keys=True), now, now),
            )


def due(store: AggregatorStore, now: float, limit: int = 50) -> list[tuple[str, dict[str, Any], int]]:
    """(id, body, attempts) of pending confirmations in the order queued, up to the
    first whose next try is not yet due (the ERP gets them in order)."""
    rows = store.query(
        "SELECT id, body, attempts, next_try FROM erp_outbox WHERE state = 'pending' "
        "ORDER BY created, id LIMIT ?",
        (limit,),
    )
    out = []
    for i, b, a, t in rows:
        if float(t) > now:
            break
        out.append((str(i), json.loads(b), int(a)))
    return out


def mark_sent(store: AggregatorStore, cid: str, now: float) -> None:
    with store.tx():
        store._exec(
            "UPDATE erp_outbox SET state = 'sent', sent_at = ?, attempts = attempts + 1, last_error = '' "
            "WHERE id = ?",
            (now, cid),
        )


def mark_failed(store: AggregatorStore, cid: str, next_try: float, error: str) -> None:
    with store.tx():
        store._exec(
            "UPDATE erp_outbox SET attempts = attempts + 1, next_try = ?, last_error = ? WHERE id = ?",
            (next_try, error[:500], cid),
        )


def outbox(store: AggregatorStore, limit: int = 200) -> list[dict[str, Any]]:
    """The newest confirmations and their state."""
    rows = store.query(
        "SELECT id, line, order_id, kind, state, attempts, created, sent_at, last_error, body FROM erp_outbox "
        "ORDER BY created DESC, id LIMIT ?",
        (limit,),
    )
    keys = ("id", "line", "order_id", "kind", "state", "attempts", "created", "sent_at", "last_error", "body")
    return [dict(zip(keys, r, strict=True)) | {"body": json.loads(r[9])} for r in rows]


def pending_count(store: AggregatorStore) -> int:
    return int(store.query("SELECT count(*) FROM erp_outbox WHERE state = 'pending'")[0][0])
