"""The batch codec: the uplink's hot-path encoder (records already JSON text) and the
receiver's decoder that keeps each record's text as it arrived."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from pydantic import ValidationError

from sync.protocol.payloads import (
    Batch,
    BatchHead,
    LineRef,
    PayloadError,
    _check_batch,
    _payload_error,
    decode,
)
from sync.protocol.topics import VERSION

_RECORDS_KEY = re.compile(r'"records"\s*:\s*\[')


def _no_constant(text: str) -> float:
    raise ValueError(f"{text} is not a JSON number")


#: The records scanner: json's C scanner, its floats parsed in C. It refuses NaN and
#: Infinity as it reads (``parse_constant``, called only for those words); numbers that
#: overflow to infinity (1e999) are looked for once per batch (``_MAYBE_HUGE``). A payload
#: holding either takes the plain path, which refuses it with its field named.
_SCAN: Callable[[str, int], tuple[Any, int]] = json.JSONDecoder(parse_constant=_no_constant).scan_once  # type: ignore[attr-defined]
#: A JSON number can only overflow a float with an exponent of three digits or more, or
#: with 200 digits or more before it (with |exponent| ≤ 99 and fewer than 200 digits it
#: stays below 10^298). Text inside strings may match too: then the plain path judges.
#: Cheap searches: the exponent ones start with a literal (found in C, not tried at
#: every position as a character class would be), the digits one runs only over a batch
#: holding a record of 200 characters or more.
_BIG_EXPONENT = (re.compile(r"e\+?[0-9]{3}"), re.compile(r"E\+?[0-9]{3}"))
_LONG_DIGITS = re.compile(r"[0-9]{200}")
_WS = " \t\n\r"
#: One encoder reused: json.dumps with arguments builds a new encoder per call.
_COMPACT = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


def record_texts(batch: Batch) -> list[str]:
    """Each record of a parsed batch as compact JSON text (what the receiver stores)."""
    return [_COMPACT(r) for r in batch.records]


def decode_batch(data: bytes | str) -> tuple[Batch, list[str]]:
    """A batch and each record's JSON text, for a receiver that stores records as text.

    Fast path: the records are scanned once, which yields each record and its text as
    it arrived (no second encoding), and only the small envelope goes through pydantic;
    the batch is then validated exactly as :func:`decode` would. Anything unusual about
    the layout (no or a repeated ``records`` key, an element that is not an object,
    text that is not UTF-8) takes the plain path: ``decode`` and encode each record.
    Both paths accept and refuse the same payloads with the same PayloadError."""
    fast = _scan_batch(data)
    if fast is not None:
        head, records, texts = fast
        try:
            h = BatchHead.model_validate_json(head)
        except ValidationError as e:
            raise _payload_error(Batch, e) from None
        try:
            _check_batch(h, records)
        except ValueError as e:
            raise PayloadError("schema", f"Batch: (payload): {e}") from None
        return Batch.model_construct(**dict(h), records=records), texts
    b = decode(Batch, data)
    return b, record_texts(b)


def _scan_batch(data: bytes | str) -> tuple[str, list[dict[str, Any]], list[str]] | None:
    try:
        text = data.decode() if isinstance(data, bytes) else data
    except UnicodeDecodeError:
        return None
    m = _RECORDS_KEY.search(text)
    if m is None:
        return None
    if any(big.search(text) is not None for big in _BIG_EXPONENT):
        return None
    pos, records, texts = m.end(), [], []
    scan = _SCAN
    try:
        while text[pos] in _WS:
            pos += 1
        if text[pos] == "]":
            return None
        while True:
            obj, end = scan(text, pos)
            if not isinstance(obj, dict):
                return None
            records.append(obj)
            texts.append(text[pos:end])
            pos = end
            while text[pos] in _WS:
                pos += 1
            c = text[pos]
            pos += 1
            if c == "]":
                break
            if c != ",":
                return None
            while text[pos] in _WS:
                pos += 1
    except (ValueError, IndexError, StopIteration):
        return None
    if max(map(len, texts)) >= 200 and _LONG_DIGITS.search(text, m.end(), pos) is not None:
        return None
    # The envelope without the records key (and the comma that joined it).
    left, right = text[: m.start()].rstrip(), text[pos:].lstrip()
    if left.endswith(","):
        left = left[:-1]
    elif right.startswith(","):
        right = right[1:]
    head = left + right
    if _RECORDS_KEY.search(head) is not None:  # a second "records" key: let pydantic judge
        return None
    return head, records, texts


def encode_batch(
    line: LineRef,
    stream: str,
    after_seq: int,
    records: list[str],
    seqs: tuple[int, int],
    sent_at: float,
    incarnation: str = "",
) -> bytes:
    """A :class:`Batch` from records already encoded as JSON objects (the uplink's hot
    path: no model instances). ``seqs`` is (first, last). Decodes with ``Batch``."""
    inc = f'"incarnation":{_q(incarnation)},' if incarnation else ""
    head = (
        f'{{"v":{VERSION},"line":{{"enterprise":{_q(line.enterprise)},"site":{_q(line.site)},'
        f'"area":{_q(line.area)},"line":{_q(line.line)}}},"stream":{_q(stream)},{inc}'
        f'"after_seq":{after_seq},"first_seq":{seqs[0]},"last_seq":{seqs[1]},"sent_at":{sent_at!r},"records":['
    )
    return (head + ",".join(records) + "]}").encode()


def _q(s: str) -> str:
    return json.dumps(s)
