"""F1 Line: the line machine's state and for how long, the order and its counts, the
shift's OEE, the current stop, every machine's state and the unacknowledged SPC alarms.
Display only: no keys of its own."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Static

from edge.services.view import LineView
from edge.tui.panes.base import STATE_STYLE, Clock, Pane, dur, pct


class OverviewPane(Pane):
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
            order = (
                f"Order [b]{v.order}[/b] · {v.product or '-'}"
                + ("  [b]PAUSED[/b]" if v.paused else "")
                + ("  [b]ON HOLD[/b] (failed first-off)" if v.held else "")
                + ("  [b]CHANGEOVER[/b]" if v.changeover else "")
                + ("  [b]QUANTITY REACHED[/b]" if v.target and v.order_good >= v.target else "")
            )
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
        alarms = self.query_one("#ov-alarms", Static)
        if v.alarms:
            lines = [f"[b]{len(v.alarms)} SPC alarm(s) unacknowledged[/b] (F4 SPC to acknowledge)"]
            for a in v.alarms[:4]:
                lines.append(
                    f"  {clock.hms(a['ts'])} {a['characteristic']} {a['kind']} {a['rule']}: {a['detail']}"
                )
            alarms.update("\n".join(lines))
            alarms.add_class("alarm")
        else:
            alarms.update("No active alarms")
            alarms.remove_class("alarm")
