"""Who is at the line: authenticating an operator (badge, PIN, badge and PIN, or a
script's credential file), the lockout after wrong entries, logging out, and signing one
action with the badge or PIN. What an authenticated operator may do is
``edge.services.identity``.

Five wrong entries in a row lock the login for a minute. The count is not kept in a
terminal's memory but derived from the audit trail, where every attempt is recorded,
so it holds for every terminal and command on the line and survives a restart. A PIN
alone logs in only when it is one operator's; a PIN two operators share (hashed with
different salts, so the config check cannot see it) is refused and asks for the badge,
and counts as a wrong entry (it must not become a free oracle for valid PINs).

A credential file (``--credential FILE`` or ``$LINESIDE_CREDENTIAL``) is for scripts:
``badge: …`` and ``token: …`` lines, readable by its owner alone (mode 600); the token's
hash is the operator's ``token_hash`` in the config (``lineside operator token`` writes
both). It identifies the operator but never signs: approvals ask for the PIN.
"""

from __future__ import annotations

import os
import stat
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from edge.config.operators import OperatorCfg, by_badge, check_pin, check_token, pin_owners
from edge.services.context import Line, config_of
from edge.services.identity import Actor, AuthMethod, Refused, SignedWith, operator_actor
from edge.services.validate import OperatorInputError
from edge.store import Store
from edge.store import audit as audit_repo

#: Wrong badge/PIN entries in a row before the login is locked for a while (PINs are short).
LOGIN_ATTEMPTS = 5
LOGIN_LOCKOUT_S = 60.0

LOGIN, LOGIN_FAILED, LOGOUT = "operator.login", "operator.login_failed", "operator.logout"
SIGN_FAILED = "operator.sign_failed"
#: Where a script's credential file is named when ``--credential`` is not given.
CREDENTIAL_ENV = "LINESIDE_CREDENTIAL"

NOT_RECOGNISED = "credential: badge number or PIN not recognised"


def terminal_name(line: Line) -> str:
    """Who a failed attempt is recorded as: the person is unknown, the line's terminal is not."""
    return f"terminal {config_of(line).line.line}"


def locked_until(line: Line, store: Store) -> tuple[float, int]:
    """(until when the login is locked, wrong entries counted toward the next lock)."""
    entity = config_of(line).line.line
    until, count = 0.0, 0
    for ts, _ in audit_repo.session_events(store.db, entity, (LOGIN_FAILED, SIGN_FAILED)):
        if ts < until:
            continue  # refused while locked: not counted (and not recorded as attempts)
        count += 1
        if count >= LOGIN_ATTEMPTS:
            until, count = ts + LOGIN_LOCKOUT_S, 0
    return until, count


def _identify(
    operators: list[OperatorCfg],
    *,
    entered: str | None,
    badge: str | None,
    pin: str | None,
    token: str | None,
) -> tuple[OperatorCfg | None, AuthMethod, str | None]:
    """(operator or None, how, why refused when it is not a plain wrong entry). PBKDF2
    runs here, outside any transaction: it must not hold the store's write lock."""
    if entered is not None and badge is None:
        text = entered.strip()
        if pin is not None:  # the terminal's two fields: badge, then PIN
            badge = text
        else:
            op = by_badge(operators, text) if text else None
            if op is not None:
                return op, "badge", None
            owners = pin_owners(operators, text)
            if len(owners) > 1:
                return (
                    None,
                    "pin",
                    (
                        "credential: this PIN is not unique on this line; scan or type your badge number instead"
                    ),
                )
            return (owners[0] if owners else None), "pin", None
    if badge is None:
        return None, "pin", None
    op = by_badge(operators, badge)
    if token is not None:
        ok = op is not None and op.token_hash is not None and check_token(token.strip(), op.token_hash)
        return (op if ok else None), "credential", None
    if pin is not None:
        ok = op is not None and op.pin_hash is not None and check_pin(pin.strip(), op.pin_hash)
        return (op if ok else None), "badge+pin", None
    return op, "badge", None


