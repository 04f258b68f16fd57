"""Pure helpers of acquisition: the change filter (deadband + heartbeat), the check that
a good reading holds a finite number, and reconnect backoff.

No clock reads: callers pass ``now``; the backoff takes its random source.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Iterable
from typing import Any, NamedTuple

from edge.config.devices import Reconnect, Tag
from edge.logic.model import Quality


def non_finite(value: Any) -> bool:
    """True for NaN or an infinity (or an array holding one): a float a PLC sends when a
    sensor is broken or a division failed, never a measurement."""
    cls = value.__class__
    if cls is float:
        return bool(value - value != 0.0)  # nan - nan and inf - inf are NaN; 0.0 otherwise
    if cls is list:
        return any(x.__class__ is float and x - x != 0.0 for x in value)
    return False


class _Last(NamedTuple):
    value: Any
    quality: Quality
    at: float


class ChangeFilter:
    """Decides whether a reading is worth a row: quality changed, value moved beyond the
    deadband, or the heartbeat interval passed since the last recorded row."""

    def __init__(self, tags: list[Tag]) -> None:
        self.tags = {t.name: t for t in tags}
        self.last: dict[str, _Last] = {}
        #: Tags without a deadband: an unchanged value with unchanged quality is dropped
        #: after one dict lookup and one comparison (the hot path of polling).
        self.plain = frozenset(t.name for t in tags if t.deadband is None)
        #: The heartbeat interval of every tag that has one.
        self.heartbeats = {
            t.name: t.deadband.max_interval_s
            for t in tags
            if t.deadband is not None and t.deadband.max_interval_s is not None
        }

    def accept_many(self, readings: list[Any], now: float) -> list[Any]:
        """The readings worth a row, in order (``accept`` applied to each)."""
        last, plain, accept = self.last, self.plain, self.accept
        bad = Quality.BAD
        out = []
        for r in readings:
            tag, value, quality = r[0], r[1], r[2]
            prev = last.get(tag)
            if prev is None:
                keep = accept(tag, value, quality, now)
            elif prev[1] == quality and (quality == bad or (prev[0] == value and tag in plain)):
                continue  # unchanged (a tag that stays BAD has no value to compare)
            elif tag in plain:  # changed, and no deadband or heartbeat to consult
                last[tag] = _Last(value, quality, now)
                keep = True
            else:
                keep = accept(tag, value, quality, now)
            if keep:
                out.append(r)
        return out

    def accept(self, tag: str, value: Any, quality: Quality, now: float) -> bool:
        t = self.tags[tag]
        prev = self.last.get(tag)
        # While a tag stays BAD its value means nothing: only the quality change is a fact.
        keep = (
            prev is None
            or prev.quality != quality
            or (quality != Quality.BAD and self._moved(t, prev.value, value))
        )
        db = t.deadband
        if (
            not keep
            and quality != Quality.BAD
            and db is not None
            and db.max_interval_s is not None
            and prev is not None
        ):
            keep = now - prev.at >= db.max_interval_s
        if keep:
            self.last[tag] = _Last(value, quality, now)
        return keep

    def heartbeat_check(self, tags: Iterable[Tag]) -> Callable[[float], bool]:
        """For a poll group that reports only changed values: a check, asked after each
        read, whether any of ``tags`` is due a heartbeat row at ``now`` (then the group
        reports every tag, changed or not, and ``accept`` records the heartbeat)."""
        return _HeartbeatClock(
            self.last, {t.name: iv for t in tags if (iv := self.heartbeats.get(t.name))}
        ).due

    @staticmethod
    def _moved(t: Tag, old: Any, new: Any) -> bool:
        if old is None or new is None or t.deadband is None or not t.numeric:
            return bool(old != new)
        if isinstance(old, bool) or isinstance(new, bool):
            return bool(old != new)
        try:
            delta = abs(float(new) - float(old))
        except (TypeError, ValueError):
            return bool(old != new)
        db = t.deadband
        if db.absolute is not None:
            return delta > db.absolute
        if db.percent is not None:
            base = db.span if db.span is not None else abs(float(old))
            return delta > base * db.percent / 100.0
        return bool(old != new)

    def quality(self, tag: str) -> Quality | None:
        last = self.last.get(tag)
        return last.quality if last else None


class _HeartbeatClock:
    """When may the next heartbeat of some tags be due? Keeps a lower bound so that
    most checks are one comparison; the tags are scanned only once it has passed."""

    #: The bound is kept this much early, so float rounding never makes it later than
    #: the exact test ``now - at >= interval`` that ``accept`` applies.
    MARGIN = 1e-3

    def __init__(self, last: dict[str, _Last], intervals: dict[str, float]) -> None:
        self.last = last
        self.intervals = intervals
        self.next = 0.0 if intervals else math.inf

    def due(self, now: float) -> bool:
        if now < self.next:
            return False
        due, bound = False, math.inf
        for tag, interval in self.intervals.items():
            prev = self.last.get(tag)
            if prev is None or prev.quality == Quality.BAD:
                # No heartbeat until the tag is recorded good, which happens at ``now``
                # or later: its first heartbeat is due no earlier than now + interval.
                bound = min(bound, now + interval)
            elif now - prev.at >= interval:
                due = True
            else:
                bound = min(bound, prev.at + interval)
        # While one is due, ask again at the next read (it is recorded there).
        self.next = now if due else bound - self.MARGIN
        return due


class Backoff:
    """Capped exponential backoff with jitter: initial, 2×, 4× … up to max, each ± jitter."""

    def __init__(self, cfg: Reconnect, rng: random.Random | None = None) -> None:
        self.cfg = cfg
        self.rng = rng or random.Random()
        self.attempt = 0

    def next(self) -> float:
        base = min(self.cfg.max_s, self.cfg.initial_s * (2**self.attempt))
        self.attempt += 1
        spread = base * self.cfg.jitter
        return max(0.0, base + self.rng.uniform(-spread, spread))

    def reset(self) -> None:
        self.attempt = 0
