"""The record schema of every stream: which store columns go upstream, in which order,
under which wire field name and with which wire type, and the reads the uplink makes
of the streams (rows after a sequence, last sequences).

The select is written out column by column, never ``SELECT *``: renaming or dropping a
column breaks it (a test runs every stream's select on a fresh store), and the wire
names and types here are checked against ``sync.protocol.records`` by a test, so the
edge schema is no longer the wire format by accident. Columns the line keeps for its
own bookkeeping (``order_requests.applied``, updated after the row was written) are
simply not listed: shipped, they would arrive stale.

Three sample fields are stored in a compact form and converted by the uplink's encoder
(``via``): the tag id becomes the tag's name, the quality code its name, the stored
value the JSON of the tag's type. Every other field goes as stored.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from edge.store.db import Store

#: Conversions of a stored column into its wire value (applied by the uplink's encoder).
Via = Literal["", "tag_name", "quality_name", "tagged_value"]


@dataclass(frozen=True)
class Column:
    """One store column on the wire."""

    column: str
    """Column of the stream's table."""
    field: str
    """Wire field name."""
    type: Any
    """Wire type (a Python annotation: ``float``, ``str | None``, ``Any``)."""
    via: Via = ""


@dataclass(frozen=True)
class StreamSchema:
    """What a stream's records carry, ``seq`` first."""

    stream: str
    columns: tuple[Column, ...]

    @property
    def fields(self) -> tuple[str, ...]:
        return tuple(c.field for c in self.columns)

    @property
    def select(self) -> str:
        """Rows after a sequence, in order (parameters: after, limit)."""
        # Bare names on purpose: SQLite reads a double-quoted name that matches no
        # column as a string literal, which would ship the old name instead of failing.
        cols = ", ".join(c.column for c in self.columns)
        return f"SELECT {cols} FROM {self.stream} WHERE seq > ? ORDER BY seq LIMIT ?"


def _schema(stream: str, *columns: tuple[str, Any] | Column) -> StreamSchema:
    cols = [Column("seq", "seq", int)]
    for c in columns:
        cols.append(c if isinstance(c, Column) else Column(c[0], c[0], c[1]))
    return StreamSchema(stream, tuple(cols))


