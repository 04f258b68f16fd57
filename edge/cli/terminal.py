"""Commands for the operator terminal: ``lineside tui`` and ``lineside operator``."""

from __future__ import annotations

import argparse
import getpass
import sys
from typing import Any

from edge.cli.common import _load
from edge.core.errors import LinesideError


def cmd_tui(args: argparse.Namespace) -> int:
    from edge.tui.app import LinesideApp

    cfg = _load(args.config)
    LinesideApp(cfg, theme=args.theme).run()
    return 0


def cmd_hash_pin(args: argparse.Namespace) -> int:
    """Print a PIN hash for the config; reuses the salt already in the config if any."""
    from edge.config.operators import PIN_RE, hash_pin, parse_hash

    salt = None
    if args.config:
        cfg = _load(args.config)
        for op in cfg.operators:
            if op.pin_hash:
                salt = parse_hash(op.pin_hash)[1]
                break
    if sys.stdin.isatty():
        pin = getpass.getpass("PIN (4-12 digits): ")
        if getpass.getpass("again: ") != pin:
            raise LinesideError("PIN: the two entries differ")
    else:
        pin = sys.stdin.readline().strip()
    if not PIN_RE.match(pin):
        raise LinesideError("PIN: 4 to 12 digits")
    print(hash_pin(pin, salt=salt))
    return 0


def cmd_operator_login(args: argparse.Namespace) -> int:
    """Check a badge or PIN as the terminal's login does (same lockout, same audit)."""
    from edge.services import session
    from edge.services.context import open_store

    cfg = _load(args.config)
    credential = getpass.getpass("badge or PIN: ") if sys.stdin.isatty() else sys.stdin.readline().strip()
    with open_store(cfg) as st:
        op = session.log_in(cfg, st, credential)
    print(
        f"{op.name} ({op.badge}), role {op.role}: may {', '.join(sorted(cfg.tui.permissions(op.role))) or 'nothing'}"
    )
    return 0


def cmd_operator_list(args: argparse.Namespace) -> int:
    cfg = _load(args.config)
    print(f"{'badge':<12} {'name':<28} {'role':<12} pin  permissions")
    for op in cfg.operators:
        perms = ", ".join(sorted(cfg.tui.permissions(op.role)))
        print(f"{op.badge:<12} {op.name:<28} {op.role:<12} {'yes' if op.pin_hash else 'no ':<4} {perms}")
    if not cfg.operators:
        print("no operators configured (add operators: to the line config)")
    return 0


def register(sub: Any) -> None:
    t = sub.add_parser(
        "tui",
        help="operator terminal: line overview, downtime, production, SPC, inspections, maintenance, shift",
        description="Keyboard-first operator terminal on the line's store. Runs beside the agent and "
        "keeps working while the agent or the uplink is down; input is stored and applied by the "
        "agent. F1-F7 switch screens, F9 logs in/out, F10 quits.",
    )
    t.add_argument("-c", "--config", required=True, help="line config file (YAML)")
    t.add_argument(
        "--theme", choices=["dark", "light", "high-contrast"], help="colour theme (default: tui.theme)"
    )
    t.set_defaults(func=cmd_tui)

    op = sub.add_parser("operator", help="operators of the terminal: hash a PIN, list operators and rights")
    opsub = op.add_subparsers(dest="operator_command", metavar="SUBCOMMAND")
    h = opsub.add_parser(
        "hash-pin",
        help="read a PIN (prompt, or one line on stdin) and print its hash for operators[].pin_hash",
    )
    h.add_argument("-c", "--config", help="line config: reuse its PIN salt (faster PIN login)")
    h.set_defaults(func=cmd_hash_pin)
    li = opsub.add_parser(
        "login",
        help="check a badge or PIN as the terminal's login does (prompt, or one line on stdin); "
        "audited, and five wrong entries in a row lock the login for a minute",
    )
    li.add_argument("-c", "--config", required=True, help="line config file (YAML)")
    li.set_defaults(func=cmd_operator_login)
    ls = opsub.add_parser("list", help="operators, roles and what each may do")
    ls.add_argument("-c", "--config", required=True, help="line config file (YAML)")
    ls.set_defaults(func=cmd_operator_list)
