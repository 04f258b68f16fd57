"""The shared vocabulary of the line: a tag value's quality and one recorded sample.
Drivers produce them, the logic reads them, the store keeps them."""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Any


class Quality(IntEnum):
    GOOD = 0
    BAD = 1
    STALE = 2

    @property
    def label(self) -> str:
        return self.name.lower()


@dataclass(frozen=True, slots=True)
class Sample:
    """One recorded tag value. ``ts`` is the source (PLC/server) time, ``ts_recv`` ours."""

    tag: str
    value: Any
    quality: Quality
    ts: float
    ts_recv: float
