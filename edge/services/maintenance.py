"""Maintenance use cases at the line: requests, work orders through their lifecycle,
spare parts, plans and reliability.

Every change takes an :class:`Actor`, is authorized (``request_maintenance``,
``approve_maintenance``, ``do_maintenance``, ``manage_parts``) before anything is
written, and is written with its audit entry in one transaction. Approving (a request
or an order the line opened) and finishing an order are signatures
(``require_signature``): approval means "approved", finishing "performed".

While an order is in progress its machine's stops are booked under the order's reason
through the production domain's hook (``production.impose_reason``, source
``maintenance:<order>``): a corrective order's fault-code reason, else
``maintenance.reasons.corrective`` (an availability loss); a preventive or
condition-based order's ``maintenance.reasons.preventive`` (a planned stop). Pausing,
finishing or cancelling lifts it.
"""

from __future__ import annotations

import time
from typing import Any

from edge.config.maintenance import asset_tree
from edge.logic.maintenance import reliability as rel
from edge.logic.maintenance.plans import compliance
from edge.logic.maintenance.report import maintenance_report
from edge.logic.maintenance.stock import Part
from edge.logic.maintenance.workorders import WO_TYPES, StepError, WorkOrder, check_step, fold
from edge.services import production
from edge.services.context import Line, LineContext, line_context
from edge.services.identity import Actor, authorize, require_signature
from edge.services.validate import OperatorInputError, ident, number, plain_text, require
from edge.store import Store
from edge.store import maintenance as repo

MAINTENANCE_PRIORITIES = ("low", "normal", "urgent")


def _now(now: float | None) -> float:
    return now if now is not None else time.time()


# ------------------------------------------------------------------ requests


def request_maintenance(
    line: Line, store: Store, actor: Actor, machine: str, text: str, *, priority: str = "normal"
) -> int:
    """Raise a maintenance request for a machine (or a device, or an asset); returns its
    sequence. It becomes a work order when maintenance approves it."""
    authorize(actor, "request_maintenance")
    ctx = line_context(line, store)
    by = actor.who
    text = require(text, "text")
    if machine not in asset_tree(ctx.config):
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
    """The latest maintenance requests, newest first, each with the order it became."""
    rows = repo.recent_requests(store, limit)
    made = {wo.request: wo for wo in _orders(store).values() if wo.request is not None}
    for r in rows:
        wo = made.get(r["seq"])
        r["order"] = wo.id if wo else None
        r["order_state"] = wo.state if wo else None
    return rows


# ------------------------------------------------------------------ work orders: reads


def _orders(store: Store) -> dict[str, WorkOrder]:
    return fold(repo.events(store))


def work_orders(
    store: Store,
    *,
    state: str | None = None,
    open_only: bool = False,
    asset: str | None = None,
    technician: str | None = None,
) -> list[WorkOrder]:
    """Work orders, newest first, filtered."""
    out = []
    for wo in _orders(store).values():
        if state and wo.state != state:
            continue
        if open_only and not wo.open:
            continue
        if asset and wo.asset != asset:
            continue
        if technician and wo.technician != technician:
            continue
        out.append(wo)
    return sorted(
        out, key=lambda w: int(w.id.split("-")[-1]) if w.id.split("-")[-1].isdigit() else 0, reverse=True
    )


def work_order(store: Store, wo: str) -> WorkOrder:
    found = _orders(store).get(wo)
    if found is None:
        raise OperatorInputError(f"order: no maintenance work order {wo!r}")
    return found


def my_queue(store: Store, actor: Actor) -> list[WorkOrder]:
    """Open orders a technician should look at: scheduled for them, in progress by them,
    then the rest of the approved ones, urgent first."""
    mine = []
    rank = {"urgent": 0, "normal": 1, "low": 2}
    for wo in work_orders(store, open_only=True):
        if wo.state == "requested":
            continue
        own = wo.technician in (actor.who, actor.name) or any(
            s["by"] == actor.who for s in wo.steps if s["step"] in ("start", "resume")
        )
        mine.append((0 if own else 1, rank.get(wo.priority, 1), wo.due or wo.created, wo))
    return [m[3] for m in sorted(mine, key=lambda m: m[:3])]


