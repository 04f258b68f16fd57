"""The ``lineside`` command: a thin shell over the library.

Library code raises ``LinesideError`` subclasses; this package is the one place that
turns them into a message on stderr and an exit code (2 = bad config, usage or operator
input, refused authentication or role, 3 = refused write, 4 = failed inspection, 1 = other
failures). No traceback
reaches an operator unless ``--debug`` is given. Commands live in modules by concept
(``acquire``, ``line``, ``quality``); each registers its own subcommands.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

from edge.cli import acquire, export, line, maintenance, materials, ops, plant, quality, terminal, write
from edge.cli.acquire import gather_status
from edge.cli.common import parse_time
from edge.core.errors import ConfigError, LinesideError

__all__ = ["build_parser", "gather_status", "main", "parse_time"]

DESCRIPTION = """\
Lineside edge agent: reads PLCs (OPC UA, Modbus TCP/RTU, EtherNet/IP) into a local
SQLite store that keeps working without a network.

Typical use:
  lineside config check line.yaml       validate a line config (exit 2 on errors)
  lineside simulate -c line.yaml        serve a simulated line for that config
  lineside run -c line.yaml             run the agent
  lineside status -c line.yaml          latest value/quality of every tag, device states
  lineside history -c line.yaml --tag filler.speed --since=-1h
  lineside order start -c line.yaml WO-1001 --badge 1001
                                        operator actions run as an authenticated operator:
                                        --badge (the PIN is asked) or --credential FILE
"""


_SYSLOG_PRIORITY = {
    logging.DEBUG: 7,
    logging.INFO: 6,
    logging.WARNING: 4,
    logging.ERROR: 3,
    logging.CRITICAL: 2,
}


class _Priority(logging.Filter):
    """Adds the syslog priority, which journald reads from a ``<N>`` line prefix, so
    `journalctl -p warning` shows faults and nothing else."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.priority = _SYSLOG_PRIORITY.get(record.levelno, 6)
        return True


def _setup_logging(level: str) -> None:
    """One line per event on stderr. Under systemd (JOURNAL_STREAM set) journald adds
    the time stamp and takes the priority from the prefix; a terminal gets time stamps."""
    handler = logging.StreamHandler(sys.stderr)
    if os.environ.get("JOURNAL_STREAM"):
        handler.setFormatter(logging.Formatter("<%(priority)d>%(levelname)s %(name)s: %(message)s"))
        handler.addFilter(_Priority())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=getattr(logging, level.upper()), handlers=[handler])


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="lineside", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "--log-level",
        default=os.environ.get("LINESIDE_LOG_LEVEL", "info"),
        choices=["debug", "info", "warning", "error"],
        help="log verbosity on stderr (default: info)",
    )
    p.add_argument("--debug", action="store_true", help="show tracebacks for unexpected errors")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    for module in (acquire, line, quality, maintenance, materials, plant, terminal, ops, export, write):
        module.register(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    _setup_logging(args.log_level)
    # `kill -USR1 PID` prints every thread's stack to stderr (the journal): a hung
    # process can be diagnosed on site without a debugger.
    import faulthandler
    import signal

    try:
        faulthandler.register(signal.SIGUSR1, all_threads=True)
    except (AttributeError, ValueError, OSError):  # stderr is not a real file (tests, pipes in IDEs)
        pass
    try:
        return int(args.func(args) or 0)
    except ConfigError as e:
        for m in e.messages:
            print(m, file=sys.stderr)
        return e.exit_code
    except LinesideError as e:
        if hasattr(e, "messages"):
            for m in e.messages:
                print(m, file=sys.stderr)
            return e.exit_code
        print(f"lineside: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0
    except Exception as e:
        if args.debug:
            raise
        print(
            f"lineside: unexpected error: {type(e).__name__}: {e} (run with --debug for details)",
            file=sys.stderr,
        )
        return 1
