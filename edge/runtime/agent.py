"""The line agent: wires drivers → change filter → single store writer, plus status,
retention and the write allow-list.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from edge.config.devices import Tag
from edge.config.line import LineConfig
from edge.config.production import build_line_logic
from edge.core import sdnotify
from edge.core.errors import DriverError, LinesideError, WriteRefused
from edge.drivers import Reading, create_driver
from edge.logic.materials.lots import LotTagWatcher
from edge.logic.model import Quality, Sample
from edge.runtime.acquire import ChangeFilter
from edge.runtime.companion import Companion
from edge.runtime.device_runner import DeviceRunner
from edge.services import plan as plan_service
from edge.store import Store
from edge.store import production as production_repo
from edge.store.writer import SampleWriter

log = logging.getLogger("lineside.agent")
#: How often the agent looks whether the plan's next order can start (and records a
#: resequencing when it cannot and the plant is unreachable).
PLAN_CHECK_S = 2.0


class Agent:
    def __init__(
        self, cfg: LineConfig, store: Store | None = None, *, companions: Sequence[Companion] = ()
    ) -> None:
        self.cfg = cfg
        self.store = store or Store(cfg.store.path)
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
        self._logic_tags = (
            (set(self.logic.by_tag) if self.logic else set())
            | (self.quality.tags if self.quality else set())
            | (set(self.lots.by_tag) if self.lots else set())
        )
        # Built by the composition root (the CLI builds the uplink): started after the
        # agent, told of every commit, stopped after the last one.
        self.companions: list[Companion] = list(companions)
        if self.companions:
            self.writer.on_commit = self._notify_companions
        self.readings = 0
        self.started = time.time()
        self._tasks: list[asyncio.Task[Any]] = []
        self._stopping = asyncio.Event()
        self._plan_checked = 0.0

    def _notify_companions(self) -> None:
        for c in self.companions:
            c.notify()

    # ------------------------------------------------------------------ data path

    def on_readings(self, readings: list[Reading], now: float) -> None:
        self.readings += len(readings)
        kept = self.filter.accept_many(readings, now)
        if kept:
            samples = [
                Sample(r.tag, r.value, r.quality, r.ts if r.ts is not None else now, now) for r in kept
            ]
            self._feed_logic(samples)
            self.writer.put_many(samples)

    def _feed_logic(self, samples: list[Sample]) -> None:
        """Line logic sees exactly the samples that are stored, so replaying the store
        reproduces the live facts."""
        if self.logic is None and self.quality is None and self.lots is None:
            return
        facts: list[Any] = []
        for s in samples:
            if s.tag in self._logic_tags:
                good = s.quality == Quality.GOOD
                if self.logic is not None:
                    facts.extend(self.logic.on_sample(s.ts, s.tag, s.value, good))
                if self.quality is not None:
                    facts.extend(self.quality.feed(s.ts, s.tag, s.value, good))
                if self.lots is not None:
                    facts.extend(self.lots.on_sample(s.ts, s.tag, s.value, good))
        if facts:
            self.writer.put_facts(facts)

    def on_device_state(self, device: str, state: str, error: str | None) -> None:
        now = time.time()
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
        await asyncio.to_thread(self.store.set_device_status, device, state, error, now)
        kind = "device_fault" if state == "fault" else "device_connected"
        msg = f"{device}: {error}" if error else f"{device}: connected"
        await asyncio.to_thread(
            self.store.append_event, kind, device, msg, {"error": error} if error else None, now
        )

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

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        self._ready = False  # READY=1 sent: watchdog pings may follow
        self.writer.start()
        for dev in self.cfg.devices:
            tags = self.cfg.tags_of(dev.name)
            if not dev.enabled or not tags:
                continue
            runner = DeviceRunner(dev, tags, create_driver(dev, tags), self.on_readings, self.on_device_state)
            self.runners[dev.name] = runner
            self._tasks.append(asyncio.create_task(runner.run(), name=f"device-{dev.name}"))
        self._tasks.append(asyncio.create_task(self._heartbeat(), name="heartbeat"))
        if self.logic is not None:
            await asyncio.to_thread(self._resume_logic)
        if self.logic is not None or self.quality is not None:
            self._tasks.append(asyncio.create_task(self._tick(), name="logic-tick"))
        self._tasks.append(asyncio.create_task(self._retention(), name="retention"))
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
        for r in self.runners.values():
            r.stop()
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
        await asyncio.to_thread(self._write_status)
        await asyncio.to_thread(self.store.append_event, "agent_stopped", "agent", "agent stopped")
        for c in self.companions:
            # Last chance to send what is committed; the rest goes at the next start.
            await asyncio.to_thread(c.stop, 2.0)
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

    def request_stop(self) -> None:
        self._stopping.set()

    def _write_status(self) -> None:
        self.store.set_agent_status(
            {
                "pid": os.getpid(),
                "started": self.started,
                "heartbeat": time.time(),
                "running": not self._stopping.is_set(),
                "readings": self.readings,
                "committed": self.writer.committed,
                "pending": self.writer.pending,
                "devices": {
                    n: {"state": r.state, "error": r.last_error, "reads": r.reads}
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
            try:
                await asyncio.to_thread(self._write_status)
            except Exception as e:
                log.error("cannot record agent status: %s", e)
            else:
                if wd and self._ready:
                    up = sum(1 for r in self.runners.values() if r.state == "connected")
                    sdnotify.notify(
                        "WATCHDOG=1",
                        f"STATUS={up}/{len(self.runners)} devices connected, {self.writer.committed} samples committed",
                    )
            await asyncio.sleep(period)

    def _resume_logic(self) -> None:
        """Continue after a restart: close what the last run left open at its last
        heartbeat (state unknown since: no data) and seed counters with their last values,
        so parts made while the agent was down are counted once, if plausible."""
        assert self.logic is not None
        from edge.logic.production.state import State, StateChange

        last = self.store.agent_status().get("heartbeat", {}).get("value")
        facts: list[Any] = []
        if last is not None:
            for evs in production_repo.load_downtime(self.store).values():
                facts += [replace(e, end=max(last, e.start)) for e in evs if e.end is None]
            for m in self.logic.machines:
                latest = production_repo.latest_state(self.store, m)
                if latest is not None and latest[0] != State.NO_DATA.value:
                    facts.append(StateChange(last, m, State(latest[0]), State.NO_DATA, "agent not running"))
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
            facts: list[Any] = []
            if self.quality is not None:
                try:
                    facts += await self.quality.tick()
                except Exception as e:
                    log.error("SPC tick failed: %s", e)
            if self.logic is None:
                if facts:
                    self.writer.put_facts(facts)
                continue
            facts += self.logic.tick(time.time())
            try:
                facts += await self._apply_order_commands()
            except Exception as e:  # a bad command must not stop the line logic
                log.error("cannot apply order commands: %s", e)
            if time.monotonic() - self._plan_checked >= PLAN_CHECK_S:
                self._plan_checked = time.monotonic()
                try:
                    await asyncio.to_thread(plan_service.check_sequence, self.cfg, self.store)
                except Exception as e:  # the plan is advice: never stop the line logic for it
                    log.error("cannot check the plan's sequence: %s", e)
            if self.lots is not None:
                self.lots.follow(facts)
            if facts:
                self.writer.put_facts(facts)

    async def _apply_order_commands(self) -> list[Any]:
        """Work-order requests queued by operators (or from above) → line logic."""
        assert self.logic is not None
        requests = await asyncio.to_thread(production_repo.pending_order_requests, self.store)
        facts: list[Any] = []
        for r in requests:
            now = time.time()
            try:
                if r.action in ("changeover_start", "changeover_end"):
                    facts += self.logic.changeover(now, r.action == "changeover_start")
                else:
                    facts += self.logic.order_action(now, r.action, r.order or None, r.product)
                applied, msg = True, f"order {r.order or self.logic.order}: {r.action} by {r.by}"
            except (ValueError, KeyError) as e:
                applied, msg = False, f"order command {r.action} {r.order or ''} by {r.by} refused: {e}"
                log.warning(msg)
            await asyncio.to_thread(self._mark_request, r.seq, applied, msg)
        return facts

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
                )
                if any(removed.values()):
                    log.info("retention removed %s", removed)
            except Exception as e:
                log.error("retention failed: %s", e)


def _stack(task: asyncio.Task[Any]) -> str:
    import io

    buf = io.StringIO()
    task.print_stack(file=buf)
    return buf.getvalue()


def coerce(tag: Tag, value: Any) -> Any:
    """Check and convert a value for a write to ``tag``; ValueError names the problem."""
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
        return str(value)
    try:
        num = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{value!r} is not a number") from None
    if num != num or num in (float("inf"), float("-inf")):
        raise ValueError(f"{value!r} is not a finite number")
    if tag.type.startswith(("int", "uint")) and tag.scale == 1.0 and tag.offset == 0.0:
        if num != int(num):
            raise ValueError(f"{value!r} is not an integer ({tag.type})")
        return int(num)
    return num


def _jsonable(v: Any) -> Any:
    return v if isinstance(v, (str, int, float, bool, list, type(None))) else repr(v)