# ------------------------------------------------------------------ work orders: steps


def _step(
    ctx: LineContext,
    store: Store,
    actor: Actor,
    wo_id: str,
    step: str,
    data: dict[str, Any],
    *,
    meaning: str = "performed",
    now: float | None = None,
    extra: Any = None,
) -> WorkOrder:
    """Check ``step`` against the order's state and write it with its audit entry;
    ``extra(wo, ts)`` writes what goes with it in the same transaction."""
    ts = _now(now)
    with store.transaction(sync_full=True):
        wo = work_order(store, wo_id)
        try:
            check_step(wo.state, step)
        except StepError as e:
            raise OperatorInputError(f"order: {wo_id}: {e}") from None
        if extra is not None:
            extra(wo, ts)
        repo.add_event(store.db, ts, wo_id, step, data, actor.who)
        store.audit(
            who=actor.who,
            action=f"maintenance.{step}",
            entity=wo_id,
            old={"state": wo.state},
            new=data or None,
            meaning=meaning,
            ts=ts,
        )
    return work_order(store, wo_id)


def _machine_of(ctx: LineContext, asset: str) -> str | None:
    node = asset_tree(ctx.config).get(asset)
    return node["machine"] if node else None


def _booking_reason(ctx: LineContext, wo: WorkOrder) -> str | None:
    r = ctx.config.maintenance.reasons
    if wo.type == "corrective":
        code = wo.reason if wo.reason in ctx.reasons.reasons else None
        return code or r.corrective
    return r.preventive


def _impose(ctx: LineContext, store: Store, actor: Actor, wo: WorkOrder, on: bool) -> None:
    machine = _machine_of(ctx, wo.asset)
    if machine is None or machine not in ctx.machines:
        return
    reason = _booking_reason(ctx, wo) if on else None
    if on and reason is None:
        return
    production.impose_reason(
        ctx, store, actor, machine, reason, source=f"maintenance:{wo.id}", detail=wo.title[:200]
    )


def create_order(
    line: Line,
    store: Store,
    actor: Actor,
    asset: str,
    title: str,
    *,
    type: str = "corrective",
    priority: str = "normal",
    estimate_h: float = 1.0,
    now: float | None = None,
) -> str:
    """Maintenance opens an order itself (approved at once)."""
    authorize(actor, "approve_maintenance")
    ctx = line_context(line, store)
    if asset not in asset_tree(ctx.config):
        raise OperatorInputError(f"asset: {asset!r} is not an asset of this line")
    if type not in WO_TYPES:
        raise OperatorInputError(f"type: {type!r} is not one of {', '.join(WO_TYPES)}")
    if priority not in MAINTENANCE_PRIORITIES:
        raise OperatorInputError(f"priority: {priority!r} is not one of {', '.join(MAINTENANCE_PRIORITIES)}")
    title = plain_text(require(title, "title"), "title", max_len=200)
    estimate_h = number(estimate_h, "estimate", lo=0, hi=1000)
    ts = _now(now)
    reason = (
        ctx.config.maintenance.reasons.corrective
        if type == "corrective"
        else ctx.config.maintenance.reasons.preventive
    )
    data = {
        "type": type,
        "asset": asset,
        "title": title,
        "state": "approved",
        "priority": priority,
        "estimate_h": estimate_h,
        "reason": reason,
    }
    with store.transaction(sync_full=True):
        wo = repo.new_order(store.db, ts)
        assert wo is not None
        repo.add_event(store.db, ts, wo, "created", data, actor.who)
        store.audit(
            who=actor.who, action="maintenance.create", entity=wo, new=data, meaning="performed", ts=ts
        )
    return wo


