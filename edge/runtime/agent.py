"""The line agent: wires drivers → change filter → single store writer, plus status,
retention, the write allow-list and the operator channel (``edge.runtime.channel``: the
terminal and ``lineside write`` hand operator actions to the agent there).
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import struct
import time
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from edge.config.devices import Tag
from edge.config.line import LineConfig
from edge.config.maintenance import build_maintenance_logic
from edge.config.production import build_line_logic
from edge.core import sdnotify
from edge.core.clock import AgentClock, ClockStep, boot_id
from edge.core.errors import DriverError, LinesideError, StoreUnusable, WriteRefused
from edge.core.faultlog import FaultLog
from edge.drivers import Reading, create_driver
from edge.logic.materials.lots import LotTagWatcher
from edge.logic.model import Quality, Sample
from edge.runtime.acquire import ChangeFilter, non_finite
from edge.runtime.companion import Companion, TagWriting
from edge.runtime.device_runner import DeviceRunner
from edge.services import materials_pass
from edge.services import plan as plan_service
from edge.store import Store, StoreLock
from edge.store import maintenance as maintenance_repo
from edge.store import production as production_repo
from edge.store import uns as uns_repo
from edge.store.writer import SampleWriter

log = logging.getLogger("lineside.agent")
#: How often the agent looks whether the plan's next order can start (and records a
#: resequencing when it cannot and the plant is unreachable).
PLAN_CHECK_S = 2.0
#: How often the maintenance plans' meters (run hours, cycles) are saved for a restart.
MAINT_SAVE_S = 60.0
#: How often the agent backflushes the parts counted, makes produced lots, applies
#: automatic holds and looks for shortages (``edge.services.materials``).
MATERIALS_S = 2.0


class Agent:
    def __init__(
        self,
        cfg: LineConfig,
        store: Store | None = None,
        *,
        companions: Sequence[Companion] = (),
        clock: AgentClock | None = None,
    ) -> None:
        self.cfg = cfg
        #: Every timestamp the agent makes: wall time that advances with the monotonic
        #: clock; a step of the wall clock is noticed at the heartbeat and recorded.
        self.clock = clock or AgentClock()
        self.store = store or Store(cfg.store.path, wal_limit_bytes=int(cfg.store.wal_limit_mb * 1e6))
        self.store.register_tags((t.name, t.device, t.type, t.eng_unit) for t in cfg.tags)
        self.filter = ChangeFilter(cfg.tags)
        self.tags: dict[str, Tag] = {t.name: t for t in cfg.tags}
        self.writer = SampleWriter(
            self.store, max_rows=cfg.store.batch_max_rows, max_latency=cfg.store.batch_max_latency_ms / 1000
        )
        self.runners: dict[str, DeviceRunner] = {}
        self.logic = build_line_logic(cfg) if cfg.machines else None
        self.quality: Any = None
        if cfg.characteristics:  # SPC pulls in numpy; a line without characteristics never loads it
            from edge.runtime.spc import QualityRuntime

            self.quality = QualityRuntime(self)
        self.lots: LotTagWatcher | None = None
        if cfg.materials:  # lots read from tags are attached to the order the line runs
            running = production_repo.running_order(self.store)
            self.lots = LotTagWatcher(
                {m.lot_tag: m.material for m in cfg.materials}, order=running.order if running else None
            )
        #: Maintenance plans and long stops → work orders (None: nothing to watch).
        self.maint = build_maintenance_logic(cfg) if cfg.machines else None
        self._maint_saved = 0.0
        self._logic_tags = (
            (set(self.maint.by_tag) if self.maint else set())
            | (set(self.logic.by_tag) if self.logic else set())
            | (self.quality.tags if self.quality else set())
            | (set(self.lots.by_tag) if self.lots else set())
        )
        # Built by the composition root (the CLI builds the uplink): started after the
        # agent, told of every commit, stopped after the last one.
        self.companions: list[Companion] = list(companions)
        for c in self.companions:
            if isinstance(c, TagWriting):  # writes from outside go through the allow-list here
                c.use_writes(self.write_blocking)
        if self.companions:
            self.writer.on_commit = self._notify_companions
        self.readings = 0
        #: Repeating faults (store writes, heartbeat, retention, ticks, values) logged once
        #: and their recovery once.
        self.faults = FaultLog(log)
        self._bad_values: set[str] = set()
        self._tag_errors: dict[str, str] = {}  # tag -> why the device answers it BAD
        self._boot_id = boot_id()
        #: The last periodic store check (``PRAGMA quick_check``), for the status.
        self.store_check: dict[str, Any] | None = None
        self.started = self.clock.now()
        self._tasks: list[asyncio.Task[Any]] = []
        self._stopping = asyncio.Event()
        self.channel: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._plan_checked = 0.0
        self._materials_done = 0.0
        #: The exclusive hold on the store, taken at :meth:`start`.
        self.lock = StoreLock(self.store.path)
        #: Why the agent stopped on its own (the store deleted or replaced under it):
        #: :meth:`run` raises it after stopping (exit 2, no restart).
        self.fatal: LinesideError | None = None

    def _notify_companions(self) -> None:
        for c in self.companions:
            c.notify()

    # ------------------------------------------------------------------ data path

    def on_readings(self, readings: list[Reading], now: float) -> None:
        self.readings += len(readings)
        readings = self._finite(readings)
        kept = self.filter.accept_many(readings, now)
        if kept:
            samples = [
                Sample(r.tag, r.value, r.quality, r.ts if r.ts is not None else now, now) for r in kept
            ]
            self._feed_logic(samples)
            self.writer.put_many(samples)

    def _finite(self, readings: list[Reading]) -> list[Reading]:
        """A good reading of NaN or an infinity is no measurement: it is recorded BAD (no
        value), so line logic, SPC and KPIs never take it for one. Logged once per tag,
        and its return to finite values once."""
        out: list[Reading] | None = None
        bad = self._bad_values
        errors = self._tag_errors
        for i, r in enumerate(readings):
            if r.quality != Quality.GOOD:
                if r.error is not None and errors.get(r.tag) != r.error:
                    self._tag_failed(r.tag, r.error)
                continue
            if errors and r.tag in errors:
                self._tag_failed(r.tag, None)
            if non_finite(r.value):
                if out is None:
                    out = list(readings)
                out[i] = r._replace(
                    value=None, quality=Quality.BAD, error=f"not a finite number ({r.value!r})"
                )
                if r.tag not in bad:
                    bad.add(r.tag)
                    self.faults.fault(
                        f"value:{r.tag}",
                        "the device sends a value that is not a finite number (NaN or infinity); recorded BAD",
                        what=f"tag {r.tag}",
                        level=logging.WARNING,
                    )
            elif bad and r.tag in bad:
                bad.discard(r.tag)
                self.faults.recovered(f"value:{r.tag}", f"tag {r.tag}")
        return readings if out is None else out

    def _tag_failed(self, tag: str, why: str | None) -> None:
        """A tag the device answers BAD for a reason (unknown node or Logix tag, a type
        other than declared, a refused address), or good again (``why`` None): logged
        once, recorded as an event, and shown in the agent status's ``bad_tags``."""
        now = self.clock.now()
        if why is None:
            del self._tag_errors[tag]
            self.faults.recovered(f"tag:{tag}", f"tag {tag}")
            self._background(self._record_event("tag_good", tag, f"{tag}: good again", None, now))
            return
        self._tag_errors[tag] = why
        self.faults.fault(f"tag:{tag}", why, what=f"tag {tag} is BAD", level=logging.WARNING)
        self._background(self._record_event("tag_bad", tag, f"{tag}: {why}", {"error": why}, now))

    async def _record_event(self, kind: str, source: str, msg: str, data: Any, now: float) -> None:
        try:
            await asyncio.to_thread(self.store.append_event, kind, source, msg, data, now)
        except Exception as e:  # the store is failing: its own fault is logged once
            self.faults.fault("events", str(e), what="cannot record an event")

    def _feed_logic(self, samples: list[Sample]) -> None:
        """Line logic sees exactly the samples that are stored, so replaying the store
        reproduces the live facts."""
        if self.logic is None and self.quality is None and self.lots is None and self.maint is None:
            return
        facts: list[Any] = []
        maint = self.maint
        for s in samples:
            if s.tag in self._logic_tags:
                good = s.quality == Quality.GOOD
                if self.logic is not None:
                    line_facts = self.logic.on_sample(s.ts, s.tag, s.value, good)
                    if line_facts:
                        facts.extend(line_facts)
                        if maint is not None:
                            facts.extend(maint.follow(line_facts))
                if maint is not None:
                    facts.extend(maint.on_sample(s.ts, s.tag, s.value, good))
                if self.quality is not None:
                    facts.extend(self.quality.feed(s.ts, s.tag, s.value, good))
                if self.lots is not None:
                    facts.extend(self.lots.on_sample(s.ts, s.tag, s.value, good))
        if facts:
            self.writer.put_facts(facts)

    def on_device_event(self, kind: str, source: str, message: str, data: dict[str, Any]) -> None:
        """Something a device runner noticed about the data (a source timestamp ahead of
        the agent's clock): recorded as an event."""
        self._background(self._record_event(kind, source, message, data, self.clock.now()))

    def on_device_state(self, device: str, state: str, error: str | None) -> None:
        now = self.clock.now()
        if state == "fault":
            bad = [
                Sample(t.name, None, Quality.BAD, now, now)
                for t in self.cfg.tags_of(device)
                if self.filter.accept(t.name, None, Quality.BAD, now)
            ]
            self._feed_logic(bad)
            self.writer.put_many(bad)
        self._background(self._record_state(device, state, error, now))

    async def _record_state(self, device: str, state: str, error: str | None, now: float) -> None:
        kind = "device_fault" if state == "fault" else "device_connected"
        msg = f"{device}: {error}" if error else f"{device}: connected"
        try:
            await asyncio.to_thread(self.store.set_device_status, device, state, error, now)
            await asyncio.to_thread(
                self.store.append_event, kind, device, msg, {"error": error} if error else None, now
            )
        except Exception as e:  # the store is failing: its own fault is logged once
            self.faults.fault("events", str(e), what="cannot record an event")
        else:
            self.faults.recovered("events", "recording events")

    def _background(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self._tasks.append(task)
        task.add_done_callback(lambda t: self._tasks.remove(t) if t in self._tasks else None)

    # ------------------------------------------------------------------ writes

    async def write(self, tag_name: str, value: Any, *, requested_by: str, reason: str = "") -> None:
        """Write one value to a PLC tag, only if the tag is writable in config.

        Every request is recorded durably before it is sent, and its outcome after.
        """
        tag = self.tags.get(tag_name)
        refusal = None
        if tag is None:
            refusal = f"unknown tag {tag_name!r}"
        elif not tag.writable:
            refusal = f"tag {tag_name!r} is not writable (set writable: true in the config to allow it)"
        else:
            try:
                value = coerce(tag, value)
            except ValueError as e:
                refusal = f"tag {tag_name!r}: {e}"
        if refusal is not None:
            await asyncio.to_thread(
                self.store.record_write,
                tag_name,
                _jsonable(value),
                requested_by,
                "refused",
                reason=reason,
                error=refusal,
            )
            log.warning("write refused: %s (requested by %s)", refusal, requested_by)
            raise WriteRefused(refusal)
        assert tag is not None
        seq = await asyncio.to_thread(
            self.store.record_write, tag_name, value, requested_by, "requested", reason=reason
        )
        runner = self.runners.get(tag.device)
        try:
            if runner is None or runner.state != "connected":
                raise DriverError(tag.device, "device not connected")
            await asyncio.wait_for(runner.driver.write(tag, value), runner.device.timeout_s + 1)
        except (ValueError, OverflowError, struct.error) as e:
            # The value does not fit what the driver encodes (coerce should have caught it).
            refusal = f"tag {tag_name!r}: {e}"
            await asyncio.to_thread(
                self.store.record_write,
                tag_name,
                _jsonable(value),
                requested_by,
                "refused",
                reason=reason,
                ref_seq=seq,
                error=refusal,
            )
            log.warning("write refused: %s (requested by %s)", refusal, requested_by)
            raise WriteRefused(refusal) from None
        except (DriverError, TimeoutError) as e:
            msg = e.message if isinstance(e, DriverError) else "no answer"
            await asyncio.to_thread(
                self.store.record_write,
                tag_name,
                value,
                requested_by,
                "failed",
                reason=reason,
                ref_seq=seq,
                error=msg,
            )
            log.error("write to %s failed: %s", tag_name, msg)
            raise DriverError(tag.device, f"write to {tag_name} failed: {msg}") from None
        await asyncio.to_thread(
            self.store.record_write, tag_name, value, requested_by, "ok", reason=reason, ref_seq=seq
        )
        log.info("wrote %s = %r (requested by %s)", tag_name, value, requested_by)

    def write_blocking(self, tag_name: str, value: Any, requested_by: str, reason: str) -> None:
        """:meth:`write` from another thread (the operator channel's), waiting for the outcome."""
        assert self._loop is not None, "the agent is not running"
        tag = self.tags.get(tag_name)
        wait = (self.cfg.device(tag.device).timeout_s + 5) if tag is not None else 5.0
        fut = asyncio.run_coroutine_threadsafe(
            self.write(tag_name, value, requested_by=requested_by, reason=reason), self._loop
        )
        try:
            fut.result(timeout=wait + 5)
        except TimeoutError:
            fut.cancel()
            raise LinesideError(f"write to {tag_name}: no outcome within {wait + 5:.0f} s") from None

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        self._ready = False  # READY=1 sent: watchdog pings may follow
        # A second agent on this store stops here, before it touches anything.
        self.lock.acquire()
        self._loop = asyncio.get_running_loop()
        from edge.runtime.channel import OperatorChannel

        self.channel = OperatorChannel(self.cfg, write=self.write_blocking)
        await asyncio.to_thread(self.channel.start)
        self.writer.start()
        for dev in self.cfg.devices:
            tags = self.cfg.tags_of(dev.name)
            if not dev.enabled or not tags:
                continue
            runner = DeviceRunner(
                dev,
                tags,
                create_driver(dev, tags),
                self.on_readings,
                self.on_device_state,
                self.filter.heartbeat_check,
                clock=self.clock.now,
                on_event=self.on_device_event,
            )
            self.runners[dev.name] = runner
            self._tasks.append(asyncio.create_task(runner.run(), name=f"device-{dev.name}"))
        self._tasks.append(asyncio.create_task(self._heartbeat(), name="heartbeat"))
        if self.logic is not None:
            await asyncio.to_thread(self._resume_logic)
        if self.maint is not None:
            await asyncio.to_thread(self._resume_maintenance)
        if self.logic is not None or self.quality is not None:
            self._tasks.append(asyncio.create_task(self._tick(), name="logic-tick"))
        self._tasks.append(asyncio.create_task(self._retention(), name="retention"))
        self._tasks.append(asyncio.create_task(self._checkpoints(), name="retention-checkpoint"))
        if self.cfg.store.quick_check_s > 0:
            self._tasks.append(asyncio.create_task(self._quick_checks(), name="retention-quick-check"))
        for c in self.companions:
            c.start()
        if self.cfg.agent.metrics is not None:
            from edge.runtime.metrics import serve

            try:
                self._metrics = serve(self)
            except LinesideError as e:  # monitoring must not stop production data
                log.error("%s", e)
        await asyncio.to_thread(
            self.store.append_event, "agent_started", "agent", f"agent started (pid {os.getpid()})"
        )
        sdnotify.notify("READY=1", f"STATUS=reading {len(self.runners)} devices")
        self._ready = True
        log.info(
            "agent started: line %s, %d devices, %d tags",
            self.cfg.line.line,
            len(self.runners),
            len(self.cfg.tags),
        )

    async def stop(self) -> None:
        self._stopping.set()
        sdnotify.notify("STOPPING=1")
        if self.channel is not None:
            await asyncio.to_thread(self.channel.stop)
        for r in self.runners.values():
            r.stop()
        self.store.interrupt_check()
        for t in list(self._tasks):
            if t.get_name().startswith(("heartbeat", "retention", "logic-tick")):
                t.cancel()
        if self._tasks:
            # Bounded: whatever a library does while closing, the buffered samples are
            # still flushed and the agent stops (systemd would otherwise kill it).
            _, pending = await asyncio.wait(list(self._tasks), timeout=15)
            for t in pending:
                log.error(
                    "task %s still running at shutdown; cancelled. It was at:\n%s", t.get_name(), _stack(t)
                )
                t.cancel()
        if getattr(self, "_metrics", None) is not None:
            self._metrics.shutdown()
        await self.writer.close()
        if self.maint is not None:
            await self._save_maintenance()
        await asyncio.to_thread(self._write_status)
        await asyncio.to_thread(self.store.append_event, "agent_stopped", "agent", "agent stopped")
        for c in self.companions:
            # Last chance to send what is committed; the rest goes at the next start.
            await asyncio.to_thread(c.stop, 2.0)
        self.lock.release()
        log.info("agent stopped: %d samples committed", self.writer.committed)

    async def run(self, duration: float | None = None) -> None:
        await self.start()
        try:
            if duration is None:
                await self._stopping.wait()
            else:
                try:
                    await asyncio.wait_for(self._stopping.wait(), duration)
                except TimeoutError:
                    pass
        finally:
            await self.stop()
        if self.fatal is not None:
            raise self.fatal

    def request_stop(self) -> None:
        self._stopping.set()

    def _write_status(self) -> None:
        self.store.set_agent_status(
            {
                "pid": os.getpid(),
                "started": self.started,
                "heartbeat": self.clock.now(),
                # Liveness for readers that do not trust the wall clock: the monotonic
                # clock of this boot (one clock for all processes of a boot on Linux).
                "heartbeat_mono": self.clock.mono(),
                "boot_id": self._boot_id,
                "running": not self._stopping.is_set(),
                "readings": self.readings,
                "committed": self.writer.committed,
                "pending": self.writer.pending,
                "store_check": self.store_check,
                "devices": {
                    n: {
                        "state": r.state,
                        "error": r.last_error,
                        "reads": r.reads,
                        # Tags the device answers BAD, and why (see _tag_failed).
                        "bad_tags": {t: why for t, why in self._tag_errors.items() if t in r.tag_names},
                    }
                    for n, r in self.runners.items()
                },
            }
        )

    async def _heartbeat(self) -> None:
        """Record that the agent is alive; under systemd also ping the watchdog, but only
        after the status was committed: a stuck event loop or a store that no longer
        takes writes stops the pings and systemd restarts the agent."""
        wd = sdnotify.watchdog_interval()
        period = min(self.cfg.agent.heartbeat_s, wd) if wd else self.cfg.agent.heartbeat_s
        while True:
            replaced = self.store.replaced()
            if replaced is not None:
                # Anything written from now on would go into a file nobody reads (deleted)
                # or beside one another process put there: stop, exit 2, a person acts.
                log.error("%s; stopping (restore the store, then start the agent again)", replaced)
                self.fatal = StoreUnusable(replaced)
                self._stopping.set()
                return
            step = self.clock.check()
            if step is not None:
                await self._clock_stepped(step)
            try:
                await asyncio.to_thread(self._write_status)
            except Exception as e:
                self.faults.fault("heartbeat", str(e), what="cannot record agent status")
            else:
                self.faults.recovered("heartbeat", "recording agent status")
                if wd and self._ready:
                    up = sum(1 for r in self.runners.values() if r.state == "connected")
                    sdnotify.notify(
                        "WATCHDOG=1",
                        f"STATUS={up}/{len(self.runners)} devices connected, {self.writer.committed} samples committed",
                    )
            await asyncio.sleep(period)

    async def _clock_stepped(self, step: ClockStep) -> None:
        """The wall clock was stepped: record it, and cut what is open at that instant so
        that no stop, state or timer spans the step (none negative, none an hour long)."""
        log.warning(
            "the wall clock was stepped by %+.1f s (from %s to %s); durations continue from the monotonic clock",
            step.step_s,
            time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(step.before)),
            time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(step.after)),
        )
        if self.logic is not None:
            facts = self.logic.clock_step(step.before, step.after)
            if facts:
                self.writer.put_facts(facts)
        try:
            await asyncio.to_thread(
                self.store.append_event,
                "clock_step",
                "agent",
                f"wall clock stepped by {step.step_s:+.1f} s",
                {"before": step.before, "after": step.after, "step_s": step.step_s},
                step.after,
            )
        except Exception as e:  # the event is a record, not a reason to stop the heartbeat
            self.faults.fault("events", str(e), what="cannot record an event")

    def _resume_logic(self) -> None:
        """Continue after a restart: close what the last run left open at its last
        heartbeat (state unknown since: no data) and seed counters with their last values,
        so parts made while the agent was down are counted once, if plausible."""
        assert self.logic is not None
        from edge.logic.production.state import State, StateChange

        last = self.store.agent_status().get("heartbeat", {}).get("value")
        facts: list[Any] = []
        now = self.clock.now()
        if last is not None and last - now > self.clock.step_s:
            # The wall clock went back while the agent was stopped: close what the last
            # run left open no later than now, so nothing of this run predates it.
            log.warning("the wall clock is %.1f s behind the last heartbeat of the previous run", last - now)
            self.store.append_event(
                "clock_step",
                "agent",
                f"wall clock {last - now:.1f} s behind the previous run's last heartbeat",
                {"before": last, "after": now, "step_s": now - last},
                now,
            )
            last = now
        if last is not None:
            for evs in production_repo.load_downtime(self.store).values():
                facts += [replace(e, end=max(last, e.start)) for e in evs if e.end is None]
            for m in self.logic.machines:
                latest = production_repo.latest_state(self.store, m)
                if latest is not None and latest[0] != State.NO_DATA.value:
                    facts.append(StateChange(last, m, State(latest[0]), State.NO_DATA, "agent not running"))
            self.logic.resume(last)  # parts the counters caught up were made while not observed
        running = production_repo.running_order(self.store)
        co = production_repo.open_changeover(self.store)
        good = 0
        if running is not None and self.logic.line_machine is not None:
            good = production_repo.order_counts(self.store, self.logic.line_machine, running.order)[0]
        facts += self.logic.restore(
            order=running.order if running else None,
            product=running.product if running else None,
            started=running.start if running else None,
            last_action=running.last_action if running else None,
            quantity=production_repo.requested_quantity(self.store, running.order) if running else None,
            good=good,
            last_product=production_repo.last_order_product(self.store),
            changeover=co[0] if co else None,
            overrun=co[1] if co else False,
            now=now,
        )
        # Reasons other domains imposed and did not lift hold on: re-apply them (no fact:
        # they are on record already; a stop opening from now on takes them).
        for _since, machine, source, reason, _detail in production_repo.active_impositions(self.store):
            if machine in self.logic.machines:
                self.logic.machines[machine].downtime.impose(now, source, reason)
        current = {v["tag"]: v for v in self.store.current_values()}
        for ml in self.logic.machines.values():
            for tag, kind in ml.counter_kind.items():
                v = current.get(tag)
                if v and v["quality"] == "good" and v["value"] is not None:
                    ml.counters[kind].last = int(v["value"])
        if facts:
            self.store.append_samples([], facts)

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            await self.tick_once()

    async def tick_once(self) -> None:
        """One second of line logic: time passes for states, stops and plans; queued
        order and reason requests are applied; SPC, the plan check and materials run."""
        facts: list[Any] = []
        if self.quality is not None:
            try:
                facts += await self.quality.tick()
            except Exception as e:
                self.faults.fault("spc", str(e), what="SPC tick failed")
            else:
                self.faults.recovered("spc", "SPC tick")
        if self.logic is None:
            if facts:
                self.writer.put_facts(facts)
            return
        now = self.clock.now()
        line_facts = self.logic.tick(now)
        try:
            line_facts += await self._apply_order_commands()
            line_facts += await self._apply_reason_requests()
        except Exception as e:  # a bad command must not stop the line logic
            self.faults.fault("orders", str(e), what="cannot apply order commands")
        else:
            self.faults.recovered("orders", "applying order commands")
        facts += line_facts
        if self.maint is not None:
            facts += self.maint.follow(line_facts)
            facts += self.maint.tick(now)
            if self.clock.mono() - self._maint_saved >= MAINT_SAVE_S:
                self._maint_saved = self.clock.mono()
                await self._save_maintenance()
        if self.clock.mono() - self._plan_checked >= PLAN_CHECK_S:
            self._plan_checked = self.clock.mono()
            try:
                await asyncio.to_thread(
                    plan_service.check_sequence, self.cfg, self.store, now=self.clock.now()
                )
            except Exception as e:  # the plan is advice: never stop the line logic for it
                self.faults.fault("plan", str(e), what="cannot check the plan's sequence")
            else:
                self.faults.recovered("plan", "checking the plan's sequence")
            if self.cfg.inspections:
                try:
                    await asyncio.to_thread(self._check_missed)
                except Exception as e:  # a record, not a reason to stop the line logic
                    self.faults.fault("inspections", str(e), what="cannot record missed inspections")
                else:
                    self.faults.recovered("inspections", "recording missed inspections")
        if self.lots is not None:
            self.lots.follow(facts)
        if facts:
            self.writer.put_facts(facts)
        if self.clock.mono() - self._materials_done >= MATERIALS_S:
            self._materials_done = self.clock.mono()
            try:
                await asyncio.to_thread(
                    materials_pass.materials_pass, self.cfg, self.store, now=self.clock.now()
                )
            except Exception as e:  # never stop the line logic for the materials pass
                self.faults.fault("materials", str(e), what="materials pass failed")
            else:
                self.faults.recovered("materials", "materials pass")

    async def _save_maintenance(self) -> None:
        """Where the plans' meters stand, for the next start."""
        assert self.maint is not None
        snap = self.maint.snapshot(self.clock.now())
        try:
            await asyncio.to_thread(self._write_maint_state, snap)
        except Exception as e:
            self.faults.fault("maintenance", str(e), what="cannot save the maintenance meters")
        else:
            self.faults.recovered("maintenance", "saving the maintenance meters")

    def _write_maint_state(self, snap: dict[str, Any]) -> None:
        with self.store.transaction():
            maintenance_repo.save_plan_states(self.store, snap, self.clock.now())

    def _resume_maintenance(self) -> None:
        """Plans continue from their saved meters; long stops that have their order keep it."""
        assert self.maint is not None
        self.maint.restore(maintenance_repo.plan_states(self.store))
        self.maint.mark_opened(
            k[5:] for k in maintenance_repo.raised_keys(self.store) if k.startswith("stop:")
        )

    async def _apply_order_commands(self) -> list[Any]:
        """Work-order requests queued by operators (or from above) → line logic."""
        assert self.logic is not None
        requests = await asyncio.to_thread(production_repo.pending_order_requests, self.store)
        facts: list[Any] = []
        for r in requests:
            now = self.clock.now()
            try:
                if r.action in ("changeover_start", "changeover_end"):
                    facts += self.logic.changeover(
                        now, r.action == "changeover_start", r.product, r.order or None
                    )
                else:
                    if r.action in ("start", "resume"):
                        await asyncio.to_thread(self._refuse_held, r.order or self.logic.order)
                    if r.action == "complete" or (r.action == "start" and self.logic.order):
                        await asyncio.to_thread(self._order_ends, now)
                    facts += self.logic.order_action(
                        now, r.action, r.order or None, r.product, quantity=r.quantity
                    )
                applied, msg = True, f"order {r.order or self.logic.order}: {r.action} by {r.by}"
            except (ValueError, KeyError) as e:
                applied, msg = False, f"order command {r.action} {r.order or ''} by {r.by} refused: {e}"
                log.warning(msg)
            await asyncio.to_thread(self._mark_request, r.seq, applied, msg)
        return facts

    def _refuse_held(self, order: str | None) -> None:
        """An order on hold (a failed first-off) neither starts nor resumes."""
        from edge.store import plant as plant_repo

        block = plant_repo.blocks(self.store).get(order or "")
        if block is not None and block[0] == "first_off":
            raise ValueError(f"order {order} is on hold ({block[1] or 'first-off failed'})")

    def _check_missed(self) -> None:
        from edge.services.inspections import record_missed

        record_missed(self.cfg, self.store, now=self.clock.now())

    def _order_ends(self, now: float) -> None:
        """The running order ends: inspections still due for it are missed."""
        from edge.services.inspections import record_missed

        record_missed(self.cfg, self.store, now=now, order_ends=True)

    async def _apply_reason_requests(self) -> list[Any]:
        """Reasons other domains impose on (or lift from) a machine's stops → line logic."""
        assert self.logic is not None
        requests = await asyncio.to_thread(production_repo.pending_reason_requests, self.store)
        facts: list[Any] = []
        for r in requests:
            try:
                facts += self.logic.impose_reason(
                    self.clock.now(), r.machine, r.reason, source=r.source, detail=r.detail
                )
                applied = True
            except (ValueError, KeyError) as e:
                applied = False
                log.warning("imposed reason %s on %s by %s refused: %s", r.reason, r.machine, r.by, e)
            await asyncio.to_thread(self._mark_reason_request, r.seq, applied)
        return facts

    def _mark_reason_request(self, seq: int, applied: bool) -> None:
        with self.store.transaction(sync_full=True):
            production_repo.mark_reason_request(self.store, seq, applied)

    def _mark_request(self, seq: int, applied: bool, msg: str) -> None:
        with self.store.transaction(sync_full=True):
            production_repo.mark_order_request(self.store, seq, applied)
            self.store.append_event("order" if applied else "order_refused", "operator", msg)

    async def _retention(self) -> None:
        r = self.cfg.store.retention
        while True:
            await asyncio.sleep(r.interval_s)
            try:
                removed = await asyncio.to_thread(
                    self.store.apply_retention,
                    max_age_s=r.max_age_days * 86400,
                    max_bytes=int(r.max_size_mb * 1e6),
                    require_ack=self.cfg.uplink is not None and self.cfg.uplink.enabled,
                    samples_held_after=self._sparkplug_cursor(),
                )
                if any(removed.values()):
                    log.info("retention removed %s", removed)
            except Exception as e:
                self.faults.fault("retention", str(e), what="retention failed")
            else:
                self.faults.recovered("retention", "retention")

    def _sparkplug_cursor(self) -> int | None:
        """The last sample the Sparkplug node has sent (None: no node, or never born)."""
        sp = self.cfg.sparkplug
        if sp is None or not sp.enabled:
            return None
        return uns_repo.mark(self.store, uns_repo.SPARKPLUG_CURSOR)

    async def _checkpoints(self) -> None:
        """Keep the WAL bounded: a TRUNCATE checkpoint every ``store.checkpoint_s``; one a
        reader blocks is skipped (never waited for) and the next one catches up."""
        while True:
            await asyncio.sleep(self.cfg.store.checkpoint_s)
            try:
                done = await asyncio.to_thread(self.store.checkpoint)
            except Exception as e:
                self.faults.fault("checkpoint", str(e), what="WAL checkpoint failed")
            else:
                self.faults.recovered("checkpoint", "WAL checkpoints")
                if not done:
                    log.debug("WAL checkpoint skipped: a reader still uses the log")

    async def _quick_checks(self) -> None:
        """Find latent page corruption before a query trips over it: ``PRAGMA
        quick_check`` every ``store.quick_check_s`` in a worker thread on its own
        connection. A failure is logged once, recorded as an event and in the agent
        status (``lineside status`` shows it)."""
        while True:
            await asyncio.sleep(self.cfg.store.quick_check_s)
            problems = await asyncio.to_thread(self.store.quick_check)
            self.store_check = {"ok": not problems, "at": self.clock.now(), "problems": problems[:10]}
            if not problems:
                self.faults.recovered("integrity", "store check")
                continue
            first = problems[0].splitlines()
            detail = "; ".join(ln for ln in first if not ln.startswith("***"))[:300]
            if self.faults.fault(
                "integrity",
                f"PRAGMA quick_check found damage ({detail}). Stop the agent, move the store aside with "
                "its -wal and -shm files and start again on a new store, or restore a backup",
                what=f"store {self.cfg.store.path}",
            ):
                try:
                    await asyncio.to_thread(
                        self.store.append_event,
                        "store_damaged",
                        "agent",
                        f"store check failed: {detail}",
                        {"problems": problems[:10]},
                        self.clock.now(),
                    )
                except Exception as e:  # the damage may be where events go
                    self.faults.fault("events", str(e), what="cannot record an event")


