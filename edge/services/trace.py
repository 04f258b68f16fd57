"""Traceability and genealogy: which material lots went into a produced lot or serial,
under which process values, and forward, which products contain a material lot.

Produced lots are linked to a work order, a machine and a time window; material lots
are consumed for a work order of this line (by an operator here, or read from lot tags
by the agent, ``edge.logic.materials.lots``). Process values are summarised per tag over
the lot's window sample-and-hold: the value in force at the window's start counts, so a
tag that did not change in the window shows its value, not "no samples"; min, mean and
max are time-weighted, with the number of changes.
"""

from __future__ import annotations

import time
from typing import Any

from edge.services import holds as holds_service
from edge.services import materials as materials_service
from edge.services.context import Line, line_context
from edge.services.identity import Actor, authorize
from edge.services.validate import (
    OperatorInputError,
    ident,
    number,
    optional_ident,
    plain_text,
    require,
    when,
    whole,
)
from edge.store import Store
from edge.store import genealogy as repo
from edge.store import plant as plant_repo
from edge.store import production as production_repo
from edge.store import quality as quality_repo


def register_produced(
    line: Line,
    store: Store,
    actor: Actor,
    lot: str,
    *,
    kind: str = "lot",
    order: str | None = None,
    machine: str | None = None,
    start: float | None = None,
    end: float | None = None,
    quantity: int | None = None,
) -> None:
    """Record a produced lot or serial; defaults: the running order, the line machine,
    from the order's start until now."""
    authorize(actor, "record_lots")
    ctx = line_context(line, store)
    lot, by = require(lot, "lot"), actor.who
    lot = ident(lot, "lot")
    order = optional_ident(order, "order")
    if kind not in ("lot", "serial"):
        raise OperatorInputError("kind: must be lot or serial")
    if quantity is not None:
        quantity = whole(quantity, "quantity", lo=1, hi=100_000_000)
    start = when(start, "start") if start is not None else None
    end = when(end, "end") if end is not None else None
    with store.transaction(sync_full=True):
        running = production_repo.running_order(store)
        order = order or (running.order if running else None)
        if order is None:
            raise OperatorInputError("order: no work order is running; name one with --order")
        product: str | None
        order_start: float | None
        if running is not None and running.order == order and running.product is not None:
            product, order_start = running.product, running.start
        else:
            known = production_repo.order_product(store, order)
            product, order_start = known if known else (None, None)
        now = time.time()
        start = start if start is not None else (order_start or now)
        end = end if end is not None else now
        if end < start:
            raise OperatorInputError("end: must not be before start")
        repo.add_produced(
            store,
            lot,
            kind=kind,
            order=order,
            product=product,
            machine=machine or ctx.machine,
            start=start,
            end=end,
            quantity=quantity,
            by=by,
            ts=now,
        )
        materials_service.link_produced(store, lot, order=order, start=start, end=end, now=now)
        store.audit(
            who=by,
            action=f"trace.produced_{kind}",
            entity=lot,
            new={"order": order, "start": start, "end": end, "quantity": quantity},
            meaning="performed",
        )


def register_consumed(
    line: Line,
    store: Store,
    actor: Actor,
    material_lot: str,
    material: str,
    *,
    order: str | None = None,
    quantity: float | None = None,
    unit: str = "",
) -> None:
    """Record a material lot consumed (scanned or typed by an operator) for a work order."""
    authorize(actor, "record_lots")
    material_lot, material, by = (
        require(material_lot, "material_lot"),
        require(material, "material"),
        actor.who,
    )
    material_lot, material = ident(material_lot, "material_lot"), ident(material, "material")
    order = optional_ident(order, "order")
    unit = plain_text(unit.strip(), "unit", max_len=32)
    if quantity is not None:
        quantity = number(quantity, "quantity", hi=1e12)
        if quantity <= 0:
            raise OperatorInputError("quantity: must be positive")
    with store.transaction(sync_full=True):
        if order is None:
            running = production_repo.running_order(store)
            order = running.order if running else None
        if order is None:
            raise OperatorInputError("order: no work order is running; name one with --order")
        if not known_order(store, order):
            raise OperatorInputError(
                f"order: {order!r} is not an order of this line (it has not run here, is not "
                "requested and not on the dispatch list)"
            )
        materials_service.check_consumed_lot(line, store, material_lot, material, now=time.time())
        repo.add_consumed(
            store, material_lot, material, order=order, quantity=quantity, unit=unit, by=by, ts=time.time()
        )
        store.audit(
            who=by,
            action="trace.consumed",
            entity=material_lot,
            new={"material": material, "order": order, "quantity": quantity, "unit": unit},
            meaning="performed",
        )


def trace(line: Line, store: Store, ident: str) -> dict[str, Any]:
    """Backward for a produced lot/serial, forward for a material lot."""
    with store.snapshot():
        produced = repo.produced(store, ident)
        if produced:
            out: dict[str, Any] = {"id": ident, "direction": "backward", "produced": []}
            for p in produced:
                by = p.pop("by")
                out["produced"].append(
                    p
                    | {
                        "recorded_by": by,
                        "materials": [
                            {k: m[k] for k in ("material_lot", "material", "quantity", "unit", "by", "ts")}
                            for m in repo.consumed_for_order(store, p["order"])
                        ],
                        "process_values": repo.process_values(store, p["start"], p["end"]),
                        "spc_alarms": quality_repo.alarms_between(store, p["start"], p["end"]),
                    }
                )
            # The lots it consumed with feeder and quantity, at every depth, and its holds.
            out["genealogy"] = holds_service.genealogy(store, ident)
            return out
        uses = repo.uses_of_material_lot(store, ident)
        if uses:
            return {
                "id": ident,
                "direction": "forward",
                "used_in": [
                    {
                        "order": order,
                        "product": order_product(store, order),
                        "material": material,
                        "produced": repo.produced_for_order(store, order),
                    }
                    for order, material in uses
                ],
            }
    raise OperatorInputError(
        f"id: {ident!r} is neither a produced lot/serial nor a consumed material lot on this line"
    )


def known_order(store: Store, order: str) -> bool:
    """Whether ``order`` is an order of this line: it ran, was requested, or is on the
    dispatch list. (Material lots are checked by the materials domain.)"""
    return (
        production_repo.order_product(store, order) is not None
        or production_repo.order_was_started(store, order)
        or plant_repo.work_order_status(store, order) is not None
    )


def order_product(store: Store, order: str) -> str | None:
    """The product a work order makes (as it ran, else as released)."""
    ran = production_repo.order_product(store, order)
    if ran is not None:
        return ran[0]
    released = plant_repo.released_work_order(store, order)
    return released[0] if released else None


def process_values(store: Store, start: float, end: float) -> list[dict[str, Any]]:
    """Per tag over [start, end], sample-and-hold (the value in force at ``start``
    counts): samples, changes, time-weighted min, mean and max, the value at start and
    the last value (``edge.store.genealogy.process_values``)."""
    return repo.process_values(store, start, end)
