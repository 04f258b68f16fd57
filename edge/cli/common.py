"""Helpers shared by the ``lineside`` commands: loading the config, reading times,
formatting values, and printing either JSON or text."""

from __future__ import annotations

import asyncio
import json
import re
import signal
import time
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from edge.services.production import OperatorInputError

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
    d = now - ts
    return f"{d:.1f}s" if d < 120 else (f"{d / 60:.1f}m" if d < 7200 else f"{d / 3600:.1f}h")


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.7g}"
    if isinstance(v, list):
        return "[" + ", ".join(_fmt(x) for x in v) + "]"
    return str(v)


_REL = re.compile(r"^-(\d+(?:\.\d+)?)([smhd])$")


def parse_time(text: str, tz: str) -> float:
    """ISO 8601 (naive = plant local time), epoch seconds, or relative ``-15m`` / ``-2h``."""
    m = _REL.match(text.strip())
    if m:
        mult = {"s": 1, "m": 60, "h": 3600, "d": 86400}[m.group(2)]
        return time.time() - float(m.group(1)) * mult
    try:
        return float(text)
    except ValueError:
        pass
    try:
        dt = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        # Bad operator input, like every other refused argument: exit 2.
        raise OperatorInputError(
            f"cannot read time {text!r}: use ISO 8601 (2026-11-21T08:00), epoch seconds or -15m/-2h/-1d"
        ) from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=ZoneInfo(tz))
    return dt.timestamp()


def _pct(v: Any) -> str:
    return "   -  " if v is None else f"{100 * v:5.1f}%"


def _dur(s: float | None) -> str:
    if s is None:
        return "-"
    s = float(s)
    return f"{s:.0f}s" if s < 120 else (f"{s / 60:.1f}m" if s < 7200 else f"{s / 3600:.1f}h")
