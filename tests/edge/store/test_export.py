"""The store read with sqlite-utils: schema introspection of every stream table, and one
stream's rows in a time window for `lineside export`."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest
import sqlite_utils

from edge.core.errors import StoreError
from edge.logic.model import Quality, Sample
from edge.store import STREAMS, Store
from edge.store.export import open_readonly, stream_counts, stream_rows, time_column


@pytest.fixture
def store(tmp_path: Path) -> Path:
    with Store(tmp_path / "line.db") as st:
        st.register_tags([("a.temp", "plc", "float32", "°C"), ("a.zones", "plc", "float32", "°C")])
        st.append_samples(
            [
                Sample("a.temp", 20.0 + i, Quality.GOOD if i % 2 else Quality.BAD, 1000.0 + i, 1000.5 + i)
                for i in range(10)
            ]
            + [Sample("a.zones", [1.0, 2.5], Quality.GOOD, 1003.0, 1003.5)]
        )
    return tmp_path / "line.db"


def test_every_stream_table_has_an_integer_seq_primary_key_and_a_time_column(store: Path) -> None:
    """The uplink's cursors and the aggregator's dedupe rest on `seq`; export windows on time."""
    db = sqlite_utils.Database(store)
    assert set(STREAMS) <= set(db.table_names())
    for stream in STREAMS:
        table = db.table(stream)
        assert table.pks == ["seq"], stream
        assert table.columns_dict["seq"] is int, stream
        assert time_column(db, stream) in table.columns_dict, stream
        assert table.columns_dict[time_column(db, stream)] is float, stream
    assert [c.name for c in db.table("samples").columns] == [
        "seq",
        "tag_id",
        "ts",
        "ts_recv",
        "value",
        "quality",
    ]


def test_samples_in_a_window_carry_tag_names_decoded_values_and_quality_labels(store: Path) -> None:
    db = open_readonly(store)
    rows = list(stream_rows(db, "samples", since=1002.0, until=1004.0))
    # In sequence order (as committed), the window's end excluded.
    assert [(r["seq"], r["tag"], r["ts"], r["value"], r["quality"]) for r in rows] == [
        (3, "a.temp", 1002.0, 22.0, "bad"),
        (4, "a.temp", 1003.0, 23.0, "good"),
        (11, "a.zones", 1003.0, [1.0, 2.5], "good"),
    ]
    assert len(list(stream_rows(db, "samples", since=1009.0))) == 1


def test_counts_per_stream(store: Path) -> None:
    counts = stream_counts(open_readonly(store))
    assert counts["samples"] == 11 and set(counts) == set(STREAMS)


def test_export_connection_cannot_write(store: Path) -> None:
    db = open_readonly(store)
    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        db.table("events").insert({"ts": time.time(), "kind": "x", "source": "x", "message": "x"})


def test_a_missing_store_or_unknown_stream_is_refused(tmp_path: Path, store: Path) -> None:
    with pytest.raises(StoreError, match="no store here yet"):
        open_readonly(tmp_path / "nope.db")
    with pytest.raises(StoreError, match="unknown stream 'sample'"):
        list(stream_rows(open_readonly(store), "sample", since=0))
