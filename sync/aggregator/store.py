"""Aggregator storage: idempotent ingest of batches, the end-to-end ack per (line,
stream), plant-level tables, the command outbox and dead letters. One schema, two
engines: SQLite (default, a file) and PostgreSQL (psycopg 3, a ``postgresql://`` URL).

Records are unique on (line, stream, seq), so a batch sent twice (an agent restarted
before the broker's PUBACK, a resend after an ack timeout, a broker redelivery) changes
nothing the second time. The ack is the highest sequence up to which every record has
been committed without a gap; batches that arrive ahead of a gap wait as ranges in
``pending`` (in the database, so several aggregator instances sharing a subscription
agree). An edge prunes only what is acknowledged here.
"""

from __future__ import annotations

import json
import re
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sync.protocol import Batch, LineRef, Topics, record_texts

SCHEMA = """
CREATE TABLE IF NOT EXISTS records (
    line TEXT NOT NULL,
    stream TEXT NOT NULL,
    seq BIGINT NOT NULL,
    received DOUBLE PRECISION NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (line, stream, seq)
) {WITHOUT_ROWID};
CREATE TABLE IF NOT EXISTS progress (
    line TEXT NOT NULL,
    stream TEXT NOT NULL,
    contiguous BIGINT NOT NULL DEFAULT 0,
    highest BIGINT NOT NULL DEFAULT 0,
    updated DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (line, stream)
);
CREATE TABLE IF NOT EXISTS pending (
    line TEXT NOT NULL,
    stream TEXT NOT NULL,
    after_seq BIGINT NOT NULL,
    last_seq BIGINT NOT NULL,
    PRIMARY KEY (line, stream, after_seq, last_seq)
);
CREATE TABLE IF NOT EXISTS dead_letters (
    id {SERIAL},
    received DOUBLE PRECISION NOT NULL,
    topic TEXT NOT NULL,
    kind TEXT NOT NULL,
    error TEXT NOT NULL,
    payload {BLOB}
);
CREATE TABLE IF NOT EXISTS line_status (
    line TEXT PRIMARY KEY,
    online INTEGER NOT NULL,
    ts DOUBLE PRECISION NOT NULL,
    agent TEXT NOT NULL DEFAULT '',
    state TEXT,
    order_id TEXT,
    last_data DOUBLE PRECISION,
    backlog BIGINT NOT NULL DEFAULT 0,
    devices TEXT NOT NULL DEFAULT '{}',
    received DOUBLE PRECISION NOT NULL
);
CREATE TABLE IF NOT EXISTS line_state (
    line TEXT NOT NULL,
    name TEXT NOT NULL,
    data TEXT NOT NULL,
    received DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (line, name)
);
CREATE TABLE IF NOT EXISTS shift_kpis (
    line TEXT NOT NULL,
    shift TEXT NOT NULL,
    start_ts DOUBLE PRECISION NOT NULL,
    end_ts DOUBLE PRECISION NOT NULL,
    data TEXT NOT NULL,
    received DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (line, shift)
);
CREATE TABLE IF NOT EXISTS downtime (
    line TEXT NOT NULL,
    event_id TEXT NOT NULL,
    machine TEXT NOT NULL,
    start_ts DOUBLE PRECISION NOT NULL,
    end_ts DOUBLE PRECISION,
    state TEXT NOT NULL,
    auto_reason TEXT,
    micro INTEGER NOT NULL DEFAULT 0,
    seq BIGINT NOT NULL,
    PRIMARY KEY (line, event_id)
);
CREATE TABLE IF NOT EXISTS downtime_reasons (
    line TEXT NOT NULL,
    event_id TEXT NOT NULL,
    reason TEXT,
    comment TEXT NOT NULL DEFAULT '',
    by_who TEXT NOT NULL,
    seq BIGINT NOT NULL,
    PRIMARY KEY (line, event_id)
);
CREATE TABLE IF NOT EXISTS spc_alarms (
    line TEXT NOT NULL,
    seq BIGINT NOT NULL,
    ts DOUBLE PRECISION NOT NULL,
    characteristic TEXT NOT NULL,
    kind TEXT NOT NULL,
    rule TEXT NOT NULL,
    detail TEXT NOT NULL,
    value DOUBLE PRECISION,
    PRIMARY KEY (line, seq)
);
CREATE TABLE IF NOT EXISTS inspections (
    line TEXT NOT NULL,
    seq BIGINT NOT NULL,
    ts DOUBLE PRECISION NOT NULL,
    plan TEXT NOT NULL,
    order_id TEXT,
    passed INTEGER NOT NULL,
    by_who TEXT NOT NULL,
    comment TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (line, seq)
);
CREATE TABLE IF NOT EXISTS commands (
    id TEXT PRIMARY KEY,
    line TEXT NOT NULL,
    kind TEXT NOT NULL,
    body TEXT NOT NULL,
    issued_at DOUBLE PRECISION NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending',
    reason TEXT NOT NULL DEFAULT '',
    sent_count INTEGER NOT NULL DEFAULT 0,
    last_sent DOUBLE PRECISION,
    acked_at DOUBLE PRECISION
);
CREATE INDEX IF NOT EXISTS commands_pending ON commands (state, line);
"""

