"""Repository of production: machine states, downtime and the operators' edits of it,
counts, the line's order facts and the work-order requests queued for the agent.

Functions take an open :class:`~edge.store.db.Store`; writers do not open a transaction
themselves, the caller groups them with the audit entry in ``store.transaction()``.
Requests and facts are apart: ``order_requests`` holds what operators and the plant ask
for (the agent marks each applied or refused), ``orders`` what the line did.
"""

from __future__ import annotations

from dataclasses import dataclass

from edge.logic.production.downtime import Assign, DowntimeEvent, Split
from edge.logic.production.line import Changeover, MachineCount, OrderChange
from edge.logic.production.report import Facts
from edge.logic.production.state import State, StateChange
from edge.store.db import Store

# ----------------------------------------------------------------------------- machine states


def latest_state(store: Store, machine: str) -> tuple[str, float] | None:
    """The state last recorded for ``machine`` and since when, or None before any."""
    row = store.db.execute(
        "SELECT new, ts FROM state_changes WHERE machine = ? ORDER BY seq DESC LIMIT 1", (machine,)
    ).fetchone()
    return (row[0], row[1]) if row else None


def first_state_change(store: Store) -> float | None:
    """When the first state change was recorded (None on an empty store)."""
    ts = store.db.execute("SELECT min(ts) FROM state_changes").fetchone()[0]
    return float(ts) if ts is not None else None


def commissioned_at(store: Store) -> float | None:
    """When the line first produced data on this store: the agent's first start, else
    the first state change (None on an empty store)."""
    ts = store.db.execute("SELECT min(ts) FROM events WHERE kind = 'agent_started'").fetchone()[0]
    return float(ts) if ts is not None else first_state_change(store)


# ----------------------------------------------------------------------------- downtime


def load_downtime(store: Store, since: float = float("-inf")) -> dict[str, list[DowntimeEvent]]:
    """The latest version of every downtime event still open or ending at or after ``since``,
    per machine, by start."""
    rows = store.db.execute(
        "SELECT d.event_id, d.machine, d.start, d.end, d.state, d.auto_reason, d.micro FROM downtime d "
        "JOIN (SELECT event_id, max(seq) AS seq FROM downtime GROUP BY event_id) l ON l.seq = d.seq "
        "WHERE d.end IS NULL OR d.end >= ? ORDER BY d.start",
        (since,),
    ).fetchall()
    out: dict[str, list[DowntimeEvent]] = {}
    for eid, machine, start, end, state, auto, micro in rows:
        out.setdefault(machine, []).append(
            DowntimeEvent(eid, machine, start, end, State(state), auto, micro=bool(micro))
        )
    return out


def count_downtime_events(store: Store) -> int:
    return int(store.db.execute("SELECT count(DISTINCT event_id) FROM downtime").fetchone()[0])


def load_edits(store: Store) -> list[Assign | Split]:
    """Every operator edit of downtime (reasons assigned, stops split), oldest first."""
    out: list[Assign | Split] = []
    for kind, eid, reason, at, comment, by, ts in store.db.execute(
        "SELECT kind, event_id, reason, at, comment, by, ts FROM downtime_edits ORDER BY seq"
    ):
        out.append(Assign(eid, reason, comment, by, ts) if kind == "assign" else Split(eid, at, by, ts))
    return out


def add_reason_edit(store: Store, event_id: str, reason: str, *, comment: str, by: str, ts: float) -> int:
    cur = store.db.execute(
        "INSERT INTO downtime_edits (ts, kind, event_id, reason, comment, by) VALUES (?, 'assign', ?, ?, ?, ?)",
        (ts, event_id, reason, comment, by),
    )
    return int(cur.lastrowid or 0)


def add_split_edit(store: Store, event_id: str, at: float, *, comment: str, by: str, ts: float) -> int:
    cur = store.db.execute(
        "INSERT INTO downtime_edits (ts, kind, event_id, at, comment, by) VALUES (?, 'split', ?, ?, ?, ?)",
        (ts, event_id, at, comment, by),
    )
    return int(cur.lastrowid or 0)


