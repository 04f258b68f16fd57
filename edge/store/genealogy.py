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
    """Per tag over [start, end], sample-and-hold: the value in force at ``start`` (the
    last sample before it) counts until the first sample in the window, and every value
    holds until the next one. Numeric tags get min, max and the time-weighted mean over
    the time with a good value; every tag gets the samples in the window and the number
    of changes of value or quality (against the value in force at start too).

    One pass over the window in time order (the ``ts`` index, no sort), plus one lookup
    per tag for the value in force at start: from the current values when the tag has
    not changed since, else the last sample before ``start``."""
    db = store.db
    tags = {
        tid: (name, type_, unit)
        for tid, name, type_, unit in db.execute("SELECT id, name, type, eng_unit FROM tags")
    }
    current = {
        tid: (v, q, ts)
        for tid, v, q, ts in db.execute("SELECT tag_id, value, quality, ts FROM current_values")
    }
    # Per tag: [ts, value, quality, samples, weighted sum, weighted time, min, max, changes]
    acc: dict[int, list[Any]] = {}
    for tid, cur in current.items():
        if cur[2] < start:  # not changed since before the window: its value holds throughout
            held: tuple[Any, int] | None = (cur[0], cur[1])
        else:
            row = db.execute(
                "SELECT value, quality FROM samples WHERE tag_id = ? AND ts < ? ORDER BY ts DESC LIMIT 1",
                (tid, start),
            ).fetchone()
            held = (row[0], row[1]) if row else None
        if held is not None:
            v, q = held
            num = q == 0 and isinstance(v, (int, float)) and not isinstance(v, bool)
            acc[tid] = [
                start,
                v,
                q,
                0,
                0.0,
                0.0,
                v if num else None,
                v if num else None,
                0,
                v if q == 0 else None,
            ]
    for tid, ts, v, q in db.execute(
        "SELECT tag_id, ts, value, quality FROM samples WHERE ts >= ? AND ts <= ? ORDER BY ts", (start, end)
    ):
        a = acc.get(tid)
        num = q == 0 and (v.__class__ is float or v.__class__ is int)
        if a is None:
            acc[tid] = [ts, v, q, 1, 0.0, 0.0, v if num else None, v if num else None, 0, None]
            continue
        pv = a[1]
        if a[2] == 0 and (pv.__class__ is float or pv.__class__ is int):
            d = ts - a[0]
            a[4] += pv * d
            a[5] += d
        if v != pv or q != a[2]:
            a[8] += 1
        a[0], a[1], a[2] = ts, v, q
        a[3] += 1
        if num:
            if a[6] is None or v < a[6]:
                a[6] = v
            if a[7] is None or v > a[7]:
                a[7] = v
    out = []
    for tid, a in sorted(acc.items(), key=lambda kv: tags.get(kv[0], ("",))[0]):
        name, type_, unit = tags.get(tid, (str(tid), "float64", ""))
        ts, v, q, n, wsum, wdur, lo, hi, changes, at_start = a
        if q == 0 and (v.__class__ is float or v.__class__ is int):  # the last value holds to the end
            wsum += v * (end - ts)
            wdur += end - ts
        numeric = type_ not in ("string", "bool")
        mean = wsum / wdur if wdur > 0 else (lo if lo is not None and lo == hi else None)
        out.append(
            {
                "tag": name,
                "unit": unit,
                "samples": n,
                "changes": changes,
                "at_start": decode_value(at_start, type_),
                "min": decode_value(lo, type_) if numeric else None,
                "mean": mean if numeric and lo is not None else None,
                "max": decode_value(hi, type_) if numeric else None,
                "last": decode_value(v, type_) if q == 0 else None,
            }
        )
    return out
