"""F8 Stock at the terminal: a lot scanned at a feeder goes through the agent's operator
channel; one the plant has in quarantine is refused with the reason, a released one is
on hand at once. Lines without materials have no F8 screen."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from textual.widgets import DataTable, Input, Select, Static

from edge.config.line import LineConfig, load_config
from edge.services.commands import PlantCommand, apply_command
from edge.store import Store
from edge.tui.panes import MaterialsPane
from tests.conftest import example_on_free_ports
from tests.edge.services.test_materials import MATERIALS
from tests.edge.tui.conftest import make_app, settle
from tests.edge.tui.test_workflows import login


@pytest.fixture
def line_cfg(tmp_path: Path) -> LineConfig:
    def changes(data: dict[str, Any]) -> None:
        data["tui"]["idle_logout_s"] = 300
        data.update(MATERIALS)

    return load_config(example_on_free_ports(tmp_path, data_changes=changes))


async def test_scan_a_lot_in_at_the_terminal(seeded: LineConfig) -> None:
    lots = [
        {"lot": "PF-1", "material": "preform", "status": "released", "quantity": 800},
        {"lot": "PF-Q", "material": "preform", "status": "quarantine", "quantity": 800},
    ]
    with Store(seeded.store.path) as st:
        assert apply_command(seeded, st, PlantCommand("c-lots", "lots", 1.0, {"lots": lots})).accepted
    app = make_app(seeded)
    async with app.run_test(size=(120, 40)) as pilot:
        await login(pilot, "1001")
        await pilot.press("f8")
        await settle(pilot)
        pane = app.query_one(MaterialsPane)
        pane.query_one("#st-location", Select).value = "F-PREFORM"
        pane.query_one("#st-lot", Input).value = "PF-Q"
        pane.action_move_in()
        await settle(pilot)
        assert "'PF-Q' is quarantine, not released" in str(pane.query_one("#st-error", Static).render())
        pane.query_one("#st-lot", Input).value = "PF-1"
        pane.action_move_in()
        await settle(pilot)
        table = pane.query_one("#st-hand", DataTable)
        assert [table.get_row_at(i)[2:] for i in range(table.row_count)] == [["PF-1", "800", "released"]]
