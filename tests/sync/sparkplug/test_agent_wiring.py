"""The agent with the unified namespace and the Sparkplug node as ``lineside run`` wires
them, against a simulated Modbus PLC and a real broker: a DCMD from the host (encoded by
Eclipse Tahu's codec) writes the allow-listed coil through the agent's write path, and
the tag's new value comes back in the namespace; the PLC's outage is a DDEATH and its
return a DBIRTH."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from edge.runtime.agent import Agent
from edge.services.status import gather_status
from edge.simulate.modbus_server import ModbusSimServer
from sync.sparkplug import sparkplug_companions
from sync.uns import uns_companions
from tests.conftest import make_config, wait_for
from tests.sync.sparkplug import tahu


async def test_dcmd_writes_through_the_agent_and_uns_shows_it(
    tmp_path: Path, port: int, mosquitto: Any
) -> None:
    dcmd = tahu.encode([{"name": "andon", "type": "Boolean", "value": True}])
    dev = {
        "name": "plc",
        "protocol": "modbus_tcp",
        "host": "127.0.0.1",
        "port": port,
        "timeout_s": 1,
        "reconnect": {"initial_s": 0.2, "max_s": 1},
    }
    tags = [
        {"name": "count", "device": "plc", "address": "hr:0", "type": "uint32", "poll_ms": 100, "sim": "=5"},
        {
            "name": "andon",
            "device": "plc",
            "address": "co:0",
            "type": "bool",
            "poll_ms": 100,
            "writable": True,
        },
        {"name": "state", "device": "plc", "address": "hr:4", "type": "int16", "poll_ms": 100, "sim": "=1"},
    ]
    machine = {"name": "filler", "state": {"code_tag": "state", "codes": {0: "idle", 1: "running"}}}
    broker = {"port": mosquitto.port, "keepalive_s": 5}
    cfg = make_config(
        [dev],
        tags,
        tmp_path,
        machines=[machine],
        uns={"mqtt": broker, "kpi_interval_s": 0.5},
        sparkplug={"mqtt": broker, "primary_host": "scada", "writable": ["andon"]},
    )
    got: dict[str, bytes] = {}
    seen: dict[str, int] = {}
    lock = threading.Lock()
    host = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="scada")

    def on_message(c: Any, u: Any, msg: Any) -> None:
        with lock:
            got[msg.topic] = msg.payload
            seen[msg.topic] = seen.get(msg.topic, 0) + 1

    host.on_message = on_message
    host.connect("127.0.0.1", mosquitto.port)
    host.subscribe([("uns/v1/#", 1), ("spBv1.0/#", 1)])
    host.loop_start()
    host.publish("spBv1.0/STATE/scada", json.dumps({"online": True, "timestamp": 1}), qos=1, retain=True)

    srv = ModbusSimServer(cfg.devices[0], cfg.tags)
    await srv.start()
    companions = [*uns_companions(cfg), *sparkplug_companions(cfg)]
    agent = Agent(cfg, companions=companions)
    await agent.start()
    andon = "uns/v1/acme/test/a1/l1/plc/andon"
    try:
        await wait_for(lambda: "spBv1.0/acme-test-a1/DBIRTH/l1/plc" in got and andon in got, 15)
        assert json.loads(got[andon])["value"] is False
        host.publish("spBv1.0/acme-test-a1/DCMD/l1/plc", dcmd, qos=1)
        await wait_for(lambda: json.loads(got[andon])["value"] is True, 15)
        assert (await srv.server.async_getValues(1, 1, 0, 1))[0] is True
        count = json.loads(got["uns/v1/acme/test/a1/l1/plc/count"])
        assert (count["value"], count["quality"]) == (5, "good")
        # Line and machine state, and KPIs, retained beside the values.
        base = "uns/v1/acme/test/a1/l1"

        def state_of(topic: str) -> Any:
            with lock:
                return json.loads(got[topic])["state"] if topic in got else None

        await wait_for(lambda: state_of(f"{base}/filler/_state") == "running" and f"{base}/_kpi" in got, 15)
        await wait_for(lambda: state_of(f"{base}/_state") == "running", 15)
        line = json.loads(got[f"{base}/_state"])
        assert (line["online"], line["state"], line["devices"]) == (True, "running", {"plc": "connected"})
        kpi = json.loads(got[f"{base}/_kpi"])
        assert kpi["shift"] is None and kpi["kpi"]["run_s"] >= 0

        # The PLC goes away: its Sparkplug device dies; back, it is born again.
        await srv.stop()
        await wait_for(lambda: seen.get("spBv1.0/acme-test-a1/DDEATH/l1/plc") == 1, 10)
        srv = ModbusSimServer(cfg.devices[0], cfg.tags)
        await srv.start()
        await wait_for(lambda: seen.get("spBv1.0/acme-test-a1/DBIRTH/l1/plc") == 2, 10)

        # `lineside status` shows both publishers.
        def plant_it() -> dict[str, Any]:
            return dict(gather_status(cfg)["plant_it"])

        def recorded() -> bool:  # each publisher records its state every 2 s
            pit = plant_it()
            sp = pit["sparkplug"]
            done = sp.get("born") and sp.get("writes") == 1 and not sp["dead_devices"]
            return bool(done and pit["uns"].get("values", 0) >= 3)

        await wait_for(recorded, 10)
        pit = plant_it()
        assert pit["uns"]["connected"]
        sp = pit["sparkplug"]
        assert (sp["node"], sp["host_online"], sp["writes"]) == ("acme-test-a1/l1", True, 1)
    finally:
        await agent.stop()
        await srv.stop()
        host.loop_stop()
        host.disconnect()
    writes = [(w["tag"], w["outcome"], w["requested_by"]) for w in agent.store.writes()]
    assert writes == [("andon", "requested", "sparkplug host"), ("andon", "ok", "sparkplug host")]
    audit = agent.store.db.execute("SELECT who, entity, new FROM audit WHERE action = 'plc.write'").fetchall()
    assert [(a[0], a[1], json.loads(a[2])["outcome"]) for a in audit] == [("sparkplug host", "andon", "ok")]
