"""Operators, roles and the operator terminal's settings; PIN hashing and login (pure).

Operators are listed in the line config with a badge number, a name, a role and
optionally a PIN hash (never a PIN). They log in at the terminal with the badge number
(typed or scanned) or with their PIN. A role is a set of permissions; the defaults below
fit most lines and a config may redefine or add roles.

PIN hashes are PBKDF2-HMAC-SHA256 (``pbkdf2_sha256$ITERATIONS$SALT$HASH``, base64).
``lineside operator hash-pin`` reuses the salt already in the config, so a PIN typed at
the terminal costs one hash per distinct salt, and two operators with the same PIN are
caught when the config is loaded; it also tests a new PIN against every stored hash
(:func:`pin_owners`), so a PIN hashed with another salt is caught as well. A PIN alone
logs in only when it is one operator's: :func:`pin_owners` returns every match.

Scripts authenticate with a credential file holding a badge and a random token
(``lineside operator token``); only the token's SHA-256 (``token_hash``) is in the config.
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
    "block_orders",  # declare an order cannot start (material, tool, first-off hold) and clear it
    "explain_downtime",  # assign reasons, split stops
    "book_scrap",  # scrap with a reason
    "adjust_counts",  # correct good counts (remove or add parts)
    "inspect",  # record and sign inspections, enter manual measurements
    "ack_alarms",  # acknowledge SPC alarms (releases the line)
    "request_maintenance",  # raise a maintenance request
    "approve",  # approvals: approve (or reject) requested SPC limits; signed with the PIN
    "request_limits",  # request new SPC limits (another person approves them)
    "record_lots",  # record produced lots/serials and consumed material lots
    "large_corrections",  # count corrections beyond tui.count_corrections (a supervisor's)
    "release_holds",  # release an order held by a failed first-off without a re-check (signed)
    "write",  # write a value to a writable PLC tag (`lineside write`)
    "approve_maintenance",  # approve (or reject) maintenance requests and schedule work orders; signed
    "do_maintenance",  # work on maintenance orders: start, pause, labour, parts, failure codes, finish (signed)
    "manage_parts",  # spare-parts receipts and stock counts
    "move_stock",  # move lots in and out of lineside locations, count stock, issue material
    "hold_lots",  # put a lot, an order or a machine's time window on hold (quarantine)
    "dispose_holds",  # release, scrap or rework what is on hold (signed; the quality role's)
]
PERMISSIONS: tuple[str, ...] = Permission.__args__  # type: ignore[attr-defined]

_BASIC = [
    "run_orders",
    "block_orders",
    "explain_downtime",
    "book_scrap",
    "inspect",
    "request_maintenance",
    "record_lots",
    "move_stock",
    "hold_lots",
]
DEFAULT_ROLES: dict[str, list[str]] = {
    "operator": _BASIC,
    # Maintenance declares (and clears) a tool in maintenance on the orders that need it.
    # It approves, schedules and works maintenance orders and keeps the spare-parts store.
    "maintenance": [
        "explain_downtime",
        "request_maintenance",
        "block_orders",
        "approve_maintenance",
        "do_maintenance",
        "manage_parts",
    ],
    "team_lead": [*_BASIC, "adjust_counts", "ack_alarms", "request_limits"],
    "quality": [*_BASIC, "ack_alarms", "request_limits", "approve", "dispose_holds"],
    "supervisor": list(PERMISSIONS),
}

PIN_RE = re.compile(r"^[0-9]{4,12}$")
HASH_RE = re.compile(r"^pbkdf2_sha256\$(\d+)\$([A-Za-z0-9+/=]+)\$([A-Za-z0-9+/=]+)$")
TOKEN_HASH_RE = re.compile(r"^sha256\$[0-9a-f]{64}$")
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
    token_hash: str | None = None
    """Hash of the token in this operator's credential file for scripts (``lineside
    operator token``; ``sha256$HEX``). Absent: no credential file is accepted for them."""

    @property
    def who(self) -> str:
        """How the operator appears in records and the audit trail."""
        return f"{self.name} ({self.badge})"


class CorrectionLimits(Model):
    """How large a count correction an operator may book without a supervisor."""

    max_parts: Annotated[int, Field(ge=1, le=1_000_000)] = 1000
    """Parts (good or scrap, added or removed) in one correction."""
    max_order_percent: Annotated[float, Field(gt=0, le=100)] = 10.0
    """Percent of the running order's quantity; the smaller of the two bounds applies."""


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
    count_corrections: CorrectionLimits = CorrectionLimits()
    """Corrections above these bounds need the ``large_corrections`` permission."""

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


def by_badge(operators: list[OperatorCfg], badge: str) -> OperatorCfg | None:
    """The operator with this badge number (case-insensitive), or None."""
    typed = badge.strip().lower().encode()  # bytes: compare_digest refuses non-ASCII text
    found = None
    for op in operators:
        if hmac.compare_digest(op.badge.lower().encode(), typed):
            found = op
    return found


def pin_owners(operators: list[OperatorCfg], pin: str) -> list[OperatorCfg]:
    """Every operator whose PIN hash matches ``pin`` (one PBKDF2 per distinct salt).

    More than one is possible when two PINs were hashed with different salts: a PIN alone
    then does not say who is there."""
    if not PIN_RE.match(pin):
        return []
    cache: dict[tuple[int, bytes], bytes] = {}
    out = []
    for op in operators:
        if op.pin_hash is None:
            continue
        iterations, salt, digest = parse_hash(op.pin_hash)
        key = (iterations, salt)
        if key not in cache:
            cache[key] = hashlib.pbkdf2_hmac("sha256", pin.encode(), salt, iterations)
        if hmac.compare_digest(cache[key], digest):
            out.append(op)
    return out


def login(operators: list[OperatorCfg], text: str) -> OperatorCfg | None:
    """The operator whose badge number, or whose PIN (when it is theirs alone), was entered."""
    text = text.strip()
    if not text:
        return None
    op = by_badge(operators, text)
    if op is not None:
        return op
    owners = pin_owners(operators, text)
    return owners[0] if len(owners) == 1 else None


def new_token() -> str:
    """A random token for a script's credential file (256 bits, URL-safe text)."""
    return secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    """What goes in ``operators[].token_hash`` for a credential-file token."""
    return "sha256$" + hashlib.sha256(token.encode()).hexdigest()


def check_token(token: str, token_hash: str) -> bool:
    return hmac.compare_digest(hash_token(token).encode(), token_hash.encode())


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
        if op.token_hash is not None and not TOKEN_HASH_RE.match(op.token_hash):
            errors.append(
                f"{where}.token_hash: not a token hash from `lineside operator token` (sha256$ and 64 hex digits)"
            )
    return errors
