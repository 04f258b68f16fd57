"""The aggregator's PostgreSQL connection is lost (``pg_terminate_backend``, as when the
server restarts or the network drops it) in the middle of a group's transaction. The
aggregator opens a new connection by itself and commits the same group: nothing becomes
a dead letter, no PUBACK goes out before the commit, the fault is logged once and its
recovery once, without the URL's password."""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import yaml

from edge.cli.demo import free_port
from edge.logic.model import Quality, Sample
from edge.store import STREAMS, Store
from sync.aggregator.db import Database, redact
from sync.aggregator.ops import MetricsServer
from sync.aggregator.service import Aggregator
from sync.aggregator.store import AggregatorStore
from sync.uplink.session import Uplink
from tests.conftest import LINE, REPO, make_config
from tests.mqtt_rig import Mosquitto
from tests.sync.conftest import DEVICE, PG_ADMIN, TAGS, agg_config, private_database, uplink_section, wait

REF = {"enterprise": "acme", "site": "test", "area": "a1", "line": "l1"}
KEY = "acme/test/a1/l1"
TOPIC = f"lineside/v1/{KEY}/events"


def events(after: int, seq: int) -> bytes:
    return json.dumps(
        {
            "v": 1,
            "line": REF,
            "stream": "events",
            "after_seq": after,
            "first_seq": seq,
            "last_seq": seq,
            "sent_at": 0.0,
            "records": [
                {"seq": seq, "ts": 1.0, "kind": "k", "source": "s", "message": f"m{seq}", "data": None}
            ],
        }
    ).encode()


@pytest.fixture
def store_url() -> Iterator[str]:
    """A PostgreSQL database of this test alone, dropped afterwards."""
    with private_database(f"lineside_reconnect_{os.getpid()}_{uuid.uuid4().hex[:8]}") as url:
        yield url


def terminate(url: str, pid: int) -> None:
    with psycopg.connect(url, autocommit=True) as c:
        c.execute("SELECT pg_terminate_backend(%s)", (pid,))


