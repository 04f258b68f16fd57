"""The one pydantic base of every config model, and how validation errors become
messages that name the file and the field (``FILE: path.to.field: what is wrong``)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, ValidationError

from edge.core.parse import check_id

NAME_RE = r"^[A-Za-z][A-Za-z0-9_.\-]*$"
TOPIC_SAFE_RE = r"^[A-Za-z0-9][A-Za-z0-9_\-]*$"

#: An identifier that comes from outside (work order, product, material, lot): the one
#: id rule of :func:`edge.core.parse.check_id` — printable, 1..64 characters, no white
#: space, no ``+ # /``, no control characters.
Id = Annotated[str, AfterValidator(check_id)]


class Model(BaseModel):
    """Every config section: unknown keys are errors, values are frozen, and every number
    is finite (``.nan`` and ``.inf`` are refused wherever a float is read: scale, offset,
    specification and plausible limits, deadbands, durations …)."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True, allow_inf_nan=False)


class CrossCheckError(ValueError):
    """Errors found across sections; each item already carries its field path."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("; ".join(errors))
        self.errors = errors


def _loc(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            # Discriminated-union branches show up as the tag value; they are noise here.
            if part in ("opcua", "modbus_tcp", "modbus_rtu", "ethernetip") and out.startswith("devices"):
                continue
            out += ("." if out else "") + str(part)
    return out or "(top level)"


def _named(data: Any, loc: tuple[Any, ...]) -> str:
    """`` (tag 'x')`` for an error under a named list item, so the message names the entity."""
    if len(loc) >= 2 and loc[0] in ("tags", "devices") and isinstance(loc[1], int):
        try:
            name = data[loc[0]][loc[1]].get("name")
        except (KeyError, IndexError, TypeError, AttributeError):
            return ""
        if name:
            return f" ({loc[0][:-1]} {name!r})"
    return ""


#: How pydantic names the branches of a plain union (``bool | int | float | str``) in an
#: error's location.
_BRANCHES = frozenset({"bool", "int", "float", "str", "none", "list", "dict", "tuple"})


def _merge_union_branches(errors: list[Any]) -> list[Any]:
    """One error per field of a plain union instead of one per branch: a ``.nan`` given
    for ``value: bool | int | float | str`` is "not a finite number", not four messages."""
    out: list[Any] = []
    groups: dict[tuple[Any, ...], list[Any]] = {}
    for e in errors:
        loc = e["loc"]
        last = loc[-1] if loc else None
        if isinstance(last, str) and (last in _BRANCHES or "[" in last) and len(loc) > 1:
            key = tuple(loc[:-1])
            if key not in groups:
                groups[key] = []
                out.append(("group", key))
            groups[key].append(e)
        else:
            out.append(e)
    merged: list[Any] = []
    for item in out:
        if not (isinstance(item, tuple) and item[0] == "group"):
            merged.append(item)
            continue
        branch = groups[item[1]]
        if len(branch) == 1:
            merged.append(branch[0])
            continue
        finite = next((b for b in branch if b["type"] == "finite_number"), None)
        first = dict(finite or branch[0])
        first["loc"] = item[1]
        if finite is None:
            first["msg"] = "Input should be one of: " + ", ".join(str(b["loc"][-1]) for b in branch)
        merged.append(first)
    return merged


def format_validation_error(path: str, err: ValidationError, data: Any) -> list[str]:
    msgs: list[str] = []
    for e in _merge_union_branches(err.errors()):
        ctx = e.get("ctx") or {}
        inner = ctx.get("error")
        if isinstance(inner, CrossCheckError):
            msgs.extend(f"{path}: {m}" for m in inner.errors)
            continue
        msg = e["msg"]
        if e["type"] == "extra_forbidden":
            msg = "unknown key (check spelling; see `lineside config schema`)"
        elif e["type"] == "missing":
            msg = "required field is missing"
        elif msg.startswith("Value error, "):
            msg = msg[len("Value error, ") :]
        if (
            e["type"] not in ("missing", "extra_forbidden")
            and "input" in e
            and not isinstance(e["input"], dict | list)
        ):
            msg += f" (got {e['input']!r})"
        msgs.append(f"{path}: {_loc(e['loc'])}: {msg}{_named(data, e['loc'])}")
    return msgs
