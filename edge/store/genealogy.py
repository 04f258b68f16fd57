"""Repository of genealogy: lots and serials produced on the line, material lots consumed
for work orders, and the process values recorded while a lot was made.

Functions take an open :class:`~edge.store.db.Store`; writers do not open a transaction
themselves, the caller groups them with the audit entry in ``store.transaction()``.
Lots read from lot tags are facts of the line, written by ``edge.store.facts``.
"""

from __future__ import annotations

from typing import Any

from edge.store.db import Store, decode_value


def add_produced(
    store: Store,
    lot: str,
    *,
    kind: str,
    order: str | None,
    product: str | None,
    machine: str | None,
    start: float,
    end: float,
    quantity: int | None,
    by: str,
    ts: float,
) -> int:
    cur = store.db.execute(
        "INSERT INTO produced (ts, lot, kind, order_id, product, machine, start, end, quantity, by) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (ts, lot, kind, order, product, machine, start, end, quantity, by),
    )
    return int(cur.lastrowid or 0)


def add_consumed(
    store: Store,
    material_lot: str,
    material: str,
    *,
    order: str,
    quantity: float | None,
    unit: str,
    by: str,
    ts: float,
) -> int:
    """A material lot an operator scanned or typed for a work order."""
    cur = store.db.execute(
        "INSERT INTO consumed (ts, material_lot, material, order_id, quantity, unit, by) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (ts, material_lot, material, order, quantity, unit, by),
    )
    return int(cur.lastrowid or 0)


def produced(store: Store, lot: str) -> list[dict[str, Any]]:
    """Every record of a produced lot or serial, oldest first."""
    cols = ("lot", "kind", "order", "product", "machine", "start", "end", "quantity", "by")
    return [
        dict(zip(cols, r, strict=True))
        for r in store.db.execute(
            "SELECT lot, kind, order_id, product, machine, start, end, quantity, by FROM produced WHERE lot = ? ORDER BY seq",
            (lot,),
        )
    ]


def produced_for_order(store: Store, order: str) -> list[dict[str, Any]]:
    """Lots and serials made in a work order."""
    cols = ("lot", "kind", "product", "start", "end", "quantity")
    return [
        dict(zip(cols, r, strict=True))
        for r in store.db.execute(
            "SELECT lot, kind, product, start, end, quantity FROM produced WHERE order_id = ? ORDER BY seq",
            (order,),
        )
    ]


def consumed_for_order(store: Store, order: str | None) -> list[dict[str, Any]]:
    """Material lots consumed for a work order."""
    cols = ("material_lot", "material", "quantity", "unit", "by", "ts")
    return [
        dict(zip(cols, r, strict=True))
        for r in store.db.execute(
            "SELECT material_lot, material, quantity, unit, by, ts FROM consumed WHERE order_id = ? ORDER BY seq",
            (order,),
        )
    ]


def uses_of_material_lot(store: Store, material_lot: str) -> list[tuple[str, str]]:
    """(order, material) of every work order a material lot was consumed for."""
    return [
        (str(o), str(m))
        for o, m in store.db.execute(
            "SELECT DISTINCT order_id, material FROM consumed WHERE material_lot = ?", (material_lot,)
        )
    ]


def process_values(store: Store, start: float, end: float) -> list[dict[str, Any]]:
    """Per tag over [start, end]: samples, min, mean, max (numeric tags) of the good samples."""
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
