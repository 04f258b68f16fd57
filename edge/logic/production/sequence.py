"""The line's released sequence (pure): which order comes next, which the line may pick
on its own when the planned one cannot start, and how the orders keep to their plan.

``next_feasible`` is the rule a plan carries down: the next order is the first of the
sequence that has not started; when it cannot start (its material is not staged, its
tool is in maintenance, a first-off hold), the first order after it that can.
"""

from __future__ import annotations

from dataclasses import dataclass

#: Within this many minutes of its plan, a start is on time.
ON_TIME_MIN = 5.0


@dataclass(frozen=True)
class Candidate:
    order: str
    state: str
    """Dispatch state: released (not started), running, paused, complete, cancelled."""
    blocked: str | None = None
    """Why it cannot start now, or None."""


@dataclass(frozen=True)
class NextOrder:
    planned: str | None
    """The order the plan says is next."""
    chosen: str | None
    """The order that can start: ``planned`` unless it is blocked; None if none can."""
    skipped: tuple[tuple[str, str], ...] = ()
    """(order, reason) passed over, in sequence."""

    @property
    def resequenced(self) -> bool:
        return self.planned is not None and self.chosen != self.planned


def next_order(sequence: list[Candidate]) -> NextOrder:
    """The next order by the plan's rule (``next_feasible``); nothing while an order of
    the sequence runs or is paused (the line is busy with it)."""
    if any(c.state in ("running", "paused") for c in sequence):
        return NextOrder(None, None)
    pending = [c for c in sequence if c.state == "released"]
    if not pending:
        return NextOrder(None, None)
    skipped: list[tuple[str, str]] = []
    for c in pending:
        if c.blocked is None:
            return NextOrder(pending[0].order, c.order, tuple(skipped))
        skipped.append((c.order, c.blocked))
    return NextOrder(pending[0].order, None, tuple(skipped))


def adherence(planned_start: float, actual_start: float | None, now: float) -> tuple[float | None, str]:
    """(start delay in minutes, a word for it): against the actual start once it started,
    against now while it waits past its planned start."""
    if actual_start is not None:
        delay = (actual_start - planned_start) / 60
        if abs(delay) <= ON_TIME_MIN:
            return round(delay, 1), "on time"
        return round(delay, 1), f"started {'late' if delay > 0 else 'early'} {abs(delay):.0f} min"
    if now > planned_start + ON_TIME_MIN * 60:
        delay = (now - planned_start) / 60
        return round(delay, 1), f"waiting, {delay:.0f} min behind"
    return None, "planned"
