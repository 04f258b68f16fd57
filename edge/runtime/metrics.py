"""Prometheus metrics of a running agent (``agent.metrics`` in the line config).

A collector reads the agent's live figures and the store's backlog at scrape time, so
the numbers are the same as ``lineside status`` shows; nothing is kept twice. Served on
loopback by default with prometheus-client's HTTP server (a daemon thread).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Sequence
from typing import Any, Protocol

from edge.config.line import LineConfig
from edge.core.errors import LinesideError
from edge.runtime.companion import Companion, UpstreamLink
from edge.runtime.device_runner import DeviceRunner
from edge.store import Store
from edge.store.writer import SampleWriter

log = logging.getLogger("lineside.metrics")


class Agent(Protocol):
    """What the collector reads from the running agent (``edge.runtime.agent.Agent``)."""

    @property
    def cfg(self) -> LineConfig: ...

    @property
    def store(self) -> Store: ...

    @property
    def writer(self) -> SampleWriter: ...

    @property
    def runners(self) -> dict[str, DeviceRunner]: ...

    @property
    def companions(self) -> Sequence[Companion]: ...


class AgentCollector:
    def __init__(self, agent: Agent) -> None:
        self.agent = agent
        self._store: Any = None  # the scraper's own read-only connection

    def _reader(self) -> Any:
        if self._store is None:
            self._store = Store(self.agent.cfg.store.path, readonly=True)
        return self._store

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        a = self.agent
        labels = [a.cfg.line.line]
        up = GaugeMetricFamily("lineside_agent_up", "1 while the agent runs", labels=["line"])
        up.add_metric(labels, 1.0)
        yield up
        committed = CounterMetricFamily(
            "lineside_samples_committed", "Samples committed to the store since start", labels=["line"]
        )
        committed.add_metric(labels, float(a.writer.committed))
        yield committed
        pending = GaugeMetricFamily(
            "lineside_samples_pending", "Samples waiting for the writer", labels=["line"]
        )
        pending.add_metric(labels, float(a.writer.pending))
        yield pending
        dev = GaugeMetricFamily(
            "lineside_device_connected", "1 when the device answers", labels=["line", "device", "protocol"]
        )
        reads = CounterMetricFamily("lineside_device_reads", "Successful reads", labels=["line", "device"])
        for name, r in a.runners.items():
            proto = a.cfg.device(name).protocol
            dev.add_metric([*labels, name, proto], 1.0 if r.state == "connected" else 0.0)
            reads.add_metric([*labels, name], float(r.reads))
        yield dev
        yield reads
        backlog = GaugeMetricFamily(
            "lineside_backlog_records",
            "Records not yet acknowledged by the aggregator",
            labels=["line", "stream"],
        )
        try:
            for stream, n in self._reader().backlog().items():
                backlog.add_metric([*labels, stream], float(n))
        except Exception as e:  # a busy store must not fail the scrape
            log.debug("backlog not available: %s", e)
        yield backlog
        files = GaugeMetricFamily("lineside_store_bytes", "Store file sizes", labels=["line", "file"])
        for f, n in a.store.file_bytes().items():  # file sizes only: no query
            files.add_metric([*labels, f], float(n))
        yield files
        link = next((c for c in a.companions if isinstance(c, UpstreamLink)), None)
        if link is not None:
            conn = GaugeMetricFamily(
                "lineside_uplink_connected", "1 when connected to the broker", labels=["line"]
            )
            conn.add_metric(labels, 1.0 if link.connected else 0.0)
            yield conn
            last = link.last_ack
            age = GaugeMetricFamily(
                "lineside_uplink_last_ack_age_seconds",
                "Seconds since the last end-to-end ack",
                labels=["line"],
            )
            age.add_metric(labels, time.time() - last if last else float("nan"))
            yield age


def serve(agent: Agent) -> Any:
    """Start the endpoint; returns the server (``shutdown()`` stops it)."""
    m = agent.cfg.agent.metrics
    assert m is not None
    try:
        from prometheus_client import CollectorRegistry, start_http_server
    except ImportError:
        raise LinesideError(
            "agent.metrics: the metrics endpoint needs prometheus-client (pip install 'lineside[metrics]')"
        ) from None
    registry = CollectorRegistry(auto_describe=False)
    registry.register(AgentCollector(agent))  # type: ignore[arg-type]
    try:
        server, _thread = start_http_server(m.port, addr=m.host, registry=registry)
    except OSError as e:
        raise LinesideError(f"agent.metrics: cannot listen on {m.host}:{m.port}: {e}") from None
    log.info("metrics on http://%s:%d/metrics", m.host, m.port)
    return server
