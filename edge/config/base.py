"""The one pydantic base of every config model, and how validation errors become
messages that name the file and the field (``FILE: path.to.field: what is wrong``)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

NAME_RE = r"^[A-Za-z][A-Za-z0-9_.\-]*$"
TOPIC_SAFE_RE = r"^[A-Za-z0-9][A-Za-z0-9_\-]*$"


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)


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


def format_validation_error(path: str, err: ValidationError, data: Any) -> list[str]:
    msgs: list[str] = []
    for e in err.errors():
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
