"""Holds and nonconformance at the line: quarantine a lot (and, forward, everything made
from it here), an order's output or a machine's time window, with a reason; a
disposition (release, scrap or rework) closes a hold with the nonconformance record —
what (the target), why, who, the disposition and a corrective-action reference — and
is the quality role's decision, signed.

Holds are append-only rows of ``holds`` (a synced stream): the latest row of a hold id
is its state. A produced lot is held when it is the target of an open hold, or its
order is, or an open window hold overlaps its own window (:func:`holds_on`).
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from edge.logic.materials.genealogy import backward, holds_for_block
from edge.services.context import Line, line_context
from edge.services.identity import Actor, authorize, require_signature
from edge.services.validate import OperatorInputError, ident, plain_text, require, when
from edge.store import Store
from edge.store import genealogy as genealogy_repo
from edge.store import materials as repo
from edge.store import production as production_repo

#: Hold targets and dispositions.
TARGETS = ("lot", "order", "window")
DISPOSITIONS = ("release", "scrap", "rework")


def new_id(prefix: str) -> str:
    """A new hold id (unique across lines: the plant keys holds by line and id anyway)."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def hold_forward(store: Store, lot: str, why: str, *, source: str, by: str, now: float) -> list[str]:
    """Hold every lot made from ``lot`` (forward genealogy) not on hold already."""
    held = {h["target"]: h for h in repo.holds(store, open_only=True) if h["target_kind"] == "lot"}
    out = []
    for child in holds_for_block(lot, lambda p: repo.children(store, p), held):
        hid = new_id("H")
        repo.add_hold_row(
            store,
            hold_id=hid,
            target_kind="lot",
            target=child,
            start=None,
            end=None,
            action="hold",
            reason=f"made from {lot}: {why}" if not why.startswith("material lot " + lot) else why,
            source=source,
            corrective_action="",
            by=by,
            ts=now,
        )
        store.audit(
            who=by, action="hold.put", entity=child, new={"hold": hid, "reason": why, "source": source}
        )
        out.append(child)
    return out


def put_on_hold(
    line: Line,
    store: Store,
    actor: Actor,
    target_kind: str,
    target: str,
    reason: str,
    *,
    start: float | None = None,
    end: float | None = None,
    now: float | None = None,
) -> dict[str, Any]:
    """Quarantine a lot (and what was made from it here), an order, or a machine's time
    window, with a reason."""
    authorize(actor, "hold_lots")
    ctx = line_context(line, store)
    if target_kind not in TARGETS:
        raise OperatorInputError(f"kind: must be one of {', '.join(TARGETS)}")
    target = ident(require(target, "target"), "target")
    reason = require(reason, "reason")
    now = now if now is not None else time.time()
    if target_kind == "window":
        ctx.require_machine(target)
        if start is None or end is None:
            raise OperatorInputError("start: a window needs --start and --end")
        start, end = when(start, "start"), when(end, "end")
        if end < start:
            raise OperatorInputError("end: must not be before start")
    else:
        start = end = None
    with store.transaction(sync_full=True):
        if target_kind == "lot" and not (
            genealogy_repo.produced(store, target)
            or repo.lot(store, target)
            or repo.moves(store, lot=target, limit=1)
        ):
            raise OperatorInputError(f"target: lot {target!r} is neither made nor known on this line")
        if target_kind == "order" and production_repo.order_window(store, target) is None:
            raise OperatorInputError(f"target: work order {target!r} never ran on this line")
        existing = repo.open_hold_on(store, target_kind, target)
        if existing is not None and target_kind != "window":
            raise OperatorInputError(f"target: {target!r} is on hold already ({existing})")
        hid = new_id("H")
        repo.add_hold_row(
            store,
            hold_id=hid,
            target_kind=target_kind,
            target=target,
            start=start,
            end=end,
            action="hold",
            reason=reason,
            source="operator",
            corrective_action="",
            by=actor.who,
            ts=now,
        )
        store.audit(
            who=actor.who,
            action="hold.put",
            entity=target,
            new={"hold": hid, "kind": target_kind, "start": start, "end": end, "reason": reason},
            meaning="performed",
        )
        also: list[str] = []
        if target_kind == "lot":
            also = hold_forward(
                store, target, f"lot {target} on hold: {reason}", source="genealogy", by=actor.who, now=now
            )
        elif target_kind == "order":
            also = hold_lots(
                store,
                repo.produced_of_order(store, target),
                f"order {target} on hold: {reason}",
                "order",
                actor.who,
                now,
            )
        else:
            assert start is not None and end is not None
            also = hold_lots(
                store,
                repo.produced_overlapping(store, start, end),
                f"{target} {reason}",
                "window",
                actor.who,
                now,
            )
    return {"hold": hid, "target_kind": target_kind, "target": target, "also_held": also}


