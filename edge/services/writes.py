"""Writes to PLC tags that people ask for (``lineside write``): who may, and the audit
entry of each outcome. The write itself goes through the agent's allow-list
(``edge.runtime.agent.Agent.write``), which records every request and its outcome in
the ``writes`` stream; this module signs the person's part into the audit trail."""

from __future__ import annotations

from typing import Any

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
