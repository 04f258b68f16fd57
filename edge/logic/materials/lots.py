"""Material lots read from lot tags (pure): a new lot number on a material's lot tag while
a work order runs is a consumed material lot, a fact like any other.

The agent feeds the stored samples and the order facts; the facts it returns are
committed in the same transaction as the samples, so replaying the store reproduces them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from edge.logic.production.line import OrderChange


@dataclass(frozen=True)
class LotConsumed:
    """A material lot consumed for a work order, read from a lot tag at ``ts``."""

    ts: float
    material_lot: str
    material: str
    order: str


class LotTagWatcher:
    """Turns changes of lot tags into :class:`LotConsumed` facts for the running order."""

    def __init__(self, lot_tags: Mapping[str, str], order: str | None = None) -> None:
        #: lot tag → material
        self.by_tag = dict(lot_tags)
        #: the work order running (followed from the order facts)
        self.order = order
        self.last: dict[str, str] = {}

    def follow(self, facts: Iterable[Any]) -> None:
        """Track the running order from the line's order facts."""
        for f in facts:
            if isinstance(f, OrderChange):
                self.order = None if f.action == "complete" else f.order

    def on_sample(self, ts: float, tag: str, value: Any, good: bool) -> list[LotConsumed]:
        material = self.by_tag.get(tag)
        if material is None or not good or value in (None, ""):
            return []
        lot = str(value).strip()
        if not lot or self.last.get(tag) == lot:
            return []
        self.last[tag] = lot
        if self.order is None:
            return []  # no order running: nothing to attach the lot to
        return [LotConsumed(ts, lot, material, self.order)]
