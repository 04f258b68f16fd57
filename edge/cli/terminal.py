"""Commands for the operator terminal: ``lineside tui`` and ``lineside operator``."""

from __future__ import annotations

import argparse
import getpass
import sys
from typing import Any

from edge.cli.common import _load
from edge.services.validate import OperatorInputError


def cmd_tui(args: argparse.Namespace) -> int:
    from edge.tui.app import LinesideApp

    cfg = _load(args.config)
    LinesideApp(cfg, theme=args.theme).run()
    return 0


def cmd_hash_pin(args: argparse.Namespace) -> int:
    """Print a PIN hash for the config; reuses the salt already in the config if any, and
    refuses a PIN that is already another operator's (tested against every stored hash)."""
    from edge.config.operators import PIN_RE, by_badge, hash_pin, parse_hash, pin_owners

    operators = []
    salt = None
    if args.config:
        cfg = _load(args.config)
        operators = cfg.operators
        for op in operators:
            if op.pin_hash:
                salt = parse_hash(op.pin_hash)[1]
                break
        if args.badge and by_badge(operators, args.badge) is None:
            raise OperatorInputError(f"--badge: no operator with badge {args.badge!r} in {args.config}")
    elif args.badge:
        raise OperatorInputError("--badge: needs -c FILE (the config whose operators' PINs are checked)")
    if sys.stdin.isatty():
        pin = getpass.getpass("PIN (4-12 digits): ")
        if getpass.getpass("again: ") != pin:
            raise OperatorInputError("PIN: the two entries differ")
    else:
        pin = sys.stdin.readline().strip()
    if not PIN_RE.match(pin):
        raise OperatorInputError("PIN: 4 to 12 digits")
    others = [
        op for op in pin_owners(operators, pin) if not (args.badge and op.badge.lower() == args.badge.lower())
    ]
    if others:
        which = ", ".join(f"badge {op.badge}" for op in others)
        raise OperatorInputError(
            f"PIN: already the PIN of another operator ({which}); a PIN must be one operator's: choose another"
        )
    print(hash_pin(pin, salt=salt))
    return 0


def cmd_operator_token(args: argparse.Namespace) -> int:
    """Write a credential file for a script and print the token hash for the config."""
    from edge.config.operators import by_badge, hash_token, new_token
    from edge.services.session import write_credential

    cfg = _load(args.config)
    op = by_badge(cfg.operators, args.badge)
    if op is None:
        raise OperatorInputError(f"--badge: no operator with badge {args.badge!r} in {args.config}")
    token = new_token()
    write_credential(args.output, op.badge, token)
    print(f"{args.output}: credential of {op.who} written (mode 600). Put this in its operators[] entry:")
    print(f'    token_hash: "{hash_token(token)}"')
    return 0


def cmd_operator_login(args: argparse.Namespace) -> int:
    """Check a badge or PIN as the terminal's login does (same lockout, same audit)."""
    from edge.services import session
    from edge.services.context import open_store

    cfg = _load(args.config)
    credential = getpass.getpass("badge or PIN: ") if sys.stdin.isatty() else sys.stdin.readline().strip()
    with open_store(cfg) as st:
        actor = session.log_in(cfg, st, credential, via="command line")
    print(f"{actor.who}, role {actor.role}: may {', '.join(sorted(actor.permissions)) or 'nothing'}")
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
        description="Read a PIN and print its hash for operators[].pin_hash. With -c the config's "
        "salt is reused (faster PIN login) and the PIN is tested against every operator's stored "
        "hash: a PIN that already belongs to another operator is refused (exit 2). --badge names "
        "whose PIN it is (their own current PIN is then not a clash).",
    )
    h.add_argument("-c", "--config", help="line config: reuse its PIN salt, refuse another operator's PIN")
    h.add_argument("--badge", help="the operator the PIN is for (with -c)")
    h.set_defaults(func=cmd_hash_pin)
    tk = opsub.add_parser(
        "token",
        help="write a credential file for a script (badge and token, mode 600) and print its token_hash",
        description="Create a credential file with a random token for the operator with --badge "
        "(mode 600, never over an existing file) and print the token_hash line to add to their "
        "operators[] entry. Scripts then run commands with --credential FILE (or "
        "$LINESIDE_CREDENTIAL). A credential file identifies the operator but never signs: "
        "approvals and inspection results ask for the PIN.",
    )
    tk.add_argument("-c", "--config", required=True, help="line config file (YAML)")
    tk.add_argument("--badge", required=True, help="whose credential it is")
    tk.add_argument("-o", "--output", required=True, help="the credential file to create")
    tk.set_defaults(func=cmd_operator_token)
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