class Acks:
    """Where the aggregator's PUBACKs go, with the records the store held at each."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.sent: list[tuple[int, int]] = []

    def ack(self, mid: int, qos: int) -> None:
        with psycopg.connect(self.url, autocommit=True) as c:
            row = c.execute("SELECT count(*) FROM records WHERE line = %s", (KEY,)).fetchone()
        self.sent.append((mid, int(row[0]) if row else -1))


def test_a_connection_lost_mid_group_is_reopened_and_the_group_committed_once(
    store_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="lineside.aggregator")
    agg = Aggregator(agg_config(1, store_url, lines=[REF]))
    acks = Acks(store_url)
    agg._process([(acks, 1, 1, TOPIC, events(0, 1))])
    # Another session holds the stream's progress row: the aggregator's next group waits
    # inside its transaction, and its backend is terminated there.
    other = psycopg.connect(store_url)
    other.execute("SELECT contiguous FROM progress WHERE line = %s AND stream = 'events' FOR UPDATE", (KEY,))
    pid = agg.store.db.conn.info.backend_pid
    worker = threading.Thread(target=agg._process, args=([(acks, 2, 1, TOPIC, events(1, 2))],))
    worker.start()

    def waiting() -> bool:
        with psycopg.connect(store_url, autocommit=True) as c:
            row = c.execute("SELECT count(*) FROM pg_locks WHERE pid = %s AND NOT granted", (pid,)).fetchone()
        return bool(row and row[0])

    wait(waiting, 30)
    terminate(store_url, pid)
    wait(lambda: agg.store.db.reconnects >= 1 or not worker.is_alive(), 30)
    assert acks.sent == [(1, 1)], "nothing acknowledged while the group is not committed"
    other.rollback()
    other.close()
    worker.join(30)
    assert not worker.is_alive()
    assert agg.store.db.conn.info.backend_pid != pid
    assert agg.store.db.reconnects == 1 and agg.counts["store_up"] == 1
    assert acks.sent == [(1, 1), (2, 2)], "acknowledged after the commit, once"
    # An idle connection lost between groups: the next group opens a new one.
    terminate(store_url, agg.store.db.conn.info.backend_pid)
    agg._process([(acks, 3, 1, TOPIC, events(2, 3))])
    assert acks.sent[-1] == (3, 3)
    st = AggregatorStore(store_url)
    try:
        assert st.dead_letter_counts() == {}
        assert [r["seq"] for r in st.records(KEY, "events")] == [1, 2, 3]
        assert st.ack(KEY, "events") == 3
    finally:
        st.close()
    msgs = [r.getMessage() for r in caplog.records if r.name == "lineside.aggregator"]
    lost = [m for m in msgs if m.startswith("plant store: connection lost")]
    recovered = [m for m in msgs if "plant store commits recovered" in m]
    assert len(lost) == 2 and len(recovered) == 2, msgs  # once each per outage
    assert "terminating connection due to administrator command" in lost[0]
    agg.store.close()


def test_the_commands_loop_shares_the_connection_and_reopens_it_too(store_url: str) -> None:
    agg = Aggregator(agg_config(1, store_url, lines=[REF]))
    agg.store.add_command("c1", KEY, "order", {}, 1.0)
    terminate(store_url, agg.store.db.conn.info.backend_pid)
    # The first statement after the loss fails (it cannot know); the next one reconnects.
    with pytest.raises(psycopg.OperationalError):
        agg.store.commands_to_send(2.0, 1.0)
    assert [c[0] for c in agg.store.commands_to_send(2.0, 1.0)] == ["c1"]
    agg.store.close()


def test_a_store_closed_on_purpose_is_not_reopened(store_url: str) -> None:
    db = Database(store_url)
    db.close()
    with pytest.raises(psycopg.OperationalError):
        db.query("SELECT 1")
    assert not db.lost(psycopg.OperationalError("the connection is closed"))


def test_a_store_that_stays_down_keeps_the_watchdog_pinged_and_metrics_answering(
    store_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The database refuses connections for a while (``ALLOW_CONNECTIONS false``, then
    its backends terminated): the ingest keeps retrying and pinging systemd's watchdog
    with a status that says so, ``/metrics`` still answers with ``store_up 0``, and the
    group commits once the database takes connections again."""
    caplog.set_level(logging.INFO, logger="lineside.aggregator")
    sock_path = tmp_path / "notify.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(sock_path))
    sock.settimeout(0.1)
    monkeypatch.setenv("NOTIFY_SOCKET", str(sock_path))
    monkeypatch.setenv("WATCHDOG_USEC", "400000")  # a ping every 0.2 s
    monkeypatch.delenv("WATCHDOG_PID", raising=False)
    cfg = agg_config(1, store_url, lines=[REF], metrics={"port": free_port()})
    agg = Aggregator(cfg)
    metrics = MetricsServer(cfg, lambda: {**agg.counts, "store_reconnects": agg.store.db.reconnects})
    metrics.start()
    acks = Acks(store_url)
    name = store_url.rsplit("/", 1)[1]
    admin = psycopg.connect(PG_ADMIN, autocommit=True)
    worker: threading.Thread | None = None
    try:
        agg._process([(acks, 1, 1, TOPIC, events(0, 1))])
        admin.execute(f"ALTER DATABASE {name} ALLOW_CONNECTIONS false")
        terminate(PG_ADMIN, agg.store.db.conn.info.backend_pid)
        worker = threading.Thread(target=agg._process, args=([(acks, 2, 1, TOPIC, events(1, 2))],))
        worker.start()
        statuses: list[str] = []

        def pinged_while_down() -> bool:
            try:
                msg = sock.recv(4096).decode()
            except TimeoutError:
                return False
            if "WATCHDOG=1" in msg and "plant store down" in msg:
                statuses.append(msg)
            return len(statuses) >= 3

        wait(pinged_while_down, 30)
        assert metric(metrics.port, "store_up") == 0
        assert metric(metrics.port, "records_total") == 1
        assert worker.is_alive() and acks.sent == [(1, 1)], "nothing acknowledged while down"
        admin.execute(f"ALTER DATABASE {name} ALLOW_CONNECTIONS true")
        worker.join(30)
        assert not worker.is_alive()
        assert acks.sent == [(1, 1), (2, 2)]
        assert agg.counts["store_up"] == 1 and agg.store_down_since is None
        assert metric(metrics.port, "store_up") == 1
    finally:
        admin.execute(f"ALTER DATABASE {name} ALLOW_CONNECTIONS true")
        admin.close()
        agg.request_stop()
        if worker is not None:
            worker.join(10)
        metrics.stop()
        agg.store.close()
        sock.close()
    msgs = [r.getMessage() for r in caplog.records if r.name == "lineside.aggregator"]
    assert sum(m.startswith("plant store: connection lost") for m in msgs) == 1, msgs
    cannot = [m for m in msgs if m.startswith("plant store: cannot reconnect")]
    assert len(cannot) == 1 and "not currently accepting connections" in cannot[0], msgs  # once, not per try
    assert sum("plant store commits recovered" in m for m in msgs) == 1, msgs


