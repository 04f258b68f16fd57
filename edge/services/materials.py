"""Materials at the line: the plant's lot list and lineside stock.

* **Lots** come down from the plant (``cmd/lots``, :func:`apply_lots`, run inside the
  command's transaction as the plant): the line caches each lot's latest status. A lot
  blocked or put in quarantine puts on hold, in the same transaction, every lot made
  from it on this line at any depth (forward genealogy, ``edge.services.holds``).
* **Moves in** (:func:`move_in`) are checked against that cached list
  (``edge.logic.materials.checks``): the material must be in the running product's BOM
  (and loaded at its feeder), the lot released, unexpired and not on hold; otherwise
  the move is refused with the reason and nothing is written. Every movement (in, out,
  count, issue, backflush) is one append-only row of ``stock_moves`` (a stream, synced
  to the plant) with its audit entry.
* **Shortages** (:func:`shortages`): feeders of the running product's components that
  run out within ``stock.shortage_minutes`` at the current rate.

Backflush, produced lots, automatic holds and shortage notices are the agent's
materials pass (``edge.services.materials_pass``); holds and dispositions are
``edge.services.holds``.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from edge.config.materials import BomCfg, MaterialMasterCfg
from edge.config.plant import LotEntry
from edge.logic.materials.backflush import StagedLot, allocate_fifo
from edge.logic.materials.checks import refusal
from edge.logic.materials.shortage import Shortage, consumption_rate, project_shortage
from edge.services import holds
from edge.services.context import Line, LineContext, line_context
from edge.services.identity import Actor, authorize
from edge.services.validate import OperatorInputError, ident, number, plain_text, require
from edge.store import Store
from edge.store import materials as repo
from edge.store import production as production_repo

#: Lot statuses that put what was made from the lot on hold.
HOLDING = ("blocked", "quarantine")


class MoveRefused(OperatorInputError):
    """A move in refused: the lot may not go to the line (the message says why)."""


def new_id(prefix: str) -> str:
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
                held += holds.hold_forward(store, e.lot, why, source="block", by=actor.who, now=now)
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


def lots(line: Line, store: Store, status: str | None = None) -> list[dict[str, Any]]:
    """The plant's lot list as cached here."""
    if status is not None and status not in ("released", "quarantine", "blocked", "expired"):
        raise OperatorInputError("status: must be released, quarantine, blocked or expired")
    with store.snapshot():
        return repo.lots(store, status)


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
        takes = consume(store, alloc.takes, mat, order, "issue", actor.who, now)
        store.audit(
            who=actor.who,
            action="stock.issue",
            entity=mat,
            new={"order": order, "quantity": qty, "from": takes},
            meaning="performed",
        )
    return {"material": mat, "order": order, "quantity": qty, "from": takes}


def consume(
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


def shortages(line: Line, store: Store, *, now: float | None = None) -> list[Shortage]:
    """Feeders of the running product's components that run out within
    ``stock.shortage_minutes`` at the rate of the last ``stock.rate_window_min``."""
    ctx = line_context(line, store)
    now = now if now is not None else time.time()
    with store.snapshot():
        return shortages_at(ctx, store, now)


def shortages_at(ctx: LineContext, store: Store, now: float) -> list[Shortage]:
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
        "shortages": [s.__dict__ for s in shortages_at(ctx, store, now)],
    }
