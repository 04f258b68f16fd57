"""Working time ↔ clock time (pure): how the solver makes work pause over breaks and
non-working days.

A resource's calendar (the line's own shift calendar, ``edge.logic.production.shifts``)
leaves working windows: its shift instances minus their breaks, none on non-working days.
Laid end to end they form the resource's *working-time axis*. The solver schedules every
operation on that axis, where it is a plain interval of its working length; mapped back,
the same interval covers the clock span from its first to its last working minute,
pausing over every break, night and weekend in between. The mapping is monotonic, so
intervals that do not overlap in working time do not overlap on the clock either, and
release dates, due dates, deadlines, tariff windows and rosters are mapped onto the axis
once, before solving. Resources with the same calendar share one axis (and so can share
crews and tools, which are counted on it).

All values are integer model units (``unit_s`` seconds) counted from the plan's origin.
"""

from __future__ import annotations

import bisect
import itertools
import math
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from edge.config.production import CalendarCfg, build_calendar

DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class WorkAxis:
    """Working windows ``[a, b)`` in clock units, sorted and disjoint."""

    def __init__(self, windows: tuple[tuple[int, int], ...]) -> None:
        self.windows = windows
        cum = [0]
        for a, b in windows:
            cum.append(cum[-1] + (b - a))
        self._cum = tuple(cum)
        self._starts = tuple(a for a, _ in windows)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, WorkAxis) and other.windows == self.windows

    def __hash__(self) -> int:
        return hash(self.windows)

    @property
    def total(self) -> int:
        """Working units on the whole axis."""
        return self._cum[-1]

    def work_at(self, t: int) -> int:
        """Working units in clock [0, t): where on the axis clock time ``t`` falls (a
        moment in a break maps to the end of the work before it)."""
        i = bisect.bisect_right(self._starts, t) - 1
        if i < 0:
            return 0
        a, b = self.windows[i]
        return int(self._cum[i] + min(t, b) - a)

    def clock_start(self, w: int) -> int:
        """Clock unit at which working unit ``w`` begins (``w == total``: the axis end)."""
        if w >= self.total:
            return self.windows[-1][1] if self.windows else 0
        i = bisect.bisect_right(self._cum, w) - 1
        return int(self.windows[i][0] + w - self._cum[i])

    def clock_end(self, w: int) -> int:
        """Clock unit at which working unit ``w - 1`` ends: an operation ending at ``w``
        ends here, not after the break that follows."""
        if w <= 0:
            return self.clock_start(0)
        return self.clock_start(w - 1) + 1

    def pieces(self, w0: int, w1: int) -> list[tuple[int, int]]:
        """Clock pieces ``[a, b)`` of working span [w0, w1)."""
        out = []
        for (a, b), c in zip(self.windows, self._cum, strict=False):
            lo, hi = max(w0, c), min(w1, c + b - a)
            if lo < hi:
                out.append((a + lo - c, a + hi - c))
        return out

    def to_work(self, a: int, b: int) -> tuple[int, int]:
        """Clock span [a, b) as a working span."""
        return self.work_at(a), self.work_at(b)


def always(span: int) -> WorkAxis:
    return WorkAxis(((0, span),))


def calendar_axis(cal: CalendarCfg, timezone: str, origin: float, unit_s: int, span: int) -> WorkAxis:
    """The working windows of ``cal`` over clock [0, span) units from ``origin``."""
    sc = build_calendar(cal, timezone)
    end = origin + span * unit_s
    raw: list[tuple[float, float]] = []
    for s in sc.instances_between(origin, end):
        t = s.start
        for bs, be in s.breaks:
            raw.append((t, bs))
            t = be
        raw.append((t, s.end))
    out: list[tuple[int, int]] = []
    for a, b in sorted(raw):
        ua = max(0, math.ceil((a - origin) / unit_s - 1e-9))
        ub = min(span, math.floor((b - origin) / unit_s + 1e-9))
        if ub <= ua:
            continue
        if out and ua <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], ub))
        else:
            out.append((ua, ub))
    return WorkAxis(tuple(out))


def shift_windows(
    cal: CalendarCfg, timezone: str, names: set[str], origin: float, unit_s: int, span: int
) -> list[tuple[int, int]]:
    """Clock windows (units) of the shift instances named ``names`` (whole shifts, breaks
    included: a roster says who is there, the calendar when the line works)."""
    sc = build_calendar(cal, timezone)
    out = []
    for s in sc.instances_between(origin, origin + span * unit_s):
        if s.name in names:
            a = max(0, math.floor((s.start - origin) / unit_s))
            b = min(span, math.ceil((s.end - origin) / unit_s))
            if b > a:
                out.append((a, b))
    return sorted(out)


def _hm(text: str) -> int:
    h, _, m = text.partition(":")
    return int(h) * 60 + int(m or 0)


def price_segments(
    windows: list[tuple[str, str, list[Any], float]],
    default: float,
    timezone: str,
    origin: float,
    unit_s: int,
    span: int,
) -> list[tuple[int, int, float]]:
    """Clock segments ``(a, b, price)`` covering [0, span) units: the first tariff window
    (``start``, ``end`` local HH:MM, ``days``, ``price``) containing a moment sets its
    price, ``default`` elsewhere."""
    tz = ZoneInfo(timezone)
    t0 = datetime.fromtimestamp(origin, tz)
    day = t0.date() - timedelta(days=1)
    stop = datetime.fromtimestamp(origin + span * unit_s, tz).date()
    marks: list[tuple[float, float, int]] = []  # (start s, end s, rank)
    while day <= stop:
        midnight = datetime(day.year, day.month, day.day, tzinfo=tz)
        for rank, (ws, we, days, _price) in enumerate(windows):
            if DAY_NAMES[day.weekday()] not in days:
                continue
            a = (midnight + timedelta(minutes=_hm(ws))).timestamp()
            b = (midnight + timedelta(minutes=_hm(we))).timestamp()
            if b > a:
                marks.append((a, b, rank))
        day += timedelta(days=1)
    cuts = {0, span}
    for a, b, _ in marks:
        for t in (a, b):
            u = round((t - origin) / unit_s)
            if 0 < u < span:
                cuts.add(u)
    points = sorted(cuts)
    segs: list[tuple[int, int, float]] = []
    for a, b in itertools.pairwise(points):
        mid = origin + (a + b) / 2 * unit_s
        ranks = [r for s, e, r in marks if s <= mid < e]
        price = windows[min(ranks)][3] if ranks else default
        if segs and segs[-1][2] == price and segs[-1][1] == a:
            segs[-1] = (segs[-1][0], b, price)
        else:
            segs.append((a, b, price))
    return segs


def on_axis(axis: WorkAxis, segments: list[tuple[int, int, float]]) -> list[tuple[int, int, float]]:
    """Clock segments with a value as working segments (empty ones dropped)."""
    out = []
    for a, b, v in segments:
        wa, wb = axis.to_work(a, b)
        if wb > wa:
            out.append((wa, wb, v))
    return out