# ----------------------------------------------------------------------------- counts


def counts_since(store: Store, machine: str | None, since: float) -> tuple[int, int]:
    """(good, scrap) counted on ``machine`` since ``since``, the operators' corrections included."""
    good, scrap = store.db.execute(
        "SELECT coalesce(sum(good), 0), coalesce(sum(scrap), 0) FROM counts WHERE machine = ? AND ts >= ?",
        (machine, since),
    ).fetchone()
    return int(good), int(scrap)


def order_counts(store: Store, machine: str, order: str | None) -> tuple[int, int]:
    """(good, scrap) booked on ``machine`` for ``order`` (None: parts counted without an
    order), the operators' corrections included."""
    good, scrap = store.db.execute(
        "SELECT coalesce(sum(good), 0), coalesce(sum(scrap), 0) FROM counts WHERE machine = ? AND order_id IS ?",
        (machine, order),
    ).fetchone()
    return int(good), int(scrap)


def last_plc_count(store: Store, machine: str) -> tuple[str | None, str | None, float | None] | None:
    """(order, product, ideal cycle) of the last count the PLC reported for ``machine``."""
    row = store.db.execute(
        "SELECT order_id, product, ideal_cycle_s FROM counts WHERE machine = ? AND source IN ('plc', 'unobserved') "
        "ORDER BY seq DESC LIMIT 1",
        (machine,),
    ).fetchone()
    return (row[0], row[1], row[2]) if row else None


def add_operator_count(
    store: Store,
    machine: str,
    *,
    good: int,
    scrap: int,
    ideal_cycle_s: float | None,
    order: str | None,
    product: str | None,
    scrap_reason: str | None,
    by: str,
    comment: str,
    ts: float,
) -> int:
    cur = store.db.execute(
        "INSERT INTO counts (ts, machine, good, scrap, ideal_cycle_s, order_id, product, source, scrap_reason, by, comment) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, 'operator', ?, ?, ?)",
        (ts, machine, good, scrap, ideal_cycle_s, order, product, scrap_reason, by, comment),
    )
    return int(cur.lastrowid or 0)


# ----------------------------------------------------------------------------- orders (facts)


@dataclass(frozen=True)
class OrderState:
    """The work order the line runs, as the agent applied it."""

    order: str
    product: str | None
    start: float | None
    """When the line last started it."""
    last_action: str
    """The last order fact: start, pause or resume."""


def running_order(store: Store) -> OrderState | None:
    """The work order running on the line (None when none runs)."""
    row = store.db.execute(
        "SELECT order_id, product, action FROM orders ORDER BY seq DESC LIMIT 1"
    ).fetchone()
    if row is None or row[2] == "complete":
        return None
    start = store.db.execute(
        "SELECT max(ts) FROM orders WHERE order_id = ? AND action = 'start'", (row[0],)
    ).fetchone()[0]
    return OrderState(row[0], row[1], start, row[2])


def order_window(store: Store, order: str) -> tuple[float, float | None] | None:
    """(first fact, completion) of a work order on the line; None if it never ran."""
    first, done = store.db.execute(
        "SELECT min(ts), max(CASE WHEN action = 'complete' THEN ts END) FROM orders WHERE order_id = ?",
        (order,),
    ).fetchone()
    return None if first is None else (float(first), done)


def order_product(store: Store, order: str) -> tuple[str, float] | None:
    """(product, first fact) of a work order that ran on the line."""
    row = store.db.execute("SELECT product, min(ts) FROM orders WHERE order_id = ?", (order,)).fetchone()
    return (row[0], row[1]) if row and row[0] else None


