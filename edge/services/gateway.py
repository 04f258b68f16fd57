"""How an operator's action reaches the use cases: the catalogue of actions the agent's
operator channel serves, the wire format of that channel, and its client.

The operator terminal runs as a user who may read the line's store but not the audit
trail's signing key, so it cannot write an audit entry, and therefore nothing, itself.
It hands every action to the agent over a local Unix socket (the *operator channel*,
``edge.runtime.channel``); the agent checks the peer, authenticates the operator
(``session``), authorizes, runs the same use case as the command line and audits it.

Wire format: one JSON object per line each way, one request per connection.

* ``{"v": 1, "op": "login", "entered": "1001", "pin": ""}`` → ``{"ok": true, "session":
  TOKEN, "actor": {…}}`` (a session lasts until ``logout`` or ``tui.idle_logout_s``
  without use);
* ``{"v": 1, "op": "logout", "auth": {"session": TOKEN}, "reason": "inactivity"}``;
  ``{"v": 1, "op": "touch", "auth": {"session": TOKEN}}`` keeps a session whose operator
  is busy at the terminal (typing a form) alive;
* ``{"v": 1, "op": "call", "auth": AUTH, "action": "production.order_command", "args":
  {…}, "sign": "1111"}`` → ``{"ok": true, "result": …}``. ``sign`` (badge or PIN entered
  for this action) signs it; ``args`` are the use case's arguments after the actor;
* ``{"v": 1, "op": "write", "auth": AUTH, "tag": "filler.andon", "value": "1", "reason":
  "…"}`` → ``{"ok": true, "result": "ok"}`` (``lineside write``);
* ``AUTH`` is ``{"session": TOKEN}``, ``{"badge": B, "pin": P}`` or ``{"badge": B,
  "token": T}`` (a credential file);
* refusals: ``{"ok": false, "error": {"kind": K, "message": M}}`` with ``K`` one of
  ``refused`` (operator input or role: exit 2), ``session`` (log in again),
  ``write_refused`` (exit 3), ``store`` and ``failed`` (exit 1).
"""

from __future__ import annotations

import inspect
import json
import os
import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import Any, Concatenate, ParamSpec, TypeVar, get_type_hints

from pydantic import BaseModel, ConfigDict, ValidationError, create_model

from edge.config.line import LineConfig
from edge.core.errors import LinesideError, StoreError, WriteRefused
from edge.services import holds, inspections, maintenance, materials, plan, production, quality, trace
from edge.services.context import Line, config_of
from edge.services.identity import Actor
from edge.services.validate import OperatorInputError
from edge.store import Store

P = ParamSpec("P")
R = TypeVar("R")
#: A use case performed by an actor: ``fn(line, store, actor, *args, **kwargs)``.
ActionFn = Callable[Concatenate[Line, Store, Actor, P], R]

VERSION = 1
MAX_MESSAGE = 256 * 1024
#: How long a client waits for the agent's answer (a PLC write waits for the device).
ANSWER_TIMEOUT_S = 30.0


def action_name(fn: Callable[..., Any]) -> str:
    """``production.order_command``: the module (in ``edge.services``) and the function."""
    return f"{fn.__module__.rsplit('.', 1)[-1]}.{fn.__name__}"


#: The use cases the operator channel performs, by name.
ACTIONS: dict[str, Callable[..., Any]] = {
    action_name(fn): fn
    for fn in (
        production.assign_reason,
        production.split_event,
        production.order_command,
        plan.block_order,
        plan.unblock_order,
        production.adjust_count,
        quality.ack_alarms,
        quality.enter_measurement,
        quality.request_limits,
        quality.approve_limits,
        quality.reject_limits,
        inspections.record,
        inspections.release_hold,
        maintenance.request_maintenance,
        maintenance.technician_step,
        maintenance.approve_request,
        maintenance.receive_part,
        maintenance.count_part,
        trace.register_produced,
        trace.register_consumed,
        materials.move_in,
        materials.move_out,
        materials.count,
        materials.issue,
        holds.put_on_hold,
        holds.dispose,
    )
}


