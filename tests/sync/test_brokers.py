"""The MQTT 3.1.1 path through the clusterable brokers Debian packages: NATS (its MQTT
listener on JetStream) and RabbitMQ (the ``rabbitmq_mqtt`` plugin). Each test starts a
broker of its own on free ports in its tmp dir (never the machine's NATS on 4222 or its
RabbitMQ on 5672).

Per broker, a semantics test checks what the README's broker table claims, with plain
paho clients: retained messages for a late subscriber (exact topic and wildcard), what a
``$share/…`` subscription really is, and what a dotted topic level does (every example
tag name has a dot: ``filler.temperature``). An end-to-end test then runs a real line
(simulator, agent, uplink) and a real ``lineside aggregator run``, both with
``mqtt.protocol: "3.1.1"``, through the broker: records shipped exactly once (line store
against plant store) across an aggregator SIGKILL and a broker restart with messages
waiting in persistent sessions (clean session false), a ``products`` push and its
answer, and the retained line status with its last will."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
import yaml
from paho.mqtt.enums import CallbackAPIVersion

from edge.cli import main
from edge.cli.demo import free_port
from edge.config.line import load_config
from edge.services.commands import effective_config
from edge.store import Store
from sync.aggregator.store import AggregatorStore
from tests.conftest import example_on_free_ports
from tests.nats_rig import NatsServer, listening
from tests.plant_users import password_on_stdin, web_users
from tests.sync.conftest import uplink_section
from tests.sync.test_sync_e2e import (
    LINE_KEY,
    STARTED,
    acked,
    assert_exactly_once,
    start,
    stop,
    until,
    wait_drained,
    working,
    write_agg_config,
)

RABBITMQ_SERVER = "/usr/lib/rabbitmq/bin/rabbitmq-server"
EPMD = "/usr/bin/epmd"
STATUS = "lineside/v1/acme/hamburg/filling/line1/state/status"


@pytest.fixture(autouse=True)
def _no_orphans() -> Iterator[None]:
    yield
    while STARTED:
        p = STARTED.pop()
        if p.poll() is None:
            p.kill()
            p.wait()


class RabbitNode:
    """A private RabbitMQ node with the MQTT plugin: its own node name, AMQP, MQTT,
    Erlang distribution and epmd ports, database, logs, cookie and plugin list in
    ``workdir``. Takes 10-30 s to boot."""

    def __init__(self, workdir: Path) -> None:
        self.dir = workdir
        self.dir.mkdir(parents=True, exist_ok=True)
        self.mqtt_port = free_port()
        self.epmd_port = free_port()
        (self.dir / "enabled_plugins").write_text("[rabbitmq_mqtt].\n")
        (self.dir / "rabbitmq.conf").write_text(
            f"listeners.tcp.default = 127.0.0.1:{free_port()}\n"
            f"mqtt.listeners.tcp.default = 127.0.0.1:{self.mqtt_port}\n"
            "mqtt.allow_anonymous = true\n"
        )
        self.env = os.environ | {
            "HOME": str(self.dir),  # the Erlang cookie
            "RABBITMQ_NODENAME": f"lineside-test-{self.mqtt_port}@localhost",
            "RABBITMQ_DIST_PORT": str(free_port()),
            "ERL_EPMD_PORT": str(self.epmd_port),
            "RABBITMQ_CONFIG_FILE": str(self.dir / "rabbitmq.conf"),
            "RABBITMQ_ADVANCED_CONFIG_FILE": str(self.dir / "advanced.config"),
            "RABBITMQ_CONF_ENV_FILE": str(self.dir / "rabbitmq-env.conf"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.dir / "enabled_plugins"),
            "RABBITMQ_PLUGINS_EXPAND_DIR": str(self.dir / "plugins-expand"),
            "RABBITMQ_MNESIA_BASE": str(self.dir / "mnesia"),
            "RABBITMQ_LOG_BASE": str(self.dir / "log"),
            "RABBITMQ_PID_FILE": str(self.dir / "rabbit.pid"),
        }
        self.out = self.dir / "rabbitmq-server.out"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 120.0) -> None:
        with self.out.open("ab") as out:
            self.proc = subprocess.Popen(
                [RABBITMQ_SERVER], env=self.env, stdout=out, stderr=subprocess.STDOUT, cwd=self.dir
            )
        end = time.monotonic() + timeout
        while not listening(self.mqtt_port):
            if self.proc.poll() is not None:
                raise RuntimeError(f"rabbitmq-server exited at start: {self.out.read_text()[-3000:]}")
            assert time.monotonic() < end, f"RabbitMQ: no MQTT listener within {timeout} s"
            time.sleep(0.2)

    def stop(self) -> None:
        """A clean shutdown (SIGTERM to the node: RabbitMQ stops the way `rabbitmqctl
        stop` does)."""
        if self.proc is None or self.proc.poll() is not None:
            return
        pid_file = self.dir / "rabbit.pid"
        beam = int(pid_file.read_text().strip()) if pid_file.exists() else None
        if beam is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(beam, signal.SIGTERM)
        try:
            self.proc.wait(60)
        except subprocess.TimeoutExpired:
            if beam is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(beam, signal.SIGKILL)
            self.proc.kill()
            self.proc.wait(10)

    def restart(self) -> None:
        self.stop()
        self.start()

    def close(self) -> None:
        """Stop the node and the epmd it started on its own port."""
        self.stop()
        subprocess.run([EPMD, "-kill"], env=self.env, capture_output=True, check=False, timeout=10)


@pytest.fixture
def rabbit(tmp_path: Path) -> Iterator[RabbitNode]:
    if not (os.access(RABBITMQ_SERVER, os.X_OK) and os.access(EPMD, os.X_OK)):
        pytest.fail("RabbitMQ is not installed: `sudo apt-get install rabbitmq-server` (Debian)")
    b = RabbitNode(tmp_path / "rabbitmq")
    b.start()
    try:
        yield b
    finally:
        b.close()


class Probe:
    """A plain MQTT 3.1.1 client, as an integrator's tool would be."""

    def __init__(self, port: int, client_id: str, *, clean: bool = True) -> None:
        self.got: list[tuple[str, bytes, bool]] = []
        self.connected = threading.Event()
        self.dropped = threading.Event()
        self.c = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv311, clean_session=clean
        )
        self.c.on_connect = lambda *a: self.connected.set()
        self.c.on_disconnect = lambda *a: self.dropped.set()
        self.c.on_message = lambda _c, _u, m: self.got.append((m.topic, m.payload, bool(m.retain)))
        self.c.connect("127.0.0.1", port, 30)
        self.c.loop_start()
        assert self.connected.wait(10), f"{client_id}: no CONNACK"

    def subscribe(self, topic: str) -> None:
        done = threading.Event()
        self.c.on_subscribe = lambda *a: done.set()
        self.c.subscribe(topic, qos=1)
        assert done.wait(10), f"no SUBACK for {topic}"

    def publish(self, topic: str, payload: bytes, *, retain: bool = False) -> None:
        self.c.publish(topic, payload, qos=1, retain=retain).wait_for_publish(10)

    def payloads(self, topic: str) -> list[bytes]:
        return [p for t, p, _ in self.got if t == topic]

    def close(self) -> None:
        self.c.disconnect()
        self.c.loop_stop()


