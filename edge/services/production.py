"""What operators do to the line's record: explain and split stops, run work orders,
and read KPIs. Every input is validated here and refused with a message naming the
field; accepted input is an append-only row committed with ``synchronous=FULL``, which
the agent picks up (orders) or KPI computation applies (downtime edits).
"""

from __future__ import annotations

import time
from typing import Any

from edge.config.line import LineConfig
from edge.config.production import build_calendar, build_reason_tree, line_machine
from edge.core.errors import LinesideError
from edge.logic.production.downtime import resolve
from edge.logic.production.report import build_report, downtime_row, unscheduled
from edge.store import Store
from edge.store.facts import load_downtime, load_edits, load_facts


class OperatorInputError(LinesideError):
    """Operator input refused; the message names the field and the problem."""

    exit_code = 2


def require(value: str | None, field: str) -> str:
    """The stripped text of a required operator field, or a refusal naming the field."""
    if value is None or not value.strip():
        raise OperatorInputError(f"{field}: required")
    return value.strip()


def effective_downtime(cfg: LineConfig, store: Store, since: float | None = None) -> dict[str, list[Any]]:
    """Downtime events with the operators' edits applied; ``since``: only events still
    open or ending after it (a window keeps this fast on a store with months of stops)."""
    tree = build_reason_tree(cfg.reasons)
    events = load_downtime(store.db) if since is None else load_downtime(store.db, since)
    edits = load_edits(store.db)
    out = {}
    for m, evs in events.items():
        out[m] = resolve(evs, [e for e in edits if any(e.event_id.startswith(x.id) for x in evs)], tree)
    return out


def list_downtime(
    cfg: LineConfig,
    store: Store,
    *,
    include_explained: bool = True,
    now: float | None = None,
    since: float | None = None,
) -> list[dict[str, Any]]:
    """Downtime events (those ending after ``since``, if given), unexplained ones first,
    newest first within each group."""
    now = now if now is not None else time.time()
    tree = build_reason_tree(cfg.reasons)
    cal = build_calendar(cfg.shifts, cfg.line.timezone) if cfg.shifts.patterns else None
    rows = []
    for evs in effective_downtime(cfg, store, since).values():
        if not evs:
            continue
        planned = unscheduled(cal, min(e.start for e in evs), now)
        rows += [downtime_row(e, tree, planned, now) for e in evs if e.end != e.start]
    rows = [r for r in rows if not r["micro"] and (include_explained or not r["explained"])]
    rows.sort(key=lambda r: (r["explained"], -r["start"]))
    return rows


def _event(cfg: LineConfig, store: Store, event_id: str) -> Any:
    for evs in effective_downtime(cfg, store).values():
        for e in evs:
            if e.id == event_id:
                return e
    raise OperatorInputError(f"event: no downtime event {event_id!r} (see `lineside downtime list`)")


def assign_reason(
    cfg: LineConfig, store: Store, event_id: str, reason: str, *, by: str, comment: str = ""
) -> None:
    """Assign or change the reason of a stop. Changing an operator's reason needs a comment."""
    by = require(by, "by")
    tree = build_reason_tree(cfg.reasons)
    if reason not in tree.reasons:
        near = ", ".join(r.code for r in tree.search(reason)[:5])
        raise OperatorInputError(
            f"reason: {reason!r} is not in the reason tree" + (f" (did you mean {near}?)" if near else "")
        )
    ev = _event(cfg, store, event_id)
    if ev.reason is not None and ev.reason != reason and not comment.strip():
        raise OperatorInputError(f"comment: changing the reason from {ev.reason} to {reason} needs a comment")
    with store._tx(sync_full=True):
        store.db.execute(
            "INSERT INTO downtime_edits (ts, kind, event_id, reason, comment, by) VALUES (?, 'assign', ?, ?, ?, ?)",
            (time.time(), event_id, reason, comment.strip(), by),
        )
        store.audit(
            who=by,
            action="downtime.assign_reason",
            entity=event_id,
            old=ev.effective_reason,
            new=reason,
            why=comment.strip(),
            meaning="performed",
        )


