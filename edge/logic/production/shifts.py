"""Shift calendar in the plant's local time zone, DST-correct (pure).

Shifts are defined in local wall-clock time (``06:00``–``14:00``, a night shift may end
the next day); breaks are planned stops inside a shift; non-working days have no
shifts. Instances are returned as absolute UTC timestamps, so a shift that spans a DST
change is an hour shorter or longer, as it is on the shop floor.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True)
class Break:
    start: time
    minutes: float


@dataclass(frozen=True)
class ShiftPattern:
    name: str
    start: time
    end: time
    days: frozenset[str] = frozenset(DAYS[:5])
    """Weekdays on which the shift *starts*."""
    breaks: tuple[Break, ...] = ()


@dataclass(frozen=True)
class ShiftInstance:
    name: str
    day: date
    start: float
    end: float
    breaks: tuple[tuple[float, float], ...] = ()

    @property
    def key(self) -> str:
        return f"{self.day.isoformat()}/{self.name}"

    @property
    def planned_break_s(self) -> float:
        return sum(e - s for s, e in self.breaks)


@dataclass
class ShiftCalendar:
    timezone: str
    patterns: list[ShiftPattern]
    non_working: frozenset[date] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        self.tz = ZoneInfo(self.timezone)

    def _ts(self, d: date, t: time) -> float:
        return datetime.combine(d, t, tzinfo=self.tz).timestamp()

    def instances_on(self, d: date) -> list[ShiftInstance]:
        if d in self.non_working:
            return []
        out = []
        for p in self.patterns:
            if DAYS[d.weekday()] not in p.days:
                continue
            end_day = d if p.end > p.start else d + timedelta(days=1)
            start, end = self._ts(d, p.start), self._ts(end_day, p.end)
            breaks = []
            for b in p.breaks:
                b_day = d if b.start >= p.start else end_day
                bs = self._ts(b_day, b.start)
                be = min(end, bs + b.minutes * 60)
                if start <= bs < end:
                    breaks.append((bs, be))
            out.append(ShiftInstance(p.name, d, start, end, tuple(sorted(breaks))))
        return sorted(out, key=lambda s: s.start)

    def instances_between(self, t0: float, t1: float) -> list[ShiftInstance]:
        """Shift instances overlapping [t0, t1)."""
        d0 = datetime.fromtimestamp(t0, self.tz).date() - timedelta(days=1)
        d1 = datetime.fromtimestamp(t1, self.tz).date()
        out: list[ShiftInstance] = []
        d = d0
        while d <= d1:
            out.extend(s for s in self.instances_on(d) if s.end > t0 and s.start < t1)
            d += timedelta(days=1)
        return out

    def shift_at(self, t: float) -> ShiftInstance | None:
        for s in self.instances_between(t, t + 1e-6):
            if s.start <= t < s.end:
                return s
        return None

    def find(self, key: str) -> ShiftInstance:
        """``YYYY-MM-DD/NAME`` → the shift instance (KeyError if there is none)."""
        day_s, _, name = key.partition("/")
        d = date.fromisoformat(day_s)
        for s in self.instances_on(d):
            if s.name == name:
                return s
        raise KeyError(key)


def split_at(start: float, end: float, boundaries: list[float]) -> list[tuple[float, float]]:
    """Cut [start, end) at every boundary inside it; the pieces add up to the whole."""
    cuts = sorted(b for b in set(boundaries) if start < b < end)
    points = [start, *cuts, end]
    return [(a, b) for a, b in itertools.pairwise(points) if b > a] or (
        [(start, end)] if end == start else []
    )
