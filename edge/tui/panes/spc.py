"""F4 SPC: a characteristic's last 60 points against its limits, the points that raised
alarms, the dispersion panel (R, S or MR) below, both against the time of day;
capability of the subgroups of the limits in force; ``k`` acknowledges its alarms (cause, action and comment),
``m`` enters a manual measurement, ``l`` requests new limits, ``v`` (shown while a
request for the characteristic is pending) approves or rejects it: another person than
the requester, with the approve permission, signing with the PIN."""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.widgets import Select, Static
from textual_plotext import PlotextPlot

from edge.core.parse import parse_time
from edge.services import quality
from edge.services.identity import Actor
from edge.services.validate import OperatorInputError, number, require
from edge.services.view import LineView, SpcView
from edge.tui.forms import FormField
from edge.tui.panes.base import Clock, Pane


class SpcPane(Pane):
    BINDINGS = [
        Binding("k", "ack", "Ack"),
        Binding("m", "measure", "Measure"),
        Binding("l", "limits", "Limits"),
        Binding("v", "decide", "Approve"),
    ]

    def __init__(self, names: list[str], **kw: Any) -> None:
        super().__init__(**kw)
        self.names = names
        self.current = names[0] if names else None
        self._drawn: tuple[Any, ...] | None = None
        self._pending: list[dict[str, Any]] = []

    def compose(self) -> ComposeResult:
        with Horizontal(id="spc-top"):
            yield Select(
                [(n, n) for n in self.names],
                value=self.current or Select.NULL,
                id="spc-char",
                allow_blank=not self.names,
            )
        yield PlotextPlot(id="spc-plot")
        yield PlotextPlot(id="spc-disp")
        yield Static("", id="spc-info")

    def on_select_changed(self, event: Select.Changed) -> None:
        if event.select.id == "spc-char" and event.value is not Select.NULL:
            self.current = str(event.value)
            self._drawn = None
            self.terminal.refresh_data()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "decide":  # the key is shown while there is a request to decide
            return bool(self._pending)
        return True

    def update_view(self, v: LineView, clock: Clock, capability: dict[str, Any] | None = None) -> None:
        pending = [r for r in v.limit_requests if r["characteristic"] == self.current]
        if [r["id"] for r in pending] != [r["id"] for r in self._pending]:
            self._pending = pending
            self.refresh_bindings()
        if self.current is None or self.current not in v.spc:
            self.query_one("#spc-info", Static).update("No characteristics under SPC on this line.")
            return
        s = v.spc[self.current]
        key = (
            s.name,
            tuple(s.points),
            tuple(s.dispersion),
            s.center,
            s.ucl,
            s.lcl,
            tuple(sorted(s.violations)),
            tuple(sorted(s.d_violations)),
            self.size,
        )
        if key != self._drawn:
            self._drawn = key
            self._draw(s, clock)
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

            cap = (
                f"   Cp {f(capability['cp'])} Cpk {f(capability['cpk'])} Pp {f(capability['pp'])} "
                f"Ppk {f(capability['ppk'])} ({capability['subgroups']} subgroups since {clock.hm(capability['since'])})"
            )
        head = f"{s.name} ({s.chart}): {lim}   {spec}{cap}"
        if alarms:
            a = alarms[0]
            head += f"\n[b]{len(alarms)} unacknowledged alarm(s)[/b], latest {clock.hms(a['ts'])} {a['kind']} {a['rule']}: {a['detail']}"
        if pending:
            r = pending[0]
            head += (
                f"\n[b]new limits requested[/b] by {r['requested_by']}: {r['reason']} (v: approve or reject)"
            )
        self.query_one("#spc-info", Static).update(head)

    def _draw(self, s: SpcView, clock: Clock) -> None:
        """The chart's panel (X̄, I, p …) over its dispersion panel (R, S, MR) when it has
        one, both against the time of day of the points."""
        plot = self.query_one("#spc-plot", PlotextPlot)
        disp = self.query_one("#spc-disp", PlotextPlot)
        two = bool(s.dispersion_label and s.dispersion)
        disp.display = two
        plt = plot.plt
        plt.clear_figure()
        n = len(s.points)
        xs = [p[0] for p in s.points]
        ticks = self._ticks(xs, clock)
        if n:
            plt.plot(xs, [p[1] for p in s.points], marker="dot", color="cyan")
            bad = [p for p in s.points if p[0] in s.violations]
            if bad:
                plt.scatter([b[0] for b in bad], [b[1] for b in bad], marker="x", color="red")
        for y, colour in ((s.center, "green"), (s.ucl, "red"), (s.lcl, "red")):
            if y is not None:
                plt.hline(y, colour)
        main = {"xbar-r": "X̄", "xbar-s": "X̄", "imr": "I"}.get(s.chart, s.chart)
        product = f" {s.product}" if s.product else ""
        plt.title(f"{s.name}{product}  {main}  (last {n} points)")
        plt.frame(False)
        if ticks:
            plt.xticks(*ticks)
        plot.refresh()
        if not two:
            return
        dp = disp.plt
        dp.clear_figure()
        dp.plot([d[0] for d in s.dispersion], [d[1] for d in s.dispersion], marker="dot", color="cyan")
        bad = [d for d in s.dispersion if d[0] in s.d_violations]
        if bad:  # an R or S point beyond its own limits raised an alarm
            dp.scatter([b[0] for b in bad], [b[1] for b in bad], marker="x", color="red")
        for y, colour in ((s.d_center, "green"), (s.d_ucl, "red")):
            if y is not None:
                dp.hline(y, colour)
        if s.d_lcl:
            dp.hline(s.d_lcl, "red")
        dp.title(s.dispersion_label or "")
        dp.frame(False)
        if ticks:
            dp.xticks(*ticks)
        disp.refresh()

    @staticmethod
    def _ticks(xs: list[float], clock: Clock) -> tuple[list[float], list[str]] | None:
        """Three to four time-of-day labels across the points."""
        if len(xs) < 2:
            return None
        lo, hi = xs[0], xs[-1]
        pos = [lo + (hi - lo) * i / 3 for i in range(4)]
        return pos, [clock.hm(p) for p in pos]

    # ------------------------------------------------------------------ actions

    def _characteristic(self) -> str | None:
        if self.current is None:
            self.terminal.say("no characteristic under SPC on this line", error=True)
        return self.current

    def action_ack(self) -> None:
        term = self.terminal
        name = self._characteristic()
        if name is None:
            return

        def run(op: Actor) -> None:
            open_ = [
                a for a in (term.snapshot.alarms if term.snapshot else []) if a["characteristic"] == name
            ]
            if not open_:
                term.say(f"{name}: no unacknowledged alarm", error=True)
                return

            def save(v: dict[str, str]) -> str:
                term.call(
                    quality.ack_alarms, name, comment=v["comment"], cause=v["cause"], action=v["action"]
                )
                return f"{name}: {len(open_)} alarm(s) acknowledged"

            a = open_[0]
            spc = term.line.config.spc
            term.form(
                f"Acknowledge SPC alarms: {name}",
                [
                    FormField("comment", "Comment", placeholder="what was found and done (required)"),
                    FormField(
                        "cause",
                        "Cause",
                        kind="select",
                        value=spc.causes[0],
                        options=[(c, c) for c in spc.causes],
                    ),
                    FormField(
                        "action",
                        "Action",
                        kind="select",
                        value=spc.actions[0],
                        options=[(c, c) for c in spc.actions],
                    ),
                ],
                save,
                intro=f"{len(open_)} open; latest {term.fmt.hms(a['ts'])} {a['kind']} {a['rule']}: {a['detail']}",
            )

        term.guarded("ack_alarms", run)

    def action_measure(self) -> None:
        term = self.terminal
        name = self._characteristic()
        if name is None:
            return

        def run(op: Actor) -> None:
            def save(v: dict[str, str]) -> str:
                term.call(quality.enter_measurement, name, require(v["value"], "value"))
                return f"{name}: {v['value'].strip()} recorded"

            term.form(
                f"Measurement: {name}", [FormField("value", "Value", placeholder="measured value")], save
            )

        term.guarded("inspect", run)

    def action_limits(self) -> None:
        term = self.terminal
        name = self._characteristic()
        if name is None:
            return

        def run(op: Actor) -> None:
            def save(v: dict[str, str]) -> str:
                tz = term.line.config.line.timezone
                opt: dict[str, Any] = {}
                for key, field in (("start", "from"), ("end", "to")):
                    if v[field].strip():
                        try:
                            opt[key] = parse_time(v[field], tz)
                        except ValueError as e:
                            raise OperatorInputError(f"{field}: {e}") from None
                for key in ("center", "sigma"):
                    if v[key].strip():
                        opt[key] = number(v[key], key)
                rid = term.call(quality.request_limits, name, reason=v["reason"], **opt)
                return f"{name}: new limits requested (request {rid}); another person approves them"

            term.form(
                f"New control limits: {name}",
                [
                    FormField("reason", "Reason", placeholder="e.g. new filler nozzle fitted (required)"),
                    FormField("from", "From", placeholder="baseline window start: 2026-11-21T08:00 or -8h"),
                    FormField("to", "To", placeholder="baseline window end"),
                    FormField("center", "Centre", placeholder="or typed limits: process centre"),
                    FormField("sigma", "Sigma", placeholder="and sigma (within subgroups)"),
                ],
                save,
                intro="Empty window and typed limits: the line collects a new baseline. A request: "
                "once another person approves it (F4, v), the new limits are in force.",
            )

        term.guarded("request_limits", run)

    def action_decide(self) -> None:
        term = self.terminal
        name = self._characteristic()
        if name is None or not self._pending:
            term.say(f"{name}: no request for new limits to decide", error=True)
            return
        pending = list(self._pending)

        def run(op: Actor) -> None:
            def save(v: dict[str, str]) -> str:
                rid = int(require(v["request"], "request"))
                if v["decision"] == "reject":
                    term.call(quality.reject_limits, rid, comment=v["comment"])
                    return f"{name}: request {rid} rejected"
                term.call_signed(v["sign"], quality.approve_limits, rid, comment=v["comment"])
                return f"{name}: request {rid} approved; the agent collects a new baseline"

            options = [(f"{r['id']}: {r['requested_by']}: {r['reason']}"[:70], str(r["id"])) for r in pending]
            term.form(
                f"Approve new control limits: {name}",
                [
                    FormField("request", "Request", kind="select", value=options[0][1], options=options),
                    FormField(
                        "decision",
                        "Decision",
                        kind="select",
                        value="approve",
                        options=[("approve", "approve"), ("reject", "reject")],
                    ),
                    FormField("comment", "Comment", placeholder="required to reject"),
                    FormField("sign", "PIN", kind="password", placeholder="your PIN signs the approval"),
                ],
                save,
                intro="An approval is signed with your PIN; the person who requested it cannot approve it.",
            )

        term.guarded("approve", run)
