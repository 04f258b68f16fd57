"""`.ci/run` on a fresh Debian machine: installs the system packages the suite needs
(apt-get, non-interactive, only when missing), then runs `make lint` and `make test`.

apt-get and make are replaced by recording scripts on PATH: the test checks what the CI
script asks of them, not Debian's package manager."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from tests.conftest import REPO

RECORDER = """#!/bin/sh
echo "$(basename "$0") $* DEBIAN_FRONTEND=${DEBIAN_FRONTEND:-}" >> "$CALLS"
exit ${FAIL_APT:-0}
"""


def stub_bin(tmp_path: Path, *names: str) -> Path:
    d = tmp_path / "bin"
    d.mkdir(exist_ok=True)
    for name in names:
        p = d / name
        p.write_text(RECORDER if name == "apt-get" else RECORDER.replace("${FAIL_APT:-0}", "0"))
        p.chmod(p.stat().st_mode | stat.S_IEXEC)
    return d


def run_ci(tmp_path: Path, stubs: Path, **env: str) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    calls = tmp_path / "calls"
    calls.touch()
    # Only the stubs and the base system: mosquitto (in /usr/sbin) is not found.
    full = {
        "PATH": f"{stubs}:/usr/bin:/bin",
        "SBIN_DIRS": "",
        "CALLS": str(calls),
        "HOME": str(tmp_path),
        **env,
    }
    p = subprocess.run(
        ["bash", str(REPO / ".ci" / "run")], env=full, capture_output=True, text=True, timeout=60
    )
    return p, calls.read_text().splitlines()


needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="the install path without sudo needs root")
needs_base = pytest.mark.skipif(
    shutil.which("mosquitto", path="/usr/bin:/bin") is not None,
    reason="mosquitto is on /usr/bin here: it cannot be made to look missing",
)


@needs_root
@needs_base
def test_missing_mosquitto_is_installed_then_lint_and_test_run(tmp_path: Path) -> None:
    p, calls = run_ci(tmp_path, stub_bin(tmp_path, "apt-get", "make"))
    assert p.returncode == 0, p.stderr
    assert calls[0] == "apt-get update -q DEBIAN_FRONTEND=noninteractive"
    assert calls[1].startswith("apt-get install -y -q --no-install-recommends ")
    assert "mosquitto" in calls[1].split() and calls[1].endswith("DEBIAN_FRONTEND=noninteractive")
    assert calls[2:] == ["make lint DEBIAN_FRONTEND=", "make test DEBIAN_FRONTEND="]


@needs_root
@needs_base
def test_a_failed_install_stops_with_the_command_to_run_by_hand(tmp_path: Path) -> None:
    p, calls = run_ci(tmp_path, stub_bin(tmp_path, "apt-get", "make"), FAIL_APT="100")
    assert p.returncode == 1
    assert "apt-get could not install mosquitto" in p.stderr
    assert "sudo apt-get install -y mosquitto" in p.stderr
    assert not any(c.startswith("make") for c in calls)


def test_nothing_is_installed_when_everything_is_there(tmp_path: Path) -> None:
    """With mosquitto found (in sbin, as Debian installs it), apt-get is never called."""
    if shutil.which("mosquitto", path="/usr/sbin:/sbin:/usr/bin:/bin") is None:
        pytest.skip("mosquitto is not installed here")
    stubs = stub_bin(tmp_path, "apt-get", "make")
    p, calls = run_ci(tmp_path, stubs, SBIN_DIRS="/usr/sbin:/sbin")
    assert p.returncode == 0, p.stderr
    assert calls == ["make lint DEBIAN_FRONTEND=", "make test DEBIAN_FRONTEND="]


def test_lint_failure_still_runs_the_tests_and_fails_the_run(tmp_path: Path) -> None:
    if shutil.which("mosquitto", path="/usr/sbin:/sbin:/usr/bin:/bin") is None:
        pytest.skip("mosquitto is not installed here")
    stubs = stub_bin(tmp_path, "apt-get")
    (stubs / "make").write_text('#!/bin/sh\necho "make $*" >> "$CALLS"\n[ "$1" != lint ]\n')
    (stubs / "make").chmod(0o755)
    p, calls = run_ci(tmp_path, stubs, SBIN_DIRS="/usr/sbin:/sbin")
    assert p.returncode == 1
    assert calls == ["make lint", "make test"]
