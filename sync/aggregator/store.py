"""Aggregator storage (SQLite backend): idempotent ingest of batches, the end-to-end ack
per (line, stream), and a dead-letter table for payloads that could not be used.

Records are unique on (line, stream, seq), so a batch sent twice (an agent restarted
before the broker's PUBACK, a broker redelivery) changes nothing the second time. The
ack is the highest sequence up to which every record has been committed without a gap,
so an edge prunes only what is safely here.
"""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path
from typing import Any

from sync.protocol import Batch

SCHEMA = """
CREATE TABLE IF NOT EXISTS records (
    line TEXT NOT NULL,
    stream TEXT NOT NULL,
    seq INTEGER NOT NULL,
    received REAL NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (line, stream, seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS progress (
    line TEXT NOT NULL,
    stream TEXT NOT NULL,
    contiguous INTEGER NOT NULL DEFAULT 0,
    highest INTEGER NOT NULL DEFAULT 0,
    updated REAL NOT NULL,
    PRIMARY KEY (line, stream)
);
CREATE TABLE IF NOT EXISTS dead_letters (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    received REAL NOT NULL,
    topic TEXT NOT NULL,
    kind TEXT NOT NULL,
    error TEXT NOT NULL,
    payload BLOB
);
"""


def line_key(b: Batch) -> str:
    return f"{b.line.enterprise}/{b.line.site}/{b.line.area}/{b.line.line}"


class AggregatorStore:
    def __init__(self, path: str | Path) -> None:
        self.db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript(SCHEMA)

    def close(self) -> None:
        self.db.close()

    def ingest(self, batch: Batch, *, now: float | None = None) -> int:
        """Commit a batch idempotently; returns the new ack (contiguous sequence)."""
        now = now if now is not None else time.time()
        line = line_key(batch)
        rows = [
            (line, batch.stream, r["seq"], now, json.dumps(r, separators=(",", ":"))) for r in batch.records
        ]
        self.db.execute("BEGIN IMMEDIATE")
        try:
            self.db.executemany(
                "INSERT OR IGNORE INTO records (line, stream, seq, received, data) VALUES (?, ?, ?, ?, ?)",
                rows,
            )
            ack = self._advance(line, batch.stream, batch.last_seq, now)
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        return ack

    def _advance(self, line: str, stream: str, last_seq: int, now: float) -> int:
        row = self.db.execute(
            "SELECT contiguous, highest FROM progress WHERE line = ? AND stream = ?", (line, stream)
        ).fetchone()
        contiguous, highest = row if row else (0, 0)
        highest = max(highest, last_seq)
        if highest > contiguous:
            # Walk forward from the contiguous point while the next sequence is present.
            nxt = self.db.execute(
                "SELECT seq FROM records WHERE line = ? AND stream = ? AND seq > ? ORDER BY seq",
                (line, stream, contiguous),
            )
            for (seq,) in nxt:
                if seq != contiguous + 1:
                    break
                contiguous = seq
        self.db.execute(
            "INSERT INTO progress (line, stream, contiguous, highest, updated) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT(line, stream) DO UPDATE SET contiguous = excluded.contiguous, highest = excluded.highest, updated = excluded.updated",
            (line, stream, contiguous, highest, now),
        )
        return int(contiguous)

    def ack(self, line: str, stream: str) -> int:
        row = self.db.execute(
            "SELECT contiguous FROM progress WHERE line = ? AND stream = ?", (line, stream)
        ).fetchone()
        return int(row[0]) if row else 0

    def dead_letter(
        self, topic: str, kind: str, error: str, payload: bytes | None, *, now: float | None = None
    ) -> None:
        self.db.execute(
            "INSERT INTO dead_letters (received, topic, kind, error, payload) VALUES (?, ?, ?, ?, ?)",
            (now if now is not None else time.time(), topic, kind, error, payload),
        )

    def dead_letter_counts(self) -> dict[str, int]:
        return {k: n for k, n in self.db.execute("SELECT kind, count(*) FROM dead_letters GROUP BY kind")}

    def records(self, line: str, stream: str) -> list[dict[str, Any]]:
        return [
            json.loads(d)
            for (d,) in self.db.execute(
                "SELECT data FROM records WHERE line = ? AND stream = ? ORDER BY seq", (line, stream)
            )
        ]
