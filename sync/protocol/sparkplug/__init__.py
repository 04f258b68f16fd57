"""Sparkplug B (specification 3.0.0) for a Lineside edge node: topics, data types, and the
session that numbers and encodes the node's messages (pure: no I/O).

Payloads are protobuf, encoded with Google's ``protobuf`` runtime from the module
generated out of ``sparkplug_b.proto`` (the specification's field numbers; see that
file). :class:`EdgeSession` holds a session's state — the birth-death sequence
``bdSeq`` (0–255, one per MQTT connection, carried in NBIRTH and in the NDEATH will),
the message sequence ``seq`` (0–255, NBIRTH is 0, every later message of the session +1
with wrap-around) and the metric aliases — in an object, never in module globals.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any, NamedTuple

from sync.protocol.sparkplug.sparkplug_b_pb2 import Payload

NAMESPACE = "spBv1.0"
BD_SEQ = "bdSeq"
REBIRTH = "Node Control/Rebirth"


class DataType(IntEnum):
    """Sparkplug B metric data types (specification 3.0.0, 6.4.16)."""

    Int8 = 1
    Int16 = 2
    Int32 = 3
    Int64 = 4
    UInt8 = 5
    UInt16 = 6
    UInt32 = 7
    UInt64 = 8
    Float = 9
    Double = 10
    Boolean = 11
    String = 12
    DateTime = 13
    Text = 14


#: A line tag's type → its Sparkplug data type (arrays go as String: their JSON text).
TAG_TYPES: dict[str, DataType] = {
    "bool": DataType.Boolean,
    "int8": DataType.Int8,
    "uint8": DataType.UInt8,
    "int16": DataType.Int16,
    "uint16": DataType.UInt16,
    "int32": DataType.Int32,
    "uint32": DataType.UInt32,
    "int64": DataType.Int64,
    "uint64": DataType.UInt64,
    "float32": DataType.Float,
    "float64": DataType.Double,
    "string": DataType.String,
}

#: The ``Quality`` property (Int32) in the codes Ignition uses: good 192, bad 0, stale 500.
QUALITY_CODES = {"good": 192, "bad": 0, "stale": 500}

_INTS = {
    DataType.Int8,
    DataType.Int16,
    DataType.Int32,
    DataType.UInt8,
    DataType.UInt16,
    DataType.UInt32,
}
_LONGS = {DataType.Int64, DataType.UInt64, DataType.DateTime}


def datatype_of(tag_type: str, elements: int = 1) -> DataType:
    if elements > 1:
        return DataType.String
    return TAG_TYPES.get(tag_type, DataType.String)


@dataclass(frozen=True)
class SparkplugTopics:
    group: str
    node: str

    def node_topic(self, kind: str) -> str:
        """``spBv1.0/{group}/{NBIRTH|NDEATH|NDATA|NCMD}/{node}``."""
        return f"{NAMESPACE}/{self.group}/{kind}/{self.node}"

    def device_topic(self, kind: str, device: str) -> str:
        """``spBv1.0/{group}/{DBIRTH|DDEATH|DDATA|DCMD}/{node}/{device}``."""
        return f"{NAMESPACE}/{self.group}/{kind}/{self.node}/{device}"

    @property
    def dcmd_all(self) -> str:
        return f"{NAMESPACE}/{self.group}/DCMD/{self.node}/+"


def state_topic(host: str) -> str:
    """The primary host application's retained STATE topic (3.0: ``spBv1.0/STATE/{host}``)."""
    return f"{NAMESPACE}/STATE/{host}"


def legacy_state_topic(host: str) -> str:
    """Sparkplug 2.2's STATE topic (``STATE/{host}``, payload ``ONLINE``/``OFFLINE``), which
    host applications of that generation still publish."""
    return f"STATE/{host}"


def parse_state(payload: bytes) -> bool | None:
    """A STATE payload → online, or None if it is not one: 3.0's JSON
    (``{"online": true, "timestamp": …}``) or 2.2's text (``ONLINE``/``OFFLINE``)."""
    if payload in (b"ONLINE", b"OFFLINE"):
        return payload == b"ONLINE"
    try:
        body = json.loads(payload)
    except (ValueError, UnicodeDecodeError):
        return None
    online = body.get("online") if isinstance(body, dict) else None
    return online if isinstance(online, bool) else None


def state_timestamp(payload: bytes) -> int | None:
    """The ``timestamp`` of a 3.0 STATE payload (None for 2.2's text or none given):
    a STATE older than the last one seen is stale and ignored (3.0, host application
    session establishment)."""
    try:
        body = json.loads(payload)
    except (ValueError, UnicodeDecodeError):
        return None
    ts = body.get("timestamp") if isinstance(body, dict) else None
    return ts if isinstance(ts, int) and not isinstance(ts, bool) else None


# ------------------------------------------------------------------------ metrics


@dataclass(frozen=True)
class MetricDef:
    """A metric as born: name, alias, type and properties (engineering unit)."""

    name: str
    alias: int
    datatype: DataType
    unit: str = ""
    writable: bool = False
    description: str = ""


def set_value(m: Any, datatype: DataType, value: Any) -> None:
    """Put ``value`` into the metric's value field for ``datatype`` (None: ``is_null``)."""
    if value is None or (
        isinstance(value, float) and not math.isfinite(value) and datatype != DataType.Double
    ):
        m.is_null = True
        return
    if datatype == DataType.Boolean:
        m.boolean_value = bool(value)
    elif datatype in _INTS:
        m.int_value = int(value) & 0xFFFFFFFF  # signed values as two's complement (the spec's rule)
    elif datatype in _LONGS:
        m.long_value = int(value) & 0xFFFFFFFFFFFFFFFF
    elif datatype == DataType.Float:
        m.float_value = float(value)
    elif datatype == DataType.Double:
        m.double_value = float(value)
    else:
        m.string_value = value if isinstance(value, str) else json.dumps(value)


