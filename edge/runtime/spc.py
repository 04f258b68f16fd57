"""SPC at the line, inside the agent: takes rational subgroups (``edge.logic.quality.
sampling``) from the stored samples while the machine runs, feeds the trackers (one per
characteristic and product), records points and alarms, and acts on the line through the
agent's allow-listed writes.

An alarm holds its stop-line/andon tags until an operator acknowledges it (cause, action
and comment); then they are released and the re-arm window starts. While SPC holds the
line, the line machine's stop is booked with the configured quality-hold reason.
New limit versions approved by people (a baseline window or typed limits) and approved
requests for a new baseline are picked up from the store every tick.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any, Protocol

from edge.config.line import LineConfig
from edge.config.quality import CharacteristicCfg
from edge.logic.quality.charts import ChartSpec
from edge.logic.quality.live import ATTRIBUTE_CHARTS, CharacteristicTracker, SpcAlarm, fixed_spec
from edge.logic.quality.sampling import Sampler
from edge.runtime.acquire import ChangeFilter
from edge.store import Store
from edge.store import quality as quality_repo
from edge.store.facts import LINE

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


@dataclass
class _Source:
    """Where one characteristic's subgroups come from at the line."""

    cfg: CharacteristicCfg
    machine: str | None
    counter_tag: str | None
    sampler: Sampler | None
    count: float | None = None  # attribute counters: latest values and those at the last sample
    size: float | None = None
    count0: float | None = None
    size0: float | None = None


def _machine(cfg: LineConfig, c: CharacteristicCfg) -> str | None:
    return c.machine or cfg.line_machine or (cfg.machines[0].name if cfg.machines else None)


def _counter_tag(cfg: LineConfig, machine: str | None) -> str | None:
    m = next((m for m in cfg.machines if m.name == machine), None)
    if m is None or m.counters is None:
        return None
    c = m.counters.total or m.counters.good
    return c.tag if c else None


def tracker_for(c: CharacteristicCfg, product: str | None, spec: ChartSpec | None) -> CharacteristicTracker:
    """A tracker of a characteristic as configured (live and in replays)."""
    if spec is None and c.limits is not None:
        spec = fixed_spec(c.chart, c.subgroup_size, c.limits.center, c.limits.sigma)
    return CharacteristicTracker(
        c.name,
        c.chart,
        c.subgroup_size,
        c.rules,
        c.baseline_points,
        c.spec.lsl,
        c.spec.usl,
        spec,
        product=product,
        rearm_s=c.rearm_s,
        sample_size=c.sample_size,
        ewma_lambda=c.ewma_lambda,
        ewma_L=c.ewma_L,
        cusum_k=c.cusum_k,
        cusum_h=c.cusum_h,
    )


def sampler_for(c: CharacteristicCfg) -> Sampler | None:
    if c.sampling is None:
        return None
    size = 1 if c.chart in ATTRIBUTE_CHARTS else c.values_per_point
    return Sampler(
        size,
        every_parts=c.sampling.every_parts,
        every_s=c.sampling.every_s,
        trigger_mode=c.sampling.trigger is not None,
    )


