"""Strict readers of text typed or imported by people: whole numbers, decimal numbers,
times and identifiers. One set for every way in (CLI arguments, terminal forms, ERP
imports, commands from the plant), so that one rule holds everywhere.

What Python's own ``int``/``float`` accept and these refuse: NaN and infinities,
overflow (``1e400``, a count beyond 64 bits), digit-group underscores (``2_0``),
non-ASCII digits (fullwidth ``２０``, Arabic-Indic ``٣``) and surrounding junk. Each
reader raises ``ValueError`` with a message that does not name the field: the caller
knows the field (``--quantity``, ``item 'weight'``) and puts it in front.
"""

from __future__ import annotations

import math
import re
import time
from datetime import datetime
from zoneinfo import ZoneInfo

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
#: The range of epoch seconds a time may take: 1970 up to the end of year 9999 (what
#: ``datetime`` can show). Anything outside is a typing error, not a date.
EPOCH_MIN, EPOCH_MAX = 0.0, 253_402_300_799.0
#: Longest identifier (work order, lot, serial, material, product, characteristic …).
ID_MAX = 64
#: Characters an identifier may not contain: MQTT wildcards and the topic separator.
ID_FORBIDDEN = frozenset("+#/")

_INT = re.compile(r"[+-]?[0-9]+", re.ASCII)
_FLOAT = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?", re.ASCII)
_REL = re.compile(r"-([0-9]+(?:\.[0-9]+)?)([smhd])", re.ASCII)
_REL_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_int(text: str, *, lo: int = INT64_MIN, hi: int = INT64_MAX) -> int:
    """A whole number in ASCII digits with an optional sign, within ``lo``..``hi``."""
    t = text.strip() if isinstance(text, str) else text
    if not isinstance(t, str) or not _INT.fullmatch(t):
        raise ValueError(f"{text!r} is not a whole number (digits 0-9, optionally signed)")
    if len(t) > 20:  # int() of a huge digit string is slow and the value out of range anyway
        raise ValueError(f"{_short(t)} is out of range {lo}..{hi}")
    v = int(t)
    if not lo <= v <= hi:
        raise ValueError(f"{v} is out of range {lo}..{hi}")
    return v


def parse_float(text: str, *, lo: float | None = None, hi: float | None = None) -> float:
    """A finite decimal number in ASCII (``12``, ``-0.5``, ``1.2e3``), within ``lo``..``hi``."""
    t = text.strip() if isinstance(text, str) else text
    if not isinstance(t, str) or not _FLOAT.fullmatch(t):
        raise ValueError(f"{_short(text)} is not a number (digits 0-9, '.', an optional exponent)")
    v = float(t)
    if not math.isfinite(v):
        raise ValueError(f"{_short(t)} is out of range (not a finite number)")
    return check_range(v, lo, hi)


def check_number(value: object, *, lo: float | None = None, hi: float | None = None) -> float:
    """A number already parsed (JSON, a model): finite, not a boolean, within range."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{_short(value)} is not a number")
    v = float(value)
    if not math.isfinite(v):
        raise ValueError(f"{value!r} is not a finite number")
    return check_range(v, lo, hi)


def check_whole(value: object, *, lo: int = INT64_MIN, hi: int = INT64_MAX) -> int:
    """A whole number already parsed (JSON, a model): an int, not a bool or ``5.7``."""
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, float) and math.isfinite(value) and value == int(value):
            value = int(value)  # 5.0 from JSON is the whole number 5
        else:
            raise ValueError(f"{_short(value)} is not a whole number")
    if not lo <= value <= hi:
        raise ValueError(f"{value} is out of range {lo}..{hi}")
    return value


def check_range(v: float, lo: float | None, hi: float | None) -> float:
    if (lo is not None and v < lo) or (hi is not None and v > hi):
        span = f"{'' if lo is None else f'{lo:g}'}..{'' if hi is None else f'{hi:g}'}"
        raise ValueError(f"{v:g} is out of range {span}")
    return v


def parse_time(text: str, tz: str, *, now: float | None = None) -> float:
    """Epoch seconds from ISO 8601 (naive = in ``tz``), epoch seconds, or a time
    relative to now (``-15m``, ``-2h``, ``-1d``); between 1970 and the year 9999."""
    t = text.strip() if isinstance(text, str) else ""
    m = _REL.fullmatch(t)
    if m:
        base = now if now is not None else time.time()
        return check_time(base - float(m.group(1)) * _REL_UNIT[m.group(2)])
    if _FLOAT.fullmatch(t):
        return check_time(parse_float(t))
    if not t.isascii():
        raise ValueError(f"cannot read time {_short(text)}: use ASCII digits")
    try:
        dt = datetime.fromisoformat(t.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(
            f"cannot read time {_short(text)}: use ISO 8601 (2026-11-21T08:00), epoch seconds or -15m/-2h/-1d"
        ) from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=ZoneInfo(tz))
    try:
        return check_time(dt.timestamp())
    except OverflowError:
        raise ValueError(f"{_short(text)} is out of range") from None


def check_time(v: float) -> float:
    """An epoch time between 1970 and the end of the year 9999."""
    if not math.isfinite(v) or not EPOCH_MIN <= v <= EPOCH_MAX:
        raise ValueError(f"{v!r} is not a time between 1970 and 9999")
    return v


def check_id(value: object) -> str:
    """An identifier (work order, lot, serial, material, product …) as given: printable,
    1..64 characters, no white space, no ``+``, ``#`` or ``/`` (MQTT wildcards and the
    topic separator), no control or formatting characters (ESC, newline, bidi marks)."""
    if not isinstance(value, str):
        raise ValueError(f"{_short(value)} is not text")
    if not value:
        raise ValueError("empty (an id needs 1 to 64 characters)")
    if len(value) > ID_MAX:
        raise ValueError(f"{len(value)} characters is too long (at most {ID_MAX})")
    for ch in value:
        if ch in ID_FORBIDDEN:
            raise ValueError(f"{_short(value)} contains {ch!r} (not allowed in ids: + # /)")
        if ch.isspace():
            raise ValueError(f"{_short(value)} contains white space")
        if not ch.isprintable():
            raise ValueError(f"{_short(value)} contains the control character U+{ord(ch):04X}")
    return value


def check_text(value: object, *, max_len: int = 2000) -> str:
    """Free text (a comment, a description, a unit): at most ``max_len`` characters and no
    control or formatting characters but line breaks and tabs (an ESC sequence in a
    comment would repaint the terminal of whoever reads it later)."""
    if not isinstance(value, str):
        raise ValueError(f"{_short(value)} is not text")
    if len(value) > max_len:
        raise ValueError(f"{len(value)} characters is too long (at most {max_len})")
    for ch in value:
        if not ch.isprintable() and ch not in "\n\t":
            raise ValueError(f"contains the control character U+{ord(ch):04X}")
    return value


def parse_id(text: str) -> str:
    """An identifier typed by a person: surrounding white space is dropped, the rest is
    :func:`check_id`."""
    return check_id(text.strip() if isinstance(text, str) else text)


def _short(v: object, n: int = 40) -> str:
    """A value for a message: repr, cut to ``n`` characters (never 100k of input)."""
    r = repr(v)
    return r if len(r) <= n else r[: n - 5] + "…" + r[-4:]
