"""A line's store read for support and audits with sqlite-utils: one stream's rows in a
time window (``lineside export``) and the number of rows per stream.

sqlite-utils serves here because these reads are occasional and want dictionaries with
column names, whatever the stream's columns are. The agent's hot paths (the batch
writer, the uplink's cursor reads) stay on plain ``sqlite3`` with fixed statements: a
dictionary per row costs more than the row itself at 100,000 samples per second.

The connection is read-only (``mode=ro``), so an export can run beside the agent and can
never change the store.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import sqlite_utils

from edge.core.errors import StoreError
from edge.logic.model import Quality
from edge.store.db import STREAMS, decode_value

#: The column a stream is windowed by when it has no ``ts`` (a stop is placed by its start).
_TIME_COLUMNS = ("ts", "start")


def open_readonly(path: str | Path) -> sqlite_utils.Database:
    """The store at ``path`` for reading only; StoreError when there is none."""
    p = Path(path)
    if not p.exists():
        raise StoreError(f"{p}: no store here yet (has the agent run?)")
    try:
        conn = sqlite3.connect(f"{p.absolute().as_uri()}?mode=ro", uri=True, timeout=10.0)
    except sqlite3.Error as e:
        raise StoreError(f"{p}: cannot open the store: {e}") from None
    return sqlite_utils.Database(conn, execute_plugins=False)


def time_column(db: sqlite_utils.Database, stream: str) -> str:
    """The column that places a stream's rows in time."""
    columns = db.table(_known(stream)).columns_dict
    for name in _TIME_COLUMNS:
        if name in columns:
            return name
    raise StoreError(f"stream {stream!r} has no time column (looked for {', '.join(_TIME_COLUMNS)})")


def stream_rows(
    db: sqlite_utils.Database, stream: str, *, since: float, until: float | None = None
) -> Iterator[dict[str, Any]]:
    """The rows of ``stream`` whose time lies in [since, until), in sequence order.
    Samples carry their tag's name and a quality label instead of the internal ids."""
    col = time_column(db, stream)
    args: list[float] = [since] if until is None else [since, until]
    if stream == "samples":
        sql = (
            "SELECT s.seq, t.name AS tag, s.ts, s.ts_recv, s.value, s.quality, t.type "
            "FROM samples s JOIN tags t ON t.id = s.tag_id WHERE s.ts >= ?"
            + (" AND s.ts < ?" if until is not None else "")
            + " ORDER BY s.seq"
        )
        labels = {q.value: q.label for q in Quality}
        for row in db.query(sql, args):
            row["value"] = decode_value(row["value"], row.pop("type"))
            row["quality"] = labels.get(row["quality"], row["quality"])
            yield row
        return
    where = f"{col} >= ?" + (f" AND {col} < ?" if until is not None else "")
    yield from db.table(stream).rows_where(where, args, order_by="seq")


def stream_counts(db: sqlite_utils.Database) -> dict[str, int]:
    """Rows held per stream (acknowledged rows that retention removed are not counted)."""
    present = set(db.table_names())
    return {s: db.table(s).count if s in present else 0 for s in STREAMS}


def _known(stream: str) -> str:
    if stream not in STREAMS:
        raise StoreError(f"unknown stream {stream!r} (known: {', '.join(STREAMS)})")
    return stream
