"""Inspections at the line: what is due or overdue for the running order, and recording
results (quality records, committed with synchronous=FULL and audited)."""

from __future__ import annotations

import json
import time
from typing import Any

from edge.config.line import LineConfig
from edge.config.production import line_machine
from edge.logic.quality.inspections import due_inspections, judge
from edge.services.production import OperatorInputError, current_order, require
from edge.store import Store


def _parts(store: Store, machine: str | None, since: float) -> int:
    row = store.db.execute(
        "SELECT coalesce(sum(good + scrap), 0) FROM counts WHERE machine = ? AND ts >= ?", (machine, since)
    ).fetchone()
    return int(row[0])


def due(cfg: LineConfig, store: Store, now: float | None = None) -> list[dict[str, Any]]:
    now = now if now is not None else time.time()
    order, product, start = current_order(store)
    if order is None or start is None:
        return []
    parts = _parts(store, line_machine(cfg), start)
    done = {
        plan: (ts, p)
        for plan, ts, p in store.db.execute(
            "SELECT plan, max(ts), parts_at FROM inspections WHERE order_id = ? GROUP BY plan", (order,)
        )
    }
    return [
        {
            "plan": d.plan,
            "due_at": d.due_at,
            "reason": d.reason,
            "overdue": d.overdue,
            "order": order,
            "product": product,
        }
        for d in due_inspections(
            cfg.inspections, now=now, order=order, product=product, order_start=start, parts=parts, done=done
        )
    ]


def record(
    cfg: LineConfig, store: Store, plan_name: str, values: dict[str, Any], *, by: str, comment: str = ""
) -> bool:
    """Validate and store one inspection result; returns whether it passed."""
    by = require(by, "by")
    plan = next((p for p in cfg.inspections if p.name == plan_name), None)
    if plan is None:
        raise OperatorInputError(f"plan: {plan_name!r} is not an inspection plan of this line")
    passed, items, errors = judge(plan, values)
    if errors:
        raise OperatorInputError("; ".join(errors))
    order, product, start = current_order(store)
    parts = _parts(store, line_machine(cfg), start) if start is not None else 0
    with store._tx(sync_full=True):
        store.db.execute(
            "INSERT INTO inspections (ts, plan, order_id, product, parts_at, passed, items, by, comment) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                time.time(),
                plan_name,
                order,
                product,
                parts,
                int(passed),
                json.dumps(items),
                by,
                comment.strip(),
            ),
        )
        store.audit(
            who=by,
            action="inspection.record",
            entity=f"{plan_name}/{order or '-'}",
            new={"passed": passed, "items": items},
            why=comment.strip(),
            meaning="performed",
        )
    return passed
