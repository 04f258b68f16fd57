"""Logging a repeating fault once and its recovery once.

A store that refuses writes, a broker that refuses the TLS handshake or a device that
does not answer fails again on every retry, every tick. The journal should get one line
when it starts (and again only if the reason changes) and one line when it is over,
with how long it lasted; retries in between go to DEBUG.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable


class FaultLog:
    """Per-key fault state of one component (``key`` names what fails: "store",
    "heartbeat", "connect" …). Thread-safe: paho and worker threads report too."""

    def __init__(self, logger: logging.Logger, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.log = logger
        self.clock = clock
        self._active: dict[str, tuple[str, float]] = {}  # key -> (reason logged, since)
        self._lock = threading.Lock()

    def fault(self, key: str, reason: str, *, what: str = "", level: int = logging.ERROR) -> bool:
        """Report that ``key`` failed because of ``reason`` (keep it free of counters and
        times so that it repeats verbatim). Logged (``what: reason``) when the fault is new
        or its reason changed; True then."""
        with self._lock:
            prev = self._active.get(key)
            if prev is not None and prev[0] == reason:
                self.log.debug("%s still failing: %s", what or key, reason)
                return False
            self._active[key] = (reason, prev[1] if prev else self.clock())
        self.log.log(level, "%s: %s", what or key, reason)
        return True

    def recovered(self, key: str, what: str = "", *, level: int = logging.WARNING) -> bool:
        """Report that ``key`` works again; logged once (with the fault's duration) if it
        was failing. True then."""
        with self._lock:
            prev = self._active.pop(key, None)
        if prev is None:
            return False
        self.log.log(
            level, "%s recovered after %.1f s (was: %s)", what or key, self.clock() - prev[1], prev[0]
        )
        return True

    def active(self, key: str) -> bool:
        with self._lock:
            return key in self._active

    def faults(self) -> dict[str, str]:
        """Every active fault and its reason."""
        with self._lock:
            return {k: r for k, (r, _) in self._active.items()}
