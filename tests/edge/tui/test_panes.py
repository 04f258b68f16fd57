"""The terminal's shell and panes: the snapshot is read in a worker thread, each pane owns
its keys (active only while it is shown), a store that cannot be read is said so."""

from __future__ import annotations

import threading
from typing import Any

from textual.widgets import Footer, Static

from edge.config.line import LineConfig
from edge.core.errors import StoreError
from edge.tui.forms import FormScreen
from edge.tui.panes import DowntimePane, ProductionPane, SpcPane
from tests.edge.tui.conftest import NOW, make_app, settle
from tests.edge.tui.test_workflows import login


async def test_the_snapshot_is_read_in_a_worker_thread(seeded: LineConfig) -> None:
    app = make_app(seeded)
    threads: list[threading.Thread] = []
    assert app.reader is not None
    read = app.reader.read

    def spy(now: float) -> Any:
        threads.append(threading.current_thread())
        return read(now)

    app.reader.read = spy  # type: ignore[method-assign]
    async with app.run_test(size=(100, 32)) as pilot:
        await settle(pilot)
        ui = threading.current_thread()
        assert threads and all(t is not ui for t in threads)
        assert app.snapshot is not None and app.snapshot.now == NOW and app.snapshot.order == "WO-1"


async def test_each_pane_owns_its_keys(seeded: LineConfig) -> None:
    """A pane's keys act only while it is shown (it takes the focus with its tab), and the
    footer lists them."""
    assert {b.key for b in DowntimePane.BINDINGS} == {"r", "s"}  # type: ignore[union-attr]
    assert {b.key for b in SpcPane.BINDINGS} == {"k", "m", "l", "v"}  # type: ignore[union-attr]
    assert "x" in {b.key for b in ProductionPane.BINDINGS}  # type: ignore[union-attr]
    app = make_app(seeded)
    async with app.run_test(size=(120, 40)) as pilot:
        await login(pilot, "1002")  # a team lead: may acknowledge alarms
        await pilot.press("f2")
        await settle(pilot)
        assert app.focused is app.query_one(DowntimePane)
        keys = [k.key for k in app.query_one(Footer).query("FooterKey")]  # type: ignore[attr-defined]
        assert {"r", "s", "f9", "f10"} <= set(keys) and "k" not in keys
        await pilot.press("k")  # the SPC screen's key, on the stops screen: nothing
        await pilot.pause()
        assert not isinstance(app.screen, FormScreen)
        await pilot.press("f4", "k")
        await pilot.pause()
        assert isinstance(app.screen, FormScreen) and app.screen.title_text.startswith("Acknowledge")


async def test_a_store_that_cannot_be_read_is_said_so(seeded: LineConfig) -> None:
    app = make_app(seeded)
    calls: list[float] = []

    def broken(now: float) -> Any:
        calls.append(now)
        raise StoreError("line1.db: cannot read the store: database disk image is malformed")

    assert app.reader is not None
    app.reader.read = broken  # type: ignore[method-assign]
    async with app.run_test(size=(100, 32)) as pilot:
        await settle(pilot)
        bar = str(app.query_one("#statusbar", Static).content)
        assert "⚠ cannot read the store" in bar and "malformed" in bar
        before = len(calls)
        app.refresh_data()  # a failed read does not stop the next ones
        await settle(pilot)
        assert len(calls) > before


async def test_products_sent_down_by_the_plant_reach_the_running_terminal(seeded: LineConfig) -> None:
    """The plant replaces the product list while the terminal runs: the next snapshot
    brings it, and the start form offers the new product."""
    from edge.services.commands import PlantCommand, apply_command
    from edge.services.context import open_store

    app = make_app(seeded)
    async with app.run_test(size=(100, 32)) as pilot:
        await settle(pilot)
        assert "TEA-1" not in app.line.products
        products = [p.model_dump() for p in seeded.products] + [
            {"id": "TEA-1", "name": "Tea", "ideal_cycle_s": 0.5}
        ]
        with open_store(seeded) as st:  # the uplink's connection, as it were
            assert apply_command(
                seeded, st, PlantCommand("c-9", "products", 0.0, {"products": products})
            ).accepted
        app.refresh_data()
        await settle(pilot)
        assert "TEA-1" in app.line.products
