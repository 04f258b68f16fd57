"""Repository of genealogy: lots and serials produced on the line, material lots consumed
for work orders, and the process values recorded while a lot was made.

Functions take an open :class:`~edge.store.db.Store`; writers do not open a transaction
themselves, the caller groups them with the audit entry in ``store.transaction()``.
Lots read from lot tags are facts of the line, written by ``edge.store.facts``.
"""

from __future__ import annotations

from operator import mul, ne, sub
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

    Tag by tag through the ``samples_trace`` index (``m019_trace_index``: tag, time,
    seq, value and quality, so a tag's window is one range of the index, in order, and
    the table is not read); the value in force at start is the row just before that
    range (one seek). A tag whose window holds only good numbers is summed with C-level
    maps over its columns; any other goes through the sample-by-sample fold
    (:func:`_fold`). Equal times keep write order."""
    db = store.db
    tags = {
        tid: (name, type_, unit)
        for tid, name, type_, unit in db.execute("SELECT id, name, type, eng_unit FROM tags")
    }
    # Per tag: [ts, value, quality, samples, weighted sum, weighted time, min, max, changes, at start]
    acc: dict[int, list[Any]] = {}
    for tid in sorted(tags):
        # The value in force at start: the row before the window's range in the index (a
        # row written later with an earlier time counts by its time, not as the latest).
        row = db.execute(
            "SELECT value, quality FROM samples INDEXED BY samples_trace WHERE tag_id = ? AND ts < ? "
            "ORDER BY ts DESC, seq DESC LIMIT 1",
            (tid, start),
        ).fetchone()
        held = (row[0], row[1]) if row else None
        rows: list[tuple[Any, ...]] = db.execute(
            "SELECT ts, value, quality FROM samples INDEXED BY samples_trace WHERE tag_id = ? AND ts >= ? "
            "AND ts <= ? ORDER BY ts, seq",
            (tid, start, end),
        ).fetchall()
        a = _summarise(held, rows, start)
        if a is not None:
            acc[tid] = a
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


_NUMBER = {float, int}


def _summarise(held: tuple[Any, int] | None, rows: list[tuple[Any, ...]], start: float) -> list[Any] | None:
    """One tag's accumulator (see :func:`process_values`) up to its last sample in the
    window: the end of the window is added by the caller."""
    if held is None and not rows:
        return None
    if rows:
        ts_, vs, qs = zip(*rows, strict=True)
        good_numbers = qs.count(0) == len(qs) and set(map(type, vs)) <= _NUMBER
    else:
        ts_, vs, qs, good_numbers = (), (), (), True
    if held is not None:
        hv, hq = held
        at_start = hv if hq == 0 else None
        if good_numbers and hq == 0 and type(hv) in _NUMBER:
            return _good(start, hv, ts_, vs, len(rows), at_start)
        num = hq == 0 and isinstance(hv, (int, float)) and not isinstance(hv, bool)
        a = [start, hv, hq, 0, 0.0, 0.0, hv if num else None, hv if num else None, 0, at_start]
        return _fold(a, rows)
    if good_numbers:
        return _good(ts_[0], vs[0], ts_[1:], vs[1:], len(rows), None)
    ts0, v0, q0 = rows[0]
    num = q0 == 0 and (v0.__class__ is float or v0.__class__ is int)
    return _fold([ts0, v0, q0, 1, 0.0, 0.0, v0 if num else None, v0 if num else None, 0, None], rows[1:])


def _good(
    t0: float, v0: Any, ts_: tuple[float, ...], vs: tuple[Any, ...], n: int, at_start: Any
) -> list[Any]:
    """The accumulator of good numbers only: value ``v0`` in force from ``t0``, then the
    samples ``ts_``/``vs``; the same sums, in the same order, as :func:`_fold`."""
    times = (t0, *ts_)
    values = (v0, *vs)
    d = list(map(sub, times[1:], times))
    wsum = 0.0 + sum(map(mul, values, d))
    wdur = 0.0 + sum(d)
    changes = sum(map(ne, values[1:], values))
    return [times[-1], values[-1], 0, n, wsum, wdur, min(values), max(values), changes, at_start]


def _fold(a: list[Any], rows: list[tuple[Any, ...]] | tuple[tuple[Any, ...], ...]) -> list[Any]:
    """The accumulator ``a`` carried over ``rows`` (ts, value, quality) one at a time."""
    for ts, v, q in rows:
        num = q == 0 and (v.__class__ is float or v.__class__ is int)
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
    return a
