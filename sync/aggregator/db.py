"""The plant database connection, one API over two engines: SQLite (a file) and
PostgreSQL (psycopg 3, a ``postgresql://`` URL). Every dialect difference lives here:
connecting, placeholders, DDL types, transactions and savepoints, row locks, the
migration lock and the table catalog. The store modules write portable SQL with ``?``
placeholders and ``{NAME}`` DDL types.

A PostgreSQL connection that is lost (the server restarted, the backend terminated, the
network gone) is opened again at the start of the next unit of work — a transaction or a
statement outside one — never in the middle of a transaction: the statement that met the
loss fails, and the caller runs its whole unit again (see :meth:`Database.lost`).
TCP keepalives and a TCP user timeout (unless the URL sets its own) make a silent network
loss an error within about a minute rather than a statement that hangs for hours.
"""

from __future__ import annotations

import logging
import re
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

from edge.core.errors import StoreError, StoreUnusable
from edge.store.db import store_fault

log = logging.getLogger("lineside.aggregator.db")

Dialect = Literal["sqlite", "postgres"]

#: libpq settings for the plant connection unless its URL sets them: a connection attempt
#: gives up after 10 s; an idle connection whose peer vanished is noticed within a minute
#: (keepalives), a statement whose data goes unacknowledged for 30 s fails (TCP user timeout).
PG_CONNECT_DEFAULTS: dict[str, str] = {
    "connect_timeout": "10",
    "keepalives": "1",
    "keepalives_idle": "30",
    "keepalives_interval": "10",
    "keepalives_count": "3",
    "tcp_user_timeout": "30000",
}

#: DDL words that differ between the engines, written ``{NAME}`` in the store's DDL.
DDL_TYPES: dict[Dialect, dict[str, str]] = {
    "sqlite": {
        "WITHOUT_ROWID": "WITHOUT ROWID",
        "SERIAL": "INTEGER PRIMARY KEY AUTOINCREMENT",
        "BLOB": "BLOB",
    },
    "postgres": {"WITHOUT_ROWID": "", "SERIAL": "BIGSERIAL PRIMARY KEY", "BLOB": "BYTEA"},
}
#: Any constant: serialises migrations of aggregator instances starting together.
PG_MIGRATION_LOCK = 0x4C494E45  # "LINE"

_PLACEHOLDER = re.compile(r"\?")


def is_postgres_url(target: str) -> bool:
    return target.startswith(("postgresql://", "postgres://"))


def redact(text: str, target: str) -> str:
    """``text`` without the password of the connection URL ``target`` (for logs)."""
    if not is_postgres_url(target):
        return text
    from urllib.parse import unquote, urlsplit

    try:
        password = urlsplit(target).password
    except ValueError:
        return text
    text = text.replace(target, "(the plant store URL)")
    for secret in {password, unquote(password)} if password else ():
        text = text.replace(secret, "***")
    return text


def transient(e: BaseException) -> bool:
    """Whether ``e`` says "run the transaction again" rather than "this is wrong": a
    deadlock or serialization failure (SQLSTATE class 40), a lock not available (55P03),
    SQLite's busy database. Several aggregator instances on one PostgreSQL store meet
    these; the data is fine and a retry commits it."""
    state = getattr(e, "sqlstate", None)
    if isinstance(state, str):
        return state.startswith("40") or state == "55P03"
    return isinstance(e, sqlite3.OperationalError) and "locked" in str(e)


