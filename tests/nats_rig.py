"""A private nats-server with its MQTT listener, for tests of the MQTT 3.1.1 path
through NATS (a broker a plant clusters): free ports, its own JetStream store in the
test's tmp dir, never the machine's NATS on 4222."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import time
from pathlib import Path

from edge.cli.demo import free_port

NATS_BINARY = "/usr/sbin/nats-server"
NATS_HINT = "nats-server is not installed: `sudo apt-get install nats-server` (Debian)"


def listening(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
        return True
    return False


class NatsServer:
    """A private nats-server: client port, MQTT listener and JetStream store (sessions
    and retained messages) in ``workdir``; restarts keep the ports and the store."""

    def __init__(self, workdir: Path) -> None:
        self.dir = workdir
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.mqtt_port = free_port()
        self.conf = self.dir / "nats.conf"
        self.log = self.dir / "nats.log"
        self.conf.write_text(
            f"server_name: lineside_test_{self.mqtt_port}\n"
            f"listen: 127.0.0.1:{self.port}\n"
            f'jetstream {{ store_dir: "{self.dir / "jetstream"}" }}\n'
            f"mqtt {{ listen: 127.0.0.1:{self.mqtt_port} }}\n"
        )
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 30.0) -> None:
        self.proc = subprocess.Popen(
            [NATS_BINARY, "-c", str(self.conf), "-l", str(self.log)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        end = time.monotonic() + timeout
        while not listening(self.mqtt_port):
            if self.proc.poll() is not None:
                raise RuntimeError(f"nats-server exited at start: {self.log.read_text()}")
            assert time.monotonic() < end, f"nats-server: no MQTT listener within {timeout} s"
            time.sleep(0.05)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()

    def restart(self) -> None:
        """SIGKILL, then start on the same ports and store."""
        self.kill()
        self.start()
