"""Inspections at the line: what is due or overdue for the running order, and recording
results (quality records, committed with synchronous=FULL and audited). A result is
signed by the inspector (the badge or PIN entered for it), and a failed inspection needs
a comment saying what was found, on every path (terminal, CLI and operator channel).

Inspections hold: a failed first-off (a plan due at order start) puts the order on hold
(it neither starts nor resumes) until a passing re-check of that plan, or a supervisor's
release with a reason (signed, audited as an approval). A due inspection not done by the
end of its grace, or by the end of its order, is recorded as missed once; the shift
summary lists the misses."""

from __future__ import annotations

import time
from typing import Any

from edge.logic.quality.inspections import due_inspections, judge
from edge.services.context import Line, line_context
from edge.services.identity import Actor, authorize, require_signature
from edge.services.validate import OperatorInputError, ident, number, plain_text, require
from edge.store import Store
from edge.store import plant as plant_repo
from edge.store import production as production_repo
from edge.store import quality as repo

#: Why an order is on hold (``order_blocks.reason``).
HOLD = "first_off"


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
        if plan.at_order_start and order is not None:
            _first_off(store, by, plan_name, order, passed, comment.strip(), running is not None)
    return passed


def _first_off(store: Store, by: str, plan: str, order: str, passed: bool, comment: str, runs: bool) -> None:
    """A first-off result: a failure holds the order, a pass releases a hold."""
    held = plant_repo.blocks(store).get(order)
    now = time.time()
    if not passed:
        detail = f"first-off {plan} failed: {comment}"[:500]
        plant_repo.set_block(store, order, HOLD, detail, by=by, ts=now)
        if runs:  # the line stops making parts of it: the agent holds the running order
            production_repo.add_order_request(
                store, "hold", order, product=None, quantity=None, due=None, by=by, ts=now
            )
        store.audit(
            who=by,
            action="order.hold",
            entity=order,
            new={"detail": detail},
            why=comment,
            meaning="performed",
        )
    elif held is not None and held[0] == HOLD:
        plant_repo.clear_block(store, order)
        store.audit(
            who=by,
            action="order.release",
            entity=order,
            old={"detail": held[1]},
            new={"by": f"passing re-check {plan}"},
            meaning="performed",
        )


def release_hold(line: Line, store: Store, actor: Actor, order: str, *, reason: str) -> None:
    """A supervisor releases an order held by a failed first-off without a passing
    re-check: needs ``release_holds``, the signature (PIN) and a reason; audited as an
    approval. The order may then resume (or start)."""
    authorize(actor, "release_holds")
    require_signature(actor, field="sign")
    line_context(line, store)
    order = ident(order, "order")
    reason = plain_text(require(reason, "reason"), "reason", max_len=500).strip()
    with store.transaction(sync_full=True):
        held = plant_repo.blocks(store).get(order)
        if held is None or held[0] != HOLD:
            raise OperatorInputError(f"order: {order!r} is not on hold")
        plant_repo.clear_block(store, order)
        store.audit(
            who=actor.who,
            action="order.release",
            entity=order,
            old={"detail": held[1]},
            new={"by": "supervisor override"},
            why=reason,
            meaning="approved",
        )


def holds(store: Store) -> dict[str, str]:
    """Orders on hold → why."""
    return {o: d for o, (r, d) in plant_repo.blocks(store).items() if r == HOLD}


def record_missed(line: Line, store: Store, *, now: float | None = None, order_ends: bool = False) -> int:
    """Record as missed what is due for the running order and past its grace (or, when
    the order ends, all of it); each miss once. Returns how many were new."""
    now = now if now is not None else time.time()
    new = 0
    with store.transaction():
        for d in due(line, store, now):
            if order_ends or d["overdue"]:
                new += repo.add_miss(
                    store,
                    d["plan"],
                    order=d["order"],
                    product=d["product"],
                    due_at=d["due_at"],
                    reason=("order ended" if order_ends and not d["overdue"] else "grace passed")
                    + f" ({d['reason']})",
                    ts=now,
                )
    return new


def missed_between(store: Store, start: float, end: float) -> list[dict[str, Any]]:
    """Inspections recorded as missed in [start, end)."""
    return repo.misses_between(store, start, end)


def recent_results(store: Store, limit: int = 20) -> list[dict[str, Any]]:
    """The latest inspection results, newest first."""
    return repo.recent_inspections(store, limit)
