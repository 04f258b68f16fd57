"""Aggregator operations (issue 19): retention by age — acknowledged raw samples first,
records not yet acknowledged never, hourly rollups kept — and the Prometheus endpoint."""

from __future__ import annotations

import time
import urllib.request
from pathlib import Path

import pytest

from edge.cli.demo import free_port
from sync.aggregator.config import AggregatorConfig, RetentionCfg
from sync.aggregator.ops import MetricsServer, Rate, prune
from sync.aggregator.store import AggregatorStore
from tests.sync.conftest import LINE_KEY, agg_config, wait

DAY = 86400.0
NOW = 1_800_000_000.0


def fill(store: AggregatorStore) -> None:
    with store.tx():
        for stream, contiguous in (("samples", 10), ("events", 5)):
            store._exec(
                "INSERT INTO progress (line, stream, incarnation, contiguous, highest, updated) "
                "VALUES (?, ?, '', ?, ?, ?)",
                (LINE_KEY, stream, contiguous, 12, NOW - 5),
            )
        rows = [
            ("samples", 1, NOW - 40 * DAY),  # old, acknowledged: pruned
            ("samples", 10, NOW - 31 * DAY),  # old, acknowledged: pruned
            ("samples", 12, NOW - 40 * DAY),  # old, beyond the contiguous point: kept
            ("samples", 11, NOW - 1 * DAY),  # recent: kept
            ("events", 1, NOW - 40 * DAY),  # older than samples_days, younger than records_days
            ("events", 2, NOW - 400 * DAY),  # older than records_days: pruned
        ]
        for stream, seq, received in rows:
            store._exec(
                "INSERT INTO records (line, stream, incarnation, seq, received, data) VALUES (?, ?, '', ?, ?, '{}')",
                (LINE_KEY, stream, seq, received),
            )
        for seq, ts in ((1, NOW - 800 * DAY), (2, NOW - 100 * DAY)):
            store._exec(
                "INSERT INTO counts (line, seq, ts, machine, good, scrap) VALUES (?, ?, ?, 'm', 1, 0)",
                (LINE_KEY, seq, ts),
            )
            store._exec(
                "INSERT INTO spc_points (line, seq, ts, characteristic, value) VALUES (?, ?, ?, 'd', 1.0)",
                (LINE_KEY, seq, ts),
            )
        store._exec(
            "INSERT INTO rollup_counts (line, machine, hour, good, scrap, ideal_s, good_ideal_s, "
            "startup_scrap_ideal_s) VALUES (?, 'm', ?, 1, 0, 0, 0, 0)",
            (LINE_KEY, NOW - 3000 * DAY),
        )
        for kind in ("schema", "schema", "unknown_line"):
            store._exec(
                "INSERT INTO dead_letters (received, topic, kind, error) VALUES (?, 't', ?, 'e')", (NOW, kind)
            )


def test_retention_prunes_acknowledged_samples_first_and_keeps_rollups(agg_target: str) -> None:
    """On SQLite and on PostgreSQL (the same deletes, each dialect's SQL)."""
    store = AggregatorStore(agg_target)
    fill(store)
    r = RetentionCfg(samples_days=30, records_days=365, tables_days=730, tables={"spc_points": 90})
    deleted = prune(store, r, NOW)
    assert list(deleted)[:2] == ["records.samples", "records.other"]  # samples first
    assert (deleted["records.samples"], deleted["records.other"]) == (2, 1)
    assert sorted(store.query("SELECT stream, seq FROM records")) == [
        ("events", 1),
        ("samples", 11),
        ("samples", 12),
    ]
    assert [r[0] for r in store.query("SELECT seq FROM counts")] == [2]  # 730 days
    assert store.query("SELECT seq FROM spc_points") == []  # its own 90 days
    assert len(store.query("SELECT * FROM rollup_counts")) == 1  # rollups stay
    assert sum(prune(store, r, NOW).values()) == 0
    store.close()


def test_retention_config_names_tables_it_knows() -> None:
    with pytest.raises(ValueError, match=r"tables\.rollup_counts: not a table pruned by age"):
        RetentionCfg.model_validate({"tables": {"rollup_counts": 10}})


def test_prometheus_endpoint(tmp_path: Path) -> None:
    store = AggregatorStore(tmp_path / "agg.db")
    fill(store)
    # The line's status says its newest data is 3 s old (the scrape reads the wall clock).
    with store.tx():
        store._exec(
            "INSERT INTO line_status (line, online, ts, backlog, last_data, received) VALUES (?, 1, ?, 42, ?, ?)",
            (LINE_KEY, NOW, time.time() - 3, NOW),
        )
    store.close()
    cfg: AggregatorConfig = agg_config(1, str(tmp_path / "agg.db"), metrics={"port": free_port()})
    ingest = {"rate": 0.0, "since": 0.0}

    def counts() -> dict[str, int]:
        """1234 records, then (once ``rate`` is set) ``rate`` more per second."""
        grown = ingest["rate"] * (time.monotonic() - ingest["since"]) if ingest["rate"] else 0.0
        return {"records": 1234 + int(grown), "messages": 99}

    def scrape() -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{srv.port}/metrics", timeout=5) as resp:
            assert resp.headers["Content-Type"].startswith("text/plain; version=0.0.4")
            return str(resp.read().decode())

    def value(text: str, name: str) -> float:
        return float(next(ln for ln in text.splitlines() if ln.startswith(name + " ")).split()[-1])

    srv = MetricsServer(cfg, counts)
    srv.start()
    try:
        text = scrape()
        # The rate over the last minute, from the counter the server samples every second:
        # 50 records/s committed from now on.
        ingest.update(rate=50.0, since=time.monotonic())
        srv.rate = Rate()  # only samples taken at that rate
        wait(lambda: value(scrape(), "lineside_aggregator_ingest_records_per_second") > 0, timeout=15)
        rate = value(scrape(), "lineside_aggregator_ingest_records_per_second")
    finally:
        srv.stop()
    assert rate == pytest.approx(50.0, abs=2.0)
    assert "lineside_aggregator_ingest_records_per_second 0\n" in text  # no second sample yet
    assert "# TYPE lineside_aggregator_ingest_records_per_second gauge" in text
    lag = value(text, f'lineside_aggregator_line_data_lag_seconds{{line="{LINE_KEY}"}}')
    assert 3.0 <= lag < 30.0  # 3 s, plus the time the scrape took
    assert "lineside_aggregator_records_total 1234" in text
    assert 'lineside_aggregator_dead_letters{kind="schema"} 2' in text
    assert 'lineside_aggregator_dead_letters{kind="unknown_line"} 1' in text
    assert f'lineside_aggregator_line_connected{{line="{LINE_KEY}"}} 1' in text
    assert "lineside_aggregator_lines_connected 1" in text
    assert f'lineside_aggregator_line_backlog_records{{line="{LINE_KEY}"}} 42' in text
    assert (
        "lineside_aggregator_db_size_bytes " in text
        and "# TYPE lineside_aggregator_records_total counter" in text
    )
    assert (
        "lineside_aggregator_line_ingest_age_seconds" in text and "lineside_aggregator_erp_pending 0" in text
    )


def test_rate_over_the_window() -> None:
    r = Rate(window_s=10)
    for t in range(30):
        r.add(float(t), t * 100)
    assert r.value() == pytest.approx(100.0)
