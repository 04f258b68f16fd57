"""When a characteristic takes a subgroup (pure): every N parts, every T seconds of
running time, or on a trigger. Never every poll.

A rational subgroup is a few consecutive parts made under the same conditions, so that
the within-subgroup spread is the short-term noise and the differences between subgroups
show what the process does over time. Sampling every poll of a fast tag (the old
behaviour) put seconds of one machine state into the baseline: the limits came out far
too narrow and the line was stopped most of the time.

Only while the machine runs: a subgroup interrupted by a stop is discarded, and stopped
time does not make a timed subgroup due. Counter resets and wraps restart the part count
(no subgroup is taken on a jump).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Sampler:
    """Collects subgroups of ``size`` values. Feed it the machine's running state, its
    part counter and the characteristic's new values; ``value`` returns a complete
    subgroup (a list) when one is full.

    ``every_parts``/``every_s``: a due subgroup takes the next ``size`` new values.
    ``trigger``: :meth:`trigger` takes one value each time (``size`` triggers make one).
    """

    size: int
    every_parts: int | None = None
    every_s: float | None = None
    trigger_mode: bool = False
    running: bool = False
    _want: int = 0  # values still to take for the due subgroup
    _group: list[float] = field(default_factory=list)
    _last_count: int | None = None
    _parts: int = 0  # parts since the last subgroup was due
    _run_s: float = 0.0  # running seconds since the last subgroup was due
    _run_since: float | None = None

    def set_running(self, ts: float, running: bool) -> None:
        """The machine started or stopped. A stop discards a partial subgroup."""
        if running and not self.running:
            self._run_since = ts
        elif not running and self.running:
            if self._run_since is not None:
                self._run_s += max(0.0, ts - self._run_since)
            self._run_since = None
            self._want = 0
            self._group.clear()
        self.running = running

    def counter(self, ts: float, count: int) -> None:
        """The machine's part counter read ``count``."""
        last, self._last_count = self._last_count, count
        if last is None or count < last or count - last > 1_000_000:
            return  # first reading, reset or wrap: restart counting from here
        if not self.running or self.every_parts is None:
            return
        self._parts += count - last
        if self._parts >= self.every_parts and self._want == 0:
            self._parts = 0
            self._due()

    def tick(self, ts: float) -> None:
        """Time passed (every new sample calls it): a timed subgroup may become due."""
        if self.every_s is None or not self.running or self._run_since is None:
            return
        if self._run_s + (ts - self._run_since) >= self.every_s and self._want == 0:
            self._run_s, self._run_since = 0.0, ts
            self._due()

    def take_due(self) -> bool:
        """Whether a sample is due now (attribute charts: the counts are read at once);
        clears it."""
        due, self._want = self._want > 0, 0
        self._group.clear()
        return due

    def _due(self) -> None:
        self._want = self.size
        self._group.clear()

    def value(self, ts: float, v: float) -> list[float] | None:
        """A new value of the measured tag; the subgroup when it completes."""
        if self.trigger_mode or not self.running:
            return None
        self.tick(ts)
        if self._want == 0:
            return None
        return self._take(v)

    def trigger(self, ts: float, v: float) -> list[float] | None:
        """The trigger tag changed; ``v`` is the measured tag's value now."""
        if not self.trigger_mode or not self.running:
            return None
        if self._want == 0:
            self._due()
        return self._take(v)

    def _take(self, v: float) -> list[float] | None:
        self._group.append(v)
        self._want -= 1
        if self._want > 0:
            return None
        g = list(self._group)
        self._group.clear()
        return g
