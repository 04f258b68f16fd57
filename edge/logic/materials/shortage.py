"""Shortage projection (pure): how long the stock at a feeder lasts at the current rate.

The rate is the consumption over a trailing window divided by the window's length
(units per minute); the time left is on hand ÷ rate. A feeder runs short when the time
left is below the notice horizon. No consumption in the window means no rate and no
projected shortage (a stopped line does not run out), unless nothing is on hand.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass


def consumption_rate(consumed: Iterable[tuple[float, float]], *, now: float, window_s: float) -> float:
    """Units per minute consumed in ``(now - window_s, now]`` from (ts, quantity) pairs."""
    if window_s <= 0:
        raise ValueError("window must be positive")
    total = sum(q for ts, q in consumed if now - window_s < ts <= now)
    return total / (window_s / 60.0)


def minutes_left(on_hand: float, rate_per_min: float) -> float:
    """Minutes until ``on_hand`` is used up at ``rate_per_min`` (inf without consumption;
    0 when nothing is on hand)."""
    if on_hand <= 0:
        return 0.0
    if rate_per_min <= 0:
        return math.inf
    return on_hand / rate_per_min


@dataclass(frozen=True)
class Shortage:
    location: str
    material: str
    on_hand: float
    rate_per_min: float
    minutes_left: float


def project_shortage(
    location: str, material: str, on_hand: float, rate_per_min: float, horizon_min: float
) -> Shortage | None:
    """A :class:`Shortage` when the stock runs out within ``horizon_min`` minutes."""
    left = minutes_left(on_hand, rate_per_min)
    if left < horizon_min:
        return Shortage(location, material, on_hand, rate_per_min, left)
    return None
