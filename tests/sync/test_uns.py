"""The unified namespace read as an integrator would, with ``mosquitto_sub``: a retained
value per tag with unit, quality and ISO time; the line's state and its last will."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from edge.config.uns import uns_device_levels, uns_tag_levels
from edge.logic.model import Quality, Sample
from edge.store import Store
from sync.protocol.uns import (
    LineState,
    TagValue,
    UnsTopics,
    iso_ms,
    json_schemas,
    kpi_state,
    tag_value,
    umh_payload,
)
from sync.uns import UnsPublisher
from tests.conftest import make_config
from tests.sync.conftest import wait

DEVICE = [{"name": "plc", "protocol": "modbus_tcp", "host": "127.0.0.1", "port": 1}]
TAGS = [
    {"name": "plc.temp", "device": "plc", "address": "hr:0", "type": "float32", "eng_unit": "°C"},
    {"name": "plc.count", "device": "plc", "address": "hr:2", "type": "uint32", "eng_unit": "pcs"},
    {"name": "plc.recipe", "device": "plc", "address": "hr:4", "type": "string", "length": 8},
]
ISO_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def retained(port: int, topic: str, count: int, *, v311: bool = False) -> dict[str, Any]:
    """topic → payload of the ``count`` retained messages under ``topic`` (mosquitto_sub;
    as an MQTT 3.1.1 client with ``v311``). A message still on its way when mosquitto_sub
    subscribes arrives live, not retained, and ends ``--retained-only`` early: then it
    reads again."""
    for _ in range(20):
        found = _retained_once(port, topic, count, v311)
        if len(found) >= count:
            return found
        time.sleep(0.1)
    return found


def _retained_once(port: int, topic: str, count: int, v311: bool = False) -> dict[str, Any]:
    exe = shutil.which("mosquitto_sub")
    if exe is None:
        pytest.fail("mosquitto_sub is needed: apt-get install mosquitto-clients")
    out = subprocess.run(
        [
            exe,
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
            "-t",
            topic,
            "-v",
            "--retained-only",
            "-C",
            str(count),
            "-W",
            "5",
            *(["-V", "mqttv311"] if v311 else []),
        ],
        capture_output=True,
        text=True,
        timeout=20,
        check=False,
    )
    found = {}
    for line in out.stdout.splitlines():
        t, _, body = line.partition(" ")
        found[t] = json.loads(body)
    return found


def test_uns_values_read_with_mosquitto_sub(tmp_path: Path, mosquitto: Any) -> None:
    cfg = make_config(
        DEVICE,
        TAGS,
        tmp_path,
        # (no KPI topic within the test: exactly 5 retained topics below)
        uns={
            "mqtt": {"port": mosquitto.port, "keepalive_s": 5},
            "umh": True,
            "state_interval_s": 0.1,
            "kpi_interval_s": 3600,
        },
    )
    store = Store(cfg.store.path)
    store.register_tags((t.name, t.device, t.type, t.eng_unit) for t in cfg.tags)
    t0 = 1_790_000_000.25
    store.append_samples([Sample("plc.temp", 20.0, Quality.GOOD, t0, t0)])
    umh: list[tuple[str, Any]] = []
    sub = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="umh-historian")
    sub.on_message = lambda c, u, msg: umh.append((msg.topic, json.loads(msg.payload)))
    sub.connect("127.0.0.1", mosquitto.port)
    sub.subscribe("umh/v1/#", qos=1)
    sub.loop_start()
    pub = UnsPublisher(cfg)
    pub.start()
    try:
        wait(lambda: pub.published >= 1, 10)
        # Changes after the start: the latest per tag is what stays retained.
        store.append_samples(
            [
                Sample("plc.temp", 21.5, Quality.GOOD, t0 + 1, t0 + 1),
                Sample("plc.count", 7, Quality.GOOD, t0 + 1, t0 + 1),
                Sample("plc.count", 8, Quality.GOOD, t0 + 2, t0 + 2),
                Sample("plc.recipe", None, Quality.BAD, t0 + 2, t0 + 2),
            ]
        )
        pub.notify()
        wait(lambda: pub.published >= 4 and pub.states >= 2, 10)
        base = "uns/v1/acme/test/a1/l1"
        got = retained(mosquitto.port, f"{base}/#", 5)  # 3 tags, _state, _order
        wait(lambda: {"temp", "count"} <= {k for _, b in umh for k, v in b.items() if v in (8, 21.5)}, 10)
    finally:
        pub.stop(3)
        sub.loop_stop()
        sub.disconnect()
    # UMH's _historian layout beside the namespace (not retained; bad values not sent):
    # the tag's name without its device is the payload key.
    umh_base = "umh/v1/acme/test/a1/l1/plc/_historian"
    assert (umh_base, {"timestamp_ms": 1_790_000_001_250, "temp": 21.5}) in umh
    assert (umh_base, {"timestamp_ms": 1_790_000_002_250, "count": 8}) in umh
    assert not any("recipe" in b for _, b in umh)
    # No topic level holds a dot; the payload keeps the tag's full name.
    assert not [t for t in got if "." in t], list(got)
    temp = got[f"{base}/plc/temp"]
    assert temp == {
        "v": 1,
        "tag": "plc.temp",
        "device": "plc",
        "value": 21.5,
        "unit": "°C",
        "quality": "good",
        "type": "float32",
        "timestamp": "2026-09-21T14:13:21.250Z",
        "ts_ms": 1_790_000_001_250,
    }
    assert ISO_MS.match(temp["timestamp"])
    count = got[f"{base}/plc/count"]
    assert (count["value"], count["unit"], count["ts_ms"]) == (8, "pcs", 1_790_000_002_250)
    recipe = got[f"{base}/plc/recipe"]
    assert (recipe["value"], recipe["quality"], recipe["unit"]) == (None, "bad", "")
    state = LineState.model_validate(got[f"{base}/_state"])
    assert state.online and state.line.line == "l1"
    order = got[f"{base}/_order"]
    assert order["order"] is None and ISO_MS.match(order["timestamp"])
    for topic, body in got.items():  # every payload is what its model says
        if "/_" not in topic:
            TagValue.model_validate(body)
    # A clean stop leaves the line retained offline (the last will says the same).
    after = retained(mosquitto.port, f"{base}/_state", 1)
    assert after[f"{base}/_state"]["online"] is False


def test_payloads_and_topics() -> None:
    t = UnsTopics.of("uns/v1", make_line())
    line1 = "uns/v1/acme/hamburg/filling/line1"
    assert uns_tag_levels("filler", "filler.speed") == ("speed",)
    assert uns_tag_levels("capper", "labeller.speed") == ("labeller", "speed")
    assert uns_tag_levels("cell.2", "cell.2.head.pos") == ("head", "pos")
    assert uns_tag_levels("filler", "speed") == ("speed",)
    assert t.tag(("filler",), ("speed",)) == f"{line1}/filler/speed"
    assert t.tag(uns_device_levels("cell.2"), ("head", "pos")) == f"{line1}/cell/2/head/pos"
    assert t.machine_state(uns_device_levels("capper")) == f"{line1}/capper/_state"
    assert t.machine_state(uns_device_levels("capper.a")) == f"{line1}/capper/a/_state"
    # UMH: the levels but the last are tag groups, the last is the payload key.
    assert t.umh_historian(("filler",), ("speed",)) == "umh/v1/acme/hamburg/filling/line1/filler/_historian"
    assert (
        t.umh_historian(("cnc",), ("head", "pos")) == "umh/v1/acme/hamburg/filling/line1/cnc/_historian/head"
    )
    assert umh_payload(("head", "pos"), 12.5, 1.0).model_dump() == {"timestamp_ms": 1000, "pos": 12.5}
    for bad in ("filler.speed", "", "a/b", "+", "#", "$SYS"):
        with pytest.raises(ValueError, match="broker-safe"):
            t.tag(("filler",), (bad,))
    assert iso_ms(0.0015) == "1970-01-01T00:00:00.002Z"
    v = tag_value("a.nan", "plc", "float64", "", float("nan"), "good", 1.0)
    assert v.value == "nan"
    assert tag_value("a", "plc", "bool", "", True, "stale", 1.0).value is None
    k = kpi_state("2026-12-01/early", {"start": 0.0, "end": 60.0, "total": {"oee": 0.5, "good": 10}}, 60.0)
    assert (k.oee, k.good, k.scrap, k.start) == (0.5, 10, None, "1970-01-01T00:00:00.000Z")
    schemas = json_schemas()
    assert set(schemas) == {
        "tag_value",
        "line_state",
        "machine_state",
        "order_state",
        "kpi_state",
        "umh_historian",
    }
    assert "unit" in schemas["tag_value"]["required"]


def make_line() -> Any:
    from edge.config.line import LineIdentity

    return LineIdentity(enterprise="acme", site="hamburg", area="filling", line="line1")


def test_config_cross_checks_and_wiring(tmp_path: Path) -> None:
    from edge.core.errors import ConfigError
    from sync.sparkplug import SparkplugNode, sparkplug_companions
    from sync.uns import uns_companions

    tags = [
        *TAGS,
        {"name": "plc.sp", "device": "plc", "address": "hr:8", "type": "float32", "writable": True},
    ]
    with pytest.raises(ConfigError) as e:
        make_config(
            DEVICE, tags, tmp_path, sparkplug={"writable": ["plc.temp", "nope", "plc.sp", "plc.sp"]}, uns={}
        )
    assert set(e.value.messages) >= {
        "<config>: sparkplug.mqtt: required (this line has no uplink whose broker it could use)",
        "<config>: uns.mqtt: required (this line has no uplink whose broker it could use)",
        "<config>: sparkplug.writable[0]: tag 'plc.temp' is not writable (set writable: true on the tag first)",
        "<config>: sparkplug.writable[1]: unknown tag 'nope'",
        "<config>: sparkplug.writable[3]: 'plc.sp' is listed twice",
    }
    for bad in ({"sparkplug": {"group_id": "a/b"}}, {"sparkplug": {"edge_node_id": "l.1"}}):
        with pytest.raises(ConfigError):  # one topic level each, without a dot
            make_config(DEVICE, tags, tmp_path, uplink={}, **bad)
    with pytest.raises(ConfigError) as e:
        make_config(DEVICE, tags, tmp_path, uplink={}, uns={"root": "uns.v1"})
    assert [m.split(":", 2)[1].strip() for m in e.value.messages] == ["uns.root"]
    cfg = make_config(
        DEVICE, tags, tmp_path, uplink={"mqtt": {"port": 1884}}, uns={}, sparkplug={"writable": ["plc.sp"]}
    )
    (u,) = uns_companions(cfg)
    (node,) = sparkplug_companions(cfg)
    assert u.mqtt.port == 1884 and u.client_id == "lineside-edge-acme-test-a1-l1-uns"
    assert isinstance(node, SparkplugNode) and node.client_id == "lineside-spb-acme-test-a1-l1"
    assert (node.topics.group, node.topics.node) == ("acme-test-a1", "l1")
    # Beside an uplink that logs in, each needs a broker user of its own: the plant broker
    # binds client ids to user names, so the uplink's user would share one session.
    up = {"mqtt": {"port": 1884, "username": "line-acme.test.a1.l1"}}
    with pytest.raises(ConfigError) as e:
        make_config(
            DEVICE,
            tags,
            tmp_path,
            uplink=up,
            uns={},
            sparkplug={"mqtt": {"username": "line-acme.test.a1.l1"}},
        )
    assert [m.split(":", 2)[1].strip() for m in e.value.messages] == ["uns.mqtt", "sparkplug.mqtt.username"]
    assert "user of its own" in e.value.messages[0]
    make_config(
        DEVICE, tags, tmp_path, uplink=up, uns={"mqtt": {"username": "uns-l1"}}, sparkplug={"enabled": False}
    )
    off = make_config(DEVICE, tags, tmp_path, uplink={}, uns={"enabled": False}, sparkplug={"enabled": False})
    assert uns_companions(off) == [] and sparkplug_companions(off) == []

    # The agent hands its allow-listed write to a companion that takes writes.
    from edge.runtime.agent import Agent

    agent = Agent(cfg, companions=[node])
    assert node._write == agent.write_blocking
    agent.store.close()


def test_topics_command_map_and_schemas(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import yaml

    from edge.cli import main

    data = {
        "line": {"enterprise": "acme", "site": "test", "area": "a1", "line": "l1"},
        "devices": DEVICE,
        "tags": [*TAGS[:1], {"name": "plc.sp", "device": "plc", "address": "hr:8", "writable": True}],
        "machines": [
            {"name": "plc", "state": {"code_tag": "plc.sp", "codes": {1: "running"}}},
            {"name": "plc.b", "state": {"code_tag": "plc.sp", "codes": {1: "running"}}},
        ],
        "uplink": {},
        "uns": {"umh": True},
        "sparkplug": {"primary_host": "scada", "writable": ["plc.sp"]},
    }
    f = tmp_path / "l.yaml"
    f.write_text(yaml.safe_dump(data))
    assert main(["topics", "-c", str(f), "--json"]) == 0
    topics = {r["topic"]: r for r in json.loads(capsys.readouterr().out)}
    assert topics["uns/v1/acme/test/a1/l1/plc/temp"]["delivery"] == "retained"
    assert topics["uns/v1/acme/test/a1/l1/plc/_state"]["meaning"] == "MachineState of plc"
    assert topics["uns/v1/acme/test/a1/l1/plc/b/_state"]["meaning"] == "MachineState of plc.b"
    assert "umh/v1/acme/test/a1/l1/plc/_historian" in topics
    assert not [t for t in topics if "." in t.removeprefix("spBv1.0/")], list(topics)
    assert topics["spBv1.0/acme-test-a1/NDEATH/l1"]["delivery"] == "will"
    assert topics["spBv1.0/STATE/scada"]["direction"] == "down"
    assert main(["topics", "--schema"]) == 0
    schemas = json.loads(capsys.readouterr().out)
    assert set(schemas["uns"]) >= {"tag_value", "line_state", "kpi_state"} and "batch" in schemas["lineside"]
    assert main(["topics"]) == 2


def test_run_hands_the_agent_all_three_companions(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``lineside run`` is the composition root: uplink, namespace and Sparkplug node."""
    import argparse

    import yaml

    import edge.cli.acquire as acquire
    import edge.runtime.agent as agent_mod

    built: list[Any] = []

    class FakeAgent:
        def __init__(self, cfg: Any, companions: Any = ()) -> None:
            built.extend(companions)

        async def run(self, duration: Any) -> None:
            return None

        def request_stop(self) -> None:
            return None

    monkeypatch.setattr(agent_mod, "Agent", FakeAgent)
    monkeypatch.setattr(acquire, "_run_async", lambda coro, stop: coro.close())
    data = {
        "line": {"enterprise": "acme", "site": "test", "area": "a1", "line": "l1"},
        "devices": DEVICE,
        "tags": TAGS[:1],
        "store": {"path": str(tmp_path / "l.db")},
        "uplink": {},
        "uns": {},
        "sparkplug": {},
    }
    f = tmp_path / "l.yaml"
    f.write_text(yaml.safe_dump(data))
    assert acquire.cmd_run(argparse.Namespace(config=str(f), duration=None)) == 0
    assert [type(c).__name__ for c in built] == ["Uplink", "UnsPublisher", "SparkplugNode"]