def authenticate(
    line: Line,
    store: Store,
    *,
    entered: str | None = None,
    badge: str | None = None,
    pin: str | None = None,
    token: str | None = None,
    via: str = "terminal",
    login: bool = False,
    now: float | None = None,
) -> Actor:
    """The operator identified by what was entered, as an :class:`Actor`, or a refusal
    naming the field; a wrong entry is audited and counts toward the lockout.

    ``login``: this opens a session (the terminal, ``lineside operator login``) and is
    audited as a login. A command's authentication is not: the command's own audit entry
    names the operator (and a command refused for the role writes nothing), except after
    wrong entries, when the success is recorded to end the count of them.

    ``entered``: one field typed or scanned at the terminal (a badge number, or a PIN
    that is one operator's); with ``pin`` too it is the badge. ``badge`` + ``pin``: both
    must be the same operator's (the action counts as signed with the PIN). ``badge`` +
    ``token``: a credential file. ``badge`` alone: a badge scan. ``via`` is recorded
    (``terminal``, ``command line``)."""
    cfg = config_of(line)
    now = now if now is not None else time.time()
    if not cfg.operators:
        raise OperatorInputError(
            "credential: no operators are configured for this line (operators: in the line config)"
        )
    try:
        op, auth, why = _identify(cfg.operators, entered=entered, badge=badge, pin=pin, token=token)
    except ValueError:  # a PIN that is not 4-12 digits, a malformed hash: not recognised
        op, auth, why = None, "pin", None
    with store.transaction(sync_full=True):
        until, failed = locked_until(cfg, store)
        if now < until:
            raise OperatorInputError(f"credential: too many wrong entries; try again in {until - now:.0f} s")
        if op is None:
            failed += 1
            store.audit(
                who=terminal_name(cfg),
                action=LOGIN_FAILED,
                entity=cfg.line.line,
                new={"attempt": failed, "via": via} | ({"reason": "PIN not unique"} if why else {}),
                meaning="performed",
                ts=now,
            )
        elif login or failed:
            store.audit(
                who=op.who,
                action=LOGIN,
                entity=cfg.line.line,
                new={"method": auth, "via": via},
                meaning="performed",
                ts=now,
            )
    # Refused after the transaction, so that the failed attempt is committed.
    if op is None:
        if failed >= LOGIN_ATTEMPTS:
            raise OperatorInputError(
                f"credential: not recognised; {LOGIN_ATTEMPTS} wrong entries, login locked for {LOGIN_LOCKOUT_S:.0f} s"
            )
        raise OperatorInputError(why or NOT_RECOGNISED)
    # Badge and PIN entered for one command sign that command; a terminal's login signs nothing.
    signed: SignedWith | None = "pin" if auth == "badge+pin" else None
    return operator_actor(cfg, op, auth, signed)


def log_in(
    line: Line,
    store: Store,
    credential: str,
    *,
    pin: str | None = None,
    via: str = "terminal",
    now: float | None = None,
) -> Actor:
    """The terminal's login: a badge or a PIN in one field (and the PIN after a badge)."""
    return authenticate(line, store, entered=credential, pin=pin or None, via=via, login=True, now=now)


def log_out(line: Line, store: Store, actor: Actor, *, reason: str = "", now: float | None = None) -> None:
    """Record a logout (``reason``: e.g. inactivity) in the audit trail."""
    with store.transaction(sync_full=True):
        store.audit(
            who=actor.who,
            action=LOGOUT,
            entity=config_of(line).line.line,
            why=reason,
            meaning="performed",
            ts=now,
        )


def sign(
    line: Line,
    store: Store,
    actor: Actor,
    entered: str,
    *,
    pin_only: bool = False,
    field: str = "sign",
    now: float | None = None,
) -> Actor:
    """``actor`` signing one action with their badge or PIN (``pin_only``: the PIN), as
    entered for it: the actor with ``signed`` set, or a refusal naming ``field``. A wrong
    entry is audited and counts toward the lockout."""
    cfg = config_of(line)
    now = now if now is not None else time.time()
    op = by_badge(cfg.operators, actor.badge) if actor.badge else None
    if actor.kind != "operator" or op is None:
        raise Refused(f"{field}: only an operator of this line signs")
    text = entered.strip()
    how: SignedWith | None = None
    if not pin_only and text and by_badge([op], text) is not None:
        how = "badge"
    else:
        try:
            if op.pin_hash is not None and check_pin(text, op.pin_hash):
                how = "pin"
        except ValueError:
            how = None
    with store.transaction(sync_full=True):
        until, failed = locked_until(cfg, store)
        if now < until:
            raise OperatorInputError(f"{field}: too many wrong entries; try again in {until - now:.0f} s")
        if how is None and text:
            store.audit(
                who=actor.who,
                action=SIGN_FAILED,
                entity=cfg.line.line,
                new={"attempt": failed + 1},
                meaning="performed",
                ts=now,
            )
    if how is None:
        what = "PIN" if pin_only else "badge or PIN"
        raise Refused(f"{field}: {what} of {actor.name} required to sign")
    return replace(actor, signed=how)


