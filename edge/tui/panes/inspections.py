"""F5 Checks: inspections due and overdue for the running order, and the latest results;
``e`` enters the selected inspection's results, signed with the operator's badge or PIN;
``r`` releases the running order from a first-off hold without a re-check (a supervisor,
with a reason, signed)."""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Label, Static

from edge.services import inspections
from edge.services.identity import Actor
from edge.services.view import LineView
from edge.tui.forms import FormField
from edge.tui.panes.base import Clock, Pane, set_rows


class InspectionsPane(Pane):
    BINDINGS = [Binding("e", "inspect", "Inspect"), Binding("r", "release", "Release hold")]

    def compose(self) -> ComposeResult:
        yield Static(
            "Due and overdue inspections (select one; e: enter results and sign)", classes="pane-help"
        )
        t: DataTable[Any] = DataTable(id="in-due", cursor_type="row")
        t.add_columns("plan", "status", "due since", "why", "order")
        yield t
        yield Label("Recent results")
        d: DataTable[Any] = DataTable(id="in-done", cursor_type="row", zebra_stripes=True)
        d.add_columns("time", "plan", "order", "result", "by")
        yield d

    def update_view(self, v: LineView, clock: Clock) -> None:
        due = [
            (
                r["plan"],
                (
                    r["plan"],
                    "OVERDUE" if r["overdue"] else "due",
                    clock.hms(r["due_at"]),
                    r["reason"],
                    r["order"],
                ),
            )
            for r in v.inspections_due
        ]
        set_rows(self.query_one("#in-due", DataTable), due)
        done = [
            (
                f"{r['ts']:.3f}",
                (
                    clock.day_hm(r["ts"]),
                    r["plan"],
                    r["order"] or "-",
                    "PASS" if r["passed"] else "FAIL",
                    r["by"],
                ),
            )
            for r in v.inspections_done
        ]
        set_rows(self.query_one("#in-done", DataTable), done)

    def action_inspect(self) -> None:
        term = self.terminal
        key = self.selected("#in-due")
        plans = {p.name: p for p in term.line.config.inspections}
        if key is None:
            term.say("no inspection due (select one in the list)", error=True)
            return
        plan = plans[key]

        def run(op: Actor) -> None:
            fields = []
            for it in plan.items:
                if it.kind == "measure":
                    spec = f"{it.lsl if it.lsl is not None else ''}..{it.usl if it.usl is not None else ''} {it.unit or ''}"
                    fields.append(FormField(f"item_{it.name}", it.name, placeholder=f"spec {spec}"))
                else:
                    fields.append(
                        FormField(
                            f"item_{it.name}",
                            it.name,
                            kind="select",
                            options=[("pass", "pass"), ("fail", "fail")],
                            hint=getattr(it, "text", "") or "",
                        )
                    )
            fields += [
                FormField("comment", "Comment", placeholder="required when something fails"),
                FormField("sign", "Sign", kind="password", placeholder="your badge or PIN"),
            ]

            def save(v: dict[str, str]) -> str:
                values = {k.removeprefix("item_"): x for k, x in v.items() if k.startswith("item_")}
                ok = term.call_signed(v["sign"], inspections.record, plan.name, values, comment=v["comment"])
                return f"{plan.name}: {'PASS' if ok else 'FAIL'} recorded and signed by {op.name}"

            term.form(f"Inspection: {plan.name}", fields, save)

        term.guarded("inspect", run)

    def action_release(self) -> None:
        term = self.terminal
        v = term.snapshot
        if v is None or v.order is None or not v.held:
            term.say(
                "no order on hold (a failed first-off holds it; a passing re-check releases it)", error=True
            )
            return
        order = v.order

        def run(op: Actor) -> None:
            def save(f: dict[str, str]) -> str:
                term.call_signed(f["sign"], inspections.release_hold, order, reason=f["reason"])
                return f"{order}: hold released by {op.name}; the order may resume"

            term.form(
                f"Release {order} from its first-off hold",
                [
                    FormField("reason", "Reason", placeholder="why it may run without a passing re-check"),
                    FormField("sign", "Sign", kind="password", placeholder="your badge or PIN"),
                ],
                save,
            )

        term.guarded("release_holds", run)
