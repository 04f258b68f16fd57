"""Where the store lives: next to the config (relative to its folder) by hand, and in
the unit's state directory under systemd (``$STATE_DIRECTORY``), as the README's service
install copies ``config/line1.yaml`` to ``/etc/lineside/line.yaml`` unchanged."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from edge.cli.demo import on_free_ports
from edge.config.line import load_config
from edge.config.paths import store_file
from sync.aggregator.config import load_aggregator_config
from tests.conftest import REPO, free_port


@pytest.fixture
def etc(tmp_path: Path) -> Path:
    """The example configs copied as the README's install copies them."""
    d = tmp_path / "etc" / "lineside"
    d.mkdir(parents=True)
    shutil.copy(REPO / "config" / "line1.yaml", d / "line.yaml")
    shutil.copy(REPO / "config" / "aggregator.yaml", d / "aggregator.yaml")
    return d


def test_relative_store_path_is_relative_to_the_config_file(
    etc: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("STATE_DIRECTORY", raising=False)
    assert load_config(etc / "line.yaml").store.path == etc / "../var/line1.db"
    assert load_aggregator_config(etc / "aggregator.yaml").store.path == etc / "../var/plant.db"


def test_under_systemd_a_relative_store_path_is_a_file_in_the_state_directory(
    etc: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`store.path: ../var/line1.db` in /etc/lineside/line.yaml would be /etc/var/line1.db,
    which ProtectSystem=strict forbids: with StateDirectory= it is /var/lib/lineside/line1.db."""
    state = tmp_path / "var" / "lib" / "lineside"
    monkeypatch.setenv("STATE_DIRECTORY", str(state))
    assert load_config(etc / "line.yaml").store.path == state / "line1.db"
    agg_state = tmp_path / "var" / "lib" / "lineside-aggregator"
    monkeypatch.setenv("STATE_DIRECTORY", f"{agg_state}:{tmp_path / 'other'}")
    assert load_aggregator_config(etc / "aggregator.yaml").store.path == agg_state / "plant.db"


def test_an_absolute_store_path_is_kept_under_systemd(tmp_path: Path) -> None:
    env = {"STATE_DIRECTORY": "/var/lib/lineside"}
    assert store_file(Path("/srv/line1.db"), tmp_path, env) == Path("/srv/line1.db")
    assert store_file(Path("line1.db"), tmp_path, {}) == tmp_path / "line1.db"
    assert store_file(Path("line1.db"), tmp_path, {"STATE_DIRECTORY": ""}) == tmp_path / "line1.db"


def test_aggregator_on_postgresql_has_no_store_file(etc: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STATE_DIRECTORY", "/var/lib/lineside-aggregator")
    data = yaml.safe_load((etc / "aggregator.yaml").read_text())
    data["store"] = {"path": None, "url": "postgresql://lineside@db/lineside"}
    (etc / "aggregator.yaml").write_text(yaml.safe_dump(data))
    cfg = load_aggregator_config(etc / "aggregator.yaml")
    assert cfg.store.url == "postgresql://lineside@db/lineside" and cfg.store.path is None


@pytest.mark.slow
def test_agent_with_the_units_environment_writes_its_store_in_the_state_directory(tmp_path: Path) -> None:
    """`lineside run` as lineside-edge.service starts it (working directory and
    $STATE_DIRECTORY the state directory, the config in /etc): the store, its WAL and the
    audit key appear in the state directory and nothing beside the config."""
    etc = tmp_path / "etc" / "lineside"
    etc.mkdir(parents=True)
    data = on_free_ports(yaml.safe_load((REPO / "config" / "line1.yaml").read_text()), tmp_path / "rtu")
    data["store"]["path"] = "../var/line1.db"  # as shipped
    data["uplink"]["mqtt"]["port"] = free_port()  # nobody listens: the agent keeps a backlog
    (etc / "line.yaml").write_text(yaml.safe_dump(data))
    state = tmp_path / "var" / "lib" / "lineside"
    state.mkdir(parents=True)
    env = dict(os.environ, STATE_DIRECTORY=str(state))
    p = subprocess.run(
        [sys.executable, "-m", "edge.cli", "run", "-c", str(etc / "line.yaml"), "--duration", "2"],
        cwd=state,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert p.returncode == 0, p.stderr
    assert (state / "line1.db").exists()
    assert not (tmp_path / "etc" / "var").exists()
    assert sorted(f.name for f in etc.iterdir()) == ["line.yaml"]
