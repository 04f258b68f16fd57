"""Commands about maintenance at the line: raise a request for a machine (as an
authenticated operator, audited, sent to the plant with the next batch) and list the
latest ones."""

from __future__ import annotations

import argparse
import json
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from edge.cli.auth import add_auth, operator
from edge.cli.common import _load, int_arg, text_arg


def cmd_maintenance_request(args: argparse.Namespace) -> int:
    from edge.services.context import open_store
    from edge.services.maintenance import request_maintenance

    cfg = _load(args.config)
    with open_store(cfg) as st:
        actor = operator(args, cfg, st)
        seq = request_maintenance(cfg, st, actor, args.machine, args.text, priority=args.priority)
    print(f"maintenance request {seq} for {args.machine} recorded (by {actor.who})")
    return 0


def cmd_maintenance_list(args: argparse.Namespace) -> int:
    from edge.services.context import open_store
    from edge.services.maintenance import recent_requests

    cfg = _load(args.config)
    with open_store(cfg, readonly=True) as st:
        rows = recent_requests(st, args.limit)
    if args.json:
        print(json.dumps(rows, indent=1))
        return 0
    zone = ZoneInfo(cfg.line.timezone)
    for r in rows:
        when = datetime.fromtimestamp(r["ts"], zone).strftime("%Y-%m-%d %H:%M")
        print(f"{when} {r['machine']:<14} {r['priority']:<7} {r['by']:<28} {r['text']}")
    if not rows:
        print("no maintenance requests")
    return 0


def register(sub: Any) -> None:
    from edge.services.maintenance import MAINTENANCE_PRIORITIES

    m = sub.add_parser("maintenance", help="maintenance requests raised at the line")
    msub = m.add_subparsers(dest="maintenance_command", metavar="SUBCOMMAND")
    r = msub.add_parser(
        "request",
        help="raise a maintenance request for a machine (permission request_maintenance)",
    )
    r.add_argument("-c", "--config", required=True, help="line config file (YAML)")
    r.add_argument("machine", help="machine (or device) name")
    r.add_argument("text", type=text_arg, help="what is wrong")
    r.add_argument(
        "--priority", choices=MAINTENANCE_PRIORITIES, default="normal", help="default: %(default)s"
    )
    add_auth(r)
    r.set_defaults(func=cmd_maintenance_request)
    ls = msub.add_parser("list", help="the latest maintenance requests, newest first")
    ls.add_argument("-c", "--config", required=True, help="line config file (YAML)")
    ls.add_argument("--limit", type=int_arg(lo=1), default=20, help="how many (default 20)")
    ls.add_argument("--json", action="store_true", help="machine-readable output")
    ls.set_defaults(func=cmd_maintenance_list)