def approve_request(
    line: Line,
    store: Store,
    actor: Actor,
    seq: int,
    *,
    type: str = "corrective",
    estimate_h: float = 1.0,
    now: float | None = None,
) -> str:
    """An operator's request becomes an approved work order (signed)."""
    authorize(actor, "approve_maintenance")
    require_signature(actor)
    ctx = line_context(line, store)
    req = repo.request(store, seq)
    if req is None:
        raise OperatorInputError(f"request: no maintenance request {seq}")
    if any(r.get("order") for r in recent_requests(store, 10_000) if r["seq"] == seq):
        raise OperatorInputError(f"request: request {seq} has its work order already")
    if type not in WO_TYPES:
        raise OperatorInputError(f"type: {type!r} is not one of {', '.join(WO_TYPES)}")
    estimate_h = number(estimate_h, "estimate", lo=0, hi=1000)
    ts = _now(now)
    m = ctx.config.maintenance.reasons
    data = {
        "type": type,
        "asset": req["machine"],
        "title": req["text"][:200],
        "state": "requested",
        "priority": req["priority"],
        "request": seq,
        "failure_start": req["ts"],
        "estimate_h": estimate_h,
        "reason": m.corrective if type == "corrective" else m.preventive,
    }
    with store.transaction(sync_full=True):
        wo = repo.new_order(store.db, ts, f"request:{seq}")
        if wo is None:
            raise OperatorInputError(f"request: request {seq} has its work order already")
        repo.add_event(store.db, req["ts"], wo, "created", data, req["by"])
        repo.add_event(store.db, ts, wo, "approve", {"request": seq}, actor.who)
        store.audit(
            who=actor.who, action="maintenance.approve", entity=wo, new=data, meaning="approved", ts=ts
        )
    return wo


def approve(line: Line, store: Store, actor: Actor, wo: str, *, now: float | None = None) -> WorkOrder:
    """Approve a requested order (one the line opened for a long stop): its acknowledgement."""
    authorize(actor, "approve_maintenance")
    require_signature(actor)
    return _step(line_context(line, store), store, actor, wo, "approve", {}, meaning="approved", now=now)


def schedule(
    line: Line,
    store: Store,
    actor: Actor,
    wo: str,
    start: float,
    *,
    technician: str | None = None,
    now: float | None = None,
) -> WorkOrder:
    """Plan the work for ``start`` (epoch seconds); the parts it needs are reserved."""
    authorize(actor, "approve_maintenance")
    ctx = line_context(line, store)
    tech = plain_text(technician, "technician", max_len=80) if technician else None

    def reserve(order: WorkOrder, ts: float) -> None:
        held = _stock(ctx, store)
        for part, qty in order.planned_parts.items():
            have = held.get(part)
            already = have.by_order.get(order.id, 0.0) if have else 0.0
            if qty > already:
                repo.add_movement(
                    store, ts, part, "reserve", qty - already, wo=order.id, by=actor.who, why="scheduled"
                )
        _reorder_notices(ctx, store, held, ts)

    return _step(
        ctx, store, actor, wo, "schedule", {"start": start, "technician": tech}, now=now, extra=reserve
    )


def start(line: Line, store: Store, actor: Actor, wo: str, *, now: float | None = None) -> WorkOrder:
    """The technician starts the work: the machine's stops are booked to the order."""
    authorize(actor, "do_maintenance")
    ctx = line_context(line, store)
    return _step(
        ctx, store, actor, wo, "start", {}, now=now, extra=lambda o, ts: _impose(ctx, store, actor, o, True)
    )


def pause(line: Line, store: Store, actor: Actor, wo: str, *, now: float | None = None) -> WorkOrder:
    authorize(actor, "do_maintenance")
    ctx = line_context(line, store)
    return _step(
        ctx, store, actor, wo, "pause", {}, now=now, extra=lambda o, ts: _impose(ctx, store, actor, o, False)
    )


def resume(line: Line, store: Store, actor: Actor, wo: str, *, now: float | None = None) -> WorkOrder:
    authorize(actor, "do_maintenance")
    ctx = line_context(line, store)
    return _step(
        ctx, store, actor, wo, "resume", {}, now=now, extra=lambda o, ts: _impose(ctx, store, actor, o, True)
    )


def book_labour(
    line: Line,
    store: Store,
    actor: Actor,
    wo: str,
    hours: float,
    *,
    technician: str | None = None,
    now: float | None = None,
) -> WorkOrder:
    """Labour time of a technician (default: the one booking it) on the order."""
    authorize(actor, "do_maintenance")
    hours = number(hours, "hours", lo=0.0, hi=24 * 14)
    if hours <= 0:
        raise OperatorInputError("hours: must be more than 0")
    tech = plain_text(technician, "technician", max_len=80) if technician else actor.who
    return _step(
        line_context(line, store), store, actor, wo, "labour", {"technician": tech, "hours": hours}, now=now
    )


