"""A null-modem cable made of two pseudo-terminals (what ``socat pty,raw pty,raw`` does).

Bytes written to one end's slave device come out of the other's, so a Modbus RTU server
and client can talk over real serial device files on a machine without serial ports.
"""

from __future__ import annotations

import os
import select
import threading
import tty


class PtyBridge:
    def __init__(self) -> None:
        self._a_master, a_slave = os.openpty()
        self._b_master, b_slave = os.openpty()
        for fd in (a_slave, b_slave):
            tty.setraw(fd)
        self.port_a = os.ttyname(a_slave)
        self.port_b = os.ttyname(b_slave)
        # Keep the slave fds open so the ptys survive while neither side is attached.
        self._slaves = (a_slave, b_slave)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._pump, name="pty-bridge", daemon=True)

    def start(self) -> PtyBridge:
        self._thread.start()
        return self

    def _pump(self) -> None:
        peers = {self._a_master: self._b_master, self._b_master: self._a_master}
        while not self._stop.is_set():
            ready, _, _ = select.select(list(peers), [], [], 0.1)
            for fd in ready:
                try:
                    data = os.read(fd, 4096)
                except OSError:
                    continue
                if data:
                    os.write(peers[fd], data)

    def close(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(1)
        for fd in (self._a_master, self._b_master, *self._slaves):
            try:
                os.close(fd)
            except OSError:
                pass