DIALECTS = {
    "sqlite": {
        "WITHOUT_ROWID": "WITHOUT ROWID",
        "SERIAL": "INTEGER PRIMARY KEY AUTOINCREMENT",
        "BLOB": "BLOB",
    },
    "postgres": {"WITHOUT_ROWID": "", "SERIAL": "BIGSERIAL PRIMARY KEY", "BLOB": "BYTEA"},
}

_PLACEHOLDER = re.compile(r"\?")


def line_key(ref: LineRef) -> str:
    return Topics.of(ref).key


class AggregatorStore:
    """The plant store. ``target`` is a SQLite path or a ``postgresql://`` URL."""

    def __init__(self, target: str | Path) -> None:
        self.target = str(target)
        self._lock = threading.RLock()
        if self.target.startswith(("postgresql://", "postgres://")):
            import psycopg

            self.dialect = "postgres"
            self._pg = psycopg.connect(self.target, autocommit=True)
            self.db: Any = self._pg
        else:
            self.dialect = "sqlite"
            Path(self.target).parent.mkdir(parents=True, exist_ok=True)
            self.db = sqlite3.connect(self.target, isolation_level=None, check_same_thread=False, timeout=30)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
            self.db.execute("PRAGMA busy_timeout=30000")
        ddl = SCHEMA
        for k, v in DIALECTS[self.dialect].items():
            ddl = ddl.replace("{" + k + "}", v)
        with self.tx():
            for stmt in (s.strip() for s in ddl.split(";")):
                if stmt:
                    self._exec(stmt)

    # ------------------------------------------------------------------ plumbing

    def _sql(self, sql: str) -> str:
        return _PLACEHOLDER.sub("%s", sql) if self.dialect == "postgres" else sql

    def _exec(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return self.db.execute(self._sql(sql), params)

    def _many(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        if self.dialect == "postgres":
            with self.db.cursor() as cur:
                cur.executemany(self._sql(sql), list(rows))
        else:
            self.db.executemany(sql, rows)

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            return list(self._exec(sql, params).fetchall())

    @contextmanager
    def tx(self) -> Iterator[None]:
        """One transaction (serialised per process; row locks serialise across processes)."""
        with self._lock:
            if self.dialect == "postgres":
                with self.db.transaction():
                    yield
                return
            self.db.execute("BEGIN IMMEDIATE")
            try:
                yield
            except BaseException:
                self.db.execute("ROLLBACK")
                raise
            self.db.execute("COMMIT")

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        """Inside :meth:`tx`: undo only this part if it fails (one bad message must not
        cost the rest of its group)."""
        if self.dialect == "postgres":
            with self.db.transaction():
                yield
            return
        self.db.execute("SAVEPOINT msg")
        try:
            yield
        except BaseException:
            self.db.execute("ROLLBACK TO msg")
            self.db.execute("RELEASE msg")
            raise
        self.db.execute("RELEASE msg")

    def close(self) -> None:
        with self._lock:
            self.db.close()

    def reset(self) -> None:
        """Empty every table (tests and benchmarks on a shared PostgreSQL database)."""
        with self.tx():
            for t in re.findall(r"CREATE TABLE IF NOT EXISTS (\w+)", SCHEMA):
                self._exec(f"DELETE FROM {t}")

    # ------------------------------------------------------------------ ingest

    def ingest(self, batch: Batch, *, now: float | None = None, max_ahead: int | None = None) -> int:
        """Commit one batch idempotently; returns the stream's new ack."""
        with self.tx():
            return self.ingest_in_tx(batch, now=now if now is not None else time.time(), max_ahead=max_ahead)

    def ingest_in_tx(
        self, batch: Batch, *, now: float, max_ahead: int | None = None, texts: list[str] | None = None
    ) -> int:
        """The body of :meth:`ingest`, for callers that group several messages in one
        transaction. Raises FutureBatch (nothing written) for a batch that starts further
        than ``max_ahead`` beyond what was committed."""
        line = line_key(batch.line)
        stream = batch.stream
        contiguous, highest = self._lock_progress(line, stream, now)
        if max_ahead is not None and batch.after_seq > contiguous + max_ahead:
            raise FutureBatch(
                f"batch {batch.first_seq}..{batch.last_seq} of {stream} starts {batch.after_seq - contiguous} "
                f"beyond the committed {contiguous} (limit {max_ahead})"
            )
        if batch.last_seq <= contiguous:
            return contiguous  # all here already
        # ``texts``: the records' JSON as it arrived (protocol.decode_batch); else encoded here.
        data = texts if texts is not None else record_texts(batch)
        self._many(
            "INSERT INTO records (line, stream, seq, received, data) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT DO NOTHING",
            [(line, stream, r["seq"], now, d) for r, d in zip(batch.records, data, strict=True)],
        )
        project = PROJECTIONS.get(stream)
        if project is not None:
            project(self, line, batch.records)
        highest = max(highest, batch.last_seq)
        if batch.after_seq <= contiguous:
            contiguous = batch.last_seq
            # Ranges that were waiting behind the gap this batch closed.
            while True:
                rows = self._exec(
                    "SELECT after_seq, last_seq FROM pending WHERE line = ? AND stream = ? AND after_seq <= ?",
                    (line, stream, contiguous),
                ).fetchall()
                if not rows:
                    break
                self._exec(
                    "DELETE FROM pending WHERE line = ? AND stream = ? AND after_seq <= ?",
                    (line, stream, contiguous),
                )
                contiguous = max(contiguous, *(r[1] for r in rows))
        else:
            self._exec(
                "INSERT INTO pending (line, stream, after_seq, last_seq) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
                (line, stream, batch.after_seq, batch.last_seq),
            )
        self._exec(
            "UPDATE progress SET contiguous = ?, highest = ?, updated = ? WHERE line = ? AND stream = ?",
            (contiguous, highest, now, line, stream),
        )
        return int(contiguous)

    def _lock_progress(self, line: str, stream: str, now: float) -> tuple[int, int]:
        self._exec(
            "INSERT INTO progress (line, stream, contiguous, highest, updated) VALUES (?, ?, 0, 0, ?) "
            "ON CONFLICT DO NOTHING",
            (line, stream, now),
        )
        lock = " FOR UPDATE" if self.dialect == "postgres" else ""
        row = self._exec(
            f"SELECT contiguous, highest FROM progress WHERE line = ? AND stream = ?{lock}", (line, stream)
        ).fetchone()
        return int(row[0]), int(row[1])

    def ack(self, line: str, stream: str) -> int:
        rows = self.query("SELECT contiguous FROM progress WHERE line = ? AND stream = ?", (line, stream))
        return int(rows[0][0]) if rows else 0

    def acks(self) -> dict[tuple[str, str], int]:
        return {(ln, s): int(c) for ln, s, c in self.query("SELECT line, stream, contiguous FROM progress")}

    def records(self, line: str, stream: str) -> list[dict[str, Any]]:
        return [
            json.loads(d)
            for (d,) in self.query(
                "SELECT data FROM records WHERE line = ? AND stream = ? ORDER BY seq", (line, stream)
            )
        ]

    def record_counts(self) -> dict[tuple[str, str], int]:
        return {
            (ln, s): int(n)
            for ln, s, n in self.query("SELECT line, stream, count(*) FROM records GROUP BY line, stream")
        }

    # ------------------------------------------------------------------ line state

    def set_status(self, line: str, st: Any, now: float) -> None:
        """Upsert the retained status of a line (``st`` a LineStatus); older ones lose."""
        self._exec(
            "INSERT INTO line_status (line, online, ts, agent, state, order_id, last_data, backlog, devices, received) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (line) DO UPDATE SET online = excluded.online, "
            "ts = excluded.ts, agent = excluded.agent, state = coalesce(excluded.state, line_status.state), "
            "order_id = CASE WHEN excluded.online = 1 THEN excluded.order_id ELSE line_status.order_id END, "
            "last_data = coalesce(excluded.last_data, line_status.last_data), "
            "backlog = CASE WHEN excluded.online = 1 THEN excluded.backlog ELSE line_status.backlog END, "
            "devices = CASE WHEN excluded.online = 1 THEN excluded.devices ELSE line_status.devices END, "
            "received = excluded.received",
            (
                line,
                int(st.online),
                st.ts,
                st.agent,
                st.state,
                st.order,
                st.last_data,
                st.backlog,
                json.dumps(st.devices),
                now,
            ),
        )

    def set_state(self, line: str, name: str, data: dict[str, Any], now: float) -> None:
        self._exec(
            "INSERT INTO line_state (line, name, data, received) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (line, name) DO UPDATE SET data = excluded.data, received = excluded.received",
            (line, name, json.dumps(data), now),
        )
        if name == "shift_kpi" and data.get("shift"):
            self._exec(
                "INSERT INTO shift_kpis (line, shift, start_ts, end_ts, data, received) VALUES (?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (line, shift) DO UPDATE SET start_ts = excluded.start_ts, end_ts = excluded.end_ts, "
                "data = excluded.data, received = excluded.received WHERE excluded.end_ts >= shift_kpis.end_ts",
                (line, data["shift"], data["start"], data["end"], json.dumps(data), now),
            )

    # ------------------------------------------------------------------ dead letters

    def dead_letter(
        self, topic: str, kind: str, error: str, payload: bytes | None, *, now: float | None = None
    ) -> None:
        self._exec(
            "INSERT INTO dead_letters (received, topic, kind, error, payload) VALUES (?, ?, ?, ?, ?)",
            (now if now is not None else time.time(), topic, kind, error, payload),
        )

    def dead_letter_counts(self) -> dict[str, int]:
        return {k: int(n) for k, n in self.query("SELECT kind, count(*) FROM dead_letters GROUP BY kind")}

    # ------------------------------------------------------------------ commands

    def add_command(self, cmd_id: str, line: str, kind: str, body: dict[str, Any], now: float) -> bool:
        """Queue a command for a line; False when that id exists already (idempotent)."""
        with self.tx():
            cur = self._exec(
                "INSERT INTO commands (id, line, kind, body, issued_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                (cmd_id, line, kind, json.dumps(body), now),
            )
            return bool(cur.rowcount)

    def commands_to_send(
        self, now: float, resend_s: float
    ) -> list[tuple[str, str, str, dict[str, Any], float]]:
        rows = self.query(
            "SELECT id, line, kind, body, issued_at FROM commands WHERE state = 'pending' "
            "AND (last_sent IS NULL OR last_sent < ?) ORDER BY issued_at, id",
            (now - resend_s,),
        )
        return [(i, ln, k, json.loads(b), ts) for i, ln, k, b, ts in rows]

    def mark_sent(self, ids: list[str], now: float) -> None:
        with self.tx():
            self._many(
                "UPDATE commands SET sent_count = sent_count + 1, last_sent = ? WHERE id = ?",
                [(now, i) for i in ids],
            )

    def resend_now(self, line: str) -> None:
        """Line came back online: its pending commands go out at the next pass."""
        self._exec("UPDATE commands SET last_sent = NULL WHERE line = ? AND state = 'pending'", (line,))

    def command_result(self, line: str, cmd_id: str, accepted: bool, reason: str, now: float) -> bool:
        cur = self._exec(
            "UPDATE commands SET state = ?, reason = ?, acked_at = ? WHERE id = ? AND line = ? AND state = 'pending'",
            ("accepted" if accepted else "rejected", reason, now, cmd_id, line),
        )
        return bool(cur.rowcount)

    def commands(self, line: str | None = None) -> list[dict[str, Any]]:
        q = "SELECT id, line, kind, body, issued_at, state, reason, sent_count, last_sent, acked_at FROM commands"
        rows = self.query(
            q + (" WHERE line = ?" if line else "") + " ORDER BY issued_at, id", (line,) if line else ()
        )
        cols = (
            "id",
            "line",
            "kind",
            "body",
            "issued_at",
            "state",
            "reason",
            "sent_count",
            "last_sent",
            "acked_at",
        )
        return [dict(zip(cols, r, strict=True)) | {"body": json.loads(r[3])} for r in rows]


class FutureBatch(ValueError):
    """A batch far beyond what was committed for its stream."""


# ---------------------------------------------------------------------------- projections
# Plant tables kept from the streams, idempotent under redelivery (upserts guarded by seq).


def _downtime(st: AggregatorStore, line: str, records: list[dict[str, Any]]) -> None:
    st._many(
        "INSERT INTO downtime (line, event_id, machine, start_ts, end_ts, state, auto_reason, micro, seq) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (line, event_id) DO UPDATE SET machine = excluded.machine, "
        "start_ts = excluded.start_ts, end_ts = excluded.end_ts, state = excluded.state, "
        "auto_reason = excluded.auto_reason, micro = excluded.micro, seq = excluded.seq WHERE excluded.seq > downtime.seq",
        [
            (
                line,
                str(r.get("event_id")),
                str(r.get("machine")),
                r.get("start"),
                r.get("end"),
                str(r.get("state")),
                r.get("auto_reason"),
                int(bool(r.get("micro"))),
                r["seq"],
            )
            for r in records
        ],
    )


def _downtime_edits(st: AggregatorStore, line: str, records: list[dict[str, Any]]) -> None:
    st._many(
        "INSERT INTO downtime_reasons (line, event_id, reason, comment, by_who, seq) VALUES (?, ?, ?, ?, ?, ?) "
        "ON CONFLICT (line, event_id) DO UPDATE SET reason = excluded.reason, comment = excluded.comment, "
        "by_who = excluded.by_who, seq = excluded.seq WHERE excluded.seq > downtime_reasons.seq",
        [
            (
                line,
                str(r.get("event_id")),
                r.get("reason"),
                str(r.get("comment") or ""),
                str(r.get("by")),
                r["seq"],
            )
            for r in records
            if r.get("kind") == "assign"
        ],
    )


def _spc_alarms(st: AggregatorStore, line: str, records: list[dict[str, Any]]) -> None:
    st._many(
        "INSERT INTO spc_alarms (line, seq, ts, characteristic, kind, rule, detail, value) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
        [
            (
                line,
                r["seq"],
                r.get("ts"),
                str(r.get("characteristic")),
                str(r.get("kind")),
                str(r.get("rule")),
                str(r.get("detail")),
                r.get("value"),
            )
            for r in records
        ],
    )


def _inspections(st: AggregatorStore, line: str, records: list[dict[str, Any]]) -> None:
    st._many(
        "INSERT INTO inspections (line, seq, ts, plan, order_id, passed, by_who, comment) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
        [
            (
                line,
                r["seq"],
                r.get("ts"),
                str(r.get("plan")),
                r.get("order_id"),
                int(bool(r.get("passed"))),
                str(r.get("by")),
                str(r.get("comment") or ""),
            )
            for r in records
        ],
    )


PROJECTIONS = {
    "downtime": _downtime,
    "downtime_edits": _downtime_edits,
    "spc_alarms": _spc_alarms,
    "inspections": _inspections,
}
