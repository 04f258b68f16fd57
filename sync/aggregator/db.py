"""The plant database connection, one API over two engines: SQLite (a file) and
PostgreSQL (psycopg 3, a ``postgresql://`` URL). Every dialect difference lives here:
connecting, placeholders, DDL types, transactions and savepoints, row locks, the
migration lock and the table catalog. The store modules write portable SQL with ``?``
placeholders and ``{NAME}`` DDL types.
"""

from __future__ import annotations

import re
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

from edge.core.errors import StoreUnusable
from edge.store.db import store_fault

Dialect = Literal["sqlite", "postgres"]

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
        self.conn: Any
        if is_postgres_url(self.target):
            import psycopg

            self.dialect: Dialect = "postgres"
            self.conn = psycopg.connect(self.target, autocommit=True)
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
        return self.conn.execute(self.sql(sql), params)

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        if self.dialect == "postgres":
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
                with self.conn.transaction():
                    yield
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
            self.conn.close()
