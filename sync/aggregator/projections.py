"""Plant tables kept from the streams: one function per stream, fed each batch's records
inside the ingest transaction, reading them through the protocol's record schema
(``sync.protocol.records``). Idempotent under redelivery: upserts are guarded by the
record's sequence, inserts ignore what is there already. A record its schema refuses
raises RecordError, and the message becomes a dead letter."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from sync.aggregator import rollups
from sync.aggregator.db import Database
from sync.protocol import parse_records
from sync.protocol.records import (
    DowntimeEditRecord,
    DowntimeRecord,
    EventRecord,
    HoldRecord,
    InspectionMissRecord,
    InspectionRecord,
    LotLinkRecord,
    MaintEventRecord,
    MaintStockRecord,
    ProducedRecord,
    SpcAlarmRecord,
    StockMoveRecord,
)

Projection = Callable[[Database, str, list[dict[str, Any]]], None]
#: Projections of each stream, run in order (a rollup after the table it reads).
PROJECTIONS: dict[str, list[Projection]] = {}


def projection(stream: str) -> Callable[[Projection], Projection]:
    def add(fn: Projection) -> Projection:
        PROJECTIONS.setdefault(stream, []).append(fn)
        return fn

    return add


#: A later store incarnation's sequences and event ids are shifted into a space of their
#: own in the plant tables (keyed by line and seq or event id): a recreated store's
#: seq 1 is not the old store's seq 1.
EPOCH_SPAN = 1 << 40


def project(db: Database, line: str, stream: str, records: list[dict[str, Any]], epoch: int = 0) -> None:
    """Keep the plant tables of ``stream`` (if it has any) up to date with ``records``
    of the line's store incarnation ``epoch`` (0 the first)."""
    fns = PROJECTIONS.get(stream, ())
    if not fns:
        return
    if epoch:
        records = [_shifted(r, epoch) for r in records]
    for fn in fns:
        fn(db, line, records)


def _shifted(r: dict[str, Any], epoch: int) -> dict[str, Any]:
    out = dict(r)
    if isinstance(r.get("seq"), int):
        out["seq"] = r["seq"] + epoch * EPOCH_SPAN
    if isinstance(r.get("event_id"), str):
        out["event_id"] = f"{r['event_id']}@{epoch}"
    return out


@projection("downtime")
def downtime(db: Database, line: str, records: list[dict[str, Any]]) -> None:
    """The latest version of each downtime event."""
    recs: list[DowntimeRecord] = parse_records("downtime", records)
    db.executemany(
        "INSERT INTO downtime (line, event_id, machine, start_ts, end_ts, state, auto_reason, micro, seq) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (line, event_id) DO UPDATE SET machine = excluded.machine, "
        "start_ts = excluded.start_ts, end_ts = excluded.end_ts, state = excluded.state, "
        "auto_reason = excluded.auto_reason, micro = excluded.micro, seq = excluded.seq WHERE excluded.seq > downtime.seq",
        [
            (line, r.event_id, r.machine, r.start, r.end, r.state, r.auto_reason, int(bool(r.micro)), r.seq)
            for r in recs
        ],
    )


@projection("downtime_edits")
def downtime_edits(db: Database, line: str, records: list[dict[str, Any]]) -> None:
    """The reason operators gave each stop last (splits stay at the line)."""
    recs: list[DowntimeEditRecord] = parse_records("downtime_edits", records)
    db.executemany(
        "INSERT INTO downtime_reasons (line, event_id, reason, comment, by_who, seq) VALUES (?, ?, ?, ?, ?, ?) "
        "ON CONFLICT (line, event_id) DO UPDATE SET reason = excluded.reason, comment = excluded.comment, "
        "by_who = excluded.by_who, seq = excluded.seq WHERE excluded.seq > downtime_reasons.seq",
        [(line, r.event_id, r.reason, r.comment, r.by, r.seq) for r in recs if r.kind == "assign"],
    )


@projection("spc_alarms")
def spc_alarms(db: Database, line: str, records: list[dict[str, Any]]) -> None:
    recs: list[SpcAlarmRecord] = parse_records("spc_alarms", records)
    db.executemany(
        "INSERT INTO spc_alarms (line, seq, ts, characteristic, kind, rule, detail, value) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
        [(line, r.seq, r.ts, r.characteristic, r.kind, r.rule, r.detail, r.value) for r in recs],
    )


