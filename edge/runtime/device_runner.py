"""One runner per device: connect, subscribe, poll groups, detect faults, reconnect.

Like a polling coordinator: every driver error becomes one DriverError; the first one
is logged (and recorded as an event) once, retries are quiet, and the recovery is
logged once. While the device is faulted all its tags are BAD.

A device has recovered when it answers: the first good read after a (re)connect, or the
subscriptions it accepted when nothing is polled. A TCP connect alone is no recovery (a
Modbus gateway may accept connections and never answer).

Device timestamps older than the session (a server that kept a value across the
reconnect sends its old SourceTimestamp) are replaced by the agent's clock: a sample is
never stamped before the fault the agent recorded when the connection was lost. So are
timestamps ahead of the agent's clock by more than the device's ``future_tolerance_s``
(a server whose clock runs ahead): a sample is never stamped in the agent's future,
where it would sort after samples still to come and open stops that have not begun.
That is reported once per tag (``on_event``: ``source_time_ahead``) until the tag's
timestamps are within the tolerance again.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

from edge.config.devices import Tag
from edge.core.aio import bounded
from edge.core.errors import DriverError
from edge.drivers.base import ChangeReader, Driver, Reading
from edge.runtime.acquire import Backoff

log = logging.getLogger("lineside.agent")

OnReadings = Callable[[list[Reading], float], None]
OnState = Callable[[str, str, str | None], None]  # device, state, error
#: An event to record: kind, source (a tag), message, data.
OnEvent = Callable[[str, str, str, dict[str, Any]], None]
#: Given a poll group's tags, a check asked after each read: is a heartbeat due at ``now``?
HeartbeatCheck = Callable[[Sequence[Tag]], Callable[[float], bool]]


#: No read deadline below this: a healthy device on a loaded network answers a fast poll
#: group late now and then, and that must not count as a fault.
MIN_READ_DEADLINE_S = 0.5


def read_deadline(period_s: float, timeout_s: float) -> float:
    """How long one poll of a group may take before the device counts as not answering:
    one poll period, at least ``MIN_READ_DEADLINE_S``, at most the device's timeout."""
    return min(timeout_s, max(period_s, MIN_READ_DEADLINE_S))


def bad_within_s(period_s: float, timeout_s: float) -> float:
    """The longest time from a device going silent to its tags being recorded BAD: the
    next poll starts within one period and fails after the read deadline. Two poll periods
    for groups polled every 0.5 s or slower (with ``timeout_s`` ≥ the period); a 200 ms
    group: 0.7 s, 3.5 periods (README, Architecture)."""
    return period_s + read_deadline(period_s, timeout_s)


