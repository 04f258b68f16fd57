"""Traceability and genealogy: which material lots went into a produced lot or serial,
under which process values, and forward, which products contain a material lot.

Produced lots are linked to a work order, a machine and a time window; material lots
are consumed for a work order. Process values are summarised per tag over the lot's
window straight from the samples (the ``ts`` index makes that a range scan).
"""

from __future__ import annotations

import time
from typing import Any

from edge.config.line import LineConfig
from edge.services.production import OperatorInputError, current_order, require
from edge.store import Store
from edge.store.db import decode_value


def register_produced(
    cfg: LineConfig,
    store: Store,
    lot: str,
    *,
    by: str,
    kind: str = "lot",
    order: str | None = None,
    machine: str | None = None,
    start: float | None = None,
    end: float | None = None,
    quantity: int | None = None,
) -> None:
    """Record a produced lot or serial; defaults: the running order, the line machine,
    from the order's start until now."""
    lot, by = require(lot, "lot"), require(by, "by")
    if kind not in ("lot", "serial"):
        raise OperatorInputError("kind: must be lot or serial")
    cur_order, product, order_start = current_order(store)
    order = order or cur_order
    if order is None:
        raise OperatorInputError("order: no work order is running; name one with --order")
    if product is None or order != cur_order:
        row = store.db.execute(
            "SELECT product, min(ts) FROM orders WHERE order_id = ? AND by = 'line'", (order,)
        ).fetchone()
        product, order_start = row if row and row[0] else (None, None)
    now = time.time()
    start = start if start is not None else (order_start or now)
    end = end if end is not None else now
    if end < start:
        raise OperatorInputError("end: must not be before start")
    if quantity is not None and quantity <= 0:
        raise OperatorInputError("quantity: must be a positive whole number")
    machine = machine or cfg.line_machine or (cfg.machines[0].name if cfg.machines else None)
    with store._tx(sync_full=True):
        store.db.execute(
            "INSERT INTO produced (ts, lot, kind, order_id, product, machine, start, end, quantity, by) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (now, lot, kind, order, product, machine, start, end, quantity, by),
        )
        store.audit(
            who=by,
            action=f"trace.produced_{kind}",
            entity=lot,
            new={"order": order, "start": start, "end": end, "quantity": quantity},
            meaning="performed",
        )


def register_consumed(
    cfg: LineConfig,
    store: Store,
    material_lot: str,
    material: str,
    *,
    by: str,
    order: str | None = None,
    quantity: float | None = None,
    unit: str = "",
) -> None:
    """Record a material lot consumed (scanned or typed by an operator) for a work order."""
    material_lot, material, by = (
        require(material_lot, "material_lot"),
        require(material, "material"),
        require(by, "by"),
    )
    order = order or current_order(store)[0]
    if order is None:
        raise OperatorInputError("order: no work order is running; name one with --order")
    if quantity is not None and quantity <= 0:
        raise OperatorInputError("quantity: must be positive")
    with store._tx(sync_full=True):
        store.db.execute(
            "INSERT INTO consumed (ts, material_lot, material, order_id, quantity, unit, by) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (time.time(), material_lot, material, order, quantity, unit, by),
        )
        store.audit(
            who=by,
            action="trace.consumed",
            entity=material_lot,
            new={"material": material, "order": order, "quantity": quantity, "unit": unit},
            meaning="performed",
        )


