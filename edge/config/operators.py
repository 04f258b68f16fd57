"""Operators, roles and the operator terminal's settings; PIN hashing and login (pure).

Operators are listed in the line config with a badge number, a name, a role and
optionally a PIN hash (never a PIN). They log in at the terminal with the badge number
(typed or scanned) or with their PIN. A role is a set of permissions; the defaults below
fit most lines and a config may redefine or add roles.

PIN hashes are PBKDF2-HMAC-SHA256 (``pbkdf2_sha256$ITERATIONS$SALT$HASH``, base64).
``lineside operator hash-pin`` reuses the salt already in the config, so a PIN typed at
the terminal costs one hash per distinct salt, and two operators with the same PIN are
caught when the config is loaded.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from typing import Annotated, Any, Literal

from pydantic import Field

from edge.config.base import Model

Permission = Literal[
    "run_orders",  # start, pause, resume, complete orders; changeovers
    "explain_downtime",  # assign reasons, split stops
    "book_scrap",  # scrap with a reason
    "adjust_counts",  # correct good counts (remove or add parts)
    "inspect",  # record and sign inspections, enter manual measurements
    "ack_alarms",  # acknowledge SPC alarms (releases the line)
    "request_maintenance",  # raise a maintenance request
    "approve",  # approvals: request new SPC limits
]
PERMISSIONS: tuple[str, ...] = Permission.__args__  # type: ignore[attr-defined]

_BASIC = ["run_orders", "explain_downtime", "book_scrap", "inspect", "request_maintenance"]
DEFAULT_ROLES: dict[str, list[str]] = {
    "operator": _BASIC,
    "maintenance": ["explain_downtime", "request_maintenance"],
    "team_lead": [*_BASIC, "adjust_counts", "ack_alarms"],
    "quality": [*_BASIC, "ack_alarms", "approve"],
    "supervisor": list(PERMISSIONS),
}

PIN_RE = re.compile(r"^[0-9]{4,12}$")
HASH_RE = re.compile(r"^pbkdf2_sha256\$(\d+)\$([A-Za-z0-9+/=]+)\$([A-Za-z0-9+/=]+)$")
ITERATIONS = 120_000


class OperatorCfg(Model):
    badge: Annotated[str, Field(pattern=r"^[A-Za-z0-9\-]{2,32}$")]
    """Badge number (typed or scanned at the terminal)."""
    name: Annotated[str, Field(min_length=1, max_length=60)]
    """Name shown on screen and written to the audit trail with the badge."""
    role: str = "operator"
    """Role (see ``tui.roles``): operator, maintenance, team_lead, quality, supervisor."""
    pin_hash: str | None = None
    """PIN hash from ``lineside operator hash-pin`` (the PIN itself is never stored)."""

    @property
    def who(self) -> str:
        """How the operator appears in records and the audit trail."""
        return f"{self.name} ({self.badge})"


class TuiCfg(Model):
    idle_logout_s: Annotated[float, Field(ge=10, le=86400)] = 300
    """Log the operator out after this long without a key press or click."""
    theme: Literal["dark", "light", "high-contrast"] = "dark"
    """Colour theme; high-contrast for bright shop floors (also: ``lineside tui --theme``)."""
    refresh_s: Annotated[float, Field(gt=0, le=5)] = 0.5
    """How often the screens re-read the store (new state, counts, alarms)."""
    roles: dict[str, list[Permission]] = {}
    """Extra or redefined roles: name → permissions. Built-in roles: operator,
    maintenance, team_lead, quality, supervisor."""

    def permissions(self, role: str) -> frozenset[str]:
        roles: dict[str, list[str]] = {**DEFAULT_ROLES, **{k: list(v) for k, v in self.roles.items()}}
        return frozenset(roles.get(role, ()))

    def role_names(self) -> set[str]:
        return set(DEFAULT_ROLES) | set(self.roles)


def _b64(b: bytes) -> str:
    return base64.b64encode(b).decode()


def hash_pin(pin: str, *, salt: bytes | None = None, iterations: int = ITERATIONS) -> str:
    if not PIN_RE.match(pin):
        raise ValueError("a PIN is 4 to 12 digits")
    salt = salt if salt is not None else secrets.token_bytes(16)
    digest = hashlib.pbkdf2_hmac("sha256", pin.encode(), salt, iterations)
    return f"pbkdf2_sha256${iterations}${_b64(salt)}${_b64(digest)}"


def parse_hash(h: str) -> tuple[int, bytes, bytes]:
    m = HASH_RE.match(h)
    if not m:
        raise ValueError("not a PIN hash from `lineside operator hash-pin` (pbkdf2_sha256$N$SALT$HASH)")
    return int(m.group(1)), base64.b64decode(m.group(2)), base64.b64decode(m.group(3))


def check_pin(pin: str, pin_hash: str) -> bool:
    iterations, salt, digest = parse_hash(pin_hash)
    return hmac.compare_digest(hashlib.pbkdf2_hmac("sha256", pin.encode(), salt, iterations), digest)


def login(operators: list[OperatorCfg], text: str) -> OperatorCfg | None:
    """The operator whose badge number or PIN was entered, or None."""
    text = text.strip()
    if not text:
        return None
    for op in operators:
        if hmac.compare_digest(op.badge.lower(), text.lower()):
            return op
    if not PIN_RE.match(text):
        return None
    # One PBKDF2 per distinct (iterations, salt); operators sharing a salt share it.
    cache: dict[tuple[int, bytes], bytes] = {}
    for op in operators:
        if op.pin_hash is None:
            continue
        iterations, salt, digest = parse_hash(op.pin_hash)
        key = (iterations, salt)
        if key not in cache:
            cache[key] = hashlib.pbkdf2_hmac("sha256", text.encode(), salt, iterations)
        if hmac.compare_digest(cache[key], digest):
            return op
    return None


def check_operator_sections(cfg: Any) -> list[str]:
    """Cross-checks of ``operators`` and ``tui``; messages carry their field path."""
    errors: list[str] = []
    roles = cfg.tui.role_names()
    badges: dict[str, int] = {}
    hashes: dict[str, int] = {}
    for i, op in enumerate(cfg.operators):
        where = f"operators[{i}]"
        if op.badge.lower() in badges:
            errors.append(
                f"{where}.badge: badge {op.badge!r} is also operators[{badges[op.badge.lower()]}]'s"
            )
        badges.setdefault(op.badge.lower(), i)
        if op.role not in roles:
            errors.append(f"{where}.role: unknown role {op.role!r} (known: {', '.join(sorted(roles))})")
        if op.pin_hash is not None:
            try:
                parse_hash(op.pin_hash)
            except ValueError as e:
                errors.append(f"{where}.pin_hash: {e}")
                continue
            if op.pin_hash in hashes:
                errors.append(
                    f"{where}.pin_hash: same PIN as operators[{hashes[op.pin_hash]}] (PINs must differ: they log in alone)"
                )
            hashes.setdefault(op.pin_hash, i)
    return errors
