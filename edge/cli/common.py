"""Helpers shared by the ``lineside`` commands: loading the config, the argument types
(strict numbers, times and ids, see ``edge.core.parse``), formatting values, and
printing either JSON or text."""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from edge.core import parse
from edge.services.validate import OperatorInputError, plain_text

if TYPE_CHECKING:  # the config models load with the command that needs them
    from edge.config.line import LineConfig


def emit(as_json: bool, data: Any, printer: Callable[[], None]) -> int:
    """Print ``data`` as JSON, or call ``printer`` for the text form."""
    if as_json:
        print(json.dumps(data, indent=1, default=str))
    else:
        printer()
    return 0


def _load(path: str) -> LineConfig:
    """The line config, with the reason tree and products the plant sent down (stored
    in the line's store by the uplink) in place of the file's."""
    from edge.config.line import load_config
    from edge.services.context import effective_config

    return effective_config(load_config(path))


def _run_async(main: Any, on_signal: Any) -> None:
    async def runner() -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, on_signal)
        # `kill -USR2 PID` prints the stack of every asyncio task (what is it waiting for?).
        loop.add_signal_handler(signal.SIGUSR2, _dump_tasks)
        await main

    # Like asyncio.run, but the teardown is bounded: a task left behind by a library
    # that ignores cancellation must not keep the process from exiting once the agent
    # has flushed its data.
    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(runner())
    finally:
        pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
        for t in pending:
            t.cancel()
        if pending:
            loop.run_until_complete(asyncio.wait(pending, timeout=5))
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()


def _dump_tasks() -> None:
    import sys

    for task in asyncio.all_tasks():
        print(f"--- task {task.get_name()}", file=sys.stderr)
        task.print_stack(file=sys.stderr)


def _age(ts: float | None, now: float) -> str:
    if ts is None:
        return "-"
    d = max(0.0, now - ts)  # a clock set back must not print a negative age
    return f"{d:.1f}s" if d < 120 else (f"{d / 60:.1f}m" if d < 7200 else f"{d / 3600:.1f}h")


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.7g}"
    if isinstance(v, list):
        return "[" + ", ".join(_fmt(x) for x in v) + "]"
    return str(v)


def parse_time(text: str, tz: str, option: str = "time") -> float:
    """ISO 8601 (naive = plant local time), epoch seconds, or relative ``-15m`` / ``-2h``;
    a refusal names ``option`` (exit 2)."""
    try:
        return parse.parse_time(text, tz)
    except ValueError as e:
        raise OperatorInputError(f"{option}: {e}") from None


# ----------------------------------------------------------------------------- argument types
# argparse calls these on the text of an option and reports ArgumentTypeError as
# "argument --quantity: <message>" with exit 2: the option is named, nothing runs.


def int_arg(lo: int = parse.INT64_MIN, hi: int = parse.INT64_MAX) -> Callable[[str], int]:
    """A whole number within ``lo``..``hi`` (ASCII digits; no ``2_0``, ``1e3``, ``２０``)."""

    def read(text: str) -> int:
        try:
            return parse.parse_int(text, lo=lo, hi=hi)
        except ValueError as e:
            raise argparse.ArgumentTypeError(str(e)) from None

    read.__name__ = "whole number"
    return read


def float_arg(lo: float | None = None, hi: float | None = None) -> Callable[[str], float]:
    """A finite number within ``lo``..``hi`` (no NaN, Inf, overflow, ``1_0``)."""

    def read(text: str) -> float:
        try:
            return parse.parse_float(text, lo=lo, hi=hi)
        except ValueError as e:
            raise argparse.ArgumentTypeError(str(e)) from None

    read.__name__ = "number"
    return read


def id_arg(text: str) -> str:
    """An identifier (work order, lot, serial, material, product, characteristic …):
    printable, at most 64 characters, no white space, ``+``, ``#`` or ``/``."""
    try:
        return parse.parse_id(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def text_arg(text: str) -> str:
    """Free text (a comment, a reason, a unit): no control characters, at most 2000."""
    try:
        return plain_text(text, "text")
    except OperatorInputError as e:
        raise argparse.ArgumentTypeError(str(e).removeprefix("text: ")) from None


def _pct(v: Any) -> str:
    return "   -  " if v is None else f"{100 * v:5.1f}%"


def _dur(s: float | None) -> str:
    if s is None:
        return "-"
    s = max(0.0, float(s))
    return f"{s:.0f}s" if s < 120 else (f"{s / 60:.1f}m" if s < 7200 else f"{s / 3600:.1f}h")
