"""F3 Orders: the running order and the dispatch list (in the plan's sequence, with the
planned start and the adherence: on time, started late, waiting); ``s`` start (the selected released
order fills in product and quantity), ``p`` pause, ``u`` resume, ``c`` complete, ``o``
changeover start/end, ``x`` book scrap with a reason, ``a`` correct the good count."""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Static

from edge.services import production
from edge.services.identity import Actor
from edge.services.validate import OperatorInputError, require
from edge.services.view import LineView
from edge.tui.forms import FormField, whole
from edge.tui.panes.base import Clock, Pane, set_rows


class ProductionPane(Pane):
    BINDINGS = [
        Binding("s", "start", "Start"),
        Binding("p", "order('pause')", "Pause"),
        Binding("u", "order('resume')", "Resume"),
        Binding("c", "order('complete')", "Done"),
        Binding("o", "changeover", "C/O"),
        Binding("x", "scrap", "Scrap"),
        Binding("a", "adjust", "Adjust"),
    ]

    def compose(self) -> ComposeResult:
        yield Static("", id="pr-current")
        t: DataTable[Any] = DataTable(id="pr-table", cursor_type="row", zebra_stripes=True)
        t.add_columns("order", "product", "qty", "due", "prio", "state", "plan", "adherence", "description")
        yield t

    def update_view(self, v: LineView, clock: Clock) -> None:
        if v.order:
            target = f" of {v.target}" if v.target else ""
            flags = " · PAUSED" if v.paused else (" · CHANGEOVER" if v.changeover else "")
            cur = (
                f"Running: [b]{v.order}[/b] {v.product} since {clock.day_hm(v.order_start)}"
                f" · good {v.order_good}{target} · scrap {v.order_scrap}{flags}"
            )
        else:
            cur = "No order running." + (" Changeover in progress." if v.changeover else "")
        self.query_one("#pr-current", Static).update(cur)
        rows = [
            (
                r["order_id"],
                (
                    r["order_id"],
                    r["product"],
                    str(r["quantity"] or "-"),
                    clock.day_hm(r["due"]) if r["due"] else "-",
                    str(r["priority"]),
                    r["state"],
                    clock.day_hm(r["planned_start"]) if r.get("planned_start") else "-",
                    r.get("adherence") or "-",
                    r["description"] + (f" [blocked: {r['blocked']}]" if r.get("blocked") else ""),
                ),
            )
            for r in v.dispatch
        ]
        set_rows(self.query_one("#pr-table", DataTable), rows)

    def action_start(self) -> None:
        term = self.terminal
        sel = self.selected("#pr-table")
        dispatch = term.snapshot.dispatch if term.snapshot else []
        row = next((r for r in dispatch if r["order_id"] == sel), None)

        def run(op: Actor) -> None:
            def save(v: dict[str, str]) -> str:
                order = require(v["order"], "order")
                qty = whole(v["quantity"], "quantity") if v["quantity"].strip() else None
                if qty == 0:
                    raise OperatorInputError("quantity: must be a positive whole number")
                term.call(
                    production.order_command,
                    "start",
                    order,
                    product=v["product"] or None,
                    quantity=qty,
                    **({"switch": True} if v.get("switch") == "yes" else {}),
                )
                return f"order {order} start queued"

            running = term.snapshot.order if term.snapshot else None
            confirm = (
                [
                    FormField(
                        "switch",
                        "Switch",
                        kind="select",
                        options=[(f"yes: complete {running} and switch", "yes")],
                        placeholder=f"{running} is running: confirm",
                    )
                ]
                if running
                else []
            )
            term.form(
                "Start a work order",
                [
                    *confirm,
                    FormField(
                        "order", "Order", value=row["order_id"] if row else "", placeholder="work order id"
                    ),
                    FormField(
                        "product",
                        "Product",
                        kind="select",
                        value=row["product"] if row else "",
                        options=[(f"{p.id}  {p.name}", p.id) for p in term.line.config.products],
                    ),
                    FormField(
                        "quantity",
                        "Quantity",
                        value=str(row["quantity"]) if row and row["quantity"] else "",
                        placeholder="parts ordered",
                    ),
                ],
                save,
                on_change=released,
            )

        def released(name: str, value: str) -> dict[str, str]:
            """Typing a released order's id fills in its product and quantity."""
            if name != "order" or term.snapshot is None:
                return {}
            r = next((r for r in term.snapshot.dispatch if r["order_id"] == value.strip()), None)
            if r is None:
                return {}
            return {"product": r["product"], "quantity": str(r["quantity"] or "")}

        term.guarded("run_orders", run)

    def action_order(self, action: str) -> None:
        term = self.terminal

        def run(op: Actor) -> None:
            v = term.snapshot
            if v is None or v.order is None:
                term.say(f"{action}: no order is running", error=True)
                return
            if action == "resume" and not v.paused:
                term.say(f"resume: order {v.order} is not paused", error=True)
                return
            term.call(production.order_command, action, v.order)
            term.say(f"{action} {v.order} queued")
            term.refresh_data()

        term.guarded("run_orders", run)

    def action_changeover(self) -> None:
        term = self.terminal

        def run(op: Actor) -> None:
            v = term.snapshot
            if v is not None and v.changeover:
                term.call(production.order_command, "changeover_end", v.order)
                term.say("changeover end queued")
                term.refresh_data()
                return
            # Starting one: onto which product (its standard minutes are planned time)?
            nxt = next(
                (r for r in (v.dispatch if v else []) if r["order_id"] != (v.order if v else None)),
                None,
            )

            def save(f: dict[str, str]) -> str:
                product = require(f["product"], "product")
                term.call(production.order_command, "changeover_start", None, product=product)
                return f"changeover onto {product} queued"

            term.form(
                "Start a changeover",
                [
                    FormField(
                        "product",
                        "Onto product",
                        kind="select",
                        value=nxt["product"] if nxt else "",
                        options=[(f"{p.id}  {p.name}", p.id) for p in term.line.config.products],
                    )
                ],
                save,
                intro="The standard minutes of the changeover matrix are planned time; beyond them "
                "the changeover is setup loss. It ends with the first good part (or o again).",
            )

        term.guarded("run_orders", run)

    def _machine_field(self) -> FormField:
        """Machine choice, the line machine preselected."""
        term = self.terminal
        lm = term.snapshot.machine if term.snapshot else None
        options = [(m.name, m.name) for m in term.line.config.machines]
        return FormField("machine", "Machine", kind="select", value=lm or "", options=options)

    def _scrap_reason_field(self) -> FormField:
        """The scrap reason: a choice from the line's scrap reason tree (the codes the
        command line takes), or free text on a line without one."""
        names = production.scrap_reasons(self.terminal.line)
        if names:
            return FormField(
                "reason",
                "Scrap reason",
                kind="select",
                options=[(f"{code}  {name}", code) for code, name in names.items()],
                placeholder="choose a reason…",
            )
        return FormField("reason", "Scrap reason", placeholder="e.g. underfilled, cap missing")

    def action_scrap(self) -> None:
        term = self.terminal

        def run(op: Actor) -> None:
            def save(v: dict[str, str]) -> str:
                machine = require(v["machine"], "machine")
                n = whole(v["quantity"], "quantity")
                if n == 0:
                    raise OperatorInputError("quantity: enter the number of scrapped parts")
                term.call(
                    production.adjust_count,
                    machine,
                    scrap=n,
                    scrap_reason=v["reason"],
                    comment=v["comment"],
                )
                return f"{n} scrap booked on {machine}"

            term.form(
                "Book scrap",
                [
                    self._machine_field(),
                    FormField("quantity", "Parts", placeholder="number of scrapped parts"),
                    self._scrap_reason_field(),
                    FormField("comment", "Comment", placeholder="optional"),
                ],
                save,
            )

        term.guarded("book_scrap", run)

    def action_adjust(self) -> None:
        term = self.terminal

        def run(op: Actor) -> None:
            def save(v: dict[str, str]) -> str:
                machine = require(v["machine"], "machine")
                good = whole(v["good"], "good", signed=True)
                term.call(production.adjust_count, machine, good=good, comment=v["comment"])
                return f"{machine}: good {good:+d} recorded"

            term.form(
                "Adjust good count",
                [
                    self._machine_field(),
                    FormField("good", "Good ±", placeholder="e.g. -12 or 40"),
                    FormField("comment", "Comment", placeholder="why (required)"),
                ],
                save,
            )

        term.guarded("adjust_counts", run)
