"""SQL of the ERP confirmations (``sync.aggregator.erp``): completed orders not yet
confirmed, what each order or period did (from the tables the projections keep), how
far the plant holds each line's data, and the outbox."""

from __future__ import annotations

import json
from typing import Any

from sync.aggregator.store import AggregatorStore


def unconfirmed_orders(
    store: AggregatorStore, completed_after: float | None = None
) -> list[tuple[str, str, str | None, float, float]]:
    """(line, order, product, first, last) of every completed order without a
    confirmation (completed after ``completed_after``: older ones' confirmations may
    have been pruned once sent, and must not be queued again)."""
    rows = store.query(
        "SELECT r.line, r.order_id, r.product, r.first_ts, r.last_ts FROM order_runs r "
        "WHERE r.last_action = 'complete' AND r.last_ts >= ? AND NOT EXISTS "
        "(SELECT 1 FROM erp_outbox o WHERE o.line = r.line AND o.order_id = r.order_id AND o.kind = 'order') "
        "ORDER BY r.last_ts",
        (completed_after if completed_after is not None else -1e18,),
    )
    return [(str(a), str(b), c, float(d), float(e)) for a, b, c, d, e in rows]


def order_facts(store: AggregatorStore, line: str, order_id: str) -> dict[str, Any]:
    """Counts by machine and scrap reason, lots consumed and produced of one order."""
    return facts(store, line, order_id=order_id)


def facts(
    store: AggregatorStore,
    line: str,
    *,
    order_id: str | None = None,
    start: float | None = None,
    end: float | None = None,
) -> dict[str, Any]:
    """Counts by machine and scrap reason, lots consumed and produced — of one order,
    of the records with ``start <= ts < end``, or both."""
    where, params = "line = ?", list[Any]([line])
    if order_id is not None:
        where += " AND order_id = ?"
        params.append(order_id)
    if start is not None and end is not None:
        where += " AND ts >= ? AND ts < ?"
        params += [start, end]
    counts = store.query(
        "SELECT machine, coalesce(scrap_reason, ''), sum(good), sum(scrap) FROM counts "
        f"WHERE {where} GROUP BY machine, coalesce(scrap_reason, '')",
        params,
    )
    consumed = store.query(
        f"SELECT material, lot, sum(quantity) FROM lot_moves WHERE {where} "
        "AND kind IN ('backflush', 'issue') GROUP BY material, lot ORDER BY material, lot",
        params,
    )
    produced = store.query(
        f"SELECT lot, kind, coalesce(sum(quantity), 0) FROM produced_lots WHERE {where} "
        "GROUP BY lot, kind ORDER BY lot",
        params,
    )
    return {"counts": counts, "consumed": consumed, "produced": produced}


def good_by_machine(store: AggregatorStore, line: str, order_id: str, until: float) -> dict[str, int]:
    """Good parts per machine of an order, counted before ``until``."""
    rows = store.query(
        "SELECT machine, sum(good) FROM counts WHERE line = ? AND order_id = ? AND ts < ? GROUP BY machine",
        (line, order_id, until),
    )
    return {str(m): int(g or 0) for m, g in rows}


def active_orders(
    store: AggregatorStore, line: str, start: float, end: float
) -> list[tuple[str, str | None, float | None, float | None, bool]]:
    """(order, product, first, last, completed) of the orders active on ``line`` in
    [start, end): with counts in it; or begun before its end and completed in it or
    later; or, not completed, acted on (started, paused, resumed) in it or, unless
    paused, the order the line acted on last (an order paused, or left for another,
    and never completed is not active for ever).
    first/last are None for an order the line counted for but never reported."""
    rows = store.query(
        "SELECT order_id, product, first_ts, last_ts, last_action FROM order_runs WHERE line = ? "
        "AND first_ts < ? AND (last_action <> 'complete' OR last_ts >= ?) ORDER BY first_ts, order_id",
        (line, end, start),
    )
    latest = store.query("SELECT max(last_ts) FROM order_runs WHERE line = ? AND first_ts < ?", (line, end))
    last_acted = latest[0][0] if latest else None
    out: dict[str, tuple[str, str | None, float | None, float | None, bool]] = {
        str(o): (str(o), p, float(f), float(la), a == "complete")
        for o, p, f, la, a in rows
        if a == "complete" or la >= start or (la == last_acted and a != "pause")
    }
    for (o,) in store.query(
        "SELECT DISTINCT order_id FROM counts WHERE line = ? AND ts >= ? AND ts < ? AND order_id IS NOT NULL",
        (line, start, end),
    ):
        if str(o) not in out:
            known = store.query(
                "SELECT product, first_ts, last_ts, last_action FROM order_runs WHERE line = ? AND order_id = ?",
                (line, o),
            )
            if known:
                p, f, la, a = known[0]
                out[str(o)] = (str(o), p, float(f), float(la), a == "complete")
            else:
                out[str(o)] = (str(o), None, None, None, False)
    return sorted(out.values(), key=lambda r: (r[2] if r[2] is not None else start, r[0]))


