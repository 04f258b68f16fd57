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
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from edge.config.plant import WorkOrderBody
from edge.core import parse
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
        msg = str(err["msg"]).removeprefix("Value error, ")
        raise OrderInputError(f"{'.'.join(map(str, err['loc']))}: {msg}") from None


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
    ``stable`` ids (from the order's content) make a re-import change nothing. All or
    nothing: one transaction."""
    return _queue(cfg, {line: bodies}, cmd_id=cmd_id, stable=stable, now=now)


def _queue(
    cfg: AggregatorConfig,
    by_line: dict[str, list[dict[str, Any]]],
    *,
    cmd_id: str | None = None,
    stable: bool = False,
    now: float | None = None,
) -> list[str]:
    """Check every body, then queue them all in one transaction of the plant store."""
    commands: list[tuple[str, str, str, dict[str, Any]]] = []
    for line, bodies in by_line.items():
        ln = cfg.line(line)
        for body in bodies:
            check_work_order(body)
            if cmd_id:
                cid = cmd_id
            elif stable:
                cid = (
                    "wo-" + uuid.uuid5(uuid.NAMESPACE_URL, ln.key + json.dumps(body, sort_keys=True)).hex[:20]
                )
            else:
                cid = f"wo-{body['order_id']}-{uuid.uuid4().hex[:8]}"
            commands.append((cid, ln.key, "work_order", body))
    store = open_store(cfg)
    try:
        store.add_commands(commands, now if now is not None else time.time())
    finally:
        store.close()
    return [c[0] for c in commands]


#: Columns (CSV header) and keys (JSON objects) of an ERP export.
COLUMNS = ("line", "order_id", "product", "quantity", "due", "priority", "description")


def _load_json(path: Path, text: str) -> list[dict[str, Any]]:
    """A JSON list of objects, strictly: no NaN or Infinity, no key twice in an object."""

    def refuse_constant(name: str) -> Any:
        raise ValueError(f"{name} is not a number JSON allows")

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for k, v in items:
            if k in out:
                raise ValueError(f"key {k!r} appears twice in one object")
            out[k] = v
        return out

    try:
        data = json.loads(text, parse_constant=refuse_constant, object_pairs_hook=pairs)
    except RecursionError:
        raise ConfigError([f"{path}: not JSON: nested too deeply"]) from None
    except ValueError as e:
        raise ConfigError([f"{path}: not JSON: {e}"]) from None
    if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
        raise ConfigError([f"{path}: expected a JSON list of orders"])
    return data


def _row_body(r: dict[str, Any], is_json: bool) -> dict[str, Any]:
    """One row → a work-order body; ValueError naming the field. JSON keeps its types
    (5.7 is not 5, ``true`` is not 1); CSV text is read with the strict readers."""
    unknown = sorted(str(k) for k in r if k not in COLUMNS)
    if unknown:
        raise ValueError(f"{unknown[0]}: unknown column (known: {', '.join(COLUMNS)})")

    def given(k: str) -> Any:
        v = r.get(k)
        return None if v is None or (isinstance(v, str) and not v.strip()) else v

    fields: dict[str, Any] = {}
    for k, lo, hi in (("quantity", 1, 100_000_000), ("priority", 0, 1000)):
        v = given(k)
        if v is None:
            continue
        try:
            fields[k] = parse.parse_int(v, lo=lo, hi=hi) if isinstance(v, str) and not is_json else v
        except ValueError as e:
            raise ValueError(f"{k}: {e}") from None
    due = given("due")
    if due is not None:
        try:
            fields["due"] = (
                due_time(due) if isinstance(due, str) else parse.check_time(parse.check_number(due))
            )
        except ValueError as e:
            raise ValueError(f"due: {e}") from None
    for k in ("order_id", "product"):
        v = given(k)
        if v is None:
            raise ValueError(f"{k}: required")
        fields[k] = v.strip() if isinstance(v, str) and not is_json else v
    return release_body(
        fields["order_id"],
        fields["product"],
        quantity=fields.get("quantity"),
        due=fields.get("due"),
        priority=fields.get("priority", 0),
        description=r.get("description") or "",
    )


def read_orders(
    path: Path, *, line: str | None = None, cfg: AggregatorConfig | None = None
) -> dict[str, list[dict[str, Any]]]:
    """Work orders of an ERP export by line: CSV (header ``line,order_id,product,quantity``
    and optionally ``due,priority,description``) or a JSON list of such objects.
    ``line`` is for rows without one; with ``cfg`` each row's line must be configured.
    ConfigError lists every bad row by its number (CSV: the header is row 1; JSON: the
    first object is item 1)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError([f"{path}: cannot read: {e}"]) from None
    is_json = path.suffix.lower() == ".json"
    rows: list[dict[str, Any]]
    first = 1
    if is_json:
        rows = _load_json(path, text)
    else:
        reader = csv.DictReader(text.splitlines())
        header = [h for h in (reader.fieldnames or []) if h not in COLUMNS]
        if header:
            raise ConfigError([f"{path}: row 1: {header[0]}: unknown column (known: {', '.join(COLUMNS)})"])
        rows = []
        for r in reader:
            if None in r:  # more cells than the header names
                raise ConfigError([f"{path}: row {reader.line_num}: more cells than the header has columns"])
            rows.append(r)
        first = 2
    by_line: dict[str, list[dict[str, Any]]] = {}
    errors = []
    seen: dict[tuple[str, str], int] = {}
    for i, r in enumerate(rows, start=first):
        where = f"{path}: {'item' if is_json else 'row'} {i}"
        target = r.get("line") or line or ""
        if not isinstance(target, str) or not target.strip():
            errors.append(f"{where}: line: missing (a column, or --line)")
            continue
        try:
            if cfg is not None:
                target = cfg.line(target.strip()).key
            body = _row_body(r, is_json)
            check_work_order(body)
        except (ValueError, LinesideError) as e:
            msgs = e.messages if isinstance(e, ConfigError) else [str(e)]
            errors.extend(f"{where}: {m}" for m in msgs)
            continue
        key = (target, body["order_id"])
        if key in seen:
            errors.append(
                f"{where}: order_id: {body['order_id']!r} is already on row {seen[key]} for this line"
            )
            continue
        seen[key] = i
        by_line.setdefault(target, []).append(body)
    if errors:
        raise ConfigError(errors)
    return by_line


def import_orders(cfg: AggregatorConfig, path: Path, *, line: str | None = None) -> tuple[int, int]:
    """Queue every order of an ERP export (see :func:`read_orders`); returns (orders,
    lines). All or nothing: while any row is bad or names a line not configured nothing
    is queued, and the rest go into the plant store in one transaction."""
    by_line = read_orders(path, line=line, cfg=cfg)
    n = len(_queue(cfg, by_line, stable=True))
    return n, len(by_line)


def due_time(text: str) -> float:
    """A due date from a file: ISO 8601 (without a zone: UTC) or epoch seconds, between
    1970 and the year 9999 (no NaN)."""
    try:
        return parse.parse_time(text, "UTC")
    except ValueError as e:
        raise OrderInputError(f"due: {e}") from None