SCHEMAS: dict[str, StreamSchema] = {
    s.stream: s
    for s in (
        _schema(
            "samples",
            Column("tag_id", "tag", str, via="tag_name"),
            ("ts", float),
            ("ts_recv", float),
            Column("value", "value", Any, via="tagged_value"),
            Column("quality", "quality", str, via="quality_name"),
        ),
        _schema(
            "events", ("ts", float), ("kind", str), ("source", str), ("message", str), ("data", str | None)
        ),
        _schema(
            "writes",
            ("ts", float),
            ("tag", str),
            ("value", str | None),
            ("requested_by", str),
            ("reason", str),
            ("outcome", str),
            ("ref_seq", int | None),
            ("error", str | None),
        ),
        _schema(
            "state_changes",
            ("ts", float),
            ("machine", str),
            ("old", str | None),
            ("new", str),
            ("cause", str),
        ),
        _schema(
            "downtime",
            ("event_id", str),
            ("machine", str),
            ("start", float),
            ("end", float | None),
            ("state", str),
            ("auto_reason", str | None),
            ("micro", int),
        ),
        _schema(
            "counts",
            ("ts", float),
            ("machine", str),
            ("good", int),
            ("scrap", int),
            ("ideal_cycle_s", float | None),
            ("startup", int),
            ("order_id", str | None),
            ("product", str | None),
            ("source", str),
            ("scrap_reason", str | None),
            ("by", str | None),
            ("comment", str | None),
        ),
        # The line's order facts (what it started, finished, changed over).
        _schema("orders", ("ts", float), ("order_id", str), ("product", str | None), ("action", str)),
        # What operators and the plant asked for. ``applied`` is the agent's own mark, set
        # after the row was written: not shipped.
        _schema(
            "order_requests",
            ("ts", float),
            ("order_id", str),
            ("product", str | None),
            ("action", str),
            ("quantity", int | None),
            ("due", float | None),
            ("by", str),
        ),
        _schema(
            "downtime_edits",
            ("ts", float),
            ("kind", str),
            ("event_id", str),
            ("reason", str | None),
            ("at", float | None),
            ("comment", str),
            ("by", str),
        ),
        _schema(
            "audit",
            ("ts", float),
            ("who", str),
            ("action", str),
            ("entity", str),
            ("old", str | None),
            ("new", str | None),
            ("why", str),
            ("meaning", str | None),
            ("prev", str),
            ("mac", str),
        ),
        _schema(
            "spc_points",
            ("ts", float),
            ("characteristic", str),
            ("value", float),
            ("dispersion", float | None),
            ("z", float | None),
            ("product", str | None),
            ("n", float | None),
        ),
        _schema(
            "spc_alarms",
            ("ts", float),
            ("characteristic", str),
            ("kind", str),
            ("rule", str),
            ("detail", str),
            ("value", float | None),
        ),
        _schema(
            "spc_acks",
            ("ts", float),
            ("characteristic", str),
            ("upto_alarm", int),
            ("by", str),
            ("comment", str),
            ("cause", str),
            ("action", str),
        ),
        _schema(
            "spc_limits",
            ("ts", float),
            ("characteristic", str),
            ("action", str),
            ("spec", str | None),
            ("by", str),
            ("reason", str),
            ("product", str | None),
        ),
        _schema(
            "produced",
            ("ts", float),
            ("lot", str),
            ("kind", str),
            ("order_id", str | None),
            ("product", str | None),
            ("machine", str | None),
            ("start", float),
            ("end", float),
            ("quantity", int | None),
            ("by", str),
        ),
        _schema(
            "consumed",
            ("ts", float),
            ("material_lot", str),
            ("material", str),
            ("order_id", str),
            ("quantity", float | None),
            ("unit", str),
            ("source", str),
            ("by", str),
        ),
        _schema(
            "inspections",
            ("ts", float),
            ("plan", str),
            ("order_id", str | None),
            ("product", str | None),
            ("parts_at", int),
            ("passed", int),
            ("items", str),
            ("by", str),
            ("comment", str),
        ),
        _schema("measurements", ("ts", float), ("characteristic", str), ("value", float), ("by", str)),
        # Every lineside stock movement (signed quantity: + in, - out).
        _schema(
            "stock_moves",
            ("ts", float),
            ("kind", str),
            ("location", str),
            ("material", str),
            ("lot", str),
            ("quantity", float),
            ("order_id", str | None),
            ("reason", str),
            ("by", str),
        ),
        # Genealogy: the produced lot ``child`` consumed the lot ``parent``.
        _schema(
            "lot_links",
            ("ts", float),
            ("parent", str),
            ("child", str),
            ("material", str),
            ("location", str),
            ("quantity", float | None),
            ("order_id", str | None),
        ),
        # Holds and their dispositions (the latest row of a hold_id is its state).
        _schema(
            "holds",
            ("ts", float),
            ("hold_id", str),
            ("target_kind", str),
            ("target", str),
            ("start", float | None),
            ("end", float | None),
            ("action", str),
            ("reason", str),
            ("source", str),
            ("corrective_action", str),
            ("by", str),
        ),
        # Inspections due and not done by the end of their grace or order (once each).
        _schema(
            "inspection_misses",
            ("ts", float),
            ("plan", str),
            ("order_id", str),
            ("product", str | None),
            ("due_at", float),
            ("reason", str),
        ),
        _schema(
            "maintenance_requests",
            ("ts", float),
            ("machine", str),
            ("priority", str),
            ("text", str),
            ("by", str),
        ),
        # Every step of every maintenance work order; the plant folds them as the line does.
        _schema("maint_events", ("ts", float), ("wo", str), ("kind", str), ("data", str), ("by", str)),
        _schema(
            "maint_stock",
            ("ts", float),
            ("part", str),
            ("kind", str),
            ("qty", float),
            ("wo", str | None),
            ("by", str),
            ("why", str),
        ),
    )
}


def schema(stream: str) -> StreamSchema:
    from edge.core.errors import StoreError

    try:
        return SCHEMAS[stream]
    except KeyError:
        raise StoreError(f"unknown stream {stream!r} (known: {', '.join(SCHEMAS)})") from None


def read_after(store: Store, stream: str, after: int, limit: int) -> list[tuple[Any, ...]]:
    """Up to ``limit`` rows of ``stream`` after sequence ``after``, in the schema's column
    order (``seq`` first)."""
    sql = schema(stream).select
    with store._lock:
        return store.db.execute(sql, (after, limit)).fetchall()


def last_seqs(store: Store) -> dict[str, int]:
    """The highest sequence ever written per stream (retention does not lower it)."""
    with store._lock:
        rows = store.db.execute("SELECT name, seq FROM sqlite_sequence").fetchall()
    known = dict(rows)
    return {s: int(known.get(s, 0)) for s in SCHEMAS}


__all__ = [
    "SCHEMAS",
    "Column",
    "StreamSchema",
    "last_seqs",
    "read_after",
    "schema",
]
