"""systemd notifications (``Type=notify`` units): READY, WATCHDOG, STATUS, STOPPING.

A datagram to ``$NOTIFY_SOCKET``; without that variable (not under systemd) every call
does nothing. No dependency on libsystemd.
"""

from __future__ import annotations

import os
import socket


def notify(*fields: str) -> bool:
    """Send ``FIELD=value`` lines to systemd; True when sent."""
    addr = os.environ.get("NOTIFY_SOCKET")
    if not addr:
        return False
    if addr.startswith("@"):  # abstract namespace
        addr = "\0" + addr[1:]
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
            s.connect(addr)
            s.sendall("\n".join(fields).encode())
        return True
    except OSError:
        return False


def watchdog_interval() -> float | None:
    """Seconds between WATCHDOG=1 pings (half of WatchdogSec), or None without a watchdog."""
    usec = os.environ.get("WATCHDOG_USEC")
    pid = os.environ.get("WATCHDOG_PID")
    if not usec or (pid and pid != str(os.getpid())):
        return None
    try:
        return int(usec) / 2e6
    except ValueError:
        return None