def test_config_check_refuses_tags_sharing_a_topic(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``x`` and ``filler.x`` of the device ``filler`` would share ``…/filler/x``: the
    config check names the field and exits 2; so for levels that are empty or start with
    ``_`` (the namespace's own), and a dotted device as a Sparkplug device id."""
    import yaml

    from edge.cli import main

    dev = [
        {"name": "filler", "protocol": "modbus_tcp", "host": "127.0.0.1", "port": 1},
        {"name": "cell.2", "protocol": "modbus_tcp", "host": "127.0.0.1", "port": 2},
    ]
    tags = [
        {"name": "x", "device": "filler", "address": "hr:0"},
        {"name": "filler.y", "device": "filler", "address": "hr:2"},
        {"name": "filler.x", "device": "filler", "address": "hr:4"},
        {"name": "filler._state", "device": "filler", "address": "hr:6"},
        {"name": "filler.a..b", "device": "filler", "address": "hr:8"},
        {"name": "cell.2.x", "device": "cell.2", "address": "hr:0"},
    ]
    data = {
        "line": {"enterprise": "acme", "site": "test", "area": "a1", "line": "l1"},
        "devices": dev,
        "tags": tags,
        "uplink": {},
        "uns": {},
        "sparkplug": {},
    }
    f = tmp_path / "l.yaml"
    f.write_text(yaml.safe_dump(data))
    assert main(["config", "check", str(f)]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = {ln.split(": ", 2)[1]: ln for ln in err.strip().splitlines()}
    assert set(lines) == {"tags[2].name", "tags[3].name", "tags[4].name", "devices[1].name"}, err
    assert "same UNS topic …/filler/x as tags[0] 'x'" in lines["tags[2].name"]
    assert "'_state'" in lines["tags[3].name"] and "empty UNS topic level" in lines["tags[4].name"]
    assert "Sparkplug device id" in lines["devices[1].name"]
    # Without the namespace and the node, the names are fine.
    f.write_text(yaml.safe_dump(data | {"uns": {"enabled": False}, "sparkplug": {"enabled": False}}))
    assert main(["config", "check", str(f)]) == 0
    capsys.readouterr()


class CountingPublisher(UnsPublisher):
    """Counts its connections: a broker that drops it shows as more than one."""

    connects = 0

    def _connected(self) -> None:
        self.connects += 1
        super()._connected()


def test_uns_through_nats_mqtt(tmp_path: Path, nats: Any) -> None:
    """NATS 2.9's MQTT drops a publisher whose topic level holds a dot (test_brokers.py
    shows it): the namespace has none, so a line's publisher stays connected and an MQTT
    3.1.1 subscriber (mosquitto_sub -V mqttv311) reads a retained value per tag, a dotted
    machine's state among them."""
    tags = [
        *TAGS,
        {"name": "aux.level", "device": "plc", "address": "hr:9", "type": "int16", "eng_unit": "%"},
    ]
    machine = {"name": "plc.main", "state": {"code_tag": "plc.count", "codes": {1: "running"}}}
    cfg = make_config(
        DEVICE,
        tags,
        tmp_path,
        machines=[machine],
        uns={"mqtt": {"port": nats.mqtt_port, "protocol": "3.1.1", "keepalive_s": 5}, "umh": True},
    )
    store = Store(cfg.store.path)
    store.register_tags((t.name, t.device, t.type, t.eng_unit) for t in cfg.tags)
    t0 = 1_790_000_000.0
    store.append_samples(
        [
            Sample("plc.temp", 20.5, Quality.GOOD, t0, t0),
            Sample("plc.count", 3, Quality.GOOD, t0, t0),
            Sample("plc.recipe", "A", Quality.GOOD, t0, t0),
            Sample("aux.level", 42, Quality.GOOD, t0, t0),
        ]
    )
    pub = CountingPublisher(cfg)
    pub.start()
    try:
        wait(lambda: pub.published >= 4 and pub.states >= 2, 15)
        store.append_samples([Sample("plc.temp", 22.0, Quality.GOOD, t0 + 1, t0 + 1)])
        pub.notify()
        wait(lambda: pub.published >= 5, 10)
        base = "uns/v1/acme/test/a1/l1"
        # 4 tags, the machine's state, _state, _order, _kpi (all of them: a count short of
        # them ends the read before whichever the broker hands out last)
        got = retained(nats.mqtt_port, f"{base}/#", 8, v311=True)
        assert pub.connected and pub.connects == 1, "NATS dropped the publisher"
    finally:
        pub.stop(3)
        store.close()
    assert {t: b["value"] for t, b in got.items() if "/_" not in t} == {
        f"{base}/plc/temp": 22.0,
        f"{base}/plc/count": 3,
        f"{base}/plc/recipe": "A",
        f"{base}/plc/aux/level": 42,
    }
    level = TagValue.model_validate(got[f"{base}/plc/aux/level"])
    assert (level.tag, level.device, level.unit, level.timestamp) == ("aux.level", "plc", "%", iso_ms(t0))
    assert got[f"{base}/plc/main/_state"]["machine"] == "plc.main"
    assert LineState.model_validate(got[f"{base}/_state"]).online


def test_old_layout_cleanup_one_liner(mosquitto: Any) -> None:
    """The README's one-liner clears what an upgrade leaves retained from the old layout
    (the full tag name as the last level: it has a dot) and keeps the new topics."""
    base = "uns/v1/acme/hamburg/filling/line1"
    old = [f"{base}/filler/filler.temperature", f"{base}/capper/capper.andon"]
    new = [f"{base}/filler/temperature", f"{base}/capper/andon", f"{base}/_state"]
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="old-layout")
    c.connect("127.0.0.1", mosquitto.port)
    c.loop_start()
    for t in old + new:
        c.publish(t, b'{"v":1}', qos=1, retain=True).wait_for_publish(5)
    c.disconnect()
    c.loop_stop()
    assert retained_topics(mosquitto.port, f"{base}/#") == set(old + new)
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    one_liner = re.search(r"^\$ (mosquitto_sub .*mosquitto_pub .*)$", readme, re.M)
    assert one_liner, "the README shows the cleanup one-liner"
    cmd = one_liner.group(1).replace("uns/v1/#", f"{base}/#")
    cmd = cmd.replace("-h BROKER", f"-h 127.0.0.1 -p {mosquitto.port}")
    done = subprocess.run(["bash", "-c", cmd], timeout=30, check=False, capture_output=True, text=True)
    assert done.stderr.strip() in ("", "Timed out"), done.stderr  # (-W 3 ends mosquitto_sub)
    assert retained_topics(mosquitto.port, f"{base}/#") == set(new)


def retained_topics(port: int, topic: str, quiet_s: float = 1.0) -> set[str]:
    """Every retained topic under ``topic`` (what a new subscriber gets within ``quiet_s``)."""
    got: set[str] = set()
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="retained-topics")
    c.on_message = lambda _c, _u, m: got.add(m.topic) if m.retain and m.payload else None
    c.connect("127.0.0.1", port)
    c.subscribe(topic, qos=1)
    c.loop_start()
    time.sleep(quiet_s)
    c.disconnect()
    c.loop_stop()
    return got