def issue_part(
    line: Line, store: Store, actor: Actor, wo: str, part: str, qty: float, *, now: float | None = None
) -> WorkOrder:
    """Spare parts taken from the store room for the order (its reservation is released)."""
    authorize(actor, "do_maintenance")
    ctx = line_context(line, store)
    part = ident(part, "part")
    qty = number(qty, "quantity", lo=0.0, hi=1e6)
    if qty <= 0:
        raise OperatorInputError("quantity: must be more than 0")
    if part not in {p.id for p in ctx.config.maintenance.parts}:
        raise OperatorInputError(f"part: {part!r} is not in maintenance.parts")

    def issue(order: WorkOrder, ts: float) -> None:
        held = _stock(ctx, store)
        p = held[part]
        if p.on_hand < qty:
            raise OperatorInputError(f"quantity: only {p.on_hand:g} of {part} on hand")
        mine = p.by_order.get(order.id, 0.0)
        if mine > 0:
            repo.add_movement(
                store, ts, part, "release", -min(mine, qty), wo=order.id, by=actor.who, why="issued"
            )
        repo.add_movement(
            store, ts, part, "issue", -qty, wo=order.id, by=actor.who, why="issued to the order"
        )
        _reorder_notices(ctx, store, held, ts)

    return _step(ctx, store, actor, wo, "parts", {"part": part, "qty": qty}, now=now, extra=issue)


def code_failure(
    line: Line,
    store: Store,
    actor: Actor,
    wo: str,
    *,
    problem: str | None = None,
    cause: str | None = None,
    remedy: str | None = None,
    now: float | None = None,
) -> WorkOrder:
    """Failure coding from the config's lists (problem, cause, remedy)."""
    authorize(actor, "do_maintenance")
    ctx = line_context(line, store)
    fc = ctx.config.maintenance.failure_codes
    data: dict[str, str] = {}
    for field, value, codes in (
        ("problem", problem, fc.problems),
        ("cause", cause, fc.causes),
        ("remedy", remedy, fc.remedies),
    ):
        if value is None:
            continue
        known = {c.code for c in codes}
        if value not in known:
            raise OperatorInputError(
                f"{field}: {value!r} is not in maintenance.failure_codes (known: {', '.join(sorted(known)) or 'none'})"
            )
        data[field] = value
    if not data:
        raise OperatorInputError("problem: give a problem, cause or remedy")
    return _step(ctx, store, actor, wo, "failure", data, now=now)


def comment(
    line: Line, store: Store, actor: Actor, wo: str, text: str, *, now: float | None = None
) -> WorkOrder:
    authorize(actor, "do_maintenance")
    text = plain_text(require(text, "text"), "text")
    return _step(line_context(line, store), store, actor, wo, "comment", {"text": text}, now=now)


def finish(
    line: Line, store: Store, actor: Actor, wo: str, *, comment_text: str = "", now: float | None = None
) -> WorkOrder:
    """The technician finishes the work and signs it; a corrective order must be coded
    (problem, cause, remedy). Reservations left are released, the stop booking lifted."""
    authorize(actor, "do_maintenance")
    require_signature(actor)
    ctx = line_context(line, store)
    text = plain_text(comment_text, "comment") if comment_text else ""

    def done(order: WorkOrder, ts: float) -> None:
        if order.type == "corrective" and not (order.problem and order.cause and order.remedy):
            raise OperatorInputError(f"order: code the failure of {order.id} first (problem, cause, remedy)")
        _release_all(ctx, store, actor, order, ts, "finished")
        _impose(ctx, store, actor, order, False)

    return _step(
        ctx, store, actor, wo, "finish", {"comment": text, "signed": actor.signed}, now=now, extra=done
    )


def cancel(
    line: Line, store: Store, actor: Actor, wo: str, why: str, *, now: float | None = None
) -> WorkOrder:
    """Cancel (or reject) an order; its reservations are released."""
    authorize(actor, "approve_maintenance")
    ctx = line_context(line, store)
    why = plain_text(require(why, "why"), "why")

    def drop(order: WorkOrder, ts: float) -> None:
        _release_all(ctx, store, actor, order, ts, "cancelled")
        if order.state in ("in_progress",):
            _impose(ctx, store, actor, order, False)

    return _step(ctx, store, actor, wo, "cancel", {"why": why}, meaning="reviewed", now=now, extra=drop)