class Database:
    """One connection (autocommit outside :meth:`tx`), serialised by a lock per process;
    across processes the engines' own locks serialise writers."""

    def __init__(self, target: str | Path) -> None:
        self.target = str(target)
        self.lock = threading.RLock()
        self._pg_sql: dict[str, str] = {}
        self._depth = 0  # transactions open (a lost connection is not replaced inside one)
        self._closed = False  # closed by :meth:`close` (never opened again)
        #: Times a lost PostgreSQL connection was opened again.
        self.reconnects = 0
        self.conn: Any
        if is_postgres_url(self.target):
            self.dialect: Dialect = "postgres"
            self.conn = self._first_connect()
        else:
            self.dialect = "sqlite"
            path = Path(self.target)
            if path.exists() and not path.is_file():
                raise StoreUnusable(
                    f"{path}: not a file (the plant store is one SQLite file): check store.path"
                )
            path.parent.mkdir(parents=True, exist_ok=True)
            try:
                self.conn = sqlite3.connect(
                    self.target, isolation_level=None, check_same_thread=False, timeout=30
                )
                self.conn.execute("PRAGMA journal_mode=WAL")
                self.conn.execute("PRAGMA synchronous=NORMAL")
                self.conn.execute("PRAGMA busy_timeout=30000")
                self.conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
            except sqlite3.Error as e:
                # A damaged or inaccessible file: exit 2 naming it and what to do (no restart).
                raise store_fault(
                    e,
                    path,
                    "open",
                    damaged="Stop the aggregator, move the file aside together with its -wal and -shm "
                    "files, then restore a backup (a new, empty file starts the plant's history again)",
                ) from None

    # ------------------------------------------------------------------ connection

    def _pg_connect(self) -> Any:
        import psycopg
        from psycopg.conninfo import conninfo_to_dict, make_conninfo

        given = conninfo_to_dict(self.target)
        extra = {k: v for k, v in PG_CONNECT_DEFAULTS.items() if k not in given}
        return psycopg.connect(make_conninfo(self.target, **extra), autocommit=True)

    def _first_connect(self) -> Any:
        """The first connection, with a message for people: wrong credentials or an unknown
        database are the config's (exit 2: a restart does not help); a server that does not
        answer yet is a fault (exit 1: systemd starts the aggregator again)."""
        import psycopg

        try:
            return self._pg_connect()
        except psycopg.OperationalError as e:
            why = redact(" ".join(str(e).split()) or type(e).__name__, self.target)
            refused = ("authentication failed", "does not exist", "no pg_hba.conf entry", "permission denied")
            if (getattr(e, "sqlstate", None) or "").startswith(("28", "3D")) or any(
                r in why for r in refused
            ):
                raise StoreUnusable(f"store.url: PostgreSQL refused the connection: {why}") from None
            raise StoreError(f"plant store: PostgreSQL does not answer: {why}") from None

    def broken(self) -> bool:
        """The PostgreSQL connection is gone (closed by the server or the network)."""
        return self.dialect == "postgres" and bool(self.conn.closed or self.conn.broken)

    def lost(self, e: BaseException) -> bool:
        """Whether ``e`` came of losing the connection (PostgreSQL): nothing of the
        transaction it interrupted is committed — unless the loss hit the COMMIT itself,
        so the unit of work must be one that may run twice — and the next unit of work
        opens a new connection."""
        if self.dialect != "postgres" or self._closed:
            return False
        if self.broken():
            return True
        # Another thread may have opened the new connection already: judge ``e`` itself.
        import psycopg

        state = getattr(e, "sqlstate", None)
        return isinstance(e, (psycopg.OperationalError, psycopg.InterfaceError)) and (
            state is None or state.startswith(("08", "57P"))
        )

    def _ensure(self) -> None:
        """Before a unit of work: a lost connection is opened again (never inside a
        transaction). Raises psycopg's OperationalError while the server is unreachable."""
        if self._depth or self._closed or not self.broken():
            return
        old = self.conn
        self.conn = self._pg_connect()
        self.reconnects += 1
        try:
            old.close()
        except Exception:  # already gone
            pass
        log.info("plant store: opened a new PostgreSQL connection (the previous one was lost)")

    def reconnect(self) -> None:
        """Open a new connection now if the current one was lost (waits for a running
        transaction of another thread). Raises while the server is unreachable."""
        with self.lock:
            self._ensure()

    @property
    def name(self) -> str:
        """How logs name the database (no credentials)."""
        return "PostgreSQL" if self.dialect == "postgres" else self.target

    # ------------------------------------------------------------------ SQL

    def sql(self, sql: str) -> str:
        """``?`` placeholders in the engine's style."""
        if self.dialect == "sqlite":
            return sql
        out = self._pg_sql.get(sql)
        if out is None:
            out = self._pg_sql[sql] = _PLACEHOLDER.sub("%s", sql)
        return out

    def ddl(self, sql: str) -> str:
        """DDL with ``{NAME}`` types in the engine's words."""
        for k, v in DDL_TYPES[self.dialect].items():
            sql = sql.replace("{" + k + "}", v)
        return sql

    @property
    def for_update(self) -> str:
        """Suffix of a SELECT that locks the rows it reads until the transaction ends
        (SQLite's ``BEGIN IMMEDIATE`` already holds the write lock)."""
        return " FOR UPDATE" if self.dialect == "postgres" else ""

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        if not self._depth:
            with self.lock:
                self._ensure()
        return self.conn.execute(self.sql(sql), params)

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        if self.dialect == "postgres":
            if not self._depth:
                with self.lock:
                    self._ensure()
            with self.conn.cursor() as cur:
                cur.executemany(self.sql(sql), list(rows))
        else:
            self.conn.executemany(sql, rows)

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self.lock:
            return list(self.execute(sql, params).fetchall())

    # ------------------------------------------------------------------ transactions

    @contextmanager
    def tx(self) -> Iterator[None]:
        """One transaction: committed on success, rolled back on any error."""
        with self.lock:
            if self.dialect == "postgres":
                self._ensure()
                self._depth += 1
                try:
                    with self.conn.transaction():
                        yield
                finally:
                    self._depth -= 1
                return
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                yield
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
            self.conn.execute("COMMIT")

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        """Inside :meth:`tx`: undo only this part if it fails."""
        if self.dialect == "postgres":
            with self.conn.transaction():
                yield
            return
        self.conn.execute("SAVEPOINT part")
        try:
            yield
        except BaseException:
            self.conn.execute("ROLLBACK TO part")
            self.conn.execute("RELEASE part")
            raise
        self.conn.execute("RELEASE part")

    @contextmanager
    def migration_lock(self) -> Iterator[None]:
        """Held while migrations run, so instances starting together apply each once.
        (SQLite: each migration's ``BEGIN IMMEDIATE`` is enough.)"""
        with self.lock:
            if self.dialect == "sqlite":
                yield
                return
            self._ensure()
            self.conn.execute("SELECT pg_advisory_lock(%s)", (PG_MIGRATION_LOCK,))
            try:
                yield
            finally:
                self.conn.execute("SELECT pg_advisory_unlock(%s)", (PG_MIGRATION_LOCK,))

    # ------------------------------------------------------------------ catalog

    def tables(self) -> list[str]:
        if self.dialect == "postgres":
            sql = "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() ORDER BY tablename"
        else:
            sql = "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name"
        return [r[0] for r in self.query(sql)]

    def indexes(self, table: str) -> list[str]:
        if self.dialect == "postgres":
            sql = "SELECT indexname FROM pg_indexes WHERE schemaname = current_schema() AND tablename = ?"
        else:
            sql = "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = ?"
        return sorted(r[0] for r in self.query(sql, (table,)))

    def close(self) -> None:
        with self.lock:
            self._closed = True
            self.conn.close()
