"""Repository of materials at the line: the plant's lot list (cached), stock moves (on
hand is their sum), genealogy links between lots, holds and their dispositions, and the
materials pass's marks.

Functions take an open :class:`~edge.store.db.Store`; writers do not open a transaction
themselves, the caller groups them with the audit entry in ``store.transaction()``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from edge.logic.materials.checks import LotInfo
from edge.store.db import Store

# ----------------------------------------------------------------------------- lot list


def lot(store: Store, lot_id: str) -> LotInfo | None:
    row = store.db.execute(
        "SELECT lot, material, status, expiry FROM material_lots WHERE lot = ?", (lot_id,)
    ).fetchone()
    return LotInfo(row[0], row[1], row[2], row[3]) if row else None


def lot_status(store: Store, lot_id: str) -> str | None:
    row = store.db.execute("SELECT status FROM material_lots WHERE lot = ?", (lot_id,)).fetchone()
    return str(row[0]) if row else None


def upsert_lot(
    store: Store,
    lot_id: str,
    *,
    material: str,
    status: str,
    expiry: float | None,
    supplier_lot: str,
    quantity: float | None,
    reason: str,
    command_id: str,
    ts: float,
) -> str | None:
    """Replace the cached entry of a lot; returns its previous status (None: new)."""
    before = lot_status(store, lot_id)
    store.db.execute(
        "INSERT INTO material_lots (lot, material, status, expiry, supplier_lot, quantity, reason, command_id, updated) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(lot) DO UPDATE SET material = excluded.material, "
        "status = excluded.status, expiry = excluded.expiry, supplier_lot = excluded.supplier_lot, "
        "quantity = excluded.quantity, reason = excluded.reason, command_id = excluded.command_id, "
        "updated = excluded.updated",
        (lot_id, material, status, expiry, supplier_lot, quantity, reason, command_id, ts),
    )
    return before


def lots(store: Store, status: str | None = None) -> list[dict[str, Any]]:
    cols = ("lot", "material", "status", "expiry", "supplier_lot", "quantity", "reason", "updated")
    sql = f"SELECT {', '.join(cols)} FROM material_lots"
    rows = store.db.execute(
        sql + (" WHERE status = ?" if status else "") + " ORDER BY material, lot", (status,) if status else ()
    )
    return [dict(zip(cols, r, strict=True)) for r in rows]


# ----------------------------------------------------------------------------- stock moves


def add_move(
    store: Store,
    *,
    kind: str,
    location: str,
    material: str,
    lot: str,
    quantity: float,
    order: str | None,
    reason: str,
    by: str,
    ts: float,
) -> int:
    cur = store.db.execute(
        "INSERT INTO stock_moves (ts, kind, location, material, lot, quantity, order_id, reason, by) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (ts, kind, location, material, lot, quantity, order, reason, by),
    )
    return int(cur.lastrowid or 0)


@dataclass(frozen=True)
class OnHand:
    location: str
    material: str
    lot: str
    quantity: float
    since: float
    """When the lot first came to the location (first in, first out)."""


def on_hand(
    store: Store, *, location: str | None = None, material: str | None = None, lot: str | None = None
) -> list[OnHand]:
    """Stock per location and lot (only what is there: quantity above zero)."""
    where, params = [], []
    for col, v in (("location", location), ("material", material), ("lot", lot)):
        if v is not None:
            where.append(f"{col} = ?")
            params.append(v)
    sql = (
        "SELECT location, material, lot, sum(quantity), min(ts) FROM stock_moves"
        + (" WHERE " + " AND ".join(where) if where else "")
        + " GROUP BY location, material, lot HAVING sum(quantity) > 1e-9 ORDER BY location, min(ts), lot"
    )
    return [OnHand(r[0], r[1], r[2], float(r[3]), float(r[4])) for r in store.db.execute(sql, params)]


def moves(store: Store, *, lot: str | None = None, limit: int = 200) -> list[dict[str, Any]]:
    cols = ("seq", "ts", "kind", "location", "material", "lot", "quantity", "order_id", "reason", "by")
    sql = f"SELECT {', '.join(cols)} FROM stock_moves"
    params: tuple[Any, ...] = ()
    if lot is not None:
        sql += " WHERE lot = ?"
        params = (lot,)
    rows = store.db.execute(sql + " ORDER BY seq DESC LIMIT ?", (*params, limit)).fetchall()
    return [dict(zip(cols, r, strict=True)) for r in reversed(rows)]


def consumed_between(
    store: Store, *, location: str, material: str, since: float, until: float
) -> list[tuple[float, float]]:
    """(ts, quantity consumed) at a location in (since, until]: backflush and issue."""
    return [
        (float(ts), -float(q))
        for ts, q in store.db.execute(
            "SELECT ts, quantity FROM stock_moves WHERE location = ? AND material = ? AND kind IN ('backflush', 'issue') "
            "AND ts > ? AND ts <= ?",
            (location, material, since, until),
        )
    ]


def consumption_of_order(store: Store, order: str, since: float, until: float) -> list[dict[str, Any]]:
    """Lots consumed (backflush, issue) for an order in (since, until], summed per lot
    and location."""
    cols = ("lot", "material", "location", "quantity")
    return [
        dict(zip(cols, (r[0], r[1], r[2], -float(r[3])), strict=True))
        for r in store.db.execute(
            "SELECT lot, material, location, sum(quantity) FROM stock_moves WHERE order_id = ? "
            "AND kind IN ('backflush', 'issue') AND ts > ? AND ts <= ? GROUP BY lot, material, location ORDER BY min(seq)",
            (order, since, until),
        )
    ]


def consumed_by_hand(store: Store, order: str, until: float) -> list[tuple[str, str]]:
    """(material lot, material) recorded consumed for an order by an operator or a lot
    tag up to ``until`` (backflushed lots are in the stock moves)."""
    return [
        (str(lt), str(m))
        for lt, m in store.db.execute(
            "SELECT DISTINCT material_lot, material FROM consumed WHERE order_id = ? AND ts <= ? "
            "AND source IN ('operator', 'tag')",
            (order, until),
        )
    ]


def was_consumed(store: Store, order: str, lot_id: str) -> bool:
    return (
        store.db.execute(
            "SELECT 1 FROM consumed WHERE order_id = ? AND material_lot = ? LIMIT 1", (order, lot_id)
        ).fetchone()
        is not None
    )


# ----------------------------------------------------------------------------- genealogy


def add_link(
    store: Store,
    *,
    parent: str,
    child: str,
    material: str,
    location: str,
    quantity: float | None,
    order: str | None,
    ts: float,
) -> None:
    store.db.execute(
        "INSERT INTO lot_links (ts, parent, child, material, location, quantity, order_id) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (ts, parent, child, material, location, quantity, order),
    )


def children(store: Store, parent: str) -> list[str]:
    return [
        r[0] for r in store.db.execute("SELECT DISTINCT child FROM lot_links WHERE parent = ?", (parent,))
    ]


def parents(store: Store, child: str) -> list[dict[str, Any]]:
    cols = ("parent", "material", "location", "quantity", "order_id")
    return [
        dict(zip(cols, r, strict=True))
        for r in store.db.execute(
            "SELECT parent, material, location, sum(quantity), order_id FROM lot_links WHERE child = ? "
            "GROUP BY parent, material, location, order_id ORDER BY min(seq)",
            (child,),
        )
    ]


# ----------------------------------------------------------------------------- holds


def add_hold_row(
    store: Store,
    *,
    hold_id: str,
    target_kind: str,
    target: str,
    start: float | None,
    end: float | None,
    action: str,
    reason: str,
    source: str,
    corrective_action: str,
    by: str,
    ts: float,
) -> int:
    cur = store.db.execute(
        "INSERT INTO holds (ts, hold_id, target_kind, target, start, end, action, reason, source, corrective_action, by) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (ts, hold_id, target_kind, target, start, end, action, reason, source, corrective_action, by),
    )
    return int(cur.lastrowid or 0)


_HOLD_COLS = (
    "hold_id",
    "target_kind",
    "target",
    "start",
    "end",
    "action",
    "reason",
    "source",
    "corrective_action",
    "by",
    "ts",
    "held_since",
    "held_by",
)


def holds(store: Store, *, open_only: bool = False, target: str | None = None) -> list[dict[str, Any]]:
    """Each hold in its latest state (``action``: hold while open, else its disposition),
    with when and by whom it was put on hold."""
    sql = (
        "SELECT h.hold_id, h.target_kind, h.target, h.start, h.end, h.action, h.reason, h.source, "
        "h.corrective_action, h.by, h.ts, f.ts, f.by FROM holds h "
        "JOIN (SELECT hold_id, max(seq) AS last, min(seq) AS first FROM holds GROUP BY hold_id) x "
        "ON h.seq = x.last JOIN holds f ON f.seq = x.first"
    )
    where, params = [], []
    if open_only:
        where.append("h.action = 'hold'")
    if target is not None:
        where.append("h.target = ?")
        params.append(target)
    if where:
        sql += " WHERE " + " AND ".join(where)
    rows = store.db.execute(sql + " ORDER BY f.seq", params)
    return [dict(zip(_HOLD_COLS, r, strict=True)) for r in rows]


def hold(store: Store, hold_id: str) -> dict[str, Any] | None:
    rows = [h for h in holds(store) if h["hold_id"] == hold_id]
    return rows[0] if rows else None


def open_hold_on(store: Store, target_kind: str, target: str) -> str | None:
    """The id of an open hold on exactly this target (None: not on hold)."""
    for h in holds(store, open_only=True, target=target):
        if h["target_kind"] == target_kind:
            return str(h["hold_id"])
    return None


def open_window_holds(store: Store) -> list[dict[str, Any]]:
    return [h for h in holds(store, open_only=True) if h["target_kind"] == "window"]


# ----------------------------------------------------------------------------- marks


def mark(store: Store, name: str, default: Any = None) -> Any:
    row = store.db.execute("SELECT value FROM materials_marks WHERE name = ?", (name,)).fetchone()
    return row[0] if row else default


def set_mark(store: Store, name: str, value: Any) -> None:
    store.db.execute(
        "INSERT INTO materials_marks (name, value) VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET value = excluded.value",
        (name, value),
    )


# ----------------------------------------------------------------------------- other streams read


def counts_after(
    store: Store, seq: int, machine: str
) -> list[tuple[int, float, int, int, str | None, str | None]]:
    """(seq, ts, good, scrap, order, product) of counts of ``machine`` after ``seq``."""
    return [
        (int(r[0]), float(r[1]), int(r[2]), int(r[3]), r[4], r[5])
        for r in store.db.execute(
            "SELECT seq, ts, good, scrap, order_id, product FROM counts WHERE seq > ? AND machine = ? ORDER BY seq",
            (seq, machine),
        )
    ]


def last_seq(store: Store, table: str) -> int:
    assert table in ("counts", "inspections", "spc_alarms")
    return int(store.db.execute(f"SELECT coalesce(max(seq), 0) FROM {table}").fetchone()[0])


def inspections_after(store: Store, seq: int) -> list[tuple[int, float, str, str | None, int]]:
    """(seq, ts, plan, order, passed) of inspections after ``seq``."""
    return [
        (int(r[0]), float(r[1]), str(r[2]), r[3], int(r[4]))
        for r in store.db.execute(
            "SELECT seq, ts, plan, order_id, passed FROM inspections WHERE seq > ? ORDER BY seq", (seq,)
        )
    ]


def last_pass_before(store: Store, order: str, plan: str, seq: int) -> float | None:
    row = store.db.execute(
        "SELECT max(ts) FROM inspections WHERE order_id = ? AND plan = ? AND passed = 1 AND seq < ?",
        (order, plan, seq),
    ).fetchone()
    return float(row[0]) if row and row[0] is not None else None


def out_of_spec_after(store: Store, seq: int) -> list[tuple[int, float, str, str]]:
    """(seq, ts, characteristic, detail) of out-of-spec SPC alarms after ``seq``."""
    return [
        (int(r[0]), float(r[1]), str(r[2]), str(r[3]))
        for r in store.db.execute(
            "SELECT seq, ts, characteristic, detail FROM spc_alarms WHERE seq > ? AND kind = 'out_of_spec' ORDER BY seq",
            (seq,),
        )
    ]


def produced_overlapping(store: Store, start: float, end: float, order: str | None = None) -> list[str]:
    """Produced lots/serials whose window overlaps [start, end] (of ``order`` if given)."""
    sql = "SELECT DISTINCT lot FROM produced WHERE start <= ? AND end >= ?"
    params: list[Any] = [end, start]
    if order is not None:
        sql += " AND order_id = ?"
        params.append(order)
    return [r[0] for r in store.db.execute(sql, params)]


def produced_of_order(store: Store, order: str) -> list[str]:
    return [r[0] for r in store.db.execute("SELECT DISTINCT lot FROM produced WHERE order_id = ?", (order,))]


def last_produced_end(store: Store, order: str, source: str) -> tuple[float, str] | None:
    """(end, lot) of the last lot made automatically (``by`` = ``source``) in an order."""
    row = store.db.execute(
        "SELECT end, lot FROM produced WHERE order_id = ? AND by = ? ORDER BY seq DESC LIMIT 1",
        (order, source),
    ).fetchone()
    return (float(row[0]), str(row[1])) if row else None


def totals(store: Store) -> dict[str, float]:
    """Material backflushed and issued (a positive quantity, all materials) and lots produced."""
    used = store.db.execute(
        "SELECT coalesce(-sum(quantity), 0) FROM stock_moves WHERE kind IN ('backflush', 'issue')"
    ).fetchone()[0]
    made = store.db.execute("SELECT count(*) FROM produced").fetchone()[0]
    return {"material_consumed": float(used), "lots_produced": int(made)}


def produced_count(store: Store, order: str, source: str) -> int:
    return int(
        store.db.execute(
            "SELECT count(*) FROM produced WHERE order_id = ? AND by = ?", (order, source)
        ).fetchone()[0]
    )


def parts_between(store: Store, machine: str, order: str, since: float, until: float) -> int:
    """Good parts counted for an order on a machine in (since, until]."""
    return int(
        store.db.execute(
            "SELECT coalesce(sum(good), 0) FROM counts WHERE machine = ? AND order_id = ? AND ts > ? AND ts <= ?",
            (machine, order, since, until),
        ).fetchone()[0]
    )


def good_counts(
    store: Store, machine: str, order: str, since: float, until: float
) -> list[tuple[float, int]]:
    """(ts, good) counted for an order on a machine in (since, until], in order."""
    return [
        (float(ts), int(g))
        for ts, g in store.db.execute(
            "SELECT ts, good FROM counts WHERE machine = ? AND order_id = ? AND ts > ? AND ts <= ? ORDER BY seq",
            (machine, order, since, until),
        )
    ]


def marks_like(store: Store, prefix: str) -> list[str]:
    """Names of marks set (non-zero) starting with ``prefix``."""
    return [
        r[0]
        for r in store.db.execute(
            "SELECT name FROM materials_marks WHERE substr(name, 1, ?) = ? AND value", (len(prefix), prefix)
        )
    ]


def add_consumed(
    store: Store, lot: str, material: str, *, order: str, source: str, by: str, ts: float
) -> None:
    """A material lot used for an order (the order's list of lots, as ``lineside trace``
    shows it); quantities are in the stock moves."""
    store.db.execute(
        "INSERT INTO consumed (ts, material_lot, material, order_id, source, by) VALUES (?, ?, ?, ?, ?, ?)",
        (ts, lot, material, order, source, by),
    )