@cache
def args_model(name: str) -> type[BaseModel]:
    """A model of an action's arguments after (line, store, actor), from its signature:
    what the channel accepts for it (unknown arguments are refused, and types are not
    coerced: ``true`` is not a quantity, ``"5"`` not a count; the use case then applies
    the strict input rules of ``edge.services.validate``)."""
    fn = ACTIONS[name]
    hints = get_type_hints(fn)
    fields: dict[str, Any] = {}
    for i, (pname, prm) in enumerate(inspect.signature(fn).parameters.items()):
        if i < 3 or pname == "now":
            continue
        default = ... if prm.default is inspect.Parameter.empty else prm.default
        fields[pname] = (hints[pname], default)
    return create_model(f"{fn.__name__}_args", __config__=ConfigDict(extra="forbid", strict=True), **fields)


def bind_args(fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
    """An action's arguments after (line, store, actor) by name, as the channel sends them."""
    bound = inspect.signature(fn).bind(None, None, None, *args, **kwargs)
    return dict(list(bound.arguments.items())[3:])


def validate_args(name: str, args: dict[str, Any]) -> dict[str, Any]:
    """The arguments of action ``name`` checked against its signature, or a refusal."""
    try:
        model = args_model(name).model_validate(args)
    except ValidationError as e:
        first = e.errors()[0]
        where = ".".join(str(x) for x in first["loc"]) or "args"
        raise OperatorInputError(f"{where}: {first['msg']}") from None
    return {k: getattr(model, k) for k in model.model_fields_set}


# ----------------------------------------------------------------------------- errors on the wire


class SessionEnded(OperatorInputError):
    """The terminal's session is unknown to the agent (logged out, idle too long, or the
    agent restarted): log in again."""


ERROR_KINDS: dict[str, type[LinesideError]] = {
    "session": SessionEnded,
    "refused": OperatorInputError,
    "write_refused": WriteRefused,
    "store": StoreError,
    "failed": LinesideError,
}


def error_reply(e: LinesideError) -> dict[str, Any]:
    """The reply for an error raised while serving a request."""
    if isinstance(e, WriteRefused):
        kind = "write_refused"
    elif isinstance(e, SessionEnded):
        kind = "session"
    elif isinstance(e, OperatorInputError):
        kind = "refused"
    elif isinstance(e, StoreError):
        kind = "store"
    else:
        kind = "failed"
    return {"ok": False, "error": {"kind": kind, "message": str(e)}}


class AgentUnavailable(LinesideError):
    """The agent does not answer on its operator channel: nothing was recorded."""


# ----------------------------------------------------------------------------- where the channel is

#: Set by systemd from ``RuntimeDirectory=`` (the agent's unit; the terminal's sets it by hand).
RUNTIME_DIRECTORY = "RUNTIME_DIRECTORY"


def agent_socket(line: Line) -> Path:
    """The operator channel's socket: ``agent.socket`` if set; else, under systemd
    (``$RUNTIME_DIRECTORY``), ``STORE_NAME.sock`` there; else beside the store."""
    cfg: LineConfig = config_of(line)
    if cfg.agent.socket is not None:
        return cfg.agent.socket
    name = cfg.store.path.name + ".sock"
    runtime = os.environ.get(RUNTIME_DIRECTORY, "").split(":")[0].strip()
    return Path(runtime) / name if runtime else cfg.store.path.with_name(name)


@contextmanager
def short_path(path: Path) -> Iterator[str]:
    """An address for ``path`` that fits a Unix socket's 107 bytes: the path itself, or
    ``/proc/self/fd/N/NAME`` through a descriptor of its directory (deep test folders)."""
    if len(os.fsencode(path)) < 100:
        yield str(path)
        return
    fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        yield f"/proc/self/fd/{fd}/{path.name}"
    finally:
        os.close(fd)


def read_message(f: Any) -> dict[str, Any]:
    """One JSON object from a line of ``f`` (a socket file); ValueError if it is not one."""
    raw = f.readline(MAX_MESSAGE + 1)
    if not raw:
        raise ValueError("no request")
    if len(raw) > MAX_MESSAGE:
        raise ValueError(f"message longer than {MAX_MESSAGE} bytes")
    msg = json.loads(raw)
    if not isinstance(msg, dict):
        raise ValueError("a message is a JSON object")
    return msg


def encode_message(msg: dict[str, Any]) -> bytes:
    return json.dumps(msg, separators=(",", ":"), default=str).encode() + b"\n"


# ----------------------------------------------------------------------------- the client


class AgentClient:
    """The agent's operator channel as the terminal (and ``lineside write``) use it.

    Keeps the terminal's session: :meth:`log_in` opens it, :meth:`call` performs an
    action as the logged-in operator, :meth:`log_out` ends it. Every failure to reach the
    agent is :class:`AgentUnavailable`: nothing was recorded."""

    def __init__(self, path: Path, *, timeout: float = ANSWER_TIMEOUT_S) -> None:
        self.path = path
        self.timeout = timeout
        self.session: str | None = None

    def request(self, msg: dict[str, Any]) -> Any:
        """Send one request and return the reply's result, or raise what the agent raised."""
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
                s.settimeout(self.timeout)
                with short_path(self.path) as addr:
                    s.connect(addr)
                s.sendall(encode_message({"v": VERSION, **msg}))
                with s.makefile("rb") as f:
                    reply = read_message(f)
        except FileNotFoundError:
            raise AgentUnavailable(
                f"the agent is not running (no operator channel at {self.path}): nothing was recorded"
            ) from None
        except (ConnectionRefusedError, ConnectionResetError, BrokenPipeError):
            raise AgentUnavailable(
                f"the agent does not answer on {self.path} (not running?): nothing was recorded"
            ) from None
        except PermissionError:
            raise AgentUnavailable(
                f"{self.path}: this user may not use the agent's operator channel (see README, "
                "Running as a service)"
            ) from None
        except TimeoutError:
            raise AgentUnavailable(
                f"the agent did not answer within {self.timeout:.0f} s; the action may or may not be recorded"
            ) from None
        except (OSError, ValueError) as e:
            raise AgentUnavailable(f"the operator channel at {self.path} failed: {e}") from None
        if reply.get("ok"):
            return reply.get("result")
        err = reply.get("error") or {}
        kind = ERROR_KINDS.get(str(err.get("kind")), LinesideError)
        raise kind(str(err.get("message", "refused")))

    def log_in(self, entered: str, pin: str = "") -> Actor:
        result = self.request({"op": "login", "entered": entered, "pin": pin})
        self.session = str(result["session"])
        return Actor.from_dict(result["actor"])

    def log_out(self, reason: str = "") -> None:
        session, self.session = self.session, None
        if session is not None:
            self.request({"op": "logout", "auth": {"session": session}, "reason": reason})

    def touch(self) -> None:
        """Tell the agent the logged-in operator is still at the terminal."""
        if self.session is not None:
            self.request({"op": "touch", "auth": {"session": self.session}})

    def _auth(self) -> dict[str, str]:
        if self.session is None:
            raise OperatorInputError("credential: nobody is logged in")
        return {"session": self.session}

    def call(self, fn: ActionFn[P, R], /, *args: P.args, **kwargs: P.kwargs) -> R:
        """Perform ``fn`` as the logged-in operator (in the agent)."""
        return self.request(  # type: ignore[no-any-return]
            {
                "op": "call",
                "auth": self._auth(),
                "action": action_name(fn),
                "args": bind_args(fn, args, kwargs),
            }
        )

    def call_signed(self, entered: str, fn: ActionFn[P, R], /, *args: P.args, **kwargs: P.kwargs) -> R:
        """Perform ``fn`` as the logged-in operator, signed with ``entered`` (badge or PIN)."""
        return self.request(  # type: ignore[no-any-return]
            {
                "op": "call",
                "auth": self._auth(),
                "action": action_name(fn),
                "args": bind_args(fn, args, kwargs),
                "sign": entered,
            }
        )

    def write(self, auth: dict[str, str], tag: str, value: Any, reason: str = "") -> str:
        """``lineside write``: a write through the agent's allow-list, as the operator
        ``auth`` names (badge and PIN, or badge and token)."""
        return str(self.request({"op": "write", "auth": auth, "tag": tag, "value": value, "reason": reason}))