def settle(probe: Probe, n: int, timeout: float = 10.0) -> None:
    """Until ``probe`` holds at least ``n`` messages (then a short quiet time, to see
    any that should not have come)."""
    end = time.monotonic() + timeout
    while len(probe.got) < n and time.monotonic() < end:
        time.sleep(0.05)
    time.sleep(0.5)


def common_semantics(port: int) -> tuple[Probe, Probe]:
    """What both brokers do alike, asserted; returns a wildcard and an exact-topic late
    subscriber to a retained message for the caller to judge."""
    pub = Probe(port, "sem-pub")
    pub.publish("sem/a/status", b"up", retain=True)
    exact = Probe(port, "sem-exact")
    exact.subscribe("sem/a/status")
    wild = Probe(port, "sem-wild")
    wild.subscribe("sem/+/status")
    # A `$share/…` subscription is granted, but it is a plain topic named "$share/g/…":
    # a message to the shared topic never reaches it (no shared subscriptions).
    share = Probe(port, "sem-share")
    share.subscribe("$share/g/sem/work")
    pub.publish("sem/work", b"job")
    settle(exact, 1)
    settle(share, 0)
    assert share.got == [], share.got
    # The last will, retained, for a subscriber that comes later (exact topic).
    will = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="sem-will", protocol=mqtt.MQTTv311)
    will.will_set("sem/w/status", b"offline", qos=1, retain=True)
    will.connect("127.0.0.1", port, 30)
    will.loop_start()
    time.sleep(0.5)
    will.loop_stop()
    will.socket().close()  # gone without DISCONNECT: the broker publishes the will
    time.sleep(1.0)
    late = Probe(port, "sem-late")
    late.subscribe("sem/w/status")
    settle(late, 1)
    assert late.got == [("sem/w/status", b"offline", True)], late.got
    assert exact.got == [("sem/a/status", b"up", True)], exact.got
    for p in (pub, share, late):
        p.close()
    return exact, wild


