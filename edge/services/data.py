"""What the line has recorded, for people and support: a tag's history, how many records
each stream holds, what waits to go up."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from edge.store import STREAMS, Store
from edge.store import materials as materials_repo
from edge.store import production as production_repo

__all__ = ["STREAMS", "backlog", "history", "stream_counts", "summary"]


def history(
    store: Store, tag: str, since: float | None = None, until: float | None = None, limit: int | None = None
) -> Iterator[dict[str, Any]]:
    """Recorded samples of one tag, by time."""
    return store.history(tag, since, until, limit)


def stream_counts(store: Store, streams: tuple[str, ...] = STREAMS) -> dict[str, int]:
    """Rows each stream holds now."""
    with store.snapshot():
        return {s: store.count(s) for s in streams}


def backlog(store: Store) -> dict[str, int]:
    """Records per stream not yet acknowledged by the aggregator."""
    with store.snapshot():
        return store.backlog()


def summary(store: Store) -> dict[str, Any]:
    """What moved on the line: samples, events, state changes, downtime events, SPC points
    and alarms, work orders started, material consumed and lots produced, records not yet
    acknowledged upstream."""
    with store.snapshot():
        return {
            "samples": store.count("samples"),
            "events": store.count("events"),
            "state_changes": store.count("state_changes"),
            "downtime_events": production_repo.count_downtime_events(store),
            "spc_points": store.count("spc_points"),
            "spc_alarms": store.count("spc_alarms"),
            "orders_applied": production_repo.count_order_starts(store),
            "backlog": sum(store.backlog().values()),
        } | materials_repo.totals(store)
