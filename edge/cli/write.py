"""``lineside write``: an authenticated, audited write to a PLC tag through the running
agent's allow-list. The command line does not talk to PLCs: it hands the request to the
agent over its operator channel (``edge.runtime.channel``), which authenticates the
operator, checks the role (permission ``write``), writes through ``Agent.write`` (the
tag must be ``writable: true``; the value must fit the tag's type), records the request
and its outcome in ``writes`` and the audit trail, and answers with the outcome."""

from __future__ import annotations

import argparse
import json
from typing import Any

from edge.cli.auth import add_auth, agent_auth
from edge.cli.common import _load, text_arg


def _value(text: str) -> Any:
    """The value as typed: a JSON list for array tags, else the text (the agent converts it
    to the tag's type, or refuses it)."""
    if text.strip().startswith("["):
        try:
            return json.loads(text)
        except ValueError:
            return text
    return text


def cmd_write(args: argparse.Namespace) -> int:
    from edge.services.gateway import AgentClient, agent_socket

    cfg = _load(args.config)
    auth = agent_auth(args)
    outcome = AgentClient(agent_socket(cfg)).write(auth, args.tag, _value(args.value), args.reason or "")
    print(f"{args.tag} = {args.value}: {outcome}")
    return 0


def register(sub: Any) -> None:
    w = sub.add_parser(
        "write",
        help="write a value to a writable PLC tag through the running agent (authenticated, audited)",
        description="Write VALUE to TAG through the running agent: only tags with writable: true, only "
        "values that fit the tag's type (40000 does not fit an int16, -1 not a uint32, a string not "
        "more than its length), only operators whose role holds the write permission. Every request "
        "and its outcome is recorded in `writes` and the audit trail. Exit 0 written, 3 refused "
        "(unknown or not writable tag, value out of range), 2 not authenticated or not allowed, "
        "1 failed (device down, no answer, agent not running).",
    )
    w.add_argument("-c", "--config", required=True, help="line config file (YAML)")
    w.add_argument("tag", help="tag name (writable: true in the config)")
    w.add_argument("value", help="value: a number, true/false, text, or a JSON list for array tags")
    w.add_argument("--reason", type=text_arg, help="why (recorded with the write)")
    add_auth(w)
    w.set_defaults(func=cmd_write)
