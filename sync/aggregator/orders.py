"""The plant's work-order use cases: release or cancel an order for a line, and import
orders from an ERP export (CSV with a header row, or a JSON list). Each becomes a
``work_order`` command in the aggregator's outbox, validated first against the line's
own model of the body (``edge.config.plant.WorkOrderBody``); the line validates again
against its own products.

Imports are idempotent: a command's id is derived from the line and the order's
content, so importing the same file twice queues nothing new. Every bad row is named
(file, row or item, field) and nothing is queued while any row is bad.
"""

from __future__ import annotations

import csv
import json
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from edge.config.plant import WorkOrderBody
from edge.core.errors import ConfigError, LinesideError
from sync.aggregator.config import AggregatorConfig
from sync.aggregator.store import open_store


class OrderInputError(LinesideError):
    """A work order refused before it was queued; the message names the field."""

    exit_code = 2


def release_body(
    order_id: str,
    product: str,
    *,
    quantity: int | None = None,
    due: float | None = None,
    priority: int = 0,
    description: str = "",
) -> dict[str, Any]:
    return {
        "action": "release",
        "order_id": order_id,
        "product": product,
        "quantity": quantity,
        "due": due,
        "priority": priority,
        "description": description,
    }


def cancel_body(order_id: str) -> dict[str, Any]:
    return {"action": "cancel", "order_id": order_id}


def check_work_order(body: dict[str, Any]) -> None:
    """OrderInputError naming the field when ``body`` is not a valid work order."""
    try:
        WorkOrderBody.model_validate(body)
    except ValidationError as e:
        err = e.errors()[0]
        raise OrderInputError(f"{'.'.join(map(str, err['loc']))}: {err['msg']}") from None


def queue_orders(
    cfg: AggregatorConfig,
    line: str,
    bodies: list[dict[str, Any]],
    *,
    cmd_id: str | None = None,
    stable: bool = False,
    now: float | None = None,
) -> list[str]:
    """Queue work-order commands for ``line`` (its key or short name); returns their ids.
    ``stable`` ids (from the order's content) make a re-import change nothing."""
    ln = cfg.line(line)
    for body in bodies:
        check_work_order(body)
    store = open_store(cfg)
    ids = []
    try:
        for body in bodies:
            if cmd_id:
                cid = cmd_id
            elif stable:
                cid = (
                    "wo-" + uuid.uuid5(uuid.NAMESPACE_URL, ln.key + json.dumps(body, sort_keys=True)).hex[:20]
                )
            else:
                cid = f"wo-{body['order_id']}-{uuid.uuid4().hex[:8]}"
            store.add_command(cid, ln.key, "work_order", body, now if now is not None else time.time())
            ids.append(cid)
    finally:
        store.close()
    return ids


def read_orders(path: Path, *, line: str | None = None) -> dict[str, list[dict[str, Any]]]:
    """Work orders of an ERP export by line: CSV (header ``line,order_id,product,quantity``
    and optionally ``due,priority,description``) or a JSON list of such objects.
    ``line`` is for rows without one. ConfigError lists every bad row."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise ConfigError([f"{path}: cannot read: {e}"]) from None
    is_json = path.suffix.lower() == ".json"
    rows: list[dict[str, Any]]
    if is_json:
        try:
            data = json.loads(text)
        except ValueError as e:
            raise ConfigError([f"{path}: not JSON: {e}"]) from None
        if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
            raise ConfigError([f"{path}: expected a JSON list of orders"])
        rows = data
    else:
        rows = list(csv.DictReader(text.splitlines()))
    by_line: dict[str, list[dict[str, Any]]] = {}
    errors = []
    for i, r in enumerate(rows, start=0 if is_json else 2):
        where = f"{path}: {'item' if is_json else 'row'} {i}"
        target = str(r.get("line") or line or "")
        if not target:
            errors.append(f"{where}: line: missing (a column, or --line)")
            continue
        try:
            qty = int(r["quantity"]) if r.get("quantity") not in (None, "") else None
            prio = int(r.get("priority") or 0)
            due = due_time(str(r["due"])) if r.get("due") not in (None, "") else None
        except (ValueError, LinesideError) as e:
            errors.append(f"{where}: {e}")
            continue
        if not r.get("order_id") or not r.get("product"):
            errors.append(f"{where}: order_id and product are required")
            continue
        body = release_body(
            str(r["order_id"]),
            str(r["product"]),
            quantity=qty,
            due=due,
            priority=prio,
            description=str(r.get("description") or ""),
        )
        try:
            check_work_order(body)
        except OrderInputError as e:
            errors.append(f"{where}: {e}")
            continue
        by_line.setdefault(target, []).append(body)
    if errors:
        raise ConfigError(errors)
    return by_line


def import_orders(cfg: AggregatorConfig, path: Path, *, line: str | None = None) -> tuple[int, int]:
    """Queue every order of an ERP export (see :func:`read_orders`); returns (orders,
    lines). Nothing is queued when a row is bad or names a line not configured."""
    by_line = read_orders(path, line=line)
    for name in by_line:
        cfg.line(name)  # an unknown line refuses the whole file before anything is queued
    n = sum(len(queue_orders(cfg, name, bodies, stable=True)) for name, bodies in by_line.items())
    return n, len(by_line)


def due_time(text: str) -> float:
    """A due date from a file: ISO 8601 (without a zone: UTC) or epoch seconds."""
    try:
        return float(text)
    except ValueError:
        pass
    try:
        dt = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise OrderInputError(
            f"due: cannot read time {text!r}: use ISO 8601 (2026-11-21T08:00) or epoch seconds"
        ) from None
    return (dt if dt.tzinfo else dt.replace(tzinfo=UTC)).timestamp()