def order_facts(store: Store) -> list[OrderChange]:
    return [
        OrderChange(ts, oid, product, action)
        for ts, oid, product, action in store.db.execute(
            "SELECT ts, order_id, product, action FROM orders ORDER BY seq"
        )
    ]


def count_order_starts(store: Store) -> int:
    """Work-order starts the line has applied."""
    return int(store.db.execute("SELECT count(*) FROM orders WHERE action = 'start'").fetchone()[0])


def order_was_started(store: Store, order: str) -> bool:
    """Whether the line started ``order``, or an operator asked it to."""
    row = store.db.execute(
        "SELECT EXISTS (SELECT 1 FROM orders WHERE order_id = ? AND action = 'start') "
        "OR EXISTS (SELECT 1 FROM order_requests WHERE order_id = ? AND action = 'start' AND applied >= 0)",
        (order, order),
    ).fetchone()
    return bool(row[0])


# ----------------------------------------------------------------------------- order requests


@dataclass(frozen=True)
class OrderRequest:
    seq: int
    ts: float
    order: str
    product: str | None
    action: str
    by: str
    quantity: int | None = None


def add_order_request(
    store: Store,
    action: str,
    order: str,
    *,
    product: str | None,
    quantity: int | None,
    due: float | None,
    by: str,
    ts: float,
) -> int:
    """Queue a work-order command for the agent; returns its sequence."""
    cur = store.db.execute(
        "INSERT INTO order_requests (ts, order_id, product, action, quantity, due, by) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (ts, order, product, action, quantity, due, by),
    )
    return int(cur.lastrowid or 0)


def pending_order_requests(store: Store) -> list[OrderRequest]:
    """Requests the agent has not applied yet, oldest first."""
    return [
        OrderRequest(*r)
        for r in store.db.execute(
            "SELECT seq, ts, order_id, product, action, by, quantity FROM order_requests WHERE applied = 0 ORDER BY seq"
        )
    ]


def mark_order_request(store: Store, seq: int, applied: bool) -> None:
    """The agent applied (or refused) a request."""
    store.db.execute("UPDATE order_requests SET applied = ? WHERE seq = ?", (1 if applied else -1, seq))


def requested_quantity(store: Store, order: str) -> int | None:
    """The quantity of the latest start request of ``order`` that gave one."""
    row = store.db.execute(
        "SELECT quantity FROM order_requests WHERE order_id = ? AND action = 'start' AND quantity IS NOT NULL "
        "ORDER BY seq DESC LIMIT 1",
        (order,),
    ).fetchone()
    return int(row[0]) if row else None


def in_changeover(store: Store) -> bool:
    """Whether a changeover is under way (the line started one and it has not ended: an
    operator's end, or the line machine's first good part)."""
    return open_changeover(store) is not None


def last_order_product(store: Store) -> str | None:
    """The product of the last order the line started (None before any)."""
    row = store.db.execute(
        "SELECT product FROM orders WHERE action = 'start' ORDER BY seq DESC LIMIT 1"
    ).fetchone()
    return row[0] if row else None


def open_changeover(store: Store) -> tuple[Changeover, bool] | None:
    """The changeover under way (its start, whether it overran), None when none is."""
    rows = store.db.execute(
        "SELECT ts, action, from_product, to_product, order_id, standard_s FROM changeovers "
        "WHERE seq >= coalesce((SELECT max(seq) FROM changeovers WHERE action = 'start'), 0) ORDER BY seq"
    ).fetchall()
    if not rows or rows[0][1] != "start" or any(r[1] == "end" for r in rows):
        return None
    ts, _a, frm, to, order, std = rows[0]
    return Changeover(ts, "start", frm, to, order, std), any(r[1] == "overrun" for r in rows)


