"""Inspections at the plant, read from the plant store: what the lines recorded as missed
(the ``inspection_misses`` stream, kept by ``projections``) and what each line says is
due for its running order now (its retained ``state/inspections``)."""

from __future__ import annotations

import json
from typing import Any

from sync.aggregator.store import AggregatorStore


def inspection_misses(
    store: AggregatorStore, *, since: float, line: str | None = None
) -> list[dict[str, Any]]:
    """Inspections the lines recorded as missed since ``since`` (when the line recorded
    the miss), newest first: line, plan, order, product, due time, reason."""
    cols = ("line", "ts", "plan", "order_id", "product", "due_at", "reason")
    where = "ts >= ?"
    params: list[Any] = [since]
    if line is not None:
        where += " AND line = ?"
        params.append(line)
    return [
        dict(zip(cols, r, strict=True))
        for r in store.query(
            f"SELECT line, ts, plan, order_id, product, due_at, reason FROM inspection_misses WHERE {where} "
            "ORDER BY ts DESC, line, seq DESC LIMIT 500",
            params,
        )
    ]


def inspections_due(store: AggregatorStore, *, line: str | None = None) -> list[dict[str, Any]]:
    """Per line that publishes them (``state/inspections``), the inspections due for its
    running order as the line last said: ``line``, ``ts`` (when the line said so), ``due``
    (plan, order_id, product, due_at, reason, overdue; overdue first, at most 20) and
    ``count`` (how many in all)."""
    out = []
    for ln, data in store.query("SELECT line, data FROM line_state WHERE name = 'inspections' ORDER BY line"):
        if line is not None and ln != line:
            continue
        try:
            d = json.loads(data)
        except ValueError:
            continue
        due = [x for x in d.get("due") or [] if isinstance(x, dict)]
        out.append({"line": ln, "ts": d.get("ts"), "due": due, "count": int(d.get("count") or len(due))})
    return out