def stream_heads(store: AggregatorStore, line: str) -> list[tuple[str, float | None]]:
    """(stream, ts) of the last record the plant holds with nothing missing before it
    (the contiguous point), per stream of the line's current store incarnation; ts None
    when that record has no time or is no longer kept."""
    inc = store.latest_incarnation(line)
    out: list[tuple[str, float | None]] = []
    for stream, contiguous in store.query(
        "SELECT stream, contiguous FROM progress WHERE line = ? AND incarnation = ? ORDER BY stream",
        (line, inc),
    ):
        rows = store.query(
            "SELECT data FROM records WHERE line = ? AND stream = ? AND incarnation = ? AND seq <= ? "
            "ORDER BY seq DESC LIMIT 1",
            (line, stream, inc, contiguous),
        )
        ts = None
        if rows:
            rec = json.loads(rows[0][0])
            # A record without its own time (a downtime version) was recorded no earlier
            # than its end, or its start while open.
            t = next((rec[k] for k in ("ts", "end", "start") if isinstance(rec.get(k), (int, float))), None)
            ts = float(t) if t is not None else None
        out.append((str(stream), ts))
    return out


def line_status(store: AggregatorStore, line: str) -> tuple[bool, float, int] | None:
    """(online, ts, backlog) of the line's last status, if any."""
    rows = store.query("SELECT online, ts, backlog FROM line_status WHERE line = ?", (line,))
    return (bool(rows[0][0]), float(rows[0][1]), int(rows[0][2])) if rows else None


def coverage(store: AggregatorStore, line: str) -> float | None:
    rows = store.query("SELECT covered_to FROM erp_coverage WHERE line = ?", (line,))
    return float(rows[0][0]) if rows else None


def set_coverage(store: AggregatorStore, line: str, covered_to: float, now: float) -> None:
    """Raise the line's coverage to ``covered_to`` (it never goes back)."""
    with store.tx():
        store._exec(
            "INSERT INTO erp_coverage (line, covered_to, updated) VALUES (?, ?, ?) ON CONFLICT (line) DO UPDATE "
            "SET covered_to = excluded.covered_to, updated = excluded.updated "
            "WHERE excluded.covered_to > erp_coverage.covered_to",
            (line, covered_to, now),
        )


def period_cursor(store: AggregatorStore, line: str, kind: str, start_at: float, now: float) -> float:
    """How far the line's periods of ``kind`` are queued (the next ends after it);
    ``start_at`` the first time it is asked."""
    rows = store.query("SELECT after_ts FROM erp_periods WHERE line = ? AND kind = ?", (line, kind))
    if rows:
        return float(rows[0][0])
    with store.tx():
        store._exec(
            "INSERT INTO erp_periods (line, kind, after_ts, updated) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
            (line, kind, start_at, now),
        )
    return float(
        store.query("SELECT after_ts FROM erp_periods WHERE line = ? AND kind = ?", (line, kind))[0][0]
    )


def state_changes(store: AggregatorStore, line: str, machine: str, until: float) -> list[tuple[float, str]]:
    """(ts, new state) of ``machine`` up to ``until``, oldest first."""
    rows = store.query(
        "SELECT ts, new FROM state_changes WHERE line = ? AND machine = ? AND ts <= ? ORDER BY ts",
        (line, machine, until),
    )
    return [(float(t), str(s)) for t, s in rows]


def add(
    store: AggregatorStore,
    rows: list[tuple[str, str, str, str, dict[str, Any]]],
    now: float,
    *,
    period: tuple[str, str, float] | None = None,
) -> None:
    """Queue (id, line, order, kind, body) confirmations; an id already there is kept.
    With ``period`` (line, kind, end), the rows are one period's, and that line's
    periods of the kind are marked queued up to its end in the same transaction."""
    with store.tx():
        for cid, line, order_id, kind, body in rows:
            store._exec(
                "INSERT INTO erp_outbox (id, line, order_id, kind, body, created, next_try, period) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                (
                    cid,
                    line,
                    order_id,
                    kind,
                    json.dumps(body, sort_keys=True),
                    now,
                    now,
                    body.get("period", ""),
                ),
            )
        if period is not None:
            store._exec(
                "UPDATE erp_periods SET after_ts = ?, updated = ? WHERE line = ? AND kind = ? AND after_ts < ?",
                (period[2], now, period[0], period[1], period[2]),
            )


#: The PostgreSQL advisory lock (two int4 keys, "LS" "ER") held by the one instance that
#: sends ERP confirmations.
SENDER_LOCK = (0x4C53, 0x4552)


def hold_sender(store: AggregatorStore) -> bool:
    """Whether this instance is the one that sends confirmations: on PostgreSQL the one
    holding a session-level advisory lock, taken here when free. The lock goes with its
    connection, so when that instance dies (or loses its connection) another takes over
    at its next step. A SQLite store has one aggregator process."""
    if store.dialect != "postgres":
        return True
    held = store.query(
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted "
        "AND pid = pg_backend_pid() AND classid::bigint = ? AND objid::bigint = ? AND objsubid = 2",
        SENDER_LOCK,
    )
    if held and int(held[0][0]) > 0:
        return True
    (got,) = store.query("SELECT pg_try_advisory_lock(?, ?)", SENDER_LOCK)[0]
    return bool(got)


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
        "SELECT id, line, order_id, kind, period, state, attempts, created, sent_at, last_error, body "
        "FROM erp_outbox ORDER BY created DESC, id LIMIT ?",
        (limit,),
    )
    keys = (
        "id",
        "line",
        "order_id",
        "kind",
        "period",
        "state",
        "attempts",
        "created",
        "sent_at",
        "last_error",
    )
    return [dict(zip(keys, r[:10], strict=True)) | {"body": json.loads(r[10])} for r in rows]


def pending_count(store: AggregatorStore) -> int:
    return int(store.query("SELECT count(*) FROM erp_outbox WHERE state = 'pending'")[0][0])
