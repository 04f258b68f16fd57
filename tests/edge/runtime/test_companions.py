"""The agent and its companions (the uplink, built by the CLI): started after the
agent, told of every commit, stopped when the agent stops; the agent builds none of its
own, so ``edge`` needs no ``sync``."""

from __future__ import annotations

import threading
from pathlib import Path

from edge.runtime.agent import Agent
from edge.runtime.companion import Companion
from edge.store import Store
from tests.conftest import make_config, wait_for

DEVICE = [{"name": "plc", "protocol": "modbus_tcp", "host": "127.0.0.1", "port": 1, "timeout_s": 0.2}]
TAGS = [{"name": "t", "device": "plc", "address": "hr:0", "type": "int16", "poll_ms": 100}]


class Recorder:
    def __init__(self) -> None:
        self.calls: list[str] = []
        self.notified = threading.Event()

    def start(self) -> None:
        self.calls.append("start")

    def notify(self) -> None:
        self.notified.set()

    def stop(self, timeout: float) -> None:
        self.calls.append(f"stop {timeout}")


async def test_companions_are_started_notified_of_commits_and_stopped(tmp_path: Path) -> None:
    cfg = make_config(DEVICE, TAGS, tmp_path, uplink={"mqtt": {"port": 1}})
    rec = Recorder()
    assert isinstance(rec, Companion)
    agent = Agent(cfg, companions=[rec])
    await agent.start()
    try:
        assert rec.calls == ["start"]
        # The PLC does not answer: its tag turns bad, which is a committed sample too.
        await wait_for(lambda: Store(cfg.store.path, readonly=True).count("samples") > 0, timeout=10)
        await wait_for(rec.notified.is_set)
    finally:
        await agent.stop()
    assert rec.calls == ["start", "stop 2.0"]


def test_an_agent_builds_no_uplink_of_its_own(tmp_path: Path) -> None:
    cfg = make_config(DEVICE, TAGS, tmp_path, uplink={"mqtt": {"port": 1}})
    agent = Agent(cfg)
    assert agent.companions == []
    agent.store.close()
