"""Repository of quality: SPC points, alarms and their acknowledgements, control limits
(frozen by the line, recalculation requested by people), manual measurements and
inspection results.

Functions take an open :class:`~edge.store.db.Store`; writers do not open a transaction
themselves, the caller groups them with the audit entry in ``store.transaction()``.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from edge.store.db import Store
from edge.store.facts import LINE, spec_from_json, spec_to_json

if TYPE_CHECKING:  # charts pull in numpy: a line without SPC never loads it
    from edge.logic.quality.charts import ChartSpec

__all__ = ["spec_from_json", "spec_to_json"]  # the codec of frozen limits lives with the facts

# ----------------------------------------------------------------------------- limits


def frozen_spec_text(
    store: Store, characteristic: str, *, in_force: bool = False, product: str | None = None
) -> str | None:
    """The limits last frozen for a characteristic (and product: limits are kept per
    product, NULL for a line without products), as stored. ``in_force``: None while a
    recalculation requested after them is pending (the line collects a new baseline)."""
    row = store.db.execute(
        "SELECT action, spec FROM spc_limits WHERE characteristic = ? AND product IS ? "
        "AND (action = 'frozen' OR ?) ORDER BY seq DESC LIMIT 1",
        (characteristic, product, int(in_force)),
    ).fetchone()
    return row[1] if row and row[0] == "frozen" and row[1] else None


def frozen_spec(
    store: Store, characteristic: str, *, in_force: bool = False, product: str | None = None
) -> ChartSpec | None:
    """:func:`frozen_spec_text` decoded."""
    text = frozen_spec_text(store, characteristic, in_force=in_force, product=product)
    return spec_from_json(text) if text else None


def add_recalculation(
    store: Store, characteristic: str, *, by: str, reason: str, ts: float, product: str | None = None
) -> int:
    cur = store.db.execute(
        "INSERT INTO spc_limits (ts, characteristic, action, by, reason, product) "
        "VALUES (?, ?, 'recalculate', ?, ?, ?)",
        (ts, characteristic, by, reason, product),
    )
    return int(cur.lastrowid or 0)


def add_frozen(
    store: Store, characteristic: str, spec: str, *, by: str, reason: str, ts: float, product: str | None
) -> int:
    """A new limit version approved by people (from a baseline window or typed)."""
    cur = store.db.execute(
        "INSERT INTO spc_limits (ts, characteristic, action, spec, by, reason, product) "
        "VALUES (?, ?, 'frozen', ?, ?, ?, ?)",
        (ts, characteristic, spec, by, reason, product),
    )
    return int(cur.lastrowid or 0)


@dataclass(frozen=True)
class LimitRow:
    """One row of a characteristic's limit history: a frozen version or a request for a
    new baseline."""

    seq: int
    ts: float
    characteristic: str
    action: str
    spec: str | None
    by: str
    reason: str
    product: str | None


def limit_rows_after(store: Store, seq: int) -> list[LimitRow]:
    """Limit rows after ``seq`` (what the agent acts on), oldest first."""
    return [
        LimitRow(*r)
        for r in store.db.execute(
            "SELECT seq, ts, characteristic, action, spec, by, reason, product FROM spc_limits "
            "WHERE seq > ? ORDER BY seq",
            (seq,),
        )
    ]


def limit_history(store: Store, characteristic: str) -> list[LimitRow]:
    """Every limit version and recalculation of a characteristic, newest first."""
    return [
        LimitRow(*r)
        for r in store.db.execute(
            "SELECT seq, ts, characteristic, action, spec, by, reason, product FROM spc_limits "
            "WHERE characteristic = ? ORDER BY seq DESC",
            (characteristic,),
        )
    ]


def last_limit_row(store: Store) -> int:
    top = store.db.execute("SELECT max(seq) FROM spc_limits").fetchone()[0]
    return int(top or 0)


def points_between(
    store: Store, characteristic: str, product: str | None, start: float, end: float
) -> list[tuple[float, float | None, float | None]]:
    """(value, dispersion, n) of the points charted in [start, end], oldest first."""
    return [
        (float(v), None if d is None else float(d), None if n is None else float(n))
        for v, d, n in store.db.execute(
            "SELECT value, dispersion, n FROM spc_points WHERE characteristic = ? AND product IS ? "
            "AND ts >= ? AND ts <= ? ORDER BY seq",
            (characteristic, product, start, end),
        )
    ]


def version_window(
    store: Store, characteristic: str, product: str | None
) -> tuple[float, bool, LimitRow | None]:
    """Where the subgroups of the limit version in force for a product begin: (start,
    inclusive, its row). Limits frozen by the line from a baseline include the baseline
    subgroups (those after the previous limit row, or all); limits approved by people
    (window or typed) the subgroups charted from their approval on; while a new baseline
    is being collected, the subgroups since it was requested."""
    rows = [
        LimitRow(*r)
        for r in store.db.execute(
            "SELECT seq, ts, characteristic, action, spec, by, reason, product FROM spc_limits "
            "WHERE characteristic = ? AND product IS ? ORDER BY seq DESC LIMIT 2",
            (characteristic, product),
        )
    ]
    if not rows:
        return float("-inf"), True, None
    top = rows[0]
    if top.action == "recalculate":
        return top.ts, False, top
    if top.by == LINE:
        return (rows[1].ts, False, top) if len(rows) > 1 else (float("-inf"), True, top)
    return top.ts, True, top


def subgroups_since(
    store: Store, characteristic: str, product: str | None, start: float, inclusive: bool, limit: int = 5000
) -> list[tuple[float, float, str | None]]:
    """(ts, plotted value, subgroup values as JSON) of the last ``limit`` points of a
    characteristic and product from ``start`` on, oldest first."""
    op = ">=" if inclusive else ">"
    rows = store.db.execute(
        f"SELECT ts, value, subgroup FROM spc_points WHERE characteristic = ? AND product IS ? AND ts {op} ? "
        "ORDER BY seq DESC LIMIT ?",
        (characteristic, product, start, limit),
    ).fetchall()
    return [(float(t), float(v), g) for t, v, g in reversed(rows)]


@dataclass(frozen=True)
class LimitRequest:
    """A request for new SPC limits and what became of it."""

    id: int
    ts: float
    characteristic: str
    reason: str
    requested_by: str
    requested_badge: str
    status: str  # pending | approved | rejected
    decided_by: str | None
    decided_ts: float | None
    comment: str
    product: str | None = None
    window_start: float | None = None
    window_end: float | None = None
    typed: str | None = None  # JSON {"center": .., "sigma": ..}


_REQUEST_COLS = (
    "id, ts, characteristic, reason, requested_by, requested_badge, status, decided_by, decided_ts, comment, "
    "product, window_start, window_end, typed"
)


def add_limit_request(
    store: Store,
    characteristic: str,
    *,
    reason: str,
    by: str,
    badge: str,
    ts: float,
    product: str | None = None,
    window: tuple[float, float] | None = None,
    typed: str | None = None,
) -> int:
    cur = store.db.execute(
        "INSERT INTO spc_limit_requests (ts, characteristic, reason, requested_by, requested_badge, "
        "product, window_start, window_end, typed) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            ts,
            characteristic,
            reason,
            by,
            badge,
            product,
            window[0] if window else None,
            window[1] if window else None,
            typed,
        ),
    )
    return int(cur.lastrowid or 0)


def limit_request(store: Store, request_id: int) -> LimitRequest | None:
    row = store.db.execute(
        f"SELECT {_REQUEST_COLS} FROM spc_limit_requests WHERE id = ?", (request_id,)
    ).fetchone()
    return LimitRequest(*row) if row else None


def limit_requests(store: Store, *, pending_only: bool = True, limit: int = 100) -> list[LimitRequest]:
    """Requests for new limits, newest first (only the pending ones by default; none in a
    store the agent has not migrated yet, read by a newer terminal)."""
    try:
        rows = store.db.execute(
            f"SELECT {_REQUEST_COLS} FROM spc_limit_requests WHERE status = 'pending' OR ? "
            "ORDER BY id DESC LIMIT ?",
            (int(not pending_only), limit),
        ).fetchall()
    except sqlite3.OperationalError as e:
        if "no such table" in str(e):
            return []
        raise
    return [LimitRequest(*r) for r in rows]


def decide_limit_request(
    store: Store, request_id: int, status: str, *, by: str, comment: str, ts: float
) -> None:
    """Mark a pending request approved or rejected."""
    store.db.execute(
        "UPDATE spc_limit_requests SET status = ?, decided_by = ?, decided_ts = ?, comment = ? "
        "WHERE id = ? AND status = 'pending'",
        (status, by, ts, comment, request_id),
    )


# ----------------------------------------------------------------------------- points


def recent_points(
    store: Store, characteristic: str, limit: int, *, product: str | None = None, any_product: bool = True
) -> list[tuple[float, float, float | None]]:
    """The last ``limit`` points (ts, value, dispersion) of a characteristic (of one
    product unless ``any_product``), oldest first."""
    rows = store.db.execute(
        "SELECT ts, value, dispersion FROM spc_points WHERE characteristic = ? AND (? OR product IS ?) "
        "ORDER BY seq DESC LIMIT ?",
        (characteristic, int(any_product), product, limit),
    ).fetchall()
    return [(float(t), float(v), None if d is None else float(d)) for t, v, d in reversed(rows)]


def recent_statistics(
    store: Store, characteristic: str, limit: int, *, product: str | None
) -> list[tuple[float, float]]:
    """The last ``limit`` (ts, z) of a characteristic and product, oldest first: what an
    EWMA or CUSUM chart plots (its statistic in units where ±3 is the decision limit)."""
    rows = store.db.execute(
        "SELECT ts, z FROM spc_points WHERE characteristic = ? AND product IS ? AND z IS NOT NULL "
        "ORDER BY seq DESC LIMIT ?",
        (characteristic, product, limit),
    ).fetchall()
    return [(float(t), float(z)) for t, z in reversed(rows)]


def last_point_product(store: Store, characteristic: str) -> tuple[bool, str | None]:
    """(any point yet, the product of the latest point)."""
    row = store.db.execute(
        "SELECT product FROM spc_points WHERE characteristic = ? ORDER BY seq DESC LIMIT 1", (characteristic,)
    ).fetchone()
    return (row is not None, row[0] if row else None)


# ----------------------------------------------------------------------------- alarms


@dataclass(frozen=True)
class AlarmRow:
    seq: int
    ts: float
    characteristic: str
    kind: str
    rule: str
    detail: str
    value: float | None
    acked_upto: int | None
    """The highest alarm sequence of the characteristic acknowledged so far."""

    @property
    def acknowledged(self) -> bool:
        return self.acked_upto is not None and self.acked_upto >= self.seq


def alarms(store: Store) -> list[AlarmRow]:
    """Every SPC alarm with its characteristic's acknowledgement, newest first."""
    return [
        AlarmRow(*r)
        for r in store.db.execute(
            "SELECT a.seq, a.ts, a.characteristic, a.kind, a.rule, a.detail, a.value, "
            "(SELECT max(upto_alarm) FROM spc_acks k WHERE k.characteristic = a.characteristic) "
            "FROM spc_alarms a ORDER BY a.seq DESC"
        )
    ]


