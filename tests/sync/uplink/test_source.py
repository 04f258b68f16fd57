"""The uplink's record source on a real line store: one row of every stream comes out
as the JSON text of its wire record (valid against the protocol's model, fields in
order, the line's bookkeeping left out), samples keep their value encoding, and a
store schema that differs from the protocol's stops the source before anything ships."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import sqlite_utils

from edge.logic.model import Quality, Sample
from edge.services.uplink import UplinkFeed
from edge.store import STREAMS, Store
from edge.store import streams as store_streams
from edge.store.streams import Column, StreamSchema
from sync.protocol import fields, record_model
from sync.uplink.source import SchemaMismatch, StoreSource
from tests.conftest import make_config

DEVICE = [
    {"name": "plc", "protocol": "modbus_tcp", "host": "127.0.0.1", "port": 1},
    {"name": "plx", "protocol": "ethernetip", "host": "127.0.0.1", "port": 1},
]
TAGS = [
    {"name": "speed", "device": "plc", "address": "hr:0", "type": "float32"},
    {"name": "run", "device": "plc", "address": "co:0", "type": "bool"},
    {"name": "zones", "device": "plx", "address": "Zones", "type": "int16", "elements": 3},
]
#: Values the tables' CHECK constraints accept.
CHOICES = {
    ("writes", "outcome"): "ok",
    ("downtime_edits", "kind"): "assign",
    ("audit", "meaning"): "performed",
    ("spc_alarms", "kind"): "out_of_spec",
    ("spc_limits", "action"): "frozen",
    ("produced", "kind"): "lot",
    ("maintenance_requests", "priority"): "urgent",
    ("maint_events", "kind"): "created",
    ("maint_stock", "kind"): "receipt",
    ("stock_moves", "kind"): "in",
    ("holds", "target_kind"): "lot",
    ("holds", "action"): "hold",
}


def _row(db: sqlite_utils.Database, table: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for c in db[table].columns:
        if c.name == "seq":
            continue
        t = c.type.upper()
        out[c.name] = CHOICES.get(
            (table, c.name), 2.5 if t == "REAL" else 7 if t == "INTEGER" else f"{c.name}-é"
        )
    return out


@pytest.fixture
def feed(tmp_path: Path) -> UplinkFeed:
    cfg = make_config(DEVICE, TAGS, tmp_path)
    with Store(cfg.store.path) as st:
        st.register_tags((t.name, t.device, t.type, t.eng_unit) for t in cfg.tags)
    f = UplinkFeed(cfg)
    yield f  # type: ignore[misc]
    f.close()


def test_a_row_of_every_stream_becomes_its_wire_record(feed: UplinkFeed, tmp_path: Path) -> None:
    feed.store.append_samples([Sample("speed", 1.5, Quality.GOOD, 10.0, 10.5)])
    db = sqlite_utils.Database(tmp_path / "line.db")
    for stream in STREAMS:
        if stream != "samples":
            db[stream].insert(_row(db, stream))
    src = StoreSource(feed)
    for stream in STREAMS:
        ((seq, text),) = src.read(stream, 0, 10)
        rec = json.loads(text)
        assert seq == rec["seq"] == 1
        assert tuple(rec) == fields(stream), stream
        record_model(stream).model_validate(rec)
    ((_, requests),) = src.read("order_requests", 0, 10)
    assert "applied" not in json.loads(requests)
    ((_, events),) = src.read("events", 0, 10)
    assert "\\u00e9" in events  # ASCII on the wire, as before


def test_samples_keep_their_value_encoding(feed: UplinkFeed) -> None:
    feed.store.append_samples(
        [
            Sample("speed", float("nan"), Quality.BAD, 1.0, 1.0),
            Sample("run", True, Quality.GOOD, 2.0, 2.0),
            Sample("zones", [1, 2, 3], Quality.STALE, 3.0, 3.0),
            Sample("speed", None, Quality.BAD, 4.0, 4.0),
        ]
    )
    texts = [t for _, t in StoreSource(feed).read("samples", 0, 10)]
    assert texts == [
        '{"seq":1,"tag":"speed","ts":1.0,"ts_recv":1.0,"value":"nan","quality":"bad"}',
        '{"seq":2,"tag":"run","ts":2.0,"ts_recv":2.0,"value":true,"quality":"good"}',
        '{"seq":3,"tag":"zones","ts":3.0,"ts_recv":3.0,"value":[1, 2, 3],"quality":"stale"}',
        '{"seq":4,"tag":"speed","ts":4.0,"ts_recv":4.0,"value":null,"quality":"bad"}',
    ]
    assert StoreSource(feed).read("samples", 2, 1)[0][0] == 3


def test_a_store_schema_unlike_the_protocols_stops_the_source(
    feed: UplinkFeed, monkeypatch: pytest.MonkeyPatch
) -> None:
    ev = store_streams.SCHEMAS["events"]
    renamed = StreamSchema(
        "events",
        tuple(Column(c.column, "text" if c.field == "message" else c.field, c.type) for c in ev.columns),
    )
    monkeypatch.setitem(store_streams.SCHEMAS, "events", renamed)
    with pytest.raises(
        SchemaMismatch,
        match=r"events: the store ships fields .*'text'.* the protocol's record has .*'message'",
    ):
        StoreSource(feed)


def test_the_feed_keeps_cursors_forward_and_reports_the_backlog(feed: UplinkFeed) -> None:
    """The uplink's way into the store: durable cursors only move forward, and the
    status it publishes counts what the aggregator has not acknowledged."""
    feed.store.append_samples([Sample("speed", float(i), Quality.GOOD, i, i) for i in range(1, 6)])
    feed.advance_cursors({"samples": (5, 3)})
    feed.advance_cursors({"samples": (2, 1)})
    assert feed.cursors()["samples"] == (5, 3)
    assert feed.last_seqs()["samples"] == 5
    details = feed.status_details({"samples": 3})
    assert details["backlog"] == 2 and details["last_data"] == 5.0 and details["order"] is None
    assert feed.current_order() == {"order": None, "product": None, "since": None, "dispatch": []}
    assert feed.active_alarms() is None  # no SPC on this line
    assert feed.shift_kpis(10.0, previous=None) == ([], None)  # no machines
