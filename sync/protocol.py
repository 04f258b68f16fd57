"""Topic layout and payload models of the Lineside MQTT protocol, version 1 (pure).

Topics (ISA-95 unified namespace)::

    lineside/v1/{enterprise}/{site}/{area}/{line}/{stream}          batches going up (QoS 1)
    lineside/v1/{enterprise}/{site}/{area}/{line}/state/{name}      retained current state
    lineside/v1/{enterprise}/{site}/{area}/{line}/ack/{stream}      end-to-end acks down
    lineside/v1/{enterprise}/{site}/{area}/{line}/cmd/{name}        commands down
    lineside/v1/{enterprise}/{site}/{area}/{line}/cmd-ack           command results up

Every payload is JSON with a schema version ``v``; unknown fields are refused so that a
newer sender is noticed, not misread. Validation errors name the field.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

VERSION = 1
ROOT = f"lineside/v{VERSION}"
STATE_NAMES = ("status", "current_order", "shift_kpi", "alarms")
COMMANDS = ("work_order", "reasons", "products")


@dataclass(frozen=True)
class Topics:
    enterprise: str
    site: str
    area: str
    line: str

    @classmethod
    def of(cls, identity: Any) -> Topics:
        return cls(identity.enterprise, identity.site, identity.area, identity.line)

    @property
    def base(self) -> str:
        return f"{ROOT}/{self.enterprise}/{self.site}/{self.area}/{self.line}"

    def stream(self, name: str) -> str:
        return f"{self.base}/{name}"

    def state(self, name: str) -> str:
        return f"{self.base}/state/{name}"

    def ack(self, stream: str) -> str:
        return f"{self.base}/ack/{stream}"

    def cmd(self, name: str) -> str:
        return f"{self.base}/cmd/{name}"

    @property
    def cmd_ack(self) -> str:
        return f"{self.base}/cmd-ack"

    @property
    def key(self) -> str:
        """``enterprise/site/area/line``: how the aggregator names a line."""
        return f"{self.enterprise}/{self.site}/{self.area}/{self.line}"

    @property
    def subtree(self) -> str:
        """What this line's credentials may use (for the broker ACL)."""
        return f"{self.base}/#"


#: Shared subscription through which aggregator instances split the upward traffic.
AGGREGATOR_SHARE = "$share/lineside-aggregator"


def aggregator_subscriptions(shared: bool = True) -> list[str]:
    """Streams and command results (one level below the line) are shared among the
    aggregator instances; retained state goes to every instance. A stream the aggregator
    does not know still arrives, and is dead-lettered rather than silently unheard.
    ``shared=False`` for MQTT 3.1.1 brokers without shared subscriptions (one instance)."""
    streams = f"{ROOT}/+/+/+/+/+"
    return [f"{AGGREGATOR_SHARE}/{streams}" if shared else streams, f"{ROOT}/+/+/+/+/state/+"]


def parse_topic(topic: str) -> tuple[Topics, str]:
    """``lineside/v1/e/s/a/l/rest`` → (Topics, rest); ValueError names what is wrong."""
    parts = topic.split("/")
    if len(parts) < 7 or f"{parts[0]}/{parts[1]}" != ROOT:
        raise ValueError(f"topic {topic!r} is not under {ROOT}/<enterprise>/<site>/<area>/<line>/")
    return Topics(*parts[2:6]), "/".join(parts[6:])


# ------------------------------------------------------------------------------ payloads