def alarm_times(
    store: Store,
    characteristic: str,
    since: float,
    *,
    rules: tuple[str, ...] | None = None,
    exclude: bool = False,
) -> set[float]:
    """When the alarms of a characteristic since ``since`` were raised (only those of
    ``rules``, or with ``exclude`` all but those)."""
    rows = store.db.execute(
        "SELECT ts, rule FROM spc_alarms WHERE characteristic = ? AND ts >= ?", (characteristic, since)
    )
    if rules is None:
        return {float(ts) for ts, _r in rows}
    return {float(ts) for ts, r in rows if (r in rules) != exclude}


def alarms_between(store: Store, start: float, end: float) -> list[dict[str, Any]]:
    """SPC alarms raised in [start, end] (every characteristic)."""
    return [
        {"ts": t, "characteristic": c, "kind": k, "rule": r, "detail": d}
        for t, c, k, r, d in store.db.execute(
            "SELECT ts, characteristic, kind, rule, detail FROM spc_alarms WHERE ts >= ? AND ts <= ? ORDER BY seq",
            (start, end),
        )
    ]


def last_alarm(store: Store, characteristic: str) -> int | None:
    """Sequence of the latest alarm of a characteristic."""
    top = store.db.execute(
        "SELECT max(seq) FROM spc_alarms WHERE characteristic = ?", (characteristic,)
    ).fetchone()[0]
    return int(top) if top is not None else None


