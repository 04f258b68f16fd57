"""Who is at the line: logging in with a badge or PIN, the lockout after wrong entries,
logging out, what a role may do, and signing a record with one's badge or PIN.

Five wrong entries in a row lock the login for a minute. The count is not kept in a
terminal's memory but derived from the audit trail, where every attempt is recorded,
so it holds for every terminal and command on the line and survives a restart.
"""

from __future__ import annotations

import time
from typing import Any

from edge.config.operators import OperatorCfg, login
from edge.services.context import Line, config_of
from edge.services.validate import OperatorInputError
from edge.store import Store
from edge.store import audit as audit_repo

#: Wrong badge/PIN entries in a row before the login is locked for a while (PINs are short).
LOGIN_ATTEMPTS = 5
LOGIN_LOCKOUT_S = 60.0

LOGIN, LOGIN_FAILED, LOGOUT = "operator.login", "operator.login_failed", "operator.logout"

#: What each permission lets an operator do (for refusals).
PERMISSION_TEXT = {
    "run_orders": "run work orders",
    "explain_downtime": "explain downtime",
    "book_scrap": "book scrap",
    "adjust_counts": "adjust counts",
    "inspect": "record inspections and measurements",
    "ack_alarms": "acknowledge SPC alarms",
    "request_maintenance": "request maintenance",
    "approve": "approve new SPC limits",
}


def terminal_name(line: Line) -> str:
    """Who a failed attempt is recorded as: the person is unknown, the line's terminal is not."""
    return f"terminal {config_of(line).line.line}"


def locked_until(line: Line, store: Store) -> tuple[float, int]:
    """(until when the login is locked, wrong entries counted toward the next lock)."""
    entity = config_of(line).line.line
    until, count = 0.0, 0
    for ts, _ in audit_repo.session_events(store.db, entity, (LOGIN_FAILED,)):
        if ts < until:
            continue  # refused while locked: not counted (and not recorded as attempts)
        count += 1
        if count >= LOGIN_ATTEMPTS:
            until, count = ts + LOGIN_LOCKOUT_S, 0
    return until, count


def log_in(line: Line, store: Store, credential: str, *, now: float | None = None) -> OperatorCfg:
    """The operator whose badge or PIN was entered (the login audited), or a refusal naming
    the field; a wrong entry is audited and counts toward the lockout."""
    cfg = config_of(line)
    now = now if now is not None else time.time()
    if not cfg.operators:
        raise OperatorInputError(
            "credential: no operators are configured for this line (operators: in the line config)"
        )
    # PINs are checked before the transaction: a PBKDF2 must not hold the store's write lock.
    op = login(cfg.operators, credential)
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
                new={"attempt": failed},
                meaning="performed",
                ts=now,
            )
        else:
            store.audit(who=op.who, action=LOGIN, entity=cfg.line.line, meaning="performed", ts=now)
    # Refused after the transaction, so that the failed attempt is committed.
    if op is None:
        if failed >= LOGIN_ATTEMPTS:
            raise OperatorInputError(
                f"credential: not recognised; {LOGIN_ATTEMPTS} wrong entries, login locked for {LOGIN_LOCKOUT_S:.0f} s"
            )
        raise OperatorInputError("credential: badge number or PIN not recognised")
    return op


def log_out(line: Line, store: Store, op: OperatorCfg, *, reason: str = "", now: float | None = None) -> None:
    """Record a logout (``reason``: e.g. inactivity) in the audit trail."""
    with store.transaction(sync_full=True):
        store.audit(
            who=op.who,
            action=LOGOUT,
            entity=config_of(line).line.line,
            why=reason,
            meaning="performed",
            ts=now,
        )


def refusal(line: Line, op: OperatorCfg, permission: str) -> str | None:
    """Why ``op`` may not do what ``permission`` allows (None: the role allows it)."""
    if permission in config_of(line).tui.permissions(op.role):
        return None
    return f"refused: {op.name}'s role {op.role!r} may not {PERMISSION_TEXT.get(permission, permission)}"


def check_signature(line: Line, op: OperatorCfg, credential: str, field: str = "sign") -> None:
    """A record is signed with the badge or PIN of the operator who enters it."""
    signer = login(config_of(line).operators, credential)
    if signer is None or signer.badge != op.badge:
        raise OperatorInputError(f"{field}: badge or PIN of {op.name} required to sign")


def describe(line: Line, op: OperatorCfg) -> dict[str, Any]:
    """An operator and what their role allows."""
    return {
        "badge": op.badge,
        "name": op.name,
        "role": op.role,
        "may": sorted(config_of(line).tui.permissions(op.role)),
    }