def _stack(task: asyncio.Task[Any]) -> str:
    import io

    buf = io.StringIO()
    task.print_stack(file=buf)
    return buf.getvalue()


#: Raw ranges of the integer types.
INT_RANGES: dict[str, tuple[int, int]] = {
    **{f"int{b}": (-(2 ** (b - 1)), 2 ** (b - 1) - 1) for b in (8, 16, 32, 64)},
    **{f"uint{b}": (0, 2**b - 1) for b in (8, 16, 32, 64)},
}
FLOAT32_MAX = 3.4028234663852886e38
_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


def coerce(tag: Tag, value: Any) -> Any:
    """Check and convert a value for a write to ``tag``; ValueError names the problem
    (not a number, not a whole number, out of the type's range, too long a string)."""
    if tag.elements > 1:
        if not isinstance(value, list) or len(value) != tag.elements:
            raise ValueError(f"expected a list of {tag.elements} values")
        single = tag.model_copy(update={"elements": 1})
        return [coerce(single, v) for v in value]
    if tag.type == "bool":
        if isinstance(value, str):
            v = value.strip().lower()
            if v in ("1", "true", "on", "yes"):
                return True
            if v in ("0", "false", "off", "no"):
                return False
            raise ValueError(f"{value!r} is not a boolean (true/false, 1/0, on/off)")
        if isinstance(value, (bool, int)) and value in (0, 1):
            return bool(value)
        raise ValueError(f"{value!r} is not a boolean")
    if tag.type == "string":
        text = str(value)
        if tag.length is not None and len(text) > tag.length:
            raise ValueError(f"{len(text)} characters do not fit its length of {tag.length}")
        return text
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a number")
    if isinstance(value, str) and not _NUMBER.fullmatch(value.strip()):
        # float() would take '2_0', fullwidth digits and 'nan': a typed value must be plain.
        raise ValueError(f"{value!r} is not a number")
    try:
        num = float(value)
    except (TypeError, ValueError, OverflowError):
        raise ValueError(f"{value!r} is not a number") from None
    if num != num or num in (float("inf"), float("-inf")):
        raise ValueError(f"{value!r} is not a finite number")
    scaled = tag.scale != 1.0 or tag.offset != 0.0
    raw = (num - tag.offset) / tag.scale if scaled else num
    # Whole numbers stay exact (int64 and uint64 go beyond a float's 2**53).
    exact = value if isinstance(value, int) else None
    if isinstance(value, str) and re.fullmatch(r"[+-]?[0-9]+", value.strip()):
        exact = int(value.strip())
    if tag.type in INT_RANGES:
        lo, hi = INT_RANGES[tag.type]
        whole = exact if exact is not None and not scaled else round(raw)
        if not lo <= whole <= hi:
            shown = f"{value}" if not scaled else f"{value} (raw {whole})"
            raise ValueError(f"{shown} is out of range for {tag.type} ({lo}..{hi})")
    elif tag.type == "float32" and abs(raw) > FLOAT32_MAX:
        raise ValueError(f"{value} is out of range for float32")
    if tag.type in INT_RANGES and not scaled:
        if exact is not None:
            return exact
        if num != int(num):
            raise ValueError(f"{value!r} is not an integer ({tag.type})")
        return int(num)
    return num


def _jsonable(v: Any) -> Any:
    return v if isinstance(v, (str, int, float, bool, list, type(None))) else repr(v)
