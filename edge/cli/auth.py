"""Who runs an operator command on the command line: every command that changes
something runs as an authenticated operator.

* ``--badge BADGE``: the PIN is asked at a prompt (not echoed), or read as one line from
  stdin when stdin is not a terminal (``echo 1111 | lineside … --badge 1001``). Badge and
  PIN entered for the command also sign it.
* ``--credential FILE`` (or ``$LINESIDE_CREDENTIAL``): a script's credential file, badge
  and token, readable by its owner alone (``lineside operator token`` writes it). It
  identifies the operator but never signs: a command that needs a signature (an
  approval, an inspection result) asks for the PIN in addition.

Without either the command is refused (exit 2) and nothing is written; so is a command
the operator's role does not allow (checked by the use case itself).
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from typing import Any

from edge.cli.common import id_arg
from edge.services import session
from edge.services.context import Line, Store
from edge.services.identity import Actor
from edge.services.validate import OperatorInputError

NO_OPERATOR = (
    "--badge/--credential: an operator action needs an authenticated operator: --badge BADGE "
    f"(the PIN is asked, or read from stdin), or --credential FILE (or ${session.CREDENTIAL_ENV})"
)


def add_auth(parser: argparse.ArgumentParser, *, signs: bool = False) -> None:
    """The options that say who runs the command (and, with ``signs``, how it is signed)."""
    g = parser.add_argument_group(
        "operator (one of these is required)",
        "The command runs as an authenticated operator and is audited under their name and badge."
        + (" It is signed with the PIN: with --credential the PIN is asked in addition." if signs else ""),
    )
    g.add_argument(
        "--badge",
        metavar="BADGE",
        type=id_arg,
        help="your badge number; the PIN is asked (or read as one line from stdin)",
    )
    g.add_argument(
        "--credential",
        metavar="FILE",
        help=f"a script's credential file (badge and token, mode 600; default ${session.CREDENTIAL_ENV})",
    )


def read_secret(prompt: str, field: str = "pin") -> str:
    """A PIN from the terminal (not echoed), or one line of stdin when it is not a terminal."""
    text = getpass.getpass(prompt) if sys.stdin.isatty() else sys.stdin.readline()
    text = text.strip()
    if not text:
        raise OperatorInputError(f"{field}: required (type it at the prompt, or one line on stdin)")
    return text


def credential_path(args: argparse.Namespace) -> str | None:
    return getattr(args, "credential", None) or os.environ.get(session.CREDENTIAL_ENV) or None


def operator(args: argparse.Namespace, line: Line, store: Store, *, sign: bool = False) -> Actor:
    """The operator running this command, authenticated (audited; wrong entries count
    toward the lockout); ``sign``: the action is signed with the PIN."""
    badge = getattr(args, "badge", None)
    if badge:
        pin = read_secret(f"PIN for badge {badge}: ")
        return session.authenticate(line, store, badge=badge, pin=pin, via="command line")
    path = credential_path(args)
    if path:
        cred = session.read_credential(path)
        actor = session.authenticate(line, store, badge=cred.badge, token=cred.token, via="command line")
        if sign:
            pin = read_secret(f"PIN of {actor.name} to sign: ")
            actor = session.sign(line, store, actor, pin, pin_only=True, field="pin")
        return actor
    raise OperatorInputError(NO_OPERATOR)


def agent_auth(args: argparse.Namespace) -> dict[str, Any]:
    """What the agent's operator channel needs to authenticate the operator itself."""
    badge = getattr(args, "badge", None)
    if badge:
        return {"badge": badge, "pin": read_secret(f"PIN for badge {badge}: ")}
    path = credential_path(args)
    if path:
        cred = session.read_credential(path)
        return {"badge": cred.badge, "token": cred.token}
    raise OperatorInputError(NO_OPERATOR)
