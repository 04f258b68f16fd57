"""F6 Maint: raise a maintenance request (machine, priority, what is wrong; Ctrl+R or
Enter sends it) and see the latest ones."""

from __future__ import annotations

from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.widgets import Button, DataTable, Input, Label, Select, Static

from edge.core.errors import LinesideError
from edge.services import maintenance
from edge.services.identity import Actor
from edge.services.validate import require
from edge.services.view import LineView
from edge.tui.panes.base import Clock, ScrollPane, set_rows


class MaintenancePane(ScrollPane):
    BINDINGS = [Binding("ctrl+r", "maintenance", "Send")]

    def __init__(self, machines: list[str], **kw: Any) -> None:
        super().__init__(**kw)
        self.machines = machines

    def compose(self) -> ComposeResult:
        with Horizontal(classes="form-row"):
            yield Label("Machine", classes="form-label")
            yield Select(
                [(m, m) for m in self.machines], id="mr-machine", prompt="choose the machine…", compact=True
            )
        with Horizontal(classes="form-row"):
            yield Label("Priority", classes="form-label")
            yield Select(
                [(p, p) for p in maintenance.MAINTENANCE_PRIORITIES],
                value="normal",
                id="mr-priority",
                allow_blank=False,
                compact=True,
            )
        with Horizontal(classes="form-row"):
            yield Label("What is wrong", classes="form-label")
            yield Input(placeholder="e.g. capper head 3 leaks oil", id="mr-text", compact=True)
        with Horizontal(classes="form-row"):
            yield Button("Send request  Ctrl+R", id="mr-send", variant="primary", compact=True)
            yield Static("", id="mr-error")
        d: DataTable[Any] = DataTable(id="mr-list", cursor_type="row", zebra_stripes=True)
        d.add_columns("time", "machine", "priority", "by", "text")
        yield d

    def update_view(self, v: LineView, clock: Clock) -> None:
        rows = [
            (f"{r['ts']:.3f}", (clock.day_hm(r["ts"]), r["machine"], r["priority"], r["by"], r["text"]))
            for r in v.maintenance
        ]
        set_rows(self.query_one("#mr-list", DataTable), rows)

    def action_maintenance(self) -> None:
        term = self.terminal

        def run(op: Actor) -> None:
            machine = self.query_one("#mr-machine", Select)
            prio = self.query_one("#mr-priority", Select)
            text = self.query_one("#mr-text", Input)
            err = self.query_one("#mr-error", Static)
            m = "" if machine.selection is None else str(machine.selection)
            try:
                term.call(
                    maintenance.request_maintenance,
                    require(m, "machine"),
                    text.value,
                    priority=str(prio.value),
                )
            except LinesideError as e:
                err.update(f"✖ {e}")
                term.say(str(e), error=True)
                return
            err.update("")
            text.value = ""
            term.say(f"maintenance request for {m} sent")
            term.refresh_data()

        term.guarded("request_maintenance", run)

    @on(Button.Pressed, "#mr-send")
    def _send_request(self) -> None:
        self.action_maintenance()

    @on(Input.Submitted, "#mr-text")
    def _send_request_enter(self) -> None:
        self.action_maintenance()
