"""EtherNet/IP driver (pycomm3 LogixDriver) against the in-house CIP server on loopback."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from pycomm3 import LogixDriver

from edge.core.errors import DriverError
from edge.drivers import create_driver
from edge.drivers.ethernetip import tag_definition
from edge.logic.model import Quality
from edge.simulate.enip_server import EnipSimServer
from tests.conftest import make_config

TAGS = [
    {"name": "b", "address": "Flag", "type": "bool", "writable": True},
    {"name": "s8", "address": "Small", "type": "int8"},
    {"name": "i16", "address": "Word", "type": "int16"},
    {"name": "i32", "address": "Counter", "type": "int32", "writable": True},
    {"name": "i64", "address": "Big", "type": "int64"},
    {"name": "f32", "address": "Temp", "type": "float32", "writable": True},
    {"name": "f64", "address": "Precise", "type": "float64"},
    {"name": "arr", "address": "Zones", "type": "float32", "elements": 4, "writable": True},
    {"name": "elem", "address": "Zones[2]", "type": "float32"},
    {"name": "prog", "address": "Program:Main.Speed", "type": "int32", "scale": 0.5},
    {"name": "big_arr", "address": "History", "type": "int32", "elements": 1000},
]


async def server(port: int) -> EnipSimServer:
    srv = EnipSimServer("127.0.0.1", port)
    srv.add_tag("Flag", "BOOL", True)
    srv.add_tag("Small", "SINT", -7)
    srv.add_tag("Word", "INT", -30000)
    srv.add_tag("Counter", "DINT", 123456)
    srv.add_tag("Big", "LINT", -(2**60))
    srv.add_tag("Temp", "REAL", 21.5)
    srv.add_tag("Precise", "LREAL", 3.141592653589793)
    srv.add_tag("Zones", "REAL", [60.5, 61.5, 62.5, 63.5], 4)
    srv.add_tag("Program:Main.Speed", "DINT", 240)
    srv.add_tag("History", "DINT", list(range(1000)), 1000)
    await srv.start()
    return srv


def config(tmp_path: Path, port: int):  # type: ignore[no-untyped-def]
    dev = {"name": "plc", "protocol": "ethernetip", "host": "127.0.0.1", "port": port, "timeout_s": 2}
    return make_config([dev], [t | {"device": "plc"} for t in TAGS], tmp_path)


async def test_atomic_types_arrays_program_scope_and_fragmented_read(tmp_path: Path, port: int) -> None:
    srv = await server(port)
    cfg = config(tmp_path, port)
    drv = create_driver(cfg.devices[0], cfg.tags)
    try:
        await drv.connect()
        got = {r.tag: r.value for r in await drv.read(cfg.tags)}
        assert got["b"] is True and got["s8"] == -7 and got["i16"] == -30000
        assert got["i32"] == 123456 and got["i64"] == -(2**60)
        assert got["f32"] == 21.5 and got["f64"] == 3.141592653589793
        assert got["arr"] == [60.5, 61.5, 62.5, 63.5]
        assert got["elem"] == 62.5
        assert got["prog"] == 120.0  # scaled by 0.5
        assert got["big_arr"] == list(range(1000))  # 4000 bytes: read in fragments
    finally:
        await drv.close()
        await srv.stop()


async def test_single_write_lands_exactly_once(tmp_path: Path, port: int) -> None:
    srv = await server(port)
    cfg = config(tmp_path, port)
    drv = create_driver(cfg.devices[0], cfg.tags)
    try:
        await drv.connect()
        await drv.write(cfg.tag("i32"), 777)
        assert [(w.tag, w.values) for w in srv.writes] == [("Counter", [777])]
        assert srv.refused == []
        assert srv.get("Counter") == 777
    finally:
        await drv.close()
        await srv.stop()


async def test_multi_write_lands_exactly_once_each(tmp_path: Path, port: int) -> None:
    srv = await server(port)
    cfg = config(tmp_path, port)
    drv = create_driver(cfg.devices[0], cfg.tags)
    try:
        await drv.connect()
        await drv.write_many(
            [
                (cfg.tag("i32"), 1),
                (cfg.tag("f32"), 22.25),
                (cfg.tag("b"), False),
                (cfg.tag("arr"), [1.0, 2.0, 3.0, 4.0]),
            ]
        )  # type: ignore[attr-defined]
        assert sorted((w.tag, tuple(w.values)) for w in srv.writes) == sorted(
            [("Counter", (1,)), ("Temp", (22.25,)), ("Flag", (False,)), ("Zones", (1.0, 2.0, 3.0, 4.0))]
        )
        assert srv.refused == []
        assert {r.tag: r.value for r in await drv.read([cfg.tag("arr"), cfg.tag("b")])} == {
            "arr": [1.0, 2.0, 3.0, 4.0],
            "b": False,
        }
    finally:
        await drv.close()
        await srv.stop()


async def test_stock_pycomm3_single_write_sends_payload_twice(tmp_path: Path, port: int) -> None:
    """Documents the upstream bug our driver works around: the unpatched LogixDriver's
    single write carries its payload twice and a strict controller refuses it."""
    srv = await server(port)
    cfg = config(tmp_path, port)

    def stock_write() -> object:
        with LogixDriver(f"127.0.0.1:{port}/0", init_tags=False) as plc:
            plc._tags["Counter"] = tag_definition(cfg.tag("i32"), 1)
            return plc.write(("Counter", 5))

    try:
        result = await asyncio.to_thread(stock_write)
        assert result.error  # type: ignore[attr-defined]
        assert srv.writes == [] and srv.refused == [("Counter", 0x15)]
    finally:
        await srv.stop()


async def test_unknown_tag_is_bad_and_dead_controller_raises(tmp_path: Path, port: int) -> None:
    srv = await server(port)
    dev = {"name": "plc", "protocol": "ethernetip", "host": "127.0.0.1", "port": port, "timeout_s": 1}
    cfg = make_config(
        [dev],
        [
            {"name": "x", "device": "plc", "address": "NotThere", "type": "int32"},
            {"name": "c", "device": "plc", "address": "Counter", "type": "int32"},
        ],
        tmp_path,
    )
    drv = create_driver(cfg.devices[0], cfg.tags)
    try:
        await drv.connect()
        x, c = await drv.read(cfg.tags)
        assert x.quality == Quality.BAD and c.value == 123456
        await srv.stop()
        with pytest.raises(DriverError):
            await drv.read(cfg.tags)
    finally:
        await drv.close()
        await srv.stop()
