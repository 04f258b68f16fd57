"""The plant's ingest store: idempotent ingest of batches, the end-to-end ack per (line,
stream), the lines' retained state, dead letters and the command outbox. SQLite (a file)
or PostgreSQL (a ``postgresql://`` URL) through ``db.Database``; the schema comes from
``migrations``, the plant tables kept from the streams from ``projections``, the plant
view's reads from ``queries``.

Records are unique on (line, stream, seq), so a batch sent twice (an agent restarted
before the broker's PUBACK, a resend after an ack timeout, a broker redelivery) changes
nothing the second time. The ack is the highest sequence up to which every record has
been committed without a gap; batches that arrive ahead of a gap wait as ranges in
``pending`` (in the database, so several aggregator instances sharing a subscription
agree). An edge prunes only what is acknowledged here.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sync.aggregator import migrations
from sync.aggregator.config import AggregatorConfig
from sync.aggregator.db import Database
from sync.aggregator.projections import project
from sync.protocol import Batch, LineRef, Topics, record_texts
from sync.protocol.records import RecordError

#: Streams whose plant tables and rollups m007_web added (filled from what a store holds).
WEB_STREAMS = ("state_changes", "counts", "downtime", "spc_points", "spc_limits", "orders")


def line_key(ref: LineRef) -> str:
    return Topics.of(ref).key


class AggregatorStore:
    """The plant store. ``target`` is a SQLite path or a ``postgresql://`` URL."""

    def __init__(self, target: str | Path) -> None:
        self.db = Database(target)
        self.target = self.db.target
        self.dialect = self.db.dialect
        if "m007_web" in migrations.apply(self.db):
            self._backfill(WEB_STREAMS)

    def _backfill(self, streams: tuple[str, ...], chunk: int = 5000) -> None:
        """Feed the records a store already holds through the projections of ``streams``
        (a migration added tables kept from them); idempotent, a chunk per transaction."""
        keys = self.query("SELECT DISTINCT line, stream FROM progress")
        for line, stream in keys:
            if stream not in streams:
                continue
            after = 0
            while True:
                rows = self.query(
                    "SELECT seq, data FROM records WHERE line = ? AND stream = ? AND seq > ? ORDER BY seq LIMIT ?",
                    (line, stream, after, chunk),
                )
                if not rows:
                    break
                records = [json.loads(d) for _, d in rows]
                try:
                    with self.tx():
                        project(self.db, line, stream, records)
                except RecordError:  # one the new projection refuses: the rest still count
                    for r in records:
                        try:
                            with self.tx():
                                project(self.db, line, stream, [r])
                        except RecordError:
                            continue
                after = int(rows[-1][0])

    # ------------------------------------------------------------------ plumbing

    def _exec(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return self.db.execute(sql, params)

    def _many(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        self.db.executemany(sql, rows)

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return self.db.query(sql, params)

    @contextmanager
    def tx(self) -> Iterator[None]:
        """One transaction (serialised per process; row locks serialise across processes)."""
        with self.db.tx():
            yield

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        """Inside :meth:`tx`: undo only this part if it fails (one bad message must not
        cost the rest of its group)."""
        with self.db.savepoint():
            yield

    def close(self) -> None:
        self.db.close()

    def reset(self) -> None:
        """Empty every table but the migration record (tests and benchmarks on a shared
        PostgreSQL database)."""
        with self.tx():
            for t in self.db.tables():
                if t != migrations.RECORD_TABLE:
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
        project(self.db, line, stream, batch.records)
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
        row = self._exec(
            f"SELECT contiguous, highest FROM progress WHERE line = ? AND stream = ?{self.db.for_update}",
            (line, stream),
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

    def add_commands(self, commands: list[tuple[str, str, str, dict[str, Any]]], now: float) -> int:
        """Queue several (id, line, kind, body) commands in one transaction: all or none.
        Ids that exist already are skipped (a re-import); returns how many were new."""
        with self.tx():
            n = 0
            for cmd_id, line, kind, body in commands:
                cur = self._exec(
                    "INSERT INTO commands (id, line, kind, body, issued_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                    (cmd_id, line, kind, json.dumps(body), now),
                )
                n += cur.rowcount
            return n

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

    # ------------------------------------------------------------------ web audit

    def web_audit(
        self,
        ts: float,
        who: str,
        role: str,
        action: str,
        entity: str,
        detail: str,
        meaning: str,
        address: str,
    ) -> None:
        """What a plant user did in the web view (``sync.aggregator.web``)."""
        self._exec(
            "INSERT INTO web_audit (ts, who, role, action, entity, detail, meaning, address) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (ts, who, role, action, entity, detail, meaning, address),
        )


class FutureBatch(ValueError):
    """A batch far beyond what was committed for its stream."""


def open_store(cfg: AggregatorConfig) -> AggregatorStore:
    """The plant store an aggregator config names."""
    target = cfg.store.url or cfg.store.path
    assert target is not None
    return AggregatorStore(target)
