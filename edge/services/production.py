"""Production use cases: explain and split stops, run work orders, correct counts, read
the state, the running order, the dispatch list and KPIs.

Every input is validated here and refused with a message naming the field; accepted
input is an append-only row committed with its audit entry in one ``synchronous=FULL``
transaction, which the agent picks up (order requests) or KPI computation applies
(downtime edits). The first argument is the line: a :class:`LineContext` or its config;
an action's third is the :class:`~edge.services.identity.Actor` who performs it, checked
here (``authorize``) before anything is written.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from edge.config.operators import CorrectionLimits
from edge.config.production import scrap_reason_names
from edge.logic.production.downtime import DowntimeEvent, resolve
from edge.logic.production.report import build_report, downtime_row, unscheduled
from edge.services.context import Line, config_of, effective_config, line_context
from edge.services.identity import Actor, Refused, authorize
from edge.services.plan import dispatch_state, with_plan
from edge.services.validate import OperatorInputError, optional_ident, plain_text, require, when, whole
from edge.store import Store
from edge.store import plant as plant_repo
from edge.store import production as repo
from edge.store import quality as quality_repo

# ----------------------------------------------------------------------------- downtime


def effective_downtime(line: Line, store: Store, since: float | None = None) -> dict[str, list[Any]]:
    """Downtime events with the operators' edits applied; ``since``: only events still
    open or ending after it (a window keeps this fast on a store with months of stops)."""
    ctx = line_context(line, store)
    events = repo.load_downtime(store) if since is None else repo.load_downtime(store, since)
    edits = repo.load_edits(store)
    out = {}
    for m, evs in events.items():
        out[m] = resolve(
            evs, [e for e in edits if any(e.event_id.startswith(x.id) for x in evs)], ctx.reasons
        )
    return out


def list_downtime(
    line: Line,
    store: Store,
    *,
    include_explained: bool = True,
    now: float | None = None,
    since: float | None = None,
) -> list[dict[str, Any]]:
    """Downtime events (those ending after ``since``, if given), unexplained ones first,
    newest first within each group."""
    ctx = line_context(line, store)
    now = now if now is not None else time.time()
    rows = []
    for evs in effective_downtime(ctx, store, since).values():
        if not evs:
            continue
        planned = unscheduled(ctx.calendar, min(e.start for e in evs), now)
        rows += [downtime_row(e, ctx.reasons, planned, now) for e in evs if e.end != e.start]
    rows = [r for r in rows if not r["micro"] and (include_explained or not r["explained"])]
    rows.sort(key=lambda r: (r["explained"], -r["start"]))
    return rows


def _event(line: Line, store: Store, event_id: str) -> DowntimeEvent:
    for evs in effective_downtime(line, store).values():
        for e in evs:
            if e.id == event_id:
                return e
    raise OperatorInputError(f"event: no downtime event {event_id!r} (see `lineside downtime list`)")


def assign_reason(
    line: Line, store: Store, actor: Actor, event_id: str, reason: str, *, comment: str = ""
) -> None:
    """Assign or change the reason of a stop. Changing an operator's reason needs a comment."""
    authorize(actor, "explain_downtime")
    ctx = line_context(line, store)
    by = actor.who
    if reason not in ctx.reasons.reasons:
        near = ", ".join(r.code for r in ctx.reasons.search(reason)[:5])
        raise OperatorInputError(
            f"reason: {reason!r} is not in the reason tree" + (f" (did you mean {near}?)" if near else "")
        )
    with store.transaction(sync_full=True):
        ev = _event(ctx, store, event_id)
        if ev.reason is not None and ev.reason != reason and not comment.strip():
            raise OperatorInputError(
                f"comment: changing the reason from {ev.reason} to {reason} needs a comment"
            )
        repo.add_reason_edit(store, event_id, reason, comment=comment.strip(), by=by, ts=time.time())
        store.audit(
            who=by,
            action="downtime.assign_reason",
            entity=event_id,
            old=ev.effective_reason,
            new=reason,
            why=comment.strip(),
            meaning="performed",
        )


