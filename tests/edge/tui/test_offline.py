"""The terminal without the agent: it shows what the store holds and records nothing
(it may not write the store nor sign the audit trail; the agent does both). A form that
cannot be saved stays open with what was typed; once the agent runs, saving it again
goes through and the agent applies it."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from textual.widgets import Input, Select, Static

from edge.config.line import LineConfig, load_config
from edge.runtime.agent import Agent
from edge.store import Store
from tests.conftest import example_on_free_ports, wait_for
from tests.edge.tui.conftest import ANNA, make_app, rows, seed, settle
from tests.edge.tui.test_workflows import fill, form
from tests.pty_rig import F10, PtyProcess


async def test_without_the_agent_nothing_is_recorded_and_the_input_is_kept(tmp_path: Path) -> None:
    def local_only(data: dict) -> None:  # type: ignore[type-arg]
        data.pop("uplink", None)

    cfg: LineConfig = load_config(example_on_free_ports(tmp_path, data_changes=local_only))
    with Store(cfg.store.path) as st:  # a store an agent left behind (its heartbeat is old)
        seed(st, cfg)
        st.db.execute("UPDATE agent_status SET value = 'false' WHERE key = 'running'")
    audit_before = rows(cfg, "SELECT count(*) FROM audit")
    app = make_app(cfg)
    agent: Agent | None = None
    task = None
    try:
        async with app.run_test(size=(100, 32)) as pilot:
            await settle(pilot)
            bar = str(app.query_one("#statusbar", Static).content)
            assert "agent NOT RUNNING" in bar and "nothing can be recorded" in bar
            assert "Order [b]WO-1[/b]" in str(app.query_one("#ov-order", Static).content)
            await pilot.press("f9")
            await pilot.pause()
            await pilot.press(*"1001", "enter")
            await pilot.pause()
            err = form(app).error
            assert "the agent is not running" in err and "nothing was recorded" in err
            assert "what you typed stays here" in err
            assert form(app).query_one("#f-credential", Input).value == "1001"  # kept
            assert app.operator is None
            assert rows(cfg, "SELECT count(*) FROM audit") == audit_before  # not even the login

            agent = Agent(cfg)  # PLCs unreachable: the line logic still applies orders
            task = asyncio.create_task(agent.run())
            await wait_for(lambda: agent is not None and agent.channel is not None, timeout=20)
            await asyncio.sleep(0.5)
            await pilot.press("ctrl+s")  # the same form, saved again
            await settle(pilot)
            assert app.operator is not None and app.operator.who == ANNA
            await pilot.press("f3", "s")
            await pilot.pause()
            await fill(pilot, "order", "WO-2")
            await pilot.press("ctrl+s")
            await pilot.pause()
            # WO-1 runs: starting another order over it must be confirmed (it completes WO-1).
            assert "WO-1 is running" in form(app).error
            form(app).query_one("#f-switch", Select).value = "yes"
            await pilot.press("ctrl+s")
            await pilot.pause()
            assert "order WO-2 start queued" in app.last_message

        def applied() -> bool:
            got = rows(cfg, "SELECT product FROM orders WHERE order_id = 'WO-2' AND action = 'start'")
            return got == [("WATER-1000",)]

        await wait_for(applied, timeout=20)
        assert rows(cfg, "SELECT applied FROM order_requests WHERE by = ?", ANNA)[-1] == (1,)
    finally:
        if agent is not None and task is not None:
            agent.request_stop()
            await asyncio.wait_for(task, 30)


def test_lineside_tui_command_starts_and_quits(tmp_path: Path) -> None:
    """`lineside tui` in a real pseudo-terminal: starts before any agent created the store
    (it says so, and creates nothing), quits on F10."""
    cfg_path = example_on_free_ports(tmp_path)
    p = PtyProcess([sys.executable, "-m", "edge.cli", "tui", "-c", str(cfg_path)])
    try:
        p.expect(b"F1 Line", 30)
        p.expect(b"no store here yet", 30)
        p.send(F10)
        assert p.wait(15) == 0
    finally:
        p.close()
    assert not Path(load_config(cfg_path).store.path).exists()  # the terminal writes nothing