def split_event(
    cfg: LineConfig, store: Store, event_id: str, at: float, *, by: str, comment: str = ""
) -> str:
    """Split a stop in two at ``at``; returns the id of the second part."""
    by = require(by, "by")
    ev = _event(cfg, store, event_id)
    end = ev.end if ev.end is not None else time.time()
    if not ev.start < at < end:
        raise OperatorInputError("at: the split time must lie inside the stop")
    with store._tx(sync_full=True):
        store.db.execute(
            "INSERT INTO downtime_edits (ts, kind, event_id, at, comment, by) VALUES (?, 'split', ?, ?, ?, ?)",
            (time.time(), event_id, at, comment.strip(), by),
        )
        store.audit(
            who=by,
            action="downtime.split",
            entity=event_id,
            old={"start": ev.start, "end": ev.end},
            new={"split_at": at},
            why=comment.strip(),
            meaning="performed",
        )
    return f"{event_id}/{at:.3f}"


def machine_state(store: Store, machine: str) -> str | None:
    """The state last recorded for ``machine`` (None before any)."""
    row = store.db.execute(
        "SELECT new FROM state_changes WHERE machine = ? ORDER BY seq DESC LIMIT 1", (machine,)
    ).fetchone()
    return row[0] if row else None


def current_order(store: Store) -> tuple[str | None, str | None, float | None]:
    """The work order running on the line as the agent applied it: (order, product, start),
    or Nones when none runs."""
    row = store.db.execute(
        "SELECT order_id, product, action, ts FROM orders WHERE by = 'line' ORDER BY seq DESC LIMIT 1"
    ).fetchone()
    if row is None or row[2] == "complete":
        return None, None, None
    start = store.db.execute(
        "SELECT max(ts) FROM orders WHERE by = 'line' AND order_id = ? AND action = 'start'", (row[0],)
    ).fetchone()[0]
    return row[0], row[1], start


def adjust_count(
    cfg: LineConfig,
    store: Store,
    machine: str,
    *,
    good: int = 0,
    scrap: int = 0,
    by: str,
    scrap_reason: str | None = None,
    comment: str = "",
) -> None:
    """Manual count correction or scrap entry by an operator (recorded with who and why).

    ``good=-3, scrap=3`` books three parts the PLC counted as good as rejects."""
    by = require(by, "by")
    if machine not in {m.name for m in cfg.machines}:
        raise OperatorInputError(f"machine: {machine!r} is not a machine of this line")
    if (
        isinstance(good, bool)
        or isinstance(scrap, bool)
        or not isinstance(good, int)
        or not isinstance(scrap, int)
    ):
        raise OperatorInputError("good/scrap: whole numbers only")
    if good == 0 and scrap == 0:
        raise OperatorInputError("good/scrap: nothing to adjust")
    if abs(good) > 1_000_000 or abs(scrap) > 1_000_000:
        raise OperatorInputError("good/scrap: more than 1,000,000 parts in one adjustment is not plausible")
    if scrap > 0 and not (scrap_reason or "").strip():
        raise OperatorInputError("scrap_reason: required when booking scrap")
    if good < 0 or scrap < 0 or good > 0:
        require(comment, "comment")  # corrections must say why
    with store._tx(sync_full=True):
        row = store.db.execute(
            "SELECT order_id, product, ideal_cycle_s FROM counts WHERE machine = ? AND source = 'plc' ORDER BY seq DESC LIMIT 1",
            (machine,),
        ).fetchone()
        order, product, ideal = row if row else (None, cfg.default_product, None)
        store.db.execute(
            "INSERT INTO counts (ts, machine, good, scrap, ideal_cycle_s, order_id, product, source, scrap_reason, by, comment) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, 'operator', ?, ?, ?)",
            (time.time(), machine, good, scrap, ideal, order, product, scrap_reason, by, comment.strip()),
        )
        store.audit(
            who=by,
            action="counts.adjust",
            entity=f"{machine}/{order or '-'}",
            new={"good": good, "scrap": scrap, "scrap_reason": scrap_reason},
            why=comment.strip() or (scrap_reason or ""),
            meaning="performed",
        )


ORDER_ACTIONS = ("start", "pause", "resume", "complete", "changeover_start", "changeover_end")


