"""Backflush quantities and first-in-first-out allocation (pure).

A backflushed component is consumed when parts are counted, not when an operator
books it: each good or scrap part used ``quantity`` of the component, and the BOM's
*scrap allowance* adds the share of the component lost in the process itself (cut-off,
purge, set-up waste). The textbook form is SAP's *component scrap*: "the required
quantity of a component is increased by the component scrap percentage" — an assembly
needing 200 pieces of a component with 10 % component scrap requires 220
(SAP Help, *Component Scrap*, PP-BD-BOM). Here::

    consumed = (good + scrap) × quantity_per_unit × (1 + scrap_allowance)

The parts scrapped on the line are counted in ``scrap`` already; the allowance covers
only what never became a part.

The amount is taken from the lots loaded at the component's feeder, oldest first
(first in, first out): a lot is used up before the next staged one is touched. When
the feeder holds less than required, the remainder is reported as ``short`` rather
than driving a lot's stock negative: the line keeps running and the shortfall is
visible (a stock count corrects it).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

#: Below this a remaining quantity is rounding noise, not stock.
EPS = 1e-9


def backflush_quantity(good: int, scrap: int, per_unit: float, scrap_allowance: float = 0.0) -> float:
    """The component quantity used by ``good`` + ``scrap`` parts.

    >>> backflush_quantity(200, 0, 1.0, 0.10)  # SAP Help, Component Scrap: 200 → 220
    220.00000000000003
    """
    if good < 0 or scrap < 0:
        raise ValueError("good and scrap counts must not be negative")
    if per_unit < 0 or scrap_allowance < 0:
        raise ValueError("quantity per unit and scrap allowance must not be negative")
    return (good + scrap) * per_unit * (1.0 + scrap_allowance)


@dataclass(frozen=True)
class StagedLot:
    """A lot on hand at a location: ``since`` orders lots first in, first out."""

    lot: str
    quantity: float
    since: float


@dataclass(frozen=True)
class Take:
    """Quantity taken from one lot."""

    lot: str
    quantity: float


@dataclass(frozen=True)
class Allocation:
    takes: tuple[Take, ...]
    """What is taken from which lot, in the order taken."""
    short: float
    """What the staged lots could not cover."""


def allocate_fifo(staged: Sequence[StagedLot], required: float) -> Allocation:
    """Take ``required`` from ``staged`` lots, oldest first (ties: by lot id, so the
    result never depends on the order the caller listed them in)."""
    if required < 0:
        raise ValueError("required quantity must not be negative")
    left = required
    takes: list[Take] = []
    for s in sorted(staged, key=lambda s: (s.since, s.lot)):
        if left <= EPS:
            break
        if s.quantity <= EPS:
            continue
        q = min(s.quantity, left)
        takes.append(Take(s.lot, q))
        left -= q
    return Allocation(tuple(takes), left if left > EPS else 0.0)
