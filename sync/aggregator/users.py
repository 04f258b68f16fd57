"""Plant users: who may act on the plant (aggregator) and what each role allows.

One user list and one role → permission map for every way into the plant: the web view
(``sync.aggregator.web``) logs users in with these, and every state-changing
``lineside aggregator …`` command runs as one of them (``edge.cli.plant_auth``). The
users are the aggregator config's ``web.users`` (name, role, password hash, optionally a
credential-file token hash); what they did goes to the ``web_audit`` table, whichever
way they came in.

* Passwords are PBKDF2-HMAC-SHA256 hashes in the format of the line's PIN hashes
  (``pbkdf2_sha256$ITERATIONS$SALT$HASH``). An unknown name costs as long as a wrong
  password, so names cannot be probed by timing.
* A script's credential file holds the user's name and a random token; the config
  keeps only the token's SHA-256 (``token_hash``), as on the line. A credential
  identifies but never signs: an approval asks for the password in addition.
* Read-only by default: a role holds only the permissions listed in :data:`ROLES`.
* Lockout (:func:`guarded_login`, the one rule for the web view and the command line):
  every failed login is an audit entry (``login.failed``, the name tried, never the
  password); ``lockout.max_failures`` failures of a name within ``lockout.window_s``
  (and since its last success) lock it for ``lockout.lock_s`` from the last of them.
  While locked the password is not checked; the attempt is audited (``login.locked``)
  and refused with the time the lock ends.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Protocol, TypeVar

from edge.config.operators import check_token, parse_hash
from edge.core.errors import LinesideError

if TYPE_CHECKING:
    from sync.aggregator.config import AggregatorConfig, LockoutCfg
    from sync.aggregator.store import AggregatorStore

ITERATIONS = 200_000

#: What each role may do. Read-only by default: only these permissions change anything.
ROLES: dict[str, frozenset[str]] = {
    "viewer": frozenset({"view"}),
    "planner": frozenset({"view", "orders", "plan", "materials"}),
    "quality": frozenset({"view", "quality"}),
    "maintenance": frozenset({"view", "maintenance"}),
    "manager": frozenset({"view", "orders", "plan", "materials", "quality", "maintenance"}),
    "admin": frozenset({"view", "orders", "plan", "materials", "quality", "maintenance", "admin"}),
}

PERMISSION_TEXT = {
    "view": "see the plant view",
    "orders": "release, cancel and import work orders",
    "plan": "plan: solve, approve and release plans, import orders and routings, record replan events",
    "materials": "set the material master and BOMs and receive lots",
    "quality": "act on quality (block, release or recall lots)",
    "maintenance": "act on maintenance (offer maintenance windows)",
    "admin": "read the audit log and push master data (products, reasons, operators, materials) to the lines",
}


class PlantAuthError(LinesideError):
    """Not authenticated as a plant user, or outside the user's role (exit 2, nothing done)."""

    exit_code = 2


class Locked(PlantAuthError):
    """The user is locked after too many failed logins (exit 2); ``until`` when it ends."""

    def __init__(self, message: str, until: float) -> None:
        super().__init__(message)
        self.until = until


class UserEntry(Protocol):
    """A ``web.users`` entry (``sync.aggregator.web.config.WebUser``)."""

    @property
    def name(self) -> str: ...
    @property
    def role(self) -> str: ...
    @property
    def password_hash(self) -> str | None: ...
    @property
    def token_hash(self) -> str | None: ...


U = TypeVar("U", bound=UserEntry)


@dataclass(frozen=True)
class PlantUser:
    """An authenticated plant user (``via``: password, credential, proxy)."""

    name: str
    role: str
    via: str
    signed: bool = False
    """The password was given for this action (an approval is signed with it)."""

    @property
    def permissions(self) -> frozenset[str]:
        return ROLES.get(self.role, frozenset())

    def may(self, permission: str) -> bool:
        return permission in self.permissions


def hash_password(password: str, *, salt: bytes | None = None, iterations: int = ITERATIONS) -> str:
    if len(password) < 8:
        raise ValueError("a password has at least 8 characters")
    salt = salt if salt is not None else secrets.token_bytes(16)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    return f"pbkdf2_sha256${iterations}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def check_password(password: str, password_hash: str) -> bool:
    iterations, salt, digest = parse_hash(password_hash)
    return hmac.compare_digest(hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations), digest)


@functools.cache
def _dummy() -> str:
    """A hash to compare against for unknown users, so that a wrong name costs as long as
    a wrong password (made on first use: importing this module costs nothing)."""
    return hash_password("not-a-password", salt=b"0" * 16)


def find_user(users: Sequence[U], name: str) -> U | None:
    """The entry named ``name`` (case-insensitive), looked up in constant time per entry."""
    found = None
    for u in users:
        if hmac.compare_digest(u.name.lower().encode(), name.strip().lower().encode()):
            found = u
    return found


def verify_password(users: Sequence[U], name: str, password: str) -> U | None:
    """The user when ``password`` is theirs; None otherwise (same cost either way)."""
    u = find_user(users, name)
    ok = check_password(password, u.password_hash if u and u.password_hash else _dummy())
    return u if (u and u.password_hash and ok) else None


def _users(cfg: AggregatorConfig, field: str) -> Sequence[UserEntry]:
    if cfg.web is None or not cfg.web.users:
        raise PlantAuthError(
            f"{field}: this aggregator config has no plant users (web.users); add them with their roles "
            "(see the README's Plant users)"
        )
    return cfg.web.users


