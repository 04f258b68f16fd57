"""Plant users, roles, sessions and CSRF tokens of the web view (no web framework here).

* Users, roles, password hashing and checking are ``sync.aggregator.users``, shared
  with the ``lineside aggregator`` commands (one user list, one role map).
* A session is a random token in an HttpOnly, SameSite=Strict cookie; the server keeps
  the session (user, role, its CSRF token, last use) in memory, so a restart logs
  everyone out and nothing secret is in the cookie.
* CSRF: every state-changing request carries the session's token (a hidden form field
  or the ``X-CSRF-Token`` header), compared in constant time (the synchroniser token
  pattern, OWASP); SameSite=Strict is the second fence.
* Read-only by default: a role holds only the permissions listed in :data:`ROLES`, and
  ``viewer`` holds none but ``view``.
"""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from dataclasses import dataclass, field

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


@dataclass
class Sessions:
    """The live sessions of one web server (in memory)."""

    cfg: WebCfg
    _by_token: dict[str, Session] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def user(self, name: str) -> WebUser | None:
        return find_user(self.cfg.users, name)

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
        with self._lock:
            self._expire(now)
            self._by_token[s.token] = s
        return s

    def get(self, token: str | None, *, now: float | None = None) -> Session | None:
        if not token:
            return None
        now = now if now is not None else time.time()
        with self._lock:
            s = self._by_token.get(token)
            if s is None:
                return None
            if now - s.last_seen > self.cfg.session_idle_s:
                del self._by_token[token]
                return None
            s.last_seen = now
            return s

    def logout(self, token: str | None) -> None:
        with self._lock:
            self._by_token.pop(token or "", None)

    def _expire(self, now: float) -> None:
        for t in [t for t, s in self._by_token.items() if now - s.last_seen > self.cfg.session_idle_s]:
            del self._by_token[t]


def csrf_ok(session: Session | None, token: str | None) -> bool:
    """True when ``token`` is this session's CSRF token."""
    if session is None or not token:
        return False
    return hmac.compare_digest(session.csrf.encode(), token.encode())
