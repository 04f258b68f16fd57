"""Writes to PLC tags that people ask for (``lineside write``): who may, and the audit
entry of each outcome. The write itself goes through the agent's allow-list
(``edge.runtime.agent.Agent.write``), which records every request and its outcome in
the ``writes`` stream; this module signs the person's part into the audit trail."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from edge.core.errors import LinesideError, WriteRefused
from edge.services.context import Line
from edge.services.identity import Actor, authorize
from edge.store import Store

OUTCOMES = ("ok", "refused", "failed")


def authorize_write(actor: Actor) -> None:
    """Refused unless the actor's role may write to PLC tags (permission ``write``)."""
    authorize(actor, "write")


def audit_write(
    line: Line,
    store: Store,
    actor: Actor,
    tag: str,
    value: Any,
    outcome: str,
    *,
    reason: str = "",
    error: str | None = None,
) -> None:
    """Record who wrote (or tried to write) what to a tag, and what came of it."""
    if outcome not in OUTCOMES:
        raise ValueError(f"outcome must be one of {', '.join(OUTCOMES)}")
    with store.transaction(sync_full=True):
        store.audit(
            who=actor.who,
            action="plc.write",
            entity=tag,
            new={"value": value, "outcome": outcome} | ({"error": error} if error else {}),
            why=reason,
            meaning="performed",
        )


def perform_write(
    line: Line,
    store: Store,
    actor: Actor,
    tag: str,
    value: Any,
    write: Callable[[str, Any, str, str], None],
    *,
    reason: str = "",
) -> str:
    """A write on behalf of ``actor``: authorized, handed to the agent's allow-listed
    write (``write(tag, value, who, reason)``, which records request and outcome in the
    ``writes`` stream), and audited with its outcome. Returns ``ok``; a refused or
    failed write is audited and raised (:class:`WriteRefused`, :class:`LinesideError`)."""
    authorize_write(actor)
    outcome, error = "ok", None
    raised: LinesideError | None = None
    try:
        write(tag, value, actor.who, reason)
    except WriteRefused as e:
        outcome, error, raised = "refused", str(e), e
    except LinesideError as e:
        outcome, error, raised = "failed", str(e), e
    audit_write(line, store, actor, tag, value, outcome, reason=reason, error=error)
    if raised is not None:
        raise raised
    return outcome


def refuse_write(
    line: Line, store: Store, actor: Actor, tag: str, value: Any, why: str, *, reason: str = ""
) -> None:
    """A write refused before it reached the agent (a tag a channel may not write):
    recorded in the ``writes`` stream like the agent's own refusals, and audited."""
    store.record_write(tag, value, actor.who, "refused", reason=reason, error=why)
    audit_write(line, store, actor, tag, value, "refused", reason=reason, error=why)