def ack_state(store: Store, characteristic: str) -> tuple[int | None, float | None, int | None]:
    """(latest alarm seq, its time, highest alarm seq acknowledged) of a characteristic."""
    row = store.db.execute(
        "SELECT (SELECT max(seq) FROM spc_alarms WHERE characteristic = ?), "
        "(SELECT max(ts) FROM spc_alarms WHERE characteristic = ?), "
        "(SELECT max(upto_alarm) FROM spc_acks WHERE characteristic = ?)",
        (characteristic, characteristic, characteristic),
    ).fetchone()
    return row[0], row[1], row[2]


def add_ack(
    store: Store,
    characteristic: str,
    upto_alarm: int,
    *,
    by: str,
    comment: str,
    ts: float,
    cause: str = "",
    action: str = "",
) -> int:
    cur = store.db.execute(
        "INSERT INTO spc_acks (ts, characteristic, upto_alarm, by, comment, cause, action) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
        (ts, characteristic, upto_alarm, by, comment, cause, action),
    )
    return int(cur.lastrowid or 0)


def acks_after(store: Store, seq: int) -> list[tuple[int, float, str]]:
    """(seq, ts, characteristic) of the acknowledgements after ``seq``."""
    return [
        (int(q), float(t), str(c))
        for q, t, c in store.db.execute(
            "SELECT seq, ts, characteristic FROM spc_acks WHERE seq > ? ORDER BY seq", (seq,)
        )
    ]