def trace(cfg: LineConfig, store: Store, ident: str) -> dict[str, Any]:
    """Backward for a produced lot/serial, forward for a material lot."""
    db = store.db
    produced = db.execute(
        "SELECT lot, kind, order_id, product, machine, start, end, quantity, by FROM produced WHERE lot = ? ORDER BY seq",
        (ident,),
    ).fetchall()
    if produced:
        out: dict[str, Any] = {"id": ident, "direction": "backward", "produced": []}
        for lot, kind, order, product, machine, start, end, qty, by in produced:
            mats = db.execute(
                "SELECT material_lot, material, quantity, unit, by, ts FROM consumed WHERE order_id = ? ORDER BY seq",
                (order,),
            ).fetchall()
            out["produced"].append(
                {
                    "lot": lot,
                    "kind": kind,
                    "order": order,
                    "product": product,
                    "machine": machine,
                    "start": start,
                    "end": end,
                    "quantity": qty,
                    "recorded_by": by,
                    "materials": [
                        {"material_lot": m, "material": mat, "quantity": q, "unit": u, "by": b, "ts": t}
                        for m, mat, q, u, b, t in mats
                    ],
                    "process_values": process_values(store, start, end),
                    "spc_alarms": [
                        {"ts": t, "characteristic": c, "kind": k, "rule": r, "detail": d}
                        for t, c, k, r, d in db.execute(
                            "SELECT ts, characteristic, kind, rule, detail FROM spc_alarms WHERE ts >= ? AND ts <= ? ORDER BY seq",
                            (start, end),
                        )
                    ],
                }
            )
        return out
    uses = db.execute(
        "SELECT DISTINCT order_id, material FROM consumed WHERE material_lot = ?", (ident,)
    ).fetchall()
    if uses:
        out = {"id": ident, "direction": "forward", "used_in": []}
        for order, material in uses:
            lots = db.execute(
                "SELECT lot, kind, product, start, end, quantity FROM produced WHERE order_id = ? ORDER BY seq",
                (order,),
            ).fetchall()
            out["used_in"].append(
                {
                    "order": order,
                    "material": material,
                    "produced": [
                        {"lot": lot, "kind": k, "product": p, "start": s, "end": e, "quantity": q}
                        for lot, k, p, s, e, q in lots
                    ],
                }
            )
        return out
    raise OperatorInputError(
        f"id: {ident!r} is neither a produced lot/serial nor a consumed material lot on this line"
    )


def process_values(store: Store, start: float, end: float) -> list[dict[str, Any]]:
    """Per tag over [start, end]: samples, min, mean, max and the last value (numeric tags)."""
    rows = store.db.execute(
        "SELECT t.name, t.type, t.eng_unit, count(*), min(s.value), avg(s.value), max(s.value) "
        "FROM samples s JOIN tags t ON t.id = s.tag_id "
        "WHERE s.ts >= ? AND s.ts <= ? AND s.quality = 0 GROUP BY s.tag_id ORDER BY t.name",
        (start, end),
    ).fetchall()
    out = []
    for name, type_, unit, n, lo, mean, hi in rows:
        numeric = type_ not in ("string", "bool")
        out.append(
            {
                "tag": name,
                "unit": unit,
                "samples": n,
                "min": decode_value(lo, type_) if numeric else None,
                "mean": mean if numeric else None,
                "max": decode_value(hi, type_) if numeric else None,
            }
        )
    return out


class LotTagWatcher:
    """Records a consumed material lot whenever a lot tag shows a new lot number while a
    work order runs (the agent feeds it the stored samples)."""

    def __init__(self, cfg: LineConfig, store: Store) -> None:
        self.cfg = cfg
        self.store = store
        self.by_tag = {m.lot_tag: m.material for m in cfg.materials}
        self.last: dict[str, str] = {}

    def feed(self, tag: str, value: Any, good: bool) -> tuple[str, str] | None:
        material = self.by_tag.get(tag)
        if material is None or not good or value in (None, ""):
            return None
        lot = str(value).strip()
        if not lot or self.last.get(tag) == lot:
            return None
        self.last[tag] = lot
        return lot, material

    def record(self, lot: str, material: str) -> None:
        order = current_order(self.store)[0]
        if order is None:
            return  # no order running: nothing to attach the lot to
        with self.store._tx(sync_full=True):
            self.store.db.execute(
                "INSERT INTO consumed (ts, material_lot, material, order_id, source, by) VALUES (?, ?, ?, ?, 'tag', 'line')",
                (time.time(), lot, material, order),
            )
            self.store.audit(
                who="line",
                action="trace.consumed",
                entity=lot,
                new={"material": material, "order": order, "source": "tag"},
                meaning="performed",
            )