class Payload(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    v: Literal[1] = 1
    """Schema version."""


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
    after_seq: Annotated[int, Field(ge=0)]
    first_seq: Annotated[int, Field(ge=1)]
    last_seq: Annotated[int, Field(ge=1)]
    sent_at: float


def _check_batch(b: BatchHead, records: list[dict[str, Any]]) -> None:
    if b.last_seq < b.first_seq:
        raise ValueError("last_seq is below first_seq")
    if b.after_seq >= b.first_seq:
        raise ValueError("after_seq must be below first_seq")
    if not records:
        raise ValueError("a batch carries at least one record")
    raw = [r.get("seq") for r in records]
    if any(not isinstance(s, int) or isinstance(s, bool) for s in raw):
        raise ValueError("every record needs an integer seq")
    seqs: list[int] = [int(s) for s in raw if isinstance(s, int)]
    if seqs != sorted(set(seqs)) or seqs[0] != b.first_seq or seqs[-1] != b.last_seq:
        raise ValueError("record seqs must rise strictly from first_seq to last_seq")


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


class Command(Payload):
    """A command down to a line; ``id`` makes replays idempotent."""

    id: Annotated[str, Field(min_length=1, max_length=100)]
    kind: Literal["work_order", "reasons", "products"]
    issued_at: float
    body: dict[str, Any]


class WorkOrderBody(BaseModel):
    """Body of ``cmd/work_order``: release (or update) an order on the line's dispatch
    list, or cancel one that has not started."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    action: Literal["release", "cancel"] = "release"
    order_id: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[^\s/#+]+$")]
    product: str | None = None
    quantity: Annotated[int, Field(gt=0, le=100_000_000)] | None = None
    due: float | None = None
    priority: Annotated[int, Field(ge=0, le=1000)] = 0
    description: Annotated[str, Field(max_length=500)] = ""


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


_RECORDS_KEY = re.compile(r'"records"\s*:\s*\[')
_SCAN = json.JSONDecoder().raw_decode
_WS = " \t\n\r"
#: One encoder reused: json.dumps with arguments builds a new encoder per call.
_COMPACT = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


def record_texts(batch: Batch) -> list[str]:
    """Each record of a parsed batch as compact JSON text (what the receiver stores)."""
    return [_COMPACT(r) for r in batch.records]


def decode_batch(data: bytes | str) -> tuple[Batch, list[str]]:
    """A batch and each record's JSON text, for a receiver that stores records as text.

    Fast path: the records are scanned once, which yields each record and its text as
    it arrived (no second encoding), and only the small envelope goes through pydantic;
    the batch is then validated exactly as :func:`decode` would. Anything unusual about
    the layout (no or a repeated ``records`` key, an element that is not an object,
    text that is not UTF-8) takes the plain path: ``decode`` and encode each record.
    Both paths accept and refuse the same payloads with the same PayloadError."""
    fast = _scan_batch(data)
    if fast is not None:
        head, records, texts = fast
        try:
            h = BatchHead.model_validate_json(head)
        except ValidationError as e:
            raise _payload_error(Batch, e) from None
        try:
            _check_batch(h, records)
        except ValueError as e:
            raise PayloadError("schema", f"Batch: (payload): {e}") from None
        return Batch.model_construct(**dict(h), records=records), texts
    b = decode(Batch, data)
    return b, record_texts(b)


def _scan_batch(data: bytes | str) -> tuple[str, list[dict[str, Any]], list[str]] | None:
    try:
        text = data.decode() if isinstance(data, bytes) else data
    except UnicodeDecodeError:
        return None
    m = _RECORDS_KEY.search(text)
    if m is None:
        return None
    pos, records, texts = m.end(), [], []
    try:
        while text[pos] in _WS:
            pos += 1
        if text[pos] == "]":
            return None
        while True:
            obj, end = _SCAN(text, pos)
            if not isinstance(obj, dict):
                return None
            records.append(obj)
            texts.append(text[pos:end])
            pos = end
            while text[pos] in _WS:
                pos += 1
            c = text[pos]
            pos += 1
            if c == "]":
                break
            if c != ",":
                return None
            while text[pos] in _WS:
                pos += 1
    except (ValueError, IndexError):
        return None
    # The envelope without the records key (and the comma that joined it).
    left, right = text[: m.start()].rstrip(), text[pos:].lstrip()
    if left.endswith(","):
        left = left[:-1]
    elif right.startswith(","):
        right = right[1:]
    head = left + right
    if _RECORDS_KEY.search(head) is not None:  # a second "records" key: let pydantic judge
        return None
    return head, records, texts


def encode(payload: Payload) -> bytes:
    return payload.model_dump_json().encode()


def encode_batch(
    line: LineRef, stream: str, after_seq: int, records: list[str], seqs: tuple[int, int], sent_at: float
) -> bytes:
    """A :class:`Batch` from records already encoded as JSON objects (the uplink's hot
    path: no model instances). ``seqs`` is (first, last). Decodes with ``Batch``."""
    head = (
        f'{{"v":{VERSION},"line":{{"enterprise":{_q(line.enterprise)},"site":{_q(line.site)},'
        f'"area":{_q(line.area)},"line":{_q(line.line)}}},"stream":{_q(stream)},'
        f'"after_seq":{after_seq},"first_seq":{seqs[0]},"last_seq":{seqs[1]},"sent_at":{sent_at!r},"records":['
    )
    return (head + ",".join(records) + "]}").encode()


def _q(s: str) -> str:
    return json.dumps(s)