def _release_all(ctx: LineContext, store: Store, actor: Actor, order: WorkOrder, ts: float, why: str) -> None:
    held = _stock(ctx, store)
    for p in held.values():
        left = p.by_order.get(order.id, 0.0)
        if left > 0:
            repo.add_movement(store, ts, p.id, "release", -left, wo=order.id, by=actor.who, why=why)


# ------------------------------------------------------------------ spare parts


def _stock(ctx: LineContext, store: Store) -> dict[str, Part]:
    parts = {p.id: Part(p.id, p.name, p.min, p.max) for p in ctx.config.maintenance.parts}
    return repo.stock(store, parts)


def stock(line: Line, store: Store) -> list[dict[str, Any]]:
    """Every spare part: min, max, on hand, reserved, available, reorder notice."""
    ctx = line_context(line, store)
    return [p.as_dict() for p in _stock(ctx, store).values()]


def _reorder_notices(ctx: LineContext, store: Store, before: dict[str, Part], ts: float) -> None:
    """A ``maintenance.reorder`` event for each part that fell below its minimum now."""
    after = _stock(ctx, store)
    for pid, p in after.items():
        was = before.get(pid)
        if p.reorder and (was is None or not was.reorder):
            store.append_event(
                "maintenance.reorder",
                "maintenance",
                f"reorder {pid}: {p.available:g} available (min {p.min:g}), order {p.reorder_qty:g}",
                {"part": pid, "available": p.available, "min": p.min, "qty": p.reorder_qty},
                ts,
            )


def receive_part(
    line: Line, store: Store, actor: Actor, part: str, qty: float, why: str, *, now: float | None = None
) -> dict[str, Any]:
    """Parts arrive at the store room."""
    authorize(actor, "manage_parts")
    return _move(line, store, actor, part, qty, why, "receipt", now)


def count_part(
    line: Line, store: Store, actor: Actor, part: str, counted: float, why: str, *, now: float | None = None
) -> dict[str, Any]:
    """A stock count: the book is set to what was counted (the difference is recorded)."""
    authorize(actor, "manage_parts")
    return _move(line, store, actor, part, counted, why, "count", now)


def _move(
    line: Line, store: Store, actor: Actor, part: str, qty: float, why: str, kind: str, now: float | None
) -> dict[str, Any]:
    ctx = line_context(line, store)
    part = ident(part, "part")
    if part not in {p.id for p in ctx.config.maintenance.parts}:
        raise OperatorInputError(f"part: {part!r} is not in maintenance.parts")
    qty = number(qty, "quantity", lo=0.0, hi=1e9)
    why = plain_text(require(why, "why"), "why")
    ts = _now(now)
    with store.transaction(sync_full=True):
        held = _stock(ctx, store)
        delta = qty if kind == "receipt" else qty - held[part].on_hand
        if kind == "receipt" and qty <= 0:
            raise OperatorInputError("quantity: must be more than 0")
        repo.add_movement(store, ts, part, kind, delta, wo=None, by=actor.who, why=why)
        store.audit(
            who=actor.who,
            action=f"maintenance.{kind}",
            entity=part,
            old={"on_hand": held[part].on_hand},
            new={"on_hand": held[part].on_hand + delta},
            why=why,
            meaning="performed",
            ts=ts,
        )
        _reorder_notices(ctx, store, held, ts)
    return _stock(ctx, store)[part].as_dict()


