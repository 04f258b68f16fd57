"""The wire record of every stream (pure): one pydantic model per stream, registered by
stream name the way pymodbus registers a PDU class per function code.

The uplink's encoder writes these fields in this order (as JSON text, without building
model instances: the samples path is hot); the aggregator's projections validate the
records they keep in plant tables against them. ``edge.store.streams`` maps store
columns onto the same names and types, and a test holds the two together, so a
renamed store column cannot change what goes on the wire unnoticed.

Field values are as the line stores them: JSON held in a text column (``events.data``,
``audit.old``, ``inspections.items``, ...) travels as a string, flags as 0/1. Unknown
fields are refused, as in every payload of the protocol.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Callable
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError


class Record(BaseModel):
    """A record of one stream; ``seq`` is its sequence in that stream."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    stream: ClassVar[str]
    seq: Annotated[int, Field(ge=1)]


RECORDS: dict[str, type[Record]] = {}


def register(stream: str) -> Callable[[type[Record]], type[Record]]:
    def add(cls: type[Record]) -> type[Record]:
        if stream in RECORDS:
            raise ValueError(f"stream {stream!r} has a record schema already")
        cls.stream = stream
        RECORDS[stream] = cls
        return cls

    return add


class RecordError(ValueError):
    """A record that does not match its stream's schema; the message names the record
    and the field."""


def record_model(stream: str) -> type[Record]:
    try:
        return RECORDS[stream]
    except KeyError:
        raise RecordError(f"stream {stream!r} has no record schema") from None


def fields(stream: str) -> tuple[str, ...]:
    """Wire field names of a stream's records, in the order they are written."""
    return tuple(record_model(stream).model_fields)


def wire_type(annotation: Any) -> tuple[Any, bool]:
    """(base type, nullable) of a field annotation: ``Literal["a"]`` is ``str``,
    ``float | None`` is ``(float, True)``, ``Any`` stays ``Any``."""
    if typing.get_origin(annotation) is Annotated:
        annotation = typing.get_args(annotation)[0]
    origin = typing.get_origin(annotation)
    if origin in (types.UnionType, typing.Union):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        base, _ = wire_type(args[0] if len(args) == 1 else Any)
        return base, True
    if origin is Literal:
        return type(typing.get_args(annotation)[0]), False
    return annotation, annotation is Any


def wire_types(stream: str) -> tuple[tuple[str, Any, bool], ...]:
    """(field, base type, nullable) of each field of a stream's records."""
    return tuple((n, *wire_type(f.annotation)) for n, f in record_model(stream).model_fields.items())


def parse_records(stream: str, records: list[dict[str, Any]]) -> list[Any]:
    """Records of a batch as their stream's models, or RecordError naming the first
    bad record and field."""
    model = record_model(stream)
    out = []
    for r in records:
        try:
            out.append(model.model_validate(r))
        except ValidationError as e:
            err = e.errors()[0]
            where = ".".join(str(p) for p in err["loc"]) or "(record)"
            raise RecordError(f"{stream} record {r.get('seq')}: {where}: {err['msg']}") from None
    return out


#: ``edge.logic.model.Quality`` by name: bad from the source, stale when it stopped answering.
QualityName = Literal["good", "bad", "stale"]


@register("samples")
class SampleRecord(Record):
    tag: str
    ts: float
    ts_recv: float
    value: Any
    """The tag's value as JSON: arrays as arrays, booleans as booleans, NaN and the
    infinities as the strings "nan", "inf", "-inf"."""
    quality: QualityName


@register("events")
class EventRecord(Record):
    ts: float
    kind: str
    source: str
    message: str
    data: str | None
    """JSON object as text, or null."""


@register("writes")
class WriteRecord(Record):
    ts: float
    tag: str
    value: str | None
    """The value written, as JSON text."""
    requested_by: str
    reason: str
    outcome: Literal["requested", "ok", "failed", "refused"]
    ref_seq: int | None
    error: str | None


@register("state_changes")
class StateChangeRecord(Record):
    ts: float
    machine: str
    old: str | None
    new: str
    cause: str


@register("downtime")
class DowntimeRecord(Record):
    """A version of a downtime event; the latest version per ``event_id`` is the event."""

    event_id: str
    machine: str
    start: float
    end: float | None
    state: str
    auto_reason: str | None
    micro: int


@register("counts")
class CountRecord(Record):
    ts: float
    machine: str
    good: int
    scrap: int
    ideal_cycle_s: float | None
    startup: int
    order_id: str | None
    product: str | None
    source: str
    scrap_reason: str | None
    by: str | None
    comment: str | None


@register("orders")
class OrderRecord(Record):
    """A fact of the line about a work order: started, finished, changed over."""

    ts: float
    order_id: str
    product: str | None
    action: str


