"""The agent's operator channel: a local Unix socket on which the operator terminal and
``lineside write`` hand operator actions to the agent.

Why: the audit trail is signed with a key only the agent's user may read. The terminal
runs as another user (``lineside-operator``) with read access to the store and none to
the key, so it cannot write an audit entry, or anything, itself; it asks the agent. The
agent checks who is at the other end of the socket (the peer's credentials: its own
user, root, or a process of its group, which is how the terminal's unit runs),
authenticates the operator itself (a session opened with badge or PIN, badge and PIN,
or a credential file's token), authorizes, runs the same use case as the command line
and audits it (``edge.services``). The wire format is in ``edge.services.gateway``.

The socket is created mode 660 in a directory only the agent's user and group may
enter (``RuntimeDirectory=lineside``, mode 750). Requests are served on threads with
the channel's own store connection, one at a time (a PLC write waits for the device
outside that turn).
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import socketserver
import stat
import struct
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

from edge.config.line import LineConfig
from edge.core.errors import LinesideError, WriteRefused
from edge.services import session
from edge.services.context import LineContext, Store, line_context, open_store
from edge.services.gateway import (
    ACTIONS,
    VERSION,
    SessionEnded,
    agent_socket,
    encode_message,
    error_reply,
    read_message,
    short_path,
    validate_args,
)
from edge.services.identity import Actor, unsigned
from edge.services.validate import OperatorInputError, plain_text
from edge.services.writes import audit_write, authorize_write

log = logging.getLogger("lineside.channel")

#: ``write(tag, value, requested_by, reason)``: the agent's allow-listed write, blocking
#: until the outcome; raises WriteRefused (refused) or LinesideError (failed).
WriteFn = Callable[[str, Any, str, str], None]


class Peer(NamedTuple):
    pid: int
    uid: int
    gid: int


def peer_of(sock: socket.socket) -> Peer:
    """Who is at the other end of a Unix socket (the kernel's word, not the peer's)."""
    pid, uid, gid = struct.unpack("3i", sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12))
    return Peer(pid, uid, gid)


def default_peer_rule(peer: Peer) -> bool:
    """The agent's own user, root, or a process running with the agent's group."""
    return peer.uid in (0, os.geteuid()) or peer.gid == os.getegid()


class OperatorChannel:
    """Serves operator actions for one line on a Unix socket (see the module docstring)."""

    def __init__(
        self,
        cfg: LineConfig,
        path: Path | None = None,
        *,
        write: WriteFn | None = None,
        allow: Callable[[Peer], bool] = default_peer_rule,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.cfg = cfg
        #: Wall-clock time of logins and signatures (the lockout counts in it).
        self.clock = clock
        self.path = path if path is not None else agent_socket(cfg)
        self.write = write
        self.allow = allow
        self.store: Store | None = None
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._turn = threading.Lock()
        #: session token -> (actor, last use); a session ends after tui.idle_logout_s unused.
        self._sessions: dict[str, tuple[Actor, float]] = {}
        self._inode: int | None = None

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        """Bind the socket (mode 660) and serve on a thread; refused if another process
        serves this line's channel."""
        self._remove_stale()
        self.store = open_store(self.cfg)
        server = _Server(self)
        try:
            with short_path(self.path) as addr:
                server.socket.bind(addr)
            os.chmod(self.path, 0o660)
        except OSError as e:
            server.server_close()
            self.store.close()
            self.store = None
            raise LinesideError(
                f"{self.path}: cannot serve the operator channel ({e.strerror}); "
                "check agent.socket and that its directory exists"
            ) from None
        self._inode = os.stat(self.path).st_ino
        server.server_activate()
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, name="operator-channel", daemon=True)
        self._thread.start()
        log.info("operator channel on %s", self.path)

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        try:
            if self._inode is not None and os.stat(self.path).st_ino == self._inode:
                os.unlink(self.path)
        except FileNotFoundError:
            pass
        if self.store is not None:
            self.store.close()
            self.store = None

    def _remove_stale(self) -> None:
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return
        if not stat.S_ISSOCK(st.st_mode):
            raise LinesideError(f"{self.path}: exists and is not a socket; cannot serve the operator channel")
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            with short_path(self.path) as addr:
                probe.connect(addr)
        except OSError:
            os.unlink(self.path)  # left by an agent that did not stop cleanly
            return
        finally:
            probe.close()
        raise LinesideError(f"{self.path}: another agent serves this line's operator channel; stop it first")

    # ------------------------------------------------------------------ requests

    def serve(self, msg: dict[str, Any], peer: Peer) -> dict[str, Any]:
        """The reply to one request from ``peer`` (every refusal as a reply, never raised)."""
        if not self.allow(peer):
            log.warning("operator channel: refused a request from uid %d (pid %d)", peer.uid, peer.pid)
            return error_reply(
                OperatorInputError(f"refused: uid {peer.uid} may not use this line's operator channel")
            )
        try:
            if msg.get("v") != VERSION:
                raise OperatorInputError(f"v: this agent speaks version {VERSION} of the operator channel")
            op = msg.get("op")
            if op == "write":
                return {"ok": True, "result": self._write(msg)}
            with self._turn:
                if op == "login":
                    return {"ok": True, "result": self._login(msg)}
                if op == "logout":
                    self._logout(msg)
                    return {"ok": True, "result": None}
                if op == "call":
                    return {"ok": True, "result": self._call(msg)}
                if op == "touch":
                    self._actor(msg)
                    return {"ok": True, "result": None}
            raise OperatorInputError(f"op: {op!r} is not one of login, logout, touch, call, write")
        except LinesideError as e:
            return error_reply(e)
        except Exception as e:  # a bug must not take the channel down; the journal has it
            log.exception("operator channel: request failed")
            return error_reply(LinesideError(f"internal error: {type(e).__name__}: {e}"))

    def _ctx(self) -> tuple[LineContext, Store]:
        assert self.store is not None, "the channel is not started"
        return line_context(self.cfg, self.store), self.store

    def _login(self, msg: dict[str, Any]) -> dict[str, Any]:
        ctx, store = self._ctx()
        actor = session.log_in(
            ctx, store, _text(msg, "entered"), pin=_text(msg, "pin", required=False), now=self.clock()
        )
        token = secrets.token_urlsafe(32)
        self._expire()
        self._sessions[token] = (unsigned(actor), time.monotonic())
        return {"session": token, "actor": actor.as_dict()}

    def _logout(self, msg: dict[str, Any]) -> None:
        ctx, store = self._ctx()
        auth = msg.get("auth") or {}
        token = auth.get("session") if isinstance(auth, dict) else None
        held = self._sessions.pop(str(token), None)
        if held is not None:
            session.log_out(
                ctx, store, held[0], reason=_text(msg, "reason", required=False), now=self.clock()
            )

    def _expire(self) -> None:
        ttl = self.cfg.tui.idle_logout_s
        now = time.monotonic()
        for token, (_actor, used) in list(self._sessions.items()):
            if now - used > ttl:
                del self._sessions[token]

    def _actor(self, msg: dict[str, Any]) -> Actor:
        """Who asks: a session of the terminal, or badge and PIN or token sent with it."""
        ctx, store = self._ctx()
        auth = msg.get("auth")
        if not isinstance(auth, dict):
            raise OperatorInputError("credential: required (log in first)")
        if "session" in auth:
            self._expire()
            token = str(auth["session"])
            held = self._sessions.get(token)
            if held is None:
                raise SessionEnded(
                    "credential: the session has ended (logged out, no input for a while, or the agent "
                    "restarted); log in again"
                )
            self._sessions[token] = (held[0], time.monotonic())
            return held[0]
        badge = auth.get("badge")
        if not isinstance(badge, str) or not badge.strip():
            raise OperatorInputError("credential: a badge number is required")
        if isinstance(auth.get("pin"), str):
            return session.authenticate(
                ctx, store, badge=badge, pin=auth["pin"], via="command line", now=self.clock()
            )
        if isinstance(auth.get("token"), str):
            return session.authenticate(
                ctx, store, badge=badge, token=auth["token"], via="command line", now=self.clock()
            )
        raise OperatorInputError("credential: a PIN or a credential file's token is required")

    def _call(self, msg: dict[str, Any]) -> Any:
        actor = self._actor(msg)
        name = msg.get("action")
        fn = ACTIONS.get(str(name))
        if fn is None:
            raise OperatorInputError(f"action: {name!r} is not an action of the operator channel")
        args = msg.get("args") or {}
        if not isinstance(args, dict):
            raise OperatorInputError("args: expected the action's arguments by name")
        kwargs = validate_args(str(name), args)
        ctx, store = self._ctx()
        if msg.get("sign") is not None:
            actor = session.sign(ctx, store, actor, _text(msg, "sign"), now=self.clock())
        return fn(ctx, store, actor, **kwargs)

    def _write(self, msg: dict[str, Any]) -> str:
        with self._turn:
            actor = self._actor(msg)
            authorize_write(actor)
        tag = _text(msg, "tag")
        value = msg.get("value")
        reason = plain_text(_text(msg, "reason", required=False).strip(), "reason")
        outcome, error = "ok", None
        raised: LinesideError | None = None
        try:
            if self.write is None:
                raise LinesideError("this process has no PLC access (the agent serves writes)")
            self.write(tag, value, actor.who, reason)
        except WriteRefused as e:
            outcome, error, raised = "refused", str(e), e
        except LinesideError as e:
            outcome, error, raised = "failed", str(e), e
        with self._turn:
            ctx, store = self._ctx()
            audit_write(ctx, store, actor, tag, value, outcome, reason=reason, error=error)
        if raised is not None:
            raise raised
        return outcome


def _text(msg: dict[str, Any], key: str, *, required: bool = True) -> str:
    v = msg.get(key)
    if v is None and not required:
        return ""
    if not isinstance(v, str) or (required and not v.strip()):
        raise OperatorInputError(f"{key}: required")
    return v


class _Handler(socketserver.StreamRequestHandler):
    timeout = 10.0  # a peer that connects and says nothing does not hold a thread
    server: _Server

    def handle(self) -> None:
        channel = self.server.channel
        try:
            peer = peer_of(self.connection)
            msg = read_message(self.rfile)
        except (OSError, ValueError) as e:
            reply = error_reply(OperatorInputError(f"request: not a request of the operator channel ({e})"))
        else:
            reply = channel.serve(msg, peer)
        try:
            self.wfile.write(encode_message(reply))
        except OSError:  # the peer went away; it learns nothing, and nothing more happens
            pass


class _Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True

    def __init__(self, channel: OperatorChannel) -> None:
        # Bound by the channel (long paths go through /proc/self/fd), not by the base class.
        super().__init__(str(channel.path), _Handler, bind_and_activate=False)
        self.channel = channel
