"""The agent end to end against real servers: recording, fault → bad → recovery without
a restart, log-once, and the write allow-list."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from edge.core.errors import DriverError, WriteRefused
from edge.runtime.agent import Agent
from edge.simulate.modbus_server import ModbusSimServer
from edge.simulate.opcua_server import OpcUaSimServer
from edge.store import Store
from tests.conftest import make_config, wait_for


def current(store: Store) -> dict[str, dict]:
    return {v["tag"]: v for v in store.current_values()}


def modbus_cfg(tmp_path: Path, port: int, poll_ms: int = 200):  # type: ignore[no-untyped-def]
    dev = {
        "name": "plc",
        "protocol": "modbus_tcp",
        "host": "127.0.0.1",
        "port": port,
        "timeout_s": 1,
        "reconnect": {"initial_s": 0.2, "max_s": 1},
    }
    tags = [
        {
            "name": "count",
            "device": "plc",
            "address": "hr:0",
            "type": "uint32",
            "poll_ms": poll_ms,
            "sim": "cycle_count",
        },
        {
            "name": "temp",
            "device": "plc",
            "address": "hr:2",
            "type": "float32",
            "poll_ms": poll_ms,
            "sim": "=61.5",
            "deadband": {"absolute": 0.5},
        },
        {
            "name": "andon",
            "device": "plc",
            "address": "co:0",
            "type": "bool",
            "poll_ms": poll_ms,
            "writable": True,
        },
        {
            "name": "state",
            "device": "plc",
            "address": "hr:4",
            "type": "int16",
            "poll_ms": poll_ms,
            "sim": "=1",
        },
    ]
    return make_config([dev], tags, tmp_path)


async def test_modbus_outage_turns_tags_bad_then_good_without_restart(
    tmp_path: Path, port: int, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="lineside")
    cfg = modbus_cfg(tmp_path, port, poll_ms=200)
    srv = ModbusSimServer(cfg.devices[0], cfg.tags)
    await srv.start()
    agent = Agent(cfg)
    await agent.start()
    try:
        await wait_for(lambda: current(agent.store)["temp"]["quality"] == "good")
        assert current(agent.store)["temp"]["value"] == 61.5
        await srv.update({"cycle_count": 5})
        await wait_for(lambda: current(agent.store)["count"]["value"] == 5)

        await srv.stop()
        t0 = asyncio.get_running_loop().time()
        await wait_for(lambda: all(v["quality"] == "bad" for v in current(agent.store).values()), timeout=5)
        # two poll periods (0.4 s) plus the writer's commit latency (0.05 s) and slack
        assert asyncio.get_running_loop().time() - t0 < 2 * 0.2 + 0.6
        await asyncio.sleep(1.5)  # several reconnect attempts while down

        srv = ModbusSimServer(cfg.devices[0], cfg.tags)
        await srv.start()
        await srv.update({"cycle_count": 9})
        await wait_for(
            lambda: (
                current(agent.store)["count"]["value"] == 9
                and current(agent.store)["count"]["quality"] == "good"
            ),
            timeout=8,
        )
    finally:
        await agent.stop()
        await srv.stop()
    faults = [r for r in caplog.records if "fault" in r.getMessage() and r.levelno == logging.ERROR]
    recoveries = [r for r in caplog.records if "recovered" in r.getMessage()]
    assert len(faults) == 1, [r.getMessage() for r in faults]
    assert len(recoveries) == 1
    kinds = [e["kind"] for e in agent.store.events()]
    assert kinds.count("device_fault") == 1 and kinds.count("device_connected") == 2
    hist = [h["quality"] for h in agent.store.history("count")]
    assert hist[0] == "good" and "bad" in hist and hist[-1] == "good"


async def test_deadband_suppresses_small_changes(tmp_path: Path, port: int) -> None:
    cfg = modbus_cfg(tmp_path, port, poll_ms=50)
    srv = ModbusSimServer(cfg.devices[0], cfg.tags)
    await srv.start()
    agent = Agent(cfg)
    await agent.start()
    try:
        await wait_for(lambda: current(agent.store)["temp"]["quality"] == "good")
        from edge.drivers.modbus_codec import encode_value

        for v in (61.7, 61.9, 61.6, 62.2):  # only 62.2 moves more than 0.5 from 61.5
            await srv.server.async_setValues(1, 16, 2, encode_value(cfg.tag("temp"), v))
            await asyncio.sleep(0.2)
        await wait_for(lambda: abs(current(agent.store)["temp"]["value"] - 62.2) < 1e-5)
    finally:
        await agent.stop()
        await srv.stop()
    values = [round(h["value"], 3) for h in agent.store.history("temp")]
    assert values == [61.5, 62.2]


async def test_writes_only_to_allow_listed_tags_and_all_recorded(tmp_path: Path, port: int) -> None:
    cfg = modbus_cfg(tmp_path, port)
    srv = ModbusSimServer(cfg.devices[0], cfg.tags)
    await srv.start()
    agent = Agent(cfg)
    await agent.start()
    try:
        await wait_for(lambda: agent.runners["plc"].state == "connected")
        with pytest.raises(WriteRefused, match="'count' is not writable"):
            await agent.write("count", 0, requested_by="op:12")
        with pytest.raises(WriteRefused, match="unknown tag 'nope'"):
            await agent.write("nope", 1, requested_by="op:12")
        with pytest.raises(WriteRefused, match="is not a boolean"):
            await agent.write("andon", "maybe", requested_by="op:12")
        await agent.write("andon", True, requested_by="spc", reason="rule 1 on fill weight")
        assert (await srv.server.async_getValues(1, 1, 0, 1))[0] is True
        assert (await srv.server.async_getValues(1, 3, 0, 2)) == [
            0,
            0,
        ]  # the refused write never reached the PLC
        await srv.stop()
        await wait_for(lambda: agent.runners["plc"].state == "fault")
        with pytest.raises(DriverError, match="not connected"):
            await agent.write("andon", False, requested_by="spc")
    finally:
        await agent.stop()
    log = [(w["tag"], w["outcome"], w["requested_by"]) for w in agent.store.writes()]
    assert log == [
        ("count", "refused", "op:12"),
        ("nope", "refused", "op:12"),
        ("andon", "refused", "op:12"),
        ("andon", "requested", "spc"),
        ("andon", "ok", "spc"),
        ("andon", "requested", "spc"),
        ("andon", "failed", "spc"),
    ]


async def test_opcua_subscription_survives_server_restart(tmp_path: Path, port: int) -> None:
    dev = {
        "name": "ua",
        "protocol": "opcua",
        "endpoint": f"opc.tcp://127.0.0.1:{port}/sim",
        "timeout_s": 1,
        "reconnect": {"initial_s": 0.2, "max_s": 1},
    }
    tags = [
        {
            "name": "count",
            "device": "ua",
            "address": "ns=2;s=Count",
            "type": "uint32",
            "mode": "subscribe",
            "poll_ms": 200,
            "sim": "cycle_count",
        },
        {
            "name": "temp",
            "device": "ua",
            "address": "ns=2;s=Temp",
            "type": "float64",
            "poll_ms": 200,
            "sim": "=20.5",
        },
    ]
    cfg = make_config([dev], tags, tmp_path)
    srv = OpcUaSimServer(cfg.devices[0], cfg.tags)
    await srv.start()
    agent = Agent(cfg)
    await agent.start()
    try:
        await srv.update({"cycle_count": 3})
        await wait_for(lambda: current(agent.store)["count"]["value"] == 3)
        await srv.stop()
        await wait_for(lambda: all(v["quality"] == "bad" for v in current(agent.store).values()), timeout=5)
        srv = OpcUaSimServer(cfg.devices[0], cfg.tags)
        await srv.start()
        await srv.update({"cycle_count": 4})
        await wait_for(
            lambda: (
                current(agent.store)["count"]["value"] == 4
                and current(agent.store)["count"]["quality"] == "good"
            ),
            timeout=10,
        )
        assert current(agent.store)["temp"]["quality"] == "good"
    finally:
        await agent.stop()
        await srv.stop()


async def test_ethernetip_outage_turns_tags_bad_then_good(tmp_path: Path, port: int) -> None:
    from edge.simulate.enip_server import EnipSimServer

    dev = {
        "name": "plc",
        "protocol": "ethernetip",
        "host": "127.0.0.1",
        "port": port,
        "timeout_s": 1,
        "reconnect": {"initial_s": 0.2, "max_s": 1},
    }
    cfg = make_config(
        [dev],
        [{"name": "count", "device": "plc", "address": "Count", "type": "int32", "poll_ms": 200}],
        tmp_path,
    )

    async def serve(value: int) -> EnipSimServer:
        srv = EnipSimServer("127.0.0.1", port)
        srv.add_tag("Count", "DINT", value)
        await srv.start()
        return srv

    srv = await serve(1)
    agent = Agent(cfg)
    await agent.start()
    try:
        await wait_for(lambda: current(agent.store)["count"]["value"] == 1)
        await srv.stop()
        await wait_for(lambda: current(agent.store)["count"]["quality"] == "bad", timeout=5)
        srv = await serve(2)
        await wait_for(lambda: current(agent.store)["count"]["value"] == 2, timeout=10)
        assert current(agent.store)["count"]["quality"] == "good"
    finally:
        await agent.stop()
        await srv.stop()


async def test_metrics_endpoint_reports_devices_backlog_and_counts(tmp_path: Path, port: int) -> None:
    """`agent.metrics`: Prometheus text on loopback with the agent's live figures."""
    import urllib.request

    from tests.conftest import free_port

    base = modbus_cfg(tmp_path, port)
    mport = free_port()
    cfg = make_config(
        [d.model_dump(mode="json") for d in base.devices],
        [t.model_dump(mode="json", exclude_none=True) for t in base.tags],
        tmp_path,
        agent={"metrics": {"port": mport}},
    )
    srv = ModbusSimServer(cfg.devices[0], cfg.tags)
    await srv.start()
    agent = Agent(cfg)
    await agent.start()
    try:
        await wait_for(lambda: agent.writer.committed > 0 and agent.runners["plc"].state == "connected")

        def scrape() -> str:
            with urllib.request.urlopen(f"http://127.0.0.1:{mport}/metrics", timeout=5) as r:
                return str(r.read().decode())

        text = await asyncio.to_thread(scrape)
        assert 'lineside_device_connected{device="plc",line="l1",protocol="modbus_tcp"} 1.0' in text
        assert 'lineside_backlog_records{line="l1",stream="samples"}' in text
        committed = float(text.split('lineside_samples_committed_total{line="l1"} ')[1].split()[0])
        assert committed > 0
    finally:
        await agent.stop()
        await srv.stop()
