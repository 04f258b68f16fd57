"""The EtherNet/IP driver against cpppo's Logix simulator, an implementation other than
the agent's client library (pycomm3) and our own simulator (issue 13, finding 14)."""

from __future__ import annotations

import asyncio
import importlib.util
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from edge.cli.demo import free_port
from edge.drivers import create_driver
from edge.logic.model import Quality
from tests.conftest import make_config

if importlib.util.find_spec("cpppo") is None:  # run as a server process, never imported here
    pytest.skip("cpppo (PyPI) is not installed: pip install -e '.[test]'", allow_module_level=True)


#: The controller's tags (cpppo's NAME=TYPE[LENGTH]).
TAGS = ["Speed=REAL", "Count=DINT", "Temps=REAL[3]"]


@pytest.fixture(scope="module")
def cpppo_port() -> Iterator[int]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "cpppo.server.enip", "--address", f"127.0.0.1:{port}", *TAGS],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        end = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), 0.2).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > end:
                    pytest.fail("cpppo's EtherNet/IP server did not start")
                time.sleep(0.1)
        yield port
    finally:
        proc.terminate()
        proc.wait(5)


async def test_declared_types_other_than_the_controllers_and_unknown_tags_fail_with_the_reason(
    tmp_path: Path, cpppo_port: int
) -> None:
    dev = {"name": "plc", "protocol": "ethernetip", "host": "127.0.0.1", "port": cpppo_port, "timeout_s": 2}
    tags = [
        {"name": "speed", "address": "Speed", "type": "float32", "writable": True},
        {"name": "count_real", "address": "Count", "type": "float32"},
        {"name": "temps_int", "address": "Temps", "type": "int32", "elements": 3},
        {"name": "nope", "address": "Nope", "type": "int32"},
    ]
    cfg = make_config([dev], [t | {"device": "plc"} for t in tags], tmp_path)
    drv = create_driver(cfg.devices[0], cfg.tags)
    try:
        await drv.connect()
        await drv.write(cfg.tag("speed"), 21.5)
        got = {r.tag: r for r in await drv.read(cfg.tags)}
        # One at a time too (a single read is no multi-service packet).
        (alone,) = await drv.read([cfg.tag("count_real")])
    finally:
        await drv.close()
    assert got["speed"].value == 21.5 and got["speed"].quality == Quality.GOOD
    assert all(
        got[n].quality == Quality.BAD and got[n].value is None for n in ("count_real", "temps_int", "nope")
    )
    assert got["count_real"].error == "declared REAL, but the controller's tag Count is DINT"
    assert alone.error == got["count_real"].error
    assert got["temps_int"].error == "declared DINT, but the controller's tag Temps is REAL"
    assert got["nope"].error is not None and got["nope"].error.startswith("the controller has no tag Nope (")


async def test_two_tags_on_one_logix_tag_with_different_types(tmp_path: Path, cpppo_port: int) -> None:
    """The definition pycomm3 uses is the first tag's: the second is checked against it."""
    dev = {"name": "plc", "protocol": "ethernetip", "host": "127.0.0.1", "port": cpppo_port, "timeout_s": 2}
    tags = [
        {"name": "speed", "address": "Speed", "type": "float32"},
        {"name": "speed_i", "address": "Speed", "type": "int32"},
    ]
    cfg = make_config([dev], [t | {"device": "plc"} for t in tags], tmp_path)
    drv = create_driver(cfg.devices[0], cfg.tags)
    try:
        await drv.connect()
        got = {r.tag: r for r in await asyncio.wait_for(drv.read(cfg.tags), 10)}
    finally:
        await drv.close()
    assert got["speed"].quality == Quality.GOOD
    assert got["speed_i"].quality == Quality.BAD
    assert got["speed_i"].error == "declared DINT, but the controller's tag Speed is REAL"
