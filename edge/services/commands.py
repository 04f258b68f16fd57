"""Commands from the plant (work orders, reason tree, products): validated against the
line, stored durably, answered once.

A command is applied in one FULL-sync transaction together with its result and an audit
entry, keyed by its id: a replay (the aggregator resending because the ack was lost, a
broker redelivery) finds the stored result and changes nothing. An invalid command is
stored as rejected with the reason, which goes back in the ack.
"""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from edge.config.base import format_validation_error
from edge.config.line import LineConfig
from edge.config.production import ProductCfg, ReasonCfg
from edge.store import Store
from sync.protocol import Command, CommandAck, WorkOrderBody

BY = "plant"


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ReasonsBody(_Body):
    reasons: list[ReasonCfg]


class ProductsBody(_Body):
    products: list[ProductCfg]


BODIES: dict[str, type[BaseModel]] = {
    "work_order": WorkOrderBody,
    "reasons": ReasonsBody,
    "products": ProductsBody,
}


class Rejected(ValueError):
    pass


def apply_command(cfg: LineConfig, store: Store, cmd: Command, *, now: float | None = None) -> CommandAck:
    """Apply one command (idempotent on its id) and return the ack to publish."""
    now = now if now is not None else time.time()
    with store._tx(sync_full=True):
        row = store.db.execute("SELECT accepted, reason FROM commands WHERE id = ?", (cmd.id,)).fetchone()
        if row is not None:
            return CommandAck(id=cmd.id, accepted=bool(row[0]), reason=row[1], ts=now)
        try:
            body = _validate(cmd)
            detail = _apply(cfg, store, cmd, body, now)
            accepted, reason = True, ""
        except Rejected as e:
            accepted, reason, detail = False, str(e), None
        store.db.execute(
            "INSERT INTO commands (id, kind, issued_at, received, body, accepted, reason) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (cmd.id, cmd.kind, cmd.issued_at, now, json.dumps(cmd.body), int(accepted), reason),
        )
        store.audit(
            who=BY,
            action=f"command.{cmd.kind}",
            entity=cmd.id,
            new=detail if accepted else cmd.body,
            why=reason or "accepted",
            meaning="performed" if accepted else None,
        )
    return CommandAck(id=cmd.id, accepted=accepted, reason=reason, ts=now)


def _validate(cmd: Command) -> BaseModel:
    try:
        return BODIES[cmd.kind].model_validate(cmd.body)
    except ValidationError as e:
        raise Rejected(
            "; ".join(m.removeprefix("body: ") for m in format_validation_error("body", e, cmd.body))
        ) from None


def _apply(cfg: LineConfig, store: Store, cmd: Command, body: BaseModel, now: float) -> dict[str, Any]:
    if isinstance(body, WorkOrderBody):
        return _work_order(cfg, store, cmd, body, now)
    if isinstance(body, ReasonsBody):
        data = [r.model_dump() for r in body.reasons]
        _check_config(cfg, store, {"reasons": data})
        _set_master(store, "reasons", data, cmd.id, now)
        return {"reasons": len(data)}
    assert isinstance(body, ProductsBody)
    data = [p.model_dump() for p in body.products]
    _check_config(cfg, store, {"products": data})
    _set_master(store, "products", data, cmd.id, now)
    return {"products": len(data)}


