"""Run a command in a real pseudo-terminal (the operator terminal needs one), wait for
text on its screen, send keys, and wait for it to exit."""

from __future__ import annotations

import os
import pty
import select
import signal
import time


class PtyProcess:
    def __init__(self, argv: list[str], env: dict[str, str] | None = None, cwd: str | None = None) -> None:
        self.pid, self.fd = pty.fork()
        if self.pid == 0:  # child
            if cwd:
                os.chdir(cwd)
            os.environ.update(env or {})
            os.environ["TERM"] = "xterm-256color"
            os.execv(argv[0], argv)
        self.out = b""
        self.status: int | None = None

    def _read(self, wait: float) -> None:
        r, _, _ = select.select([self.fd], [], [], wait)
        if r:
            try:
                self.out += os.read(self.fd, 65536)
            except OSError:
                pass

    def expect(self, text: bytes, timeout: float) -> None:
        end = time.time() + timeout
        while time.time() < end and text not in self.out:
            self._read(0.5)
        assert text in self.out, self.out[-3000:]

    def send(self, data: bytes) -> None:
        os.write(self.fd, data)

    def wait(self, timeout: float) -> int:
        end = time.time() + timeout
        while time.time() < end:
            done, status = os.waitpid(self.pid, os.WNOHANG)
            if done:
                self.status = os.waitstatus_to_exitcode(status)
                self._read(0.1)
                return self.status
            self._read(0.2)
        raise AssertionError(f"process did not exit within {timeout} s: {self.out[-2000:]!r}")

    def close(self) -> None:
        if self.status is None:
            try:
                os.kill(self.pid, signal.SIGKILL)
                os.waitpid(self.pid, 0)
            except (ProcessLookupError, ChildProcessError):
                pass
        os.close(self.fd)


F10 = b"\x1b[21~"
