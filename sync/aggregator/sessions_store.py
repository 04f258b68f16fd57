"""Sessions of the plant web view in the plant store (table ``web_sessions``, migration
``m010_web_sessions``): a restart of the web view keeps everyone logged in, and every
aggregator instance on one store (PostgreSQL) accepts the same session.

A row is keyed by the SHA-256 of the session token: the token itself (the cookie's
value) is never stored, so reading the table does not give a way in. The policy (idle
and absolute timeouts, roles) is ``sync.aggregator.web.auth``; this module only speaks
SQL.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sync.aggregator.store import AggregatorStore


def _write(store: AggregatorStore, sql: str, params: Sequence[Any]) -> int:
    """One statement under the connection's lock (the web view's handlers run in threads)."""
    with store.db.lock:
        return int(store.db.execute(sql, params).rowcount or 0)


_COLS = "token_hash, user_name, role, csrf, via, created, last_seen, expires"


@dataclass(frozen=True)
class SessionRow:
    token_hash: str
    user: str
    role: str
    csrf: str
    via: str
    created: float
    last_seen: float
    expires: float
    """The absolute end of the session (``created`` + the absolute timeout)."""


def add(store: AggregatorStore, row: SessionRow) -> None:
    _write(
        store,
        f"INSERT INTO web_sessions ({_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (row.token_hash, row.user, row.role, row.csrf, row.via, row.created, row.last_seen, row.expires),
    )


def get(store: AggregatorStore, token_hash: str) -> SessionRow | None:
    rows = store.query(f"SELECT {_COLS} FROM web_sessions WHERE token_hash = ?", (token_hash,))
    if not rows:
        return None
    h, user, role, csrf, via, created, last_seen, expires = rows[0]
    return SessionRow(h, user, role, csrf, via, float(created), float(last_seen), float(expires))


def touch(store: AggregatorStore, token_hash: str, now: float) -> None:
    """The session was used at ``now`` (never moves its last use backwards)."""
    _write(
        store,
        "UPDATE web_sessions SET last_seen = ? WHERE token_hash = ? AND last_seen < ?",
        (now, token_hash, now),
    )


def delete(store: AggregatorStore, token_hash: str) -> None:
    _write(store, "DELETE FROM web_sessions WHERE token_hash = ?", (token_hash,))


def purge_expired(store: AggregatorStore, now: float, idle_s: float) -> int:
    """Delete the sessions idle longer than ``idle_s`` or past their absolute end."""
    return _write(store, "DELETE FROM web_sessions WHERE last_seen < ? OR expires <= ?", (now - idle_s, now))


def holders(store: AggregatorStore) -> list[tuple[str, str, str]]:
    """(user, role, via) of every stored session, each combination once."""
    return [
        (str(u), str(r), str(v))
        for u, r, v in store.query("SELECT DISTINCT user_name, role, via FROM web_sessions")
    ]


def delete_holder(store: AggregatorStore, user: str, role: str, via: str) -> int:
    """Delete every session of ``user`` with ``role`` that came in ``via``."""
    return _write(
        store, "DELETE FROM web_sessions WHERE user_name = ? AND role = ? AND via = ?", (user, role, via)
    )


def count(store: AggregatorStore) -> int:
    return int(store.query("SELECT count(*) FROM web_sessions")[0][0])