def _work_order(cfg: LineConfig, store: Store, cmd: Command, b: WorkOrderBody, now: float) -> dict[str, Any]:
    db = store.db
    started = db.execute(
        "SELECT 1 FROM orders WHERE order_id = ? AND action = 'start' LIMIT 1", (b.order_id,)
    ).fetchone()
    existing = db.execute("SELECT status FROM work_orders WHERE order_id = ?", (b.order_id,)).fetchone()
    if b.action == "cancel":
        if existing is None:
            raise Rejected(f"order_id: work order {b.order_id!r} is not on this line's list")
        if started:
            raise Rejected(
                f"order_id: work order {b.order_id!r} has started on the line; it cannot be cancelled"
            )
        db.execute(
            "UPDATE work_orders SET status = 'cancelled', command_id = ?, updated = ? WHERE order_id = ?",
            (cmd.id, now, b.order_id),
        )
        return {"order_id": b.order_id, "status": "cancelled"}
    if not b.product:
        raise Rejected("product: a released work order needs a product")
    products = {p.id for p in effective_config(cfg, store).products}
    if b.product not in products:
        known = ", ".join(sorted(products)) or "none configured"
        raise Rejected(f"product: {b.product!r} is not a product of this line (known: {known})")
    if started:
        raise Rejected(f"order_id: work order {b.order_id!r} has already started on the line")
    db.execute(
        "INSERT INTO work_orders (order_id, product, quantity, due, priority, description, status, command_id, updated) "
        "VALUES (?, ?, ?, ?, ?, ?, 'released', ?, ?) ON CONFLICT(order_id) DO UPDATE SET product = excluded.product, "
        "quantity = excluded.quantity, due = excluded.due, priority = excluded.priority, "
        "description = excluded.description, status = 'released', command_id = excluded.command_id, updated = excluded.updated",
        (b.order_id, b.product, b.quantity, b.due, b.priority, b.description, cmd.id, now),
    )
    return b.model_dump() | {"status": "released"}


def _check_config(cfg: LineConfig, store: Store, update: dict[str, Any]) -> None:
    """The line config with ``update`` must still be valid (e.g. fault codes name reasons)."""
    current = effective_config(cfg, store)
    data = current.model_dump(mode="json", exclude={"source"}) | update
    try:
        LineConfig.model_validate(data)
    except ValidationError as e:
        msgs = format_validation_error("line", e, data)
        raise Rejected("; ".join(m.removeprefix("line: ") for m in msgs)) from None


def _set_master(store: Store, kind: str, data: Any, cmd_id: str, now: float) -> None:
    store.db.execute(
        "INSERT INTO master_data (kind, body, command_id, updated) VALUES (?, ?, ?, ?) "
        "ON CONFLICT(kind) DO UPDATE SET body = excluded.body, command_id = excluded.command_id, updated = excluded.updated",
        (kind, json.dumps(data), cmd_id, now),
    )


def effective_config(cfg: LineConfig, store: Store | sqlite3.Connection | Path | None = None) -> LineConfig:
    """The config with the reason tree and products the plant sent down, if any."""
    if store is None:
        store = cfg.store.path
    if isinstance(store, Path):
        if not store.exists():
            return cfg
        try:
            db = sqlite3.connect(f"file:{store}?mode=ro", uri=True, timeout=10)
        except sqlite3.Error:
            return cfg
        try:
            return effective_config(cfg, db)
        finally:
            db.close()
    db = store.db if isinstance(store, Store) else store
    try:
        rows = db.execute("SELECT kind, body FROM master_data").fetchall()
    except sqlite3.OperationalError:  # a store from before commands existed
        return cfg
    if not rows:
        return cfg
    update: dict[str, Any] = {}
    for kind, body in rows:
        if kind == "reasons":
            update["reasons"] = [ReasonCfg.model_validate(r) for r in json.loads(body)]
        elif kind == "products":
            update["products"] = [ProductCfg.model_validate(p) for p in json.loads(body)]
    return cfg.model_copy(update=update)


def dispatch_list(store: Store, *, include_done: bool = False) -> list[dict[str, Any]]:
    """Released work orders with their progress on the line, by priority and due date."""
    rows = store.db.execute(
        "SELECT w.order_id, w.product, w.quantity, w.due, w.priority, w.description, w.status, w.updated, "
        "(SELECT action FROM orders o WHERE o.order_id = w.order_id AND o.by = 'line' ORDER BY seq DESC LIMIT 1) "
        "FROM work_orders w ORDER BY w.priority DESC, coalesce(w.due, 1e18), w.order_id"
    ).fetchall()
    out = []
    for oid, product, qty, due, prio, desc, status, updated, last in rows:
        state = status if status == "cancelled" else {None: "released", "start": "running"}.get(last, last)
        if not include_done and state in ("complete", "cancelled"):
            continue
        out.append(
            {
                "order_id": oid,
                "product": product,
                "quantity": qty,
                "due": due,
                "priority": prio,
                "description": desc,
                "state": state,
                "updated": updated,
            }
        )
    return out


__all__ = ["apply_command", "dispatch_list", "effective_config"]
