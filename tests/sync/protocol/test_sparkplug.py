"""Sparkplug B session rules without a broker: seq numbering and wrap, bdSeq in NDEATH
and NBIRTH, aliases by name, data types and two's complement, STATE payloads of 3.0 and
2.2. (The wire format itself is checked against Eclipse Tahu's decoder in
tests/sync/sparkplug.)"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from sync.protocol.sparkplug import (
    DataType,
    EdgeSession,
    MetricDef,
    Point,
    datatype_of,
    decode_payload,
    get_value,
    parse_state,
    set_value,
    state_timestamp,
)
from sync.protocol.sparkplug.sparkplug_b_pb2 import Payload

TEMP = MetricDef("filler.temp", 1, DataType.Float, "°C")


def test_seq_starts_at_birth_and_wraps_after_255() -> None:
    s = EdgeSession(bd_seq=7)
    seqs = [decode_payload(s.nbirth([], 1.0)).seq]
    seqs += [decode_payload(s.dbirth([Point(TEMP, 1.0, "good", 1.0)], 1.0)).seq]
    seqs += [decode_payload(s.data([Point(TEMP, float(i), "good", 1.0)], 1.0)).seq for i in range(300)]
    assert seqs == [i % 256 for i in range(302)]
    assert decode_payload(s.nbirth([], 2.0)).seq == 0  # a rebirth starts again
    death = decode_payload(s.ndeath(3.0))
    assert not death.HasField("seq")
    assert [(m.name, m.datatype, m.long_value) for m in death.metrics] == [("bdSeq", DataType.Int64, 7)]
    birth = {m.name: m for m in decode_payload(s.nbirth([], 4.0)).metrics}
    assert birth["bdSeq"].long_value == 7 and birth["Node Control/Rebirth"].boolean_value is False
    assert s.aliases["filler.temp"] == TEMP


def test_data_by_alias_with_quality_and_history() -> None:
    s = EdgeSession(bd_seq=0)
    p = decode_payload(s.data([Point(TEMP, None, "stale", 5.0)], 6.0, historical=True))
    (m,) = p.metrics
    assert not m.name and m.alias == 1 and m.is_historical and m.is_null and m.timestamp == 5000
    assert dict(zip(m.properties.keys, [v.int_value for v in m.properties.values], strict=True)) == {
        "Quality": 500
    }


@given(st.integers(-(2**31), 2**31 - 1))
def test_signed_values_round_trip_through_twos_complement(v: int) -> None:
    m = Payload.Metric()
    set_value(m, DataType.Int32, v)
    assert get_value(m, DataType.Int32) == v


def test_types_and_state() -> None:
    assert datatype_of("uint16") == DataType.UInt16 and datatype_of("float32", 4) == DataType.String
    m = Payload.Metric()
    set_value(m, DataType.String, [1, 2])
    assert m.string_value == "[1, 2]"
    m = Payload.Metric()
    set_value(m, DataType.Int64, -5)
    assert get_value(m, DataType.Int64) == -5
    assert parse_state(b'{"online": true, "timestamp": 1}') is True
    assert parse_state(b'{"online": false, "timestamp": 1}') is False
    assert parse_state(b"ONLINE") is True and parse_state(b"OFFLINE") is False
    assert parse_state(b"maybe") is None and parse_state(b'{"online": 1}') is None
    assert state_timestamp(b'{"online": true, "timestamp": 1700000000000}') == 1700000000000
    assert state_timestamp(b"ONLINE") is None and state_timestamp(b'{"timestamp": true}') is None
