"""The agent's clock (issue 13, finding 11): timestamps advance with the monotonic clock,
and a step of the wall clock is noticed and reported once."""

from __future__ import annotations

from edge.core.clock import AgentClock, boot_id

T0 = 1_790_000_000.0


class FakeClocks:
    """A wall clock the test sets and a monotonic clock that only moves forward."""

    def __init__(self) -> None:
        self.mono_t = 100.0
        self.offset = 0.0

    def mono(self) -> float:
        return self.mono_t

    def wall(self) -> float:
        return T0 + self.mono_t + self.offset

    def advance(self, s: float) -> None:
        self.mono_t += s


def test_agent_clock_follows_monotonic_time_and_reports_a_step_once() -> None:
    c = FakeClocks()
    clock = AgentClock(wall=c.wall, mono=c.mono)
    t = clock.now()
    c.advance(10)
    assert clock.now() - t == 10 and clock.check() is None
    c.offset = -3600.0  # somebody sets the wall clock back an hour
    c.advance(5)
    assert clock.now() - t == 15  # durations keep following the monotonic clock
    step = clock.check()
    assert step is not None and round(step.step_s) == -3600 and step.before == t + 15
    assert clock.now() == c.wall() and clock.check() is None  # re-anchored; reported once
    c.offset += 0.5  # NTP-sized differences are not steps
    assert clock.check() is None


def test_this_machine_has_a_boot_id() -> None:
    """Linux gives one; liveness across processes compares monotonic times only then."""
    b = boot_id()
    assert b is None or len(b) >= 16
