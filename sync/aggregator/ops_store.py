"""SQL of the aggregator's operations (``sync.aggregator.ops``): retention by age and
the figures the Prometheus endpoint exports."""

from __future__ import annotations

import os
from typing import Any

from sync.aggregator.config import AGED
from sync.aggregator.store import AggregatorStore

__all__ = ["AGED", "db_bytes", "metrics", "prune_erp_sent", "prune_records", "prune_table"]


def prune_records(store: AggregatorStore, cutoff: float, *, samples: bool, chunk: int = 5000) -> int:
    """Delete raw records received before ``cutoff`` that are acknowledged (at or below
    their stream's contiguous point: a redelivery of them is recognised by the progress,
    not by the record), of the ``samples`` stream or of every other one; in chunks, one
    transaction each, so that the ingest is never held up for long."""
    op = "=" if samples else "<>"
    total = 0
    while True:
        with store.tx():
            cur = store._exec(
                "DELETE FROM records WHERE (line, stream, incarnation, seq) IN ("
                "SELECT r.line, r.stream, r.incarnation, r.seq FROM records r JOIN progress p "
                "ON p.line = r.line AND p.stream = r.stream AND p.incarnation = r.incarnation "
                f"WHERE r.stream {op} 'samples' AND r.received < ? AND r.seq <= p.contiguous LIMIT ?)",
                (cutoff, chunk),
            )
            n = int(cur.rowcount or 0)
        total += n
        if n < chunk:
            return total


def prune_table(store: AggregatorStore, table: str, cutoff: float) -> int:
    column = AGED[table]
    with store.tx():
        cur = store._exec(f"DELETE FROM {table} WHERE {column} < ?", (cutoff,))
        return int(cur.rowcount or 0)


def prune_erp_sent(store: AggregatorStore, cutoff: float) -> int:
    """Confirmations the ERP acknowledged before ``cutoff`` (pending ones stay)."""
    with store.tx():
        cur = store._exec("DELETE FROM erp_outbox WHERE state = 'sent' AND sent_at < ?", (cutoff,))
        return int(cur.rowcount or 0)


def metrics(store: AggregatorStore) -> dict[str, Any]:
    """Dead letters by kind, per line its status and when its ingest last advanced, the
    records held, pending ERP confirmations and the store's size."""
    dead = {str(k): int(n) for k, n in store.query("SELECT kind, count(*) FROM dead_letters GROUP BY kind")}
    status = {
        str(line): (bool(online), int(backlog or 0), last_data)
        for line, online, backlog, last_data in store.query(
            "SELECT line, online, backlog, last_data FROM line_status"
        )
    }
    ingest = {
        str(line): float(t)
        for line, t in store.query("SELECT line, max(updated) FROM progress GROUP BY line")
    }
    erp = store.query("SELECT count(*) FROM erp_outbox WHERE state = 'pending'")[0][0]
    return {
        "dead_letters": dead,
        "status": status,
        "last_ingest": ingest,
        "erp_pending": int(erp),
        "db_bytes": db_bytes(store),
    }


def db_bytes(store: AggregatorStore) -> int:
    if store.dialect == "postgres":
        return int(store.query("SELECT pg_database_size(current_database())")[0][0])
    path = str(store.target)
    return sum(os.path.getsize(p) for p in (path, path + "-wal") if os.path.exists(p))
