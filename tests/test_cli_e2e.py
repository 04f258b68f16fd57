"""End to end with real processes: `lineside simulate` serves all protocols, `lineside run`
records them, `status` and `history` read the store back."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO, example_on_free_ports, wait_serving


def lineside(*args: str, **kw: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "edge.cli", *args], capture_output=True, text=True, cwd=REPO, timeout=60, **kw
    )  # type: ignore[call-overload]


@pytest.fixture
def line_config(tmp_path: Path) -> Path:
    """The shipped example config, moved to free ports and a private RTU link."""
    return example_on_free_ports(tmp_path)


@pytest.mark.slow
def test_simulate_run_status_history(line_config: Path) -> None:
    sim = subprocess.Popen(
        [sys.executable, "-m", "edge.cli", "simulate", "-c", str(line_config)],
        cwd=REPO,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_serving(sim, line_config)
        run = lineside("run", "-c", str(line_config), "--duration", "6")
        assert run.returncode == 0, run.stderr
        assert "fault" not in run.stderr, run.stderr
        st = lineside("status", "-c", str(line_config), "--json")
        assert st.returncode == 0, st.stderr
        status = json.loads(st.stdout)
        assert {n: d["state"] for n, d in status["devices"].items()} == {
            n: "connected (agent not running)" for n in ("filler", "capper", "checkweigher", "palletiser")
        }
        tags = {t["tag"]: t for t in status["tags"]}
        assert all(t["value"] is not None for t in tags.values()), [
            n for n, t in tags.items() if t["value"] is None
        ]
        assert tags["filler.recipe"]["value"] == "COLA-500"
        assert tags["filler.speed_setpoint"]["value"] == 100.0
        assert 490 < tags["checkweigher.weight"]["value"] < 510
        assert len(tags["palletiser.zone_temps"]["value"]) == 4
        assert status["backlog"]["samples"] > 20
        hist = lineside("history", "-c", str(line_config), "--tag", "filler.cycle_count", "--format", "json")
        samples = json.loads(hist.stdout)["samples"]
        counts = [s["value"] for s in samples if s["value"] is not None]
        assert counts == sorted(counts) and counts[-1] > counts[0], "the counter advanced"
        csv_out = lineside("history", "-c", str(line_config), "--tag", "filler.state", "--since=-10m")
        assert csv_out.stdout.splitlines()[0] == "time,ts,value,quality,seq"
        text = lineside("status", "-c", str(line_config))
        assert "palletiser" in text.stdout and "NOT RUNNING" in text.stdout
    finally:
        sim.send_signal(signal.SIGTERM)
        sim.wait(15)
    assert sim.returncode == 0
    assert not (line_config.parent / "rtu-link").exists(), "the simulator removes its RTU link"


def test_history_unknown_tag_and_bad_time_are_clear_errors(line_config: Path) -> None:
    r = lineside("history", "-c", str(line_config), "--tag", "nope")
    assert r.returncode == 2 and "no tag named 'nope'" in r.stderr and "Traceback" not in r.stderr
    r = lineside("status", "-c", str(line_config))
    assert r.returncode == 1 and "no store here yet" in r.stderr


def test_help_explains_every_command() -> None:
    r = lineside("--help")
    for cmd in ("config", "run", "status", "history", "simulate", "certs"):
        assert cmd in r.stdout
    assert os.linesep.join(["Typical use:"]) in r.stdout


def test_every_command_is_documented_in_readme() -> None:
    """Each `lineside` command and subcommand appears in the README's command table."""
    import argparse

    from edge.cli import build_parser

    readme = (REPO / "README.md").read_text()
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    seen: set[int] = set()
    for name, p in sub.choices.items():
        if id(p) in seen:  # an alias (e.g. `maintenance` for `maint`): the README names it once
            assert f"`{name}` is an alias" in readme, name
            continue
        seen.add(id(p))
        nested = [a for a in p._actions if isinstance(a, argparse._SubParsersAction)]
        names = [f"{name} {n}" for n in nested[0].choices] if nested else [name]
        for full in names:
            first, *rest = full.split()
            assert f"lineside {first}" in readme, full
            for r in rest:
                assert r in readme, full


def test_journald_log_lines_carry_priority_and_a_fault_is_logged_once(tmp_path: Path) -> None:
    """Under systemd (JOURNAL_STREAM set): `<N>` priority prefixes, no time stamps, and an
    unreachable broker is reported once however many reconnects fail."""
    cfg = tmp_path / "agg.yaml"
    cfg.write_text(
        "mqtt: {host: 127.0.0.1, port: 1, reconnect_min_s: 0.2, reconnect_max_s: 0.5}\nstore: {path: plant.db}\n"
        "lines: [{enterprise: acme, site: hamburg, area: filling, line: line1}]\n"
    )
    p = subprocess.run(
        [sys.executable, "-m", "edge.cli", "aggregator", "run", "-c", str(cfg), "--duration", "4"],
        env=dict(os.environ, JOURNAL_STREAM="8:1234"),
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    lines = [line for line in p.stderr.splitlines() if line.strip()]
    assert lines and all(line[0] == "<" and line[2] == ">" for line in lines), lines
    assert any(line.startswith("<6>INFO lineside.aggregator: aggregator started") for line in lines)
    faults = [line for line in lines if line.startswith(("<3>", "<4>"))]
    assert len(faults) == 1, faults