@projection("inspections")
def inspections(db: Database, line: str, records: list[dict[str, Any]]) -> None:
    recs: list[InspectionRecord] = parse_records("inspections", records)
    db.executemany(
        "INSERT INTO inspections (line, seq, ts, plan, order_id, passed, by_who, comment) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
        [(line, r.seq, r.ts, r.plan, r.order_id, int(bool(r.passed)), r.by, r.comment) for r in recs],
    )


@projection("inspection_misses")
def inspection_misses(db: Database, line: str, records: list[dict[str, Any]]) -> None:
    """Inspections the line recorded as missed, once each."""
    recs: list[InspectionMissRecord] = parse_records("inspection_misses", records)
    db.executemany(
        "INSERT INTO inspection_misses (line, seq, ts, plan, order_id, product, due_at, reason) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
        [(line, r.seq, r.ts, r.plan, r.order_id, r.product, r.due_at, r.reason) for r in recs],
    )


#: Event kinds a line records about its plan (``edge.services.plan``).
PLAN_EVENTS = ("plan.resequence", "plan.blocked")


@projection("events")
def plan_deviations(db: Database, line: str, records: list[dict[str, Any]]) -> None:
    """What a line reports about its released sequence: it started another order than
    planned (``plan.resequence``, when the plant was unreachable) or the planned one is
    blocked (``plan.blocked``). Other events stay in ``records`` only."""
    mine = [r for r in records if r.get("kind") in PLAN_EVENTS]
    if not mine:
        return
    recs: list[EventRecord] = parse_records("events", mine)
    rows = []
    for r in recs:
        try:
            d = json.loads(r.data or "{}")
        except ValueError:
            d = {}
        d = d if isinstance(d, dict) else {}
        rows.append(
            (
                line,
                r.seq,
                r.ts,
                r.kind,
                str(d.get("plan_id") or ""),
                str(d.get("planned") or ""),
                str(d.get("chosen") or ""),
                str(d.get("reason") or ""),
                r.message,
            )
        )
    db.executemany(
        "INSERT INTO plan_deviations (line, seq, ts, kind, plan_id, planned, chosen, reason, message) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
        rows,
    )


@projection("lot_links")
def lot_links(db: Database, line: str, records: list[dict[str, Any]]) -> None:
    """Genealogy edges: the produced lot ``child`` consumed ``parent`` (across lines,
    lots are joined by their ids)."""
    recs: list[LotLinkRecord] = parse_records("lot_links", records)
    db.executemany(
        "INSERT INTO genealogy (line, seq, ts, parent, child, material, location, quantity, order_id) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
        [
            (line, r.seq, r.ts, r.parent, r.child, r.material, r.location, r.quantity, r.order_id)
            for r in recs
        ],
    )


@projection("produced")
def produced(db: Database, line: str, records: list[dict[str, Any]]) -> None:
    recs: list[ProducedRecord] = parse_records("produced", records)
    db.executemany(
        "INSERT INTO produced_lots (line, seq, ts, lot, kind, order_id, product, machine, start_ts, end_ts, quantity) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
        [
            (line, r.seq, r.ts, r.lot, r.kind, r.order_id, r.product, r.machine, r.start, r.end, r.quantity)
            for r in recs
        ],
    )


@projection("holds")
def holds(db: Database, line: str, records: list[dict[str, Any]]) -> None:
    """Holds and dispositions as the lines recorded them (the latest row of a
    (line, hold_id) is its state)."""
    recs: list[HoldRecord] = parse_records("holds", records)
    db.executemany(
        "INSERT INTO plant_holds (line, seq, ts, hold_id, target_kind, target, start_ts, end_ts, action, reason, "
        "source, corrective_action, by_who) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
        [
            (
                line,
                r.seq,
                r.ts,
                r.hold_id,
                r.target_kind,
                r.target,
                r.start,
                r.end,
                r.action,
                r.reason,
                r.source,
                r.corrective_action,
                r.by,
            )
            for r in recs
        ],
    )
    _quarantine_held_intermediates(
        db, line, [r for r in recs if r.action == "hold" and r.target_kind == "lot"]
    )


