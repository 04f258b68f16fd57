"""The single sample writer: collects samples from the event loop, commits them in batches.

Batches close at ``max_rows`` or after ``max_latency`` seconds, whichever comes first,
and are committed in a worker thread so the event loop never waits on the disk. A
batch is one transaction: after a crash it is either fully present or absent.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from edge.core.faultlog import FaultLog
from edge.logic.model import Sample
from edge.store.db import Store

log = logging.getLogger("lineside.store")


class SampleWriter:
    def __init__(
        self, store: Store, *, max_rows: int = 5000, max_latency: float = 0.2, max_pending: int = 2_000_000
    ) -> None:
        self.store = store
        #: While the disk refuses writes samples wait in memory up to this many; beyond
        #: it the oldest are dropped (and counted) rather than exhausting memory.
        self.max_pending = max_pending
        self.dropped = 0
        self.max_rows = max_rows
        self.max_latency = max_latency
        self._buf: list[Sample] = []
        self._facts: list[Any] = []
        self._wake = asyncio.Event()
        self._closing = False
        self._task: asyncio.Task[None] | None = None
        self.committed = 0
        self.batches = 0
        self.last_seq = 0
        #: A failing store is logged once, and its recovery once (not every retry).
        self.faults = FaultLog(log)
        #: Called after each committed batch (the uplink sends without waiting for its tick).
        self.on_commit: Callable[[], None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="sample-writer")

    def put(self, sample: Sample) -> None:
        self._buf.append(sample)
        if len(self._buf) >= self.max_rows:
            self._wake.set()

    def put_many(self, samples: list[Sample]) -> None:
        self._buf.extend(samples)
        if len(self._buf) >= self.max_rows:
            self._wake.set()

    def put_facts(self, facts: list[Any]) -> None:
        """Line-logic facts; committed in the same transaction as the next samples."""
        self._facts.extend(facts)

    @property
    def pending(self) -> int:
        return len(self._buf)

    async def _run(self) -> None:
        while True:
            try:
                await asyncio.wait_for(self._wake.wait(), self.max_latency)
            except TimeoutError:
                pass
            self._wake.clear()
            await self.flush()
            if self._closing:
                return

    async def flush(self) -> None:
        while self._buf or self._facts:
            batch, self._buf = self._buf[: self.max_rows], self._buf[self.max_rows :]
            facts, self._facts = self._facts, []
            try:
                self.last_seq = await asyncio.to_thread(self.store.append_samples, batch, facts)
                if self.on_commit is not None:
                    self.on_commit()
            except Exception as e:  # disk full, locked too long: keep the data, retry later
                self._buf[:0] = batch
                self._facts[:0] = facts
                excess = len(self._buf) - self.max_pending
                if excess > 0:
                    del self._buf[:excess]
                    self.dropped += excess
                    self.faults.fault(
                        "memory",
                        f"more than {self.max_pending} unsaved samples: dropping the oldest (counted in 'dropped')",
                        what="store still failing",
                    )
                self.faults.fault(
                    "write",
                    f"{e}; keeping samples in memory and retrying every second",
                    what="store write failed",
                )
                await asyncio.sleep(1.0)
                return
            if self.faults.recovered("write", "store writes") and self.faults.active("memory"):
                self.faults.recovered("memory", f"sample buffer ({self.dropped} samples dropped in all)")
            self.committed += len(batch)
            self.batches += 1

    async def close(self) -> None:
        self._closing = True
        self._wake.set()
        if self._task:
            await self._task
        await self.flush()
