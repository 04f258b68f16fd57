"""systemd units: `systemd-analyze verify` clean, exposure ≤ 2.0 for every unit; the agent's and aggregator's READY/WATCHDOG/STOPPING notifications
on a real notify socket."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import REPO, example_on_free_ports

UNITS = sorted((REPO / "systemd").glob("*.service"))
ANALYZE = shutil.which("systemd-analyze")
needs_analyze = pytest.mark.skipif(
    ANALYZE is None,
    reason="systemd-analyze is not installed here (apt-get install systemd); units not checked",
)


def installed_copy(unit: Path, tmp_path: Path) -> Path:
    """The unit as installed, except that ExecStart points at this checkout's venv (verify
    checks that the command exists); a template gets an instance."""
    text = unit.read_text().replace(
        "/opt/lineside/venv/bin/lineside", str(Path(sys.executable).parent / "lineside")
    )
    out = tmp_path / unit.name
    out.write_text(text)
    if unit.name.endswith("@.service"):
        inst = tmp_path / unit.name.replace("@.service", "@tty1.service")
        inst.symlink_to(out.name)
        return inst
    return out


def test_units_present() -> None:
    names = {u.name for u in UNITS}
    assert {
        "lineside-edge.service",
        "lineside-aggregator.service",
        "lineside-tui@.service",
        "lineside-simulator.service",
    } <= names


@needs_analyze
@pytest.mark.parametrize("unit", UNITS, ids=[u.name for u in UNITS])
def test_unit_verifies(unit: Path, tmp_path: Path) -> None:
    p = subprocess.run(
        [ANALYZE, "verify", str(installed_copy(unit, tmp_path))], capture_output=True, text=True, timeout=60
    )
    assert p.returncode == 0 and p.stderr == "", p.stderr


@needs_analyze
@pytest.mark.parametrize("unit", UNITS, ids=[u.name for u in UNITS])
def test_exposure_at_most_2(unit: Path, tmp_path: Path) -> None:
    """Every unit, the terminal and the simulator included."""
    path = installed_copy(unit, tmp_path)
    p = subprocess.run(
        [ANALYZE, "security", "--offline=true", str(path)], capture_output=True, text=True, timeout=60
    )
    m = re.search(r"Overall exposure level for \S+: ([\d.]+)", p.stdout + p.stderr)
    assert m, p.stdout + p.stderr
    assert float(m.group(1)) <= 2.0, p.stdout


def test_edge_unit_is_notify_with_watchdog() -> None:
    text = (REPO / "systemd" / "lineside-edge.service").read_text()
    for line in (
        "Type=notify",
        "WatchdogSec=",
        "Restart=on-failure",
        "StateDirectory=",
        "User=lineside",
        "ProtectSystem=strict",
        "CapabilityBoundingSet=\n",
        "SystemCallFilter=@system-service",
        "MemoryDenyWriteExecute=yes",
        "NoNewPrivileges=yes",
        "RestrictAddressFamilies=",
    ):
        assert line in text, line


def _notifications(argv: list[str], tmp_path: Path, run_s: float) -> list[str]:
    sock_path = str(tmp_path / "notify.sock")
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    srv.bind(sock_path)
    srv.settimeout(0.2)
    env = dict(os.environ, NOTIFY_SOCKET=sock_path, WATCHDOG_USEC="2000000")
    env.pop("WATCHDOG_PID", None)
    proc = subprocess.Popen(argv, env=env, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    got: list[str] = []
    try:
        # The run window starts at READY=1, not at exec: imports alone can take seconds on
        # a loaded machine, and what is checked is what happens after start-up.
        ready_by = time.time() + 60
        end = ready_by
        stopped = False
        while time.time() < end or (stopped and proc.poll() is None):
            if end == ready_by and "READY=1" in got:
                end = time.time() + run_s
            if not stopped and time.time() >= end - 2:
                proc.send_signal(signal.SIGTERM)
                stopped = True
                end = time.time() + 20
            try:
                got += srv.recv(4096).decode().split("\n")
            except TimeoutError:
                pass
        proc.wait(20)
        while True:
            try:
                got += srv.recv(4096).decode().split("\n")
            except (TimeoutError, BlockingIOError):
                break
    finally:
        if proc.poll() is None:
            proc.kill()
        srv.close()
    return got


def test_agent_notifies_ready_watchdog_and_stopping(tmp_path: Path) -> None:
    cfg = example_on_free_ports(tmp_path)
    got = _notifications([sys.executable, "-m", "edge.cli", "run", "-c", str(cfg)], tmp_path, 8)
    assert "READY=1" in got
    assert got.count("WATCHDOG=1") >= 3  # every second (half of WatchdogSec=2 s)
    assert got.index("READY=1") < got.index("WATCHDOG=1")
    assert "STOPPING=1" in got
    assert any(g.startswith("STATUS=") and "devices connected" in g for g in got)


def test_aggregator_notifies_ready_and_watchdog(tmp_path: Path) -> None:
    cfg = tmp_path / "agg.yaml"
    cfg.write_text(
        "mqtt: {host: 127.0.0.1, port: 1}\nstore: {path: plant.db}\n"
        "lines: [{enterprise: acme, site: hamburg, area: filling, line: line1}]\n"
    )
    got = _notifications([sys.executable, "-m", "edge.cli", "aggregator", "run", "-c", str(cfg)], tmp_path, 6)
    assert "READY=1" in got and got.count("WATCHDOG=1") >= 3 and "STOPPING=1" in got
    assert any("broker unreachable" in g for g in got)  # the watchdog runs while the broker is away


@pytest.mark.parametrize("unit", UNITS, ids=[u.name for u in UNITS])
def test_no_restart_loop_on_exit_2(unit: Path) -> None:
    """Exit 2 (a bad config, a damaged or unreadable store) is not restarted into the
    same error by any unit (issue 13, finding 12)."""
    lines = unit.read_text().splitlines()
    assert "RestartPreventExitStatus=2" in lines, unit.name