def test_logs_name_no_password() -> None:
    url = "postgresql://lineside:s3cr%40t@db.plant:5432/plant"
    text = f"connection to {url} failed: password s3cr@t refused (s3cr%40t)"
    out = redact(text, url)
    assert "s3cr" not in out and "(the plant store URL)" in out
    assert redact("x", "/var/lib/plant.db") == "x"


# ---------------------------------------------------------------------- end to end

LINES = ("l1", "l2")


def produce(store: Store, n: int, start: float) -> None:
    rows = [Sample(f"t{i % 5}", float(i), Quality.GOOD, start + i * 0.01, start + i * 0.01) for i in range(n)]
    for k in range(0, n, 500):
        store.append_samples(rows[k : k + 500])
    for i in range(10):
        store.append_event("note", "test", f"event {start} {i}")


def metric(port: int, name: str) -> float | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
            text = r.read().decode()
    except OSError:
        return None
    m = re.search(rf"^lineside_aggregator_{name} (\S+)$", text, re.M)
    return float(m.group(1)) if m else None


def plant_records(url: str) -> int:
    with psycopg.connect(url, autocommit=True) as c:
        row = c.execute("SELECT count(*) FROM records").fetchone()
    return int(row[0]) if row else 0


def terminate_all(url: str) -> int:
    """A database restart as the aggregator sees it: every backend of its database
    terminated (ingest and commands, metrics)."""
    name = url.rsplit("/", 1)[1]
    with psycopg.connect(PG_ADMIN, autocommit=True) as c:
        rows = c.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = %s AND pid <> pg_backend_pid()",
            (name,),
        ).fetchall()
    return sum(1 for (ok,) in rows if ok)


def drained(db: Path) -> bool:
    st = Store(db, readonly=True)
    try:
        return all(st.cursor(s)["acked_seq"] >= st.last_seq(s) for s in STREAMS)
    finally:
        st.close()


