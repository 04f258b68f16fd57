"""Export and inspection of a line's store for support and audits: one stream's rows in
a time window as CSV, JSON or NDJSON (``lineside export``), and the rows held per stream.

Reads only (the store is opened read-only), so it needs no operator and writes no audit
entry; it can run beside the agent. Times in the output are as stored (epoch seconds);
each row starts with ``time``, the same moment in ISO 8601 in the line's time zone.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Iterable
from datetime import datetime
from typing import Any, TextIO
from zoneinfo import ZoneInfo

from edge.config.line import LineConfig
from edge.services.production import OperatorInputError
from edge.store.db import STREAMS

FORMATS: tuple[str, ...] = ("csv", "json", "ndjson")

__all__ = ["FORMATS", "STREAMS", "export_stream", "store_counts"]


def export_stream(
    cfg: LineConfig,
    stream: str,
    out: TextIO,
    *,
    since: float,
    until: float | None = None,
    fmt: str = "csv",
) -> int:
    """Write the rows of ``stream`` with time in [since, until) to ``out``; returns how many.
    Refuses an unknown stream or format, or an empty window, naming the argument."""
    if stream not in STREAMS:
        raise OperatorInputError(f"stream: unknown stream {stream!r} (known: {', '.join(STREAMS)})")
    if fmt not in FORMATS:
        raise OperatorInputError(f"format: {fmt!r} is not one of {', '.join(FORMATS)}")
    if until is not None and until <= since:
        raise OperatorInputError("until: must be later than --since")
    # sqlite-utils takes ~0.1 s to import: only export and inspection pay for it, not
    # every `lineside` command that builds the parser.
    from edge.store.export import open_readonly, stream_rows, time_column

    zone = ZoneInfo(cfg.line.timezone)
    db = open_readonly(cfg.store.path)
    try:
        col = time_column(db, stream)
        rows = (_with_time(r, r[col], zone) for r in stream_rows(db, stream, since=since, until=until))
        return _WRITERS[fmt](rows, out)
    finally:
        db.close()


def store_counts(cfg: LineConfig) -> dict[str, int]:
    """Rows held per stream in the line's store."""
    from edge.store.export import open_readonly, stream_counts

    db = open_readonly(cfg.store.path)
    try:
        return stream_counts(db)
    finally:
        db.close()


def _with_time(row: dict[str, Any], ts: float | None, zone: ZoneInfo) -> dict[str, Any]:
    when = datetime.fromtimestamp(ts, zone).isoformat(timespec="milliseconds") if ts is not None else None
    return {"time": when, **row}


def _plain(v: Any) -> Any:
    """A JSON value: non-finite floats as their names (JSON has no NaN)."""
    if isinstance(v, float) and not math.isfinite(v):
        return repr(v)
    if isinstance(v, list):
        return [_plain(x) for x in v]
    return v


def _cell(v: Any) -> Any:
    """A CSV cell: arrays as JSON text, missing values empty."""
    if v is None:
        return ""
    if isinstance(v, list):
        return json.dumps(_plain(v))
    return v


def _csv(rows: Iterable[dict[str, Any]], out: TextIO) -> int:
    n = 0
    writer: csv.DictWriter[str] | None = None
    for row in rows:
        if writer is None:
            writer = csv.DictWriter(out, fieldnames=list(row), lineterminator="\n")
            writer.writeheader()
        writer.writerow({k: _cell(v) for k, v in row.items()})
        n += 1
    return n


def _ndjson(rows: Iterable[dict[str, Any]], out: TextIO) -> int:
    n = 0
    for row in rows:
        out.write(json.dumps({k: _plain(v) for k, v in row.items()}, ensure_ascii=False) + "\n")
        n += 1
    return n


def _json(rows: Iterable[dict[str, Any]], out: TextIO) -> int:
    """One JSON array, written row by row so a large export never sits in memory."""
    n = 0
    out.write("[")
    for row in rows:
        out.write(
            ("\n " if n == 0 else ",\n ")
            + json.dumps({k: _plain(v) for k, v in row.items()}, ensure_ascii=False)
        )
        n += 1
    out.write("\n]\n" if n else "]\n")
    return n


_WRITERS = {"csv": _csv, "json": _json, "ndjson": _ndjson}