def test_nats_mqtt_semantics(nats: NatsServer) -> None:
    """NATS 2.9: retained messages reach late wildcard subscribers too; `$share` is a
    plain topic; a topic level with a dot closes the publisher's connection."""
    exact, wild = common_semantics(nats.mqtt_port)
    settle(wild, 1)
    assert [m for m in wild.got if m[0] == "sem/a/status"] == [("sem/a/status", b"up", True)], wild.got
    # A dotted level (what the UNS topic of tag "filler.temperature" once was): NATS maps
    # MQTT levels to subject tokens separated by ".", refuses it and drops the publisher.
    # The namespace now has no dotted level (test_uns.py::test_uns_through_nats_mqtt).
    dotted = Probe(nats.mqtt_port, "sem-dotted")
    dotted.c.publish("sem/filler/filler.temperature", b"21.5", qos=1)
    assert dotted.dropped.wait(10), "NATS 2.9 took a topic with a dot"
    dotted.close()
    exact.close()
    wild.close()


def line_and_plant(tmp_path: Path, port: int) -> tuple[Path, Path]:
    """The example line and an aggregator config (with plant users), both speaking MQTT
    3.1.1 to ``port``."""
    section = uplink_section(port)
    section["mqtt"]["protocol"] = "3.1.1"
    cfg = example_on_free_ports(tmp_path, data_changes=lambda d: d.update(uplink=section))
    agg_cfg = write_agg_config(tmp_path, port)
    data = yaml.safe_load(agg_cfg.read_text())
    data["mqtt"]["protocol"] = "3.1.1"
    data["web"] = web_users()
    agg_cfg.write_text(yaml.safe_dump(data))
    return cfg, agg_cfg


def plant(tmp_path: Path) -> AggregatorStore:
    return AggregatorStore(tmp_path / "plant.db")


def plant_online(tmp_path: Path) -> bool | None:
    st = plant(tmp_path)
    try:
        rows = st.query("SELECT online FROM line_status WHERE line = ?", (LINE_KEY,))
    finally:
        st.close()
    return bool(rows[0][0]) if rows else None


def commands(tmp_path: Path) -> list[dict[str, Any]]:
    st = plant(tmp_path)
    try:
        return list(st.commands())
    finally:
        st.close()


