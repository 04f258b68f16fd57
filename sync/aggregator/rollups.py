"""Hourly rollups kept as data arrives, for the plant web view and its reports.

Each function is a projection (``sync.aggregator.projections``): it is fed a batch's
records inside the ingest transaction, keeps the stream's plant table, then recomputes
the rollup rows of the hours the batch touched *from that table*. Recomputing instead
of adding makes them idempotent (a redelivered batch changes nothing) and indifferent
to order (a batch arriving ahead of a gap is folded in when it arrives; the one closing
the gap recomputes the hours around it).

* ``rollup_state``: seconds each machine spent in each state, per UTC hour. The interval
  after a machine's latest state change is still open and is not stored: queries add it.
* ``rollup_counts``: good and scrap, ideal time of all and of good parts, and the ideal
  time of start-up scrap, per machine and hour (the OEE performance and quality terms).
* ``rollup_scrap``: scrap by reason per hour.
* ``downtime_hours``: each downtime event's seconds per hour (its reason and loss are
  joined at query time, so an operator's later reason changes the reports at once).
* Day tables (``*_days``, UTC days) summed from the hourly ones whenever an hour of the
  day is recomputed, and ``rollup_stops_days``: stops by machine, reason, micro and state
  with their seconds and how many started that day (recomputed when a stop or its
  reason changes). Long reports read days, and hours only at the period's edges.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable
from typing import Any

from sync.aggregator.db import Database
from sync.protocol import parse_records
from sync.protocol.records import (
    CountRecord,
    DowntimeRecord,
    OrderRecord,
    SpcLimitRecord,
    SpcPointRecord,
    StateChangeRecord,
)

HOUR = 3600.0
DAY = 86400.0


def hour_of(ts: float) -> float:
    """The UTC hour ``ts`` falls in (its start, epoch seconds)."""
    return math.floor(ts / HOUR) * HOUR


def day_of(ts: float) -> float:
    """The UTC day ``ts`` falls in (its start, epoch seconds)."""
    return math.floor(ts / DAY) * DAY


def split_hours(start: float, end: float) -> Iterable[tuple[float, float]]:
    """(hour, seconds) of [start, end) in each hour it covers."""
    h = hour_of(start)
    while h < end:
        s, e = max(start, h), min(end, h + HOUR)
        if e > s:
            yield h, e - s
        h += HOUR


# ---------------------------------------------------------------------- state changes


def state_changes(db: Database, line: str, records: list[dict[str, Any]]) -> None:
    recs: list[StateChangeRecord] = parse_records("state_changes", records)
    if not recs:
        return
    db.executemany(
        "INSERT INTO state_changes (line, seq, ts, machine, old, new, cause) VALUES (?, ?, ?, ?, ?, ?, ?) "
        "ON CONFLICT DO NOTHING",
        [(line, r.seq, r.ts, r.machine, r.old, r.new, r.cause) for r in recs],
    )
    by_machine: dict[str, list[float]] = {}
    for r in recs:
        by_machine.setdefault(r.machine, []).append(r.ts)
    for machine, stamps in by_machine.items():
        _recompute_state(db, line, machine, min(stamps), max(stamps))


def _recompute_state(db: Database, line: str, machine: str, lo: float, hi: float) -> None:
    """Recompute the state seconds of the hours between the change before ``lo`` and
    the change after ``hi`` (the intervals the new changes opened or closed)."""
    before = db.execute(
        "SELECT ts FROM state_changes WHERE line = ? AND machine = ? AND ts < ? ORDER BY ts DESC LIMIT 1",
        (line, machine, lo),
    ).fetchone()
    after = db.execute(
        "SELECT ts FROM state_changes WHERE line = ? AND machine = ? AND ts > ? ORDER BY ts LIMIT 1",
        (line, machine, hi),
    ).fetchone()
    start = hour_of(before[0] if before else lo)
    end = hour_of(after[0] if after else hi) + HOUR
    rows = db.execute(
        "SELECT ts, new FROM state_changes WHERE line = ? AND machine = ? AND ts >= ? AND ts < ? ORDER BY ts, seq",
        (line, machine, start, end),
    ).fetchall()
    first = db.execute(
        "SELECT ts, new FROM state_changes WHERE line = ? AND machine = ? AND ts < ? ORDER BY ts DESC, seq DESC LIMIT 1",
        (line, machine, start),
    ).fetchone()
    following = db.execute(
        "SELECT ts FROM state_changes WHERE line = ? AND machine = ? AND ts >= ? ORDER BY ts LIMIT 1",
        (line, machine, end),
    ).fetchone()
    changes = ([(start, first[1])] if first else []) + [(float(t), str(s)) for t, s in rows]
    if following:  # closes the last interval of the range (an open one is not stored)
        changes.append((float(following[0]), ""))
    seconds: dict[tuple[float, str], float] = {}
    for (t0, state), (t1, _) in itertools.pairwise(changes):
        for h, s in split_hours(t0, min(t1, end)):
            seconds[(h, state)] = seconds.get((h, state), 0.0) + s
    db.execute(
        "DELETE FROM rollup_state WHERE line = ? AND machine = ? AND hour >= ? AND hour < ?",
        (line, machine, start, end),
    )
    db.executemany(
        "INSERT INTO rollup_state (line, machine, hour, state, seconds) VALUES (?, ?, ?, ?, ?)",
        [(line, machine, h, st, s) for (h, st), s in sorted(seconds.items())],
    )
    d = day_of(start)
    while d < end:
        rows = db.execute(
            "SELECT state, sum(seconds) FROM rollup_state WHERE line = ? AND machine = ? AND hour >= ? AND hour < ? "
            "GROUP BY state",
            (line, machine, d, d + DAY),
        ).fetchall()
        db.execute(
            "DELETE FROM rollup_state_days WHERE line = ? AND machine = ? AND day = ?", (line, machine, d)
        )
        db.executemany(
            "INSERT INTO rollup_state_days (line, machine, day, state, seconds) VALUES (?, ?, ?, ?, ?)",
            [(line, machine, d, st, float(sec)) for st, sec in rows],
        )
        d += DAY


# ---------------------------------------------------------------------- counts


def counts(db: Database, line: str, records: list[dict[str, Any]]) -> None:
    recs: list[CountRecord] = parse_records("counts", records)
    if not recs:
        return
    db.executemany(
        "INSERT INTO counts (line, seq, ts, machine, good, scrap, ideal_cycle_s, startup, order_id, scrap_reason) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
        [
            (
                line,
                r.seq,
                r.ts,
                r.machine,
                r.good,
                r.scrap,
                r.ideal_cycle_s,
                int(bool(r.startup)),
                r.order_id,
                r.scrap_reason,
            )
            for r in recs
        ],
    )
    for machine, h in sorted({(r.machine, hour_of(r.ts)) for r in recs}):
        row = db.execute(
            "SELECT coalesce(sum(good), 0), coalesce(sum(scrap), 0), "
            "coalesce(sum((good + scrap) * coalesce(ideal_cycle_s, 0)), 0), "
            "coalesce(sum(good * coalesce(ideal_cycle_s, 0)), 0), "
            "coalesce(sum(CASE WHEN startup = 1 THEN scrap * coalesce(ideal_cycle_s, 0) ELSE 0 END), 0) "
            "FROM counts WHERE line = ? AND machine = ? AND ts >= ? AND ts < ?",
            (line, machine, h, h + HOUR),
        ).fetchone()
        db.execute(
            "INSERT INTO rollup_counts (line, machine, hour, good, scrap, ideal_s, good_ideal_s, startup_scrap_ideal_s) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (line, machine, hour) DO UPDATE SET good = excluded.good, "
            "scrap = excluded.scrap, ideal_s = excluded.ideal_s, good_ideal_s = excluded.good_ideal_s, "
            "startup_scrap_ideal_s = excluded.startup_scrap_ideal_s",
            (line, machine, h, int(row[0]), int(row[1]), float(row[2]), float(row[3]), float(row[4])),
        )
    for machine, d in sorted({(r.machine, day_of(r.ts)) for r in recs}):
        row = db.execute(
            "SELECT coalesce(sum(good), 0), coalesce(sum(scrap), 0), coalesce(sum(ideal_s), 0), "
            "coalesce(sum(good_ideal_s), 0), coalesce(sum(startup_scrap_ideal_s), 0) FROM rollup_counts "
            "WHERE line = ? AND machine = ? AND hour >= ? AND hour < ?",
            (line, machine, d, d + DAY),
        ).fetchone()
        db.execute(
            "INSERT INTO rollup_counts_days (line, machine, day, good, scrap, ideal_s, good_ideal_s, "
            "startup_scrap_ideal_s) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (line, machine, day) DO UPDATE SET "
            "good = excluded.good, scrap = excluded.scrap, ideal_s = excluded.ideal_s, "
            "good_ideal_s = excluded.good_ideal_s, startup_scrap_ideal_s = excluded.startup_scrap_ideal_s",
            (line, machine, d, int(row[0]), int(row[1]), float(row[2]), float(row[3]), float(row[4])),
        )
    for h in sorted({hour_of(r.ts) for r in recs if r.scrap}):
        by_reason = db.execute(
            "SELECT coalesce(scrap_reason, ''), sum(scrap) FROM counts WHERE line = ? AND ts >= ? AND ts < ? "
            "AND scrap > 0 GROUP BY coalesce(scrap_reason, '')",
            (line, h, h + HOUR),
        ).fetchall()
        db.execute("DELETE FROM rollup_scrap WHERE line = ? AND hour = ?", (line, h))
        db.executemany(
            "INSERT INTO rollup_scrap (line, hour, reason, scrap) VALUES (?, ?, ?, ?)",
            [(line, h, reason or "unspecified", int(n)) for reason, n in by_reason],
        )
    for d in sorted({day_of(r.ts) for r in recs if r.scrap}):
        by_reason = db.execute(
            "SELECT reason, sum(scrap) FROM rollup_scrap WHERE line = ? AND hour >= ? AND hour < ? GROUP BY reason",
            (line, d, d + DAY),
        ).fetchall()
        db.execute("DELETE FROM rollup_scrap_days WHERE line = ? AND day = ?", (line, d))
        db.executemany(
            "INSERT INTO rollup_scrap_days (line, day, reason, scrap) VALUES (?, ?, ?, ?)",
            [(line, d, reason, int(n)) for reason, n in by_reason],
        )


# ---------------------------------------------------------------------- downtime


def downtime_hours(db: Database, line: str, records: list[dict[str, Any]]) -> None:
    """Each event's seconds per hour, from its latest version (the ``downtime``
    projection ran first in the same transaction). Open events are added at query time."""
    recs: list[DowntimeRecord] = parse_records("downtime", records)
    days: set[float] = set()
    for event_id in sorted({r.event_id for r in recs}):
        row = db.execute(
            "SELECT start_ts, end_ts FROM downtime WHERE line = ? AND event_id = ?", (line, event_id)
        ).fetchone()
        days |= _event_days(db, line, event_id)
        db.execute("DELETE FROM downtime_hours WHERE line = ? AND event_id = ?", (line, event_id))
        if row is None or row[1] is None:
            continue
        hours = list(split_hours(float(row[0]), float(row[1])))
        db.executemany(
            "INSERT INTO downtime_hours (line, event_id, hour, seconds) VALUES (?, ?, ?, ?)",
            [(line, event_id, h, s) for h, s in hours],
        )
        days |= {day_of(h) for h, _ in hours}
    stop_days(db, line, days)


def _event_days(db: Database, line: str, event_id: str) -> set[float]:
    return {
        day_of(float(h))
        for (h,) in db.execute(
            "SELECT hour FROM downtime_hours WHERE line = ? AND event_id = ?", (line, event_id)
        ).fetchall()
    }


def downtime_reason_days(db: Database, line: str, records: list[dict[str, Any]]) -> None:
    """An operator gave a stop its reason (the ``downtime_edits`` projection ran first):
    the days it covers are summed again under the new reason."""
    events = {r.get("event_id") for r in records if r.get("kind") == "assign"}
    days: set[float] = set()
    for ev in sorted(e for e in events if isinstance(e, str)):
        days |= _event_days(db, line, ev)
    stop_days(db, line, days)


def stop_days(db: Database, line: str, days: Iterable[float]) -> None:
    """Recompute ``rollup_stops_days`` of ``days``: seconds by machine, reason, micro and
    state, and the stops that started each day."""
    for d in sorted(set(days)):
        rows = db.execute(
            "SELECT dt.machine, coalesce(r.reason, dt.auto_reason, ''), dt.micro, dt.state, sum(h.seconds), "
            "sum(CASE WHEN h.hour <= dt.start_ts THEN 1 ELSE 0 END) "
            "FROM downtime_hours h JOIN downtime dt ON dt.line = h.line AND dt.event_id = h.event_id "
            "LEFT JOIN downtime_reasons r ON r.line = h.line AND r.event_id = h.event_id "
            "WHERE h.line = ? AND h.hour >= ? AND h.hour < ? "
            "GROUP BY dt.machine, coalesce(r.reason, dt.auto_reason, ''), dt.micro, dt.state",
            (line, d, d + DAY),
        ).fetchall()
        db.execute("DELETE FROM rollup_stops_days WHERE line = ? AND day = ?", (line, d))
        db.executemany(
            "INSERT INTO rollup_stops_days (line, day, machine, reason, micro, state, seconds, stops) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (line, d, m, reason, int(micro), st, float(sec), int(n))
                for m, reason, micro, st, sec, n in rows
            ],
        )


def rebuild_days(db: Database) -> None:
    """Fill the day tables from the hourly ones (a store that had hours before days)."""
    for line, machine, hour, state, sec in db.execute(
        "SELECT line, machine, hour, state, seconds FROM rollup_state"
    ).fetchall():
        db.execute(
            "INSERT INTO rollup_state_days (line, machine, day, state, seconds) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (line, machine, day, state) DO UPDATE SET "
            "seconds = rollup_state_days.seconds + excluded.seconds",
            (line, machine, day_of(float(hour)), state, float(sec)),
        )
    for line, machine, hour, g, sc, i, gi, si in db.execute(
        "SELECT line, machine, hour, good, scrap, ideal_s, good_ideal_s, startup_scrap_ideal_s FROM rollup_counts"
    ).fetchall():
        db.execute(
            "INSERT INTO rollup_counts_days (line, machine, day, good, scrap, ideal_s, good_ideal_s, "
            "startup_scrap_ideal_s) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (line, machine, day) DO UPDATE SET "
            "good = rollup_counts_days.good + excluded.good, scrap = rollup_counts_days.scrap + excluded.scrap, "
            "ideal_s = rollup_counts_days.ideal_s + excluded.ideal_s, "
            "good_ideal_s = rollup_counts_days.good_ideal_s + excluded.good_ideal_s, "
            "startup_scrap_ideal_s = rollup_counts_days.startup_scrap_ideal_s + excluded.startup_scrap_ideal_s",
            (line, machine, day_of(float(hour)), int(g), int(sc), float(i), float(gi), float(si)),
        )
    for line, hour, reason, n in db.execute("SELECT line, hour, reason, scrap FROM rollup_scrap").fetchall():
        db.execute(
            "INSERT INTO rollup_scrap_days (line, day, reason, scrap) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (line, day, reason) DO UPDATE SET scrap = rollup_scrap_days.scrap + excluded.scrap",
            (line, day_of(float(hour)), reason, int(n)),
        )
    by_line: dict[str, set[float]] = {}
    for line, hour in db.execute("SELECT DISTINCT line, hour FROM downtime_hours").fetchall():
        by_line.setdefault(line, set()).add(day_of(float(hour)))
    for line, days in sorted(by_line.items()):
        stop_days(db, line, days)


# ---------------------------------------------------------------------- SPC and orders


def spc_points(db: Database, line: str, records: list[dict[str, Any]]) -> None:
    recs: list[SpcPointRecord] = parse_records("spc_points", records)
    db.executemany(
        "INSERT INTO spc_points (line, seq, ts, characteristic, value, dispersion) VALUES (?, ?, ?, ?, ?, ?) "
        "ON CONFLICT DO NOTHING",
        [(line, r.seq, r.ts, r.characteristic, r.value, r.dispersion) for r in recs],
    )


def spc_limits(db: Database, line: str, records: list[dict[str, Any]]) -> None:
    recs: list[SpcLimitRecord] = parse_records("spc_limits", records)
    db.executemany(
        "INSERT INTO spc_limits (line, seq, ts, characteristic, action, spec) VALUES (?, ?, ?, ?, ?, ?) "
        "ON CONFLICT DO NOTHING",
        [(line, r.seq, r.ts, r.characteristic, r.action, r.spec) for r in recs],
    )


def order_runs(db: Database, line: str, records: list[dict[str, Any]]) -> None:
    """When each order first and last did something on the line, and what it did last."""
    recs: list[OrderRecord] = parse_records("orders", records)
    db.executemany(
        "INSERT INTO order_runs (line, order_id, product, first_ts, last_ts, last_action, seq) "
        "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (line, order_id) DO UPDATE SET "
        "product = coalesce(excluded.product, order_runs.product), "
        "first_ts = CASE WHEN excluded.first_ts < order_runs.first_ts THEN excluded.first_ts ELSE order_runs.first_ts END, "
        "last_ts = CASE WHEN excluded.seq > order_runs.seq THEN excluded.last_ts ELSE order_runs.last_ts END, "
        "last_action = CASE WHEN excluded.seq > order_runs.seq THEN excluded.last_action ELSE order_runs.last_action END, "
        "seq = CASE WHEN excluded.seq > order_runs.seq THEN excluded.seq ELSE order_runs.seq END",
        [(line, r.order_id, r.product, r.ts, r.ts, r.action, r.seq) for r in recs],
    )