class DeviceRunner:
    """Runs one device. With ``heartbeat_check`` (the change filter's), a driver that can
    report only changed values (``ChangeReader``: Modbus) does so, and reports every tag
    of a poll group when one of its heartbeats is due; without it every poll reports
    every tag."""

    def __init__(
        self,
        device: Any,
        tags: list[Tag],
        driver: Driver,
        on_readings: OnReadings,
        on_state: OnState,
        heartbeat_check: HeartbeatCheck | None = None,
        *,
        clock: Callable[[], float] = time.time,
        on_event: OnEvent | None = None,
    ) -> None:
        self.device = device
        self.name = device.name
        self.tags = tags
        self.tag_names = frozenset(t.name for t in tags)
        self.driver = driver
        self.on_readings = on_readings
        self.on_state = on_state
        self.heartbeat_check = heartbeat_check
        #: Timestamps of readings (the agent's clock: wall time advancing monotonically).
        self.clock = clock
        self.backoff = Backoff(device.reconnect)
        self.state = "connecting"
        self.fault_since: float | None = None
        self.last_error: str | None = None
        self.reads = 0
        #: When the current session connected (the agent's clock).
        self.session_start = 0.0
        #: Does the driver stamp readings with the device's time (OPC UA)?
        self._stamps = bool(getattr(driver, "source_timestamps", False))
        #: How far ahead of the agent's clock a device timestamp may be.
        self.future_tolerance_s = float(getattr(device, "future_tolerance_s", 2.0))
        self.on_event = on_event
        #: Tags whose device timestamps are ahead of the agent's clock (reported once).
        self.ahead: set[str] = set()
        self._retryable = True
        self._stop = asyncio.Event()

    def stop(self) -> None:
        self._stop.set()

    async def run(self) -> None:
        while not self._stop.is_set():
            try:
                await self._session()
            except DriverError as e:
                self._fault(e)
            except asyncio.CancelledError:
                raise
            except Exception as e:  # a driver bug must not stop the agent
                self._fault(DriverError(self.name, f"unexpected {type(e).__name__}: {e}"))
                log.debug("device %s: unexpected error", self.name, exc_info=True)
            await bounded(self.driver.close(), 5.0, f"closing device {self.name}")
            if self._stop.is_set():
                break
            # Faults a reconnect cannot fix (certificate, login) are retried at the cap.
            delay = self.backoff.next() if self._retryable else self.device.reconnect.max_s
            try:
                await asyncio.wait_for(self._stop.wait(), delay)
            except TimeoutError:
                pass
        await bounded(self.driver.close(), 5.0, f"closing device {self.name}")

    async def _session(self) -> None:
        await self.driver.connect()
        self.session_start = self.clock()
        subs = [t for t in self.tags if t.mode == "subscribe"]
        polled = [t for t in self.tags if t.mode == "poll"]
        if subs:
            polled += await self.driver.subscribe(subs, self._on_update)
        if not polled:
            self._recovered()  # the server accepted the subscriptions: it answers
        groups: dict[int, list[Tag]] = {}
        for t in polled:
            groups.setdefault(t.poll_ms, []).append(t)
        tasks: list[asyncio.Task[Any]] = [
            asyncio.create_task(self._poll(ms / 1000.0, g), name=f"poll-{self.name}-{ms}")
            for ms, g in groups.items()
        ]
        live_subs = [t for t in subs if t not in polled]
        if live_subs:
            period = max(1.0, min(t.poll_ms for t in live_subs) / 1000.0)
            tasks.append(asyncio.create_task(self._watch(period), name=f"watch-{self.name}"))
        tasks.append(asyncio.create_task(self._stop.wait(), name=f"stop-{self.name}"))
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                err = None if task.cancelled() else task.exception()
                if err is not None:
                    raise err
        finally:
            # Cancel, then wait a bounded time: asyncio.wait_for in Python 3.11 can swallow
            # a cancellation that races with its inner call completing, so the loops also
            # watch the stop flag and stragglers are cancelled again.
            for task in tasks:
                task.cancel()
            _, pending = await asyncio.wait(tasks, timeout=3.0)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending, timeout=2.0)
            # A second task failing while the session was being torn down (the watch
            # noticing the same lost connection as a poll) is the same fault: take its
            # exception so asyncio does not report it as never retrieved.
            for task in tasks:
                if task.done() and not task.cancelled():
                    task.exception()

    def _on_update(self, readings: list[Reading]) -> None:
        now = self.clock()
        self.on_readings(self._stamped(readings, now) if self._stamps else readings, now)

    def _stamped(self, readings: list[Reading], now: float) -> list[Reading]:
        """Readings whose device timestamp lies before this session, or more than the
        tolerance ahead of ``now``, are stamped ``now``."""
        start = self.session_start
        limit = now + self.future_tolerance_s
        ahead = self.ahead
        out: list[Reading] | None = None
        for i, r in enumerate(readings):
            ts = r.ts
            if ts is None:
                continue
            if ts < start or ts > limit:
                if out is None:
                    out = list(readings)
                out[i] = r._replace(ts=now)
                if ts > limit and r.tag not in ahead:
                    self._ahead(r.tag, ts, now)
            elif ahead and r.tag in ahead:
                ahead.discard(r.tag)
                log.warning(
                    "device %s: tag %s: source timestamps within the agent's clock again", self.name, r.tag
                )
        return readings if out is None else out

    def _ahead(self, tag: str, ts: float, now: float) -> None:
        self.ahead.add(tag)
        msg = (
            f"{tag}: source timestamp {ts - now:.1f} s ahead of the agent's clock "
            f"(tolerance {self.future_tolerance_s:g} s); stamped with the agent's clock"
        )
        log.warning("device %s: %s", self.name, msg)
        if self.on_event is not None:
            self.on_event(
                "source_time_ahead",
                tag,
                msg,
                {"device": self.name, "source_ts": ts, "agent_ts": now, "ahead_s": ts - now},
            )

    def _deadline(self, period: float) -> float:
        return read_deadline(period, self.device.timeout_s)

    async def _poll(self, period: float, tags: list[Tag]) -> None:
        loop = asyncio.get_running_loop()
        deadline = self._deadline(period)
        driver = self.driver
        reader: ChangeReader | None = None
        heartbeat_due: Callable[[float], bool] | None = None
        if self.heartbeat_check is not None and isinstance(driver, ChangeReader):
            reader, heartbeat_due = driver, self.heartbeat_check(tags)
        on_readings = self.on_readings
        next_at = loop.time()
        overruns = 0
        while not self._stop.is_set():
            try:
                # asyncio.timeout rather than wait_for: no task per poll.
                async with asyncio.timeout(deadline):
                    if reader is not None:
                        answers = await reader.fetch(tags)
                    else:
                        readings = await driver.read(tags)
            except TimeoutError:
                raise DriverError(self.name, f"no answer within {deadline:g} s") from None
            now = self.clock()
            if self.state != "connected":
                self._recovered()  # the first good read of this session
            if reader is not None and heartbeat_due is not None:
                readings = reader.changes(tags, answers, heartbeat_due(now))
            elif self._stamps:
                readings = self._stamped(readings, now)
            self.reads += 1
            if readings:
                on_readings(readings, now)
            next_at += period
            t = loop.time()
            if next_at > t:
                await asyncio.sleep(next_at - t)
                overruns = 0
            else:
                # The poll overran its period: start the next one now and restart the
                # schedule from here (no burst of make-up polls, no idle wait either).
                # The requests' own awaits let other tasks run; a driver that answers
                # without ever suspending still yields every 16th poll.
                next_at = t
                overruns += 1
                if overruns % 16 == 0:
                    await asyncio.sleep(0)

    async def _watch(self, period: float) -> None:
        while not self._stop.is_set():
            await asyncio.sleep(period)
            try:
                await asyncio.wait_for(self.driver.check(), self._deadline(period))
            except TimeoutError:
                raise DriverError(self.name, "server not answering") from None

    def _fault(self, e: DriverError) -> None:
        first = self.state != "fault"
        self.state = "fault"
        self.last_error = e.message
        self._retryable = e.retryable
        if first:
            self.fault_since = time.monotonic()
            log.error("device %s fault: %s (retrying with backoff)", self.name, e.message)
            self.on_state(self.name, "fault", e.message)
        else:
            log.debug("device %s still faulted: %s", self.name, e.message)

    def _recovered(self) -> None:
        if self.state == "fault":
            down = time.monotonic() - (self.fault_since or time.monotonic())
            log.warning("device %s recovered after %.1f s", self.name, down)
        else:
            log.info("device %s connected", self.name)
        self.state = "connected"
        self.last_error = None
        self.fault_since = None
        self.backoff.reset()
        self.on_state(self.name, "connected", None)
