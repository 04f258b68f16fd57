"""F8 Stock (lines with materials only): scan or type a lot in at a feeder or staging
location (Ctrl+R or Enter; refused with the reason when the lot is not released,
expired, on hold or not in the running product's BOM), and see what is on hand, what
is on hold and which feeders run short."""

from __future__ import annotations

from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.widgets import Button, DataTable, Input, Label, Select, Static

from edge.core.errors import LinesideError
from edge.core.parse import parse_float
from edge.services import materials
from edge.services.identity import Actor
from edge.services.validate import OperatorInputError, require
from edge.services.view import LineView
from edge.tui.panes.base import Clock, ScrollPane, set_rows


class MaterialsPane(ScrollPane):
    BINDINGS = [Binding("ctrl+r", "move_in", "Move in")]

    def __init__(self, locations: list[str], **kw: Any) -> None:
        super().__init__(**kw)
        self.locations = locations

    def compose(self) -> ComposeResult:
        with Horizontal(classes="form-row"):
            yield Label("Location", classes="form-label")
            yield Select([(x, x) for x in self.locations], id="st-location", prompt="choose…", compact=True)
        with Horizontal(classes="form-row"):
            yield Label("Lot (scan)", classes="form-label")
            yield Input(placeholder="scan or type the lot number", id="st-lot", compact=True)
        with Horizontal(classes="form-row"):
            yield Label("Quantity", classes="form-label")
            yield Input(placeholder="blank: as received", id="st-qty", compact=True)
        with Horizontal(classes="form-row"):
            yield Button("Move in  Ctrl+R", id="st-send", variant="primary", compact=True)
            yield Static("", id="st-error")
        yield Static("", id="st-short")
        d: DataTable[Any] = DataTable(id="st-hand", cursor_type="row", zebra_stripes=True)
        d.add_columns("location", "material", "lot", "on hand", "status")
        yield d
        h: DataTable[Any] = DataTable(id="st-holds", cursor_type="row", zebra_stripes=True)
        h.add_columns("hold", "since", "what", "reason")
        yield h

    def update_view(self, v: LineView, clock: Clock) -> None:
        m = v.materials
        set_rows(
            self.query_one("#st-hand", DataTable),
            [
                (
                    f"{r['location']}/{r['lot']}",
                    (r["location"], r["material"], r["lot"], f"{r['quantity']:g}", r["status"]),
                )
                for r in m.get("on_hand", [])
            ],
        )
        set_rows(
            self.query_one("#st-holds", DataTable),
            [
                (
                    h["hold_id"],
                    (
                        h["hold_id"],
                        clock.day_hm(h["held_since"]),
                        f"{h['target_kind']} {h['target']}",
                        h["reason"],
                    ),
                )
                for h in m.get("holds", [])
            ],
        )
        short = m.get("shortages", [])
        self.query_one("#st-short", Static).update(
            "  ".join(
                f"[reverse] {s['material']} at {s['location']}: "
                + ("out " if s["minutes_left"] <= 0 else f"{s['minutes_left']:.0f} min ")
                + "[/reverse]"
                for s in short
            )
        )

    def action_move_in(self) -> None:
        term = self.terminal

        def run(op: Actor) -> None:
            loc = self.query_one("#st-location", Select)
            lot = self.query_one("#st-lot", Input)
            qty = self.query_one("#st-qty", Input)
            err = self.query_one("#st-error", Static)
            where = "" if loc.selection is None else str(loc.selection)
            try:
                q = None
                if qty.value.strip():
                    try:
                        q = parse_float(qty.value.strip(), lo=0, hi=1e12)
                    except ValueError as e:
                        raise OperatorInputError(f"quantity: {e}") from None
                r = term.call(materials.move_in, require(where, "location"), lot.value, quantity=q)
            except LinesideError as e:
                err.update(f"✖ {e}")
                term.say(str(e), error=True)
                return
            err.update("")
            lot.value = qty.value = ""
            term.say(f"{r['lot']} ({r['material']}): {r['quantity']:g} in at {r['location']}")
            term.refresh_data()

        term.guarded("move_stock", run)

    @on(Button.Pressed, "#st-send")
    def _send(self) -> None:
        self.action_move_in()

    @on(Input.Submitted, "#st-lot")
    def _send_enter(self) -> None:
        self.action_move_in()
