"""Modal forms of the operator terminal.

Every form works the same way: fields, an error line, Save (Enter on the last field or
Ctrl+S) and Cancel (Esc). Save calls the form's action with the typed values; the
action validates everything before it writes anything, so a refused input leaves the
store untouched, the form open, the typed text in place and a message naming the field.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Select, Static, Tree

from edge.core.errors import LinesideError, StoreError
from edge.services import validate
from edge.services.validate import OperatorInputError


@dataclass
class FormField:
    name: str
    label: str
    kind: str = "text"  # text | password | select
    value: str = ""
    options: Sequence[tuple[str, str]] = ()
    placeholder: str = ""
    hint: str = ""


#: An action gets the typed values and returns a confirmation (or raises a refusal).
Action = Callable[[dict[str, str]], str]


def whole(text: str, field_name: str, *, signed: bool = False) -> int:
    """A count typed by an operator: a whole number (ASCII digits, no ``2_0`` or fullwidth
    ``２０``; spaces between digit groups are dropped), or a refusal naming the field."""
    t = text.strip().replace(" ", "")
    try:
        return validate.whole(t, field_name, lo=-999_999_999 if signed else 0, hi=999_999_999)
    except OperatorInputError:
        what = "a whole number" if signed else "a whole number of parts (0 or more)"
        raise OperatorInputError(f"{field_name}: {text.strip()!r} is not {what}") from None


class FormScreen(ModalScreen[str | None]):
    """A titled form; dismissed with the action's confirmation, or None on cancel."""

    BINDINGS = [
        Binding("escape", "cancel", "Cancel"),
        Binding("ctrl+s", "save", "Save"),
    ]

    def __init__(
        self,
        title: str,
        fields: Sequence[FormField],
        action: Action,
        *,
        intro: str = "",
        on_change: Callable[[str, str], dict[str, str]] | None = None,
    ) -> None:
        super().__init__()
        self.title_text = title
        self.fields = list(fields)
        self.action_fn = action
        self.intro = intro
        self.on_change = on_change

    def compose(self) -> ComposeResult:
        with Vertical(id="form"):
            yield Label(self.title_text, id="form-title")
            if self.intro:
                yield Static(self.intro, id="form-intro")
            with VerticalScroll(id="form-body"):
                yield from self.compose_extra()
                for f in self.fields:
                    with Horizontal(classes="form-row"):
                        yield Label(f.label, classes="form-label")
                        if f.kind == "select":
                            yield Select(
                                list(f.options),
                                value=f.value if f.value else Select.NULL,
                                id=f"f-{f.name}",
                                prompt=f.placeholder or "choose…",
                                allow_blank=not f.value,
                                compact=True,
                            )
                        else:
                            yield Input(
                                f.value,
                                placeholder=f.placeholder,
                                password=f.kind == "password",
                                id=f"f-{f.name}",
                                compact=True,
                            )
                    if f.hint:
                        yield Static(f.hint, classes="form-hint")
            yield Static("", id="form-error")
            with Horizontal(id="form-buttons"):
                yield Button("Save  Ctrl+S", variant="primary", id="save", compact=True)
                yield Button("Cancel  Esc", id="cancel", compact=True)

    def compose_extra(self) -> ComposeResult:
        yield from ()

    def on_mount(self) -> None:
        first = next(iter(self.query("#form-body Input, #form-body Select")), None)
        if first is not None:
            first.focus()

    def values(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for f in self.fields:
            w = self.query_one(f"#f-{f.name}")
            if isinstance(w, Select):
                out[f.name] = "" if w.selection is None else str(w.selection)
            elif isinstance(w, Input):
                out[f.name] = w.value
        return out

    @property
    def error(self) -> str:
        return str(self.query_one("#form-error", Static).content)

    def action_cancel(self) -> None:
        self.dismiss(None)

    def action_save(self) -> None:
        err = self.query_one("#form-error", Static)
        for w in self.query(".-invalid"):
            w.remove_class("-invalid")
        try:
            msg = self.action_fn(self.values())
        except StoreError as e:  # the store did not take it: nothing was written
            err.update(f"✖ the store did not take the input ({e}); nothing was recorded, try again")
            return
        except LinesideError as e:
            text = str(e)
            err.update(f"✖ {text}")
            name = text.split(":", 1)[0].strip()
            for f in self.fields:
                if f.name == name or f.label.lower().startswith(name.lower()):
                    w = self.query_one(f"#f-{f.name}")
                    w.add_class("-invalid")
                    w.focus()
                    break
            return
        self.dismiss(msg)

    @on(Input.Changed)
    def _changed(self, event: Input.Changed) -> None:
        """Fill dependent fields (e.g. a released order's product) as the operator types."""
        if self.on_change is None or not event.input.id or not event.input.id.startswith("f-"):
            return
        for name, value in self.on_change(event.input.id[2:], event.value).items():
            w = self.query_one(f"#f-{name}")
            if isinstance(w, (Select, Input)):
                w.value = value

    @on(Button.Pressed, "#save")
    def _save(self) -> None:
        self.action_save()

    @on(Button.Pressed, "#cancel")
    def _cancel(self) -> None:
        self.dismiss(None)

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        """Enter moves to the next field; on the last one it saves."""
        inputs = [w for w in self.query("Input, Select") if w.id and w.id.startswith("f-")]
        if event.input not in inputs:
            return
        if inputs.index(event.input) < len(inputs) - 1:
            self.focus_next()
        else:
            self.action_save()


@dataclass
class ReasonNode:
    code: str
    name: str
    children: list[ReasonNode] = field(default_factory=list)


class ReasonForm(FormScreen):
    """Assign a reason: search box, the hierarchical reason tree, comment."""

    def __init__(self, title: str, tree: list[ReasonNode], action: Action, *, intro: str = "") -> None:
        super().__init__(
            title,
            [
                FormField("reason", "Reason", placeholder="pick in the tree (Enter)"),
                FormField("comment", "Comment", placeholder="why (required to change a reason)"),
            ],
            action,
            intro=intro,
        )
        self.reasons = tree

    def compose_extra(self) -> ComposeResult:
        yield Input(placeholder="search reasons (code or words)", id="reason-search", compact=True)
        t: Tree[str] = Tree("Reasons", id="reason-tree")
        t.show_root = False
        yield t

    def on_mount(self) -> None:
        self._fill("")
        self.query_one("#reason-search", Input).focus()

    def _fill(self, query: str) -> None:
        q = query.strip().lower()
        t = self.query_one("#reason-tree", Tree)
        t.clear()

        def matches(n: ReasonNode) -> bool:
            return not q or q in n.code.lower() or q in n.name.lower() or any(matches(c) for c in n.children)

        def add(parent: Any, n: ReasonNode) -> None:
            if not matches(n):
                return
            label = f"{n.code}  {n.name}"
            if n.children:
                node = parent.add(label, data=n.code, expand=bool(q))
                for c in n.children:
                    add(node, c)
            else:
                parent.add_leaf(label, data=n.code)

        for n in self.reasons:
            add(t.root, n)
        if q:  # put the cursor on the first reason that matches
            for line in range(t.last_line + 1):
                node = t.get_node_at_line(line)
                if (
                    node is not None
                    and not node.children
                    and node.data
                    and matches(ReasonNode(node.data, str(node.label)))
                ):
                    t.cursor_line = line
                    break

    @on(Input.Changed, "#reason-search")
    def _search(self, event: Input.Changed) -> None:
        self._fill(event.value)

    @on(Input.Submitted, "#reason-search")
    def _search_done(self, event: Input.Submitted) -> None:
        event.stop()
        self.query_one("#reason-tree", Tree).focus()

    @on(Tree.NodeSelected, "#reason-tree")
    def _picked(self, event: Tree.NodeSelected[str]) -> None:
        if event.node.data:
            self.query_one("#f-reason", Input).value = event.node.data
            if not event.node.children:
                self.query_one("#f-comment", Input).focus()
