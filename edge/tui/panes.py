"""The operator terminal's screens (tab panes). Each pane only displays a ``LineView``;
actions are the app's (``edge.tui.app``), so every action has one place that checks
the operator's rights and writes through ``edge.services.production``.

Refreshing never rebuilds an input: tables keep their cursor, forms keep their text.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Button, DataTable, Input, Label, Select, Static
from textual_plotext import PlotextPlot

from edge.services.production import MAINTENANCE_PRIORITIES
from edge.tui.view import LineView, SpcView

STATE_STYLE = {
    "running": "state-running",
    "down": "state-down",
    "idle": "state-idle",
    "starved": "state-idle",
    "blocked": "state-idle",
    "changeover": "state-changeover",
}


def dur(s: float | None) -> str:
    if s is None:
        return "-"
    s = max(0, int(s))
    h, rem = divmod(s, 3600)
    m, sec = divmod(rem, 60)
    return f"{h}:{m:02d}:{sec:02d}" if h else f"{m}:{sec:02d}"


def pct(v: float | None) -> str:
    return "  -  " if v is None else f"{100 * v:5.1f}%"


class Clock:
    def __init__(self, tz: str) -> None:
        self.zone = ZoneInfo(tz)

    def hm(self, ts: float | None) -> str:
        return "-" if ts is None else datetime.fromtimestamp(ts, self.zone).strftime("%H:%M")

    def hms(self, ts: float | None) -> str:
        return "-" if ts is None else datetime.fromtimestamp(ts, self.zone).strftime("%H:%M:%S")

    def day_hm(self, ts: float | None) -> str:
        return "-" if ts is None else datetime.fromtimestamp(ts, self.zone).strftime("%d.%m. %H:%M")


def set_rows(table: DataTable[Any], rows: list[tuple[str, tuple[Any, ...]]]) -> None:
    """Replace a table's rows when they changed, keeping the cursor on the same row key."""
    old = [(str(k.value), tuple(table.get_row(k))) for k in table.rows]
    if old == [(k, tuple(v)) for k, v in rows]:
        return
    key = None
    if table.row_count and table.cursor_row < table.row_count:
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
    table.clear()
    for k, cells in rows:
        table.add_row(*cells, key=k)
    if key is not None and key in {k for k, _ in rows}:
        table.move_cursor(row=table.get_row_index(key))


class OverviewPane(Vertical):
    def compose(self) -> ComposeResult:
        with Horizontal(id="ov-top"):
            yield Static("", id="ov-state")
            yield Static("", id="ov-order")
        yield Static("", id="ov-counts")
        yield Static("", id="ov-oee")
        yield Static("", id="ov-stop")
        yield Static("", id="ov-machines")
        yield Static("", id="ov-alarms")

    def update_view(self, v: LineView, clock: Clock) -> None:
        state = (v.state or "unknown").replace("_", " ").upper()
        if v.changeover:
            state = "CHANGEOVER"
        st = self.query_one("#ov-state", Static)
        for cls in set(STATE_STYLE.values()) | {"state-unknown"}:
            st.remove_class(cls)
        st.add_class(STATE_STYLE.get(state.lower(), "state-unknown"))
        since = f" for {dur(v.now - v.state_since)}" if v.state_since else ""
        st.update(f" {v.machine or 'line'}: {state}{since} ")
        if v.order:
            order = f"Order [b]{v.order}[/b] · {v.product or '-'}" + ("  [b]PAUSED[/b]" if v.paused else "")
        else:
            order = "No order running (F3 Production: start one)"
        self.query_one("#ov-order", Static).update(order)
        if v.order:
            target = f" / {v.target}" if v.target else ""
            done = f" ({100 * v.order_good / v.target:.0f}%)" if v.target else ""
            counts = f"Good [b]{v.order_good}[/b]{target}{done}    Scrap [b]{v.order_scrap}[/b]"
        else:
            counts = ""
        self.query_one("#ov-counts", Static).update(counts)
        k = v.shift
        if k is None:
            oee = "Shift OEE: no shift running"
        else:
            t = k["total"]
            oee = (
                f"Shift {k.get('shift_key', '')}   OEE [b]{pct(t['oee'])}[/b]   good {t['good']}  scrap {t['scrap']}\n"
                f"A {pct(t['availability'])}   P {pct(t['performance'])}   Q {pct(t['quality'])}"
            )
        self.query_one("#ov-oee", Static).update(oee)
        stop = ""
        if v.state and v.state != "running" and v.state_since:
            open_stop = next((d for d in v.downtime if d["end"] is None and d["machine"] == v.machine), None)
            reason = (open_stop or {}).get("reason") or "UNEXPLAINED (F2 to explain)"
            stop = f"[b]Current stop {dur(v.now - v.state_since)}[/b]  {v.state}  reason: {reason}"
        self.query_one("#ov-stop", Static).update(stop)
        ms = "   ".join(
            f"{m}: {(s or 'unknown')} {dur(v.now - t) if t else ''}" for m, (s, t) in v.machines.items()
        )
        self.query_one("#ov-machines", Static).update(f"Machines  {ms}" if ms else "")
        if v.alarms:
            lines = [f"[b]{len(v.alarms)} SPC alarm(s) unacknowledged[/b] (F4 SPC to acknowledge)"]
            for a in v.alarms[:4]:
                lines.append(
                    f"  {clock.hms(a['ts'])} {a['characteristic']} {a['kind']} {a['rule']}: {a['detail']}"
                )
            self.query_one("#ov-alarms", Static).update("\n".join(lines))
            self.query_one("#ov-alarms", Static).add_class("alarm")
        else:
            self.query_one("#ov-alarms", Static).update("No active alarms")
            self.query_one("#ov-alarms", Static).remove_class("alarm")


