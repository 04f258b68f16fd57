"""The Sparkplug B edge node against a real broker, every message decoded by Eclipse
Tahu's JavaScript codec (not ours): births with datatypes, engineering units and
aliases; seq wrapping at 255; bdSeq in NDEATH and the next NBIRTH; data the primary host
missed while its STATE said offline (across a restart of the node), sent after it came
back flagged is_historical; a
rebirth on NCMD; a DCMD to a tag that is not allow-listed refused and audited, one to
an allow-listed tag written through the write path and audited. A node that dies
without a word (SIGKILL) still gets its NDEATH out: the broker publishes the last will,
with the bdSeq of the NBIRTH of that session."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from edge.logic.model import Quality, Sample
from edge.store import Store
from sync.sparkplug import SparkplugNode
from tests.conftest import LINE, make_config
from tests.sync.conftest import wait
from tests.sync.sparkplug import tahu

DEVICE = [{"name": "plc", "protocol": "modbus_tcp", "host": "127.0.0.1", "port": 1}]
TAGS = [
    {"name": "plc.temp", "device": "plc", "address": "hr:0", "type": "float32", "eng_unit": "°C"},
    {"name": "plc.count", "device": "plc", "address": "hr:2", "type": "int16", "eng_unit": "pcs"},
    {"name": "plc.setpoint", "device": "plc", "address": "hr:4", "type": "float64", "writable": True},
    {"name": "plc.running", "device": "plc", "address": "co:0", "type": "bool"},
]
GROUP, NODE = "acme-test-a1", "l1"


class Observer:
    """A plain MQTT client that records every Sparkplug message and plays the host."""

    def __init__(self, port: int) -> None:
        self.messages: list[tuple[str, bytes]] = []
        self.lock = threading.Lock()
        self.c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="test-host")
        self.c.on_message = self._on_message
        self.c.connect("127.0.0.1", port)
        self.c.subscribe(f"spBv1.0/{GROUP}/#", qos=1)
        self.c.loop_start()

    def _on_message(self, client: Any, userdata: Any, msg: Any) -> None:
        with self.lock:
            self.messages.append((msg.topic, msg.payload))

    def kinds(self, kind: str) -> list[int]:
        with self.lock:
            return [i for i, (t, _) in enumerate(self.messages) if t.split("/")[2] == kind]

    def state(self, online: bool, timestamp: int = 1) -> None:
        body = json.dumps({"online": online, "timestamp": timestamp}).encode()
        self.c.publish("spBv1.0/STATE/scada", body, qos=1, retain=True).wait_for_publish(5)

    def close(self) -> None:
        self.c.loop_stop()
        self.c.disconnect()


def test_sparkplug_node_decoded_by_tahu(tmp_path: Path, mosquitto: Any) -> None:
    tahu.ensure_installed()
    cfg = make_config(
        DEVICE,
        TAGS,
        tmp_path,
        sparkplug={
            "mqtt": {"port": mosquitto.port, "keepalive_s": 5, "reconnect_min_s": 0.2, "reconnect_max_s": 1},
            "primary_host": "scada",
            "writable": ["plc.setpoint"],
            "max_metrics": 1,
        },
    )
    store = Store(cfg.store.path)
    store.register_tags((t.name, t.device, t.type, t.eng_unit) for t in cfg.tags)
    t0 = 1_790_000_000.0
    store.append_samples(
        [
            Sample("plc.temp", 21.5, Quality.GOOD, t0, t0),
            Sample("plc.count", -3, Quality.GOOD, t0, t0),
            Sample("plc.running", True, Quality.GOOD, t0, t0),
        ]
    )
    host = Observer(mosquitto.port)
    host.state(True)
    writes: list[tuple[str, Any, str]] = []
    node = SparkplugNode(cfg)
    node.use_writes(lambda tag, value, who, reason: writes.append((tag, value, who)))
    node.start()
    try:
        wait(lambda: len(host.kinds("DBIRTH")) == 1, 10)
        # 300 changes of one tag, one metric per DDATA (max_metrics 1): seq wraps.
        store.append_samples(
            [Sample("plc.count", i, Quality.GOOD, t0 + 1 + i / 1000, t0 + 1) for i in range(300)]
        )
        node.notify()
        wait(lambda: len(host.kinds("DDATA")) == 300, 15)

        # The primary host goes away: NDEATH; what happens meanwhile waits in the store.
        first_bd = node.session.bd_seq if node.session else -1
        host.state(False)
        wait(lambda: len(host.kinds("NDEATH")) == 1, 10)
        wait(lambda: node.connected and node.session is not None and node.session.bd_seq != first_bd, 10)
        missed = [Sample("plc.temp", 30.0 + i, Quality.GOOD, t0 + 10 + i, t0 + 10 + i) for i in range(5)]
        store.append_samples(missed[:3])
        # The agent restarts meanwhile: the new node knows what the host missed from the
        # store (the durable cursor), not from the old one's memory.
        node.stop(3)
        node = SparkplugNode(cfg)
        node.use_writes(lambda tag, value, who, reason: writes.append((tag, value, who)))
        node.start()
        wait(lambda: node.connected, 10)
        store.append_samples(missed[3:])
        store.append_samples([Sample("plc.running", None, Quality.BAD, t0 + 20, t0 + 20)])
        node.notify()
        host.state(True)
        wait(lambda: len(host.kinds("NBIRTH")) == 2 and len(host.kinds("DDATA")) >= 306, 10)

        # A stale STATE (older than the last) is ignored: the node stays alive and
        # answers the rebirth on NCMD that follows; then two DCMDs encoded by Tahu.
        host.state(False, timestamp=0)
        rebirth = tahu.encode([{"name": "Node Control/Rebirth", "type": "Boolean", "value": True}])
        host.c.publish(f"spBv1.0/{GROUP}/NCMD/{NODE}", rebirth).wait_for_publish(5)
        wait(lambda: len(host.kinds("NBIRTH")) == 3, 10)
        assert len(host.kinds("NDEATH")) == 1
        refused = tahu.encode([{"name": "plc.temp", "type": "Float", "value": 99.0}])
        allowed = tahu.encode([{"name": "plc.setpoint", "type": "Double", "value": 42.5}])
        host.c.publish(f"spBv1.0/{GROUP}/DCMD/{NODE}/plc", refused).wait_for_publish(5)
        host.c.publish(f"spBv1.0/{GROUP}/DCMD/{NODE}/plc", allowed).wait_for_publish(5)
        wait(lambda: node.stats["writes"] == 1 and node.stats["refused"] == 1, 10)
    finally:
        node.stop(3)
        host.close()

    assert writes == [("plc.setpoint", 42.5, "sparkplug host")]
    w = store.writes()
    assert [(r["tag"], r["outcome"], r["requested_by"]) for r in w] == [
        ("plc.temp", "refused", "sparkplug host")
    ]
    assert "not writable by Sparkplug" in w[0]["error"]
    audit = store.db.execute(
        "SELECT who, entity, new FROM audit WHERE action = 'plc.write' ORDER BY seq"
    ).fetchall()
    assert [(a[0], a[1], json.loads(a[2])["outcome"]) for a in audit] == [
        ("sparkplug host", "plc.temp", "refused"),
        ("sparkplug host", "plc.setpoint", "ok"),
    ]

    msgs = host.messages
    decoded = tahu.decode_all([p for _, p in msgs])
    kinds = [t.split("/")[2] for t, _ in msgs]
    births = [i for i, k in enumerate(kinds) if k == "NBIRTH"]
    deaths = [i for i, k in enumerate(kinds) if k == "NDEATH"]

    # Births: NBIRTH seq 0 with bdSeq and the rebirth control; DBIRTH with every tag,
    # its datatype, engineering unit and a unique alias.
    nb = decoded[births[0]]
    assert nb["seq"] == 0
    node_metrics = {m["name"]: m for m in nb["metrics"]}
    assert node_metrics["bdSeq"]["type"] == "Int64"
    assert node_metrics["Node Control/Rebirth"] == node_metrics["Node Control/Rebirth"] | {
        "type": "Boolean",
        "value": False,
    }
    db = decoded[births[0] + 1]
    assert kinds[births[0] + 1] == "DBIRTH" and msgs[births[0] + 1][0] == f"spBv1.0/{GROUP}/DBIRTH/{NODE}/plc"
    assert db["seq"] == 1
    born = {m["name"]: m for m in db["metrics"]}
    assert {n: m["type"] for n, m in born.items()} == {
        "plc.temp": "Float",
        "plc.count": "Int16",
        "plc.setpoint": "Double",
        "plc.running": "Boolean",
    }
    assert born["plc.temp"]["properties"]["engUnit"] == {"type": "String", "value": "°C"}
    assert born["plc.count"]["value"] == -3 and born["plc.running"]["value"] is True
    assert born["plc.setpoint"]["properties"]["readOnly"]["value"] is False
    assert born["plc.setpoint"]["value"] is None  # no value yet: null, quality bad
    aliases = {n: m["alias"] for n, m in born.items()}
    assert len(set(aliases.values())) == len(aliases)
    by_alias = {a: n for n, a in aliases.items()}

    # DDATA by alias only, the 300 values in order; seq runs on and wraps after 255.
    first_session = decoded[births[0] : deaths[0]]
    seqs = [d["seq"] for d in first_session]
    assert seqs == [i % 256 for i in range(len(seqs))]
    assert 255 in seqs and seqs[seqs.index(255) + 1] == 0
    data = [decoded[i] for i, k in enumerate(kinds[: deaths[0]]) if k == "DDATA"]
    assert all("name" not in d["metrics"][0] for d in data)
    assert [by_alias[d["metrics"][0]["alias"]] for d in data] == ["plc.count"] * 300
    assert [d["metrics"][0]["value"] for d in data] == list(range(300))

    # bdSeq: NDEATH carries the session's; every connection after it has the next one
    # (the node reconnected to wait, then was restarted: two more), kept in the store.
    bd0 = node_metrics["bdSeq"]["value"]
    assert decoded[deaths[0]]["metrics"] == [{"name": "bdSeq", "type": "Int64", "value": bd0}]
    nb2 = {m["name"]: m for m in decoded[births[1]]["metrics"]}
    bd2 = (bd0 + 2) % 256
    assert nb2["bdSeq"]["value"] == bd2 and decoded[births[1]]["seq"] == 0

    # What the host missed follows the second birth, flagged historical, in order.
    after = [decoded[i] for i in range(births[1], births[2]) if kinds[i] == "DDATA"]
    hist = [m for d in after for m in d["metrics"] if m.get("isHistorical")]
    assert [(by_alias[m["alias"]], m["value"]) for m in hist] == [
        ("plc.temp", 30.0 + i) for i in range(5)
    ] + [("plc.running", None)]
    assert hist[-1]["properties"]["Quality"]["value"] == 0
    assert [m["timestamp"] for m in hist[:5]] == [round((t0 + 10 + i) * 1000) for i in range(5)]
    # The second birth already carried the newest values.
    db2 = {m["name"]: m for m in decoded[births[1] + 1]["metrics"]}
    assert db2["plc.temp"]["value"] == 34.0

    # The rebirth: a new NBIRTH with seq 0 and the same bdSeq, then the DBIRTH again.
    nb3 = {m["name"]: m for m in decoded[births[2]]["metrics"]}
    assert decoded[births[2]]["seq"] == 0 and nb3["bdSeq"]["value"] == bd2
    assert kinds[births[2] + 1] == "DBIRTH"
    # A clean stop says NDEATH with the session's bdSeq.
    assert kinds[-1] == "NDEATH" and decoded[-1]["metrics"][0]["value"] == bd2


#: A line agent's Sparkplug node and nothing else, in its own process: the config as JSON in argv[1].
CHILD = """
import json, sys, threading
from edge.config.line import parse_config
from sync.sparkplug import SparkplugNode
node = SparkplugNode(parse_config(json.loads(sys.argv[1])))
node.start()
threading.Event().wait()
"""


def test_a_killed_node_dies_by_its_last_will_with_the_births_bdseq(tmp_path: Path, mosquitto: Any) -> None:
    tahu.ensure_installed()
    data = {
        "line": LINE,
        "devices": DEVICE,
        "tags": TAGS,
        "store": {"path": str(tmp_path / "line.db"), "batch_max_latency_ms": 50},
        "sparkplug": {
            "mqtt": {"port": mosquitto.port, "keepalive_s": 5, "reconnect_min_s": 0.2, "reconnect_max_s": 1},
            "primary_host": "scada",
        },
    }
    host = Observer(mosquitto.port)
    host.state(True)
    root = Path(__file__).resolve().parents[3]
    with open(tmp_path / "node.log", "wb") as log:
        child = subprocess.Popen(
            [sys.executable, "-c", CHILD, json.dumps(data)], cwd=root, stdout=log, stderr=subprocess.STDOUT
        )
    try:
        wait(lambda: len(host.kinds("NBIRTH")) == 1 or child.poll() is not None, 20)
        assert child.poll() is None, (tmp_path / "node.log").read_text()
        assert host.kinds("NDEATH") == []
        os.kill(child.pid, signal.SIGKILL)  # no NDEATH of its own, no DISCONNECT
        child.wait(10)
        wait(lambda: len(host.kinds("NDEATH")) == 1, 15)  # the broker's, from the will
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(10)
        host.close()
    msgs = host.messages
    (birth,), (death,) = host.kinds("NBIRTH"), host.kinds("NDEATH")
    assert msgs[death][0] == f"spBv1.0/{GROUP}/NDEATH/{NODE}"
    nb, nd = tahu.decode_all([msgs[birth][1], msgs[death][1]])
    bd = {m["name"]: m for m in nb["metrics"]}["bdSeq"]["value"]
    assert nd["metrics"] == [{"name": "bdSeq", "type": "Int64", "value": bd}]
