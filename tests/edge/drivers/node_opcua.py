"""A node-opcua server for tests: an OPC UA implementation other than the agent's client
library (asyncua), so the driver is tried against what a third-party PLC server does.

node-opcua comes from the npm registry into a cache folder outside the repository
(``$LINESIDE_NODE_CACHE``, else ``/work/.cache/node-opcua`` where ``/work`` exists, else
``~/.cache/lineside/node-opcua``; ``make test`` installs it, and so does the first test
that needs it). Tests skip with the reason when node is missing.
"""

from __future__ import annotations

import atexit
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from edge.cli.demo import free_port

VERSION = "2.186.4"
SCRIPT = Path(__file__).with_name("node_opcua_server.js")


def cache_dir() -> Path:
    env = os.environ.get("LINESIDE_NODE_CACHE")
    if env:
        return Path(env)
    if Path("/work").is_dir():
        return Path("/work/.cache/node-opcua")
    return Path.home() / ".cache" / "lineside" / "node-opcua"


def install(cache: Path) -> None:
    """node-opcua into ``cache`` unless it is there (the npm registry, once)."""
    if installed(cache):
        return
    npm = shutil.which("npm")
    if npm is None:
        pytest.skip("npm is not installed: cannot install node-opcua")
    cache.mkdir(parents=True, exist_ok=True)
    if not (cache / "package.json").exists():
        (cache / "package.json").write_text('{"name": "lineside-test-servers", "private": true}\n')
    proc = subprocess.run(
        [npm, "install", "--no-audit", "--no-fund", "--loglevel=error", f"node-opcua@{VERSION}"],
        cwd=cache,
        capture_output=True,
        text=True,
        timeout=600,
    )
    if proc.returncode != 0:
        pytest.fail(f"npm install node-opcua failed: {proc.stderr[-2000:]}")


class NodeOpcUaServer:
    """The running server: ``endpoint`` and ``port``."""

    def __init__(self, proc: subprocess.Popen[str], port: int, log: Path) -> None:
        self.proc = proc
        self.log = log
        self.port = port
        self.endpoint = f"opc.tcp://127.0.0.1:{port}/ua"

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()  # node exits on SIGTERM at once (no graceful shutdown needed)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        self.log.unlink(missing_ok=True)


def installed(cache: Path) -> bool:
    return (cache / "node_modules" / "node-opcua" / "package.json").is_file()


def spawn() -> NodeOpcUaServer:
    """Start the server process (it needs seconds to boot; see ``ready``)."""
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed: the node-opcua server cannot run (apt-get install nodejs)")
    cache = cache_dir()
    install(cache)
    port = free_port()
    env = os.environ | {"NODE_PATH": str(cache / "node_modules"), "NODE_NO_WARNINGS": "1"}
    fd, name = tempfile.mkstemp(prefix="node-opcua-", suffix=".log")
    log = Path(name)
    with os.fdopen(fd, "w") as out:  # a file, not a pipe: nobody reads it after READY
        proc = subprocess.Popen(
            [node, str(SCRIPT), str(port), str(cache)],
            stdin=subprocess.PIPE,
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
        )
    return NodeOpcUaServer(proc, port, log)


def ready(server: NodeOpcUaServer) -> NodeOpcUaServer:
    """Wait until the server listens (fail the test with its output if it does not)."""
    end = time.monotonic() + 60
    while time.monotonic() < end and server.proc.poll() is None:
        if "READY" in server.log.read_text(errors="replace").split():
            return server
        time.sleep(0.1)
    text = server.log.read_text(errors="replace")
    server.stop()
    pytest.fail("node-opcua server did not start:\n" + text[-3000:])


def start_server() -> NodeOpcUaServer:
    return ready(spawn())


_early: NodeOpcUaServer | None = None


def start_early() -> None:
    """Spawn the server while the test module is collected, so that it boots (seconds of
    CPU, on the machine's other core) while the tests before it run; the fixture then
    waits only for what is left. Only where node-opcua is installed already (else the
    fixture installs it); stopped at exit if no test took it."""
    global _early
    if _early is None and shutil.which("node") and installed(cache_dir()):
        _early = spawn()
        atexit.register(_early.stop)


@pytest.fixture(scope="module")
def node_opcua() -> Iterator[NodeOpcUaServer]:
    """One node-opcua server per test module (it takes seconds to start)."""
    global _early
    early, _early = _early, None
    server = ready(early if early is not None and early.proc.poll() is None else spawn())
    try:
        yield server
    finally:
        server.stop()
