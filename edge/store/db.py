"""The Store: one SQLite file per line, WAL mode, append-only streams plus current state.

Every fact the agent learns is an append-only row with a per-stream integer sequence
(``seq``, AUTOINCREMENT so a sequence is never reused, even after retention empties a
table). The uplink reads streams from a durable cursor; retention removes only rows
at or below the acknowledged sequence.

One ``Store`` object owns one connection and serialises access with a lock; the agent
uses a single writer (see ``edge.store.writer``). Readers (CLI, operator UI) open their
own ``Store`` in read-only mode.

Writes outside this module go through :meth:`Store.transaction` and the repository
modules beside it (``production``, ``quality``, ``genealogy``, ``plant``, ``maintenance``,
``status``); SQLite's own errors leave the store as :class:`StoreError`.
"""

from __future__ import annotations

import errno
import fcntl
import json
import math
import os
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from itertools import chain
from pathlib import Path
from typing import Any
from urllib.parse import quote

from edge.core.errors import StoreError, StoreUnusable
from edge.logic.model import Quality, Sample
from edge.store import migrations

#: Streams the uplink ships; each is a table with an AUTOINCREMENT ``seq``.
STREAMS: tuple[str, ...] = (
    "samples",
    "events",
    "writes",
    "state_changes",
    "downtime",
    "counts",
    "orders",
    "order_requests",
    "downtime_edits",
    "audit",
    "spc_points",
    "spc_alarms",
    "spc_acks",
    "spc_limits",
    "produced",
    "consumed",
    "inspections",
    "measurements",
    "maintenance_requests",
    "maint_events",
    "maint_stock",
    "stock_moves",
    "lot_links",
    "holds",
    "inspection_misses",
)
#: Streams that retention may prune once acknowledged (never audit-like records).
PRUNABLE: dict[str, str] = {"samples": "ts_recv", "events": "ts"}


def encode_value(v: Any) -> Any:
    """Values go into an untyped column: numbers and text as themselves, arrays as JSON."""
    if isinstance(v, bool):
        return int(v)
    if isinstance(v, (list, tuple)):
        return json.dumps(list(v))
    if isinstance(v, float) and not math.isfinite(v):
        return repr(v)  # 'nan', 'inf': SQLite turns NaN into NULL otherwise
    return v


#: SQLite's primary result codes that a restart cannot fix.
_DAMAGED = {11, 26}  # SQLITE_CORRUPT, SQLITE_NOTADB
_NO_ACCESS = {3, 8, 14, 23}  # SQLITE_PERM, SQLITE_READONLY, SQLITE_CANTOPEN, SQLITE_AUTH
_FULL = 13  # SQLITE_FULL
_IOERR = 10  # SQLITE_IOERR


#: What to do with a damaged line store.
LINE_STORE_DAMAGED = (
    "Stop the agent, move the file aside together with its -wal and -shm files (keep them: records "
    "the plant has not acknowledged are only there), then restore a backup or start the agent again "
    "on a new, empty store"
)


def store_fault(e: sqlite3.Error, path: Path, doing: str, *, damaged: str = LINE_STORE_DAMAGED) -> StoreError:
    """SQLite's error as a :class:`StoreError` naming the file and what to do (``damaged``
    for a damaged file): a damaged or inaccessible store is :class:`StoreUnusable` (exit
    2, no restart), a full disk or a lock held too long stays a StoreError (it passes)."""
    code = (getattr(e, "sqlite_errorcode", None) or 0) & 0xFF
    if code in _DAMAGED:
        return StoreUnusable(f"{path}: the store is damaged ({e}). {damaged}")
    if code in _NO_ACCESS:
        if _read_only_fs(path.parent):
            return StoreUnusable(
                f"{path}: cannot {doing} the store ({e}): its file system is mounted read-only; "
                f"remount it read-write or set store.path to a writable place"
            )
        return StoreUnusable(
            f"{path}: cannot {doing} the store ({e}): run as the user that owns it (the service's: "
            f"sudo -u lineside …), or let this user read and write the file and its directory"
        )
    if code == _IOERR:
        return StoreError(
            f"{path}: cannot {doing} the store: {e} (if it repeats, the disk may be failing: see `dmesg`)"
        )
    if code == _FULL:
        return StoreError(
            f"{path}: cannot {doing} the store: the disk is full ({e}); free space on its file system"
        )
    return StoreError(f"{path}: cannot {doing} the store: {e}")


