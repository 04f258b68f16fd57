"""A PLC value that is NaN or infinite is not a measurement (issue 13, finding 9): the
agent records it BAD with no value, logs it once per tag, and takes a finite value again
as good; a real Modbus server sends the IEEE-754 patterns."""

from __future__ import annotations

import logging
import math
from pathlib import Path

import pytest

from edge.runtime.acquire import non_finite
from edge.runtime.agent import Agent
from edge.simulate.modbus_server import ModbusSimServer
from tests.conftest import make_config, wait_for


def test_non_finite_recognises_nan_and_infinities_also_in_arrays() -> None:
    assert non_finite(math.nan) and non_finite(math.inf) and non_finite(-math.inf)
    assert non_finite([1.0, math.nan])
    assert not non_finite(1.5) and not non_finite(0) and not non_finite("nan") and not non_finite(None)
    assert not non_finite([1.0, 2.0]) and not non_finite(True)


async def test_a_nan_from_the_plc_is_stored_bad_not_good(
    tmp_path: Path, port: int, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="lineside")
    dev = {"name": "plc", "protocol": "modbus_tcp", "host": "127.0.0.1", "port": port, "timeout_s": 1}
    tags = [
        {
            "name": "weight",
            "device": "plc",
            "address": "hr:0",
            "type": "float32",
            "poll_ms": 50,
            "sim": "=nan",
        },
        {"name": "temp", "device": "plc", "address": "hr:2", "type": "float64", "poll_ms": 50, "sim": "=inf"},
        {"name": "ok", "device": "plc", "address": "hr:6", "type": "float32", "poll_ms": 50, "sim": "=1.5"},
    ]
    cfg = make_config([dev], tags, tmp_path)
    srv = ModbusSimServer(cfg.devices[0], cfg.tags)
    await srv.start()
    agent = Agent(cfg)
    await agent.start()
    try:

        def cur() -> dict[str, dict]:
            return {v["tag"]: v for v in agent.store.current_values()}

        await wait_for(lambda: cur()["ok"]["quality"] == "good" and cur()["weight"]["quality"] != "none")
        await wait_for(lambda: agent.runners["plc"].reads > 20)  # many polls of the same NaN
    finally:
        await agent.stop()
        await srv.stop()
    values = cur()
    for tag in ("weight", "temp"):
        assert values[tag]["quality"] == "bad" and values[tag]["value"] is None, values[tag]
        assert [h["quality"] for h in agent.store.history(tag)] == ["bad"]
    assert values["ok"] == values["ok"] | {"quality": "good", "value": 1.5}
    warned = [r.getMessage() for r in caplog.records if "not a finite number" in r.getMessage()]
    assert sorted(warned) == [
        "tag temp: the device sends a value that is not a finite number (NaN or infinity); recorded BAD",
        "tag weight: the device sends a value that is not a finite number (NaN or infinity); recorded BAD",
    ]


def test_a_finite_value_after_nan_is_good_again_and_the_recovery_logged_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The data path itself (no device needed): NaN, NaN, 2.0 → bad, good; one warning,
    one recovery line."""
    from edge.drivers.base import Reading

    caplog.set_level(logging.INFO, logger="lineside")
    dev = {"name": "plc", "protocol": "modbus_tcp", "host": "127.0.0.1", "port": 1}
    cfg = make_config([dev], [{"name": "w", "device": "plc", "address": "hr:0", "type": "float32"}], tmp_path)
    agent = Agent(cfg)
    try:
        out = [agent._finite([Reading("w", v)])[0] for v in (math.nan, math.nan, 2.0, 3.0)]
    finally:
        agent.store.close()
    assert [r.quality.label for r in out] == ["bad", "bad", "good", "good"]
    assert out[0].value is None and out[2].value == 2.0
    msgs = [r.getMessage() for r in caplog.records]
    assert sum(m.startswith("tag w: ") for m in msgs) == 1
    assert sum(m.startswith("tag w recovered after") for m in msgs) == 1
