"""Refusals of operator input: the error every use case raises, naming the field, and the
checks they share. A refused input writes nothing."""

from __future__ import annotations

from edge.core.errors import LinesideError


class OperatorInputError(LinesideError):
    """Operator input refused; the message names the field and the problem."""

    exit_code = 2


def require(value: str | None, field: str) -> str:
    """The stripped text of a required operator field, or a refusal naming the field."""
    if value is None or not value.strip():
        raise OperatorInputError(f"{field}: required")
    return value.strip()
