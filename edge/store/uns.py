"""Repository of the plant-IT publishers (unified namespace, Sparkplug node): samples
after a sequence with their tag's name, and durable marks (``plant_it_marks``): the
Sparkplug node's cursor into the samples stream and its birth-death sequence, so the
data a host application missed is sent later from here, never from memory."""

from __future__ import annotations

import time
from typing import NamedTuple

from edge.logic.model import Quality
from edge.store.db import Store, decode_value

#: The Sparkplug node's mark: the last sample it handed to the broker (retention waits
#: for it by age).
SPARKPLUG_CURSOR = "sparkplug.cursor"
#: The Sparkplug node's last birth-death sequence.
SPARKPLUG_BD_SEQ = "sparkplug.bd_seq"


class TagSample(NamedTuple):
    seq: int
    tag: str
    ts: float
    value: object
    quality: str
    """``good``, ``bad`` or ``stale``."""


#: Quality code → name (a dict lookup per row, not an enum call).
_LABELS = {int(q): q.label for q in Quality}

_SAMPLES = (
    "SELECT s.seq, t.name, t.type, s.ts, s.value, s.quality FROM samples s JOIN tags t ON t.id = s.tag_id "
    "WHERE s.seq > ? AND s.seq <= ? ORDER BY s.seq LIMIT ?"
)


def samples_after(store: Store, after: int, limit: int, upto: int | None = None) -> list[TagSample]:
    """Up to ``limit`` samples with ``after < seq <= upto``, in sequence order."""
    hi = upto if upto is not None else 2**62
    with store._lock:
        rows = store.db.execute(_SAMPLES, (after, hi, limit)).fetchall()
    labels = _LABELS
    return [
        TagSample(seq, name, ts, decode_value(v, type_), labels.get(q, "bad"))
        for seq, name, type_, ts, v, q in rows
    ]


def last_sample_seq(store: Store) -> int:
    with store._lock:
        return store.last_seq("samples")


def mark(store: Store, name: str) -> int | None:
    with store._lock:
        row = store.db.execute("SELECT value FROM plant_it_marks WHERE name = ?", (name,)).fetchone()
    return int(row[0]) if row else None


def set_marks(store: Store, marks: dict[str, int]) -> None:
    """Make marks durable (one transaction, synced)."""
    now = time.time()
    with store.transaction(sync_full=True):
        for name, value in marks.items():
            store.db.execute(
                "INSERT INTO plant_it_marks (name, value, updated_at) VALUES (?, ?, ?) "
                "ON CONFLICT(name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
                (name, value, now),
            )
