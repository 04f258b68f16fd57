"""Modbus TCP and RTU driver against real pymodbus servers on loopback / a pty pair."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pymodbus.exceptions import ModbusIOException
from pymodbus.pdu.register_message import ReadHoldingRegistersResponse, ReadInputRegistersResponse

from edge.core.errors import DriverError
from edge.drivers import create_driver
from edge.drivers.base import ChangeReader
from edge.drivers.modbus import HoldingRegisters, InputRegisters
from edge.drivers.modbus_codec import encode_value
from edge.logic.model import Quality
from edge.simulate.modbus_server import ModbusSimServer
from edge.simulate.ptybridge import PtyBridge
from tests.conftest import make_config

ALL_TYPES = [
    {"name": "i16", "address": "hr:0", "type": "int16", "sim": "=-12345"},
    {"name": "u16", "address": "hr:1", "type": "uint16", "sim": "=65000"},
    {"name": "i32", "address": "hr:2", "type": "int32", "sim": "=-2000000000"},
    {"name": "u32", "address": "hr:4", "type": "uint32", "sim": "=4000000000"},
    {"name": "i64", "address": "hr:6", "type": "int64", "sim": "=-9000000000000000000"},
    {"name": "u64", "address": "hr:10", "type": "uint64", "sim": "=18000000000000000000"},
    {"name": "f32", "address": "hr:14", "type": "float32", "sim": "=3.5"},
    {"name": "f64", "address": "hr:16", "type": "float64", "sim": "=-2.718281828459045"},
    {"name": "f32le", "address": "hr:20", "type": "float32", "word_order": "little", "sim": "=1234.5"},
    {
        "name": "u32bs",
        "address": "hr:22",
        "type": "uint32",
        "byte_order": "little",
        "word_order": "little",
        "sim": "=305419896",
    },
    {"name": "scaled", "address": "hr:24", "type": "int16", "scale": 0.1, "offset": -40, "sim": "=25.5"},
    {"name": "bit", "address": "hr:25.7", "type": "bool", "sim": "=1"},
    {"name": "str", "address": "hr:30", "type": "string", "length": 9, "sim": "=LOT-4711A"},
    {"name": "coil", "address": "co:5", "type": "bool", "sim": "=1"},
    {"name": "di", "address": "di:9", "type": "bool", "sim": "=1"},
    {"name": "ir", "address": "ir:3", "type": "int32", "sim": "=-77"},
    {"name": "unit2", "address": "hr:0", "unit": 2, "type": "uint16", "sim": "=222"},
]
EXPECTED = {
    "i16": -12345,
    "u16": 65000,
    "i32": -2000000000,
    "u32": 4000000000,
    "i64": -9000000000000000000,
    "u64": 18000000000000000000,
    "f32": 3.5,
    "f64": -2.718281828459045,
    "f32le": 1234.5,
    "u32bs": 305419896,
    "scaled": pytest.approx(25.5),
    "bit": True,
    "str": "LOT-4711A",
    "coil": True,
    "di": True,
    "ir": -77,
    "unit2": 222,
}


def tcp_config(tmp_path: Path, port: int, tags: list[dict] | None = None):  # type: ignore[no-untyped-def]
    dev = {"name": "plc", "protocol": "modbus_tcp", "host": "127.0.0.1", "port": port, "timeout_s": 1}
    return make_config([dev], [t | {"device": "plc"} for t in (tags or ALL_TYPES)], tmp_path)


async def test_every_type_word_order_scaling_and_unit_over_tcp(tmp_path: Path, port: int) -> None:
    cfg = tcp_config(tmp_path, port)
    srv = ModbusSimServer(cfg.devices[0], cfg.tags)
    await srv.start()
    drv = create_driver(cfg.devices[0], cfg.tags)
    try:
        await drv.connect()
        readings = await drv.read(cfg.tags)
        assert {r.tag: r.value for r in readings} == EXPECTED
        assert all(r.quality == Quality.GOOD for r in readings)
        # planner: hr 0..34 on unit 1 is one request; co, di, ir, unit 2 one each
        assert drv.requests == 5  # type: ignore[attr-defined]
    finally:
        await drv.close()
        await srv.stop()


async def test_exception_response_marks_only_that_block_bad(tmp_path: Path, port: int) -> None:
    cfg = tcp_config(tmp_path, port, [{"name": "ok", "address": "hr:0", "type": "int16", "sim": "=5"}])
    srv = ModbusSimServer(cfg.devices[0], cfg.tags)
    await srv.start()
    bad_cfg = tcp_config(
        tmp_path,
        port,
        [
            {"name": "ok", "address": "hr:0", "type": "int16"},
            {"name": "missing", "address": "hr:5000", "type": "int16"},
        ],
    )
    drv = create_driver(bad_cfg.devices[0], bad_cfg.tags)
    try:
        await drv.connect()
        got = {r.tag: r for r in await drv.read(bad_cfg.tags)}
        ok, missing = got["ok"], got["missing"]
        assert ok.value == 5 and ok.quality == Quality.GOOD
        assert missing.quality == Quality.BAD and "refused" in (missing.error or "")
    finally:
        await drv.close()
        await srv.stop()


async def test_write_registers_and_coils_land(tmp_path: Path, port: int) -> None:
    tags = [
        {"name": "sp", "address": "hr:0", "type": "float32", "writable": True},
        {"name": "lamp", "address": "co:0", "type": "bool", "writable": True},
        {"name": "flag", "address": "hr:4.3", "type": "bool", "writable": True},
        {"name": "scaled", "address": "hr:6", "type": "int16", "scale": 0.5, "writable": True},
    ]
    cfg = tcp_config(tmp_path, port, tags)
    srv = ModbusSimServer(cfg.devices[0], cfg.tags)
    await srv.start()
    drv = create_driver(cfg.devices[0], cfg.tags)
    try:
        await drv.connect()
        for t, v in zip(cfg.tags, (87.5, True, True, 21.0), strict=True):
            await drv.write(t, v)
        got = {r.tag: r.value for r in await drv.read(cfg.tags)}
        assert got == {"sp": 87.5, "lamp": True, "flag": True, "scaled": 21.0}
        assert (await srv.server.async_getValues(1, 3, 6, 1))[0] == 42  # raw = 21 / 0.5
        assert (await srv.server.async_getValues(1, 3, 4, 1))[0] == 0b1000
    finally:
        await drv.close()
        await srv.stop()


async def test_unreachable_device_raises_driver_error(tmp_path: Path, port: int) -> None:
    cfg = tcp_config(tmp_path, port, ALL_TYPES[:1])
    drv = create_driver(cfg.devices[0], cfg.tags)
    with pytest.raises(DriverError, match="cannot connect"):
        await drv.connect()


async def test_rtu_over_pty_pair(tmp_path: Path) -> None:
    """Modbus RTU framing over real serial device files (two ptys bridged like a cable)."""
    bridge = PtyBridge().start()
    try:
        dev = {
            "name": "rtu",
            "protocol": "modbus_rtu",
            "serial_port": bridge.port_b,
            "baudrate": 19200,
            "parity": "N",
            "unit": 7,
            "timeout_s": 1,
        }
        tags = [
            t | {"device": "rtu"} for t in ALL_TYPES if t["name"] in ("i32", "f32le", "str", "coil", "ir")
        ]
        tags.append(
            {"name": "u3", "device": "rtu", "address": "hr:0", "unit": 3, "type": "int16", "sim": "=-3"}
        )
        cfg = make_config([dev], tags, tmp_path)
        srv = ModbusSimServer(cfg.devices[0], cfg.tags, serial_port=bridge.port_a)
        await srv.start()
        drv = create_driver(cfg.devices[0], cfg.tags)
        try:
            await drv.connect()
            got = {r.tag: r.value for r in await drv.read(cfg.tags)}
            assert got == {k: EXPECTED[k] for k in ("i32", "f32le", "str", "coil", "ir")} | {"u3": -3}
        finally:
            await drv.close()
            await srv.stop()
    finally:
        bridge.close()


@given(regs=st.lists(st.integers(0, 0xFFFF), max_size=125), fc4=st.booleans())
def test_register_answers_decode_like_pymodbus_and_keep_their_bytes(regs: list[int], fc4: bool) -> None:
    """The driver's answer classes (one struct call) give the registers pymodbus's give,
    plus the register bytes; a byte count beyond the packet is refused the same way."""
    ours, theirs = (
        (InputRegisters(), ReadInputRegistersResponse())
        if fc4
        else (HoldingRegisters(), ReadHoldingRegistersResponse())
    )
    data = bytes([2 * len(regs)]) + b"".join(r.to_bytes(2, "big") for r in regs)
    ours.decode(data)
    theirs.decode(data)
    assert ours.registers == theirs.registers == regs
    assert ours.raw == data[1:]
    with pytest.raises(ModbusIOException):
        HoldingRegisters().decode(bytes([len(data)]) + data[1:])


async def test_changes_report_what_changed_and_everything_after_a_reconnect(
    tmp_path: Path, port: int
) -> None:
    """Against a real server: the first poll of a session reports every tag, an unchanged
    poll nothing, a changed register exactly its tag (any table, any unit), a refused block
    BAD on every poll."""
    tags = [*ALL_TYPES, {"name": "missing", "address": "ir:5000", "type": "int16"}]
    cfg = tcp_config(tmp_path, port, ALL_TYPES)
    srv = ModbusSimServer(cfg.devices[0], cfg.tags)
    await srv.start()
    cfg = tcp_config(tmp_path, port, tags)
    drv = create_driver(cfg.devices[0], cfg.tags)
    assert isinstance(drv, ChangeReader)
    try:
        await drv.connect()
        first = drv.changes(cfg.tags, await drv.fetch(cfg.tags))
        assert {r.tag: r.value for r in first if r.tag != "missing"} == EXPECTED
        again = drv.changes(cfg.tags, await drv.fetch(cfg.tags))
        assert [(r.tag, r.quality) for r in again] == [("missing", Quality.BAD)]

        await srv.server.async_setValues(1, 16, 14, encode_value(cfg.tags[6], 7.25))  # f32
        await srv.server.async_setValues(1, 5, 5, [False])  # coil
        await srv.server.async_setValues(2, 16, 0, [223])  # unit2
        got = drv.changes(cfg.tags, await drv.fetch(cfg.tags))
        assert {r.tag: r.value for r in got if r.tag != "missing"} == {
            "f32": 7.25,
            "coil": False,
            "unit2": 223,
        }
        assert drv.changes(cfg.tags, await drv.fetch(cfg.tags), full=True) != []

        await drv.connect()  # a new session
        after = drv.changes(cfg.tags, await drv.fetch(cfg.tags))
        assert len(after) == len(tags)
        assert {r.tag: r.value for r in await drv.read(cfg.tags)} == {r.tag: r.value for r in after}
    finally:
        await drv.close()
        await srv.stop()
