"""Aggregator operations: retention by age and a Prometheus endpoint.

**Retention** (``retention:``): acknowledged raw sample records go first, then the raw
records of the other streams, then the projection tables kept from them, each by its own
age; ERP confirmations the ERP acknowledged last. Only records at or below their
stream's contiguous point are pruned — those the lines hold as acknowledged; a
redelivery of one is recognised by the progress table, so pruning never lets a record
in twice. Hourly and daily rollups are never pruned: reports over years read them.

**Metrics** (``metrics:``): ``GET /metrics`` in Prometheus' text format — records and
messages ingested (counters, and the rate over the last minute), per line the backlog
the line reports, the age of its newest committed data and of the last ingest, whether
it is connected, dead letters by kind, pending ERP confirmations and the store's size.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from sync.aggregator import ops_store as repo
from sync.aggregator.config import AGED, AggregatorConfig, RetentionCfg
from sync.aggregator.store import AggregatorStore

log = logging.getLogger("lineside.aggregator.ops")

DAY = 86400.0


def prune(store: AggregatorStore, r: RetentionCfg, now: float) -> dict[str, int]:
    """One retention pass; returns rows deleted per table (``records.samples`` first)."""
    out = {
        "records.samples": repo.prune_records(store, now - r.samples_days * DAY, samples=True),
        "records.other": repo.prune_records(store, now - r.records_days * DAY, samples=False),
    }
    for table in AGED:
        out[table] = repo.prune_table(store, table, now - r.tables.get(table, r.tables_days) * DAY)
    out["erp_outbox"] = repo.prune_erp_sent(store, now - r.erp_sent_days * DAY)
    return out


def _esc(v: str) -> str:
    return v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def exposition(
    counts: dict[str, int], rate: float, figures: dict[str, Any] | None, lines: list[str], now: float
) -> str:
    """The Prometheus text exposition (format 0.0.4) of the aggregator's figures;
    ``figures`` None: the plant store cannot be read now (only this instance's counters,
    and ``store_up`` 0)."""
    out: list[str] = []

    def metric(name: str, kind: str, help_: str, samples: list[tuple[dict[str, str], float]]) -> None:
        out.append(f"# HELP lineside_aggregator_{name} {help_}")
        out.append(f"# TYPE lineside_aggregator_{name} {kind}")
        for labels, value in samples:
            lab = ",".join(f'{k}="{_esc(v)}"' for k, v in labels.items())
            out.append(f"lineside_aggregator_{name}{'{' + lab + '}' if lab else ''} {value:.17g}")

    metric(
        "records_total", "counter", "Records committed by this instance.", [({}, counts.get("records", 0))]
    )
    metric("messages_total", "counter", "MQTT messages received.", [({}, counts.get("messages", 0))])
    metric("ingest_records_per_second", "gauge", "Records committed per second, last minute.", [({}, rate)])
    metric(
        "store_up",
        "gauge",
        "1 while the plant store answers (this instance's ingest and the metrics' own connection).",
        [({}, 1.0 if figures is not None and counts.get("store_up", 1) else 0.0)],
    )
    metric(
        "store_reconnects_total",
        "counter",
        "Times this instance's ingest connection to the plant store was lost and opened again.",
        [({}, counts.get("store_reconnects", 0))],
    )
    if figures is None:
        return "\n".join(out) + "\n"
    metric(
        "dead_letters",
        "gauge",
        "Dead letters held, by kind.",
        [({"kind": k}, n) for k, n in sorted(figures["dead_letters"].items())],
    )
    status = figures["status"]
    metric(
        "line_connected",
        "gauge",
        "1 while the line's agent is connected (its retained status says online).",
        [({"line": ln}, 1.0 if status.get(ln, (False,))[0] else 0.0) for ln in lines],
    )
    metric(
        "lines_connected",
        "gauge",
        "Lines connected now.",
        [({}, sum(1 for ln in lines if status.get(ln, (False,))[0]))],
    )
    metric(
        "line_backlog_records",
        "gauge",
        "Records the line holds that the plant has not acknowledged (as the line reports).",
        [({"line": ln}, status[ln][1]) for ln in lines if ln in status],
    )
    metric(
        "line_data_lag_seconds",
        "gauge",
        "Age of the newest data the line reported committing (its status).",
        [({"line": ln}, max(0.0, now - status[ln][2])) for ln in lines if ln in status and status[ln][2]],
    )
    ingest = figures["last_ingest"]
    metric(
        "line_ingest_age_seconds",
        "gauge",
        "Seconds since the plant last committed a record of the line.",
        [({"line": ln}, max(0.0, now - ingest[ln])) for ln in lines if ln in ingest],
    )
    metric(
        "erp_pending",
        "gauge",
        "ERP confirmations not yet acknowledged by the ERP.",
        [({}, figures["erp_pending"])],
    )
    metric("db_size_bytes", "gauge", "Size of the plant store.", [({}, figures["db_bytes"])])
    return "\n".join(out) + "\n"


class Rate:
    """Records per second over a sliding window, from a counter sampled every second."""

    def __init__(self, window_s: float = 60.0) -> None:
        self.window_s = window_s
        self.samples: collections.deque[tuple[float, int]] = collections.deque()

    def add(self, t: float, count: int) -> None:
        self.samples.append((t, count))
        while len(self.samples) > 2 and self.samples[0][0] < t - self.window_s:
            self.samples.popleft()

    def value(self) -> float:
        if len(self.samples) < 2:
            return 0.0
        (t0, c0), (t1, c1) = self.samples[0], self.samples[-1]
        return (c1 - c0) / (t1 - t0) if t1 > t0 else 0.0


class MetricsServer:
    """``GET /metrics`` on ``metrics.host:port``; figures read from its own store
    connection per scrape, the counters from the running aggregator."""

    def __init__(self, cfg: AggregatorConfig, counts: Callable[[], dict[str, int]]) -> None:
        assert cfg.metrics is not None
        self.cfg = cfg
        self.counts = counts
        self.rate = Rate()
        self.lines = [ln.key for ln in cfg.lines]
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._store: AggregatorStore | None = None
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path.split("?")[0] != "/metrics":
                    self.send_error(404, "only /metrics")
                    return
                try:
                    body = server.render().encode()
                except Exception as e:
                    self.send_error(503, f"plant store: {e}")
                    return
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *a: Any) -> None:
                pass

        self.http = ThreadingHTTPServer((cfg.metrics.host, cfg.metrics.port), Handler)
        self.port = int(self.http.server_address[1])

    def render(self, now: float | None = None) -> str:
        now = now if now is not None else time.time()
        with self._lock:
            if self._store is None:
                from sync.aggregator.store import open_store

                try:
                    self._store = open_store(self.cfg)
                except Exception as e:  # the store is down: the counters still answer
                    log.debug("metrics: plant store: %s", e)
                    return exposition(self.counts(), self.rate.value(), None, self.lines, now)
            try:
                figures: dict[str, Any] | None = repo.metrics(self._store)
            except Exception as e:  # the store is down: the counters still answer
                log.debug("metrics: plant store: %s", e)
                self._store.close()
                self._store = None
                figures = None
        return exposition(self.counts(), self.rate.value(), figures, self.lines, now)

    def _tick(self) -> None:
        while not self._stop.wait(1.0):
            self.rate.add(time.monotonic(), self.counts().get("records", 0))

    def start(self) -> None:
        for target in (self.http.serve_forever, self._tick):
            threading.Thread(target=target, name="aggregator-metrics", daemon=True).start()
        log.info(
            "metrics on http://%s:%d/metrics", self.cfg.metrics.host if self.cfg.metrics else "", self.port
        )

    def stop(self) -> None:
        self._stop.set()
        self.http.shutdown()
        self.http.server_close()
        with self._lock:
            if self._store is not None:
                self._store.close()
                self._store = None
