"""Pure helpers of acquisition: the change filter (deadband + heartbeat), the check that
a good reading holds a finite number, and reconnect backoff.

No clock reads: callers pass ``now``; the backoff takes its random source.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

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


@dataclass
class _Last:
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
        #: without further checks (the hot path of polling).
        self.plain = frozenset(t.name for t in tags if t.deadband is None)

    def accept_many(self, readings: list[Any], now: float) -> list[Any]:
        """The readings worth a row, in order (``accept`` applied to each)."""
        last, plain, accept = self.last, self.plain, self.accept
        out = []
        for r in readings:
            prev = last.get(r.tag)
            if (
                prev is not None
                and prev.quality == r.quality
                and (r.quality == Quality.BAD or (r.tag in plain and prev.value == r.value))
            ):
                continue
            if accept(r.tag, r.value, r.quality, now):
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
