"""Small asyncio helpers shared by the agent and the drivers."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

log = logging.getLogger("lineside.agent")


async def bounded(coro: Any, timeout: float, what: str, *, level: int = logging.WARNING) -> bool:
    """Run ``coro`` for at most ``timeout`` seconds; True if it finished without error.

    Unlike ``wait_for`` this returns on time even if the coroutine ignores cancellation
    (some PLC libraries do while closing); what overran is logged by name at ``level``
    and left cancelled."""
    task = asyncio.ensure_future(coro)
    done, _ = await asyncio.wait({task}, timeout=timeout)
    if not done:
        task.cancel()
        log.log(level, "%s did not finish within %.0f s; abandoned", what, timeout)
        return False
    if task.cancelled():
        return False
    if task.exception() is not None:
        log.debug("%s failed: %s", what, task.exception())
        return False
    return True
