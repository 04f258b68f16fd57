"""The terminal works from the store alone: no agent, no network. Input made then is
applied by an agent started later."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from textual.widgets import Static

from edge.config.line import LineConfig, load_config
from edge.runtime.agent import Agent
from edge.store import Store
from tests.conftest import example_on_free_ports, wait_for
from tests.edge.tui.conftest import ANNA, make_app, rows, seed, settle
from tests.edge.tui.test_workflows import fill, login
from tests.pty_rig import F10, PtyProcess


async def test_tui_without_agent_then_agent_applies_the_input(tmp_path: Path) -> None:
    def local_only(data: dict) -> None:  # type: ignore[type-arg]
        data.pop("uplink", None)

    cfg: LineConfig = load_config(example_on_free_ports(tmp_path, data_changes=local_only))
    with Store(cfg.store.path) as st:  # a store an agent left behind (its heartbeat is old)
        seed(st, cfg)
        st.db.execute("UPDATE agent_status SET value = 'false' WHERE key = 'running'")
    app = make_app(cfg)
    async with app.run_test(size=(100, 32)) as pilot:
        await settle(pilot)
        bar = str(app.query_one("#statusbar", Static).content)
        assert "agent NOT RUNNING" in bar and "input is kept" in bar
        assert "Order [b]WO-1[/b]" in str(app.query_one("#ov-order", Static).content)
        await login(pilot, "1001")
        await pilot.press("f3", "s")
        await pilot.pause()
        await fill(pilot, "order", "WO-2")
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert "order WO-2 start queued" in app.last_message
    assert rows(cfg, "SELECT order_id, action, by, applied FROM order_requests WHERE applied = 0") == [
        ("WO-2", "start", ANNA, 0)
    ]

    agent = Agent(cfg)  # PLCs unreachable: the line logic still applies queued orders
    task = asyncio.create_task(agent.run())
    try:

        def applied() -> bool:
            got = rows(cfg, "SELECT product FROM orders WHERE order_id = 'WO-2' AND action = 'start'")
            return got == [("WATER-1000",)]

        await wait_for(applied, timeout=20)
        assert rows(cfg, "SELECT applied FROM order_requests WHERE by = ?", ANNA)[-1] == (1,)
    finally:
        agent.request_stop()
        await asyncio.wait_for(task, 30)


def test_lineside_tui_command_starts_and_quits(tmp_path: Path) -> None:
    """`lineside tui` in a real pseudo-terminal: starts on an empty store, quits on F10."""
    cfg_path = example_on_free_ports(tmp_path)
    p = PtyProcess([sys.executable, "-m", "edge.cli", "tui", "-c", str(cfg_path)])
    try:
        p.expect(b"F1 Line", 30)
        p.send(F10)
        assert p.wait(15) == 0
    finally:
        p.close()
    assert Path(load_config(cfg_path).store.path).exists()
