"""A plant that outgrows one box, with real processes: two simulated lines (`lineside
simulate` + `lineside run`), a real mosquitto, and two `lineside aggregator run`
instances (own ``--client-id`` each) on one fresh PostgreSQL database, sharing the ingest
through the MQTT 5 shared subscription. One instance is SIGKILLed mid-stream after it has
committed records, the other carries on, the killed one comes back with its session.
Afterwards the plant holds every record each line's store holds, exactly once.

The lines' end-to-end resend is kept out of the way (``ack_timeout_s`` far beyond the
test): what carries the data across the kill is the broker and the aggregator alone
(PUBACK after commit, the session redelivering what the killed instance had not
acknowledged, progress per stream kept in the database and shared by both instances).
A PUBACK sent before the commit, or progress kept per instance, leaves a gap that no
resend heals and the lines never drain."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
import yaml

from edge.cli.demo import free_port
from edge.store import STREAMS, Store
from sync.aggregator.store import AggregatorStore
from tests.conftest import REPO, example_on_free_ports, wait_serving
from tests.mqtt_rig import Mosquitto
from tests.sync.conftest import private_database, uplink_section, wait
from tests.sync.test_sync_e2e import edge_rows, stop

LINES = ("line1", "line2")
KEYS = {n: f"acme/hamburg/filling/{n}" for n in LINES}
DEADLINE = 90.0  # a loaded machine: generous, and every wait ends on the event


@pytest.fixture
def plant_url() -> Iterator[str]:
    """A fresh PostgreSQL database of this test alone, dropped afterwards."""
    with private_database(f"lineside_scaleout_{os.getpid()}_{uuid.uuid4().hex[:8]}") as url:
        yield url


def line_config(tmp_path: Path, name: str, broker_port: int) -> Path:
    def change(d: dict[str, Any]) -> None:
        d["line"]["line"] = name
        d["uplink"] = uplink_section(broker_port, ack_timeout_s=600)

    (tmp_path / name).mkdir()
    return example_on_free_ports(tmp_path / name, data_changes=change)


def agg_config(tmp_path: Path, name: str, broker_port: int, url: str) -> tuple[Path, int]:
    """One instance's config: the same store and lines, its own metrics port."""
    port = free_port()
    p = tmp_path / f"{name}.yaml"
    p.write_text(
        yaml.safe_dump(
            {
                "mqtt": {"port": broker_port, "keepalive_s": 3, "reconnect_min_s": 0.5, "reconnect_max_s": 2},
                "store": {"url": url},
                "lines": [
                    {"enterprise": "acme", "site": "hamburg", "area": "filling", "line": n} for n in LINES
                ],
                "ack_interval_ms": 20,
                "metrics": {"port": port},
            }
        )
    )
    return p, port


def start(log: Path | None, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "edge.cli", *args],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE if log is None else log.open("w"),
        text=True,
    )


def committed_by(metrics_port: int) -> int:
    """Records this instance committed (its Prometheus counter); 0 while it is not up."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=2) as r:
            text = r.read().decode()
    except OSError:
        return 0
    m = re.search(r"^lineside_aggregator_records_total (\S+)$", text, re.M)
    return int(float(m.group(1))) if m else 0


def plant_count(url: str, line: str) -> int:
    st = AggregatorStore(url)
    try:
        return int(st.query("SELECT count(*) FROM records WHERE line = ?", (line,))[0][0])
    finally:
        st.close()


def waiting_on_progress(url: str) -> int:
    """Transactions waiting for the lock on the plant's progress table."""
    with psycopg.connect(url, autocommit=True) as c:
        row = c.execute(
            "SELECT count(*) FROM pg_locks WHERE NOT granted AND relation = 'progress'::regclass "
            "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
        ).fetchone()
    return int(row[0]) if row else 0


def drained(db: Path) -> bool:
    st = Store(db, readonly=True)
    try:
        return all(st.cursor(s)["acked_seq"] >= st.last_seq(s) for s in STREAMS)
    finally:
        st.close()


def backlog(dbs: dict[str, Path], url: str) -> str:
    """What is not acknowledged yet, per line and stream, and the plant's view of it."""
    st = AggregatorStore(url)
    try:
        plant = st.query("SELECT line, stream, contiguous, highest FROM progress ORDER BY line, stream")
        pending = st.query("SELECT line, stream, after_seq, last_seq FROM pending ORDER BY line, stream")
    finally:
        st.close()
    out = []
    for n, db in dbs.items():
        s = Store(db, readonly=True)
        try:
            out += [f"{n} {x}: acked {s.cursor(x)['acked_seq']} of {s.last_seq(x)}" for x in STREAMS]
        finally:
            s.close()
    return "\n".join([*out, f"plant progress {plant}", f"plant pending {pending}"])


