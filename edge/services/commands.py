"""Commands from the plant (work orders, plans, reason tree, products, material master,
BOMs, lots and their status): validated against the
line, stored durably, answered once.

A command is applied in one FULL-sync transaction together with its result and an audit
entry, keyed by its id: a replay (the aggregator resending because the ack was lost, a
broker redelivery) finds the stored result and changes nothing. An invalid command is
stored as rejected with the reason, which goes back in the result. Commands run as the
plant actor (``identity.PLANT``) and are audited as ``plant``.

The input is the edge's own :class:`PlantCommand`; whoever receives commands (the
uplink) turns its wire message into one and the :class:`CommandResult` into its ack.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from edge.config.base import Model, format_validation_error
from edge.config.line import LineConfig
from edge.config.plant import (
    BODIES,
    BomsBody,
    LotsBody,
    MaterialMasterBody,
    OperatorsBody,
    PlanBody,
    ProductsBody,
    ReasonsBody,
    WorkOrderBody,
)
from edge.services import materials as materials_service
from edge.services.context import Line, effective_config, line_context
from edge.services.identity import PLANT, Actor, authorize
from edge.services.production import dispatch_list
from edge.store import Store
from edge.store import plant as repo
from edge.store import production as production_repo

#: Who commands from the plant are recorded as (the plant actor's ``who``).
BY = PLANT.who


@dataclass(frozen=True)
class PlantCommand:
    """A command from the plant: ``id`` makes replays idempotent; ``body`` is validated
    against the model of its ``kind`` (``edge.config.plant.BODIES``)."""

    id: str
    kind: str
    issued_at: float | None
    body: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class CommandResult:
    """What the line answers: accepted, or rejected with the reason (naming the field)."""

    id: str
    accepted: bool
    reason: str
    ts: float


class Rejected(ValueError):
    pass


def apply_command(
    line: Line, store: Store, cmd: PlantCommand, *, actor: Actor = PLANT, now: float | None = None
) -> CommandResult:
    """Apply one command (idempotent on its id) as ``actor`` (the plant: the broker lets
    only the plant publish commands) and return the result to answer with."""
    authorize(actor, "plant_commands")
    now = now if now is not None else time.time()
    with store.transaction(sync_full=True):
        stored = repo.command_result(store, cmd.id)
        if stored is not None:
            return CommandResult(id=cmd.id, accepted=stored[0], reason=stored[1], ts=now)
        try:
            body = _validate(cmd)
            detail = _apply(line, store, cmd, body, now)
            accepted, reason = True, ""
        except Rejected as e:
            accepted, reason, detail = False, str(e), None
        repo.add_command(
            store,
            cmd.id,
            cmd.kind,
            issued_at=cmd.issued_at,
            body=cmd.body,
            accepted=accepted,
            reason=reason,
            received=now,
        )
        store.audit(
            who=actor.who,
            action=f"command.{cmd.kind}",
            entity=cmd.id,
            new=detail if accepted else cmd.body,
            why=reason or "accepted",
            meaning="performed" if accepted else None,
        )
    return CommandResult(id=cmd.id, accepted=accepted, reason=reason, ts=now)


def _validate(cmd: PlantCommand) -> Model:
    model = BODIES.get(cmd.kind)
    if model is None:
        raise Rejected(f"kind: {cmd.kind!r} is not one of {', '.join(BODIES)}")
    try:
        return model.model_validate(cmd.body)
    except ValidationError as e:
        raise Rejected(
            "; ".join(m.removeprefix("body: ") for m in format_validation_error("body", e, cmd.body))
        ) from None


def _apply(line: Line, store: Store, cmd: PlantCommand, body: Model, now: float) -> dict[str, Any]:
    if isinstance(body, WorkOrderBody):
        return _work_order(line, store, cmd, body, now)
    if isinstance(body, PlanBody):
        return _plan(line, store, cmd, body, now)
    if isinstance(body, LotsBody):
        return materials_service.apply_lots(line, store, PLANT, list(body.lots), command_id=cmd.id, now=now)
    if isinstance(body, MaterialMasterBody):
        data = [m.model_dump() for m in body.materials]
        _check_config(line, store, {"material_master": data})
        repo.set_master_data(store, "material_master", data, command_id=cmd.id, ts=now)
        return {"materials": len(data)}
    if isinstance(body, BomsBody):
        data = [b.model_dump() for b in body.boms]
        _check_config(line, store, {"boms": data})
        repo.set_master_data(store, "boms", data, command_id=cmd.id, ts=now)
        return {"boms": len(data)}
    if isinstance(body, OperatorsBody):
        # exclude_none: an operator without a PIN or token stays without one in the config.
        data = [o.model_dump(exclude_none=True) for o in body.operators]
        _check_config(line, store, {"operators": data})
        repo.set_master_data(store, "operators", data, command_id=cmd.id, ts=now)
        # The audit records who may log in, never their hashes.
        return {"operators": [{"badge": o.badge, "name": o.name, "role": o.role} for o in body.operators]}
    if isinstance(body, ReasonsBody):
        data = [r.model_dump() for r in body.reasons]
        _check_config(line, store, {"reasons": data})
        repo.set_master_data(store, "reasons", data, command_id=cmd.id, ts=now)
        return {"reasons": len(data)}
    assert isinstance(body, ProductsBody)
    data = [p.model_dump() for p in body.products]
    _check_config(line, store, {"products": data})
    repo.set_master_data(store, "products", data, command_id=cmd.id, ts=now)
    return {"products": len(data)}


def _work_order(line: Line, store: Store, cmd: PlantCommand, b: WorkOrderBody, now: float) -> dict[str, Any]:
    started = production_repo.order_was_started(store, b.order_id)
    if b.action == "cancel":
        if repo.work_order_status(store, b.order_id) is None:
            raise Rejected(f"order_id: work order {b.order_id!r} is not on this line's list")
        if started:
            raise Rejected(
                f"order_id: work order {b.order_id!r} has started on the line; it cannot be cancelled"
            )
        repo.cancel_work_order(store, b.order_id, command_id=cmd.id, ts=now)
        return {"order_id": b.order_id, "status": "cancelled"}
    if not b.product:
        raise Rejected("product: a released work order needs a product")
    products = line_context(line, store).products
    if b.product not in products:
        known = ", ".join(sorted(products)) or "none configured"
        raise Rejected(f"product: {b.product!r} is not a product of this line (known: {known})")
    if started:
        raise Rejected(f"order_id: work order {b.order_id!r} has already started on the line")
    repo.release_work_order(
        store,
        b.order_id,
        product=b.product,
        quantity=b.quantity,
        due=b.due,
        priority=b.priority,
        description=b.description,
        command_id=cmd.id,
        ts=now,
    )
    return b.model_dump() | {"status": "released"}


def _plan(line: Line, store: Store, cmd: PlantCommand, b: PlanBody, now: float) -> dict[str, Any]:
    """The plant's released sequence replaces the line's plan; orders not yet on the
    dispatch list are released onto it (those there keep their details)."""
    products = line_context(line, store).products
    for i, e in enumerate(b.sequence):
        if e.product not in products:
            known = ", ".join(sorted(products)) or "none configured"
            raise Rejected(
                f"sequence[{i}].product: {e.product!r} is not a product of this line (known: {known})"
            )
    for e in b.sequence:
        if repo.work_order_status(store, e.order_id) is None:
            repo.release_work_order(
                store,
                e.order_id,
                product=e.product,
                quantity=e.quantity,
                due=e.due,
                priority=e.priority,
                description="",
                command_id=cmd.id,
                ts=now,
            )
    repo.set_plan(store, b.plan_id, [e.model_dump() for e in b.sequence], ts=now)
    return {"plan_id": b.plan_id, "orders": [e.order_id for e in b.sequence]}


def _check_config(line: Line, store: Store, update: dict[str, Any]) -> None:
    """The line config with ``update`` must still be valid (e.g. fault codes name reasons)."""
    current = line_context(line, store).config
    data = current.model_dump(mode="json", exclude={"source"}) | update
    try:
        LineConfig.model_validate(data)
    except ValidationError as e:
        msgs = format_validation_error("line", e, data)
        raise Rejected("; ".join(m.removeprefix("line: ") for m in msgs)) from None


__all__ = ["CommandResult", "PlantCommand", "apply_command", "dispatch_list", "effective_config"]
