"""The edge's single source of truth: SQLite in WAL mode, append-only streams plus current state.
The only place on the edge that speaks SQL."""

from edge.store.db import STREAMS, Store, StoreLock

__all__ = ["STREAMS", "Store", "StoreLock"]
