"""The plant's materials tables (SQL through ``db.Database``): material master and BOMs
as sent to the lines, lots received and the history of their status, and the reads of
the genealogy graph the lines' streams keep (``projections``): parents and children of
a set of lots, produced lots, holds in their latest state, movements of a lot.

Each read of the graph is one indexed query per level of a walk, for a whole level at
once (``WHERE child IN (…)``), so a trace costs a few round trips whatever its width.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sync.aggregator.store import AggregatorStore

#: Lots per ``IN (…)`` list (SQLite's default limit of host parameters is 32766).
CHUNK = 500


def _chunks(items: Sequence[str]) -> list[Sequence[str]]:
    return [items[i : i + CHUNK] for i in range(0, len(items), CHUNK)]


def _marks(n: int) -> str:
    return ", ".join("?" * n)


# ----------------------------------------------------------------------------- master data


def set_material(store: AggregatorStore, body: dict[str, Any], now: float) -> None:
    store.db.execute(
        "INSERT INTO plant_materials (id, body, updated) VALUES (?, ?, ?) ON CONFLICT (id) DO UPDATE SET "
        "body = excluded.body, updated = excluded.updated",
        (body["id"], json.dumps(body), now),
    )


def materials(store: AggregatorStore) -> list[dict[str, Any]]:
    return [json.loads(b) for (b,) in store.query("SELECT body FROM plant_materials ORDER BY id")]


def set_bom(store: AggregatorStore, body: dict[str, Any], now: float) -> None:
    store.db.execute(
        "INSERT INTO plant_boms (product, body, updated) VALUES (?, ?, ?) ON CONFLICT (product) DO UPDATE SET "
        "body = excluded.body, updated = excluded.updated",
        (body["product"], json.dumps(body), now),
    )


def boms(store: AggregatorStore) -> list[dict[str, Any]]:
    return [json.loads(b) for (b,) in store.query("SELECT body FROM plant_boms ORDER BY product")]


# ----------------------------------------------------------------------------- lots


LOT_COLS = (
    "lot",
    "material",
    "status",
    "expiry",
    "supplier_lot",
    "quantity",
    "reason",
    "received_at",
    "updated",
)


def upsert_lot(store: AggregatorStore, e: dict[str, Any], *, by: str, now: float) -> None:
    """A lot received, or its status changed (with a history row)."""
    store.db.execute(
        "INSERT INTO plant_lots (lot, material, status, expiry, supplier_lot, quantity, reason, received_at, updated) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (lot) DO UPDATE SET material = excluded.material, "
        "status = excluded.status, expiry = excluded.expiry, supplier_lot = excluded.supplier_lot, "
        "quantity = excluded.quantity, reason = excluded.reason, updated = excluded.updated",
        (
            e["lot"],
            e["material"],
            e["status"],
            e.get("expiry"),
            e.get("supplier_lot", ""),
            e.get("quantity"),
            e.get("reason", ""),
            now,
            now,
        ),
    )
    store.db.execute(
        "INSERT INTO lot_status_history (lot, status, reason, by_who, ts) VALUES (?, ?, ?, ?, ?)",
        (e["lot"], e["status"], e.get("reason", ""), by, now),
    )


def lot(store: AggregatorStore, lot_id: str) -> dict[str, Any] | None:
    rows = store.query(f"SELECT {', '.join(LOT_COLS)} FROM plant_lots WHERE lot = ?", (lot_id,))
    return dict(zip(LOT_COLS, rows[0], strict=True)) if rows else None


def lots(
    store: AggregatorStore, *, status: str | None = None, supplier_lot: str | None = None
) -> list[dict[str, Any]]:
    where, params = [], []
    if status:
        where.append("status = ?")
        params.append(status)
    if supplier_lot:
        where.append("supplier_lot = ?")
        params.append(supplier_lot)
    sql = f"SELECT {', '.join(LOT_COLS)} FROM plant_lots" + (" WHERE " + " AND ".join(where) if where else "")
    return [dict(zip(LOT_COLS, r, strict=True)) for r in store.query(sql + " ORDER BY material, lot", params)]


def status_history(store: AggregatorStore, lot_id: str) -> list[dict[str, Any]]:
    cols = ("status", "reason", "by_who", "ts")
    return [
        dict(zip(cols, r, strict=True))
        for r in store.query(
            "SELECT status, reason, by_who, ts FROM lot_status_history WHERE lot = ? ORDER BY ts, id",
            (lot_id,),
        )
    ]


# ----------------------------------------------------------------------------- the graph


def edges_from(store: AggregatorStore, lots_: Sequence[str], *, forward: bool) -> list[dict[str, Any]]:
    """Genealogy edges whose parent (forward) or child (backward) is one of ``lots_``."""
    key = "parent" if forward else "child"
    cols = ("line", "parent", "child", "material", "location", "quantity", "order_id", "ts")
    out: list[dict[str, Any]] = []
    for part in _chunks(list(lots_)):
        out += [
            dict(zip(cols, r, strict=True))
            for r in store.query(
                f"SELECT line, parent, child, material, location, quantity, order_id, ts FROM genealogy "
                f"WHERE {key} IN ({_marks(len(part))})",
                part,
            )
        ]
    return out


def edge_lookup(store: AggregatorStore, child: str) -> list[tuple[Any, ...]]:
    """The bare indexed lookup a trace is measured against (benchmarks)."""
    return store.query("SELECT parent, line FROM genealogy WHERE child = ?", (child,))


def produced(store: AggregatorStore, lots_: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
    cols = ("line", "lot", "kind", "order_id", "product", "machine", "start", "end", "quantity")
    out: dict[str, list[dict[str, Any]]] = {}
    for part in _chunks(list(lots_)):
        for r in store.query(
            "SELECT line, lot, kind, order_id, product, machine, start_ts, end_ts, quantity FROM produced_lots "
            f"WHERE lot IN ({_marks(len(part))}) ORDER BY seq",
            part,
        ):
            out.setdefault(r[1], []).append(dict(zip(cols, r, strict=True)))
    return out


def plant_lots_of(store: AggregatorStore, lots_: Sequence[str]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for part in _chunks(list(lots_)):
        for r in store.query(
            f"SELECT {', '.join(LOT_COLS)} FROM plant_lots WHERE lot IN ({_marks(len(part))})", part
        ):
            out[r[0]] = dict(zip(LOT_COLS, r, strict=True))
    return out


HOLD_COLS = (
    "line",
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
)
_HOLD_SELECT = (
    "SELECT h.line, h.hold_id, h.target_kind, h.target, h.start_ts, h.end_ts, h.action, h.reason, h.source, "
    "h.corrective_action, h.by_who, h.ts FROM plant_holds h WHERE h.seq = (SELECT max(x.seq) FROM plant_holds x "
    "WHERE x.line = h.line AND x.hold_id = h.hold_id)"
)


def holds_on(store: AggregatorStore, targets: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
    """Holds (latest state) whose target is one of ``targets``."""
    out: dict[str, list[dict[str, Any]]] = {}
    for part in _chunks(list(targets)):
        for r in store.query(_HOLD_SELECT + f" AND h.target IN ({_marks(len(part))}) ORDER BY h.ts", part):
            out.setdefault(r[3], []).append(dict(zip(HOLD_COLS, r, strict=True)))
    return out


def holds(
    store: AggregatorStore, *, line: str | None = None, open_only: bool = False
) -> list[dict[str, Any]]:
    sql = _HOLD_SELECT
    params: list[Any] = []
    if line:
        sql += " AND h.line = ?"
        params.append(line)
    if open_only:
        sql += " AND h.action = 'hold'"
    return [dict(zip(HOLD_COLS, r, strict=True)) for r in store.query(sql + " ORDER BY h.ts", params)]


def alarms_between(store: AggregatorStore, line: str, start: float, end: float) -> list[dict[str, Any]]:
    cols = ("ts", "characteristic", "kind", "rule", "detail", "value")
    return [
        dict(zip(cols, r, strict=True))
        for r in store.query(
            "SELECT ts, characteristic, kind, rule, detail, value FROM spc_alarms WHERE line = ? AND ts >= ? AND ts <= ? "
            "ORDER BY ts",
            (line, start, end),
        )
    ]


def inspections_of(store: AggregatorStore, line: str, order: str) -> list[dict[str, Any]]:
    cols = ("ts", "plan", "passed", "by", "comment")
    return [
        dict(zip(cols, r, strict=True))
        for r in store.query(
            "SELECT ts, plan, passed, by_who, comment FROM inspections WHERE line = ? AND order_id = ? ORDER BY ts",
            (line, order),
        )
    ]


def moves_of(store: AggregatorStore, lot_id: str, *, since: float | None = None) -> list[dict[str, Any]]:
    cols = ("line", "ts", "kind", "location", "material", "lot", "quantity", "order_id", "by")
    sql = "SELECT line, ts, kind, location, material, lot, quantity, order_id, by_who FROM lot_moves WHERE lot = ?"
    params: list[Any] = [lot_id]
    if since is not None:
        sql += " AND ts >= ?"
        params.append(since)
    return [dict(zip(cols, r, strict=True)) for r in store.query(sql + " ORDER BY ts", params)]
