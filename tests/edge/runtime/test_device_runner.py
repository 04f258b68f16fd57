"""The device runner on the lean Modbus path, end to end against a real pymodbus server:
unchanged polls store nothing but heartbeats still come, one changed register stores one
sample."""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path

from edge.runtime.agent import Agent
from edge.simulate.modbus_server import ModbusSimServer
from edge.store import Store
from tests.conftest import make_config, wait_for

DEV = {"name": "plc", "protocol": "modbus_tcp", "host": "127.0.0.1", "timeout_s": 1}


def rows(store: Store, tag: str) -> list[dict]:
    return list(store.history(tag))


async def test_unchanged_registers_store_nothing_but_heartbeats_still_come(tmp_path: Path, port: int) -> None:
    tags = [
        {"name": "hb", "address": "hr:0", "type": "int16", "sim": "=5", "poll_ms": 20},
        {"name": "plain", "address": "hr:1", "type": "int16", "sim": "=7", "poll_ms": 20},
    ]
    tags[0]["deadband"] = {"absolute": 1, "max_interval_s": 0.3}
    cfg = make_config([DEV | {"port": port}], [t | {"device": "plc"} for t in tags], tmp_path)
    srv = ModbusSimServer(cfg.devices[0], cfg.tags)
    await srv.start()
    agent = Agent(cfg)
    await agent.start()
    try:
        await wait_for(lambda: len(rows(agent.store, "hb")) >= 4)
    finally:
        await agent.stop()
        await srv.stop()
    hb = rows(agent.store, "hb")
    assert all(r["value"] == 5 and r["quality"] == "good" for r in hb)
    assert all(b["ts"] - a["ts"] >= 0.3 for a, b in pairwise(hb))
    assert [r["value"] for r in rows(agent.store, "plain")] == [7]
    # Polls of unchanged registers reported no values at all (only the first poll and the
    # heartbeat polls did).
    assert agent.readings < agent.runners["plc"].reads


async def test_one_changed_register_in_a_100_register_block_stores_exactly_that_sample(
    tmp_path: Path, port: int
) -> None:
    tags = [
        {"name": f"f{i:02d}", "device": "plc", "address": f"hr:{2 * i}", "sim": f"={i}.5", "poll_ms": 10}
        for i in range(50)
    ]
    cfg = make_config([DEV | {"port": port, "max_gap": 0}], tags, tmp_path)
    srv = ModbusSimServer(cfg.devices[0], cfg.tags)
    await srv.start()
    agent = Agent(cfg)
    await agent.start()
    try:
        await wait_for(lambda: agent.store.count("samples") == 50)
        assert len(agent.runners["plc"].driver.plan(cfg.tags)) == 1  # type: ignore[attr-defined]  # one request
        await srv.server.async_setValues(1, 16, 34, [0x4148, 0])  # f17 = 12.5
        await wait_for(lambda: agent.store.count("samples") == 51)
        reads = agent.runners["plc"].reads
        await wait_for(lambda: agent.runners["plc"].reads >= reads + 20)
    finally:
        await agent.stop()
    await srv.stop()
    assert agent.store.count("samples") == 51
    assert [(r["value"], r["quality"]) for r in rows(agent.store, "f17")] == [(17.5, "good"), (12.5, "good")]
    assert all(len(rows(agent.store, f"f{i:02d}")) == 1 for i in range(50) if i != 17)
