"""Who runs a plant command: every ``lineside aggregator …`` command that changes
something runs as an authenticated plant user, within their role, and is audited.

The users, their roles and what each role may do are the web view's
(``web.users`` of the aggregator config; ``sync.aggregator.users``), and the audit is
the web view's audit log (``web_audit``, address ``command line``), so a plan approved
in the browser and one approved here read the same.

* ``--user NAME``: the password is asked at a prompt (not echoed), or read as one line
  from stdin when stdin is not a terminal (``echo "$PW" | lineside aggregator … --user
  ana``). Never an argument: it would be in the shell history and the process list.
* ``--credential FILE`` (or ``$LINESIDE_PLANT_CREDENTIAL``): a script's credential file,
  user name and token, readable by its owner alone (``lineside aggregator user token``
  writes it). It identifies the user but never signs: an approval asks for the
  password in addition.

Without either the command is refused (exit 2) and nothing is written; so is a command
outside the user's role.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from typing import Any

from sync.aggregator.users import (
    PERMISSION_TEXT,
    AuditNote,
    PlantAuthError,
    PlantUser,
    audit,
    authenticate,
    authenticate_token,
    authorize,
)

CREDENTIAL_ENV = "LINESIDE_PLANT_CREDENTIAL"

NO_USER = (
    "--user/--credential: a plant action needs an authenticated plant user (web.users): --user NAME "
    f"(the password is asked, or read as one line from stdin), or --credential FILE (or ${CREDENTIAL_ENV})"
)


class _Removed(argparse.Action):
    """``--by NAME`` used to say who approved, as free text; refuse it with the way now."""

    def __call__(self, parser: Any, namespace: Any, values: Any, option_string: str | None = None) -> None:
        namespace.by_given = True


def add_plant_auth(
    parser: argparse.ArgumentParser, permission: str, *, signs: bool = False, when: str = ""
) -> None:
    """The options that say which plant user runs the command (the role needs ``permission``)."""
    g = parser.add_argument_group(
        f"plant user (one of these is required{' ' + when if when else ''})",
        f"The command runs as a plant user of web.users whose role may {PERMISSION_TEXT[permission]}, "
        "and is audited under their name (the web view's audit log). A failed login is audited "
        "too, and lockout.max_failures of them within lockout.window_s lock the user (here and on "
        "the web) for lockout.lock_s."
        + (
            " It is signed with the password: with --credential the password is asked in addition."
            if signs
            else ""
        ),
    )
    g.add_argument(
        "--user",
        metavar="NAME",
        help="your plant user name; the password is asked (or read as one line from stdin)",
    )
    g.add_argument(
        "--credential",
        metavar="FILE",
        help=f"a script's credential file (user and token, mode 600; default ${CREDENTIAL_ENV})",
    )
    parser.add_argument("--by", nargs="?", action=_Removed, help=argparse.SUPPRESS)
    parser.set_defaults(by_given=False)


def read_password(prompt: str) -> str:
    """A password from the terminal (not echoed), or one line of stdin when it is not a terminal."""
    text = getpass.getpass(prompt) if sys.stdin.isatty() else sys.stdin.readline()
    text = text.rstrip("\r\n")
    if not text:
        raise PlantAuthError("password: required (type it at the prompt, or one line on stdin)")
    return text


def plant_user(args: argparse.Namespace, cfg: Any, permission: str, *, sign: bool = False) -> PlantUser:
    """The plant user running this command: authenticated, and allowed ``permission``
    (refused with exit 2 before anything is written otherwise)."""
    from edge.services.session import read_credential_fields

    if getattr(args, "by_given", False):
        raise PlantAuthError(
            "--by: removed; who acts is now the authenticated plant user: --user NAME (the password "
            "is asked) or --credential FILE"
        )
    name = getattr(args, "user", None)
    if name:
        user = authenticate(cfg, name, read_password(f"password for plant user {name}: "), field="--user")
        authorize(user, permission, field="--user")
        return user
    path = getattr(args, "credential", None) or os.environ.get(CREDENTIAL_ENV) or None
    if path:
        cred = read_credential_fields(path, ("user", "token"))
        user = authenticate_token(cfg, cred["user"], cred["token"], field="--credential")
        authorize(user, permission, field="--credential")
        if sign:
            user = authenticate(
                cfg, user.name, read_password(f"password of {user.name} to sign: "), field="password"
            )
        return user
    raise PlantAuthError(NO_USER)


def audited(
    cfg: Any, user: PlantUser, action: str, entity: str, detail: str = "", meaning: str = "performed"
) -> None:
    """Record a plant command in the audit log the web view keeps."""
    audit(cfg, user, action, entity, detail, meaning=meaning, address=f"command line ({user.via})")


def note(user: PlantUser, action: str, detail: str = "", meaning: str = "performed") -> AuditNote:
    """The audit entry of a plant command, for a service that writes it in the same
    transaction as the action (it fills in the entity: a plan, the lines)."""
    return AuditNote(user, action, "", detail, meaning, f"command line ({user.via})")