class DowntimePane(Vertical):
    def compose(self) -> ComposeResult:
        yield Static("Stops, unexplained first (select one, then a key below).", classes="pane-help")
        t: DataTable[Any] = DataTable(id="dt-table", cursor_type="row", zebra_stripes=True)
        t.add_columns("start", "duration", "machine", "state", "loss", "reason")
        yield t

    def update_view(self, v: LineView, clock: Clock) -> None:
        rows = []
        for d in v.downtime:
            reason = d["reason"] or "UNEXPLAINED"
            dur_s = dur(d["duration_s"]) if d["end"] is not None else dur(v.now - d["start"]) + "…"
            rows.append(
                (d["id"], (clock.day_hm(d["start"]), dur_s, d["machine"], d["state"], d["loss"], reason))
            )
        set_rows(self.query_one("#dt-table", DataTable), rows)


class ProductionPane(Vertical):
    def compose(self) -> ComposeResult:
        yield Static("", id="pr-current")
        t: DataTable[Any] = DataTable(id="pr-table", cursor_type="row", zebra_stripes=True)
        t.add_columns("order", "product", "qty", "due", "prio", "state", "description")
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
                    r["description"],
                ),
            )
            for r in v.dispatch
        ]
        set_rows(self.query_one("#pr-table", DataTable), rows)