def movements(store: Store, part: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
    return repo.movements(store, part, limit)


# ------------------------------------------------------------------ plans, windows, reliability


def plans(line: Line, store: Store, *, now: float | None = None) -> list[dict[str, Any]]:
    """Every plan with its last order and where it stands (upcoming, due, overdue ...),
    its meter and what is left to its next due point."""
    ctx = line_context(line, store)
    ts = _now(now)
    states = repo.plan_states(store)
    orders = _orders(store)
    out = []
    for p in ctx.config.maintenance.plans:
        mine = sorted((o for o in orders.values() if o.plan == p.id), key=lambda o: o.created)
        last = mine[-1] if mine else None
        st = states.get(p.id, {})
        meter = None
        if "run" in st:
            meter = st["run"].get("seconds", 0.0) / 3600
        elif "cycles" in st:
            meter = st["cycles"].get("total")
        status = None
        if last is not None and last.due is not None:
            status = compliance(
                last.due,
                tolerance_s=p.tolerance_h * 3600,
                missed_s=p.missed_h * 3600,
                now=ts,
                done_ts=last.finished_at if last.state == "done" else None,
                cancelled=last.state == "cancelled",
            )
        out.append(
            {
                "plan": p.id,
                "asset": p.asset,
                "title": p.title,
                "trigger": p.trigger.kind,
                "tasks": list(p.tasks),
                "estimate_h": p.estimate_h,
                "parts": dict(p.parts),
                "meter": meter,
                "next_due": st.get("next_due"),
                "last_order": last.id if last else None,
                "last_state": last.state if last else None,
                "status": status,
            }
        )
    return out


def maintenance_windows(line: Line, store: Store) -> list[dict[str, Any]]:
    """Planned preventive work with its duration, for the scheduler to slot into idle time:
    open preventive and condition-based orders (scheduled start if any, else due time)."""
    ctx = line_context(line, store)
    out = []
    for wo in work_orders(store, open_only=True):
        if wo.type == "corrective":
            continue
        at = wo.scheduled_start or wo.due or wo.created
        out.append(
            {
                "order": wo.id,
                "asset": wo.asset,
                "machine": _machine_of(ctx, wo.asset),
                "start": at,
                "end": at + wo.estimate_h * 3600,
                "duration_h": wo.estimate_h,
                "state": wo.state,
                "title": wo.title,
            }
        )
    return sorted(out, key=lambda w: w["start"])


def reliability_report(
    line: Line, store: Store, *, since: float, until: float | None = None
) -> dict[str, Any]:
    """MTBF, MTTR, MTTA and availability per asset and per failure mode, the Pareto of
    failure modes, mean time between preventive services, PM compliance and the backlog."""
    end = _now(until)
    orders = _orders(store)
    stops = [rel.Stop(e, m, s, en, st, bool(mi), r) for e, m, s, en, st, mi, r in repo.stops(store, since)]
    return maintenance_report(orders, stops, since, end)


# ------------------------------------------------------------------ the terminal's entry

#: Steps the technician's screen performs through :func:`technician_step`.
TECHNICIAN_STEPS = ("approve", "start", "pause", "resume", "labour", "parts", "failure", "comment", "finish")


def technician_step(
    line: Line,
    store: Store,
    actor: Actor,
    order: str,
    step: str,
    *,
    hours: float | None = None,
    part: str | None = None,
    qty: float | None = None,
    problem: str | None = None,
    cause: str | None = None,
    remedy: str | None = None,
    text: str | None = None,
) -> dict[str, Any]:
    """One step on an order from the terminal (over the operator channel), returning the
    order as plain data. The use case of each step authorizes it (approving and finishing
    must be signed: the terminal sends the PIN entered for it)."""
    order = ident(order, "order")
    if step == "approve":
        wo = approve(line, store, actor, order)
    elif step == "start":
        wo = start(line, store, actor, order)
    elif step == "pause":
        wo = pause(line, store, actor, order)
    elif step == "resume":
        wo = resume(line, store, actor, order)
    elif step == "labour":
        wo = book_labour(line, store, actor, order, number(hours, "hours") if hours is not None else 0.0)
    elif step == "parts":
        if part is None or qty is None:
            raise OperatorInputError("part: choose the part and give the quantity")
        wo = issue_part(line, store, actor, order, part, qty)
    elif step == "failure":
        wo = code_failure(line, store, actor, order, problem=problem, cause=cause, remedy=remedy)
    elif step == "comment":
        wo = comment(line, store, actor, order, text or "")
    elif step == "finish":
        wo = finish(line, store, actor, order, comment_text=text or "")
    else:
        raise OperatorInputError(f"step: {step!r} is not one of {', '.join(TECHNICIAN_STEPS)}")
    return wo.as_dict()