def _when(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def locked_until(store: AggregatorStore, cfg: LockoutCfg, who: str, now: float) -> float | None:
    """When the lock of ``who`` ends, if they are locked now: the end of the latest run
    of ``max_failures`` failed logins within ``window_s`` (after their last success), plus
    ``lock_s``."""
    from sync.aggregator import users_store

    since = max(now - cfg.window_s - cfg.lock_s, users_store.last_success(store, who) or 0.0)
    f = users_store.failures(store, who, since)
    n = cfg.max_failures
    until = max(
        (f[i] + cfg.lock_s for i in range(n - 1, len(f)) if f[i] - f[i - n + 1] <= cfg.window_s), default=0.0
    )
    return until if until > now else None


T = TypeVar("T")


def guarded_login(
    cfg: AggregatorConfig,
    store: AggregatorStore,
    users: Sequence[UserEntry],
    name: str,
    attempt: Callable[[], T | None],
    *,
    field: str,
    address: str,
    now: float | None = None,
) -> T:
    """Run ``attempt`` (a password or token check: the user, or None) under the lockout:
    refused with :class:`Locked` while ``name`` is locked (the attempt not made); a
    failure is audited under the name tried and refused; the result otherwise. The one
    rule for every way into the plant."""
    from sync.aggregator import users_store

    lock = cfg.lockout
    now = now if now is not None else time.time()
    u = find_user(users, name)
    who = u.name if u is not None else name.strip()[:64]
    role = u.role if u is not None else ""
    until = locked_until(store, lock, who, now)
    if until is not None:
        with store.tx():
            store.web_audit(
                now, who, role, users_store.LOCKED, who, f"locked until {_when(until)}", "refused", address
            )
        raise Locked(
            f"{field}: plant user {who} is locked after {lock.max_failures} failed logins within "
            f"{lock.window_s:g} s; the lock ends at {_when(until)} (in {(until - now) / 60:.0f} min); "
            "an admin can see the attempts in the audit log",
            until,
        )
    result = attempt()
    if result is not None:
        return result
    with store.tx():
        store.web_audit(
            now,
            who,
            role,
            users_store.FAILED,
            who,
            f"{field}: wrong password or credential",
            "refused",
            address,
        )
    until = locked_until(store, lock, who, now)
    if until is not None:
        raise Locked(
            f"{field}: unknown plant user or wrong password; plant user {who} is now locked after "
            f"{lock.max_failures} failed logins, until {_when(until)}",
            until,
        )
    raise PlantAuthError(f"{field}: unknown plant user or wrong password")


def _guarded(
    cfg: AggregatorConfig,
    name: str,
    attempt: Callable[[Sequence[UserEntry]], T | None],
    *,
    field: str,
    address: str,
) -> T:
    from sync.aggregator.store import open_store

    users = _users(cfg, field)
    store = open_store(cfg)
    try:
        return guarded_login(cfg, store, users, name, lambda: attempt(users), field=field, address=address)
    finally:
        store.close()


def authenticate(cfg: AggregatorConfig, name: str, password: str, *, field: str = "--user") -> PlantUser:
    """The plant user ``name`` when ``password`` is theirs; refused otherwise (audited,
    and locked after too many failures)."""
    u = _guarded(
        cfg,
        name,
        lambda users: verify_password(users, name, password),
        field=field,
        address="command line (password)",
    )
    return PlantUser(u.name, u.role, "password", signed=True)


def authenticate_token(
    cfg: AggregatorConfig, name: str, token: str, *, field: str = "--credential"
) -> PlantUser:
    """The plant user of a credential file (name and token); refused unless the token
    hashes to their ``token_hash`` (audited, and locked after too many failures)."""

    def check(users: Sequence[UserEntry]) -> UserEntry | None:
        u = find_user(users, name)
        return u if u is not None and u.token_hash and check_token(token, u.token_hash) else None

    try:
        u = _guarded(cfg, name, check, field=field, address="command line (credential)")
    except Locked:
        raise
    except PlantAuthError:
        raise PlantAuthError(
            f"{field}: the credential is not a plant user's current one (web.users[].token_hash)"
        ) from None
    return PlantUser(u.name, u.role, "credential")


def authorize(user: PlantUser, permission: str, *, field: str = "--user") -> None:
    """Refuse (exit 2) unless the user's role holds ``permission``."""
    if not user.may(permission):
        raise PlantAuthError(
            f"{field}: {user.name} (role {user.role}) may not {PERMISSION_TEXT.get(permission, permission)}"
        )


@dataclass(frozen=True)
class AuditNote:
    """An audit entry a service writes in the same transaction as the action it records
    (``entity`` and ``detail`` completed by the service when it knows them: a plan's id,
    the commands queued)."""

    user: PlantUser
    action: str
    entity: str = ""
    detail: str = ""
    meaning: str = "performed"
    address: str = "command line"

    def write(
        self, store: AggregatorStore, now: float, *, entity: str | None = None, detail: str | None = None
    ) -> None:
        """Inside the action's transaction."""
        store.web_audit(
            now,
            self.user.name,
            self.user.role,
            self.action,
            self.entity if entity is None else entity,
            self.detail if detail is None else detail,
            self.meaning,
            self.address,
        )


def audit(
    cfg: AggregatorConfig,
    user: PlantUser,
    action: str,
    entity: str,
    detail: str = "",
    *,
    meaning: str = "performed",
    address: str = "command line",
    now: float | None = None,
) -> None:
    """Record what a plant user did, in the audit log the web view keeps (``web_audit``),
    after the action (for actions whose service does not take an :class:`AuditNote`)."""
    from sync.aggregator.store import open_store

    store = open_store(cfg)
    try:
        with store.tx():
            AuditNote(user, action, entity, detail, meaning, address).write(
                store, now if now is not None else time.time()
            )
    finally:
        store.close()