class SpcPane(Vertical):
    def __init__(self, names: list[str], **kw: Any) -> None:
        super().__init__(**kw)
        self.names = names
        self.current = names[0] if names else None
        self._drawn: tuple[Any, ...] | None = None

    def compose(self) -> ComposeResult:
        with Horizontal(id="spc-top"):
            yield Select(
                [(n, n) for n in self.names],
                value=self.current or Select.NULL,
                id="spc-char",
                allow_blank=not self.names,
            )
        yield PlotextPlot(id="spc-plot")
        yield Static("", id="spc-info")

    def on_select_changed(self, event: Select.Changed) -> None:
        if event.select.id == "spc-char" and event.value is not Select.NULL:
            self.current = str(event.value)
            self._drawn = None
            self.app.refresh_data()  # type: ignore[attr-defined]

    def update_view(self, v: LineView, clock: Clock, capability: dict[str, Any] | None = None) -> None:
        if self.current is None or self.current not in v.spc:
            self.query_one("#spc-info", Static).update("No characteristics under SPC on this line.")
            return
        s = v.spc[self.current]
        key = (s.name, tuple(s.points), s.center, s.ucl, s.lcl, tuple(sorted(s.violations)), self.size)
        if key != self._drawn:
            self._drawn = key
            self._draw(s)
        alarms = [a for a in v.alarms if a["characteristic"] == s.name]
        lim = (
            f"CL {s.center:.4g}  UCL {s.ucl:.4g}  LCL {s.lcl:.4g}"
            if s.center is not None and s.ucl is not None and s.lcl is not None
            else "limits: collecting the baseline"
        )
        spec = f"spec {s.lsl if s.lsl is not None else '-'}..{s.usl if s.usl is not None else '-'} {s.unit}"
        cap = ""
        if capability:

            def f(x: Any) -> str:
                return "-" if x is None else f"{x:.2f}"

            cap = f"   Cp {f(capability['cp'])} Cpk {f(capability['cpk'])} Pp {f(capability['pp'])} Ppk {f(capability['ppk'])} (n={capability['n']})"
        head = f"{s.name} ({s.chart}): {lim}   {spec}{cap}"
        if alarms:
            a = alarms[0]
            head += f"\n[b]{len(alarms)} unacknowledged alarm(s)[/b], latest {clock.hms(a['ts'])} {a['kind']} {a['rule']}: {a['detail']}"
        self.query_one("#spc-info", Static).update(head)

    def _draw(self, s: SpcView) -> None:
        plot = self.query_one("#spc-plot", PlotextPlot)
        plt = plot.plt
        plt.clear_figure()
        n = len(s.points)
        xs = list(range(1, n + 1))
        ys = [p[1] for p in s.points]
        if n:
            plt.plot(xs, ys, marker="dot", color="cyan")
            bad = [(i + 1, p[1]) for i, p in enumerate(s.points) if p[0] in s.violations]
            if bad:
                plt.scatter([b[0] for b in bad], [b[1] for b in bad], marker="x", color="red")
        for y, colour in ((s.center, "green"), (s.ucl, "red"), (s.lcl, "red")):
            if y is not None:
                plt.hline(y, colour)
        plt.title(f"{s.name} {s.chart}  (last {n} points)")
        plot.refresh()


class InspectionsPane(Vertical):
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


class MaintenancePane(VerticalScroll):
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
                [(p, p) for p in MAINTENANCE_PRIORITIES],
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


class ShiftPane(VerticalScroll):
    def compose(self) -> ComposeResult:
        yield Static("", id="sh-summary")

    def update_view(self, v: LineView, clock: Clock) -> None:
        k = v.shift
        if k is None:
            self.query_one("#sh-summary", Static).update("No shift is running now.")
            return
        t = k["total"]
        lines = [
            f"[b]Shift {k.get('shift_key', '')}[/b]  {clock.day_hm(k['start'])} – {clock.hm(k['end'])}",
            f"OEE {pct(t['oee'])}   Availability {pct(t['availability'])}   Performance {pct(t['performance'])}   Quality {pct(t['quality'])}",
            f"Good {t['good']}   Scrap {t['scrap']}   Run {dur(t['run_s'])}   Down {dur(t['downtime_s'])}",
            "",
            "Losses: "
            + ", ".join(
                f"{name.replace('_', ' ')} {dur(s)}" for name, s in t["six_big_losses_s"].items() if s
            ),
        ]
        stops = [d for d in k["downtime"] if not d["micro"]]
        unexplained = sum(1 for d in stops if not d["reason"])
        by_reason: dict[str, float] = {}
        for d in stops:
            r = d["reason"] or "UNEXPLAINED"
            d_s = d["duration_s"] if d["duration_s"] is not None else v.now - d["start"]
            by_reason[r] = by_reason.get(r, 0.0) + d_s
        lines.append(f"Stops {len(stops)} ({unexplained} unexplained)")
        for r, s in sorted(by_reason.items(), key=lambda x: -x[1])[:5]:
            lines.append(f"  {dur(s):>8}  {r}")
        for o in k["orders"]:
            lines.append(
                f"Order {o['order']} ({o['product']}): good {o['good']}, scrap {o['scrap']}, OEE {pct(o['oee'])}"
            )
        done = [r for r in v.inspections_done if r["ts"] >= k["start"]]
        lines.append(
            f"Inspections {len(done)} ({sum(1 for r in done if not r['passed'])} failed), "
            f"{sum(1 for r in v.inspections_due if r['overdue'])} overdue;  SPC alarms open {len(v.alarms)};  "
            f"maintenance requests {sum(1 for r in v.maintenance if r['ts'] >= k['start'])}"
        )
        self.query_one("#sh-summary", Static).update("\n".join(lines))
