"""The line's materials pass (the agent runs it every few seconds, as the line):

* **backflush**: the parts counted on the line machine since the last pass, (good +
  scrap) × quantity per unit × (1 + scrap allowance), taken from the lots at each
  component's feeder, first in first out (``edge.logic.materials.backflush``); more than
  is on hand is reported, never booked negative;
* **produced lots and serials**: every N good parts (a pallet), or each new value of a
  serial tag, with their genealogy links and held at once when a lot they consumed is
  blocked or on hold, or their order or window is;
* **automatic holds**: a failed inspection holds the order's output since the last
  passing check of that plan; an out-of-spec SPC point holds the lot in progress;
* **shortage notices**: one event when a feeder will run out within
  ``stock.shortage_minutes``.

Each part keeps a cursor in ``materials_marks``, so a restart continues where the last
pass stopped and nothing is consumed twice.
"""

from __future__ import annotations

import time
from typing import Any

from edge.logic.materials.backflush import StagedLot, allocate_fifo, backflush_quantity
from edge.services import holds, materials
from edge.services.context import Line, LineContext, line_context
from edge.services.identity import LINE
from edge.services.validate import OperatorInputError, ident
from edge.store import Store
from edge.store import genealogy as genealogy_repo
from edge.store import materials as repo
from edge.store import production as production_repo

#: Who the line's own materials records are by.
BY_LINE = LINE.who


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
    mm = materials.master(ctx)
    done = []
    for (order, product), (good, scrap, ts) in groups.items():
        b = materials.bom(ctx, product)
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
            takes = materials.consume(store, alloc.takes, c.material, order, "backflush", BY_LINE, ts)
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
    materials.link_produced(store, lot, order=order, start=start, end=end, now=now)
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
        if st in materials.HOLDING:
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
        holds.hold_lots(store, [lot], "; ".join(reasons), "auto", by, now)
    return reasons


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
        _hold_window(store, machine, since, ts, why, "inspection", now, {"start": since, "end": ts})
        held += holds.hold_lots(
            store, repo.produced_overlapping(store, since, ts, order), why, "inspection", BY_LINE, now
        )
    if rows:
        repo.set_mark(store, "holds.inspections", rows[-1][0])
    after = _cursor(store, "holds.spc", "spc_alarms")
    alarms = repo.out_of_spec_after(store, after)
    for _seq, ts, characteristic, detail in alarms:
        why = f"SPC out of spec: {characteristic} {detail}".strip()
        _hold_window(store, machine, ts, ts, why, "spc", now, {"at": ts})
        held += holds.hold_lots(store, repo.produced_overlapping(store, ts, ts), why, "spc", BY_LINE, now)
    if alarms:
        repo.set_mark(store, "holds.spc", alarms[-1][0])
    return held


def _shortage_notices(ctx: LineContext, store: Store, now: float) -> list[str]:
    short = {(s.location, s.material): s for s in materials.shortages_at(ctx, store, now)}
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


def _hold_window(
    store: Store,
    machine: str,
    start: float,
    end: float,
    why: str,
    source: str,
    now: float,
    when: dict[str, Any],
) -> None:
    """Put the line's own hold on a machine's output window and audit it (``when`` says
    which times the audit entry names)."""
    hid = holds.new_id("H")
    repo.add_hold_row(
        store,
        hold_id=hid,
        target_kind="window",
        target=machine,
        start=start,
        end=end,
        action="hold",
        reason=why,
        source=source,
        corrective_action="",
        by=BY_LINE,
        ts=now,
    )
    store.audit(who=BY_LINE, action="hold.put", entity=machine, new={"hold": hid, **when, "reason": why})
