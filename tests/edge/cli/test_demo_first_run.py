"""`lineside demo` on a first run: default arguments, a relative work directory, started
from a directory that is not the repository (the example configs come from the package)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from edge.cli.demo import Demo, demo_broker_config
from edge.examples import example
from sync.broker import mosquitto_binary


def test_demo_broker_config_is_the_shipped_demo_conf_on_another_port() -> None:
    """The broker config is config/mosquitto/demo.conf with only its listener moved."""
    template = example("mosquitto/demo.conf").read_text()
    conf = demo_broker_config(41234, template, as_root=False)
    assert "listener 41234 127.0.0.1" in conf.splitlines()
    assert [ln for ln in conf.splitlines() if ln.startswith("listener")] == ["listener 41234 127.0.0.1"]
    kept = [ln for ln in template.splitlines() if not ln.startswith("listener")]
    assert all(ln in conf.splitlines() for ln in kept)
    assert "user root" in demo_broker_config(41234, template, as_root=True).splitlines()


def test_demo_work_directory_is_made_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Children run inside the work directory: every path handed to them must be absolute."""
    monkeypatch.chdir(tmp_path)
    demo = Demo(workdir=Path("var/demo"))
    assert demo.workdir == tmp_path / "var" / "demo"
    demo.prepare()
    assert demo.line_path.is_absolute() and demo.agg_path.is_absolute()
    assert demo.line_path.parent == tmp_path / "var" / "demo"


@pytest.mark.slow
@pytest.mark.skipif(
    mosquitto_binary() is None, reason="mosquitto is not installed (apt-get install mosquitto)"
)
def test_demo_headless_with_defaults_from_outside_the_repository(tmp_path: Path) -> None:
    """`lineside demo --headless` with no --workdir and no configs, run from an empty
    directory: the broker starts (its config path is absolute), the shipped examples are
    used, the stores land in ./var/demo, and every stage moves data."""
    p = subprocess.run(
        [sys.executable, "-m", "edge.cli", "demo", "--headless", "--duration", "12"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=150,
    )
    assert p.returncode == 0, p.stdout + p.stderr
    assert "broker mosquitto" in p.stdout
    assert "FAILED" not in p.stdout
    work = tmp_path / "var" / "demo"
    assert (work / "line.db").exists() and (work / "plant.db").exists()
    assert "listener" in (work / "mosquitto.conf").read_text()
