"""The plant-IT publishers' way into a line's store (the unified namespace and the
Sparkplug node in ``sync``): the tags with their units, current values, samples after a
sequence, the line's, machines' and order's state, KPIs, durable marks, and writes from
a Sparkplug host through the one write path (``edge.services.writes``).

One :class:`PlantItFeed` per publisher thread, with its own store connection.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from edge.config.line import LineConfig
from edge.config.production import build_calendar, line_machine
from edge.services import production
from edge.services.context import effective_config
from edge.services.identity import Actor
from edge.services.writes import perform_write, refuse_write
from edge.store import Store
from edge.store import uns as repo
from edge.store.uns import SPARKPLUG_BD_SEQ, SPARKPLUG_CURSOR, TagSample

__all__ = ["SPARKPLUG_BD_SEQ", "SPARKPLUG_CURSOR", "PlantItFeed", "TagInfo", "TagSample"]

#: ``write(tag, value, who, reason)``: the agent's allow-listed write (``Agent.write_blocking``).
WriteFn = Callable[[str, Any, str, str], None]


@dataclass(frozen=True)
class TagInfo:
    """A tag as plant IT sees it."""

    name: str
    device: str
    type: str
    """The tag's data type (``float32``, ``bool``, ``string`` …)."""
    elements: int
    unit: str
    writable: bool
    description: str


class PlantItFeed:
    """A line's store as a plant-IT publisher sees it (not thread-safe: one per thread)."""

    def __init__(self, cfg: LineConfig) -> None:
        self.cfg = cfg
        self.store = Store(cfg.store.path)
        self._machine = line_machine(cfg)

    def close(self) -> None:
        self.store.close()

    # ------------------------------------------------------------------ tags and values

    def tags(self) -> list[TagInfo]:
        """Every configured tag, in config order."""
        return [
            TagInfo(t.name, t.device, t.type, t.elements, t.eng_unit, t.writable, t.description)
            for t in self.cfg.tags
        ]

    def current(self) -> dict[str, TagSample]:
        """The current value of every tag that has one."""
        out = {}
        for c in self.store.current_values():
            if c["seq"] is not None:
                out[c["tag"]] = TagSample(int(c["seq"]), c["tag"], float(c["ts"]), c["value"], c["quality"])
        return out

    def samples_after(self, after: int, limit: int, upto: int | None = None) -> list[TagSample]:
        return repo.samples_after(self.store, after, limit, upto)

    def last_sample_seq(self) -> int:
        return repo.last_sample_seq(self.store)

    # ------------------------------------------------------------------ state and KPIs

    def line_state(self) -> dict[str, Any]:
        """The line machine's state, the running order and product, each machine's state
        and each device's connection state."""
        order, product, since = production.current_order(self.store)
        return {
            "state": production.machine_state(self.store, self._machine) if self._machine else None,
            "order": order,
            "product": product,
            "order_since": since,
            "machines": {m.name: production.machine_state(self.store, m.name) for m in self.cfg.machines},
            "devices": {d: v["state"] for d, v in self.store.device_status().items()},
        }

    def kpis(self, now: float | None = None) -> tuple[str | None, dict[str, Any]] | None:
        """(shift key, KPI report) of the shift running now, or of the last 24 h on a line
        without a shift calendar; None on a line without machines or between shifts."""
        if not self.cfg.machines:
            return None
        now = now if now is not None else time.time()
        cfg = effective_config(self.cfg, self.store)
        if not cfg.shifts.patterns:
            return None, production.kpi_report(cfg, self.store, since=now - 86400, now=now)
        cur = build_calendar(cfg.shifts, cfg.line.timezone).shift_at(now)
        if cur is None:
            return None
        return cur.key, production.kpi_report(cfg, self.store, shift=cur.key, now=now)

    # ------------------------------------------------------------------ durable marks

    def mark(self, name: str) -> int | None:
        return repo.mark(self.store, name)

    def save_marks(self, marks: dict[str, int]) -> None:
        repo.set_marks(self.store, marks)

    def write_status(self, name: str, status: dict[str, Any]) -> None:
        """A publisher's own state (``uns``, ``sparkplug``) for ``lineside status``."""
        self.store.set_agent_status({name: status})

    # ------------------------------------------------------------------ writes

    def write(self, actor: Actor, tag: str, value: Any, write: WriteFn, *, reason: str) -> str:
        """A write asked for by ``actor`` through the agent's write path, audited."""
        return perform_write(self.cfg, self.store, actor, tag, value, write, reason=reason)

    def refuse(self, actor: Actor, tag: str, value: Any, why: str, *, reason: str) -> None:
        """A write refused before it reached the agent, recorded and audited."""
        refuse_write(self.cfg, self.store, actor, tag, value, why, reason=reason)