def split_event(
    line: Line, store: Store, actor: Actor, event_id: str, at: float, *, comment: str = ""
) -> str:
    """Split a stop in two at ``at``; returns the id of the second part."""
    authorize(actor, "explain_downtime")
    by = actor.who
    at = when(at, "at")
    with store.transaction(sync_full=True):
        ev = _event(line, store, event_id)
        end = ev.end if ev.end is not None else time.time()
        if not ev.start < at < end:
            raise OperatorInputError("at: the split time must lie inside the stop")
        repo.add_split_edit(store, event_id, at, comment=comment.strip(), by=by, ts=time.time())
        store.audit(
            who=by,
            action="downtime.split",
            entity=event_id,
            old={"start": ev.start, "end": ev.end},
            new={"split_at": at},
            why=comment.strip(),
            meaning="performed",
        )
    return f"{event_id}/{at:.3f}"


# ----------------------------------------------------------------------------- state and orders


def machine_state(store: Store, machine: str) -> str | None:
    """The state last recorded for ``machine`` (None before any)."""
    s = repo.latest_state(store, machine)
    return s[0] if s else None


def current_order(store: Store) -> tuple[str | None, str | None, float | None]:
    """The work order running on the line as the agent applied it: (order, product, start),
    or Nones when none runs."""
    o = repo.running_order(store)
    return (o.order, o.product, o.start) if o else (None, None, None)


def dispatch_list(
    store: Store, *, include_done: bool = False, now: float | None = None
) -> list[dict[str, Any]]:
    """Released work orders with their progress on the line: in the plan's sequence when
    the plant released a plan (with planned start and end, start delay and adherence,
    crew, tools and any block), the rest by priority and due date."""
    out = []
    for w in plant_repo.work_orders(store):
        state = dispatch_state(w.pop("status"), w.pop("last_action"))
        if not include_done and state in ("complete", "cancelled"):
            continue
        updated = w.pop("updated")
        out.append(w | {"state": state, "updated": updated})
    return with_plan(out, store, now if now is not None else time.time())


ORDER_ACTIONS = ("start", "pause", "resume", "complete", "changeover_start", "changeover_end")


def order_command(
    line: Line,
    store: Store,
    actor: Actor,
    action: str,
    order: str | None = None,
    *,
    product: str | None = None,
    quantity: int | None = None,
    due: float | None = None,
    switch: bool = False,
) -> int:
    """Queue a work-order request for the agent (it applies it to the line logic).

    Starting an order while another one runs needs ``switch=True`` (the operator's
    confirmation): the running order is completed and, for another product, a changeover
    begins. An order on hold (a failed first-off) neither starts nor resumes until a
    passing re-check or a supervisor's release. ``changeover_start`` takes the product
    the line changes over to (``product``; default: the product of ``order``)."""
    authorize(actor, "run_orders")
    ctx = line_context(line, store)
    by = actor.who
    if action not in ORDER_ACTIONS:
        raise OperatorInputError(f"action: {action!r} is not one of {', '.join(ORDER_ACTIONS)}")
    order = optional_ident(order, "order")
    product = optional_ident(product, "product")
    if quantity is not None:
        quantity = whole(quantity, "quantity", lo=1, hi=100_000_000)
    if due is not None:
        due = when(due, "due")
    if not isinstance(switch, bool):
        raise OperatorInputError("switch: true or false")
    with store.transaction(sync_full=True):
        running = repo.running_order(store)
        if action in ("start", "resume"):
            held = plant_repo.blocks(store).get(order or (running.order if running else ""))
            if held is not None and held[0] == "first_off":
                raise OperatorInputError(
                    f"order: {order or (running.order if running else '')} is on hold ({held[1] or 'first-off failed'}); "
                    "a passing re-check or a supervisor's release (`lineside inspect release`) lets it run"
                )
        if action == "start" and running is not None and running.order != order and not switch:
            good = repo.order_counts(store, ctx.machine, running.order)[0] if ctx.machine else 0
            qty = repo.requested_quantity(store, running.order)
            raise OperatorInputError(
                f"order: {running.order} is running ({good}{f' of {qty}' if qty else ''} good); "
                f"confirm the switch (--switch; in the terminal: Switch) to complete it and start {order}"
            )
        if action == "changeover_start" and product is None and order:
            known = repo.order_product(store, order) or plant_repo.released_work_order(store, order)
            product = known[0] if known else None
        if action == "changeover_start" and product is None:
            raise OperatorInputError("product: name the product the line changes over to (--product)")
        if action == "changeover_start" and product not in ctx.products:
            raise OperatorInputError(f"product: {product!r} is not a product of this line")
        if action == "start":
            order = require(order, "order")
            if product is None or quantity is None or due is None:
                # A work order released by the plant supplies what the operator did not type.
                released = plant_repo.released_work_order(store, order)
                if released is not None:
                    if product is not None and product != released[0]:
                        raise OperatorInputError(
                            f"product: work order {order} is released for {released[0]}, not {product}"
                        )
                    product, quantity, due = (
                        product or released[0],
                        quantity or released[1],
                        due or released[2],
                    )
            if product not in ctx.products:
                raise OperatorInputError(f"product: {product!r} is not a product of this line")
            if quantity is not None and quantity <= 0:
                raise OperatorInputError("quantity: must be a positive whole number")
        seq = repo.add_order_request(
            store, action, order or "", product=product, quantity=quantity, due=due, by=by, ts=time.time()
        )
        store.audit(
            who=by,
            action=f"order.{action}",
            entity=order or "",
            new={"product": product, "quantity": quantity, "due": due},
            meaning="performed",
        )
    return seq