def order_command(
    cfg: LineConfig,
    store: Store,
    action: str,
    order: str | None,
    *,
    by: str,
    product: str | None = None,
    quantity: int | None = None,
    due: float | None = None,
) -> int:
    """Queue a work-order command for the agent (it applies it to the line logic)."""
    by = require(by, "by")
    if action not in ORDER_ACTIONS:
        raise OperatorInputError(f"action: {action!r} is not one of {', '.join(ORDER_ACTIONS)}")
    if action == "start":
        order = require(order, "order")
        if product is None or quantity is None or due is None:
            # A work order released by the plant supplies what the operator did not type.
            row = store.db.execute(
                "SELECT product, quantity, due FROM work_orders WHERE order_id = ? AND status = 'released'",
                (order,),
            ).fetchone()
            if row is not None:
                if product is not None and product != row[0]:
                    raise OperatorInputError(
                        f"product: work order {order} is released for {row[0]}, not {product}"
                    )
                product, quantity, due = product or row[0], quantity or row[1], due or row[2]
        if product not in {p.id for p in cfg.products}:
            raise OperatorInputError(f"product: {product!r} is not a product of this line")
        if quantity is not None and quantity <= 0:
            raise OperatorInputError("quantity: must be a positive whole number")
    with store._tx(sync_full=True):
        cur = store.db.execute(
            "INSERT INTO orders (ts, order_id, product, action, quantity, due, by, applied) VALUES (?, ?, ?, ?, ?, ?, ?, 0)",
            (time.time(), order or "", product, action, quantity, due, by),
        )
        store.audit(
            who=by,
            action=f"order.{action}",
            entity=order or "",
            new={"product": product, "quantity": quantity, "due": due},
            meaning="performed",
        )
    return int(cur.lastrowid or 0)


def kpi_report(
    cfg: LineConfig,
    store: Store,
    *,
    shift: str | None = None,
    order: str | None = None,
    since: float | None = None,
    now: float | None = None,
) -> dict[str, Any]:
    """KPIs for a shift (``current`` or ``YYYY-MM-DD/NAME``), a work order, or the time
    since a moment (``since``), from stored facts."""
    now = now if now is not None else time.time()
    machine = line_machine(cfg)
    if machine is None:
        raise LinesideError("the config defines no machines: nothing to compute (add a machines: section)")
    cal = build_calendar(cfg.shifts, cfg.line.timezone) if cfg.shifts.patterns else None
    if shift is not None and cal is None:
        raise OperatorInputError(
            "shift: this line has no shift calendar (add shifts: to the config, or use --since)"
        )
    if since is not None:
        start, end = since, now
    elif order is not None:
        rows = store.db.execute(
            "SELECT min(ts), max(CASE WHEN action = 'complete' THEN ts END) FROM orders WHERE order_id = ? AND by = 'line'",
            (order,),
        ).fetchone()
        if rows[0] is None:
            raise OperatorInputError(f"order: no work order {order!r} has run on this line")
        start, end = rows[0], rows[1] or now
    elif cal is not None and (shift in (None, "current")):
        s = cal.shift_at(now)
        if s is None:
            raise OperatorInputError("shift: no shift is running now; name one as YYYY-MM-DD/NAME")
        start, end = s.start, min(s.end, now)
    elif cal is not None and shift is not None:
        try:
            s = cal.find(shift)
        except (KeyError, ValueError):
            raise OperatorInputError(
                f"shift: no shift {shift!r} in the calendar (use YYYY-MM-DD/NAME)"
            ) from None
        start, end = s.start, min(s.end, now)
    else:
        first = store.db.execute("SELECT min(ts) FROM state_changes").fetchone()[0]
        start, end = (first if first is not None else now - 3600), now
    facts = load_facts(store.db, start, end)
    events = effective_downtime(cfg, store, since=start)
    return build_report(
        facts,
        start,
        end,
        line_machine=machine,
        tree=build_reason_tree(cfg.reasons),
        calendar=cal,
        events=events,
    )


def spc_alarms(cfg: LineConfig, store: Store, *, include_acked: bool = False) -> list[dict[str, Any]]:
    """SPC alarms, newest first; unacknowledged ones stay listed until acknowledged."""
    rows = store.db.execute(
        "SELECT a.seq, a.ts, a.characteristic, a.kind, a.rule, a.detail, a.value, "
        "(SELECT max(upto_alarm) FROM spc_acks k WHERE k.characteristic = a.characteristic) "
        "FROM spc_alarms a ORDER BY a.seq DESC"
    ).fetchall()
    out = []
    for seq, ts, ch, kind, rule, detail, value, acked in rows:
        is_acked = acked is not None and acked >= seq
        if is_acked and not include_acked:
            continue
        out.append(
            {
                "seq": seq,
                "ts": ts,
                "characteristic": ch,
                "kind": kind,
                "rule": rule,
                "detail": detail,
                "value": value,
                "acknowledged": is_acked,
            }
        )
    return out


