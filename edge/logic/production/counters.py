"""PLC counters → count deltas that survive wrap-around and resets (pure).

A counter that goes down is either a wrap (it was near its maximum and is now near
zero) or a reset to zero (the PLC restarted or an operator cleared it). A wrap counts
the items across the boundary; a reset counts the items since zero. Neither can give a
negative or a phantom count: a jump larger than ``max_step`` is not counted at all and
is reported as suspicious instead.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class CounterTracker:
    bits: int = 32
    max_step: int = 100_000
    """Largest plausible increase between two readings; bigger jumps are not counted."""
    last: int | None = None
    suspicious: int = 0

    @property
    def modulus(self) -> int:
        return 1 << self.bits

    def update(self, value: int | float | None) -> int:
        """New raw counter value → items counted since the previous value (≥ 0)."""
        if value is None:
            return 0
        v = int(value)
        if v < 0:  # a signed PLC register read as negative: view it as the unsigned counter
            v %= self.modulus
        prev, self.last = self.last, v
        if prev is None:
            return 0
        if v >= prev:
            step = v - prev
        elif self.modulus - prev + v <= self.max_step:
            step = self.modulus - prev + v  # wrapped past the top
        else:
            step = v  # reset to zero, then counted up to v
        if step > self.max_step:
            self.suspicious += 1
            return 0
        return step