# ----------------------------------------------------------------------------- imposed reasons


def impose_reason(
    line: Line,
    store: Store,
    actor: Actor,
    machine: str,
    reason: str | None,
    *,
    source: str,
    detail: str = "",
) -> int:
    """Book ``machine``'s stops with ``reason`` on behalf of another domain, until the
    same ``source`` lifts it (``reason=None``). The hook for other domains' use cases:

    * maintenance: ``impose_reason(ctx, st, actor, "filler", "MAINT.CORRECTIVE",
      source="maintenance:WO-17")`` when a work order takes the machine, and
      ``reason=None`` with the same source when it gives it back. The reason's ``loss`` in
      the reason tree decides the figures: ``availability`` for corrective work,
      ``planned`` for preventive work;
    * the SPC runtime runs inside the agent and calls
      :meth:`edge.logic.production.line.LineLogic.impose_reason` directly instead.

    It queues a request that the agent applies to the line logic within a second (stops
    open then are cut there; see ``LineLogic.impose_reason``) and records a
    ``ReasonImposed`` fact, re-applied after a restart. The caller authorizes and audits
    its own use case; call this inside that use case's ``store.transaction()`` so the
    request commits with it. Returns the request's
    sequence number. Unknown machine or reason code: ``OperatorInputError``."""
    ctx = line_context(line, store)
    ctx.require_machine(machine)
    source = require(source, "source")
    if reason is not None and reason not in ctx.reasons.reasons:
        raise OperatorInputError(f"reason: {reason!r} is not in the reason tree")
    detail = detail.strip()
    with store.transaction(sync_full=True):  # joins the caller's transaction
        return repo.add_reason_request(
            store, machine, source, reason, detail=detail, by=actor.who, ts=time.time()
        )


# ----------------------------------------------------------------------------- counts


