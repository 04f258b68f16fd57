"""The uplink's record source: rows of the line's streams (through ``edge.services``)
encoded once into the JSON text of their wire records (``sync.protocol.records``).

No model instances on this path: samples are written with one f-string each (the
drain of a backlog is bound by it), other streams with one reused JSON encoder. Before
anything is read, the store's record schema of every stream is compared with the
protocol's; a difference (a renamed column, a field added on one side only) stops the
uplink with a message instead of shipping a different wire format.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from edge.logic.model import Quality
from edge.services.uplink import UplinkFeed
from sync.protocol import fields

#: The line's quality codes by name (``edge.logic.model.Quality``).
QUALITY_NAMES = {int(q): q.label for q in Quality}
#: One encoder reused (json.dumps with options builds a new encoder per call). It refuses
#: NaN and infinities (the aggregator refuses a batch holding one): those go as strings.
_COMPACT = json.JSONEncoder(separators=(",", ":"), allow_nan=False).encode
#: What the samples encoder below writes, field by field, and how it converts each.
SAMPLE_FIELDS = ("seq", "tag", "ts", "ts_recv", "value", "quality")
SAMPLE_VIAS = ("", "tag_name", "", "", "tagged_value", "quality_name")

Encoder = Callable[[list[tuple[Any, ...]]], list[tuple[int, str]]]


class SchemaMismatch(RuntimeError):
    """The line's stream schema and the wire protocol's disagree."""


class StoreSource:
    """Implements the engine's ``RecordSource`` over an :class:`UplinkFeed`."""

    def __init__(self, feed: UplinkFeed) -> None:
        self.feed = feed
        self._tags: dict[int, tuple[str, str]] = {}
        """tag id → (name as JSON, type)."""
        problems = []
        self._encoders: dict[str, Encoder] = {}
        for stream in feed.streams:
            try:
                self._encoders[stream] = self._encoder(stream)
            except SchemaMismatch as e:
                problems.append(str(e))
        if problems:
            raise SchemaMismatch("; ".join(problems))

    def _encoder(self, stream: str) -> Encoder:
        try:
            wire = fields(stream)
        except ValueError as e:
            raise SchemaMismatch(str(e)) from None
        have = self.feed.wire_fields(stream)
        if have != wire:
            raise SchemaMismatch(
                f"{stream}: the store ships fields {list(have)}, the protocol's record has {list(wire)}"
            )
        vias = self.feed.vias(stream)
        if stream == "samples":
            if (have, vias) != (SAMPLE_FIELDS, SAMPLE_VIAS):
                raise SchemaMismatch(f"samples: the encoder writes {SAMPLE_FIELDS}, the store ships {have}")
            return self._encode_samples
        if any(vias):
            raise SchemaMismatch(f"{stream}: no encoder converts {[v for v in vias if v]}")
        names = wire
        dumps = _COMPACT

        def encode(rows: list[tuple[Any, ...]]) -> list[tuple[int, str]]:
            try:
                return [(r[0], dumps(dict(zip(names, r, strict=True)))) for r in rows]
            except ValueError:  # a NaN or an infinity: as "nan"/"inf", like a sample's value
                return [(r[0], dumps(dict(zip(names, map(_finite_or_text, r), strict=True)))) for r in rows]

        return encode

    def read(self, stream: str, after: int, limit: int) -> list[tuple[int, str]]:
        rows = self.feed.rows(stream, after, limit)
        return self._encoders[stream](rows) if rows else []

    def _encode_samples(self, rows: list[tuple[Any, ...]]) -> list[tuple[int, str]]:
        tags = self._tags
        qnames = QUALITY_NAMES
        out = []
        for seq, tag_id, ts, ts_recv, value, quality in rows:
            tag = tags.get(tag_id)
            if tag is None:  # a tag registered since the last look
                tags.update((i, (json.dumps(n), t)) for i, (n, t) in self.feed.tags().items())
                tag = tags.setdefault(tag_id, (json.dumps(f"#{tag_id}"), ""))
            tj, type_ = tag
            # A finite float (most values) written inline as json writes it: no call.
            vj = repr(value) if value.__class__ is float and value - value == 0 else value_json(value, type_)
            out.append(
                (
                    seq,
                    f'{{"seq":{seq},"tag":{tj},"ts":{ts!r},"ts_recv":{ts_recv!r},"value":{vj},'
                    f'"quality":"{qnames.get(quality, quality)}"}}',
                )
            )
        return out


def _finite_or_text(v: Any) -> Any:
    return repr(v) if type(v) is float and v - v != 0 else v


def value_json(v: Any, type_: str) -> str:
    """A stored value as JSON: arrays as stored, NaN and infinities as the strings
    "nan"/"inf" (JSON has no such numbers), booleans as booleans."""
    if v.__class__ is float and v - v == 0:  # the common case: a finite float, as json writes it
        return float.__repr__(v)
    if v is None:
        return "null"
    if type_ == "bool" and isinstance(v, int):
        return "true" if v else "false"
    if isinstance(v, str) and type_ != "string" and v.startswith("["):
        if "NaN" in v or "Infinity" in v:  # an array holding one: as "nan"/"inf" strings
            return json.dumps([_finite_or_text(x) for x in json.loads(v)])
        return v
    return json.dumps(v)
