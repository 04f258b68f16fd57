"""Materials at the line: the plant's lot list, lineside stock (moves in and out, counts,
issue), backflush, produced lots, shortage notices, holds and dispositions.

* **Lots** come down from the plant (``cmd/lots``, :func:`apply_lots`, run inside the
  command's transaction as the plant): the line caches each lot's latest status. A lot
  blocked or put in quarantine puts on hold, in the same transaction, every lot made
  from it on this line at any depth (forward genealogy, ``edge.logic.materials.genealogy``).
* **Moves in** (:func:`move_in`) are checked against that cached list
  (``edge.logic.materials.checks``): the material must be in the running product's BOM
  (and loaded at its feeder), the lot released, unexpired and not on hold; otherwise
  the move is refused with the reason and nothing is written. Every movement is one
  append-only row of ``stock_moves`` (a stream, synced to the plant) with its audit entry.
* **The materials pass** (:func:`materials_pass`, run by the agent every few seconds as
  the line) backflushes the parts counted since the last pass from the lots at each
  component's feeder, first in first out; creates produced lots (every N parts, or a
  serial tag's new value) with their genealogy links; holds the output of a failed
  inspection since the last passing one and the lot in progress at an out-of-spec SPC
  point; and gives a shortage notice (an event) when a feeder will run out within
  ``stock.shortage_minutes``. Each part keeps a cursor in ``materials_marks``, so a
  restart continues where the last pass stopped and nothing is consumed twice.
* **Holds** (:func:`put_on_hold`) quarantine a lot, an order or a time window of a
  machine, with a reason; a disposition (:func:`dispose`: release, scrap or rework,
  with the nonconformance's reason and corrective-action reference) is the quality
  role's, signed.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from edge.config.materials import BomCfg, MaterialMasterCfg
from edge.config.plant import LotEntry
from edge.logic.materials.backflush import StagedLot, allocate_fifo, backflush_quantity
from edge.logic.materials.checks import refusal
from edge.logic.materials.genealogy import backward, holds_for_block
from edge.logic.materials.shortage import Shortage, consumption_rate, project_shortage
from edge.services.context import Line, LineContext, line_context
from edge.services.identity import LINE, Actor, authorize, require_signature
from edge.services.validate import OperatorInputError, ident, number, plain_text, require, when
from edge.store import Store
from edge.store import genealogy as genealogy_repo
from edge.store import materials as repo
from edge.store import production as production_repo

#: Who the line's own materials records are by.
BY_LINE = LINE.who
#: Hold targets and dispositions.
TARGETS = ("lot", "order", "window")
DISPOSITIONS = ("release", "scrap", "rework")
#: Lot statuses that put what was made from the lot on hold.
HOLDING = ("blocked", "quarantine")


class MoveRefused(OperatorInputError):
    """A move in refused: the lot may not go to the line (the message says why)."""


def _new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def master(ctx: LineContext) -> dict[str, MaterialMasterCfg]:
    return {m.id: m for m in ctx.config.material_master}


def bom(ctx: LineContext, product: str | None) -> BomCfg | None:
    if product is None:
        return None
    for b in ctx.config.boms:
        if b.product == product:
            return b
    return None


def _location(ctx: LineContext, location: str) -> str:
    location = ident(location, "location")
    known = {loc.id for loc in ctx.config.stock.locations}
    if location not in known:
        raise OperatorInputError(
            f"location: {location!r} is not a stock location of this line (known: {', '.join(sorted(known)) or 'none configured'})"
        )
    return location


def _quantity(value: object, field: str = "quantity") -> float:
    q = number(value, field, hi=1e12)
    if q <= 0:
        raise OperatorInputError(f"{field}: must be positive")
    return q


# ----------------------------------------------------------------------------- lots from the plant


def apply_lots(
    line: Line, store: Store, actor: Actor, lots: list[LotEntry], *, command_id: str, now: float
) -> dict[str, Any]:
    """Cache lots the plant sent (inside the command's transaction); a lot newly blocked
    or in quarantine holds every lot made from it here. Returns what was done."""
    authorize(actor, "plant_commands")
    held: list[str] = []
    with store.transaction(sync_full=True):
        for e in lots:
            before = repo.upsert_lot(
                store,
                e.lot,
                material=e.material,
                status=e.status,
                expiry=e.expiry,
                supplier_lot=e.supplier_lot,
                quantity=e.quantity,
                reason=e.reason,
                command_id=command_id,
                ts=now,
            )
            if e.status in HOLDING and before != e.status:
                why = f"material lot {e.lot} {e.status}" + (f": {e.reason}" if e.reason else "")
                held += _hold_forward(store, e.lot, why, source="block", by=actor.who, now=now)
                on_hand = repo.on_hand(store, lot=e.lot)
                if on_hand:
                    store.append_event(
                        "material.blocked",
                        "plant",
                        f"lot {e.lot} ({e.material}) is {e.status} and on hand at "
                        + ", ".join(f"{o.location} ({o.quantity:g})" for o in on_hand),
                        {"lot": e.lot, "status": e.status, "locations": [o.location for o in on_hand]},
                        now,
                    )
    return {"lots": [e.lot for e in lots], "held": held}


def _hold_forward(store: Store, lot: str, why: str, *, source: str, by: str, now: float) -> list[str]:
    """Hold every lot made from ``lot`` (forward genealogy) not on hold already."""
    held = {h["target"]: h for h in repo.holds(store, open_only=True) if h["target_kind"] == "lot"}
    out = []
    for child in holds_for_block(lot, lambda p: repo.children(store, p), held):
        hid = _new_id("H")
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


def lots(line: Line, store: Store, status: str | None = None) -> list[dict[str, Any]]:
    """The plant's lot list as cached here."""
    if status is not None and status not in ("released", "quarantine", "blocked", "expired"):
        raise OperatorInputError("status: must be released, quarantine, blocked or expired")
    with store.snapshot():
        return repo.lots(store, status)


# ----------------------------------------------------------------------------- stock


def move_in(
    line: Line,
    store: Store,
    actor: Actor,
    location: str,
    lot: str,
    *,
    material: str | None = None,
    quantity: float | None = None,
    now: float | None = None,
) -> dict[str, Any]:
    """A lot scanned or typed in at a location: checked against the plant's lot list and
    the running product's BOM, then recorded; else :class:`MoveRefused` with the reason."""
    authorize(actor, "move_stock")
    ctx = line_context(line, store)
    loc = _location(ctx, location)
    lot = ident(require(lot, "lot"), "lot")
    mat = ident(material, "material") if material else None
    qty = _quantity(quantity) if quantity is not None else None
    now = now if now is not None else time.time()
    with store.transaction(sync_full=True):
        info = repo.lot(store, lot)
        if mat is None:
            if info is None:
                raise MoveRefused(f"lot {lot!r} is not in the plant's lot list; give --material")
            mat = info.material
        mm = master(ctx).get(mat)
        if mm is None:
            raise MoveRefused(f"material {mat!r} is not in the material master")
        running = production_repo.running_order(store)
        product = running.product if running else None
        b = bom(ctx, product)
        if product is not None and b is None:
            raise MoveRefused(f"product {product!r} has no bill of materials on this line")
        why = refusal(
            lot=lot,
            material=mat,
            info=info,
            bom_materials={c.material for c in b.components} if b else None,
            product=product,
            lot_controlled=mm.lot_controlled,
            now=now,
        )
        if why is None and b is not None:
            feeder = next(c.feeder for c in b.components if c.material == mat)
            kind = next(x.kind for x in ctx.config.stock.locations if x.id == loc)
            if kind == "feeder" and feeder is not None and feeder != loc:
                why = f"material {mat!r} is loaded at {feeder!r}, not {loc!r}"
        if why is None:
            hid = repo.open_hold_on(store, "lot", lot)
            if hid is not None:
                why = f"lot {lot!r} is on hold ({hid})"
        if why is not None:
            raise MoveRefused(f"refused: {why}")
        if qty is None:
            if info is None or info.lot is None:
                raise OperatorInputError("quantity: required (the plant sent no quantity for this lot)")
            known = next((r["quantity"] for r in repo.lots(store) if r["lot"] == lot), None)
            if not known:
                raise OperatorInputError("quantity: required (the plant sent no quantity for this lot)")
            qty = float(known)
        seq = repo.add_move(
            store,
            kind="in",
            location=loc,
            material=mat,
            lot=lot,
            quantity=qty,
            order=running.order if running else None,
            reason="",
            by=actor.who,
            ts=now,
        )
        store.audit(
            who=actor.who,
            action="stock.in",
            entity=lot,
            new={"location": loc, "material": mat, "quantity": qty},
            meaning="performed",
        )
    return {"seq": seq, "location": loc, "lot": lot, "material": mat, "quantity": qty}


def _held_at(store: Store, location: str, lot: str) -> float:
    return sum(o.quantity for o in repo.on_hand(store, location=location, lot=lot))


def move_out(
    line: Line,
    store: Store,
    actor: Actor,
    location: str,
    lot: str,
    *,
    quantity: float | None = None,
    reason: str = "",
    now: float | None = None,
) -> dict[str, Any]:
    """Take a lot (all of it, or ``quantity``) out of a location: back to the warehouse,
    to scrap (say why)."""
    authorize(actor, "move_stock")
    ctx = line_context(line, store)
    loc = _location(ctx, location)
    lot = ident(require(lot, "lot"), "lot")
    reason = plain_text(reason.strip(), "reason", max_len=500)
    qty = _quantity(quantity) if quantity is not None else None
    now = now if now is not None else time.time()
    with store.transaction(sync_full=True):
        rows = repo.on_hand(store, location=loc, lot=lot)
        have = sum(o.quantity for o in rows)
        if not rows:
            raise OperatorInputError(f"lot: {lot!r} is not on hand at {loc!r}")
        qty = have if qty is None else qty
        if qty > have + 1e-9:
            raise OperatorInputError(f"quantity: {qty:g} is more than the {have:g} on hand at {loc!r}")
        repo.add_move(
            store,
            kind="out",
            location=loc,
            material=rows[0].material,
            lot=lot,
            quantity=-qty,
            order=None,
            reason=reason,
            by=actor.who,
            ts=now,
        )
        store.audit(
            who=actor.who,
            action="stock.out",
            entity=lot,
            new={"location": loc, "quantity": qty},
            why=reason,
            meaning="performed",
        )
    return {"location": loc, "lot": lot, "quantity": qty}


def count(
    line: Line,
    store: Store,
    actor: Actor,
    location: str,
    lot: str,
    counted: float,
    *,
    material: str | None = None,
    now: float | None = None,
) -> dict[str, Any]:
    """A stock count: what is found at a location replaces what the moves say (the
    difference is recorded as a ``count`` move)."""
    authorize(actor, "move_stock")
    ctx = line_context(line, store)
    loc = _location(ctx, location)
    lot = ident(require(lot, "lot"), "lot")
    counted = number(counted, "counted", lo=0, hi=1e12)
    now = now if now is not None else time.time()
    with store.transaction(sync_full=True):
        rows = repo.on_hand(store, location=loc, lot=lot)
        have = sum(o.quantity for o in rows)
        mat = rows[0].material if rows else (ident(material, "material") if material else None)
        if mat is None:
            info = repo.lot(store, lot)
            if info is None:
                raise OperatorInputError(f"material: lot {lot!r} is unknown here; give --material")
            mat = info.material
        diff = counted - have
        repo.add_move(
            store,
            kind="count",
            location=loc,
            material=mat,
            lot=lot,
            quantity=diff,
            order=None,
            reason=f"counted {counted:g} (was {have:g})",
            by=actor.who,
            ts=now,
        )
        store.audit(
            who=actor.who,
            action="stock.count",
            entity=lot,
            old={"quantity": have},
            new={"location": loc, "quantity": counted},
            meaning="performed",
        )
    return {"location": loc, "lot": lot, "was": have, "counted": counted, "difference": diff}


def issue(
    line: Line,
    store: Store,
    actor: Actor,
    material: str,
    quantity: float,
    *,
    location: str | None = None,
    lot: str | None = None,
    order: str | None = None,
    now: float | None = None,
) -> dict[str, Any]:
    """Explicit issue of a material that is not backflushed, to the running order (or
    ``order``): from ``lot`` if given, else first in first out over the locations."""
    authorize(actor, "move_stock")
    ctx = line_context(line, store)
    mat = ident(require(material, "material"), "material")
    qty = _quantity(quantity)
    loc = _location(ctx, location) if location else None
    lot_id = ident(lot, "lot") if lot else None
    now = now if now is not None else time.time()
    if mat not in master(ctx):
        raise OperatorInputError(f"material: {mat!r} is not in the material master")
    with store.transaction(sync_full=True):
        if order is None:
            running = production_repo.running_order(store)
            order = running.order if running else None
        else:
            order = ident(order, "order")
        if order is None:
            raise OperatorInputError("order: no work order is running; name one with --order")
        staged = repo.on_hand(store, location=loc, material=mat, lot=lot_id)
        alloc = allocate_fifo([StagedLot(f"{o.location}\t{o.lot}", o.quantity, o.since) for o in staged], qty)
        if alloc.short > 0:
            have = qty - alloc.short
            raise OperatorInputError(
                f"quantity: only {have:g} of {mat!r} on hand" + (f" at {loc!r}" if loc else "")
            )
        takes = _consume(store, alloc.takes, mat, order, "issue", actor.who, now)
        store.audit(
            who=actor.who,
            action="stock.issue",
            entity=mat,
            new={"order": order, "quantity": qty, "from": takes},
            meaning="performed",
        )
    return {"material": mat, "order": order, "quantity": qty, "from": takes}


def _consume(
    store: Store, takes: Any, material: str, order: str | None, kind: str, by: str, ts: float
) -> list[dict[str, Any]]:
    out = []
    for t in takes:
        location, lot = t.lot.split("\t", 1)
        repo.add_move(
            store,
            kind=kind,
            location=location,
            material=material,
            lot=lot,
            quantity=-t.quantity,
            order=order,
            reason="",
            by=by,
            ts=ts,
        )
        if order is not None and not repo.was_consumed(store, order, lot):
            repo.add_consumed(store, lot, material, order=order, source=kind, by=by, ts=ts)
        out.append({"location": location, "lot": lot, "quantity": t.quantity})
    return out


def on_hand(line: Line, store: Store, *, location: str | None = None) -> list[dict[str, Any]]:
    """Stock per location and lot, with the lot's status from the plant's list."""
    ctx = line_context(line, store)
    loc = _location(ctx, location) if location else None
    with store.snapshot():
        status = {r["lot"]: r["status"] for r in repo.lots(store)}
        return [
            {
                "location": o.location,
                "material": o.material,
                "lot": o.lot,
                "quantity": o.quantity,
                "since": o.since,
                "status": status.get(o.lot, "-"),
            }
            for o in repo.on_hand(store, location=loc)
        ]


def moves(line: Line, store: Store, *, lot: str | None = None, limit: int = 200) -> list[dict[str, Any]]:
    with store.snapshot():
        return repo.moves(store, lot=ident(lot, "lot") if lot else None, limit=limit)


# ----------------------------------------------------------------------------- holds


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
        hid = _new_id("H")
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
            also = _hold_forward(
                store, target, f"lot {target} on hold: {reason}", source="genealogy", by=actor.who, now=now
            )
        elif target_kind == "order":
            also = _hold_lots(
                store,
                repo.produced_of_order(store, target),
                f"order {target} on hold: {reason}",
                "order",
                actor.who,
                now,
            )
        else:
            assert start is not None and end is not None
            also = _hold_lots(
                store,
                repo.produced_overlapping(store, start, end),
                f"{target} {reason}",
                "window",
                actor.who,
                now,
            )
    return {"hold": hid, "target_kind": target_kind, "target": target, "also_held": also}


def _hold_lots(store: Store, lots: list[str], reason: str, source: str, by: str, now: float) -> list[str]:
    out = []
    for lot in lots:
        if repo.open_hold_on(store, "lot", lot) is not None:
            continue
        hid = _new_id("H")
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
        out += _hold_forward(store, lot, f"lot {lot} on hold: {reason}", source="genealogy", by=by, now=now)
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


# ----------------------------------------------------------------------------- the materials pass


def materials_pass(line: Line, store: Store, *, now: float | None = None) -> dict[str, Any]:
    """One pass of the line's own materials work (the agent runs it every few seconds):
    backflush, produced lots, automatic holds, shortage notices. Idempotent: cursors."""
    ctx = line_context(line, store)
    cfg = ctx.config
    now = now if now is not None else time.time()
    out: dict[str, Any] = {}
    if not (cfg.boms or cfg.stock.produced_lots or cfg.material_master):
        return out
    with store.transaction(sync_full=True):
        out["backflushed"] = _backflush(ctx, store, now)
        out["produced"] = _produce(ctx, store, now)
        out["held"] = _auto_holds(ctx, store, now)
        out["shortages"] = _shortage_notices(ctx, store, now)
    return out


def _cursor(store: Store, name: str, table: str) -> int:
    v = repo.mark(store, name)
    if v is None:  # first pass: start from now, not from the history before materials
        v = repo.last_seq(store, table)
        repo.set_mark(store, name, v)
    return int(v)


def _backflush(ctx: LineContext, store: Store, now: float) -> list[dict[str, Any]]:
    machine = ctx.machine
    if machine is None or not ctx.config.boms:
        return []
    after = _cursor(store, "backflush.counts", "counts")
    rows = repo.counts_after(store, after, machine)
    if not rows:
        return []
    groups: dict[tuple[str | None, str | None], list[Any]] = {}
    for _seq, ts, good, scrap, order, product in rows:
        g = groups.setdefault((order, product), [0, 0, ts])
        g[0] += good
        g[1] += scrap
        g[2] = ts
    mm = master(ctx)
    done = []
    for (order, product), (good, scrap, ts) in groups.items():
        b = bom(ctx, product)
        if b is None or good + scrap <= 0:
            continue
        for c in b.components:
            m = mm.get(c.material)
            if m is not None and not m.backflush:
                continue
            need = backflush_quantity(max(good, 0), max(scrap, 0), c.quantity, c.scrap_allowance)
            staged = repo.on_hand(store, location=c.feeder, material=c.material)
            alloc = allocate_fifo(
                [StagedLot(f"{o.location}\t{o.lot}", o.quantity, o.since) for o in staged], need
            )
            takes = _consume(store, alloc.takes, c.material, order, "backflush", BY_LINE, ts)
            if alloc.short > 0:
                key = f"short:{c.feeder or '*'}:{c.material}"
                if not repo.mark(store, key):
                    store.append_event(
                        "material.short",
                        "materials",
                        f"backflush of {c.material} at {c.feeder or 'the line'}: {alloc.short:g} more used than on hand",
                        {"material": c.material, "location": c.feeder, "short": alloc.short, "order": order},
                        ts,
                    )
                    repo.set_mark(store, key, 1)
            elif takes:
                repo.set_mark(store, f"short:{c.feeder or '*'}:{c.material}", 0)
            done.append(
                {
                    "order": order,
                    "material": c.material,
                    "quantity": need,
                    "from": takes,
                    "short": alloc.short,
                }
            )
    repo.set_mark(store, "backflush.counts", rows[-1][0])
    return done


def create_produced(
    ctx: LineContext,
    store: Store,
    lot: str,
    *,
    kind: str,
    order: str,
    product: str | None,
    machine: str | None,
    start: float,
    end: float,
    quantity: int | None,
    by: str,
    now: float,
) -> list[str]:
    """Record a produced lot with its genealogy links (the lots consumed for its order
    in its window; lots recorded by hand for the order until its end) and hold it when
    it must be: a consumed lot blocked or on hold, its order or window on hold. Inside
    the caller's transaction. Returns the reasons it was held for."""
    genealogy_repo.add_produced(
        store,
        lot,
        kind=kind,
        order=order,
        product=product,
        machine=machine,
        start=start,
        end=end,
        quantity=quantity,
        by=by,
        ts=now,
    )
    link_produced(store, lot, order=order, start=start, end=end, now=now)
    store.audit(
        who=by,
        action=f"trace.produced_{kind}",
        entity=lot,
        new={"order": order, "start": start, "end": end, "quantity": quantity},
        meaning="performed",
    )
    reasons = []
    for p in repo.parents(store, lot):
        st = repo.lot_status(store, p["parent"])
        if st in HOLDING:
            reasons.append(f"made from {p['parent']}, which is {st}")
        elif repo.open_hold_on(store, "lot", p["parent"]):
            reasons.append(f"made from {p['parent']}, which is on hold")
    for h in repo.holds(store, open_only=True, target=order):
        if h["target_kind"] == "order":
            reasons.append(f"order {order} on hold: {h['reason']}")
    for h in repo.open_window_holds(store):
        if h["start"] <= end and h["end"] >= start:
            reasons.append(f"made in a held window of {h['target']}: {h['reason']}")
    if reasons:
        _hold_lots(store, [lot], "; ".join(reasons), "auto", by, now)
    return reasons


def link_produced(store: Store, lot: str, *, order: str, start: float, end: float, now: float) -> None:
    """The genealogy links of a produced lot: backflushed and issued lots of its order
    consumed in its window, and lots recorded for the order by hand or from lot tags
    up to its end (their quantity unknown)."""
    linked = set()
    for c in repo.consumption_of_order(store, order, start, end):
        repo.add_link(
            store,
            parent=c["lot"],
            child=lot,
            material=c["material"],
            location=c["location"],
            quantity=c["quantity"],
            order=order,
            ts=now,
        )
        linked.add(c["lot"])
    for material_lot, material in repo.consumed_by_hand(store, order, end):
        if material_lot not in linked:
            repo.add_link(
                store,
                parent=material_lot,
                child=lot,
                material=material,
                location="",
                quantity=None,
                order=order,
                ts=now,
            )


def _produce(ctx: LineContext, store: Store, now: float) -> list[str]:
    pl = ctx.config.stock.produced_lots
    if pl is None:
        return []
    running = production_repo.running_order(store)
    if running is None:
        return []
    machine = pl.machine or ctx.machine
    made: list[str] = []
    if pl.every_parts is not None and machine is not None:
        last = repo.last_produced_end(store, running.order, BY_LINE)
        since = last[0] if last else (running.start or now)
        rows = repo.good_counts(store, machine, running.order, since, now)
        parts, start = 0, since
        for ts, good in rows:
            parts += good
            if parts >= pl.every_parts:
                n = repo.produced_count(store, running.order, BY_LINE) + 1
                lot = f"{running.order}-{n:04d}"
                create_produced(
                    ctx,
                    store,
                    lot,
                    kind="lot",
                    order=running.order,
                    product=running.product,
                    machine=machine,
                    start=start,
                    end=ts,
                    quantity=parts,
                    by=BY_LINE,
                    now=now,
                )
                made.append(lot)
                parts, start = 0, ts
    if pl.serial_tag is not None:
        cur = next((v for v in store.current_values() if v["tag"] == pl.serial_tag), None)
        if cur is not None and cur["quality"] == "good" and cur["value"] not in (None, ""):
            serial = str(cur["value"]).strip()
            if serial and serial != repo.mark(store, "serial.last"):
                repo.set_mark(store, "serial.last", serial)
                try:
                    serial = ident(serial, "serial")
                except OperatorInputError:
                    serial = ""
                if serial and not genealogy_repo.produced(store, serial):
                    last = repo.last_produced_end(store, running.order, BY_LINE)
                    start = last[0] if last else (running.start or now)
                    create_produced(
                        ctx,
                        store,
                        serial,
                        kind="serial",
                        order=running.order,
                        product=running.product,
                        machine=machine,
                        start=start,
                        end=float(cur["ts"]),
                        quantity=1,
                        by=BY_LINE,
                        now=now,
                    )
                    made.append(serial)
    return made


def _auto_holds(ctx: LineContext, store: Store, now: float) -> list[str]:
    held: list[str] = []
    machine = ctx.machine or ""
    after = _cursor(store, "holds.inspections", "inspections")
    rows = repo.inspections_after(store, after)
    for seq, ts, plan, order, passed in rows:
        if passed or order is None:
            continue
        since = repo.last_pass_before(store, order, plan, seq)
        if since is None:
            w = production_repo.order_window(store, order)
            since = w[0] if w else ts
        why = f"inspection {plan} failed: output of {order} since the last passing check"
        hid = _new_id("H")
        repo.add_hold_row(
            store,
            hold_id=hid,
            target_kind="window",
            target=machine,
            start=since,
            end=ts,
            action="hold",
            reason=why,
            source="inspection",
            corrective_action="",
            by=BY_LINE,
            ts=now,
        )
        store.audit(
            who=BY_LINE,
            action="hold.put",
            entity=machine,
            new={"hold": hid, "start": since, "end": ts, "reason": why},
        )
        held += _hold_lots(
            store, repo.produced_overlapping(store, since, ts, order), why, "inspection", BY_LINE, now
        )
    if rows:
        repo.set_mark(store, "holds.inspections", rows[-1][0])
    after = _cursor(store, "holds.spc", "spc_alarms")
    alarms = repo.out_of_spec_after(store, after)
    for _seq, ts, characteristic, detail in alarms:
        why = f"SPC out of spec: {characteristic} {detail}".strip()
        hid = _new_id("H")
        repo.add_hold_row(
            store,
            hold_id=hid,
            target_kind="window",
            target=machine,
            start=ts,
            end=ts,
            action="hold",
            reason=why,
            source="spc",
            corrective_action="",
            by=BY_LINE,
            ts=now,
        )
        store.audit(
            who=BY_LINE, action="hold.put", entity=machine, new={"hold": hid, "at": ts, "reason": why}
        )
        held += _hold_lots(store, repo.produced_overlapping(store, ts, ts), why, "spc", BY_LINE, now)
    if alarms:
        repo.set_mark(store, "holds.spc", alarms[-1][0])
    return held


def shortages(line: Line, store: Store, *, now: float | None = None) -> list[Shortage]:
    """Feeders of the running product's components that run out within
    ``stock.shortage_minutes`` at the rate of the last ``stock.rate_window_min``."""
    ctx = line_context(line, store)
    now = now if now is not None else time.time()
    with store.snapshot():
        return _shortages(ctx, store, now)


def _shortages(ctx: LineContext, store: Store, now: float) -> list[Shortage]:
    running = production_repo.running_order(store)
    b = bom(ctx, running.product if running else None)
    if b is None:
        return []
    st = ctx.config.stock
    out = []
    for c in b.components:
        if c.feeder is None:
            continue
        have = sum(o.quantity for o in repo.on_hand(store, location=c.feeder, material=c.material))
        window = st.rate_window_min * 60
        rate = consumption_rate(
            repo.consumed_between(
                store, location=c.feeder, material=c.material, since=now - window, until=now
            ),
            now=now,
            window_s=window,
        )
        if rate <= 0 and have > 0:
            continue
        s = project_shortage(c.feeder, c.material, have, rate, st.shortage_minutes)
        if s is not None:
            out.append(s)
    return out


def _shortage_notices(ctx: LineContext, store: Store, now: float) -> list[str]:
    short = {(s.location, s.material): s for s in _shortages(ctx, store, now)}
    out = []
    for (loc, mat), s in short.items():
        key = f"shortage:{loc}:{mat}"
        if not repo.mark(store, key):
            left = "now" if s.minutes_left <= 0 else f"in {s.minutes_left:.0f} min"
            store.append_event(
                "material.shortage",
                "materials",
                f"{mat} at {loc} runs out {left} ({s.on_hand:g} on hand, {s.rate_per_min:.3g}/min)",
                {
                    "location": loc,
                    "material": mat,
                    "on_hand": s.on_hand,
                    "rate_per_min": s.rate_per_min,
                    "minutes_left": None if s.minutes_left == float("inf") else s.minutes_left,
                },
                now,
            )
            repo.set_mark(store, key, 1)
            out.append(f"{loc}:{mat}")
    for name in repo.marks_like(store, "shortage:"):
        _, loc, mat = name.split(":", 2)
        if (loc, mat) not in short:
            repo.set_mark(store, name, 0)
    return out


def check_consumed_lot(line: Line, store: Store, lot: str, material: str, *, now: float) -> None:
    """The lot checks for a material lot recorded consumed by hand (``lineside lot
    consumed``): a material of the master (when the line has one), a lot of the plant's
    list that is released and unexpired (when the material is lot-controlled), not on
    hold. Raises :class:`MoveRefused` with the reason."""
    ctx = line_context(line, store)
    mm = master(ctx)
    if not mm:
        return
    m = mm.get(material)
    if m is None:
        raise MoveRefused(f"material: {material!r} is not in the material master")
    why = refusal(
        lot=lot,
        material=material,
        info=repo.lot(store, lot),
        bom_materials=None,
        product=None,
        lot_controlled=m.lot_controlled,
        now=now,
    )
    if why is None and repo.open_hold_on(store, "lot", lot) is not None:
        why = f"lot {lot!r} is on hold"
    if why is not None:
        raise MoveRefused(f"refused: {why}")


def materials_view(line: Line, store: Store, now: float) -> dict[str, Any]:
    """What the terminal shows of materials (inside the caller's snapshot): stock on
    hand with each lot's status, open holds, feeders running short. Empty on a line
    without materials."""
    ctx = line_context(line, store)
    if not (ctx.config.material_master or ctx.config.stock.locations):
        return {}
    status = {r["lot"]: r["status"] for r in repo.lots(store)}
    return {
        "on_hand": [
            {
                "location": o.location,
                "material": o.material,
                "lot": o.lot,
                "quantity": o.quantity,
                "status": status.get(o.lot, "-"),
            }
            for o in repo.on_hand(store)
        ],
        "holds": repo.holds(store, open_only=True)[-50:],
        "shortages": [s.__dict__ for s in _shortages(ctx, store, now)],
    }