def assert_exactly_once(line_db: Path, url: str, line: str) -> dict[str, int]:
    agg = AggregatorStore(url)
    totals = {}
    try:
        for stream in STREAMS:
            want = edge_rows(line_db, stream)
            got = agg.records(line, stream)
            if stream == "samples":
                got = [{k: r[k] for k in ("seq", "tag", "ts", "quality")} for r in got]
            assert [r["seq"] for r in got] == [r["seq"] for r in want], f"{line} {stream}: sequences differ"
            assert got == want, f"{line} {stream}: contents differ"
            n = agg.query("SELECT count(*) FROM records WHERE line = ? AND stream = ?", (line, stream))[0][0]
            assert n == len(want), f"{line} {stream}: duplicates"
            assert agg.ack(line, stream) == (want[-1]["seq"] if want else 0), f"{line} {stream}: ack"
            totals[stream] = len(want)
        assert agg.dead_letter_counts() == {}
    finally:
        agg.close()
    return totals


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_two_aggregators_share_the_ingest_and_a_sigkill_loses_and_duplicates_nothing(
    tmp_path: Path, plant_url: str
) -> None:
    broker = Mosquitto(tmp_path / "broker")
    broker.start()
    cfgs = {n: line_config(tmp_path, n, broker.port) for n in LINES}
    dbs = {n: tmp_path / n / "line1.db" for n in LINES}
    (cfg_a, port_a), (cfg_b, port_b) = (agg_config(tmp_path, n, broker.port, plant_url) for n in "ab")
    procs: list[subprocess.Popen[str]] = []

    def aggregator(cfg: Path, client_id: str) -> subprocess.Popen[str]:
        log = tmp_path / f"{client_id}-{len(procs)}.log"  # a restart gets a log of its own
        p = start(log, "aggregator", "run", "-c", str(cfg), "--client-id", client_id)
        procs.append(p)
        return p

    try:
        sims = {n: start(None, "simulate", "-c", str(c)) for n, c in cfgs.items()}
        procs += sims.values()
        # Both at once on the fresh database: the migration lock lets one migrate.
        agg_a, agg_b = aggregator(cfg_a, "agg-a"), aggregator(cfg_b, "agg-b")
        for n, c in cfgs.items():
            wait_serving(sims[n], c)
        agents = [start(tmp_path / f"agent-{n}.log", "run", "-c", str(c)) for n, c in cfgs.items()]
        procs += agents

        # The share splits the load: both instances commit records of the running lines.
        wait(lambda: committed_by(port_a) > 0 and committed_by(port_b) > 0, DEADLINE)
        wait(lambda: all(plant_count(plant_url, k) > 50 for k in KEYS.values()), DEADLINE)
        before_kill = committed_by(port_a), committed_by(port_b)

        # Both instances stopped inside a commit, with messages in hand, and one is killed
        # there: what it held is neither committed nor acknowledged to the broker.
        with psycopg.connect(plant_url) as lock:
            lock.execute("LOCK TABLE progress IN EXCLUSIVE MODE")
            wait(lambda: waiting_on_progress(plant_url) >= 2, DEADLINE)
            agg_a.send_signal(signal.SIGKILL)
            agg_a.wait(10)

        # The other carries on alone (the broker keeps the killed one's share of the
        # messages in its session until it returns).
        at_kill = {k: plant_count(plant_url, k) for k in KEYS.values()}
        wait(lambda: committed_by(port_b) > before_kill[1] + 100, DEADLINE)
        wait(lambda: all(plant_count(plant_url, k) > at_kill[k] + 30 for k in KEYS.values()), DEADLINE)

        # The killed one comes back with its session: what it held unacknowledged is redelivered.
        agg_a = aggregator(cfg_a, "agg-a")
        wait(lambda: committed_by(port_a) > 0, DEADLINE)
        for p in sims.values():  # the lines stop producing; their backlog drains
            stop(p)
        try:
            wait(lambda: all(drained(db) for db in dbs.values()), DEADLINE)
        except AssertionError:
            raise AssertionError(f"the lines did not drain:\n{backlog(dbs, plant_url)}") from None
        for p in agents:
            stop(p)
        stop(agg_a)
        stop(agg_b)
    finally:
        for p in procs:
            stop(p)
        broker.stop()
    for log in tmp_path.glob("*.log"):
        assert "Traceback" not in log.read_text(), f"{log.name}: {log.read_text()}"
    assert min(before_kill) > 0, before_kill
    for n, k in KEYS.items():
        totals = assert_exactly_once(dbs[n], plant_url, k)
        assert totals["samples"] > 100 and totals["events"] > 0, (n, totals)