@register("order_requests")
class OrderRequestRecord(Record):
    """A work-order command an operator or the plant queued at the line."""

    ts: float
    order_id: str
    product: str | None
    action: str
    quantity: int | None
    due: float | None
    by: str


@register("downtime_edits")
class DowntimeEditRecord(Record):
    ts: float
    kind: Literal["assign", "split"]
    event_id: str
    reason: str | None
    at: float | None
    comment: str
    by: str


@register("audit")
class AuditRecord(Record):
    ts: float
    who: str
    action: str
    entity: str
    old: str | None
    new: str | None
    why: str
    meaning: Literal["performed", "reviewed", "approved"] | None
    prev: str
    mac: str


@register("spc_points")
class SpcPointRecord(Record):
    ts: float
    characteristic: str
    value: float
    dispersion: float | None
    z: float | None
    product: str | None = None
    n: float | None = None


@register("spc_alarms")
class SpcAlarmRecord(Record):
    ts: float
    characteristic: str
    kind: Literal["out_of_control", "out_of_spec"]
    rule: str
    detail: str
    value: float | None


@register("spc_acks")
class SpcAckRecord(Record):
    ts: float
    characteristic: str
    upto_alarm: int
    by: str
    comment: str
    cause: str = ""
    action: str = ""


@register("spc_limits")
class SpcLimitRecord(Record):
    ts: float
    characteristic: str
    action: Literal["frozen", "recalculate"]
    spec: str | None
    by: str
    reason: str
    product: str | None = None


@register("produced")
class ProducedRecord(Record):
    ts: float
    lot: str
    kind: Literal["lot", "serial"]
    order_id: str | None
    product: str | None
    machine: str | None
    start: float
    end: float
    quantity: int | None
    by: str


@register("consumed")
class ConsumedRecord(Record):
    ts: float
    material_lot: str
    material: str
    order_id: str
    quantity: float | None
    unit: str
    source: str
    by: str


@register("inspections")
class InspectionRecord(Record):
    ts: float
    plan: str
    order_id: str | None
    product: str | None
    parts_at: int
    passed: int
    items: str
    """The measured items as JSON text."""
    by: str
    comment: str


@register("measurements")
class MeasurementRecord(Record):
    ts: float
    characteristic: str
    value: float
    by: str


@register("maintenance_requests")
class MaintenanceRequestRecord(Record):
    ts: float
    machine: str
    priority: Literal["low", "normal", "urgent"]
    text: str
    by: str


@register("maint_events")
class MaintEventRecord(Record):
    """One step of a maintenance work order; ``data`` is its JSON (type, asset, plan,
    labour hours, part and quantity, failure codes ...)."""

    ts: float
    wo: str
    kind: Literal[
        "created",
        "approve",
        "schedule",
        "start",
        "pause",
        "resume",
        "finish",
        "cancel",
        "labour",
        "parts",
        "failure",
        "comment",
    ]
    data: str
    by: str


@register("maint_stock")
class MaintStockRecord(Record):
    """One spare-parts movement at the line's store room."""

    ts: float
    part: str
    kind: Literal["receipt", "count", "issue", "reserve", "release"]
    qty: float
    wo: str | None
    by: str
    why: str


@register("stock_moves")
class StockMoveRecord(Record):
    """A lineside stock movement; ``quantity`` is signed (+ into the location, - out)."""

    ts: float
    kind: Literal["in", "out", "count", "backflush", "issue"]
    location: str
    material: str
    lot: str
    quantity: float
    order_id: str | None
    reason: str
    by: str


@register("lot_links")
class LotLinkRecord(Record):
    """Genealogy: the produced lot or serial ``child`` consumed the lot ``parent``."""

    ts: float
    parent: str
    child: str
    material: str
    location: str
    quantity: float | None
    order_id: str | None


@register("holds")
class HoldRecord(Record):
    """A hold put on a lot, an order or a machine's time window, or its disposition."""

    ts: float
    hold_id: str
    target_kind: Literal["lot", "order", "window"]
    target: str
    start: float | None
    end: float | None
    action: Literal["hold", "release", "scrap", "rework"]
    reason: str
    source: str
    corrective_action: str
    by: str


@register("inspection_misses")
class InspectionMissRecord(Record):
    """An inspection that was due and not done by the end of its grace or of its order,
    recorded once per (plan, order, due time)."""

    ts: float
    """When the line recorded the miss."""
    plan: Annotated[str, Field(min_length=1)]
    order_id: Annotated[str, Field(min_length=1)]
    product: str | None
    due_at: float
    reason: str
    """Why it counts as missed: ``grace passed (every 30 min)``, ``order ended (…)``."""
