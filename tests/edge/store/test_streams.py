"""The record schema of every stream against the store itself: each stream has one,
its explicit select runs on a freshly migrated store, every column it names exists with
the declared type and nullability of its wire field (introspected with sqlite-utils),
and renaming a column breaks the select instead of changing what is shipped."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest
import sqlite_utils

from edge.store import STREAMS, Store
from edge.store.streams import SCHEMAS, read_after

DECLARED = {float: "REAL", int: "INTEGER", str: "TEXT", Any: ""}


def _base(t: Any) -> tuple[Any, bool]:
    args = getattr(t, "__args__", None)
    if args and type(None) in args:
        return next(a for a in args if a is not type(None)), True
    return t, t is Any


def test_every_stream_has_a_schema_with_seq_first() -> None:
    assert set(SCHEMAS) == set(STREAMS)
    for s in SCHEMAS.values():
        assert s.columns[0].column == s.columns[0].field == "seq"
        assert len(set(s.fields)) == len(s.fields), s.stream


def test_columns_exist_with_the_wire_type_and_nullability(tmp_path: Path) -> None:
    Store(tmp_path / "line.db").close()
    db = sqlite_utils.Database(tmp_path / "line.db")
    for stream, schema in SCHEMAS.items():
        cols = {c.name: c for c in db[stream].columns}
        for c in schema.columns[1:]:
            assert c.column in cols, f"{stream}.{c.column}: no such column"
            col = cols[c.column]
            base, nullable = _base(c.type)
            assert bool(col.notnull) != nullable or base is Any, f"{stream}.{c.column}: nullability"
            if not c.via:  # converted fields are stored in a compact form of their own
                assert col.type.upper() == DECLARED[base], f"{stream}.{c.column}: {col.type} vs {base}"


def test_every_select_runs_on_a_fresh_store(tmp_path: Path) -> None:
    with Store(tmp_path / "line.db") as st:
        for stream in STREAMS:
            assert read_after(st, stream, 0, 10) == []


def test_a_renamed_column_breaks_the_select_instead_of_changing_the_wire(tmp_path: Path) -> None:
    with Store(tmp_path / "line.db") as st:
        st.append_event("note", "test", "hello")
        st.db.execute("ALTER TABLE events RENAME COLUMN message TO text")
        with pytest.raises(sqlite3.OperationalError, match="message"):
            read_after(st, "events", 0, 10)
