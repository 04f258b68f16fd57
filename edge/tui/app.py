"""The operator terminal: a Textual app beside the agent, on the line's store.

It reads the store every ``tui.refresh_s`` and writes operator input through
``edge.services.production`` (validated, append-only rows with ``synchronous=FULL``, audited),
which the agent picks up whether it runs now or starts later. It never talks to PLCs
or the network itself, so it keeps working while the agent restarts or the uplink is
down; the status bar says which.

Keys: F1..F7 switch screens, F9 logs in or out, each screen's keys are in the footer.
Every action needs a logged-in operator whose role holds the action's permission.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Callable
from typing import Any

from textual import on
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.css.query import NoMatches
from textual.screen import ModalScreen
from textual.theme import Theme
from textual.widgets import Button, DataTable, Footer, Input, Select, Static, TabbedContent, TabPane

from edge.config.line import LineConfig
from edge.config.operators import OperatorCfg, login
from edge.core.errors import LinesideError
from edge.services import production as ops
from edge.services.commands import effective_config
from edge.services.inspections import record as record_inspection
from edge.services.production import OperatorInputError
from edge.store import Store
from edge.tui.forms import FormField, FormScreen, ReasonForm, ReasonNode, whole
from edge.tui.panes import (
    Clock,
    DowntimePane,
    InspectionsPane,
    MaintenancePane,
    OverviewPane,
    ProductionPane,
    ShiftPane,
    SpcPane,
)
from edge.tui.view import LineView, ViewReader

log = logging.getLogger("lineside.tui")

HIGH_CONTRAST = Theme(
    name="high-contrast",
    primary="#FFFF00",
    secondary="#00FFFF",
    accent="#FFFF00",
    foreground="#FFFFFF",
    background="#000000",
    surface="#000000",
    panel="#202020",
    success="#00FF00",
    warning="#FFFF00",
    error="#FF3030",
    dark=True,
)
THEMES = {"dark": "textual-dark", "light": "textual-light", "high-contrast": "high-contrast"}

#: Wrong badge/PIN entries in a row before the login is locked for a while (PINs are short).
LOGIN_ATTEMPTS = 5
LOGIN_LOCKOUT_S = 60.0

#: (key, pane id, tab label): the F-key is part of the label, so it is always on screen.
PANES = [
    ("f1", "overview", "F1 Line"),
    ("f2", "downtime", "F2 Stops"),
    ("f3", "production", "F3 Orders"),
    ("f4", "spc", "F4 SPC"),
    ("f5", "inspections", "F5 Checks"),
    ("f6", "maintenance", "F6 Maint"),
    ("f7", "shift", "F7 Shift"),
]
PERMISSION_TEXT = {
    "run_orders": "run work orders",
    "explain_downtime": "explain downtime",
    "book_scrap": "book scrap",
    "adjust_counts": "adjust counts",
    "inspect": "record inspections and measurements",
    "ack_alarms": "acknowledge SPC alarms",
    "request_maintenance": "request maintenance",
    "approve": "approve new SPC limits",
}


class LinesideApp(App[None]):
    CSS_PATH = "lineside.tcss"
    ENABLE_COMMAND_PALETTE = False
    TITLE = "Lineside"
    BINDINGS = [
        *[Binding(k, f"show('{pid}')", title, show=False) for k, pid, title in PANES],
        Binding("f9", "login_logout", "Login"),
        Binding("f10", "quit", "Quit"),
        Binding("ctrl+q", "quit", "Quit", show=False),
        # screen keys (active only on their screen, see check_action)
        Binding("r", "assign_reason", "Reason"),
        Binding("s", "split", "Split"),
        Binding("s", "start", "Start"),
        Binding("p", "order('pause')", "Pause"),
        Binding("u", "order('resume')", "Resume"),
        Binding("c", "order('complete')", "Done"),
        Binding("o", "changeover", "C/O"),
        Binding("x", "scrap", "Scrap"),
        Binding("a", "adjust", "Adjust"),
        Binding("k", "ack", "Ack"),
        Binding("m", "measure", "Measure"),
        Binding("l", "limits", "Limits"),
        Binding("e", "inspect", "Inspect"),
        Binding("ctrl+r", "maintenance", "Send"),
    ]
    SCREEN_KEYS = {
        "assign_reason": "downtime",
        "split": "downtime",
        "start": "production",
        "order": "production",
        "changeover": "production",
        "scrap": "production",
        "adjust": "production",
        "ack": "spc",
        "measure": "spc",
        "limits": "spc",
        "inspect": "inspections",
        "maintenance": "maintenance",
    }

    def __init__(
        self,
        cfg: LineConfig,
        *,
        clock: Callable[[], float] = time.time,
        theme: str | None = None,
        refresh_s: float | None = None,
    ) -> None:
        super().__init__()
        self.store = Store(cfg.store.path)
        self.cfg = effective_config(cfg, self.store)
        self.clock = clock
        self.fmt = Clock(self.cfg.line.timezone)
        self.reader = ViewReader(self.cfg, self.store)
        self.snapshot: LineView | None = None
        self.operator: OperatorCfg | None = None
        self.last_activity = clock()
        self.last_message = ""
        self.refresh_s = refresh_s if refresh_s is not None else self.cfg.tui.refresh_s
        self._theme_name = theme or self.cfg.tui.theme
        self._cap_cache: tuple[tuple[str, int], dict[str, Any] | None] | None = None
        self._failed_logins = 0
        self._locked_until = 0.0

    # ------------------------------------------------------------------ layout

    def compose(self) -> ComposeResult:
        yield Static("", id="header")
        yield Static("", id="statusbar")
        labels = {pid: label for _, pid, label in PANES}
        with TabbedContent(initial="overview", id="tabs"):
            with TabPane(labels["overview"], id="overview"):
                yield OverviewPane()
            with TabPane(labels["downtime"], id="downtime"):
                yield DowntimePane()
            with TabPane(labels["production"], id="production"):
                yield ProductionPane()
            with TabPane(labels["spc"], id="spc"):
                yield SpcPane([c.name for c in self.cfg.characteristics])
            with TabPane(labels["inspections"], id="inspections"):
                yield InspectionsPane()
            with TabPane(labels["maintenance"], id="maintenance"):
                yield MaintenancePane(
                    [m.name for m in self.cfg.machines] or [d.name for d in self.cfg.devices]
                )
            with TabPane(labels["shift"], id="shift"):
                yield ShiftPane()
        yield Footer(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        self.register_theme(HIGH_CONTRAST)
        self.theme = THEMES[self._theme_name]
        self.refresh_data()
        self.set_interval(self.refresh_s, self.refresh_data)

    def on_unmount(self) -> None:
        self.store.close()

    # ------------------------------------------------------------------ refresh

    @property
    def active_pane(self) -> str:
        return str(self.query_one(TabbedContent).active)

    def refresh_data(self) -> None:
        try:
            self._refresh()
        except NoMatches:  # a timer that fires while the app is shutting down
            return

    def _refresh(self) -> None:
        now = self.clock()
        if self.operator is not None and now - self.last_activity > self.cfg.tui.idle_logout_s:
            self._logout(reason="inactivity")
        spc = self.query_one(SpcPane)
        try:
            v = self.snapshot = self.reader.read(now)
            cap = self._capability(spc.current, v)
        except (LinesideError, sqlite3.Error) as e:  # a locked or damaged store: say so, keep running
            self.query_one("#statusbar", Static).update(f"⚠ cannot read the store: {e}")
            return
        self._header(v)
        self.query_one(OverviewPane).update_view(v, self.fmt)
        self.query_one(DowntimePane).update_view(v, self.fmt)
        self.query_one(ProductionPane).update_view(v, self.fmt)
        spc.update_view(v, self.fmt, cap)
        self.query_one(InspectionsPane).update_view(v, self.fmt)
        self.query_one(MaintenancePane).update_view(v, self.fmt)
        self.query_one(ShiftPane).update_view(v, self.fmt)

    def _capability(self, name: str | None, v: LineView) -> dict[str, Any] | None:
        if name is None or name not in v.spc:
            return None
        key = (name, len(v.spc[name].points) and int(v.spc[name].points[-1][0]))
        if self._cap_cache is None or self._cap_cache[0] != key:
            since = v.shift["start"] if v.shift else v.now - 8 * 3600
            self._cap_cache = (key, self.reader.capability(name, since))
        return self._cap_cache[1]

    def _header(self, v: LineView) -> None:
        ln = self.cfg.line
        who = f"{self.operator.name} ({self.operator.role})" if self.operator else "F9: log in"
        self.query_one("#header", Static).update(
            f"[b]{ln.line}[/b] {ln.description or ln.area}  ·  {self.fmt.day_hm(v.now)}:{self.fmt.hms(v.now)[-2:]}  ·  {who}"
        )
        st = v.status
        agent = (
            "[b]agent running[/b]"
            if st["agent"]["alive"]
            else "[reverse] agent NOT RUNNING [/reverse] input is kept"
        )
        devs = st["devices"]
        up_n = sum(1 for d in devs.values() if d["state"] == "connected")
        plcs = f"PLCs {up_n}/{len(devs)}" + (
            "" if up_n == len(devs) or not devs else " [reverse] check [/reverse]"
        )
        u = st["uplink"]
        if u is None:
            uplink = "uplink off (local only)"
        elif u["connected"]:
            uplink = "uplink online"
        else:
            uplink = "[reverse] uplink OFFLINE [/reverse]"
        self.query_one("#statusbar", Static).update(f"{agent} │ {plcs} │ {uplink} │ backlog {v.backlog:,}")

    # ------------------------------------------------------------------ activity and sessions

    async def on_event(self, event: Any) -> None:
        from textual import events

        if isinstance(event, (events.Key, events.MouseDown)):
            self.last_activity = self.clock()
        await super().on_event(event)

    def say(self, text: str, *, error: bool = False) -> None:
        self.last_message = text
        self.notify(text, severity="error" if error else "information", timeout=6 if error else 4)

    def _audit_session(self, who: str, action: str, why: str = "", new: Any = None) -> None:
        """A login, logout or failed login, in the audit trail (its own durable commit)."""
        with self.store._tx(sync_full=True):
            self.store.audit(
                who=who, action=action, entity=self.cfg.line.line, new=new, why=why, meaning="performed"
            )

    def _logout(self, reason: str = "") -> None:
        if self.operator is None:
            return
        op, self.operator = self.operator, None
        try:
            self._audit_session(op.who, "operator.logout", reason)
        except sqlite3.Error as e:  # logged out all the same; the journal has it
            log.error("logout of %s not recorded in the audit trail: %s", op.who, e)
        self.say(f"{op.name} logged out" + (f" ({reason})" if reason else ""))

    def action_login_logout(self) -> None:
        if self.operator is not None:
            self._logout()
            self.refresh_data()
        else:
            self.ask_login()

    def ask_login(self, then: Callable[[], None] | None = None) -> None:
        if not self.cfg.operators:
            self.say("no operators are configured for this line (operators: in the line config)", error=True)
            return

        def check(values: dict[str, str]) -> str:
            now = self.clock()
            if now < self._locked_until:
                raise OperatorInputError(
                    f"credential: too many wrong entries; try again in {self._locked_until - now:.0f} s"
                )
            op = login(self.cfg.operators, values["credential"])
            if op is None:
                self._failed_logins += 1
                self._audit_session(  # who tried is unknown: the terminal
                    f"terminal {self.cfg.line.line}",
                    "operator.login_failed",
                    new={"attempt": self._failed_logins},
                )
                if self._failed_logins >= LOGIN_ATTEMPTS:
                    self._failed_logins = 0
                    self._locked_until = now + LOGIN_LOCKOUT_S
                    raise OperatorInputError(
                        f"credential: not recognised; {LOGIN_ATTEMPTS} wrong entries, login locked for {LOGIN_LOCKOUT_S:.0f} s"
                    )
                raise OperatorInputError("credential: badge number or PIN not recognised")
            self._failed_logins = 0
            self.operator = op
            self.last_activity = self.clock()
            self._audit_session(op.who, "operator.login")
            return f"{op.name} logged in ({op.role})"

        def done(msg: str | None) -> None:
            if msg:
                self.say(msg)
                self.refresh_data()
                if then is not None:
                    then()

        self.push_screen(
            FormScreen("Log in", [FormField("credential", "Badge or PIN", kind="password")], check),
            done,
        )

    def guarded(self, permission: str, run: Callable[[OperatorCfg], None]) -> None:
        """Run an action for the logged-in operator if their role allows it; ask for a
        login first if nobody is logged in."""
        if self.operator is None:
            self.ask_login(lambda: self.guarded(permission, run))
            return
        op = self.operator
        if permission not in self.cfg.tui.permissions(op.role):
            self.say(
                f"refused: {op.name}'s role {op.role!r} may not {PERMISSION_TEXT[permission]}", error=True
            )
            return
        try:
            run(op)
        except LinesideError as e:  # refused input: the message names the field
            self.say(str(e), error=True)
        except sqlite3.Error as e:  # a store locked beyond its timeout, a full disk: nothing written
            self.say(f"the store did not take the input ({e}); nothing was recorded, try again", error=True)

    def form(
        self,
        title: str,
        fields: list[FormField],
        action: Callable[[dict[str, str]], str],
        intro: str = "",
        on_change: Callable[[str, str], dict[str, str]] | None = None,
    ) -> None:
        self.push_screen(FormScreen(title, fields, action, intro=intro, on_change=on_change), self._done)

    def _done(self, msg: str | None) -> None:
        if msg:
            self.say(msg)
        self.refresh_data()

    # ------------------------------------------------------------------ navigation

    def action_show(self, pane: str) -> None:
        self.query_one(TabbedContent).active = pane
        self.refresh_data()

    @on(TabbedContent.TabActivated)
    def _tab_changed(self) -> None:
        self.refresh_bindings()  # the footer shows the keys of the screen now shown

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if isinstance(self.screen, ModalScreen):  # a form is open: its keys only
            return action == "quit"
        where = self.SCREEN_KEYS.get(action)
        if where is None:
            return True
        return self.active_pane == where

    # ------------------------------------------------------------------ downtime

    def _selected(self, table_id: str) -> str | None:
        t = self.query_one(table_id, DataTable)
        if not t.row_count:
            return None
        return str(t.coordinate_to_cell_key(t.cursor_coordinate).row_key.value)

    def _downtime_row(self) -> dict[str, Any] | None:
        key = self._selected("#dt-table")
        return next((d for d in (self.snapshot.downtime if self.snapshot else []) if d["id"] == key), None)

    def action_assign_reason(self) -> None:
        ev = self._downtime_row()
        if ev is None:
            self.say("no stop selected", error=True)
            return

        def run(op: OperatorCfg) -> None:
            def save(v: dict[str, str]) -> str:
                reason = ops.require(v["reason"], "reason")
                ops.assign_reason(self.cfg, self.store, ev["id"], reason, by=op.who, comment=v["comment"])
                return f"stop {self.fmt.hms(ev['start'])}: reason {reason} recorded"

            intro = f"{ev['machine']} {ev['state']} from {self.fmt.day_hm(ev['start'])}, current reason: {ev['reason'] or 'none'}"
            self.push_screen(
                ReasonForm("Assign a reason", _reason_nodes(self.cfg), save, intro=intro), self._done
            )

        self.guarded("explain_downtime", run)

    def action_split(self) -> None:
        ev = self._downtime_row()
        if ev is None:
            self.say("no stop selected", error=True)
            return

        def run(op: OperatorCfg) -> None:
            def save(v: dict[str, str]) -> str:
                at = self._time_of_day(v["at"], ev["start"], "at")
                second = ops.split_event(self.cfg, self.store, ev["id"], at, by=op.who, comment=v["comment"])
                return f"stop split at {self.fmt.hms(at)} ({second})"

            end = ev["end"] if ev["end"] is not None else self.clock()
            self.form(
                "Split a stop",
                [
                    FormField("at", "Split at", placeholder="HH:MM or HH:MM:SS"),
                    FormField("comment", "Comment", placeholder="e.g. the jam became a changeover"),
                ],
                save,
                intro=f"{ev['machine']} {ev['state']} {self.fmt.hms(ev['start'])} – {self.fmt.hms(end)}",
            )

        self.guarded("explain_downtime", run)

    def _time_of_day(self, text: str, near: float, field: str) -> float:
        """HH:MM[:SS] in the line's time zone, on the day of ``near``."""
        from datetime import datetime

        t = text.strip()
        for fmt in ("%H:%M:%S", "%H:%M"):
            try:
                hms = datetime.strptime(t, fmt).time()
                break
            except ValueError:
                continue
        else:
            raise OperatorInputError(f"{field}: {t!r} is not a time of day (HH:MM or HH:MM:SS)")
        base = datetime.fromtimestamp(near, self.fmt.zone)
        return base.replace(hour=hms.hour, minute=hms.minute, second=hms.second, microsecond=0).timestamp()

    # ------------------------------------------------------------------ production

    def action_start(self) -> None:
        sel = self._selected("#pr-table")
        row = next(
            (r for r in (self.snapshot.dispatch if self.snapshot else []) if r["order_id"] == sel), None
        )

        def run(op: OperatorCfg) -> None:
            def save(v: dict[str, str]) -> str:
                order = ops.require(v["order"], "order")
                qty = whole(v["quantity"], "quantity") if v["quantity"].strip() else None
                if qty == 0:
                    raise OperatorInputError("quantity: must be a positive whole number")
                ops.order_command(
                    self.cfg,
                    self.store,
                    "start",
                    order,
                    by=op.who,
                    product=v["product"] or None,
                    quantity=qty,
                )
                return f"order {order} start queued"

            self.form(
                "Start a work order",
                [
                    FormField(
                        "order", "Order", value=row["order_id"] if row else "", placeholder="work order id"
                    ),
                    FormField(
                        "product",
                        "Product",
                        kind="select",
                        value=row["product"] if row else "",
                        options=[(f"{p.id}  {p.name}", p.id) for p in self.cfg.products],
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
            if name != "order" or self.snapshot is None:
                return {}
            r = next((r for r in self.snapshot.dispatch if r["order_id"] == value.strip()), None)
            if r is None:
                return {}
            return {"product": r["product"], "quantity": str(r["quantity"] or "")}

        self.guarded("run_orders", run)

    def action_order(self, action: str) -> None:
        def run(op: OperatorCfg) -> None:
            v = self.snapshot
            if v is None or v.order is None:
                self.say(f"{action}: no order is running", error=True)
                return
            if action == "resume" and not v.paused:
                self.say(f"resume: order {v.order} is not paused", error=True)
                return
            ops.order_command(self.cfg, self.store, action, v.order, by=op.who)
            self.say(f"{action} {v.order} queued")
            self.refresh_data()

        self.guarded("run_orders", run)

    def action_changeover(self) -> None:
        def run(op: OperatorCfg) -> None:
            action = (
                "changeover_end"
                if self.snapshot is not None and self.snapshot.changeover
                else "changeover_start"
            )
            ops.order_command(
                self.cfg, self.store, action, self.snapshot.order if self.snapshot else None, by=op.who
            )
            self.say(f"{action.replace('_', ' ')} queued")
            self.refresh_data()

        self.guarded("run_orders", run)

    def _machine_field(self) -> FormField:
        """Machine choice, the line machine preselected."""
        lm = self.snapshot.machine if self.snapshot else None
        options = [(m.name, m.name) for m in self.cfg.machines]
        return FormField("machine", "Machine", kind="select", value=lm or "", options=options)

    def action_scrap(self) -> None:
        def run(op: OperatorCfg) -> None:
            def save(v: dict[str, str]) -> str:
                machine = ops.require(v["machine"], "machine")
                n = whole(v["quantity"], "quantity")
                if n == 0:
                    raise OperatorInputError("quantity: enter the number of scrapped parts")
                ops.adjust_count(
                    self.cfg,
                    self.store,
                    machine,
                    scrap=n,
                    by=op.who,
                    scrap_reason=v["reason"],
                    comment=v["comment"],
                )
                return f"{n} scrap booked on {machine}"

            self.form(
                "Book scrap",
                [
                    self._machine_field(),
                    FormField("quantity", "Parts", placeholder="number of scrapped parts"),
                    FormField("reason", "Scrap reason", placeholder="e.g. underfilled, cap missing"),
                    FormField("comment", "Comment", placeholder="optional"),
                ],
                save,
            )

        self.guarded("book_scrap", run)

    def action_adjust(self) -> None:
        def run(op: OperatorCfg) -> None:
            def save(v: dict[str, str]) -> str:
                machine = ops.require(v["machine"], "machine")
                good = whole(v["good"], "good", signed=True)
                ops.adjust_count(self.cfg, self.store, machine, good=good, by=op.who, comment=v["comment"])
                return f"{machine}: good {good:+d} recorded"

            self.form(
                "Adjust good count",
                [
                    self._machine_field(),
                    FormField("good", "Good ±", placeholder="e.g. -12 or 40"),
                    FormField("comment", "Comment", placeholder="why (required)"),
                ],
                save,
            )

        self.guarded("adjust_counts", run)

    # ------------------------------------------------------------------ SPC

    def _characteristic(self) -> str | None:
        name = self.query_one(SpcPane).current
        if name is None:
            self.say("no characteristic under SPC on this line", error=True)
        return name

    def action_ack(self) -> None:
        name = self._characteristic()
        if name is None:
            return

        def run(op: OperatorCfg) -> None:
            open_ = [
                a for a in (self.snapshot.alarms if self.snapshot else []) if a["characteristic"] == name
            ]
            if not open_:
                self.say(f"{name}: no unacknowledged alarm", error=True)
                return

            def save(v: dict[str, str]) -> str:
                ops.ack_alarms(self.cfg, self.store, name, by=op.who, comment=v["comment"])
                return f"{name}: {len(open_)} alarm(s) acknowledged"

            a = open_[0]
            self.form(
                f"Acknowledge SPC alarms: {name}",
                [FormField("comment", "Comment", placeholder="what was found and done (required)")],
                save,
                intro=f"{len(open_)} open; latest {self.fmt.hms(a['ts'])} {a['kind']} {a['rule']}: {a['detail']}",
            )

        self.guarded("ack_alarms", run)

    def action_measure(self) -> None:
        name = self._characteristic()
        if name is None:
            return

        def run(op: OperatorCfg) -> None:
            def save(v: dict[str, str]) -> str:
                ops.enter_measurement(self.cfg, self.store, name, ops.require(v["value"], "value"), by=op.who)
                return f"{name}: {v['value'].strip()} recorded"

            self.form(
                f"Measurement: {name}", [FormField("value", "Value", placeholder="measured value")], save
            )

        self.guarded("inspect", run)

    def action_limits(self) -> None:
        name = self._characteristic()
        if name is None:
            return

        def run(op: OperatorCfg) -> None:
            def save(v: dict[str, str]) -> str:
                ops.request_recalculation(self.cfg, self.store, name, by=op.who, reason=v["reason"])
                return f"{name}: new baseline requested"

            self.form(
                f"New control limits: {name}",
                [FormField("reason", "Reason", placeholder="e.g. new filler nozzle fitted (required)")],
                save,
                intro="The agent collects a new baseline and freezes new limits (approval, audited).",
            )

        self.guarded("approve", run)

    # ------------------------------------------------------------------ inspections

    def action_inspect(self) -> None:
        key = self._selected("#in-due")
        plans = {p.name: p for p in self.cfg.inspections}
        if key is None:
            self.say("no inspection due (select one in the list)", error=True)
            return
        plan = plans[key]

        def run(op: OperatorCfg) -> None:
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
                signer = login(self.cfg.operators, v["sign"])
                if signer is None or signer.badge != op.badge:
                    raise OperatorInputError(f"sign: badge or PIN of {op.name} required to sign")
                values = {k.removeprefix("item_"): x for k, x in v.items() if k.startswith("item_")}
                from edge.logic.quality.inspections import judge

                passed, _, errors = judge(plan, values)
                if errors:
                    raise OperatorInputError("; ".join(errors))
                if not passed and not v["comment"].strip():
                    raise OperatorInputError("comment: required when an inspection fails")
                ok = record_inspection(
                    self.cfg, self.store, plan.name, values, by=op.who, comment=v["comment"]
                )
                return f"{plan.name}: {'PASS' if ok else 'FAIL'} recorded and signed by {op.name}"

            self.form(f"Inspection: {plan.name}", fields, save)

        self.guarded("inspect", run)

    # ------------------------------------------------------------------ maintenance

    def action_maintenance(self) -> None:
        def run(op: OperatorCfg) -> None:
            pane = self.query_one(MaintenancePane)
            machine = pane.query_one("#mr-machine", Select)
            prio = pane.query_one("#mr-priority", Select)
            text = pane.query_one("#mr-text", Input)
            err = pane.query_one("#mr-error", Static)
            try:
                m = "" if machine.selection is None else str(machine.selection)
                ops.request_maintenance(
                    self.cfg,
                    self.store,
                    ops.require(m, "machine"),
                    text.value,
                    by=op.who,
                    priority=str(prio.value),
                )
            except LinesideError as e:
                err.update(f"✖ {e}")
                self.say(str(e), error=True)
                return
            err.update("")
            text.value = ""
            self.say(f"maintenance request for {m} sent")
            self.refresh_data()

        self.guarded("request_maintenance", run)

    @on(Button.Pressed, "#mr-send")
    def _send_request(self) -> None:
        self.action_maintenance()

    @on(Input.Submitted, "#mr-text")
    def _send_request_enter(self) -> None:
        self.action_maintenance()


def _reason_nodes(cfg: LineConfig) -> list[ReasonNode]:
    def conv(r: Any) -> ReasonNode:
        return ReasonNode(r.code, r.name, [conv(c) for c in r.children])

    return [conv(r) for r in cfg.reasons]
