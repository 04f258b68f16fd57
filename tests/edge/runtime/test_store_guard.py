"""The agent's hold on its store (issue 13, findings 1 and 3): one agent per store, a
store deleted or replaced under a running agent stops it (exit 2), and an emptied store
is refused instead of being started afresh."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from edge.core.errors import StoreUnusable
from edge.runtime.agent import Agent
from edge.store import Store
from tests.conftest import make_config
from tests.sync.conftest import DEVICE, TAGS


def cfg_at(tmp_path: Path):  # type: ignore[no-untyped-def]
    return make_config(DEVICE, TAGS, tmp_path, agent={"heartbeat_s": 0.1})


async def test_a_second_agent_on_the_same_store_refuses_to_start(tmp_path: Path) -> None:
    """Finding 3: two agents on one config both ran, counting everything twice."""
    cfg = cfg_at(tmp_path)
    first = Agent(cfg)
    await first.start()
    try:
        second = Agent(cfg)
        with pytest.raises(
            StoreUnusable, match=rf"another agent \(pid {os.getpid()}\) is running on this store"
        ):
            await second.start()
        assert StoreUnusable.exit_code == 2
    finally:
        await first.stop()
    third = Agent(cfg)  # the hold goes with the agent that stopped
    await third.start()
    await third.stop()


@pytest.mark.parametrize("how", ["deleted", "replaced"])
async def test_a_store_deleted_or_replaced_under_the_agent_stops_it(tmp_path: Path, how: str) -> None:
    """Finding 1: operator input written while the agent held a deleted file went into a
    new store the agent never read, and the agent went on writing into the deleted one."""
    cfg = cfg_at(tmp_path)
    agent = Agent(cfg)
    run = asyncio.create_task(agent.run())
    # Once it is up (READY: store, channel and devices opened), not while it starts.
    for _ in range(200):
        if getattr(agent, "_ready", False) or run.done():
            break
        await asyncio.sleep(0.05)
    path = cfg.store.path
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    if how == "replaced":
        Store(tmp_path / "other.db").close()
        os.replace(tmp_path / "other.db", path)
    else:
        # Meanwhile nothing creates a new store beside the agent (the CLI's open refuses).
        with pytest.raises(StoreUnusable, match="deleted under the running agent"):
            Store(path)
    with pytest.raises(StoreUnusable, match=f"the store file was {how}"):
        await asyncio.wait_for(run, 10)


def test_an_empty_store_file_is_refused_not_started_afresh(tmp_path: Path) -> None:
    """Finding 1: a zero-length store was silently initialised again (sequences from 1)."""
    p = tmp_path / "line.db"
    p.write_bytes(b"")
    for readonly in (False, True):
        with pytest.raises(StoreUnusable, match="empty"):
            Store(p, readonly=readonly)
    assert p.stat().st_size == 0  # untouched


def test_each_store_has_its_own_incarnation(tmp_path: Path) -> None:
    a, b = Store(tmp_path / "a.db"), Store(tmp_path / "b.db")
    assert len(a.incarnation()) == 32 and a.incarnation() != b.incarnation()
    inc = a.incarnation()
    a.close()
    assert Store(tmp_path / "a.db").incarnation() == inc  # kept across opens
