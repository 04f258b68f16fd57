"""The edge's single source of truth: SQLite in WAL mode, append-only streams plus current state."""

from edge.store.db import STREAMS, Quality, Sample, Store

__all__ = ["STREAMS", "Quality", "Sample", "Store"]