def last_ack(store: Store) -> int:
    return int(store.db.execute("SELECT coalesce(max(seq), 0) FROM spc_acks").fetchone()[0])


# ----------------------------------------------------------------------------- measurements


def add_measurement(
    store: Store, characteristic: str, value: float, *, by: str, ts: float, size: float | None = None
) -> int:
    cur = store.db.execute(
        "INSERT INTO measurements (ts, characteristic, value, by, size) VALUES (?, ?, ?, ?, ?)",
        (ts, characteristic, value, by, size),
    )
    return int(cur.lastrowid or 0)


def measurements_after(store: Store, seq: int) -> list[tuple[int, float, str, float, float | None]]:
    """(seq, ts, characteristic, value, size) of the measurements after ``seq``."""
    return [
        (int(s), float(t), str(c), float(v), None if n is None else float(n))
        for s, t, c, v, n in store.db.execute(
            "SELECT seq, ts, characteristic, value, size FROM measurements WHERE seq > ? ORDER BY seq", (seq,)
        )
    ]


def last_charted_measurement(store: Store) -> int:
    """Sequence of the last manual measurement already charted: those recorded before the
    last stored SPC point."""
    last_point = store.db.execute("SELECT max(ts) FROM spc_points").fetchone()[0] or 0.0
    return int(
        store.db.execute(
            "SELECT coalesce(max(seq), 0) FROM measurements WHERE ts <= ?", (last_point,)
        ).fetchone()[0]
    )


def measurement_values(store: Store, characteristic: str, since: float) -> list[float]:
    return [
        float(v)
        for (v,) in store.db.execute(
            "SELECT value FROM measurements WHERE characteristic = ? AND ts >= ? ORDER BY seq",
            (characteristic, since),
        )
    ]


# ----------------------------------------------------------------------------- inspections


def add_inspection(
    store: Store,
    plan: str,
    *,
    order: str | None,
    product: str | None,
    parts_at: int,
    passed: bool,
    items: list[dict[str, Any]],
    by: str,
    comment: str,
    ts: float,
) -> int:
    cur = store.db.execute(
        "INSERT INTO inspections (ts, plan, order_id, product, parts_at, passed, items, by, comment) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (ts, plan, order, product, parts_at, int(passed), json.dumps(items), by, comment),
    )
    return int(cur.lastrowid or 0)


def inspections_done(store: Store, order: str) -> dict[str, tuple[float, int]]:
    """Per plan, (time, parts count) of the last inspection done for ``order``."""
    return {
        plan: (ts, parts)
        for plan, ts, parts in store.db.execute(
            "SELECT plan, max(ts), parts_at FROM inspections WHERE order_id = ? GROUP BY plan", (order,)
        )
    }


def recent_inspections(store: Store, limit: int = 20) -> list[dict[str, Any]]:
    """The latest inspection results, newest first."""
    return [
        {"ts": ts, "plan": plan, "order": o, "passed": bool(p), "by": by, "items": json.loads(items)}
        for ts, plan, o, p, by, items in store.db.execute(
            "SELECT ts, plan, order_id, passed, by, items FROM inspections ORDER BY seq DESC LIMIT ?",
            (limit,),
        )
    ]


def add_miss(
    store: Store, plan: str, *, order: str, product: str | None, due_at: float, reason: str, ts: float
) -> int:
    """Record a missed inspection (once per plan, order and due time): 1 if new.

    Looked up before inserting, not ``INSERT OR IGNORE``: the table is a stream whose
    AUTOINCREMENT sequence an ignored insert would still advance (the agent asks every
    few seconds while a miss stands)."""
    cur = store.db.execute(
        "INSERT INTO inspection_misses (ts, plan, order_id, product, due_at, reason) SELECT ?, ?, ?, ?, ?, ? "
        "WHERE NOT EXISTS (SELECT 1 FROM inspection_misses WHERE plan = ? AND order_id = ? AND due_at = ?)",
        (ts, plan, order, product, due_at, reason, plan, order, due_at),
    )
    return cur.rowcount


def misses_between(store: Store, start: float, end: float) -> list[dict[str, Any]]:
    """Missed inspections recorded in [start, end), oldest first."""
    return [
        {"ts": ts, "plan": plan, "order": o, "product": p, "due_at": due, "reason": r}
        for ts, plan, o, p, due, r in store.db.execute(
            "SELECT ts, plan, order_id, product, due_at, reason FROM inspection_misses "
            "WHERE ts >= ? AND ts < ? ORDER BY seq",
            (start, end),
        )
    ]
