"""The plant's plan at the line: the released sequence joined to the dispatch list (plan
against actual: schedule adherence and start delay), orders declared blocked (material
not staged, tool in maintenance, first-off hold), and the line's own resequencing while
the plant is unreachable.

When the next planned order cannot start, the line records it once: with the plant link
up as a ``plan.blocked`` event (the plant replans), with the link down as a
``plan.resequence`` event naming the order it picks instead by the plan's rule
(``next_feasible``). Events go up the ``events`` stream when the link returns, so the
plant replans from what really happened.
"""

from __future__ import annotations

import time
from typing import Any

from edge.logic.production.sequence import Candidate, NextOrder, adherence, next_order
from edge.services.context import Line, line_context
from edge.services.identity import Actor, authorize
from edge.services.validate import OperatorInputError, ident, plain_text
from edge.store import Store
from edge.store import plant as repo

BLOCK_REASONS = {
    "material": "material not staged",
    "tool": "tool in maintenance",
    "first_off": "first-off hold",
}
#: The uplink records its status every ``uplink.status_interval_s`` while connected and
#: nothing while it is not: a status older than this many intervals means the link is down.
LINK_STALE_INTERVALS = 3.0


def with_plan(rows: list[dict[str, Any]], store: Store, now: float) -> list[dict[str, Any]]:
    """Dispatch rows with their plan (position, planned start/end, setup, crew, tools),
    the start delay and adherence, and a block if one is declared; planned orders first,
    in sequence."""
    plan = {e["order_id"]: e for e in repo.line_plan(store)}
    starts = repo.order_starts(store)
    blocks = repo.blocks(store)
    out = []
    for r in rows:
        e = plan.get(r["order_id"])
        b = blocks.get(r["order_id"])
        extra: dict[str, Any] = {
            "position": None,
            "planned_start": None,
            "planned_end": None,
            "setup_min": None,
            "crew": [],
            "tools": [],
            "actual_start": starts.get(r["order_id"], (None, None))[0],
            "start_delay_min": None,
            "adherence": "",
            "blocked": BLOCK_REASONS[b[0]] + (f" ({b[1]})" if b[1] else "") if b else None,
        }
        if e is not None:
            delay, word = adherence(e["planned_start"], extra["actual_start"], now)
            extra |= {
                "position": e["position"],
                "planned_start": e["planned_start"],
                "planned_end": e["planned_end"],
                "setup_min": e["setup_min"],
                "crew": e["crew"],
                "tools": e["tools"],
                "start_delay_min": delay,
                "adherence": word,
            }
        out.append(r | extra)
    return sorted(out, key=lambda r: (r["position"] is None, r["position"] or 0))


def dispatch_state(status: str, last_action: str | None) -> str:
    """A dispatch-list order's state from its status and the line's last fact about it."""
    if status == "cancelled":
        return "cancelled"
    return {None: "released", "start": "running"}.get(last_action, last_action or "released")


def dispatch_states(store: Store) -> dict[str, str]:
    return {w["order_id"]: dispatch_state(w["status"], w["last_action"]) for w in repo.work_orders(store)}


def block_order(line: Line, store: Store, actor: Actor, order: str, reason: str, *, detail: str = "") -> None:
    """Declare that ``order`` cannot start now (until :func:`unblock_order`); the line
    then passes over it in the plan's sequence. Permission ``block_orders``."""
    authorize(actor, "block_orders")
    order = ident(order, "order")
    if reason not in BLOCK_REASONS:
        raise OperatorInputError(f"reason: {reason!r} is not one of {', '.join(BLOCK_REASONS)}")
    detail = plain_text(detail, "detail", max_len=500).strip()
    with store.transaction(sync_full=True):
        if repo.work_order_status(store, order) is None:
            raise OperatorInputError(f"order: {order!r} is not on this line's dispatch list")
        repo.set_block(store, order, reason, detail, by=actor.who, ts=time.time())
        store.audit(
            who=actor.who,
            action="order.block",
            entity=order,
            new={"reason": reason, "detail": detail},
            why=BLOCK_REASONS[reason],
            meaning="performed",
        )


def unblock_order(line: Line, store: Store, actor: Actor, order: str) -> None:
    """Clear the block on ``order``: it can start again. Permission ``block_orders``. A
    first-off hold is not cleared here (``edge.services.inspections``)."""
    authorize(actor, "block_orders")
    order = ident(order, "order")
    with store.transaction(sync_full=True):
        old = repo.blocks(store).get(order)
        if old is not None and old[0] == "first_off":
            # A first-off hold ends with a passing re-check or a supervisor's signed release.
            raise OperatorInputError(
                f"order: {order} is on a first-off hold; a passing re-check or `lineside inspect "
                "release` (a supervisor, signed, with a reason) releases it"
            )
        if old is None or not repo.clear_block(store, order):
            raise OperatorInputError(f"order: {order!r} is not blocked")
        store.audit(
            who=actor.who,
            action="order.unblock",
            entity=order,
            old={"reason": old[0], "detail": old[1]},
            meaning="performed",
        )


def link_up(line: Line, store: Store, now: float) -> bool:
    """Whether the uplink reached the broker lately (as it last recorded). A line
    without an uplink has no plant link."""
    cfg = line_context(line).config
    if cfg.uplink is None or not cfg.uplink.enabled:
        return False
    up = store.agent_status().get("uplink")
    if not up:
        return False
    stale = max(2.0, LINK_STALE_INTERVALS * cfg.uplink.status_interval_s)
    return bool(up["value"].get("connected")) and now - float(up["updated_at"]) < stale


def check_sequence(
    line: Line, store: Store, *, now: float | None = None, link: bool | None = None
) -> NextOrder | None:
    """Which order is next by the plan; record (once) a blocked planned order, and while
    the plant is unreachable the order picked instead. None without a plan."""
    now = now if now is not None else time.time()
    plan = repo.line_plan(store)
    if not plan:
        return None
    plan_id = plan[0]["plan_id"]
    states = dispatch_states(store)
    blocks = repo.blocks(store)
    seq = [
        Candidate(
            e["order_id"],
            states.get(e["order_id"], "cancelled"),
            blocks[e["order_id"]][0] if e["order_id"] in blocks else None,
        )
        for e in plan
    ]
    nxt = next_order(seq)
    if not nxt.resequenced or nxt.planned is None:
        return nxt
    reason = blocks[nxt.planned][0]
    detail = blocks[nxt.planned][1]
    online = link_up(line, store, now) if link is None else link
    kind = "plan.blocked" if online else "plan.resequence"
    with store.transaction(sync_full=True):
        if repo.decided(store, plan_id, nxt.planned, kind):
            return nxt
        if online:
            msg = f"planned order {nxt.planned} cannot start: {BLOCK_REASONS[reason]}"
        else:
            msg = (
                f"planned order {nxt.planned} cannot start ({BLOCK_REASONS[reason]}); the plant is unreachable, "
                + (f"{nxt.chosen} goes next instead" if nxt.chosen else "no released order can start")
            )
        store.append_event(
            kind,
            "plan",
            msg,
            {
                "plan_id": plan_id,
                "planned": nxt.planned,
                "chosen": nxt.chosen or "",
                "reason": reason,
                "detail": detail,
                "skipped": [list(s) for s in nxt.skipped],
            },
            ts=now,
        )
        repo.add_decision(store, plan_id, nxt.planned, kind, nxt.chosen or "", ts=now)
    return nxt
