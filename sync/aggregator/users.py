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
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, TypeVar

from edge.config.operators import check_token, parse_hash
from edge.core.errors import LinesideError

if TYPE_CHECKING:
    from sync.aggregator.config import AggregatorConfig

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


def authenticate(cfg: AggregatorConfig, name: str, password: str, *, field: str = "--user") -> PlantUser:
    """The plant user ``name`` when ``password`` is theirs; refused otherwise."""
    u = verify_password(_users(cfg, field), name, password)
    if u is None:
        raise PlantAuthError(f"{field}: unknown plant user or wrong password")
    return PlantUser(u.name, u.role, "password", signed=True)


def authenticate_token(
    cfg: AggregatorConfig, name: str, token: str, *, field: str = "--credential"
) -> PlantUser:
    """The plant user of a credential file (name and token); refused unless the token
    hashes to their ``token_hash``."""
    u = find_user(_users(cfg, field), name)
    if u is None or not u.token_hash or not check_token(token, u.token_hash):
        raise PlantAuthError(
            f"{field}: the credential is not a plant user's current one (web.users[].token_hash)"
        )
    return PlantUser(u.name, u.role, "credential")


def authorize(user: PlantUser, permission: str, *, field: str = "--user") -> None:
    """Refuse (exit 2) unless the user's role holds ``permission``."""
    if not user.may(permission):
        raise PlantAuthError(
            f"{field}: {user.name} (role {user.role}) may not {PERMISSION_TEXT.get(permission, permission)}"
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
    """Record what a plant user did, in the audit log the web view keeps (``web_audit``)."""
    from sync.aggregator.store import open_store

    store = open_store(cfg)
    try:
        store.web_audit(
            now if now is not None else time.time(),
            user.name,
            user.role,
            action,
            entity,
            detail,
            meaning,
            address,
        )
    finally:
        store.close()
