"""F7 Shift: the shift summary (OEE, losses, stops by reason, orders, changeovers,
inspections done, overdue and missed, alarms, requests). Display only: no keys of its own."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.widgets import Static

from edge.services.view import LineView
from edge.tui.panes.base import Clock, ScrollPane, dur, pct


class ShiftPane(ScrollPane):
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
        missed = k.get("inspections_missed") or []
        if missed:
            lines.append(
                f"[b]Missed inspections {len(missed)}[/b]: "
                + ", ".join(f"{m['plan']} ({m['order']}, due {clock.hm(m['due_at'])})" for m in missed[:6])
            )
        for c in k.get("changeovers") or []:
            took = dur(c["end"] - c["start"]) if c["end"] is not None else "running"
            lines.append(
                f"Changeover {c['from'] or '?'} → {c['to'] or '?'} at {clock.hm(c['start'])}: "
                f"standard {dur(c['standard_s'])}, took {took}"
            )
        if t.get("unobserved_count"):
            lines.append(
                f"Produced while not observed: {t['unobserved_count']} parts (run {dur(t['unobserved_run_s'])} inferred)"
            )
        self.query_one("#sh-summary", Static).update("\n".join(lines))
