"""F6 Maint: raise a maintenance request (machine, priority, what is wrong; Ctrl+R or
Enter sends it) and see the latest ones; below it the technician's screen: the queue of
open work orders (choose one with the cursor), the steps on it — approve (signed),
start, pause, resume, labour hours, spare parts, failure codes, finish (signed with the
PIN) — and the plans that are due or overdue."""

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
from edge.services.validate import OperatorInputError, number, require
from edge.services.view import LineView
from edge.tui.panes.base import Clock, ScrollPane, set_rows


class MaintenancePane(ScrollPane):
    BINDINGS = [Binding("ctrl+r", "maintenance", "Send")]

    def __init__(
        self,
        machines: list[str],
        *,
        parts: list[str] | None = None,
        codes: dict[str, list[str]] | None = None,
        **kw: Any,
    ) -> None:
        super().__init__(**kw)
        self.machines = machines
        self.parts = parts or []
        self.codes = codes or {}

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
        d.add_columns("time", "machine", "priority", "by", "text", "order")
        yield d
        yield Label("Work orders (cursor chooses one)", classes="section")
        o: DataTable[Any] = DataTable(id="mo-list", cursor_type="row", zebra_stripes=True)
        o.add_columns("order", "type", "state", "prio", "asset", "due", "left h", "title")
        yield o
        with Horizontal(classes="form-row"):
            yield Label("Hours / part", classes="form-label")
            yield Input(placeholder="labour h", id="mo-hours", compact=True)
            yield Select([(p, p) for p in self.parts], id="mo-part", prompt="part…", compact=True)
            yield Input(placeholder="qty", id="mo-qty", compact=True)
        with Horizontal(classes="form-row"):
            yield Label("Failure codes", classes="form-label")
            for kind in ("problem", "cause", "remedy"):
                yield Select(
                    [(c, c) for c in self.codes.get(kind, [])],
                    id=f"mo-{kind}",
                    prompt=f"{kind}…",
                    compact=True,
                )
        with Horizontal(classes="form-row"):
            yield Label("PIN (approve, finish)", classes="form-label")
            yield Input(placeholder="your PIN signs it", password=True, id="mo-pin", compact=True)
        with Horizontal(classes="form-row"):
            for step in ("approve", "start", "pause", "resume", "labour", "parts", "failure", "finish"):
                yield Button(step.capitalize(), id=f"mo-{step}", compact=True)
        yield Label("Plans", classes="section")
        pl: DataTable[Any] = DataTable(id="mp-list", cursor_type="row", zebra_stripes=True)
        pl.add_columns("plan", "asset", "trigger", "meter", "next due", "last order", "status")
        yield pl

    def update_view(self, v: LineView, clock: Clock) -> None:
        rows = [
            (
                f"{r['ts']:.3f}",
                (
                    clock.day_hm(r["ts"]),
                    r["machine"],
                    r["priority"],
                    r["by"],
                    r["text"],
                    r.get("order") or "",
                ),
            )
            for r in v.maintenance
        ]
        set_rows(self.query_one("#mr-list", DataTable), rows)
        set_rows(
            self.query_one("#mo-list", DataTable),
            [
                (
                    o["id"],
                    (
                        o["id"],
                        o["type"],
                        o["state"].replace("_", " "),
                        o["priority"],
                        o["asset"],
                        clock.day_hm(o["due"]),
                        f"{o['remaining_h']:.1f}",
                        o["title"],
                    ),
                )
                for o in v.maint_orders
            ],
        )
        plans = []
        for p in v.maint_plans:
            meter = "-" if p["meter"] is None else f"{p['meter']:.1f}"
            nd = p["next_due"]
            due = "-" if nd is None else (clock.day_hm(nd) if p["trigger"] == "calendar" else f"{nd:g}")
            status = (p["status"] or "-").replace("_", " ")
            plans.append(
                (p["plan"], (p["plan"], p["asset"], p["trigger"], meter, due, p["last_order"] or "-", status))
            )
        set_rows(self.query_one("#mp-list", DataTable), plans)

    def _order_step(self, step: str) -> None:
        """A step on the order under the cursor of the work-order list."""
        term = self.terminal
        permission = "approve_maintenance" if step == "approve" else "do_maintenance"

        def run(op: Actor) -> None:
            order = self.selected("#mo-list")
            try:
                if order is None:
                    raise OperatorInputError("order: choose a work order in the list")
                kw: dict[str, Any] = {}
                if step == "labour":
                    kw["hours"] = number(self.query_one("#mo-hours", Input).value, "hours")
                elif step == "parts":
                    part = self.query_one("#mo-part", Select)
                    kw["part"] = require("" if part.selection is None else str(part.selection), "part")
                    kw["qty"] = number(self.query_one("#mo-qty", Input).value, "quantity")
                elif step == "failure":
                    for kind in ("problem", "cause", "remedy"):
                        sel = self.query_one(f"#mo-{kind}", Select)
                        if sel.selection is not None:
                            kw[kind] = str(sel.selection)
                if step in ("approve", "finish"):
                    pin = self.query_one("#mo-pin", Input)
                    entered = require(pin.value, "pin")
                    pin.value = ""
                    out = term.call_signed(entered, maintenance.technician_step, order, step, **kw)
                else:
                    out = term.call(maintenance.technician_step, order, step, **kw)
            except LinesideError as e:
                term.say(str(e), error=True)
                return
            term.say(f"{out['id']}: {step} recorded, now {out['state'].replace('_', ' ')}")
            term.refresh_data()

        term.guarded(permission, run)

    @on(Button.Pressed)
    def _order_button(self, event: Button.Pressed) -> None:
        bid = event.button.id or ""
        if bid.startswith("mo-"):
            self._order_step(bid[3:])

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
