"""SPC at the line, inside the agent: feeds characteristic trackers with the stored
samples, records points and alarms, and acts on the line through the agent's
allow-listed writes. An alarm holds its stop-line/andon tags until an operator
acknowledges it with a comment; then they are released.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Protocol

from edge.config.line import LineConfig
from edge.logic.quality.charts import ChartSpec
from edge.logic.quality.live import CharacteristicTracker, SpcAlarm, fixed_spec
from edge.runtime.acquire import ChangeFilter
from edge.store import Store
from edge.store import quality as quality_repo

log = logging.getLogger("lineside.spc")


class Host(Protocol):
    """What the SPC runtime needs from the agent it runs in (``edge.runtime.agent.Agent``)."""

    @property
    def cfg(self) -> LineConfig: ...

    @property
    def store(self) -> Store: ...

    @property
    def logic(self) -> Any: ...

    @property
    def filter(self) -> ChangeFilter: ...

    def _background(self, coro: Any) -> None: ...

    async def write(self, tag_name: str, value: Any, *, requested_by: str, reason: str = "") -> None: ...


class QualityRuntime:
    def __init__(self, agent: Host) -> None:
        self.agent = agent
        self.cfg = agent.cfg
        self.chars = {c.name: c for c in self.cfg.characteristics}
        self.trackers: dict[str, CharacteristicTracker] = {}
        self.by_tag: dict[str, list[str]] = {}
        self.by_trigger: dict[str, list[str]] = {}
        self.holding: dict[str, float] = {}  # characteristic -> time of the alarm holding the line
        self.last_recalc_seq = 0
        store = agent.store
        for c in self.cfg.characteristics:
            spec: ChartSpec | None
            if c.limits is not None:
                spec = fixed_spec(c.chart, c.subgroup_size, c.limits.center, c.limits.sigma)
            else:  # limits frozen at the line, unless a recalculation is pending
                spec = quality_repo.frozen_spec(store, c.name, in_force=True)
            self.trackers[c.name] = CharacteristicTracker(
                c.name, c.chart, c.subgroup_size, c.rules, c.baseline_points, c.spec.lsl, c.spec.usl, spec
            )
            if c.tag and not c.trigger:
                self.by_tag.setdefault(c.tag, []).append(c.name)
            if c.trigger:
                self.by_trigger.setdefault(c.trigger, []).append(c.name)
        self.tags = set(self.by_tag) | set(self.by_trigger)
        self.last_recalc_seq = quality_repo.last_recalculation(store)
        self.last_measurement_seq = quality_repo.last_charted_measurement(store)

    def _applies(self, name: str) -> bool:
        c = self.chars[name]
        logic = self.agent.logic
        return c.product is None or logic is None or logic.product == c.product

    def feed(self, ts: float, tag: str, value: Any, good: bool) -> list[Any]:
        if not good or value is None:
            return []
        out: list[Any] = []
        for name in self.by_tag.get(tag, ()):
            if self._applies(name):
                out += self.trackers[name].add(ts, float(value))
        for name in self.by_trigger.get(tag, ()):
            c = self.chars[name]
            last = self.agent.filter.last.get(c.tag or "")
            if last is not None and last.value is not None and self._applies(name):
                out += self.trackers[name].add(ts, float(last.value))
        for f in out:
            if isinstance(f, SpcAlarm):
                log.warning("SPC alarm on %s: %s %s (%s)", f.characteristic, f.kind, f.rule, f.detail)
                self._act(f)
        return out

    def _act(self, alarm: SpcAlarm) -> None:
        c = self.chars[alarm.characteristic]
        a = c.actions
        if a.act_on != "both" and a.act_on != alarm.kind:
            return
        if alarm.characteristic in self.holding:
            return
        self.holding[alarm.characteristic] = alarm.ts
        reason = f"SPC {alarm.characteristic}: {alarm.kind} {alarm.rule} ({alarm.detail})"
        for tag in (a.stop_line_tag, a.andon_tag):
            if tag:
                self.agent._background(self._write(tag, True, reason))

    async def _write(self, tag: str, value: bool, reason: str) -> None:
        try:
            await self.agent.write(tag, value, requested_by="spc", reason=reason)
        except Exception as e:  # recorded in `writes` by agent.write; the alarm stays
            log.error("SPC could not write %s=%s: %s", tag, value, e)

    async def tick(self) -> list[Any]:
        """Chart new manual measurements; release the line when every alarm holding it
        has been acknowledged; restart a baseline on an audited recalculation request.
        Returns the facts to store."""
        store = self.agent.store
        facts: list[Any] = []
        rows = await asyncio.to_thread(quality_repo.measurements_after, store, self.last_measurement_seq)
        for seq, ts, name, value in rows:
            self.last_measurement_seq = seq
            if name in self.trackers and self._applies(name):
                new = self.trackers[name].add(ts, float(value))
                for f in new:
                    if isinstance(f, SpcAlarm):
                        log.warning("SPC alarm on %s: %s %s (%s)", f.characteristic, f.kind, f.rule, f.detail)
                        self._act(f)
                facts += new
        for name, since in list(self.holding.items()):
            last_alarm, last_ts, acked = await asyncio.to_thread(quality_repo.ack_state, store, name)
            committed = last_ts is not None and last_ts >= since  # the holding alarm is stored
            if committed and last_alarm is not None and acked is not None and acked >= last_alarm:
                del self.holding[name]
                c = self.chars[name]
                for tag in (c.actions.stop_line_tag, c.actions.andon_tag):
                    if tag:
                        await self._write(tag, False, f"SPC {name}: alarms acknowledged")
        recalcs = await asyncio.to_thread(quality_repo.recalculations_after, store, self.last_recalc_seq)
        for seq, name in recalcs:
            self.last_recalc_seq = seq
            if name in self.trackers:
                self.trackers[name].restart_baseline()
                log.info("SPC %s: collecting a new baseline (recalculation requested)", name)
        return facts
