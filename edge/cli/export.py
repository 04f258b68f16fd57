"""``lineside export``: one stream of a line's store in a time window as CSV, JSON or
NDJSON, for support and audits (through ``edge.services.export``)."""

from __future__ import annotations

import argparse
import sys
from typing import Any, TextIO

from edge.cli.common import _load, parse_time
from edge.core.errors import LinesideError
from edge.services.export import FORMATS, STREAMS, export_stream


def cmd_export(args: argparse.Namespace) -> int:
    cfg = _load(args.config)
    since = parse_time(args.since, cfg.line.timezone, "--since")
    until = parse_time(args.until, cfg.line.timezone, "--until") if args.until else None
    out: TextIO
    if args.output:
        try:
            out = open(args.output, "w", encoding="utf-8", newline="")  # noqa: SIM115 - closed below
        except OSError as e:
            raise LinesideError(f"--output: cannot write {args.output}: {e.strerror}") from None
    else:
        out = sys.stdout
    try:
        n = export_stream(cfg, args.stream, out, since=since, until=until, fmt=args.format)
    finally:
        if out is not sys.stdout:
            out.close()
    print(f"{args.stream}: {n} rows", file=sys.stderr)
    return 0


def register(sub: Any) -> None:
    e = sub.add_parser(
        "export",
        help="one stream of the line's store in a time window as CSV, JSON or NDJSON (support, audits)",
        description="Write the rows of one stream (samples, events, downtime, orders, audit, …) whose time "
        "lies in [--since, --until) to stdout or --output, oldest first. Reads the store read-only, so it "
        "can run beside the agent. Each row starts with `time` (ISO 8601, the line's time zone); the "
        "stored columns follow (samples: tag name and quality label instead of internal ids). The row "
        "count goes to stderr.",
    )
    e.add_argument("-c", "--config", required=True, help="line config file (YAML)")
    e.add_argument("stream", choices=STREAMS, metavar="STREAM", help=f"one of: {', '.join(STREAMS)}")
    e.add_argument(
        "--since",
        required=True,
        help="from this time: ISO 8601 (plant local if no offset), epoch seconds, or --since=-1h",
    )
    e.add_argument("--until", help="up to (not including) this time; default: now")
    e.add_argument("--format", choices=FORMATS, default="csv", help="output format (default: %(default)s)")
    e.add_argument("-o", "--output", help="write to this file instead of stdout")
    e.set_defaults(func=cmd_export)