def adjust_count(
    line: Line,
    store: Store,
    actor: Actor,
    machine: str,
    *,
    good: int = 0,
    scrap: int = 0,
    scrap_reason: str | None = None,
    comment: str = "",
) -> None:
    """Manual count correction or scrap entry by an operator (recorded with who and why).

    ``good=-3, scrap=3`` books three parts the PLC counted as good as rejects; plain
    scrap (``scrap=3``) on a machine with ``scrap_entry: from_good`` (the default) does
    the same, since its counters counted those parts as good. The reason is a code of
    the ``scrap_reasons`` tree when the line has one. Booking scrap needs
    ``book_scrap``, any other correction ``adjust_counts``; a correction
    beyond ``tui.count_corrections`` needs ``large_corrections`` too (a supervisor's), and
    none may drive the good or scrap count of the order it is booked on below zero."""
    ctx = line_context(line, store)
    if (
        isinstance(good, bool)
        or isinstance(scrap, bool)
        or not isinstance(good, int)
        or not isinstance(scrap, int)
    ):
        raise OperatorInputError("good/scrap: whole numbers only")
    authorize(actor, "book_scrap" if good == 0 and scrap > 0 else "adjust_counts")
    ctx.require_machine(machine)
    if good == 0 and scrap == 0:
        raise OperatorInputError("good/scrap: nothing to adjust")
    if abs(good) > 1_000_000 or abs(scrap) > 1_000_000:
        raise OperatorInputError("good/scrap: more than 1,000,000 parts in one adjustment is not plausible")
    if scrap > 0 and not (scrap_reason or "").strip():
        raise OperatorInputError("scrap_reason: required when booking scrap")
    if scrap_reason is not None:
        scrap_reason = _scrap_reason(ctx.config, scrap_reason)
    if good < 0 or scrap < 0 or good > 0:
        require(comment, "comment")  # corrections must say why
    cfg_machine = next(m for m in ctx.config.machines if m.name == machine)
    if good == 0 and scrap > 0 and cfg_machine.scrap_entry == "from_good":
        good = -scrap  # the counters counted these parts as good: they move to scrap
    by = actor.who
    with store.transaction(sync_full=True):
        last = repo.last_plc_count(store, machine)
        order, product, ideal = last if last else (None, ctx.config.default_product, None)
        _check_correction(ctx.config.tui.count_corrections, store, actor, machine, order, good, scrap)
        repo.add_operator_count(
            store,
            machine,
            good=good,
            scrap=scrap,
            ideal_cycle_s=ideal,
            order=order,
            product=product,
            scrap_reason=scrap_reason,
            by=by,
            comment=comment.strip(),
            ts=time.time(),
        )
        store.audit(
            who=by,
            action="counts.adjust",
            entity=f"{machine}/{order or '-'}",
            new={"good": good, "scrap": scrap, "scrap_reason": scrap_reason},
            why=comment.strip() or (scrap_reason or ""),
            meaning="performed",
        )


def scrap_reasons(line: Line) -> dict[str, str]:
    """The scrap reason tree: code → "Category / Reason" (empty: free text is taken)."""
    return scrap_reason_names(config_of(line))


def _scrap_reason(cfg: Any, text: str) -> str:
    """A scrap reason: a code of the ``scrap_reasons`` tree when the line has one (the
    terminal and the command line take the same codes), else plain text."""
    text = plain_text(text.strip(), "scrap_reason", max_len=200)
    names = scrap_reason_names(cfg)
    if not names:
        return text
    if text in names:
        return text
    t = text.lower()
    near = [c for c, n in names.items() if t in c.lower() or t in n.lower()][:5]
    raise OperatorInputError(
        f"scrap_reason: {text!r} is not in the scrap reason tree"
        + (f" (did you mean {', '.join(near)}?)" if near else f" (one of {', '.join(list(names)[:8])})")
    )


def correction_limit(limits: CorrectionLimits, order_quantity: int | None) -> int:
    """The largest correction an operator books without ``large_corrections``: the
    smaller of ``max_parts`` and ``max_order_percent`` of the order's quantity."""
    if order_quantity:
        return max(1, min(limits.max_parts, int(order_quantity * limits.max_order_percent / 100)))
    return limits.max_parts


