"""Time for the agent: timestamps that follow the wall clock, durations that follow the
monotonic clock, and steps of the wall clock noticed rather than believed.

:class:`AgentClock` hands out wall-clock timestamps computed as *anchor + monotonic
time elapsed since the anchor*. Between two checks they advance exactly as the
monotonic clock does, so a duration measured with them is a monotonic duration even
if someone sets the wall clock meanwhile. :meth:`AgentClock.check` (the agent calls it
every tick) compares the two clocks; when they disagree by more than ``step_s`` the
wall clock was stepped (by hand, by NTP at boot, a wrong time zone): the clock
re-anchors on the wall clock and reports the step, and the agent records it and cuts
what was open at that instant (``edge.logic.production.line.LineLogic.clock_step``).

Liveness across processes uses the monotonic clock too: on Linux ``CLOCK_MONOTONIC``
is one clock for every process of a boot, so a reader comparing its own
``time.monotonic()`` with the agent's recorded one (same :func:`boot_id`) measures the
age of a heartbeat without trusting the wall clock.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

#: A difference between wall and monotonic time beyond this is a step, not drift (NTP
#: slews both clocks alike; a tick reads both within microseconds).
STEP_S = 1.0

_BOOT_ID = Path("/proc/sys/kernel/random/boot_id")


def boot_id() -> str | None:
    """This boot's id (Linux), or None where there is none: then monotonic times of
    different processes cannot be compared."""
    try:
        return _BOOT_ID.read_text().strip() or None
    except OSError:
        return None


@dataclass(frozen=True)
class ClockStep:
    """The wall clock was stepped: ``before`` is the time the agent's clock had reached,
    ``after`` what the wall clock says now."""

    before: float
    after: float

    @property
    def step_s(self) -> float:
        return self.after - self.before


class AgentClock:
    """Wall-clock timestamps that advance with the monotonic clock (see the module)."""

    def __init__(
        self,
        *,
        wall: Callable[[], float] = time.time,
        mono: Callable[[], float] = time.monotonic,
        step_s: float = STEP_S,
    ) -> None:
        self.wall = wall
        self.mono = mono
        self.step_s = step_s
        self._base = wall()
        self._mono0 = mono()

    def now(self) -> float:
        """The current timestamp: the anchor plus the monotonic time since."""
        return self._base + (self.mono() - self._mono0)

    def check(self) -> ClockStep | None:
        """Compare with the wall clock; on a step re-anchor there and return it."""
        ours, wall = self.now(), self.wall()
        if abs(wall - ours) < self.step_s:
            return None
        self._base, self._mono0 = wall, self.mono()
        return ClockStep(ours, wall)
