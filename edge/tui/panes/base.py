"""What every pane of the operator terminal shares: the formatting helpers, the table
update that keeps the cursor, and :class:`Pane`, the base that gives a pane its own
keys (``BINDINGS``, active while the pane has the focus) and the terminal it acts in.

A pane displays a ``LineView`` (``update_view``) and owns the actions of its screen;
each action goes through :meth:`Terminal.guarded` (logged-in operator, role allows it)
and then :meth:`Terminal.call`: the same ``edge.services`` function the CLI calls,
performed by the agent as the logged-in operator.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, ParamSpec, Protocol, TypeVar, cast
from zoneinfo import ZoneInfo

from textual.containers import Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import DataTable

from edge.services.context import LineContext
from edge.services.gateway import ActionFn
from edge.services.identity import Actor
from edge.services.view import LineView
from edge.tui.forms import FormField

P = ParamSpec("P")
R = TypeVar("R")

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


class Terminal(Protocol):
    """What a pane needs from the terminal it is shown in (``edge.tui.app.LinesideApp``)."""

    line: LineContext
    snapshot: LineView | None
    fmt: Clock
    clock: Callable[[], float]

    def guarded(self, permission: str, run: Callable[[Actor], None]) -> None: ...

    def call(self, fn: ActionFn[P, R], /, *args: P.args, **kwargs: P.kwargs) -> R: ...

    def call_signed(self, entered: str, fn: ActionFn[P, R], /, *args: P.args, **kwargs: P.kwargs) -> R: ...

    def form(
        self,
        title: str,
        fields: list[FormField],
        action: Callable[[dict[str, str]], str],
        intro: str = "",
        on_change: Callable[[str, str], dict[str, str]] | None = None,
    ) -> None: ...

    def open_form(self, screen: Screen[str | None]) -> None: ...

    def say(self, text: str, *, error: bool = False) -> None: ...

    def refresh_data(self) -> None: ...


class _PaneMixin:
    """A pane: focusable (its keys are active while it or a widget in it has the focus)."""

    can_focus = True

    @property
    def terminal(self) -> Terminal:
        return cast(Terminal, self.app)  # type: ignore[attr-defined]

    def update_view(self, v: LineView, clock: Clock) -> None:
        raise NotImplementedError

    def selected(self, table_id: str) -> str | None:
        """The row key under the cursor of one of the pane's tables."""
        t = self.query_one(table_id, DataTable)  # type: ignore[attr-defined]
        if not t.row_count:
            return None
        return str(t.coordinate_to_cell_key(t.cursor_coordinate).row_key.value)


class Pane(_PaneMixin, Vertical):
    pass


class ScrollPane(_PaneMixin, VerticalScroll):
    pass
