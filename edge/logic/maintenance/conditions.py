"""Condition watches on a tag (pure): a threshold held for a duration, and a linear
trend projected to cross a limit within a horizon.

Both fire once per excursion and re-arm only when the condition has cleared, so a
value hovering at the limit does not open an order per sample.

:class:`Hold` — the value stays above (``op="above"``) or below a limit for ``for_s``
seconds. It fires at the exact moment the hold completed (``since + for_s``), noticed
at the next sample or tick. A bad value (no data) breaks the hold: no data is no
evidence of a condition.

:class:`Trend` — an ordinary least-squares line through the good samples of the last
``window_s`` seconds (at least ``min_points`` of them). When its slope heads toward the
limit and the line reaches the limit within ``horizon_s`` of now, it fires, with the
projected crossing time. It re-arms when the projection no longer reaches the limit
within twice the horizon (hysteresis). A simple linear fit, on purpose: wear such as a
rising motor current or vibration is close to linear over days; a fit that curves is
out of scope. Sums are kept incrementally (O(1) per sample), with times relative to the
first sample so the squares do not lose precision.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Literal

Direction = Literal["above", "below"]


def beyond(value: float, limit: float, op: Direction) -> bool:
    return value > limit if op == "above" else value < limit


@dataclass(frozen=True)
class Fired:
    """A condition that fired: when, and what was seen."""

    ts: float
    detail: str
    value: float


@dataclass
class Hold:
    limit: float
    for_s: float
    op: Direction = "above"
    since: float | None = None
    armed: bool = True
    last: float | None = None

    def _check(self, now: float) -> Fired | None:
        if self.armed and self.since is not None and now - self.since >= self.for_s:
            self.armed = False
            at = self.since + self.for_s
            v = self.last if self.last is not None else self.limit
            return Fired(at, f"{self.op} {self.limit:g} for {self.for_s:g} s (now {v:g})", v)
        return None

    def update(self, ts: float, value: float | None) -> Fired | None:
        since = self.since
        # a hold that completed before this sample
        fired = self._check(ts) if since is not None and ts - since >= self.for_s else None
        if value is None:
            self.since, self.last = None, None
            return fired
        self.last = value
        if (value > self.limit) if self.op == "above" else (value < self.limit):
            if since is None:
                self.since = ts
                if self.for_s <= 0:
                    return fired or self._check(ts)
        else:
            self.since = None
            self.armed = True
        return fired

    def tick(self, now: float) -> Fired | None:
        return self._check(now)


@dataclass
class Trend:
    limit: float
    horizon_s: float
    window_s: float
    op: Direction = "above"
    min_points: int = 10
    every_s: float = 60.0
    """The fit is looked at once per this many seconds of sample time (the sums take
    every sample): wear moves over hours, and a fit per sample would cost more than all
    other plans together. Sample time, not wall time, so a replay looks at the same
    moments as the agent did."""
    armed: bool = True
    looked: float | None = None
    points: deque[tuple[float, float]] = field(default_factory=deque)
    origin: float | None = None
    n: int = 0
    st: float = 0.0
    sv: float = 0.0
    stt: float = 0.0
    stv: float = 0.0

    def _add(self, t: float, v: float) -> None:
        self.points.append((t, v))
        self.n += 1
        self.st += t
        self.sv += v
        self.stt += t * t
        self.stv += t * v

    def _drop(self) -> None:
        t, v = self.points.popleft()
        self.n -= 1
        self.st -= t
        self.sv -= v
        self.stt -= t * t
        self.stv -= t * v

    def fit(self) -> tuple[float, float] | None:
        """(slope per second, intercept at the origin) of the least-squares line, or
        None with too few points or all at one time."""
        n = self.n
        if n < max(2, self.min_points):
            return None
        den = n * self.stt - self.st * self.st
        if den <= 1e-12 * max(1.0, self.stt * n):
            return None
        slope = (n * self.stv - self.st * self.sv) / den
        return slope, (self.sv - slope * self.st) / n

    def projected(self, now: float) -> float | None:
        """When the fitted line reaches the limit (absolute time), if it heads there."""
        f = self.fit()
        if f is None or self.origin is None:
            return None
        slope, icpt = f
        t = now - self.origin
        at_now = icpt + slope * t
        if beyond(at_now, self.limit, self.op) or at_now == self.limit:
            return now
        toward = slope > 0 if self.op == "above" else slope < 0
        if not toward:
            return None
        return now + (self.limit - at_now) / slope

    def _rebase(self) -> None:
        """Times relative to a new origin (the oldest point), so squares stay small."""
        assert self.origin is not None
        pts = [(t + self.origin, v) for t, v in self.points]
        self.points.clear()
        self.n, self.st, self.sv, self.stt, self.stv = 0, 0.0, 0.0, 0.0, 0.0
        self.origin = pts[0][0]
        for t, v in pts:
            self._add(t - self.origin, v)

    def update(self, ts: float, value: float | None) -> Fired | None:
        if value is None:
            return None
        o = self.origin
        if o is None:
            o = self.origin = ts
        elif self.n and ts - o > 1e6:
            self._rebase()
            o = self.origin
            assert o is not None
        t = ts - o
        pts = self.points
        pts.append((t, value))
        self.n += 1
        self.st += t
        self.sv += value
        self.stt += t * t
        self.stv += t * value
        cut = t - self.window_s
        if pts[0][0] < cut:
            while pts and pts[0][0] < cut:
                self._drop()
        looked = self.looked
        if looked is not None and ts - looked < self.every_s:
            return None
        self.looked = ts
        cross = self.projected(ts)
        if cross is not None and cross - ts <= self.horizon_s:
            if self.armed:
                self.armed = False
                return Fired(
                    ts,
                    f"trend reaches {self.limit:g} in {(cross - ts) / 3600:.1f} h (linear fit of {self.n} points)",
                    value,
                )
        elif cross is None or cross - ts > 2 * self.horizon_s:
            self.armed = True
        return None