def changeovers_between(store: Store, start: float, end: float) -> list[dict[str, object]]:
    """Changeovers that started in [start, end): from, to, standard and actual length."""
    out: list[dict[str, object]] = []
    cur: dict[str, object] | None = None
    for ts, action, frm, to, order, std in store.db.execute(
        "SELECT ts, action, from_product, to_product, order_id, standard_s FROM changeovers "
        "WHERE ts >= ? AND ts < ? ORDER BY seq",
        (start, end),
    ):
        if action == "start":
            cur = {"start": ts, "from": frm, "to": to, "order": order, "standard_s": std, "end": None}
            out.append(cur)
        elif cur is not None and action == "end":
            cur["end"] = ts
    return out


# ----------------------------------------------------------------------------- imposed reasons


@dataclass(frozen=True)
class ReasonRequest:
    seq: int
    ts: float
    machine: str
    source: str
    reason: str | None
    detail: str
    by: str


def add_reason_request(
    store: Store, machine: str, source: str, reason: str | None, *, detail: str, by: str, ts: float
) -> int:
    """Queue the imposition (``reason``) or lift (None) of a reason for the agent."""
    cur = store.db.execute(
        "INSERT INTO reason_requests (ts, machine, source, reason, detail, by) VALUES (?, ?, ?, ?, ?, ?)",
        (ts, machine, source, reason, detail, by),
    )
    return int(cur.lastrowid or 0)


def pending_reason_requests(store: Store) -> list[ReasonRequest]:
    return [
        ReasonRequest(*r)
        for r in store.db.execute(
            "SELECT seq, ts, machine, source, reason, detail, by FROM reason_requests WHERE applied = 0 ORDER BY seq"
        )
    ]


def mark_reason_request(store: Store, seq: int, applied: bool) -> None:
    store.db.execute("UPDATE reason_requests SET applied = ? WHERE seq = ?", (1 if applied else -1, seq))


def active_impositions(store: Store) -> list[tuple[float, str, str, str, str]]:
    """(since, machine, source, reason, detail) of every imposition not lifted since,
    oldest first (the order in which the line logic re-applies them)."""
    rows = store.db.execute(
        "SELECT i.ts, i.machine, i.source, i.reason, i.detail FROM imposed_reasons i "
        "JOIN (SELECT machine, source, max(seq) AS seq FROM imposed_reasons GROUP BY machine, source) l "
        "ON l.seq = i.seq WHERE i.reason IS NOT NULL ORDER BY i.seq"
    ).fetchall()
    return [(float(a), b, c, d, e) for a, b, c, d, e in rows]


# ----------------------------------------------------------------------------- facts for KPIs


def load_facts(store: Store, start: float, end: float) -> Facts:
    """Facts relevant to [start, end): state changes from the last one before start."""
    db = store.db
    changes: dict[str, list[StateChange]] = {}
    machines = [r[0] for r in db.execute("SELECT DISTINCT machine FROM state_changes")]
    for m in machines:
        first = db.execute(
            "SELECT max(seq) FROM state_changes WHERE machine = ? AND ts <= ?", (m, start)
        ).fetchone()[0]
        rows = db.execute(
            "SELECT ts, machine, old, new, cause FROM state_changes WHERE machine = ? AND seq >= ? AND ts < ? ORDER BY seq",
            (m, first or 0, end),
        ).fetchall()
        changes[m] = [
            StateChange(ts, mm, State(old) if old else None, State(new), cause)
            for ts, mm, old, new, cause in rows
        ]
    counts: dict[str, list[MachineCount]] = {}
    for ts, machine, good, scrap, ideal, startup, order, product, source in db.execute(
        "SELECT ts, machine, good, scrap, ideal_cycle_s, startup, order_id, product, source FROM counts "
        "WHERE ts >= ? AND ts < ? ORDER BY seq",
        (start, end),
    ):
        counts.setdefault(machine, []).append(
            MachineCount(
                ts,
                good,
                scrap,
                ideal,
                bool(startup),
                source == "unobserved",
                machine=machine,
                order=order,
                product=product,
            )
        )
    return Facts(changes, load_downtime(store, start), counts, order_facts(store))
