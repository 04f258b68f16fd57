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

import functools
import json
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from edge.core import auditsig
from sync.aggregator import migrations, rollups
from sync.aggregator.config import AggregatorConfig
from sync.aggregator.db import Database
from sync.aggregator.projections import project
from sync.protocol import Batch, LineRef, Topics, record_texts
from sync.protocol.records import RecordError

#: Streams whose plant tables and rollups m007_web added (filled from what a store holds).
WEB_STREAMS = ("state_changes", "counts", "downtime", "spc_points", "spc_limits", "orders")

#: Dead letters: bytes of a payload kept, letters kept, days kept (AggregatorConfig's defaults).
DEAD_LETTER_BYTES = 65_536
DEAD_LETTERS_KEEP = 10_000
DEAD_LETTERS_DAYS = 30.0


def line_key(ref: LineRef) -> str:
    return Topics.of(ref).key


class AggregatorStore:
    """The plant store. ``target`` is a SQLite path or a ``postgresql://`` URL."""

    def __init__(
        self,
        target: str | Path,
        *,
        dead_letter_bytes: int = DEAD_LETTER_BYTES,
        dead_letters_keep: int = DEAD_LETTERS_KEEP,
        dead_letters_days: float = DEAD_LETTERS_DAYS,
    ) -> None:
        self.db = Database(target)
        self.target = self.db.target
        self.dialect = self.db.dialect
        self.dead_letter_bytes = dead_letter_bytes
        self.dead_letters_keep = dead_letters_keep
        self.dead_letters_days = dead_letters_days
        self._epochs: dict[tuple[str, str], int] = {}
        #: (line, incarnation, epoch, "first" | "adopted" | "new") registered since the
        #: last :meth:`remember_epochs`.
        self.new_incarnations: list[tuple[str, str, int, str]] = []
        self._dead_since_trim = 0
        #: Line → its audit public key (hex) where configured: audit entries are checked
        #: against it as they arrive (see :meth:`_verify_audit`).
        self.audit_keys: dict[str, str | None] = {}
        self._audit_pub: dict[str, Any] = {}
        applied = migrations.apply(self.db)
        if "m007_web" in applied:
            self._backfill(WEB_STREAMS)
        elif "m007_web_days" in applied:
            with self.tx():
                rollups.rebuild_days(self.db)

    def _backfill(self, streams: tuple[str, ...], chunk: int = 5000) -> None:
        """Feed the records a store already holds through the projections of ``streams``
        (a migration added tables kept from them); idempotent, a chunk per transaction."""
        keys = self.query(
            "SELECT DISTINCT p.line, p.stream, p.incarnation, coalesce(i.epoch, 0) FROM progress p "
            "LEFT JOIN incarnations i ON i.line = p.line AND i.incarnation = p.incarnation"
        )
        for line, stream, inc, epoch in keys:
            if stream not in streams:
                continue
            after = 0
            while True:
                rows = self.query(
                    "SELECT seq, data FROM records WHERE line = ? AND stream = ? AND incarnation = ? AND seq > ? "
                    "ORDER BY seq LIMIT ?",
                    (line, stream, inc, after, chunk),
                )
                if not rows:
                    break
                records = [json.loads(d) for _, d in rows]
                try:
                    with self.tx():
                        project(self.db, line, stream, records, int(epoch))
                except RecordError:  # one the new projection refuses: the rest still count
                    for r in records:
                        try:
                            with self.tx():
                                project(self.db, line, stream, [r], int(epoch))
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
        try:
            with self.tx():
                ack = self.ingest_in_tx(
                    batch, now=now if now is not None else time.time(), max_ahead=max_ahead
                )
        except Exception:
            self.new_incarnations.clear()
            raise
        self.remember_epochs()
        return ack

    def ingest_in_tx(
        self, batch: Batch, *, now: float, max_ahead: int | None = None, texts: list[str] | None = None
    ) -> int:
        """The body of :meth:`ingest`, for callers that group several messages in one
        transaction. Raises FutureBatch (nothing written) for a batch that reaches further
        than ``max_ahead`` beyond what was committed: its ``last_seq`` is bounded, not only
        where it starts, so a batch cannot move the ack far ahead and make the real
        records behind it look received.

        Progress is kept per store incarnation: the records of a line whose store was
        recreated (sequences from 1 again) are kept apart from the old store's, never
        taken for them (see :meth:`incarnation`)."""
        line = line_key(batch.line)
        stream = batch.stream
        inc = batch.incarnation
        epoch = self.incarnation(line, inc, now)
        contiguous, highest = self._lock_progress(line, stream, inc, now)
        if max_ahead is not None and batch.last_seq > contiguous + max_ahead:
            raise FutureBatch(
                f"batch {batch.first_seq}..{batch.last_seq} of {stream} reaches {batch.last_seq - contiguous} "
                f"beyond the committed {contiguous} (limit {max_ahead})"
            )
        if batch.last_seq <= contiguous:
            return contiguous  # all here already
        if stream == "audit":
            if batch.after_seq > contiguous:
                # The chain is checked link by link as it arrives: taken in order only
                # (nothing stored; the line resends from the ack).
                return contiguous
            self._verify_audit(
                line, inc, contiguous, [r for r in batch.records if r["seq"] > contiguous], now
            )
        # ``texts``: the records' JSON as it arrived (protocol.decode_batch); else encoded here.
        data = texts if texts is not None else record_texts(batch)
        self._insert_records(line, stream, inc, now, [r["seq"] for r in batch.records], data)
        project(self.db, line, stream, batch.records, epoch)
        highest = max(highest, batch.last_seq)
        if batch.after_seq <= contiguous:
            contiguous = batch.last_seq
            # Ranges that were waiting behind the gap this batch closed.
            while True:
                rows = self._exec(
                    "SELECT after_seq, last_seq FROM pending WHERE line = ? AND stream = ? AND incarnation = ? "
                    "AND after_seq <= ?",
                    (line, stream, inc, contiguous),
                ).fetchall()
                if not rows:
                    break
                self._exec(
                    "DELETE FROM pending WHERE line = ? AND stream = ? AND incarnation = ? AND after_seq <= ?",
                    (line, stream, inc, contiguous),
                )
                contiguous = max(contiguous, *(r[1] for r in rows))
        else:
            self._exec(
                "INSERT INTO pending (line, stream, incarnation, after_seq, last_seq) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT DO NOTHING",
                (line, stream, inc, batch.after_seq, batch.last_seq),
            )
        self._exec(
            "UPDATE progress SET contiguous = ?, highest = ?, updated = ? WHERE line = ? AND stream = ? "
            "AND incarnation = ?",
            (contiguous, highest, now, line, stream, inc),
        )
        return int(contiguous)

    def _insert_records(
        self, line: str, stream: str, inc: str, now: float, seqs: list[int], data: list[str]
    ) -> None:
        """The records of a batch, existing ones left alone. On SQLite in statements of
        many rows that name line, stream, incarnation and time once (numbered
        parameters): ``executemany`` spends about a microsecond of its own on each row
        and binds the four repeated values on every one."""
        if len(seqs) != len(data):
            raise ValueError("a text for each record")
        if self.dialect != "sqlite":
            self._many(
                "INSERT INTO records (line, stream, incarnation, seq, received, data) VALUES (?, ?, ?, ?, ?, ?) "
                "ON CONFLICT DO NOTHING",
                [(line, stream, inc, s, now, d) for s, d in zip(seqs, data, strict=True)],
            )
            return
        i, n = 0, len(seqs)
        for size in _RECORD_CHUNKS:
            if n - i < size:
                continue
            stmt = _records_insert(size)
            params: list[Any] = [line, stream, inc, now, *([None] * (2 * size))]
            while n - i >= size:
                params[4::2] = seqs[i : i + size]
                params[5::2] = data[i : i + size]
                self.db.conn.execute(stmt, params)
                i += size

    # ------------------------------------------------------------------ audit anchor

    def _verify_audit(
        self, line: str, inc: str, contiguous: int, records: list[dict[str, Any]], now: float
    ) -> None:
        """Check audit entries extending a line's chain: each follows the last verified
        one without a gap, links to its signature and, where the line's public key is
        configured, is signed with it. The head verified last is kept (``audit_heads``):
        the plant's anchor of the line's chain, outside the line. Raises AuditBroken
        (the batch becomes a dead letter, the problem is recorded)."""
        row = self._exec(
            "SELECT seq, mac FROM audit_heads WHERE line = ? AND incarnation = ?", (line, inc)
        ).fetchone()
        head_mac: str | None
        if row is not None and row[1] and int(row[0]) == contiguous:
            head_seq, head_mac = int(row[0]), str(row[1])
        elif contiguous == 0:
            head_seq, head_mac = 0, auditsig.GENESIS
        else:  # entries from before the anchor existed: continue from the last one kept
            head_seq = contiguous
            got = self._exec(
                "SELECT data FROM records WHERE line = ? AND stream = 'audit' AND incarnation = ? AND seq = ?",
                (line, inc, contiguous),
            ).fetchone()
            head_mac = str(json.loads(got[0]).get("mac")) if got else None
        key = self._audit_key(line)
        for r in records:
            seq, prev, mac = r["seq"], str(r.get("prev")), str(r.get("mac"))
            if seq != head_seq + 1:
                raise AuditBroken(
                    f"audit entry {seq}: entries {head_seq + 1}..{seq - 1} are missing from the chain"
                )
            if head_mac is not None and prev != head_mac:
                raise AuditBroken(
                    f"audit entry {seq}: not linked to entry {head_seq} (an entry was removed or replaced)"
                )
            if key is not None:
                legacy_ok = auditsig.is_legacy(mac) and (head_mac is None or len(head_mac) == 64)
                if not legacy_ok and not auditsig.signed_by(key, prev, seq, r, mac):
                    raise AuditBroken(f"audit entry {seq}: not signed with the line's audit key")
            head_seq, head_mac = seq, mac
        self._exec(
            "INSERT INTO audit_heads (line, incarnation, seq, mac, verified) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (line, incarnation) DO UPDATE SET seq = excluded.seq, mac = excluded.mac, "
            "verified = excluded.verified",
            (line, inc, head_seq, head_mac or "", now),
        )

    def _audit_key(self, line: str) -> Any:
        if line not in self._audit_pub:
            raw = self.audit_keys.get(line)
            self._audit_pub[line] = auditsig.public_key(raw) if raw else None
        return self._audit_pub[line]

    def audit_problem(self, line: str, inc: str, problem: str, now: float) -> None:
        """Keep the first problem found in a line's chain (outside the failed batch's savepoint)."""
        self._exec(
            "INSERT INTO audit_heads (line, incarnation, problem, verified) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (line, incarnation) DO UPDATE SET problem = coalesce(audit_heads.problem, excluded.problem)",
            (line, inc, problem, now),
        )

    def audit_reported(self, line: str, inc: str, seq: int, mac: str, now: float) -> None:
        """The head the line reports of its own chain now (its status)."""
        self._exec(
            "INSERT INTO audit_heads (line, incarnation, reported_seq, reported_mac, reported) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (line, incarnation) DO UPDATE SET reported_seq = excluded.reported_seq, "
            "reported_mac = excluded.reported_mac, reported = excluded.reported",
            (line, inc, seq, mac, now),
        )

    def audit_heads(self) -> list[dict[str, Any]]:
        cols = (
            "line",
            "incarnation",
            "seq",
            "mac",
            "verified",
            "problem",
            "reported_seq",
            "reported_mac",
            "reported",
        )
        rows = self.query(f"SELECT {', '.join(cols)} FROM audit_heads ORDER BY line, incarnation")
        return [dict(zip(cols, r, strict=True)) for r in rows]

    def audit_mac_at(self, line: str, inc: str, seq: int) -> str | None:
        """The signature of the line's audit entry ``seq`` as the plant holds it."""
        rows = self.query(
            "SELECT data FROM records WHERE line = ? AND stream = 'audit' AND incarnation = ? AND seq = ?",
            (line, inc, seq),
        )
        return str(json.loads(rows[0][0]).get("mac")) if rows else None

    def incarnation(self, line: str, incarnation: str, now: float) -> int:
        """The epoch of a line's store ``incarnation`` (0, 1, … in the order they
        appeared), registering a new one. The first incarnation a line names adopts the
        rows kept under "" (from before incarnations, or from a line that sends none);
        any later one is a recreated store: noted in :attr:`new_incarnations` (the
        service reports it) and counted from sequence 0 on its own."""
        key = (line, incarnation)
        epoch = self._epochs.get(key)
        if epoch is not None:
            return epoch
        row = self._exec(
            "SELECT epoch FROM incarnations WHERE line = ? AND incarnation = ?", (line, incarnation)
        ).fetchone()
        if row is None:
            known = {
                str(i): int(e)
                for i, e in self._exec(
                    "SELECT incarnation, epoch FROM incarnations WHERE line = ?", (line,)
                ).fetchall()
            }
            if incarnation and list(known) == [""]:
                for table in ("records", "progress", "pending", "incarnations"):
                    self._exec(
                        f"UPDATE {table} SET incarnation = ? WHERE line = ? AND incarnation = ''",
                        (incarnation, line),
                    )
                self.new_incarnations.append((line, incarnation, 0, "adopted"))
            else:
                epoch_new = max(known.values(), default=-1) + 1
                self._exec(
                    "INSERT INTO incarnations (line, incarnation, epoch, first_seen) VALUES (?, ?, ?, ?) "
                    "ON CONFLICT DO NOTHING",
                    (line, incarnation, epoch_new, now),
                )
                self.new_incarnations.append((line, incarnation, epoch_new, "new" if known else "first"))
            row = self._exec(
                "SELECT epoch FROM incarnations WHERE line = ? AND incarnation = ?", (line, incarnation)
            ).fetchone()
        # Cached only once committed would be exact; an epoch never changes once assigned,
        # and a rolled-back registration is registered again by the next batch.
        return int(row[0])

    def remember_epochs(self) -> None:
        """After a commit: the incarnations seen in it need no lookup again."""
        for line, inc, epoch, how in self.new_incarnations:
            self._epochs[(line, inc)] = epoch
            if how == "adopted":
                self._epochs.pop((line, ""), None)
        self.new_incarnations.clear()

    def incarnations(self) -> list[dict[str, Any]]:
        """Every line's store incarnations, oldest first."""
        rows = self.query(
            "SELECT line, incarnation, epoch, first_seen FROM incarnations ORDER BY line, epoch"
        )
        return [{"line": ln, "incarnation": i, "epoch": int(e), "first_seen": f} for ln, i, e, f in rows]

    def _lock_progress(self, line: str, stream: str, incarnation: str, now: float) -> tuple[int, int]:
        self._exec(
            "INSERT INTO progress (line, stream, incarnation, contiguous, highest, updated) "
            "VALUES (?, ?, ?, 0, 0, ?) ON CONFLICT DO NOTHING",
            (line, stream, incarnation, now),
        )
        row = self._exec(
            "SELECT contiguous, highest FROM progress WHERE line = ? AND stream = ? AND incarnation = ?"
            f"{self.db.for_update}",
            (line, stream, incarnation),
        ).fetchone()
        return int(row[0]), int(row[1])

    def ack(self, line: str, stream: str, incarnation: str | None = None) -> int:
        """The stream's ack for ``incarnation`` (None: the line's latest incarnation)."""
        inc = self.latest_incarnation(line) if incarnation is None else incarnation
        rows = self.query(
            "SELECT contiguous FROM progress WHERE line = ? AND stream = ? AND incarnation = ?",
            (line, stream, inc),
        )
        return int(rows[0][0]) if rows else 0

    def latest_incarnation(self, line: str) -> str:
        rows = self.query(
            "SELECT incarnation FROM incarnations WHERE line = ? ORDER BY epoch DESC LIMIT 1", (line,)
        )
        return str(rows[0][0]) if rows else ""

    def acks(self) -> dict[tuple[str, str], int]:
        """(line, stream) → ack of the line's latest incarnation."""
        rows = self.query(
            "SELECT p.line, p.stream, p.contiguous FROM progress p JOIN incarnations i "
            "ON i.line = p.line AND i.incarnation = p.incarnation "
            "WHERE i.epoch = (SELECT max(epoch) FROM incarnations j WHERE j.line = p.line)"
        )
        return {(ln, s): int(c) for ln, s, c in rows}

    def records(self, line: str, stream: str, incarnation: str | None = None) -> list[dict[str, Any]]:
        """A stream's records of one incarnation (None: the line's latest)."""
        inc = self.latest_incarnation(line) if incarnation is None else incarnation
        return [
            json.loads(d)
            for (d,) in self.query(
                "SELECT data FROM records WHERE line = ? AND stream = ? AND incarnation = ? ORDER BY seq",
                (line, stream, inc),
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
        """Keep a message that cannot be used, with why. The payload is stored up to
        ``dead_letter_bytes`` (with its original length), and the table keeps the newest
        ``dead_letters_keep`` letters of the last ``dead_letters_days`` days: a flood of
        large or poisoned messages cannot fill the plant's disk."""
        now = now if now is not None else time.time()
        size = len(payload) if payload is not None else None
        kept = payload[: self.dead_letter_bytes] if payload is not None else None
        self._exec(
            "INSERT INTO dead_letters (received, topic, kind, error, payload, payload_len) VALUES (?, ?, ?, ?, ?, ?)",
            (now, topic[:500], kind, error[:2000], kept, size),
        )
        self._dead_since_trim += 1
        if self._dead_since_trim >= max(1, min(100, self.dead_letters_keep // 10)):
            self.trim_dead_letters(now)

    def trim_dead_letters(self, now: float) -> int:
        """Apply the dead letters' retention (count and age); returns how many went."""
        self._dead_since_trim = 0
        n = self._exec(
            "DELETE FROM dead_letters WHERE received < ?", (now - self.dead_letters_days * 86400,)
        ).rowcount
        row = self._exec(
            "SELECT id FROM dead_letters ORDER BY id DESC LIMIT 1 OFFSET ?", (self.dead_letters_keep,)
        ).fetchone()
        if row is not None:
            n += self._exec("DELETE FROM dead_letters WHERE id <= ?", (row[0],)).rowcount
        return int(n)

    def dead_letters(self, limit: int = 100) -> list[dict[str, Any]]:
        """The newest dead letters (payload as stored, ``payload_len`` its original size)."""
        cols = ("id", "received", "topic", "kind", "error", "payload", "payload_len")
        rows = self.query(f"SELECT {', '.join(cols)} FROM dead_letters ORDER BY id DESC LIMIT ?", (limit,))
        return [dict(zip(cols, r, strict=True)) for r in rows]

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
            return self.insert_commands(commands, now)

    def insert_commands(self, commands: list[tuple[str, str, str, dict[str, Any]]], now: float) -> int:
        """:meth:`add_commands` inside the caller's transaction (with its audit entry)."""
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


#: Rows per records statement, largest first (the last, 1, takes the rest): few distinct
#: statements, so they stay prepared in sqlite3's statement cache.
_RECORD_CHUNKS = (128, 16, 1)


@functools.cache
def _records_insert(rows: int) -> str:
    """``rows`` records in one statement: parameters 1–4 line, stream, incarnation and
    time, then a seq and its text per record."""
    values = ", ".join(f"(?1, ?2, ?3, ?{5 + 2 * k}, ?4, ?{6 + 2 * k})" for k in range(rows))
    return (
        "INSERT INTO records (line, stream, incarnation, seq, received, data) VALUES "
        f"{values} ON CONFLICT DO NOTHING"
    )


class FutureBatch(ValueError):
    """A batch far beyond what was committed for its stream."""


class AuditBroken(ValueError):
    """Audit entries that do not extend the line's verified chain."""


def open_store(cfg: AggregatorConfig) -> AggregatorStore:
    """The plant store an aggregator config names."""
    target = cfg.store.url or cfg.store.path
    assert target is not None
    dl = cfg.dead_letters
    store = AggregatorStore(
        target,
        dead_letter_bytes=dl.max_payload_bytes,
        dead_letters_keep=dl.keep,
        dead_letters_days=dl.keep_days,
    )
    store.audit_keys = {ln.key: ln.audit_key for ln in cfg.lines}
    return store