@pytest.mark.timeout(180)
def test_the_aggregator_process_survives_its_connections_killed_twice_mid_ingest(
    tmp_path: Path, store_url: str, mosquitto: Mosquitto
) -> None:
    """Real mosquitto, real uplinks, a real ``lineside aggregator run`` on PostgreSQL:
    its backends are terminated twice while the lines' records flow in. The process
    recovers by itself (same pid) and the plant ends with every record once."""
    metrics_port = free_port()
    agg_yaml = tmp_path / "agg.yaml"
    agg_yaml.write_text(
        yaml.safe_dump(
            {
                "mqtt": {
                    "port": mosquitto.port,
                    "keepalive_s": 3,
                    "reconnect_min_s": 0.5,
                    "reconnect_max_s": 2,
                },
                "store": {"url": store_url},
                "lines": [{**REF, "line": n} for n in LINES],
                "ack_interval_ms": 20,
                "metrics": {"port": metrics_port},
            }
        )
    )
    log = tmp_path / "agg.log"
    proc = subprocess.Popen(
        [sys.executable, "-m", "edge.cli", "aggregator", "run", "-c", str(agg_yaml)],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=log.open("w"),
    )
    stores: dict[str, Store] = {}
    paths: dict[str, Path] = {}
    uplinks: list[Uplink] = []
    try:
        wait(lambda: metric(metrics_port, "store_up") == 1 or proc.poll() is not None, 60)
        assert proc.poll() is None, log.read_text()
        for n in LINES:
            (tmp_path / n).mkdir()
            cfg = make_config(
                DEVICE, TAGS, tmp_path / n, line={**LINE, "line": n}, uplink=uplink_section(mosquitto.port)
            )
            paths[n] = Path(cfg.store.path)
            st = stores[n] = Store(paths[n])
            st.register_tags((t.name, t.device, t.type, t.eng_unit) for t in cfg.tags)
            produce(st, 8000, 1.7e9)
            uplinks.append(Uplink(cfg))
        for up in uplinks:
            up.start()
        total = sum(st.last_seq("samples") + st.last_seq("events") for st in stores.values())
        for kill, more in enumerate((1.8e9, None)):
            seen = plant_records(store_url)
            wait(lambda: plant_records(store_url) > seen + 1500, 60)  # noqa: B023
            at = plant_records(store_url)
            assert terminate_all(store_url) >= 1
            assert at < total, "killed while records were still coming in"
            wait(lambda: (metric(metrics_port, "store_reconnects_total") or 0) >= kill + 1, 30)  # noqa: B023
            if more is not None:
                for st in stores.values():
                    produce(st, 8000, more)
                total = sum(st.last_seq("samples") + st.last_seq("events") for st in stores.values())
        wait(lambda: all(drained(p) for p in paths.values()), 90)
        assert proc.poll() is None, "recovered by itself, the same process"
        plant = AggregatorStore(store_url)
        try:
            for n, st in stores.items():
                key = f"acme/test/a1/{n}"
                for stream in STREAMS:
                    last = st.last_seq(stream)
                    got = plant.query(
                        "SELECT seq FROM records WHERE line = ? AND stream = ? ORDER BY seq", (key, stream)
                    )
                    assert [s for (s,) in got] == list(range(1, last + 1)), f"{n} {stream}: each once"
                    assert plant.ack(key, stream) == last
            assert plant.dead_letter_counts() == {}
        finally:
            plant.close()
        assert (metric(metrics_port, "store_reconnects_total") or 0) >= 2
        assert metric(metrics_port, "store_up") == 1
    finally:
        for up in uplinks:
            up.stop()
        for st in stores.values():
            st.close()
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            code = proc.wait()
    assert code == 0, log.read_text()
    text = log.read_text()
    # Whichever thread met the loss first logged it (the ingest, or the command sender
    # sharing its connection), and its recovery; the ingest's own path is the first test's.
    assert "plant store: connection lost" in text or "cannot send commands" in text, text
    assert "recovered after" in text, text
    assert "Traceback" not in text, text


@pytest.mark.parametrize(
    ("url", "code", "says"),
    [
        # Nothing listens there yet: a fault (exit 1), systemd starts the aggregator again.
        ("postgresql://lineside:s3cret-pw@127.0.0.1:{port}/test", 1, "PostgreSQL does not answer"),
        # The server answers and refuses: the config's (exit 2, naming the field).
        (
            "postgresql://lineside:s3cret-pw@127.0.0.1:5432/no_such_db_{port}",
            2,
            "store.url: PostgreSQL refused",
        ),
    ],
)
def test_a_plant_store_that_cannot_be_opened_at_start_is_named_without_a_traceback(
    tmp_path: Path, pg_database: str, url: str, code: int, says: str
) -> None:
    cfg = agg_config(1, url.format(port=free_port()))
    path = tmp_path / "agg.yaml"
    path.write_text(yaml.safe_dump(cfg.model_dump(mode="json", exclude={"source"})))
    p = subprocess.run(
        [sys.executable, "-m", "edge.cli", "aggregator", "status", "-c", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
    )
    assert p.returncode == code, p.stderr
    assert says in p.stderr and "Traceback" not in p.stderr, p.stderr
    assert "s3cret-pw" not in p.stdout + p.stderr
