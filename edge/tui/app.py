"""The operator terminal: a Textual app beside the agent, on the line's store.

The app is the shell: header, status bar, the tabs of the panes (``edge.tui.panes``, each
owning its keys and actions), logging in and out, and refreshing. Every ``tui.refresh_s``
it reads a ``LineView`` snapshot through ``edge.services.view`` in a worker thread, on its
own read-only connection, and hands it to the panes on the UI thread.

The terminal writes nothing itself: it may read the store but not the audit trail's
signing key (under systemd it runs as its own user). Logging in and every operator
action go to the agent over its operator channel (``edge.services.gateway``), which
authenticates, authorizes, performs the same use case as the command line and audits
it. While the agent is not running the terminal shows what it reads and records
nothing: the status bar says so, and a form that cannot be saved stays open with what
was typed and says why. It never talks to PLCs or the network itself.

Keys: F1..F7 switch screens, F9 logs in or out, each screen's keys are in the footer.
Every action needs a logged-in operator whose role holds the action's permission.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

from textual import on, work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.css.query import NoMatches
from textual.screen import ModalScreen, Screen
from textual.theme import Theme
from textual.widgets import Footer, Static, TabbedContent, TabPane
from textual.worker import get_current_worker

from edge.config.line import LineConfig
from edge.core.errors import LinesideError, StoreError
from edge.services import session
from edge.services.context import LineContext, Store, line_context, open_store
from edge.services.gateway import ActionFn, AgentClient, AgentUnavailable, SessionEnded, agent_socket
from edge.services.identity import Actor, authorize
from edge.services.view import LineView, ViewReader
from edge.tui.forms import FormField, FormScreen
from edge.tui.panes import (
    Clock,
    DowntimePane,
    InspectionsPane,
    MaintenancePane,
    MaterialsPane,
    OverviewPane,
    Pane,
    ProductionPane,
    ShiftPane,
    SpcPane,
)
from edge.tui.panes.base import ScrollPane

log = logging.getLogger("lineside.tui")

P = ParamSpec("P")
R = TypeVar("R")


class _NoStore(StoreError):
    """The store does not exist yet: the agent creates it, the terminal never does."""


#: While an operator is busy at the terminal, tell the agent at most this often.
TOUCH_EVERY_S = 30.0

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

#: Kept importable from here; the rule lives in ``edge.services.session``.
LOGIN_ATTEMPTS = session.LOGIN_ATTEMPTS
LOGIN_LOCKOUT_S = session.LOGIN_LOCKOUT_S

#: (key, pane id, tab label): the F-key is part of the label, so it is always on screen.
PANES = [
    ("f1", "overview", "F1 Line"),
    ("f2", "downtime", "F2 Stops"),
    ("f3", "production", "F3 Orders"),
    ("f4", "spc", "F4 SPC"),
    ("f5", "inspections", "F5 Checks"),
    ("f6", "maintenance", "F6 Maint"),
    ("f7", "shift", "F7 Shift"),
    ("f8", "materials", "F8 Stock"),
]


class LinesideApp(App[None]):
    CSS_PATH = "lineside.tcss"
    ENABLE_COMMAND_PALETTE = False
    TITLE = "Lineside"
    BINDINGS = [
        *[Binding(k, f"show('{pid}')", title, show=False) for k, pid, title in PANES],
        Binding("f9", "login_logout", "Login"),
        Binding("f10", "quit", "Quit"),
        Binding("ctrl+q", "quit", "Quit", show=False),
    ]

    def __init__(
        self,
        cfg: LineConfig,
        *,
        clock: Callable[[], float] = time.time,
        theme: str | None = None,
        refresh_s: float | None = None,
        agent: AgentClient | None = None,
    ) -> None:
        super().__init__()
        self.file_cfg = cfg
        self.line: LineContext = line_context(cfg)
        self.cfg = self.line.config
        self.clock = clock
        self.fmt = Clock(self.cfg.line.timezone)
        #: The agent's operator channel: logins and every action go there.
        self.agent = agent if agent is not None else AgentClient(agent_socket(cfg))
        #: The snapshot is read on a read-only connection, in a worker thread (opened
        #: when the store is there: the agent creates it).
        self._reader_store: Store | None = None
        self.reader: ViewReader | None = None
        try:
            # The reason tree and products the plant sent down reach the forms from the start.
            self.line = self._open_reader().ctx
            self.cfg = self.line.config
        except StoreError:  # not there yet, or not readable now: each refresh tries again
            pass
        self.snapshot: LineView | None = None
        self.operator: Actor | None = None
        self.last_activity = clock()
        self._touched = clock()
        self.last_message = ""
        self.refresh_s = refresh_s if refresh_s is not None else self.cfg.tui.refresh_s
        self._theme_name = theme or self.cfg.tui.theme
        self._cap_cache: tuple[tuple[str, int], dict[str, Any] | None] | None = None
        self._reading = False
        self._read_again = False

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
                fc = self.cfg.maintenance.failure_codes
                yield MaintenancePane(
                    [m.name for m in self.cfg.machines] or [d.name for d in self.cfg.devices],
                    parts=[p.id for p in self.cfg.maintenance.parts],
                    codes={
                        "problem": [c.code for c in fc.problems],
                        "cause": [c.code for c in fc.causes],
                        "remedy": [c.code for c in fc.remedies],
                    },
                )
            with TabPane(labels["shift"], id="shift"):
                yield ShiftPane()
            if self.cfg.material_master or self.cfg.stock.locations:  # only lines with materials
                with TabPane(labels["materials"], id="materials"):
                    yield MaterialsPane([x.id for x in self.cfg.stock.locations])
        yield Footer(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        self.register_theme(HIGH_CONTRAST)
        self.theme = THEMES[self._theme_name]
        self.refresh_data()
        self.set_interval(self.refresh_s, self.refresh_data)

    def on_unmount(self) -> None:
        if self._reader_store is not None:
            self._reader_store.close()

    # ------------------------------------------------------------------ refresh

    @property
    def active_pane(self) -> str:
        return str(self.query_one(TabbedContent).active)

    def _panes(self) -> list[Pane | ScrollPane]:
        return [
            *self.query(OverviewPane),
            *self.query(DowntimePane),
            *self.query(ProductionPane),
            *self.query(InspectionsPane),
            *self.query(MaintenancePane),
            *self.query(MaterialsPane),
            *self.query(ShiftPane),
        ]

    def refresh_data(self) -> None:
        """Log out an idle operator, then read a new snapshot (in a worker; one at a time:
        a request while one is being read reads again right after it)."""
        now = self.clock()
        if self.operator is not None and now - self.last_activity > self.cfg.tui.idle_logout_s:
            self._logout(reason="inactivity")
        if self._reading:
            self._read_again = True
            return
        try:
            spc = self.query_one(SpcPane).current
        except NoMatches:  # a timer that fires while the app is shutting down
            return
        self._reading = True
        self._read_snapshot(now, spc)

    def _open_reader(self) -> ViewReader:
        if self.reader is None:
            if not Path(self.file_cfg.store.path).exists():
                raise _NoStore("no store here yet: the agent creates it (is it running?)")
            self._reader_store = open_store(self.file_cfg, readonly=True)
            self.reader = ViewReader(self.file_cfg, self._reader_store)
        return self.reader

    @work(thread=True, exit_on_error=False, group="snapshot")
    def _read_snapshot(self, now: float, spc: str | None) -> None:
        result: tuple[LineView, dict[str, Any] | None] | LinesideError
        self._touch(now)
        try:
            v = self._open_reader().read(now)
            result = (v, self._capability(spc, v))
        except LinesideError as e:  # a locked or damaged store: say so, keep running
            result = e
        except Exception as e:  # a bug must not stop the refreshes: say so, keep running
            log.exception("cannot read the terminal's snapshot")
            result = LinesideError(f"{type(e).__name__}: {e}")
        if get_current_worker().is_cancelled:  # the app is closing
            return
        try:
            self.call_from_thread(self._deliver, result)
        except RuntimeError:  # the app stopped meanwhile
            pass

    def _deliver(self, result: tuple[LineView, dict[str, Any] | None] | LinesideError) -> None:
        """On the UI thread: hand the snapshot to the panes (or say why there is none)."""
        self._reading = False
        try:
            if isinstance(result, _NoStore):
                self.query_one("#statusbar", Static).update(f"⚠ {result}")
            elif isinstance(result, LinesideError):
                self.query_one("#statusbar", Static).update(f"⚠ cannot read the store: {result}")
            else:
                v, cap = result
                self.snapshot = v
                # New master data from the plant (reason tree, products) reach the forms too.
                assert self.reader is not None
                self.line = self.reader.ctx
                self.cfg = self.line.config
                self._header(v)
                for pane in self._panes():
                    pane.update_view(v, self.fmt)
                self.query_one(SpcPane).update_view(v, self.fmt, cap)
        except NoMatches:  # shutting down
            return
        if self._read_again:
            self._read_again = False
            self.refresh_data()

    def _capability(self, name: str | None, v: LineView) -> dict[str, Any] | None:
        if name is None or name not in v.spc:
            return None
        key = (name, len(v.spc[name].points) and int(v.spc[name].points[-1][0]))
        if self._cap_cache is None or self._cap_cache[0] != key:
            assert self.reader is not None
            self._cap_cache = (key, self.reader.capability(name))
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
            else "[reverse] agent NOT RUNNING [/reverse] nothing can be recorded"
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

    def _touch(self, now: float) -> None:
        """In the worker thread: keep the agent's session of a busy operator alive."""
        if self.operator is None or now - self._touched < min(TOUCH_EVERY_S, self.cfg.tui.idle_logout_s / 3):
            return
        if self.last_activity <= self._touched:
            return
        self._touched = now
        try:
            self.agent.touch()
        except LinesideError as e:  # the next action says so; the journal has it now
            log.warning("cannot keep the session of %s: %s", self.operator.who, e)

    def _logout(self, reason: str = "") -> None:
        if self.operator is None:
            return
        op, self.operator = self.operator, None
        try:
            self.agent.log_out(reason)
        except LinesideError as e:  # logged out all the same; the journal has it
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
            op = self._ended_session(lambda: self.agent.log_in(values["credential"], values.get("pin", "")))
            self.operator = op
            self.last_activity = self._touched = self.clock()
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

    def guarded(self, permission: str, run: Callable[[Actor], None]) -> None:
        """Run an action for the logged-in operator if their role allows it (the same rule
        the use case checks again in the agent); ask for a login first if nobody is."""
        if self.operator is None:
            self.ask_login(lambda: self.guarded(permission, run))
            return
        op = self.operator
        try:
            authorize(op, permission)
            run(op)
        except StoreError as e:  # a store locked beyond its timeout, a full disk: nothing written
            self.say(f"the store did not take the input ({e}); nothing was recorded, try again", error=True)
        except LinesideError as e:  # refused input: the message names the field
            self.say(str(e), error=True)

    def call(self, fn: ActionFn[P, R], /, *args: P.args, **kwargs: P.kwargs) -> R:
        """Perform a use case as the logged-in operator, in the agent."""
        return self._ended_session(lambda: self.agent.call(fn, *args, **kwargs))

    def call_signed(self, entered: str, fn: ActionFn[P, R], /, *args: P.args, **kwargs: P.kwargs) -> R:
        """Perform a use case as the logged-in operator, signed with ``entered``."""
        return self._ended_session(lambda: self.agent.call_signed(entered, fn, *args, **kwargs))

    def _ended_session(self, run: Callable[[], R]) -> R:
        try:
            return run()
        except SessionEnded:
            self.operator = None  # the agent no longer knows the session: log in again
            raise
        except AgentUnavailable as e:
            raise AgentUnavailable(
                f"{e}; what you typed stays here: save again when the agent runs"
            ) from None

    def form(
        self,
        title: str,
        fields: list[FormField],
        action: Callable[[dict[str, str]], str],
        intro: str = "",
        on_change: Callable[[str, str], dict[str, str]] | None = None,
    ) -> None:
        self.open_form(FormScreen(title, fields, action, intro=intro, on_change=on_change))

    def open_form(self, screen: Screen[str | None]) -> None:
        self.push_screen(screen, self._done)

    def _done(self, msg: str | None) -> None:
        if msg:
            self.say(msg)
        self.refresh_data()

    # ------------------------------------------------------------------ navigation

    def action_show(self, pane: str) -> None:
        if not self.query(f"#{pane}"):  # a pane this line does not have (F8 without materials)
            return
        self.query_one(TabbedContent).active = pane
        self._focus_pane()
        self.refresh_data()

    @on(TabbedContent.TabActivated)
    def _tab_changed(self) -> None:
        # The pane shown takes the focus, so its keys are active and in the footer.
        self._focus_pane()

    def _focus_pane(self) -> None:
        try:
            tab = self.query_one(f"#{self.active_pane}", TabPane)
        except NoMatches:
            return
        pane = tab.children[0] if tab.children else None
        if pane is not None and not pane.has_focus_within:
            pane.focus()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if isinstance(self.screen, ModalScreen):  # a form is open: its keys only
            return action == "quit"
        return True
