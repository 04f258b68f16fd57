"""Store-and-forward under abuse, with real processes: the simulator, the agent, a real
mosquitto and the aggregator. The agent is SIGKILLed at random moments, the broker is
killed and restarted, the network goes silent; afterwards the aggregator must hold
every record the line committed, exactly once, in sequence order, per stream."""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from edge.store import STREAMS, Store
from edge.store.quality import add_miss
from edge.store.streams import SCHEMAS
from sync.aggregator.store import AggregatorStore
from tests.conftest import REPO, example_on_free_ports
from tests.mqtt_rig import Mosquitto, SilentProxy
from tests.sync.conftest import uplink_section

LINE_KEY = "acme/hamburg/filling/line1"
QUALITY = {0: "good", 1: "bad", 2: "stale"}


#: Every process a test started, so the fixture below stops what a failed test left running.
STARTED: list[subprocess.Popen[str]] = []


@pytest.fixture(autouse=True)
def _no_orphans() -> Iterator[None]:
    yield
    while STARTED:
        p = STARTED.pop()
        if p.poll() is None:
            p.kill()
            p.wait()


def start(*args: str) -> subprocess.Popen[str]:
    p = subprocess.Popen(
        [sys.executable, "-m", "edge.cli", *args],
        cwd=REPO,
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
    )
    STARTED.append(p)
    return p


def working(line_db: Path, agent: subprocess.Popen[str], timeout: float = 120) -> None:
    """Until the agent holds its store (it has imported, opened the store and started):
    starting a Python process takes seconds on a loaded machine, and a kill before then
    tests nothing. A deadline, not a fixed sleep."""
    end = time.monotonic() + timeout
    lock = Path(str(line_db) + ".lock")  # read, never locked here: a starting agent would refuse
    while not (lock.exists() and lock.read_text().strip() == str(agent.pid)):
        assert agent.poll() is None, stop(agent)
        assert time.monotonic() < end, f"the agent did not start within {timeout} s"
        time.sleep(0.05)


def until(what: str, condition: Callable[[], bool], timeout: float = 120) -> None:
    end = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < end, f"{what}: not within {timeout} s"
        time.sleep(0.1)


