"""Plant users, roles, sessions and CSRF tokens of the web view (no web framework here).

* Users, roles, password hashing and checking are ``sync.aggregator.users``, shared
  with the ``lineside aggregator`` commands (one user list, one role map).
* A session is a random token in an HttpOnly, SameSite=Strict cookie; the plant store
  keeps the session (the token's SHA-256, user, role, its CSRF token, last use and
  absolute end: ``sync.aggregator.sessions_store``), so a restart logs nobody out, two
  aggregator instances on one store share sessions, and the table holds nothing that
  would log anyone in.
* CSRF: every state-changing request carries the session's token (a hidden form field
  or the ``X-CSRF-Token`` header), compared in constant time (the synchroniser token
  pattern, OWASP); SameSite=Strict is the second fence.
* Read-only by default: a role holds only the permissions listed in :data:`ROLES`, and
  ``viewer`` holds none but ``view``.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass

from sync.aggregator import sessions_store
from sync.aggregator.store import AggregatorStore
from sync.aggregator.users import (
    PERMISSION_TEXT,
    ROLES,
    check_password,
    find_user,
    hash_password,
    verify_password,
)
from sync.aggregator.web.config import WebCfg, WebUser

__all__ = [
    "PERMISSION_TEXT",
    "ROLES",
    "Session",
    "Sessions",
    "check_password",
    "csrf_ok",
    "hash_password",
    "token_hash",
]


@dataclass
class Session:
    token: str
    user: str
    role: str
    csrf: str
    created: float
    last_seen: float
    via: str = "password"

    @property
    def permissions(self) -> frozenset[str]:
        return ROLES.get(self.role, frozenset())

    def may(self, permission: str) -> bool:
        return permission in self.permissions


def token_hash(token: str) -> str:
    """What the store keeps of a session token: its SHA-256 (the token is 256 random bits,
    so a fast hash is enough; nobody can guess one from the table)."""
    return hashlib.sha256(token.encode()).hexdigest()


class Sessions:
    """The sessions of the web view, kept in the plant store (``web_sessions``), so that
    a restart logs nobody out and every aggregator instance on the store accepts them.

    A session ends after ``web.session_idle_s`` without a request, at
    ``web.session_absolute_s`` after the login whatever happens, at logout, and as soon
    as the config no longer gives its user that role (a role change or the user
    removed): it is then deleted from the store and refused."""

    def __init__(self, cfg: WebCfg, store: AggregatorStore) -> None:
        self.cfg = cfg
        self.store = store
        #: How stale a session's last use may be in the store before a request writes
        #: it again (a write per request would cost every page a round trip).
        self.touch_s = min(60.0, cfg.session_idle_s / 4)

    def user(self, name: str) -> WebUser | None:
        return find_user(self.cfg.users, name)

    def role_of(self, user: str, via: str) -> str | None:
        """The role the config gives ``user`` now (None: they may not have a session)."""
        u = self.user(user)
        if u is not None:
            return u.role
        return self.cfg.proxy_default_role if via == "proxy" and self.cfg.proxy_user_header else None

    def login(self, name: str, password: str, *, now: float | None = None) -> Session | None:
        """A new session when the password is the user's; None otherwise (same cost)."""
        u = verify_password(self.cfg.users, name, password)
        if u is None:
            return None
        return self._new(u.name, u.role, now, "password")

    def proxy_login(self, name: str, *, now: float | None = None) -> Session:
        """A session for a user the reverse proxy authenticated (single sign-on)."""
        u = self.user(name)
        return self._new(u.name if u else name, u.role if u else self.cfg.proxy_default_role, now, "proxy")

    def _new(self, user: str, role: str, now: float | None, via: str) -> Session:
        now = now if now is not None else time.time()
        s = Session(secrets.token_urlsafe(32), user, role, secrets.token_urlsafe(32), now, now, via)
        sessions_store.purge_expired(self.store, now, self.cfg.session_idle_s)
        sessions_store.add(
            self.store,
            sessions_store.SessionRow(
                token_hash(s.token), user, role, s.csrf, via, now, now, now + self.cfg.session_absolute_s
            ),
        )
        return s

    def get(self, token: str | None, *, now: float | None = None) -> Session | None:
        """The live session of ``token``; None (and the stored session deleted) when it
        is unknown, idle too long, past its absolute end or its role is no longer the
        user's."""
        if not token or len(token) > 200:
            return None
        now = now if now is not None else time.time()
        h = token_hash(token)
        row = sessions_store.get(self.store, h)
        if row is None:
            return None
        if (
            now - row.last_seen > self.cfg.session_idle_s
            or now >= row.expires
            or self.role_of(row.user, row.via) != row.role
        ):
            sessions_store.delete(self.store, h)
            return None
        if now - row.last_seen >= self.touch_s:
            sessions_store.touch(self.store, h, now)
        return Session(token, row.user, row.role, row.csrf, row.created, now, row.via)

    def logout(self, token: str | None) -> None:
        if token:
            sessions_store.delete(self.store, token_hash(token))

    def revoke_stale(self, *, now: float | None = None) -> int:
        """Delete the expired sessions and those whose user the config no longer gives
        their role (at start: a role change or a removed user ends their sessions at once,
        not only when they next come)."""
        now = now if now is not None else time.time()
        n = sessions_store.purge_expired(self.store, now, self.cfg.session_idle_s)
        for user, role, via in sessions_store.holders(self.store):
            if self.role_of(user, via) != role:
                n += sessions_store.delete_holder(self.store, user, role, via)
        return n


def csrf_ok(session: Session | None, token: str | None) -> bool:
    """True when ``token`` is this session's CSRF token."""
    if session is None or not token:
        return False
    return hmac.compare_digest(session.csrf.encode(), token.encode())
