"""The Modbus driver and the agent's writes against pyModbusTCP's server, an
implementation other than the agent's client library (pymodbus), and against a device
that accepts TCP connections but never answers (issue 13, finding 14)."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import pytest

from edge.core.errors import WriteRefused
from edge.drivers import create_driver
from edge.drivers.modbus_codec import encode_value
from edge.runtime.agent import Agent
from edge.runtime.device_runner import DeviceRunner
from tests.conftest import make_config, wait_for

server_mod = pytest.importorskip("pyModbusTCP.server", reason="pyModbusTCP (PyPI) is not installed")


def modbus_device(port: int, **extra: Any) -> dict[str, Any]:
    return {
        "name": "plc",
        "protocol": "modbus_tcp",
        "host": "127.0.0.1",
        "port": port,
        "timeout_s": 1,
        "reconnect": {"initial_s": 0.05, "max_s": 0.2},
    } | extra


async def test_writes_that_do_not_fit_are_refused_and_recorded(tmp_path: Path, port: int) -> None:
    server = server_mod.ModbusServer("127.0.0.1", port, no_block=True)
    server.start()
    bank = server.data_bank
    bank.set_holding_registers(0, [100, 0, 5, 0x4142, 0x4344])
    tags = [
        {"name": "setpoint", "address": "hr:0", "type": "int16", "writable": True},
        {"name": "limit", "address": "hr:1", "type": "uint32", "writable": True},
        {"name": "label", "address": "hr:3", "type": "string", "length": 4, "writable": True},
    ]
    cfg = make_config([modbus_device(port)], [t | {"device": "plc", "poll_ms": 200} for t in tags], tmp_path)
    agent = Agent(cfg)
    await agent.start()
    try:
        await wait_for(lambda: agent.runners["plc"].state == "connected")
        for tag, value, why in [
            ("setpoint", "40000", "40000 is out of range for int16 (-32768..32767)"),
            ("limit", -1, "-1 is out of range for uint32 (0..4294967295)"),
            ("label", "ABCDEFGH", "8 characters do not fit its length of 4"),
        ]:
            with pytest.raises(WriteRefused, match=why.replace("(", r"\(").replace(")", r"\)")):
                await agent.write(tag, value, requested_by="op:1001")
        assert bank.get_holding_registers(0, 5) == [100, 0, 5, 0x4142, 0x4344]  # nothing reached the PLC
        await agent.write("setpoint", "-32768", requested_by="op:1001")
        await agent.write("limit", 4294967295, requested_by="op:1001")
        await agent.write("label", "WXYZ", requested_by="op:1001")
        assert bank.get_holding_registers(0, 5) == [0x8000, 0xFFFF, 0xFFFF, 0x5758, 0x595A]
    finally:
        await agent.stop()
        server.stop()
    log = [(w["tag"], w["outcome"]) for w in agent.store.writes()]
    assert log[:3] == [("setpoint", "refused"), ("limit", "refused"), ("label", "refused")]
    assert log[3:] == [(t, o) for t in ("setpoint", "limit", "label") for o in ("requested", "ok")]


async def test_a_refused_address_is_bad_with_the_reason_logged_and_recorded_once(
    tmp_path: Path, port: int, caplog: pytest.LogCaptureFixture
) -> None:
    """pyModbusTCP answers reads beyond its 100 registers with exception 2: the tag is BAD
    with the reason on every poll, logged once and recorded as one event."""
    server = server_mod.ModbusServer(
        "127.0.0.1", port, no_block=True, data_bank=server_mod.DataBank(h_regs_size=100)
    )
    server.start()
    tags = [
        {"name": "ok", "address": "hr:0", "type": "uint16"},
        {"name": "beyond", "address": "hr:500", "type": "uint16"},
    ]
    cfg = make_config([modbus_device(port)], [t | {"device": "plc", "poll_ms": 20} for t in tags], tmp_path)
    agent = Agent(cfg)
    caplog.set_level(logging.WARNING, logger="lineside")
    await agent.start()
    try:
        await wait_for(lambda: agent.runners["plc"].reads >= 20)
        agent._write_status()
    finally:
        await agent.stop()
        server.stop()
    why = "device refused hr:500+1 (unit 1): exception 2 (illegal data address)"
    assert [r.getMessage() for r in caplog.records if "beyond" in r.getMessage()] == [
        f"tag beyond is BAD: {why}"
    ]
    assert [e["message"] for e in agent.store.events() if e["kind"] == "tag_bad"] == [f"beyond: {why}"]
    assert agent.store.agent_status()["devices"]["value"]["plc"]["bad_tags"] == {"beyond": why}


def test_the_codec_never_cuts_a_string_short() -> None:
    cfg = make_config(
        [modbus_device(502)],
        [{"name": "s", "device": "plc", "address": "hr:0", "type": "string", "length": 4}],
        Path("/tmp"),
    )
    with pytest.raises(ValueError, match="8 characters do not fit its length of 4"):
        encode_value(cfg.tags[0], "ABCDEFGH")


async def test_a_device_that_accepts_tcp_but_never_answers_stays_faulted(tmp_path: Path, port: int) -> None:
    """A TCP connect is no recovery: only a good read is."""
    conns: list[asyncio.StreamWriter] = []

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conns.append(writer)
        await reader.read()  # take requests, answer nothing

    server = await asyncio.start_server(silent, "127.0.0.1", port)
    tags = [{"name": "count", "device": "plc", "address": "hr:0", "type": "uint16", "poll_ms": 100}]
    cfg = make_config([modbus_device(port, timeout_s=0.3)], tags, tmp_path)
    states: list[str] = []
    runner = DeviceRunner(
        cfg.devices[0],
        cfg.tags,
        create_driver(cfg.devices[0], cfg.tags),
        lambda rs, now: None,
        lambda device, state, error: states.append(state),
    )
    task = asyncio.create_task(runner.run())
    try:
        await wait_for(lambda: len(conns) >= 4, timeout=15)  # connected, and timed out, 4 times
    finally:
        runner.stop()
        await asyncio.wait_for(task, 10)
        server.close()
        for w in conns:
            w.close()
    assert states == ["fault"]
    assert runner.last_error == "no answer within 0.3 s"