def stop(p: subprocess.Popen[str], timeout: float = 20) -> str:
    if p.poll() is None:
        p.send_signal(signal.SIGTERM)
    try:
        p.wait(timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()
    return p.stderr.read() if p.stderr else ""


def write_agg_config(tmp_path: Path, port: int) -> Path:
    p = tmp_path / "aggregator.yaml"
    p.write_text(
        yaml.safe_dump(
            {
                "mqtt": {
                    "port": port,
                    "client_id": "agg-e2e",
                    "keepalive_s": 3,
                    "reconnect_min_s": 0.5,
                    "reconnect_max_s": 2,
                },
                "store": {"path": str(tmp_path / "plant.db")},
                "lines": [{"enterprise": "acme", "site": "hamburg", "area": "filling", "line": "line1"}],
                "ack_interval_ms": 20,
                "command_resend_s": 2,
            }
        )
    )
    return p


def edge_rows(db: Path, stream: str) -> list[dict[str, Any]]:
    st = Store(db, readonly=True)
    try:
        cur = st.db.execute(f"SELECT * FROM {stream} ORDER BY seq")
        cols = [d[0] for d in cur.description]
        rows = [dict(zip(cols, r, strict=True)) for r in cur.fetchall()]
        if stream != "samples":  # what the stream's record schema ships (not the line's bookkeeping)
            shipped = SCHEMAS[stream].fields
            rows = [{k: r[k] for k in shipped} for r in rows]
        else:
            names = dict(st.db.execute("SELECT id, name FROM tags").fetchall())
            rows = [
                {"seq": r["seq"], "tag": names[r["tag_id"]], "ts": r["ts"], "quality": QUALITY[r["quality"]]}
                for r in rows
            ]
        return rows
    finally:
        st.close()


def assert_exactly_once(line_db: Path, plant_db: Path) -> dict[str, int]:
    agg = AggregatorStore(plant_db)
    totals = {}
    try:
        for stream in STREAMS:
            want = edge_rows(line_db, stream)
            got = agg.records(LINE_KEY, stream)
            if stream == "samples":
                got = [
                    {"seq": r["seq"], "tag": r["tag"], "ts": r["ts"], "quality": r["quality"]} for r in got
                ]
            assert [r["seq"] for r in got] == [r["seq"] for r in want], f"{stream}: sequences differ"
            assert got == want, f"{stream}: contents differ"
            n = agg.query("SELECT count(*) FROM records WHERE line = ? AND stream = ?", (LINE_KEY, stream))[
                0
            ][0]
            assert n == len(want), f"{stream}: duplicates"
            assert agg.ack(LINE_KEY, stream) == (want[-1]["seq"] if want else 0)
            totals[stream] = len(want)
        assert agg.dead_letter_counts() == {}
    finally:
        agg.close()
    return totals


def recorded(line_db: Path, samples: int, events: int) -> bool:
    """Whether the line has committed more than so many samples and events."""
    st = Store(line_db, readonly=True)
    try:
        return st.count("samples") > samples and st.count("events") > events
    finally:
        st.close()


def acked(line_db: Path, stream: str) -> int:
    st = Store(line_db, readonly=True)
    try:
        return int(st.cursor(stream)["acked_seq"])
    finally:
        st.close()


def wait_drained(line_db: Path, timeout: float = 60) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        st = Store(line_db, readonly=True)
        try:
            if all(st.cursor(s)["acked_seq"] >= st.last_seq(s) for s in STREAMS):
                return
        finally:
            st.close()
        time.sleep(0.2)
    raise AssertionError("the edge's backlog was not acknowledged end to end in time")


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_sigkilled_agent_and_killed_broker_lose_and_duplicate_nothing(tmp_path: Path) -> None:
    broker = Mosquitto(tmp_path / "broker")
    broker.start()
    cfg = example_on_free_ports(tmp_path, data_changes=lambda d: d.update(uplink=uplink_section(broker.port)))
    agg_cfg = write_agg_config(tmp_path, broker.port)
    sim = start("simulate", "-c", str(cfg))
    agg = start("aggregator", "run", "-c", str(agg_cfg))
    rnd = random.Random(20261121)
    kills = 0
    try:
        time.sleep(2.0)
        for i in range(22):
            agent = start("run", "-c", str(cfg))
            working(tmp_path / "line1.db", agent)
            time.sleep(rnd.uniform(0.8, 3.0))  # a random moment of its working life
            if i in (5, 14):  # the broker dies under a running agent, comes back later
                broker.kill()
                time.sleep(rnd.uniform(0.5, 2.0))
                broker.start()
                time.sleep(rnd.uniform(0.2, 1.5))
            agent.send_signal(signal.SIGKILL)
            agent.wait(10)
            kills += 1
        agent = start("run", "-c", str(cfg))
        working(tmp_path / "line1.db", agent)
        time.sleep(3)
        # Enough traffic to mean something (a loaded machine records less per life):
        until("300 samples recorded", lambda: recorded(tmp_path / "line1.db", 300, 0))
        sim_err = stop(sim)  # the line stops producing; the agent drains its backlog
        wait_drained(tmp_path / "line1.db")
        err = stop(agent)
        assert "Traceback" not in err, err
    finally:
        stop(sim)
        agg_err = stop(agg)
        broker.stop()
    assert kills >= 20
    assert "Traceback" not in agg_err and "Traceback" not in sim_err, agg_err
    totals = assert_exactly_once(tmp_path / "line1.db", tmp_path / "plant.db")
    assert totals["samples"] > 300 and totals["state_changes"] > 0 and totals["events"] > 0, totals


@pytest.mark.slow
def test_silent_network_loss_loses_nothing_from_the_detection_window(tmp_path: Path) -> None:
    """The link to the broker goes dead without a FIN or RST: the uplink keeps publishing
    into it until its keep-alive gives up. Everything produced meanwhile still arrives."""
    broker = Mosquitto(tmp_path / "broker")
    broker.start()
    proxy = SilentProxy(broker.port)
    cfg = example_on_free_ports(tmp_path, data_changes=lambda d: d.update(uplink=uplink_section(proxy.port)))
    agg_cfg = write_agg_config(tmp_path, broker.port)  # the aggregator's own link stays healthy
    line_db = tmp_path / "line1.db"
    with Store(line_db) as st:  # missed inspections from before: they go up as a stream too
        for plan, due in (("first_off", 1000.0), ("hourly_torque", 4600.0)):
            add_miss(
                st, plan, order="WO-E2E", product="COLA-500", due_at=due, reason="grace passed", ts=due + 900
            )
    sim = start("simulate", "-c", str(cfg))
    agg = start("aggregator", "run", "-c", str(agg_cfg))
    try:
        time.sleep(2.0)
        agent = start("run", "-c", str(cfg))
        working(line_db, agent)
        until("samples acknowledged by the aggregator", lambda: acked(line_db, "samples") > 0)
        before = Store(line_db, readonly=True).last_seq("samples")
        proxy.go_silent()
        time.sleep(8)  # keep-alive 3 s: detection takes about 4.5 s; data keeps coming
        until(
            "the line kept recording while the link was dead",
            lambda: Store(line_db, readonly=True).last_seq("samples") > before + 50,
        )
        proxy.restore()
        time.sleep(3)
        stop(sim)
        wait_drained(line_db)
        err = stop(agent)
        status = json.loads(
            subprocess.run(
                [sys.executable, "-m", "edge.cli", "status", "-c", str(cfg), "--json"],
                capture_output=True,
                text=True,
                cwd=REPO,
            ).stdout
        )
        assert status["uplink"]["records"] > 0
    finally:
        stop(sim)
        stop(agg)
        proxy.close()
        broker.stop()
    assert "uplink lost the broker" in err, err
    totals = assert_exactly_once(line_db, tmp_path / "plant.db")
    assert totals["inspection_misses"] >= 2, totals
    plant = AggregatorStore(tmp_path / "plant.db")
    try:
        assert plant.query(
            "SELECT plan, due_at FROM inspection_misses WHERE line = ? AND order_id = 'WO-E2E' ORDER BY seq",
            (LINE_KEY,),
        ) == [("first_off", 1000.0), ("hourly_torque", 4600.0)]
        # The example line has inspection plans: it publishes what is due (retained).
        assert [n for (n,) in plant.query("SELECT name FROM line_state WHERE line = ?", (LINE_KEY,))].count(
            "inspections"
        ) == 1
    finally:
        plant.close()
