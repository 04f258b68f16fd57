"""Real brokers and real network faults for tests, benchmarks and the soak suite:
a private mosquitto process on a free port (kill it, restart it on the same port) and a
TCP proxy that can go silent (stops forwarding without closing: a dead link nobody told
the endpoints about)."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from edge.cli.demo import free_port

MOSQUITTO_HINT = (
    "mosquitto is not installed: the MQTT tests need a real broker. Install it with "
    "`sudo apt-get install mosquitto mosquitto-clients` (Debian/Raspberry Pi OS)."
)


def mosquitto_binary() -> str | None:
    for cand in (shutil.which("mosquitto"), "/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto"):
        if cand and os.access(cand, os.X_OK):
            return cand
    return None


class Mosquitto:
    """``with Mosquitto(tmp) as b:`` … ``b.kill()``, ``b.start()`` (same port)."""

    def __init__(
        self, workdir: Path, *, port: int | None = None, extra: str = "", persistence: bool = False
    ) -> None:
        self.binary = mosquitto_binary()
        if self.binary is None:
            raise RuntimeError(MOSQUITTO_HINT)
        self.dir = Path(workdir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.conf = self.dir / "mosquitto.conf"
        self.log = self.dir / "mosquitto.log"
        self.conf.write_text(
            f"listener {self.port} 127.0.0.1\n"
            + ("allow_anonymous true\n" if "allow_anonymous" not in extra else "")
            + f"persistence {'true' if persistence else 'false'}\n"
            + f"persistence_location {self.dir}/\n"
            # Started as root, mosquitto would switch to its own user and lose access
            # to the test's private files.
            + ("user root\n" if os.geteuid() == 0 else "")
            + "max_queued_messages 100000\n"
            + "set_tcp_nodelay true\n"
            + f"log_dest file {self.log}\n"
            + "log_type error\nlog_type warning\nlog_type notice\n"
            + extra
        )
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 10.0) -> None:
        assert self.binary is not None
        self.proc = subprocess.Popen(
            [self.binary, "-c", str(self.conf)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                err = self.proc.stderr.read().decode() if self.proc.stderr else ""
                raise RuntimeError(
                    f"mosquitto exited at start: {err} {self.log.read_text() if self.log.exists() else ''}"
                )
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), 0.2):
                return
            time.sleep(0.05)
        raise RuntimeError(f"mosquitto did not listen on {self.port} within {timeout} s")

    def kill(self) -> None:
        """SIGKILL: no goodbye to anyone, in-memory queues gone."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()

    def __enter__(self) -> Mosquitto:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class SilentProxy:
    """Forwards 127.0.0.1:``port`` → target; ``go_silent()`` stops moving bytes in both
    directions but keeps every socket open; ``restore()`` drops the silent connections
    (as a router reboot would) and forwards again."""

    def __init__(self, target_port: int, port: int | None = None) -> None:
        self.target = target_port
        self.port = port or free_port()
        self._silent = threading.Event()
        self._stop = threading.Event()
        self._conns: list[tuple[socket.socket, socket.socket]] = []
        self._lock = threading.Lock()
        self._srv = socket.socket()
        self._srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._srv.bind(("127.0.0.1", self.port))
        self._srv.listen(64)
        self._srv.settimeout(0.2)
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                c, _ = self._srv.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            if self._silent.is_set():
                # A dead link: the handshake may complete (kernel backlog) but nothing flows.
                with self._lock:
                    self._conns.append((c, c))
                continue
            try:
                u = socket.create_connection(("127.0.0.1", self.target), 2)
            except OSError:
                c.close()
                continue
            with self._lock:
                self._conns.append((c, u))
            for a, b in ((c, u), (u, c)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    def _pipe(self, a: socket.socket, b: socket.socket) -> None:
        a.settimeout(0.1)
        try:
            while not self._stop.is_set():
                if self._silent.is_set():
                    time.sleep(0.05)
                    continue
                try:
                    data = a.recv(65536)
                except TimeoutError:
                    continue
                if not data:
                    break
                if self._silent.is_set():
                    continue  # swallowed by the dead link
                b.sendall(data)
        except OSError:
            pass
        finally:
            if not self._silent.is_set():
                for s in (a, b):
                    with contextlib.suppress(OSError):
                        s.shutdown(socket.SHUT_RDWR)

    def go_silent(self) -> None:
        self._silent.set()

    def restore(self) -> None:
        with self._lock:
            conns, self._conns = self._conns, []
        for a, b in conns:
            for s in (a, b):
                with contextlib.suppress(OSError):
                    s.close()
        self._silent.clear()

    def close(self) -> None:
        self._stop.set()
        self.restore()
        self._srv.close()


@contextlib.contextmanager
def broker(workdir: Path, **kw: object) -> Iterator[Mosquitto]:
    b = Mosquitto(workdir, **kw)  # type: ignore[arg-type]
    b.start()
    try:
        yield b
    finally:
        b.stop()
