"""Refusals of operator input: the error every use case raises, naming the field, and the
checks they share. A refused input writes nothing.

The checks wrap the strict readers of ``edge.core.parse`` (one rule for the CLI, the
terminal's forms, the use cases and commands from the plant) and put the field's name in
front of their message: ``quantity: 'nan' is not a whole number``.
"""

from __future__ import annotations

from edge.core.errors import LinesideError
from edge.core.parse import (
    INT64_MAX,
    INT64_MIN,
    check_id,
    check_number,
    check_text,
    check_time,
    check_whole,
    parse_float,
    parse_id,
    parse_int,
)


class OperatorInputError(LinesideError):
    """Operator input refused; the message names the field and the problem."""

    exit_code = 2


def require(value: str | None, field: str) -> str:
    """The stripped text of a required operator field, or a refusal naming the field.
    Control characters (ESC sequences that would repaint a terminal showing it later) are
    refused; line breaks and tabs are text."""
    if value is None or not value.strip():
        raise OperatorInputError(f"{field}: required")
    return plain_text(value.strip(), field)


def plain_text(value: str, field: str, *, max_len: int = 2000) -> str:
    """Free text (a comment, a unit, a description): at most ``max_len`` characters and
    no control characters but line breaks and tabs (``edge.core.parse.check_text``)."""
    try:
        return check_text(value, max_len=max_len)
    except ValueError as e:
        raise OperatorInputError(f"{field}: {e}") from None


def ident(value: object, field: str) -> str:
    """An identifier (work order, lot, serial, material, product …) typed or sent in:
    printable, 1..64 characters, no white space, no ``+ # /``, no control characters
    (``edge.core.parse.check_id``); surrounding white space of typed text is dropped."""
    try:
        return parse_id(value) if isinstance(value, str) else check_id(value)  # type: ignore[arg-type]
    except ValueError as e:
        raise OperatorInputError(f"{field}: {e}") from None


def optional_ident(value: object, field: str) -> str | None:
    """:func:`ident`, or None for a missing (None or empty) value."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    return ident(value, field)


def number(value: object, field: str, *, lo: float | None = None, hi: float | None = None) -> float:
    """A finite number, typed (ASCII digits, no ``_``) or already parsed (not a bool)."""
    try:
        return (
            parse_float(value, lo=lo, hi=hi) if isinstance(value, str) else check_number(value, lo=lo, hi=hi)
        )
    except ValueError as e:
        raise OperatorInputError(f"{field}: {e}") from None


def whole(value: object, field: str, *, lo: int = INT64_MIN, hi: int = INT64_MAX) -> int:
    """A whole number, typed (ASCII digits, no ``_``) or already parsed (an int, not a
    bool and not 5.7)."""
    try:
        return parse_int(value, lo=lo, hi=hi) if isinstance(value, str) else check_whole(value, lo=lo, hi=hi)
    except ValueError as e:
        raise OperatorInputError(f"{field}: {e}") from None


def when(value: object, field: str) -> float:
    """A point in time as epoch seconds: finite, between 1970 and the year 9999."""
    try:
        return check_time(check_number(value))
    except ValueError as e:
        raise OperatorInputError(f"{field}: {e}") from None
