"""The wire record schemas (sync.protocol.records) and the line's stream schemas
(edge.store.streams) agree for every stream: same fields in the same order, same types,
same nullability. A column renamed at the line without the protocol, or a field added
on one side only, fails here."""

from __future__ import annotations

import pytest

from edge.store import STREAMS
from edge.store.streams import SCHEMAS
from sync.protocol import RECORDS, RecordError, fields, parse_records, wire_types
from sync.protocol.records import wire_type


def test_every_stream_has_a_wire_record() -> None:
    assert set(RECORDS) == set(STREAMS)
    for stream in STREAMS:
        assert fields(stream)[0] == "seq"


@pytest.mark.parametrize("stream", STREAMS)
def test_store_and_protocol_agree_on_the_record(stream: str) -> None:
    store_side = tuple((c.field, *wire_type(c.type)) for c in SCHEMAS[stream].columns)
    assert store_side == wire_types(stream)


def test_a_bad_record_is_refused_naming_the_record_and_field() -> None:
    good = {
        "seq": 3,
        "ts": 1.0,
        "characteristic": "fill",
        "kind": "out_of_spec",
        "rule": "usl",
        "detail": "d",
        "value": 2.0,
    }
    assert parse_records("spc_alarms", [good])[0].kind == "out_of_spec"
    with pytest.raises(RecordError, match=r"spc_alarms record 4: kind: Input should be"):
        parse_records("spc_alarms", [good, good | {"seq": 4, "kind": "loud"}])
    with pytest.raises(RecordError, match=r"downtime record 1: event_id: Field required"):
        parse_records("downtime", [{"seq": 1}])
    with pytest.raises(RecordError, match="no record schema"):
        parse_records("nope", [])


def test_sample_quality_names_are_the_lines() -> None:
    """The wire names a sample's quality as the line does (bad is "bad", not another word)."""
    from typing import get_args

    from edge.logic.model import Quality
    from sync.protocol.records import QualityName

    assert set(get_args(QualityName)) == {q.label for q in Quality}