def ack_alarms(cfg: LineConfig, store: Store, characteristic: str, *, by: str, comment: str) -> int:
    """Acknowledge every alarm of a characteristic so far; a comment is required (audited)."""
    by = require(by, "by")
    comment = require(comment, "comment")
    if characteristic not in {c.name for c in cfg.characteristics}:
        raise OperatorInputError(f"characteristic: {characteristic!r} is not a characteristic of this line")
    with store._tx(sync_full=True):
        top = store.db.execute(
            "SELECT max(seq) FROM spc_alarms WHERE characteristic = ?", (characteristic,)
        ).fetchone()[0]
        if top is None:
            raise OperatorInputError(f"characteristic: {characteristic!r} has no alarms to acknowledge")
        store.db.execute(
            "INSERT INTO spc_acks (ts, characteristic, upto_alarm, by, comment) VALUES (?, ?, ?, ?, ?)",
            (time.time(), characteristic, top, by, comment),
        )
        store.audit(
            who=by,
            action="spc.acknowledge",
            entity=characteristic,
            new={"upto_alarm": top},
            why=comment,
            meaning="reviewed",
        )
    return int(top)


def request_recalculation(
    cfg: LineConfig, store: Store, characteristic: str, *, by: str, reason: str
) -> None:
    """Ask the agent to collect a new baseline and freeze new limits (audited)."""
    by = require(by, "by")
    reason = require(reason, "reason")
    if characteristic not in {c.name for c in cfg.characteristics}:
        raise OperatorInputError(f"characteristic: {characteristic!r} is not a characteristic of this line")
    with store._tx(sync_full=True):
        old = store.db.execute(
            "SELECT spec FROM spc_limits WHERE characteristic = ? AND action = 'frozen' ORDER BY seq DESC LIMIT 1",
            (characteristic,),
        ).fetchone()
        store.db.execute(
            "INSERT INTO spc_limits (ts, characteristic, action, by, reason) VALUES (?, ?, 'recalculate', ?, ?)",
            (time.time(), characteristic, by, reason),
        )
        store.audit(
            who=by,
            action="spc.recalculate",
            entity=characteristic,
            old=old[0] if old else None,
            why=reason,
            meaning="approved",
        )


def enter_measurement(
    cfg: LineConfig, store: Store, characteristic: str, value: str | float, *, by: str
) -> None:
    """An operator's measurement of a manual characteristic; the agent charts it."""
    import math

    by = require(by, "by")
    c = next((c for c in cfg.characteristics if c.name == characteristic), None)
    if c is None:
        raise OperatorInputError(f"characteristic: {characteristic!r} is not a characteristic of this line")
    if not c.manual:
        raise OperatorInputError(
            f"characteristic: {characteristic!r} is read from tag {c.tag!r}, not entered by hand"
        )
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise OperatorInputError(f"value: {value!r} is not a number") from None
    if not math.isfinite(x):
        raise OperatorInputError("value: not a finite number")
    spec = c.spec
    if spec.lsl is not None and spec.usl is not None:
        width = spec.usl - spec.lsl
        if not spec.lsl - 5 * width <= x <= spec.usl + 5 * width:
            raise OperatorInputError(
                f"value: {x:g} is far outside the specification {spec.lsl:g}..{spec.usl:g} (typing error?)"
            )
    with store._tx(sync_full=True):
        store.db.execute(
            "INSERT INTO measurements (ts, characteristic, value, by) VALUES (?, ?, ?, ?)",
            (time.time(), characteristic, x, by),
        )
        store.audit(who=by, action="spc.measurement", entity=characteristic, new=x, meaning="performed")


MAINTENANCE_PRIORITIES = ("low", "normal", "urgent")


def request_maintenance(
    cfg: LineConfig, store: Store, machine: str, text: str, *, by: str, priority: str = "normal"
) -> int:
    """Raise a maintenance request for a machine (stored, audited, sent to the plant)."""
    by = require(by, "by")
    text = require(text, "text")
    if machine not in {m.name for m in cfg.machines} | {d.name for d in cfg.devices}:
        raise OperatorInputError(f"machine: {machine!r} is not a machine of this line")
    if priority not in MAINTENANCE_PRIORITIES:
        raise OperatorInputError(f"priority: {priority!r} is not one of {', '.join(MAINTENANCE_PRIORITIES)}")
    if len(text) > 2000:
        raise OperatorInputError("text: at most 2000 characters")
    with store._tx(sync_full=True):
        cur = store.db.execute(
            "INSERT INTO maintenance_requests (ts, machine, priority, text, by) VALUES (?, ?, ?, ?, ?)",
            (time.time(), machine, priority, text, by),
        )
        store.audit(
            who=by,
            action="maintenance.request",
            entity=machine,
            new={"priority": priority, "text": text},
            meaning="performed",
        )
    return int(cur.lastrowid or 0)
