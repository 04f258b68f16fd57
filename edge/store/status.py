"""Repository of the line's live status: when data last arrived and how far each stream
has been read. Device and agent status and current values are the store's own methods
(``Store.device_status``, ``Store.agent_status``, ``Store.current_values``), written by
the agent."""

from __future__ import annotations

from edge.store.db import Store


def last_data(store: Store) -> float | None:
    """When the agent last committed a sample (receive time)."""
    ts = store.db.execute("SELECT max(ts_recv) FROM current_values").fetchone()[0]
    return float(ts) if ts is not None else None


def last_seqs(store: Store, streams: tuple[str, ...]) -> tuple[int, ...]:
    """The last sequence issued in each stream: a cheap key that changes with every new row."""
    return tuple(store.last_seq(s) for s in streams)
