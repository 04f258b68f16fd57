"""Meters of an asset (pure): running time and cycle counts, resumable after a restart.

A run meter adds the time during which the asset ran. What "ran" means comes from the
caller: a run signal (a boolean tag) or the machine's state (``running``). Time while
the run signal has no good value, or while the agent did not run, is not counted: a
meter undercounts rather than invents running hours. :meth:`RunMeter.snapshot` and
:meth:`RunMeter.restore` carry the total across a restart.

A cycle meter counts the advances of a PLC counter, surviving wrap-around at its width
and resets to zero (``edge.logic.production.counters.CounterTracker``, the same rules as
production counts). Cycles made while the agent was down are counted at the first
reading after the restart, if plausible (at most ``max_step``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from edge.logic.production.counters import CounterTracker


@dataclass
class RunMeter:
    """Seconds of running time."""

    seconds: float = 0.0
    running_since: float | None = None

    def set_running(self, ts: float, running: bool | None) -> None:
        """The asset runs (True), does not (False) or nobody knows (None) from ``ts`` on."""
        if self.running_since is not None:
            self.seconds += max(0.0, ts - self.running_since)
            self.running_since = None
        if running:
            self.running_since = ts

    def value(self, now: float) -> float:
        """Running seconds up to ``now``."""
        extra = max(0.0, now - self.running_since) if self.running_since is not None else 0.0
        return self.seconds + extra

    def snapshot(self, now: float) -> dict[str, Any]:
        return {"seconds": self.value(now)}

    def restore(self, data: dict[str, Any]) -> None:
        """Continue from a snapshot; the time since it (the agent was down) is not counted."""
        self.seconds = float(data.get("seconds", 0.0))
        self.running_since = None


@dataclass
class CycleMeter:
    """Cycles counted from a PLC counter, across wraps and resets."""

    bits: int = 32
    max_step: int = 10_000
    """Largest plausible advance between two readings (at most a quarter of the
    counter's range, so that a wrap and a reset can be told apart)."""
    total: int = 0
    tracker: CounterTracker = field(init=False)

    def __post_init__(self) -> None:
        self.tracker = CounterTracker(bits=self.bits, max_step=min(self.max_step, (1 << self.bits) // 4))

    def update(self, raw: Any) -> int:
        """A new raw counter value; returns the cycles it adds."""
        try:
            step = self.tracker.update(raw)
        except (TypeError, ValueError):
            return 0
        self.total += step
        return step

    def value(self, now: float = 0.0) -> float:
        return float(self.total)

    def snapshot(self, now: float) -> dict[str, Any]:
        return {"total": self.total, "last": self.tracker.last}

    def restore(self, data: dict[str, Any]) -> None:
        self.total = int(data.get("total", 0))
        last = data.get("last")
        self.tracker.last = int(last) if last is not None else None