def _check_correction(
    limits: CorrectionLimits,
    store: Store,
    actor: Actor,
    machine: str,
    order: str | None,
    good: int,
    scrap: int,
) -> None:
    """Refuse a correction that drives a total below zero, or a large one without the
    permission for it (inside the caller's transaction: the totals cannot move meanwhile)."""
    total_good, total_scrap = repo.order_counts(store, machine, order)
    on = f"order {order}" if order else "parts counted without an order"
    if total_good + good < 0:
        raise OperatorInputError(
            f"good: {good:+d} would leave {total_good + good} good parts on {machine} ({on}: {total_good} so far)"
        )
    if total_scrap + scrap < 0:
        raise OperatorInputError(
            f"scrap: {scrap:+d} would leave {total_scrap + scrap} scrapped parts on {machine} ({on}: {total_scrap} so far)"
        )
    quantity = repo.requested_quantity(store, order) if order else None
    if quantity is None and order:
        released = plant_repo.released_work_order(store, order)
        quantity = released[1] if released else None
    limit = correction_limit(limits, quantity)
    if max(abs(good), abs(scrap)) > limit and "large_corrections" not in actor.permissions:
        basis = (
            f"{limits.max_order_percent:g} % of order {order}'s {quantity}"
            if quantity
            else "the line's limit"
        )
        raise Refused(
            f"refused: a correction of more than {limit} parts ({basis}) needs a supervisor; "
            f"{actor.name}'s role {actor.role!r} may not book it"
        )


# ----------------------------------------------------------------------------- KPIs


def kpi_report(
    line: Line,
    store: Store,
    *,
    shift: str | None = None,
    order: str | None = None,
    since: float | None = None,
    now: float | None = None,
) -> dict[str, Any]:
    """KPIs for a shift (``current`` or ``YYYY-MM-DD/NAME``), a work order, or the time
    since a moment (``since``), from stored facts."""
    ctx = line_context(line, store)
    now = now if now is not None else time.time()
    machine = ctx.require_line_machine()
    if shift is not None:
        ctx.require_calendar()
    cal = ctx.calendar
    with store.snapshot():
        if since is not None:
            start, end = since, now
        elif order is not None:
            window = repo.order_window(store, order)
            if window is None:
                raise OperatorInputError(f"order: no work order {order!r} has run on this line")
            start, end = window[0], window[1] or now
        elif cal is not None and shift in (None, "current"):
            s = cal.shift_at(now)
            if s is None:
                raise OperatorInputError("shift: no shift is running now; name one as YYYY-MM-DD/NAME")
            start, end = s.start, min(s.end, now)
        elif cal is not None and shift is not None:
            try:
                s = cal.find(shift)
            except (KeyError, ValueError):
                raise OperatorInputError(
                    f"shift: no shift {shift!r} in the calendar (use YYYY-MM-DD/NAME)"
                ) from None
            start, end = s.start, min(s.end, now)
        else:
            first = repo.first_state_change(store)
            start, end = (first if first is not None else now - 3600), now
        end = max(end, start)  # a clock set back: an empty window, never a negative one
        facts = repo.load_facts(store, start, end)
        events = effective_downtime(ctx, store, since=start)
        configured = ctx.config.line.commissioned
        commissioned = (
            _local(configured, ctx.config.line.timezone).timestamp()
            if configured is not None
            else repo.commissioned_at(store)
        )
        misses = quality_repo.misses_between(store, start, end)
        changeovers = repo.changeovers_between(store, start, end)
    rep = build_report(
        facts,
        start,
        end,
        line_machine=machine,
        tree=ctx.reasons,
        calendar=cal,
        events=events,
        commissioned=commissioned,
    )
    rep["inspections_missed"] = misses
    rep["changeovers"] = changeovers
    return rep


def _local(dt: datetime, tz: str) -> datetime:
    return dt if dt.tzinfo is not None else dt.replace(tzinfo=ZoneInfo(tz))


# Kept importable from here: quality use cases moved to their own module (maintenance's
# are in edge.services.maintenance, which uses this module's impose_reason).
from edge.services.quality import (  # noqa: E402
    ack_alarms,
    approve_limits,
    enter_measurement,
    request_limits,
    spc_alarms,
)

__all__ = [
    "ORDER_ACTIONS",
    "OperatorInputError",
    "ack_alarms",
    "adjust_count",
    "approve_limits",
    "assign_reason",
    "correction_limit",
    "current_order",
    "dispatch_list",
    "effective_config",
    "effective_downtime",
    "enter_measurement",
    "impose_reason",
    "kpi_report",
    "list_downtime",
    "machine_state",
    "order_command",
    "request_limits",
    "require",
    "spc_alarms",
    "split_event",
]