# ----------------------------------------------------------------------------- credential files


@dataclass(frozen=True)
class Credential:
    """A script's credential file: whose it is and the token that proves it."""

    path: Path
    badge: str
    token: str


def read_credential(path: str | Path) -> Credential:
    """Read a credential file; refused (naming the file) unless its owner alone may read
    it and it holds exactly a ``badge:`` and a ``token:`` line."""
    values = read_credential_fields(path, ("badge", "token"))
    return Credential(Path(path), values["badge"], values["token"])


def read_credential_fields(path: str | Path, keys: tuple[str, ...]) -> dict[str, str]:
    """The ``key: value`` lines of a credential file (each of ``keys`` exactly once);
    refused (naming the file) unless its owner alone may read it. Shared with the plant's
    credential files (``lineside aggregator user token``: ``user:`` and ``token:``)."""
    p = Path(path)
    where = f"credential file {p}"
    try:
        fd = os.open(p, os.O_RDONLY | os.O_NOFOLLOW)
    except FileNotFoundError:
        raise OperatorInputError(f"{where}: no such file") from None
    except OSError as e:
        raise OperatorInputError(f"{where}: cannot open it ({e.strerror})") from None
    with os.fdopen(fd, "rb") as f:
        st = os.fstat(f.fileno())
        if not stat.S_ISREG(st.st_mode):
            raise OperatorInputError(f"{where}: not a regular file")
        mode = stat.S_IMODE(st.st_mode)
        if mode & 0o077:
            raise OperatorInputError(
                f"{where}: readable by group or others (mode {mode:04o}); it must be its owner's alone: chmod 600 {p}"
            )
        if st.st_uid != os.geteuid():
            raise OperatorInputError(
                f"{where}: owned by uid {st.st_uid}, not by this user (uid {os.geteuid()}); a credential is its owner's alone"
            )
        raw = f.read(4096)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise OperatorInputError(f"{where}: not text") from None
    shape = {"badge": "NUMBER", "user": "NAME"}
    expected = " and ".join(f"'{k}: {shape.get(k, 'TEXT')}'" for k in keys)
    values: dict[str, str] = {}
    for n, line in enumerate(text.splitlines(), 1):
        s = line.strip()
        if not s or s.startswith("#"):
            continue
        key, sep, value = s.partition(":")
        key = key.strip()
        if not sep or key not in keys or key in values or not value.strip():
            raise OperatorInputError(f"{where}: line {n}: expected {expected}, once each")
        values[key] = value.strip()
    if set(values) != set(keys):
        missing = ", ".join(sorted(set(keys) - set(values)))
        raise OperatorInputError(f"{where}: {missing} missing")
    return values


def write_credential(path: str | Path, badge: str, token: str) -> None:
    """Create a credential file (mode 600; never over an existing file)."""
    write_credential_fields(path, "lineside operator credential", {"badge": badge, "token": token})


def write_credential_fields(path: str | Path, title: str, values: dict[str, str]) -> None:
    """Create a credential file of ``key: value`` lines (mode 600; never over an existing file)."""
    p = Path(path)
    try:
        fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise OperatorInputError(f"{p}: exists already; remove it first or choose another name") from None
    with os.fdopen(fd, "w") as f:
        f.write(f"# {title}: keep it mode 600\n" + "".join(f"{k}: {v}\n" for k, v in values.items()))


def describe(actor: Actor) -> dict[str, Any]:
    """An operator and what their role allows."""
    return {
        "badge": actor.badge,
        "name": actor.name,
        "role": actor.role,
        "auth": actor.auth,
        "may": sorted(actor.permissions),
    }
