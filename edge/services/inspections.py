"""Inspections at the line: what is due or overdue for the running order, and recording
results (quality records, committed with synchronous=FULL and audited). A result is
signed by the inspector (the badge or PIN entered for it), and a failed inspection needs
a comment saying what was found, on every path (terminal and CLI)."""

from __future__ import annotations

import time
from typing import Any

from edge.logic.quality.inspections import due_inspections, judge
from edge.services.context import Line, line_context
from edge.services.identity import Actor, authorize, require_signature
from edge.services.validate import OperatorInputError, number
from edge.store import Store
from edge.store import production as production_repo
from edge.store import quality as repo


def _parts(store: Store, machine: str | None, since: float) -> int:
    good, scrap = production_repo.counts_since(store, machine, since)
    return good + scrap


def due(line: Line, store: Store, now: float | None = None) -> list[dict[str, Any]]:
    """Inspections due or overdue for the running order, overdue ones first."""
    ctx = line_context(line, store)
    now = now if now is not None else time.time()
    with store.snapshot():
        running = production_repo.running_order(store)
        if running is None or running.start is None:
            return []
        order, product, start = running.order, running.product, running.start
        parts = _parts(store, ctx.machine, start)
        done = repo.inspections_done(store, order)
    return [
        {
            "plan": d.plan,
            "due_at": d.due_at,
            "reason": d.reason,
            "overdue": d.overdue,
            "order": order,
            "product": product,
        }
        for d in due_inspections(
            ctx.config.inspections,
            now=now,
            order=order,
            product=product,
            order_start=start,
            parts=parts,
            done=done,
        )
    ]


def record(
    line: Line, store: Store, actor: Actor, plan_name: str, values: dict[str, Any], *, comment: str = ""
) -> bool:
    """Validate and store one inspection result, signed by the inspector (badge or PIN
    entered for it); returns whether it passed. A failed result needs a comment."""
    authorize(actor, "inspect")
    require_signature(actor, field="sign")
    ctx = line_context(line, store)
    by = actor.who
    plan = next((p for p in ctx.config.inspections if p.name == plan_name), None)
    if plan is None:
        raise OperatorInputError(f"plan: {plan_name!r} is not an inspection plan of this line")
    # Measured items are read here with the strict number rule (no NaN, Inf, ``1_0`` or
    # fullwidth digits); the pure judge then compares numbers with the limits.
    measured = {i.name for i in plan.items if i.kind == "measure"}
    checked: dict[str, Any] = {}
    for name, v in values.items():
        if name in measured and v not in (None, ""):
            checked[name] = number(v, f"item {name!r}")
        else:
            checked[name] = v
    passed, items, errors = judge(plan, checked)
    if errors:
        raise OperatorInputError("; ".join(errors))
    if not passed and not comment.strip():
        raise OperatorInputError("comment: required when an inspection fails (what was found, what was done)")
    with store.transaction(sync_full=True):
        running = production_repo.running_order(store)
        order, product = (running.order, running.product) if running else (None, None)
        start = running.start if running else None
        parts = _parts(store, ctx.machine, start) if start is not None else 0
        repo.add_inspection(
            store,
            plan_name,
            order=order,
            product=product,
            parts_at=parts,
            passed=passed,
            items=items,
            by=by,
            comment=comment.strip(),
            ts=time.time(),
        )
        store.audit(
            who=by,
            action="inspection.record",
            entity=f"{plan_name}/{order or '-'}",
            new={"passed": passed, "items": items},
            why=comment.strip(),
            meaning="performed",
        )
    return passed


def recent_results(store: Store, limit: int = 20) -> list[dict[str, Any]]:
    """The latest inspection results, newest first."""
    return repo.recent_inspections(store, limit)