def line_to_plant(
    tmp_path: Path, port: int, restart_broker: Any, monkeypatch: pytest.MonkeyPatch
) -> dict[str, int]:
    """The end-to-end run both brokers go through (see the module's docstring)."""
    cfg, agg_cfg = line_and_plant(tmp_path, port)
    line_db = tmp_path / "line1.db"
    sim = start("simulate", "-c", str(cfg))
    agg = start("aggregator", "run", "-c", str(agg_cfg))
    agent = start("run", "-c", str(cfg))
    try:
        working(line_db, agent)
        until("samples acknowledged by the aggregator", lambda: acked(line_db, "samples") > 0)
        until("the plant sees the line online", lambda: plant_online(tmp_path) is True)
        # The retained status, for a subscriber that comes later (exact topic).
        late = Probe(port, "late-status")
        late.subscribe(STATUS)
        settle(late, 1)
        assert json.loads(late.payloads(STATUS)[-1])["online"] is True
        late.close()

        # A command down and its answer up: products pushed by a plant admin.
        # The line's own products (its default product and changeovers name them) and one more.
        products = [*yaml.safe_load(cfg.read_text())["products"], {"id": "BRK-1", "ideal_cycle_s": 0.5}]
        (tmp_path / "products.yaml").write_text(yaml.safe_dump({"products": products}))
        password_on_stdin(monkeypatch)
        pushed = ["aggregator", "products", "push", "-c", str(agg_cfg), str(tmp_path / "products.yaml")]
        assert main([*pushed, "--line", "line1", "--user", "ada"]) == 0
        until(
            "the line answered the products command",
            lambda: any(c["state"] != "pending" for c in commands(tmp_path)),
            timeout=60,
        )
        assert [(c["kind"], c["state"]) for c in commands(tmp_path)] == [("products", "accepted")]
        line_store = Store(line_db, readonly=True)
        try:
            ids = [p.id for p in effective_config(load_config(cfg), line_store).products]
            assert ids == [p["id"] for p in products], ids
        finally:
            line_store.close()

        # Persistent sessions across a broker restart: the aggregator is SIGKILLed, the line
        # keeps publishing into the aggregator's session (clean session false), the broker
        # restarts. A probe session proves the broker kept what was queued for it.
        held = Probe(port, "held-session", clean=False)
        held.subscribe("probe/held")
        held.close()
        sender = Probe(port, "held-sender")
        for i in range(3):
            sender.publish("probe/held", str(i).encode())
        sender.close()
        agg.send_signal(signal.SIGKILL)
        agg.wait(10)
        before = acked(line_db, "samples")
        time.sleep(3)  # batches go into the dead aggregator's session
        restart_broker()
        held = Probe(port, "held-session", clean=False)
        settle(held, 3)
        assert held.payloads("probe/held") == [b"0", b"1", b"2"], held.got
        held.close()
        agg = start("aggregator", "run", "-c", str(agg_cfg))
        until("acknowledgements again", lambda: acked(line_db, "samples") > before, timeout=120)

        # The line stops producing and drains; then its agent dies: the broker publishes
        # the retained last will (online: false) and the plant records it.
        stop(sim)
        wait_drained(line_db, timeout=120)
        agent.send_signal(signal.SIGKILL)
        agent.wait(10)
        until("the plant sees the last will", lambda: plant_online(tmp_path) is False, timeout=60)
        late = Probe(port, "late-will")
        late.subscribe(STATUS)
        settle(late, 1)
        assert json.loads(late.payloads(STATUS)[-1])["online"] is False
        late.close()
    finally:
        stop(sim)
        agg_err = stop(agg)
        stop(agent)
    assert "Traceback" not in agg_err, agg_err
    assert "MQTT 3.1.1: plain subscription" in agg_err, agg_err
    return assert_exactly_once(line_db, tmp_path / "plant.db")


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_line_to_plant_through_nats(
    tmp_path: Path, nats: NatsServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    totals = line_to_plant(tmp_path, nats.mqtt_port, nats.restart, monkeypatch)
    assert totals["samples"] > 0 and totals["events"] > 0, totals


def test_rabbitmq_mqtt_semantics(rabbit: RabbitNode) -> None:
    """RabbitMQ 3.10: a retained message reaches a late subscriber of its exact topic
    only, never a wildcard subscription; `$share` is a plain topic; a dot in a topic
    level comes out as a level separator (MQTT "/" is AMQP's "." in its topic exchange)."""
    exact, wild = common_semantics(rabbit.mqtt_port)
    settle(wild, 1)  # (it did get the will above, published live after it subscribed)
    assert [m for m in wild.got if m[0] == "sem/a/status"] == [], wild.got
    sub = Probe(rabbit.mqtt_port, "sem-dot-sub")
    sub.subscribe("sem/filler/#")
    pub = Probe(rabbit.mqtt_port, "sem-dot-pub")
    pub.publish("sem/filler/filler.temperature", b"21.5")
    settle(sub, 1)
    assert [t for t, _, _ in sub.got] == ["sem/filler/filler/temperature"], sub.got
    for p in (exact, wild, sub, pub):
        p.close()


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_line_to_plant_through_rabbitmq(
    tmp_path: Path, rabbit: RabbitNode, monkeypatch: pytest.MonkeyPatch
) -> None:
    totals = line_to_plant(tmp_path, rabbit.mqtt_port, rabbit.restart, monkeypatch)
    assert totals["samples"] > 0 and totals["events"] > 0, totals
