"""F2 Stops: unexplained stops first; ``r`` assigns a reason from the reason tree (type to
search) with a comment, ``s`` splits a stop at a time of day."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Static

from edge.config.production import ReasonCfg
from edge.services import production
from edge.services.identity import Actor
from edge.services.validate import OperatorInputError, require
from edge.services.view import LineView
from edge.tui.forms import FormField, ReasonForm, ReasonNode
from edge.tui.panes.base import Clock, Pane, dur, set_rows


def reason_nodes(reasons: list[ReasonCfg]) -> list[ReasonNode]:
    def conv(r: ReasonCfg) -> ReasonNode:
        return ReasonNode(r.code, r.name, [conv(c) for c in r.children])

    return [conv(r) for r in reasons]


class DowntimePane(Pane):
    BINDINGS = [Binding("r", "assign_reason", "Reason"), Binding("s", "split", "Split")]

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

    def _row(self) -> dict[str, Any] | None:
        key = self.selected("#dt-table")
        snap = self.terminal.snapshot
        return next((d for d in (snap.downtime if snap else []) if d["id"] == key), None)

    def action_assign_reason(self) -> None:
        term = self.terminal
        ev = self._row()
        if ev is None:
            term.say("no stop selected", error=True)
            return

        def run(op: Actor) -> None:
            def save(v: dict[str, str]) -> str:
                reason = require(v["reason"], "reason")
                term.call(production.assign_reason, ev["id"], reason, comment=v["comment"])
                return f"stop {term.fmt.hms(ev['start'])}: reason {reason} recorded"

            intro = f"{ev['machine']} {ev['state']} from {term.fmt.day_hm(ev['start'])}, current reason: {ev['reason'] or 'none'}"
            term.open_form(
                ReasonForm("Assign a reason", reason_nodes(term.line.config.reasons), save, intro=intro)
            )

        term.guarded("explain_downtime", run)

    def action_split(self) -> None:
        term = self.terminal
        ev = self._row()
        if ev is None:
            term.say("no stop selected", error=True)
            return

        def run(op: Actor) -> None:
            def save(v: dict[str, str]) -> str:
                at = time_of_day(term.fmt.zone, v["at"], ev["start"], "at")
                second = term.call(production.split_event, ev["id"], at, comment=v["comment"])
                return f"stop split at {term.fmt.hms(at)} ({second})"

            end = ev["end"] if ev["end"] is not None else term.clock()
            term.form(
                "Split a stop",
                [
                    FormField("at", "Split at", placeholder="HH:MM or HH:MM:SS"),
                    FormField("comment", "Comment", placeholder="e.g. the jam became a changeover"),
                ],
                save,
                intro=f"{ev['machine']} {ev['state']} {term.fmt.hms(ev['start'])} – {term.fmt.hms(end)}",
            )

        term.guarded("explain_downtime", run)


def time_of_day(zone: Any, text: str, near: float, field: str) -> float:
    """HH:MM[:SS] in the line's time zone, on the day of ``near``."""
    t = text.strip()
    for fmt in ("%H:%M:%S", "%H:%M"):
        try:
            hms = datetime.strptime(t, fmt).time()
            break
        except ValueError:
            continue
    else:
        raise OperatorInputError(f"{field}: {t!r} is not a time of day (HH:MM or HH:MM:SS)")
    base = datetime.fromtimestamp(near, zone)
    return base.replace(hour=hms.hour, minute=hms.minute, second=hms.second, microsecond=0).timestamp()