def hold_lots(store: Store, lots: list[str], reason: str, source: str, by: str, now: float) -> list[str]:
    out = []
    for lot in lots:
        if repo.open_hold_on(store, "lot", lot) is not None:
            continue
        hid = new_id("H")
        repo.add_hold_row(
            store,
            hold_id=hid,
            target_kind="lot",
            target=lot,
            start=None,
            end=None,
            action="hold",
            reason=reason,
            source=source,
            corrective_action="",
            by=by,
            ts=now,
        )
        store.audit(
            who=by, action="hold.put", entity=lot, new={"hold": hid, "reason": reason, "source": source}
        )
        out.append(lot)
        out += hold_forward(store, lot, f"lot {lot} on hold: {reason}", source="genealogy", by=by, now=now)
    return out


def dispose(
    line: Line,
    store: Store,
    actor: Actor,
    hold_id: str,
    disposition: str,
    reason: str,
    *,
    corrective_action: str = "",
    now: float | None = None,
) -> dict[str, Any]:
    """Close a hold with a disposition (release, scrap, rework): the nonconformance
    record — what (the hold's target), why, who, the disposition and a corrective-action
    reference. The quality role's decision, signed (badge or PIN)."""
    authorize(actor, "dispose_holds")
    require_signature(actor)
    hold_id = ident(require(hold_id, "hold"), "hold")
    if disposition not in DISPOSITIONS:
        raise OperatorInputError(f"disposition: must be one of {', '.join(DISPOSITIONS)}")
    reason = require(reason, "reason")
    corrective_action = plain_text(corrective_action.strip(), "corrective_action", max_len=200)
    now = now if now is not None else time.time()
    with store.transaction(sync_full=True):
        h = repo.hold(store, hold_id)
        if h is None:
            raise OperatorInputError(f"hold: {hold_id!r} is not a hold of this line")
        if h["action"] != "hold":
            raise OperatorInputError(f"hold: {hold_id!r} was disposed of already ({h['action']})")
        repo.add_hold_row(
            store,
            hold_id=hold_id,
            target_kind=h["target_kind"],
            target=h["target"],
            start=h["start"],
            end=h["end"],
            action=disposition,
            reason=reason,
            source=h["source"],
            corrective_action=corrective_action,
            by=actor.who,
            ts=now,
        )
        store.audit(
            who=actor.who,
            action=f"hold.{disposition}",
            entity=h["target"],
            old={"hold": hold_id, "reason": h["reason"]},
            new={"disposition": disposition, "corrective_action": corrective_action},
            why=reason,
            meaning="approved",
        )
    return {"hold": hold_id, "target": h["target"], "disposition": disposition}


def holds(line: Line, store: Store, *, open_only: bool = False) -> list[dict[str, Any]]:
    with store.snapshot():
        return repo.holds(store, open_only=open_only)


def holds_on(store: Store, lot: str) -> list[dict[str, Any]]:
    """Open holds that cover a produced or material lot: on the lot itself, on its
    order, or on a window overlapping its own."""
    out = list(repo.holds(store, open_only=True, target=lot))
    for p in genealogy_repo.produced(store, lot):
        if p["order"]:
            out += [
                h for h in repo.holds(store, open_only=True, target=p["order"]) if h["target_kind"] == "order"
            ]
        out += [
            h
            for h in repo.open_window_holds(store)
            if h["start"] is not None and h["start"] <= p["end"] and h["end"] >= p["start"]
        ]
    return out


def genealogy(store: Store, lot: str) -> dict[str, Any]:
    """What went into ``lot`` (the lots it consumed, at every depth) and what was made
    from it, at this line."""
    return {
        "inputs": repo.parents(store, lot),
        "backward": backward(lot, lambda c: [p["parent"] for p in repo.parents(store, c)]),
        "forward": holds_for_block(lot, lambda p: repo.children(store, p), {}),
        "holds": holds_on(store, lot),
    }
