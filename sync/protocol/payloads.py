"""Payload models of the Lineside MQTT protocol, version 1 (pure): every payload is JSON
with a schema version ``v``; unknown fields are refused so that a newer sender is
noticed, not misread. Validation errors name the field."""

from __future__ import annotations

import operator
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

# ------------------------------------------------------------------------------ payloads


def finite(v: Any) -> bool:
    """No NaN or infinity anywhere in ``v`` (JSON has no such numbers; Python's and
    pydantic's parsers accept ``NaN``, ``Infinity`` and ``1e999`` all the same)."""
    t = type(v)
    if t is float:
        return bool(v - v == 0)  # inf - inf and nan - nan are NaN
    if t is dict:
        return all(finite(x) for x in v.values())
    if t is list:
        return all(finite(x) for x in v)
    return True


#: A store's incarnation: 32 hex digits chosen at random when the store was created
#: ("" from a sender that predates incarnations).
INCARNATION_RE = r"^([0-9a-f]{32})?$"


class Payload(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    v: Literal[1] = 1
    """Schema version."""

    @model_validator(mode="after")
    def _finite(self) -> Payload:
        # Any-typed parts (records, KPIs, command bodies) are not covered by allow_inf_nan.
        for name, value in self.__dict__.items():
            if isinstance(value, (dict, list)) and not finite(value):
                raise ValueError(f"{name}: NaN or infinity (JSON numbers are finite)")
        return self


class LineRef(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    enterprise: str
    site: str
    area: str
    line: str

    @classmethod
    def of(cls, identity: Any) -> LineRef:
        return cls(enterprise=identity.enterprise, site=identity.site, area=identity.area, line=identity.line)


class BatchHead(Payload):
    """A batch without its records: what :func:`decode_batch` validates on its own."""

    line: LineRef
    stream: Annotated[str, Field(pattern=r"^[a-z][a-z_]*$", max_length=40)]
    incarnation: Annotated[str, Field(pattern=INCARNATION_RE)] = ""
    """The sending store's incarnation: a store deleted and created anew starts its
    sequences at 1 again, under a new incarnation, and the receiver keeps the two apart."""
    after_seq: Annotated[int, Field(ge=0)]
    first_seq: Annotated[int, Field(ge=1)]
    last_seq: Annotated[int, Field(ge=1)]
    sent_at: float


_INT_ONLY = {int}
_get_seq = operator.methodcaller("get", "seq")


def _check_batch(b: BatchHead, records: list[dict[str, Any]]) -> None:
    if b.last_seq < b.first_seq:
        raise ValueError("last_seq is below first_seq")
    if b.after_seq >= b.first_seq:
        raise ValueError("after_seq must be below first_seq")
    if not records:
        raise ValueError("a batch carries at least one record")
    # Checked per batch, not per record: the seqs gathered and their types compared as
    # one set (``type`` is exact, so a bool, a float or a missing seq is not an int).
    seqs: list[int] = list(map(_get_seq, records))
    if set(map(type, seqs)) != _INT_ONLY:
        raise ValueError("every record needs an integer seq")
    # Every record in (after_seq, last_seq], strictly rising, first and last as stated:
    # the count then fits the range too (at most last_seq - after_seq records).
    if (
        seqs[0] != b.first_seq
        or seqs[-1] != b.last_seq
        or len(set(seqs)) != len(seqs)
        or seqs != sorted(seqs)
    ):
        raise ValueError("record seqs must rise strictly from first_seq to last_seq")
    if len(seqs) > b.last_seq - b.after_seq:
        raise ValueError("more records than sequences between after_seq and last_seq")


class Batch(BatchHead):
    """Records of one stream, ``first_seq``..``last_seq`` (each record carries its ``seq``).

    ``after_seq`` is the sequence this batch follows: the sender states that no record
    of the stream lies between ``after_seq`` and ``first_seq``, so the receiver knows
    the batch closes the gap even where sequences skip numbers."""

    records: list[dict[str, Any]]

    @model_validator(mode="after")
    def _consistent(self) -> Batch:
        _check_batch(self, self.records)
        return self


class Ack(Payload):
    """The aggregator has committed every record of ``stream`` up to ``acked_seq``."""

    line: LineRef
    stream: str
    acked_seq: Annotated[int, Field(ge=0)]
    incarnation: Annotated[str, Field(pattern=INCARNATION_RE)] = ""
    """The store incarnation acknowledged: a line ignores an ack for another one (its
    store was recreated; the plant's ack is about the old store's records)."""


class LineStatus(Payload):
    """Retained on ``state/status``; the last will publishes ``online: false``."""

    line: LineRef
    online: bool
    ts: float
    agent: str = ""
    state: str | None = None
    """State of the line's OEE machine (running, down, ...)."""
    order: str | None = None
    """Work order running now."""
    last_data: float | None = None
    """When the agent last committed a sample."""
    backlog: Annotated[int, Field(ge=0)] = 0
    """Records not yet acknowledged by the aggregator, all streams."""
    devices: dict[str, str] = {}
    """PLC connection state per device."""
    incarnation: Annotated[str, Field(pattern=INCARNATION_RE)] = ""
    """The line store's incarnation (see :class:`BatchHead`)."""
    audit_seq: Annotated[int, Field(ge=0)] | None = None
    """The head of the line's audit chain now: its last entry's seq (0: empty) …"""
    audit_mac: Annotated[str, Field(max_length=200)] | None = None
    """… and signature. The plant compares it with the chain it verified: a line whose
    chain ends before, or differently from, what the plant holds was cut or rewritten."""


class ShiftKpi(Payload):
    """Retained on ``state/shift_kpi``: the line's KPIs for a shift as the edge computes
    them (with its calendar and the operators' reasons). ``shift`` is ``YYYY-MM-DD/NAME``,
    or None for a line without a shift calendar (then the window is the last 24 h)."""

    shift: str | None
    start: float
    end: float
    ts: float
    kpi: dict[str, Any]
    pareto: list[dict[str, Any]] = []


class CurrentOrder(Payload):
    """Retained on ``state/current_order``."""

    order: str | None
    product: str | None
    since: float | None
    ts: float
    dispatch: list[dict[str, Any]] = []
    """Released work orders waiting on the line."""


#: At most this many due inspections go in ``state/inspections`` (overdue ones first).
MAX_DUE_INSPECTIONS = 20


class DueInspection(BaseModel):
    """An inspection due now for the running order."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    plan: Annotated[str, Field(min_length=1)]
    order_id: Annotated[str, Field(min_length=1)]
    product: str | None = None
    due_at: float
    reason: str = ""
    """Why it is due (``order start``, ``every 30 min``, ``every 500 parts``)."""
    overdue: bool
    """Past its grace: the line records it as missed (the ``inspection_misses`` stream)."""


class InspectionsDue(Payload):
    """Retained on ``state/inspections``: what is due for the running order now, overdue
    ones first (at most :data:`MAX_DUE_INSPECTIONS`; ``count`` is how many in all)."""

    ts: float
    due: Annotated[list[DueInspection], Field(max_length=MAX_DUE_INSPECTIONS)] = []
    count: Annotated[int, Field(ge=0)] = 0


class Command(Payload):
    """A command down to a line; ``id`` makes replays idempotent."""

    id: Annotated[str, Field(min_length=1, max_length=100)]
    kind: Literal["work_order", "reasons", "products", "plan", "material_master", "boms", "lots", "operators"]
    issued_at: float
    body: dict[str, Any]
    """Validated by the line against its own model of ``kind``
    (``edge.config.plant.BODIES``), not here: the wire contract does not depend on
    the edge."""


class CommandAck(Payload):
    id: str
    accepted: bool
    reason: str = ""
    ts: float


PAYLOADS: dict[str, type[Payload]] = {
    "batch": Batch,
    "ack": Ack,
    "status": LineStatus,
    "command": Command,
    "command_ack": CommandAck,
    "shift_kpi": ShiftKpi,
    "current_order": CurrentOrder,
    "inspections": InspectionsDue,
}


class PayloadError(ValueError):
    """A payload that is not JSON or does not match its model; ``kind`` groups them
    for counting and the dead-letter table."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


def _payload_error(model: type[Payload], e: ValidationError) -> PayloadError:
    first = e.errors()[0]
    kind = "not_json" if first["type"] == "json_invalid" else "schema"
    where = ".".join(str(p) for p in first["loc"]) or "(payload)"
    msg = first["msg"].removeprefix("Value error, ")
    more = f" (+{e.error_count() - 1} more)" if e.error_count() > 1 else ""
    return PayloadError(kind, f"{model.__name__}: {where}: {msg}{more}")


def decode(model: type[Payload], data: bytes | str) -> Any:
    """JSON bytes → a validated payload, or PayloadError naming the problem and field."""
    try:
        return model.model_validate_json(data)
    except ValidationError as e:
        raise _payload_error(model, e) from None


def encode(payload: Payload) -> bytes:
    return payload.model_dump_json().encode()
