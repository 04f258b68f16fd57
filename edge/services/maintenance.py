"""Maintenance use cases at the line: raise a request for a machine (stored, audited, sent
to the plant) and list the latest ones."""

from __future__ import annotations

import time
from typing import Any

from edge.services.context import Line, line_context
from edge.services.identity import Actor, authorize
from edge.services.validate import OperatorInputError, require
from edge.store import Store
from edge.store import maintenance as repo

MAINTENANCE_PRIORITIES = ("low", "normal", "urgent")


def request_maintenance(
    line: Line, store: Store, actor: Actor, machine: str, text: str, *, priority: str = "normal"
) -> int:
    """Raise a maintenance request for a machine (or a device); returns its sequence."""
    authorize(actor, "request_maintenance")
    ctx = line_context(line, store)
    by = actor.who
    text = require(text, "text")
    ctx.require_machine(machine, devices_too=True)
    if priority not in MAINTENANCE_PRIORITIES:
        raise OperatorInputError(f"priority: {priority!r} is not one of {', '.join(MAINTENANCE_PRIORITIES)}")
    if len(text) > 2000:
        raise OperatorInputError("text: at most 2000 characters")
    with store.transaction(sync_full=True):
        seq = repo.add_request(store, machine, priority=priority, text=text, by=by, ts=time.time())
        store.audit(
            who=by,
            action="maintenance.request",
            entity=machine,
            new={"priority": priority, "text": text},
            meaning="performed",
        )
    return seq


def recent_requests(store: Store, limit: int = 20) -> list[dict[str, Any]]:
    """The latest maintenance requests, newest first."""
    return repo.recent_requests(store, limit)