def get_value(m: Any, datatype: DataType | None = None) -> Any:
    """A received metric's value (signed integer types read back from two's complement)."""
    if m.is_null:
        return None
    kind = m.WhichOneof("value")
    if kind is None:
        return None
    v = getattr(m, kind)
    try:
        dt: DataType | None = DataType(datatype or m.datatype)
    except ValueError:
        dt = None
    if kind == "int_value" and dt in (DataType.Int8, DataType.Int16, DataType.Int32) and v >= 2**31:
        v -= 2**32
    if kind == "long_value" and dt == DataType.Int64 and v >= 2**63:
        v -= 2**64
    return v


def _properties(m: Any, d: MetricDef, quality: str | None) -> None:
    props = m.properties
    if d.unit:
        props.keys.append("engUnit")
        pv = props.values.add()
        pv.type = DataType.String
        pv.string_value = d.unit
    if d.description:
        props.keys.append("Documentation")
        pv = props.values.add()
        pv.type = DataType.String
        pv.string_value = d.description
    props.keys.append("readOnly")
    pv = props.values.add()
    pv.type = DataType.Boolean
    pv.boolean_value = not d.writable
    if quality is not None:
        _quality(m, quality)


def _quality(m: Any, quality: str) -> None:
    m.properties.keys.append("Quality")
    pv = m.properties.values.add()
    pv.type = DataType.Int32
    pv.int_value = QUALITY_CODES.get(quality, 0)


class Point(NamedTuple):
    """One value of a metric: (metric, value, quality, source time)."""

    metric: MetricDef
    value: Any
    quality: str
    ts: float


# ------------------------------------------------------------------------ the session


def _ms(ts: float) -> int:
    return round(ts * 1000)


@dataclass
class EdgeSession:
    """One edge node session: numbers and encodes its messages.

    ``bd_seq`` is fixed for the MQTT connection (the NDEATH will carries it); ``seq`` is
    0 in NBIRTH and counts every later message modulo 256."""

    bd_seq: int
    seq: int = 0
    born: bool = False
    aliases: dict[str, MetricDef] = field(default_factory=dict)

    def _next(self) -> int:
        s = self.seq
        self.seq = (self.seq + 1) % 256
        return s

    def ndeath(self, now: float) -> bytes:
        """The NDEATH payload (the will): the bdSeq metric, no seq."""
        p = Payload()
        p.timestamp = _ms(now)
        m = p.metrics.add()
        m.name = BD_SEQ
        m.datatype = DataType.Int64
        m.long_value = self.bd_seq
        return p.SerializeToString()

    def nbirth(self, node_metrics: Iterable[Point], now: float) -> bytes:
        """NBIRTH: seq 0, bdSeq, the rebirth control and the node's metrics."""
        self.seq = 0
        self.born = True
        p = Payload()
        p.timestamp = _ms(now)
        p.seq = self._next()
        m = p.metrics.add()
        m.name, m.timestamp, m.datatype, m.long_value = BD_SEQ, _ms(now), DataType.Int64, self.bd_seq
        m = p.metrics.add()
        m.name, m.timestamp, m.datatype, m.boolean_value = REBIRTH, _ms(now), DataType.Boolean, False
        for pt in node_metrics:
            self._birth_metric(p, pt)
        return p.SerializeToString()

    def dbirth(self, points: Iterable[Point], now: float) -> bytes:
        """DBIRTH of one device: every metric with name, alias, datatype, properties and
        its current value."""
        p = Payload()
        p.timestamp = _ms(now)
        p.seq = self._next()
        for pt in points:
            self._birth_metric(p, pt)
        return p.SerializeToString()

    def _birth_metric(self, p: Any, pt: Point) -> None:
        d = pt.metric
        self.aliases[d.name] = d
        m = p.metrics.add()
        m.name = d.name
        m.alias = d.alias
        m.timestamp = _ms(pt.ts)
        m.datatype = d.datatype
        _properties(m, d, pt.quality)
        set_value(m, d.datatype, pt.value if pt.quality == "good" else None)

    def data(self, points: Iterable[Point], now: float, *, historical: bool = False) -> bytes:
        """NDATA or DDATA: changed metrics by alias only, each with its source time;
        ``historical`` flags values the host missed (sent after a new birth)."""
        p = Payload()
        p.timestamp = _ms(now)
        p.seq = self._next()
        for pt in points:
            d = pt.metric
            m = p.metrics.add()
            m.alias = d.alias
            m.timestamp = _ms(pt.ts)
            m.datatype = d.datatype
            if historical:
                m.is_historical = True
            if pt.quality != "good":
                _quality(m, pt.quality)
            set_value(m, d.datatype, pt.value if pt.quality == "good" else None)
        return p.SerializeToString()

    def ddeath(self, now: float) -> bytes:
        p = Payload()
        p.timestamp = _ms(now)
        p.seq = self._next()
        return p.SerializeToString()


def decode_payload(data: bytes) -> Any:
    """A Sparkplug B payload (NCMD, DCMD, STATE-less) → the protobuf message."""
    p = Payload()
    p.ParseFromString(data)
    return p


__all__ = [
    "BD_SEQ",
    "NAMESPACE",
    "QUALITY_CODES",
    "REBIRTH",
    "TAG_TYPES",
    "DataType",
    "EdgeSession",
    "MetricDef",
    "Payload",
    "Point",
    "SparkplugTopics",
    "datatype_of",
    "decode_payload",
    "get_value",
    "legacy_state_topic",
    "parse_state",
    "set_value",
    "state_timestamp",
    "state_topic",
]