def _read_only_fs(path: Path) -> bool:
    try:
        return bool(os.statvfs(path).f_flag & os.ST_RDONLY)
    except OSError:
        return False


class StoreLock:
    """The agent's exclusive hold on a store: ``flock`` on ``<store>.lock`` (a file of its
    own, holding the agent's pid). A second agent on the same store refuses to start
    (two agents count everything twice and take each other's MQTT session).

    Why a separate file: the lock must never be taken on the database file itself. A
    plain ``open()`` of a SQLite file, closed again, drops every POSIX lock SQLite holds
    on it in this process (locks are per process and inode), silently."""

    def __init__(self, store_path: str | Path) -> None:
        self.path = Path(str(store_path) + ".lock")
        self._fd: int | None = None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o640)
        except OSError as e:
            raise StoreUnusable(f"{self.path}: cannot create the store's lock file ({e.strerror})") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            holder = _read_pid(fd)
            os.close(fd)
            if e.errno not in (errno.EAGAIN, errno.EACCES):
                raise StoreUnusable(f"{self.path}: cannot lock the store ({e.strerror})") from None
            raise StoreUnusable(
                f"{str(self.path)[:-5]}: another agent{f' (pid {holder})' if holder else ''} is running on "
                "this store; stop it first (two agents on one line count everything twice)"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the only descriptor releases the flock
            self._fd = None

    @staticmethod
    def held(store_path: str | Path) -> bool:
        """Whether an agent holds the store now."""
        p = Path(str(store_path) + ".lock")
        try:
            fd = os.open(p, os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError:
            return True
        finally:
            os.close(fd)
        return False


def _read_pid(fd: int) -> str:
    try:
        return os.pread(fd, 32, 0).decode(errors="replace").strip()
    except OSError:
        return ""


def file_identity(path: Path) -> tuple[int, int] | None:
    """(device, inode) of a file, None when there is none."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


class Store:
    """A line's SQLite store."""

    def __init__(
        self,
        path: str | Path,
        *,
        readonly: bool = False,
        timeout: float = 10.0,
        wal_limit_bytes: int = 64_000_000,
    ) -> None:
        self.path = Path(path)
        self.readonly = readonly
        self._lock = threading.RLock()
        if readonly and not self.path.exists():
            raise StoreError(f"{self.path}: no store here yet (has the agent run?)")
        if self.path.exists() and not self.path.is_file():
            raise StoreUnusable(f"{self.path}: not a file (a store is one SQLite file): check store.path")
        if self.path.exists() and self.path.stat().st_size == 0:
            # SQLite would take an empty file for a new database and start it afresh, and the
            # line's sequences at 1 again: an emptied store is a fault, never re-initialised.
            raise StoreUnusable(
                f"{self.path}: the store file is empty (0 bytes): it was truncated or replaced. Stop the agent, "
                "move it aside with its -wal and -shm files and restore a backup (or remove it to start an empty "
                "store under a new incarnation)"
            )
        if not readonly and not self.path.exists() and StoreLock.held(self.path):
            raise StoreUnusable(
                f"{self.path}: the store file is gone while an agent still holds it: it was deleted under the "
                "running agent (which stops when it notices); nothing is written to a new store meanwhile"
            )
        try:
            if readonly:
                self.db = self._open_readonly(timeout)
            else:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self.db = sqlite3.connect(
                    self.path, timeout=timeout, isolation_level=None, check_same_thread=False
                )
                self.db.execute("PRAGMA journal_mode=WAL")
                self.db.execute("PRAGMA synchronous=NORMAL")
                # After each checkpoint that empties the WAL, cut the file back to this size.
                self.db.execute(f"PRAGMA journal_size_limit={int(wal_limit_bytes)}")
                migrations.apply(self.db)
            self.db.execute("PRAGMA busy_timeout=10000")
            self.db.execute("SELECT count(*) FROM sqlite_master").fetchone()
        except sqlite3.Error as e:
            raise store_fault(e, self.path, "read" if readonly else "open") from None
        #: (device, inode) of the file this store opened: a store deleted or replaced
        #: under a running agent is noticed (:meth:`replaced`).
        self.identity = file_identity(self.path)
        self._tag_ids: dict[str, int] = {}
        self._tag_names: dict[int, str] = {}
        #: Depth of the transaction (or snapshot) the lock holder has open; nested ones join it.
        self._depth = 0
        #: The connection of a running :meth:`quick_check` (so that it can be interrupted).
        self._checking: sqlite3.Connection | None = None
        try:
            self._load_tag_ids()
        except sqlite3.Error as e:
            self.db.close()
            raise store_fault(e, self.path, "read") from None

    def _open_readonly(self, timeout: float) -> sqlite3.Connection:
        """A read-only connection. On a read-only file system where no ``-shm`` file can
        be created, the store is read as immutable (nobody can be writing it there)."""
        uri = f"file:{quote(str(self.path))}?mode=ro"
        con = sqlite3.connect(uri, uri=True, timeout=timeout, isolation_level=None, check_same_thread=False)
        try:
            con.execute("SELECT count(*) FROM sqlite_master").fetchone()
        except sqlite3.OperationalError:
            if not _read_only_fs(self.path.parent):
                raise
            con.close()
            con = sqlite3.connect(
                uri + "&immutable=1", uri=True, timeout=timeout, isolation_level=None, check_same_thread=False
            )
        return con

    # ------------------------------------------------------------------ plumbing

    def close(self) -> None:
        with self._lock:
            self.db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        self.close()
        if isinstance(exc, sqlite3.Error):
            # A query of a repository failed: leave as StoreError naming the file.
            raise store_fault(exc, self.path, "read" if self.readonly else "use") from exc

    def replaced(self) -> str | None:
        """Why the file at the store's path is no longer the one this store opened
        (deleted, or another file put in its place), or None while it is."""
        now = file_identity(self.path)
        if now == self.identity:
            return None
        if now is None:
            return f"{self.path}: the store file was deleted under the running agent"
        return f"{self.path}: the store file was replaced by another file under the running agent"

    def incarnation(self) -> str:
        """The store's incarnation id (random, chosen when the store was created)."""
        try:
            row = self.db.execute("SELECT value FROM meta WHERE key = 'incarnation'").fetchone()
        except sqlite3.OperationalError:  # read-only, by an agent before incarnations
            return ""
        return str(row[0]) if row else ""

    def quick_check(self, max_errors: int = 10) -> list[str]:
        """``PRAGMA quick_check`` on a connection of its own (read-only, so the writer is
        not held up): [] when the store is sound, else SQLite's first problems."""
        try:
            con = sqlite3.connect(
                f"file:{quote(str(self.path))}?mode=ro",
                uri=True,
                timeout=10.0,
                isolation_level=None,
                check_same_thread=False,
            )
            self._checking = con
            try:
                rows = con.execute(f"PRAGMA quick_check({int(max_errors)})").fetchall()
            finally:
                self._checking = None
                con.close()
        except sqlite3.OperationalError as e:
            if "interrupted" in str(e):
                return []  # stopped by :meth:`interrupt_check`: nothing found so far
            return [str(e)]
        except sqlite3.Error as e:
            return [str(e)]
        problems = [str(r[0]) for r in rows]
        return [] if problems == ["ok"] else problems

    def interrupt_check(self) -> None:
        """Stop a running :meth:`quick_check` (the agent is stopping: a check of a large
        store on a slow card must not hold up the shutdown)."""
        con = self._checking
        if con is not None:
            con.interrupt()

    def checkpoint(self) -> bool:
        """Copy the WAL into the database and truncate it to zero, unless a reader still
        needs it: then nothing waits (busy timeout 0) and False is returned; the next
        call tries again. Keeps the WAL from growing without bound behind long readers."""
        with self._lock:
            try:
                self.db.execute("PRAGMA busy_timeout=0")
                busy, _log, _done = self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
            except sqlite3.Error as e:
                raise store_fault(e, self.path, "checkpoint") from e
            finally:
                self.db.execute("PRAGMA busy_timeout=10000")
        return not busy

    def _load_tag_ids(self) -> None:
        try:
            rows = self.db.execute("SELECT id, name FROM tags").fetchall()
        except sqlite3.OperationalError:
            rows = []
        self._tag_ids = {n: i for i, n in rows}
        self._tag_names = {i: n for i, n in rows}

    def transaction(self, *, sync_full: bool = False) -> _Tx:
        """One write transaction (``BEGIN IMMEDIATE`` … ``COMMIT``) under the store lock:
        what is written inside commits together or not at all. ``sync_full`` commits with
        ``synchronous=FULL`` (operator input, quality and audit records). A transaction
        opened inside another one of the same thread joins it (the outer one commits).
        SQLite's errors (locked beyond the timeout, disk full) leave as :class:`StoreError`."""
        return _Tx(self, sync_full)

    def _tx(self, sync_full: bool = False) -> _Tx:
        return _Tx(self, sync_full)

    @contextmanager
    def snapshot(self) -> Iterator[None]:
        """A consistent read over several queries (one read transaction under the store
        lock); SQLite's errors leave as :class:`StoreError`. Inside a transaction it reads
        that transaction's view."""
        with self._lock:
            if self._depth:
                self._depth += 1
                try:
                    yield
                except sqlite3.Error as e:
                    raise store_fault(e, self.path, "read") from e
                finally:
                    self._depth -= 1
                return
            try:
                self.db.execute("BEGIN")
            except sqlite3.Error as e:
                raise store_fault(e, self.path, "read") from e
            self._depth = 1
            try:
                yield
            except sqlite3.Error as e:
                raise store_fault(e, self.path, "read") from e
            finally:
                self._depth = 0
                try:
                    self.db.execute("COMMIT")
                except sqlite3.Error:
                    if self.db.in_transaction:
                        self.db.execute("ROLLBACK")

    # ------------------------------------------------------------------ tags

    def register_tags(self, tags: Iterable[tuple[str, str, str, str]]) -> None:
        """Upsert (name, device, type, eng_unit); ids are stable across restarts."""
        with self._tx():
            for name, device, type_, unit in tags:
                self.db.execute(
                    "INSERT INTO tags (name, device, type, eng_unit) VALUES (?, ?, ?, ?) "
                    "ON CONFLICT(name) DO UPDATE SET device=excluded.device, type=excluded.type, eng_unit=excluded.eng_unit",
                    (name, device, type_, unit),
                )
        self._load_tag_ids()

    def tag_id(self, name: str) -> int:
        try:
            return self._tag_ids[name]
        except KeyError:
            self._load_tag_ids()
            if name not in self._tag_ids:
                raise StoreError(f"unknown tag {name!r} (not in this store)") from None
            return self._tag_ids[name]

    # ------------------------------------------------------------------ samples

    def append_samples(self, samples: Sequence[Sample], facts: Sequence[Any] = ()) -> int:
        """Commit a batch of samples, and the line-logic facts they caused, in one
        transaction and update current values.

        Returns the last sample sequence written. Either the whole batch is committed or none.
        """
        if not samples and not facts:
            return 0
        ids = self._tag_ids
        rows = [(ids[s.tag], s.ts, s.ts_recv, encode_value(s.value), int(s.quality)) for s in samples]
        with self._tx():
            if facts:
                from edge.store.facts import insert_facts

                insert_facts(self.db, facts, audit=self.audit)
            if not rows:
                return 0
            _insert_rows(self.db, "INSERT INTO samples (tag_id, ts, ts_recv, value, quality) VALUES ", rows)
            last = self.db.execute("SELECT seq FROM sqlite_sequence WHERE name='samples'").fetchone()[0]
            # The latest row of each tag in this batch becomes its current value: with one
            # max() in the query SQLite takes the other (bare) columns from the max row.
            # NOT INDEXED: the batch's rows by their seq range, never a scan of the whole
            # per-tag trace index for its GROUP BY (m019_trace_index), which grows with the store.
            self.db.execute(
                "INSERT INTO current_values (tag_id, value, quality, ts, ts_recv, seq) "
                "SELECT tag_id, value, quality, ts, ts_recv, max(seq) FROM samples NOT INDEXED WHERE seq > ? "
                "GROUP BY tag_id "
                "ON CONFLICT(tag_id) DO UPDATE SET value=excluded.value, quality=excluded.quality, "
                "ts=excluded.ts, ts_recv=excluded.ts_recv, seq=excluded.seq",
                (last - len(rows),),
            )
        return int(last)

    def current_values(self) -> list[dict[str, Any]]:
        q = (
            "SELECT t.name, t.device, t.type, t.eng_unit, c.value, c.quality, c.ts, c.ts_recv, c.seq "
            "FROM tags t LEFT JOIN current_values c ON c.tag_id = t.id ORDER BY t.name"
        )
        out = []
        for name, device, type_, unit, value, quality, ts, ts_recv, seq in self.db.execute(q):
            out.append(
                {
                    "tag": name,
                    "device": device,
                    "type": type_,
                    "eng_unit": unit,
                    "value": decode_value(value, type_),
                    "quality": Quality(quality).label if quality is not None else "none",
                    "ts": ts,
                    "ts_recv": ts_recv,
                    "seq": seq,
                }
            )
        return out

    def history(
        self, tag: str, since: float | None = None, until: float | None = None, limit: int | None = None
    ) -> Iterator[dict[str, Any]]:
        tid = self.tag_id(tag)
        type_ = self.db.execute("SELECT type FROM tags WHERE id=?", (tid,)).fetchone()[0]
        q = "SELECT seq, ts, ts_recv, value, quality FROM samples WHERE ts >= ? AND ts < ? AND tag_id = ? ORDER BY ts, seq"
        args: list[Any] = [
            since if since is not None else -math.inf,
            until if until is not None else math.inf,
            tid,
        ]
        if limit:
            q += " LIMIT ?"
            args.append(limit)
        for seq, ts, ts_recv, value, quality in self.db.execute(q, args):
            yield {
                "seq": seq,
                "ts": ts,
                "ts_recv": ts_recv,
                "value": decode_value(value, type_),
                "quality": Quality(quality).label,
            }

    def tags(self) -> list[tuple[int, str, str]]:
        """(id, name, type) of every registered tag."""
        return [(int(i), str(n), str(t)) for i, n, t in self.db.execute("SELECT id, name, type FROM tags")]

    def count(self, stream: str) -> int:
        return int(self.db.execute(f"SELECT count(*) FROM {_stream(stream)}").fetchone()[0])

    def last_seq(self, stream: str) -> int:
        row = self.db.execute("SELECT seq FROM sqlite_sequence WHERE name=?", (_stream(stream),)).fetchone()
        return int(row[0]) if row else 0

    # ------------------------------------------------------------------ events and writes

    def append_event(
        self,
        kind: str,
        source: str,
        message: str,
        data: dict[str, Any] | None = None,
        ts: float | None = None,
    ) -> int:
        with self._tx(sync_full=True):
            cur = self.db.execute(
                "INSERT INTO events (ts, kind, source, message, data) VALUES (?, ?, ?, ?, ?)",
                (
                    ts if ts is not None else time.time(),
                    kind,
                    source,
                    message,
                    json.dumps(data) if data else None,
                ),
            )
        return int(cur.lastrowid or 0)

    def events(self, since_seq: int = 0, limit: int = 1000) -> list[dict[str, Any]]:
        rows = self.db.execute(
            "SELECT seq, ts, kind, source, message, data FROM events WHERE seq > ? ORDER BY seq LIMIT ?",
            (since_seq, limit),
        ).fetchall()
        return [
            {"seq": s, "ts": t, "kind": k, "source": src, "message": m, "data": json.loads(d) if d else None}
            for s, t, k, src, m, d in rows
        ]

    def record_write(
        self,
        tag: str,
        value: Any,
        requested_by: str,
        outcome: str,
        *,
        reason: str = "",
        ref_seq: int | None = None,
        error: str | None = None,
        ts: float | None = None,
    ) -> int:
        """Durably record a write request or its outcome (``synchronous=FULL``)."""
        with self._tx(sync_full=True):
            cur = self.db.execute(
                "INSERT INTO writes (ts, tag, value, requested_by, reason, outcome, ref_seq, error) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    ts if ts is not None else time.time(),
                    tag,
                    json.dumps(value),
                    requested_by,
                    reason,
                    outcome,
                    ref_seq,
                    error,
                ),
            )
        return int(cur.lastrowid or 0)

    def writes(self) -> list[dict[str, Any]]:
        cols = ("seq", "ts", "tag", "value", "requested_by", "reason", "outcome", "ref_seq", "error")
        rows = self.db.execute(f"SELECT {', '.join(cols)} FROM writes ORDER BY seq").fetchall()
        return [dict(zip(cols, r, strict=True)) | {"value": json.loads(r[3])} for r in rows]

    # ------------------------------------------------------------------ device and agent status

    def set_device_status(self, device: str, state: str, error: str | None, ts: float) -> None:
        with self._tx():
            self.db.execute(
                "INSERT INTO device_status (device, state, since, last_error, updated_at) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT(device) DO UPDATE SET since=CASE WHEN state=excluded.state THEN since ELSE excluded.since END, "
                "state=excluded.state, last_error=excluded.last_error, updated_at=excluded.updated_at",
                (device, state, ts, error, ts),
            )

    def device_status(self) -> dict[str, dict[str, Any]]:
        rows = self.db.execute(
            "SELECT device, state, since, last_error, updated_at FROM device_status"
        ).fetchall()
        return {
            d: {"state": s, "since": since, "last_error": e, "updated_at": u} for d, s, since, e, u in rows
        }

    def set_agent_status(self, values: dict[str, Any], ts: float | None = None) -> None:
        now = ts if ts is not None else time.time()
        with self._tx():
            self.db.executemany(
                "INSERT INTO agent_status (key, value, updated_at) VALUES (?, ?, ?) "
                "ON CONFLICT(key) DO UPDATE SET value=excluded.value, updated_at=excluded.updated_at",
                [(k, json.dumps(v), now) for k, v in values.items()],
            )

    def agent_status(self) -> dict[str, Any]:
        rows = self.db.execute("SELECT key, value, updated_at FROM agent_status").fetchall()
        return {k: {"value": json.loads(v), "updated_at": u} for k, v, u in rows}

    # ------------------------------------------------------------------ cursors and retention

    def cursor(self, stream: str) -> dict[str, int]:
        _stream(stream)
        row = self.db.execute(
            "SELECT sent_seq, acked_seq FROM stream_cursors WHERE stream=?", (stream,)
        ).fetchone()
        return {"sent_seq": row[0], "acked_seq": row[1]} if row else {"sent_seq": 0, "acked_seq": 0}

    def advance_cursor(
        self, stream: str, *, sent_seq: int | None = None, acked_seq: int | None = None
    ) -> None:
        """Move a stream's cursor forward (never backward)."""
        _stream(stream)
        now = time.time()
        with self._tx(sync_full=True):
            self.db.execute(
                "INSERT OR IGNORE INTO stream_cursors (stream, updated_at) VALUES (?, ?)", (stream, now)
            )
            if sent_seq is not None:
                self.db.execute(
                    "UPDATE stream_cursors SET sent_seq=max(sent_seq, ?), updated_at=? WHERE stream=?",
                    (sent_seq, now, stream),
                )
            if acked_seq is not None:
                self.db.execute(
                    "UPDATE stream_cursors SET acked_seq=max(acked_seq, ?), updated_at=? WHERE stream=?",
                    (acked_seq, now, stream),
                )

    def advance_cursors(self, cursors: dict[str, tuple[int, int]]) -> None:
        """Move several streams' (sent_seq, acked_seq) forward in one durable transaction."""
        now = time.time()
        with self._tx(sync_full=True):
            for stream, (sent, acked) in cursors.items():
                _stream(stream)
                self.db.execute(
                    "INSERT INTO stream_cursors (stream, sent_seq, acked_seq, updated_at) VALUES (?, ?, ?, ?) "
                    "ON CONFLICT(stream) DO UPDATE SET sent_seq = max(sent_seq, excluded.sent_seq), "
                    "acked_seq = max(acked_seq, excluded.acked_seq), updated_at = excluded.updated_at",
                    (stream, sent, acked, now),
                )

    def backlog(self) -> dict[str, int]:
        return {s: max(0, self.last_seq(s) - self.cursor(s)["acked_seq"]) for s in STREAMS}

    def apply_retention(
        self,
        *,
        max_age_s: float,
        max_bytes: int,
        now: float | None = None,
        chunk: int = 20_000,
        require_ack: bool = True,
        samples_held_after: int | None = None,
    ) -> dict[str, int]:
        """Delete acknowledged rows that are too old, then the oldest acknowledged samples
        while the file is larger than ``max_bytes``. Unacknowledged rows are never touched.
        ``require_ack=False`` (a line without uplink) treats every row as acknowledged.
        ``samples_held_after``: samples after this sequence are still owed to another
        consumer (the Sparkplug node's host): age retention keeps them; the size limit
        does not wait for it (a full disk would stop the line's own recording)."""
        now = now if now is not None else time.time()
        removed: dict[str, int] = {}

        def acked_of(stream: str) -> int:
            return self.cursor(stream)["acked_seq"] if require_ack else self.last_seq(stream)

        for stream, ts_col in PRUNABLE.items():
            acked = acked_of(stream)
            if stream == "samples" and samples_held_after is not None:
                acked = min(acked, samples_held_after)
            if acked <= 0:
                continue
            with self._tx():
                cur = self.db.execute(
                    f"DELETE FROM {stream} WHERE seq <= ? AND {ts_col} < ?", (acked, now - max_age_s)
                )
            removed[stream] = cur.rowcount
        acked = acked_of("samples")
        while acked > 0 and self.used_bytes() > max_bytes:
            with self._tx():
                cur = self.db.execute(
                    "DELETE FROM samples WHERE seq IN (SELECT seq FROM samples WHERE seq <= ? ORDER BY seq LIMIT ?)",
                    (acked, chunk),
                )
            if cur.rowcount == 0:
                break
            removed["samples"] = removed.get("samples", 0) + cur.rowcount
        return removed

    def used_bytes(self) -> int:
        """Bytes in use (pages not on the free list), the figure retention compares."""
        page_size = self.db.execute("PRAGMA page_size").fetchone()[0]
        pages = self.db.execute("PRAGMA page_count").fetchone()[0]
        free = self.db.execute("PRAGMA freelist_count").fetchone()[0]
        return int((pages - free) * page_size)

    def file_bytes(self) -> dict[str, int]:
        out = {}
        for suffix in ("", "-wal", "-shm"):
            p = Path(str(self.path) + suffix)
            out["db" + suffix.replace("-", "_")] = p.stat().st_size if p.exists() else 0
        return out

    def audit(
        self,
        *,
        who: str,
        action: str,
        entity: str,
        old: Any = None,
        new: Any = None,
        why: str = "",
        meaning: str | None = None,
        ts: float | None = None,
    ) -> int:
        """Append an audit entry; call inside :meth:`transaction` with the change it records.
        A read-only store (the operator terminal's) refuses without touching the key."""
        from edge.store import audit

        if self.readonly:
            raise StoreError(f"{self.path}: opened read-only; only the agent signs audit entries")
        if not hasattr(self, "_audit_key"):
            self._audit_key = audit.load_key(self.path)
            self._incarnation = self.incarnation()
        return audit.append(
            self.db,
            self._audit_key,
            incarnation=self._incarnation,
            who=who,
            action=action,
            entity=entity,
            old=old,
            new=new,
            why=why,
            meaning=meaning,
            ts=ts,
        )

    def integrity_check(self) -> str:
        return str(self.db.execute("PRAGMA integrity_check").fetchone()[0])


class _Tx:
    """``BEGIN IMMEDIATE`` … ``COMMIT`` under the store lock, optionally with synchronous=FULL.

    Re-entrant: inside an open transaction of the same thread it only joins it. SQLite's
    errors are raised as :class:`StoreError` naming the store, after the rollback."""

    def __init__(self, store: Store, sync_full: bool) -> None:
        self.store = store
        self.sync_full = sync_full
        self.outer = False

    def __enter__(self) -> None:
        st = self.store
        st._lock.acquire()
        if st._depth:
            st._depth += 1
            return
        try:
            if self.sync_full:
                st.db.execute("PRAGMA synchronous=FULL")
            st.db.execute("BEGIN IMMEDIATE")
        except BaseException as e:
            if self.sync_full:
                try:
                    st.db.execute("PRAGMA synchronous=NORMAL")
                except sqlite3.Error:
                    pass
            st._lock.release()
            if isinstance(e, sqlite3.Error):
                raise store_fault(e, st.path, "start a transaction in") from e
            raise
        st._depth = 1
        self.outer = True

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        st = self.store
        db = st.db
        try:
            if not self.outer:
                st._depth -= 1
                if isinstance(exc, sqlite3.Error):
                    raise store_fault(exc, st.path, "write to") from exc
                return
            st._depth = 0
            key = getattr(st, "_audit_key", None)
            committed = False
            try:
                try:
                    db.execute("ROLLBACK" if exc_type else "COMMIT")
                    committed = exc_type is None
                except sqlite3.Error as e:
                    # A failed COMMIT (disk full, I/O error) leaves the transaction open;
                    # roll it back so the next transaction can start.
                    if db.in_transaction:
                        db.execute("ROLLBACK")
                    raise store_fault(e, st.path, "commit to") from e
                finally:
                    if self.sync_full:
                        db.execute("PRAGMA synchronous=NORMAL")
            except sqlite3.Error as e:
                raise store_fault(e, st.path, "write to") from e
            finally:
                if key is not None and key.pending:
                    if committed:
                        _record_heads(st, key)
                    key.pending.clear()
            if isinstance(exc, sqlite3.Error):
                raise store_fault(exc, st.path, "write to") from exc
        finally:
            st._lock.release()


def _record_heads(st: Store, key: Any) -> None:
    """The audit chain's new head, outside the store (``audit.record_heads``); a failure
    to write it is logged, the committed change stands."""
    from edge.store import audit

    try:
        audit.record_heads(key)
    except OSError as e:
        import logging

        logging.getLogger("lineside.store").error(
            "%s: cannot record the audit chain's head outside the store: %s", st.path, e
        )


def _insert_rows(db: sqlite3.Connection, head: str, rows: list[tuple[Any, ...]]) -> None:
    """``head`` + VALUES for each row, in order, as few multi-row statements: sqlite3's
    executemany spends about a microsecond of its own on every row, three times what
    SQLite needs to insert it; one statement per 64 rows binds the same values."""
    width = len(rows[0])
    one = "(" + ", ".join("?" * width) + ")"
    i, n = 0, len(rows)
    for size in (64, 8):
        if n - i >= size:
            stmt = head + ", ".join([one] * size)
            while n - i >= size:
                db.execute(stmt, list(chain.from_iterable(rows[i : i + size])))
                i += size
    if i < n:
        db.executemany(head + one, rows[i:])


def _stream(name: str) -> str:
    if name not in STREAMS:
        raise StoreError(f"unknown stream {name!r} (known: {', '.join(STREAMS)})")
    return name


def decode_value(v: Any, type_: str) -> Any:
    if v is None:
        return None
    if type_ == "bool" and isinstance(v, int):
        return bool(v)
    if isinstance(v, str) and type_ != "string":
        if v.startswith("["):
            return json.loads(v)
        if v in ("nan", "inf", "-inf"):
            return float(v)
    return v