def _quarantine_held_intermediates(db: Database, line: str, held: list[HoldRecord]) -> None:
    """A lot put on hold at a line that the plant also sent to lines as a material lot
    (an intermediate made on one line, used on another) goes into quarantine at the
    plant, and the change down to every line that has reported, in the same transaction:
    so the hold propagates across lines even when it was raised at a line that was
    offline when the plant blocked the lot it came from."""
    if not held:
        return
    lines = [r[0] for r in db.query("SELECT DISTINCT line FROM progress ORDER BY line")]
    for r in held:
        rows = db.query(
            "SELECT lot, material, expiry, supplier_lot, quantity, status FROM plant_lots WHERE lot = ?",
            (r.target,),
        )
        if not rows or rows[0][5] != "released":
            continue
        lot, material, expiry, supplier_lot, quantity, _ = rows[0]
        why = f"on hold at {line}: {r.reason}"[:500]
        db.execute(
            "UPDATE plant_lots SET status = 'quarantine', reason = ?, updated = ? WHERE lot = ?",
            (why, r.ts, lot),
        )
        db.execute(
            "INSERT INTO lot_status_history (lot, status, reason, by_who, ts) VALUES (?, 'quarantine', ?, ?, ?)",
            (lot, why, f"line:{line}", r.ts),
        )
        entry = {
            "lot": lot,
            "material": material,
            "status": "quarantine",
            "expiry": expiry,
            "supplier_lot": supplier_lot,
            "quantity": quantity,
            "reason": why,
        }
        db.executemany(
            "INSERT INTO commands (id, line, kind, body, issued_at) VALUES (?, ?, 'lots', ?, ?) ON CONFLICT DO NOTHING",
            [
                (f"lots-held-{line}-{r.seq}-{i}", ln, json.dumps({"lots": [entry]}), r.ts)
                for i, ln in enumerate(lines)
            ],
        )


@projection("stock_moves")
def stock_moves(db: Database, line: str, records: list[dict[str, Any]]) -> None:
    recs: list[StockMoveRecord] = parse_records("stock_moves", records)
    db.executemany(
        "INSERT INTO lot_moves (line, seq, ts, kind, location, material, lot, quantity, order_id, reason, by_who) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
        [
            (line, r.seq, r.ts, r.kind, r.location, r.material, r.lot, r.quantity, r.order_id, r.reason, r.by)
            for r in recs
        ],
    )


# The plant web view's tables and hourly rollups (``sync.aggregator.rollups``).
projection("downtime")(rollups.downtime_hours)
projection("downtime_edits")(rollups.downtime_reason_days)
projection("state_changes")(rollups.state_changes)
projection("counts")(rollups.counts)
projection("spc_points")(rollups.spc_points)
projection("spc_limits")(rollups.spc_limits)
projection("orders")(rollups.order_runs)


@projection("maint_events")
def maint_events(db: Database, line: str, records: list[dict[str, Any]]) -> None:
    """Every step of the line's maintenance work orders, once each."""
    recs: list[MaintEventRecord] = parse_records("maint_events", records)
    db.executemany(
        "INSERT INTO maint_events (line, seq, ts, wo, kind, data, by_who) VALUES (?, ?, ?, ?, ?, ?, ?) "
        "ON CONFLICT DO NOTHING",
        [(line, r.seq, r.ts, r.wo, r.kind, r.data, r.by) for r in recs],
    )


@projection("maint_stock")
def maint_stock(db: Database, line: str, records: list[dict[str, Any]]) -> None:
    """Every spare-parts movement of the line's store room, once each."""
    recs: list[MaintStockRecord] = parse_records("maint_stock", records)
    db.executemany(
        "INSERT INTO maint_stock (line, seq, ts, part, kind, qty, wo, by_who, why) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
        [(line, r.seq, r.ts, r.part, r.kind, r.qty, r.wo, r.by, r.why) for r in recs],
    )


@projection("events")
def line_shortages(db: Database, line: str, records: list[dict[str, Any]]) -> None:
    """A line's shortage notice (a feeder runs out within its ``stock.shortage_minutes``,
    ``edge.services.materials``) becomes a replan trigger of the plant's scheduler
    (``plan_events``, kind ``line_shortage``: the material is short at that line).
    Idempotent under redelivery: the same notice is recorded once."""
    mine = [r for r in records if r.get("kind") == "material.shortage"]
    if not mine:
        return
    recs: list[EventRecord] = parse_records("events", mine)
    for r in recs:
        try:
            d = json.loads(r.data or "{}")
        except ValueError:
            d = {}
        material = str(d.get("material") or "") if isinstance(d, dict) else ""
        db.execute(
            "INSERT INTO plan_events (ts, kind, line, ref, detail) SELECT ?, 'line_shortage', ?, ?, ? "
            "WHERE NOT EXISTS (SELECT 1 FROM plan_events WHERE kind = 'line_shortage' AND line = ? AND ref = ? AND ts = ?)",
            (r.ts, line, material, r.message, line, material, r.ts),
        )