class QualityRuntime:
    def __init__(self, agent: Host) -> None:
        self.agent = agent
        self.cfg = agent.cfg
        self.chars = {c.name: c for c in self.cfg.characteristics}
        self.trackers: dict[tuple[str, str | None], CharacteristicTracker] = {}
        self.sources: dict[str, _Source] = {}
        self.by_tag: dict[str, list[str]] = {}
        self.holding: dict[str, float] = {}  # characteristic -> time of the alarm holding the line
        self.manual_groups: dict[str, list[float]] = {}
        self._imposed = False  # the quality hold is imposed on the line machine's stops
        self._lift_pending = False
        self.line_machine = self.cfg.line_machine or (
            self.cfg.machines[0].name if self.cfg.machines else None
        )
        for c in self.cfg.characteristics:
            machine = _machine(self.cfg, c) if not c.manual else None
            src = _Source(c, machine, _counter_tag(self.cfg, machine), sampler_for(c))
            self.sources[c.name] = src
            tags = [c.tag, src.counter_tag]
            if c.sampling is not None:
                tags.append(c.sampling.trigger)
            if c.attribute is not None:
                tags += [c.attribute.count_tag, c.attribute.size_tag]
            for t in dict.fromkeys(t for t in tags if t):
                self.by_tag.setdefault(t, []).append(c.name)
        self.tags = set(self.by_tag)
        if self.cfg.spc.quality_hold_reason and self.line_machine:  # to see it run again
            m = next((m for m in self.cfg.machines if m.name == self.line_machine), None)
            if m is not None:
                from edge.config.production import build_state_model

                self.tags |= build_state_model(m).tags
        store = agent.store
        for c in self.cfg.characteristics:  # an alarm still holding the line before a restart
            if c.actions.stop_line_tag or c.actions.andon_tag:
                last_alarm, last_ts, acked = quality_repo.ack_state(store, c.name)
                if last_alarm is not None and last_ts is not None and (acked is None or acked < last_alarm):
                    self.holding[c.name] = float(last_ts)
        self.last_limit_seq = quality_repo.last_limit_row(store)
        self.last_ack_seq = quality_repo.last_ack(store)
        self.last_measurement_seq = quality_repo.last_charted_measurement(store)

    # ------------------------------------------------------------------ trackers

    def product(self) -> str | None:
        logic = self.agent.logic
        return logic.product if logic is not None else None

    def tracker(self, name: str, product: str | None = None) -> CharacteristicTracker:
        """The tracker of a characteristic for a product (created with its stored limits)."""
        key = (name, product)
        t = self.trackers.get(key)
        if t is None:
            c = self.chars[name]
            spec = (
                None
                if c.limits
                else quality_repo.frozen_spec(self.agent.store, name, in_force=True, product=product)
            )
            t = self.trackers[key] = tracker_for(c, product, spec)
        return t

    def _applies(self, c: CharacteristicCfg, product: str | None) -> bool:
        return not c.all_products or product in c.all_products

    def _running(self, src: _Source) -> bool:
        logic = self.agent.logic
        if logic is None or src.machine is None:
            return False
        ml = logic.machines.get(src.machine)
        return ml is not None and ml.state.state is not None and ml.state.state.value == "running"

    # ------------------------------------------------------------------ samples

    def feed(self, ts: float, tag: str, value: Any, good: bool) -> list[Any]:
        out: list[Any] = self._lift(ts) if self._lift_pending else []
        names = self.by_tag.get(tag)
        if not names:
            return out
        product = self.product()
        for name in names:
            src = self.sources[name]
            sampler = src.sampler
            if sampler is None:
                continue
            c = src.cfg
            sampler.set_running(ts, self._running(src) and self._applies(c, product))
            if not good or value is None:
                continue
            try:
                v = float(value)
            except (TypeError, ValueError):
                continue
            if tag == src.counter_tag:
                sampler.counter(ts, int(v))
            if c.attribute is not None:
                if tag == c.attribute.count_tag:
                    src.count = v
                if tag == (c.attribute.size_tag or src.counter_tag):
                    src.size = v
                sampler.tick(ts)
                if sampler.take_due():
                    out += self._attribute_sample(ts, src, product)
                continue
            group: list[float] | None = None
            if c.sampling is not None and c.sampling.trigger is not None:
                if tag == c.sampling.trigger:
                    last = self.agent.filter.last.get(c.tag or "")
                    if last is not None and last.value is not None:
                        group = sampler.trigger(ts, float(last.value))
            elif tag == c.tag:
                group = sampler.value(ts, v)
            else:
                sampler.tick(ts)
            if group is not None:
                out += self.tracker(name, product).add_subgroup(ts, group)
        self._alarms(out)
        return out

    def _attribute_sample(self, ts: float, src: _Source, product: str | None) -> list[Any]:
        """The counts since the previous sample (the first due only sets the start)."""
        if src.count is None or (src.size is None and src.cfg.chart in ("p", "u")):
            return []
        out: list[Any] = []
        if src.count0 is not None and src.count >= src.count0:
            count = src.count - src.count0
            size = (src.size - src.size0) if src.size is not None and src.size0 is not None else None
            if size is None or size > 0 or src.cfg.chart in ("np", "c"):
                out = self.tracker(src.cfg.name, product).add_count(ts, count, size)
        src.count0, src.size0 = src.count, src.size
        return out

    def _alarms(self, facts: list[Any]) -> None:
        """Act on the alarms among ``facts``; what acting books (the held stop) is added."""
        extra: list[Any] = []
        for f in facts:
            if isinstance(f, SpcAlarm):
                log.warning("SPC alarm on %s: %s %s (%s)", f.characteristic, f.kind, f.rule, f.detail)
                extra += self._act(f)
        facts.extend(extra)

    def _act(self, alarm: SpcAlarm) -> list[Any]:
        c = self.chars[alarm.characteristic]
        a = c.actions
        if a.act_on != "both" and a.act_on != alarm.kind:
            return []
        if alarm.characteristic in self.holding:
            return []
        self.holding[alarm.characteristic] = alarm.ts
        reason = f"SPC {alarm.characteristic}: {alarm.kind} {alarm.rule} ({alarm.detail})"
        for tag in (a.stop_line_tag, a.andon_tag):
            if tag:
                self.agent._background(self._write(tag, True, reason))
        return self._hold(alarm.ts, bool(a.stop_line_tag))

    def _hold(self, ts: float, on: bool) -> list[Any]:
        """Book the line machine's stop with the quality-hold reason while SPC holds the
        line (the other machines stop because the line does; they keep their own
        reasons). Lifted once nothing holds the line and the line machine runs again, so
        the tail of the stop until the restart is still the hold's."""
        hold = self.cfg.spc.quality_hold_reason
        logic = self.agent.logic
        if hold is None or logic is None or self.line_machine is None:
            return []
        if on:
            self._lift_pending = False
            if self._imposed:
                return []
            self._imposed = True
            return list(
                logic.impose_reason(ts, self.line_machine, hold, source="spc", detail="SPC stop-line")
            )
        if not any(self.chars[n].actions.stop_line_tag for n in self.holding):
            self._lift_pending = self._imposed
        return []

    def _lift(self, ts: float) -> list[Any]:
        """Lift the quality hold once the line machine runs again after the release."""
        logic = self.agent.logic
        if not self._lift_pending or logic is None or self.line_machine is None:
            return []
        ml = logic.machines.get(self.line_machine)
        if ml is None or ml.state.state is None or ml.state.state.value != "running":
            return []
        self._lift_pending = self._imposed = False
        return list(logic.impose_reason(ts, self.line_machine, None, source="spc"))

    async def _write(self, tag: str, value: bool, reason: str) -> None:
        try:
            await self.agent.write(tag, value, requested_by="spc", reason=reason)
        except Exception as e:  # recorded in `writes` by agent.write; the alarm stays
            log.error("SPC could not write %s=%s: %s", tag, value, e)

    # ------------------------------------------------------------------ tick

    async def tick(self, now: float | None = None) -> list[Any]:
        """Chart new manual entries; pass acknowledgements to the trackers (re-arm) and
        release the line when every alarm holding it is acknowledged; apply approved limit
        versions and baseline restarts. Returns the facts to store."""
        store = self.agent.store
        facts: list[Any] = []
        product = self.product()
        logic = self.agent.logic
        # A hold re-applied after a restart (the agent restores impositions): it is ours
        # to lift, at once if no alarm holds the line any more (when the line runs).
        if (
            not self._imposed
            and logic is not None
            and self.line_machine
            and "spc" in logic.imposed().get(self.line_machine, {})
        ):
            self._imposed = True
            self._lift_pending = not self.holding
        rows = await asyncio.to_thread(quality_repo.measurements_after, store, self.last_measurement_seq)
        for seq, ts, name, value, size in rows:
            self.last_measurement_seq = seq
            c = self.chars.get(name)
            if c is None or not self._applies(c, product):
                continue
            tr = self.tracker(name, product)
            if c.chart in ATTRIBUTE_CHARTS:
                facts += tr.add_count(ts, value, size)
                continue
            group = self.manual_groups.setdefault(name, [])
            group.append(value)
            if len(group) >= c.values_per_point:
                self.manual_groups[name] = []
                facts += tr.add_subgroup(ts, group)
        self._alarms(facts)
        acks = await asyncio.to_thread(quality_repo.acks_after, store, self.last_ack_seq)
        for seq, ts, name in acks:
            self.last_ack_seq = seq
            for (n, _p), tr in self.trackers.items():
                if n == name:
                    tr.acknowledge(ts)
        for name, since in list(self.holding.items()):
            last_alarm, last_ts, acked = await asyncio.to_thread(quality_repo.ack_state, store, name)
            committed = last_ts is not None and last_ts >= since  # the holding alarm is stored
            if committed and last_alarm is not None and acked is not None and acked >= last_alarm:
                del self.holding[name]
                c = self.chars[name]
                for tag in (c.actions.stop_line_tag, c.actions.andon_tag):
                    if tag:
                        await self._write(tag, False, f"SPC {name}: alarms acknowledged")
                if c.actions.stop_line_tag:
                    facts += self._hold(now if now is not None else since, False)
        limits = await asyncio.to_thread(quality_repo.limit_rows_after, store, self.last_limit_seq)
        for row in limits:
            self.last_limit_seq = row.seq
            if row.characteristic not in self.chars:
                continue
            tr = self.tracker(row.characteristic, row.product)
            if row.action == "recalculate":
                tr.restart_baseline()
                log.info("SPC %s: collecting a new baseline (recalculation approved)", row.characteristic)
            elif row.by != LINE and row.spec:
                tr.freeze(quality_repo.spec_from_json(row.spec))
                log.info("SPC %s: new limits in force (%s)", row.characteristic, row.reason)
        return facts
