"""The agent against a wall clock set back an hour while a machine is down (issue 13,
finding 11): it records a ``clock_step`` event, no stop or KPI gets a negative
duration, and ``lineside status`` still says the agent is running. The wall clock the
agent reads is patched (the monotonic one is real): no sleeping for an hour."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from edge.core.clock import AgentClock
from edge.runtime.agent import Agent
from edge.services.production import kpi_report, list_downtime
from edge.services.status import gather_status, heartbeat_age
from edge.simulate.modbus_server import ModbusSimServer
from edge.store import Store
from edge.store import production as production_repo
from tests.conftest import make_config, wait_for


class SteppableWall:
    """The real time, plus an offset the test sets (``date -s`` without root)."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset


@pytest.fixture
def cfg(tmp_path: Path, port: int):  # type: ignore[no-untyped-def]
    dev = {"name": "plc", "protocol": "modbus_tcp", "host": "127.0.0.1", "port": port, "timeout_s": 1}
    tags = [
        {"name": "code", "device": "plc", "address": "hr:0", "type": "int16", "poll_ms": 50, "sim": "state"}
    ]
    return make_config(
        [dev],
        tags,
        tmp_path,
        agent={"heartbeat_s": 0.2},
        machines=[
            {
                "name": "filler",
                "state": {"code_tag": "code", "codes": {1: "running", 2: "down"}},
                "micro_stop_s": 0,
            }
        ],
    )


async def test_wall_clock_set_back_an_hour_while_down(cfg, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    srv = ModbusSimServer(cfg.devices[0], cfg.tags)
    await srv.start()
    await srv.update({"state": 1})
    wall = SteppableWall()
    agent = Agent(cfg, clock=AgentClock(wall=wall))
    await agent.start()
    try:
        await wait_for(lambda: production_repo.latest_state(agent.store, "filler") is not None)
        await srv.update({"state": 2})
        await wait_for(lambda: (production_repo.latest_state(agent.store, "filler") or ("",))[0] == "down")
        wall.offset = -3600.0  # the wall clock goes back one hour
        await wait_for(lambda: any(e["kind"] == "clock_step" for e in agent.store.events()), timeout=5)
        await srv.update({"state": 1})
        await wait_for(lambda: (production_repo.latest_state(agent.store, "filler") or ("",))[0] == "running")
        # `lineside status` is another process reading the store with its own clock:
        # the agent's heartbeats now say an hour ago, yet it is running.
        status = gather_status(cfg, time.time())
        assert status["agent"]["alive"], status["agent"]
        assert status["agent"]["heartbeat_age_s"] < 5
    finally:
        await agent.stop()
        await srv.stop()

    (step,) = [e for e in agent.store.events() if e["kind"] == "clock_step"]
    assert round(step["data"]["step_s"] / 60) == -60
    with Store(cfg.store.path, readonly=True) as st:
        events = production_repo.load_downtime(st)["filler"]
        assert events and all(e.end is None or e.end >= e.start for e in events)
        down = [e for e in events if e.state.value == "down"]
        assert len(down) == 2  # the stop, cut at the step into its two parts
        after, before = sorted(down, key=lambda e: e.start)  # the part after the step is an hour "earlier"
        assert round((before.start - after.start) / 60) == 60
        rows = list_downtime(cfg, st, now=wall())
        assert rows and all(r["duration_s"] is None or r["duration_s"] >= 0 for r in rows)
        rep = kpi_report(cfg, st, since=wall() - 7200, now=wall())
        assert all(v >= 0 for v in rep["total"]["state_s"].values())
        assert rep["total"]["downtime_s"] >= 0


def test_liveness_does_not_depend_on_the_wall_clock() -> None:
    """A heartbeat recorded with this boot's monotonic clock is judged by it, whatever
    the wall clocks say; one from another boot is dead; an old agent's (no monotonic
    field) falls back to the wall clock."""
    agent = {
        "running": {"value": True},
        "heartbeat": {"value": 1000.0},
        "heartbeat_mono": {"value": 50.0},
        "boot_id": {"value": "boot-a"},
    }
    assert heartbeat_age(agent, now=1000.0 + 86400, mono=52.0, boot="boot-a") == 2.0
    assert heartbeat_age(agent, now=1000.0 - 3600, mono=52.0, boot="boot-a") == 2.0
    assert heartbeat_age(agent, now=1001.0, mono=52.0, boot="boot-b") is None
    old = {"running": {"value": True}, "heartbeat": {"value": 1000.0}}
    assert heartbeat_age(old, now=1003.0, mono=0.0, boot="boot-a") == 3.0
