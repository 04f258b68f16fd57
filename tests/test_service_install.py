"""The README's service install as written: the configs it copies to /etc/lineside are the
ones the units read, every unit that keeps a store has a state directory, and there the
copied example config puts its store (not in /etc, which ProtectSystem=strict forbids)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from edge.config.line import load_config
from sync.aggregator.config import load_aggregator_config
from tests.conftest import REPO

UNITS = {u.name: u.read_text() for u in sorted((REPO / "systemd").glob("*.service"))}


def unit_setting(text: str, key: str) -> str | None:
    found = re.findall(rf"^{key}=(.*)$", text, re.M)
    return found[-1].strip() if found else None


def unit_config(text: str) -> str | None:
    """The config file the unit's ExecStart reads (``-c FILE``)."""
    argv = shlex.split(unit_setting(text, "ExecStart") or "")
    return argv[argv.index("-c") + 1] if "-c" in argv else None


def service_blocks() -> list[list[str]]:
    text = (REPO / "README.md").read_text()
    start = text.index("## Running as a service")
    section = text[start : text.index("\n## ", start + 1)]
    return [
        [ln for ln in m.group(1).splitlines() if ln.strip()]
        for m in re.finditer(r"```sh\n(.*?)```", section, re.S)
    ]


def readme_copies() -> dict[str, str]:
    """`sudo cp SRC… DEST` lines of the install steps: installed path → source in the checkout."""
    out: dict[str, str] = {}
    for block in service_blocks():
        for line in block:
            argv = shlex.split(line, comments=True)
            if argv[:2] == ["sudo", "cp"]:
                *srcs, dest = argv[2:]
                for src in srcs:
                    out[dest if not dest.endswith("/") else dest + Path(src).name] = src
    return out


STORE_UNITS = ["lineside-edge.service", "lineside-tui@.service", "lineside-aggregator.service"]
#: Units that keep a store (the terminal reads the agent's, see below).
OWNERS = ["lineside-edge.service", "lineside-aggregator.service"]


def unit_env(text: str) -> dict[str, str]:
    env: dict[str, str] = {}
    for line in re.findall(r"^Environment=(.*)$", text, re.M):
        for item in shlex.split(line):
            key, _, value = item.partition("=")
            env[key] = value
    return env


def state_dir(name: str) -> str:
    """Where the unit's store lies: its own state directory, or the one it is pointed at."""
    text = UNITS[name]
    own = unit_setting(text, "StateDirectory")
    return f"/var/lib/{own}" if own else unit_env(text)["STATE_DIRECTORY"]


@pytest.mark.parametrize("name", OWNERS)
def test_units_that_keep_a_store_run_in_their_state_directory(name: str) -> None:
    text = UNITS[name]
    state = unit_setting(text, "StateDirectory")
    assert state, f"{name}: no StateDirectory= (ProtectSystem=strict leaves it nowhere to write)"
    assert unit_setting(text, "ProtectSystem") == "strict"
    assert unit_setting(text, "WorkingDirectory") == f"/var/lib/{state}"


def test_the_terminal_reads_the_agents_store_as_another_user() -> None:
    """The operator terminal runs as its own user in the agent's group, with no state
    directory (systemd would give the agent's to it) but pointed at the agent's, and at
    the agent's runtime directory, where the operator channel is."""
    tui, edge = UNITS["lineside-tui@.service"], UNITS["lineside-edge.service"]
    assert unit_setting(tui, "StateDirectory") is None
    assert unit_setting(tui, "User") == "lineside-operator" != unit_setting(edge, "User")
    assert unit_setting(tui, "Group") == unit_setting(edge, "Group") == "lineside"
    env = unit_env(tui)
    assert env["STATE_DIRECTORY"] == f"/var/lib/{unit_setting(edge, 'StateDirectory')}"
    assert env["RUNTIME_DIRECTORY"] == f"/run/{unit_setting(edge, 'RuntimeDirectory')}"
    assert unit_setting(edge, "RuntimeDirectoryMode") == "0750"
    assert unit_setting(edge, "UMask") == "0027"  # store files 640: the group reads them
    assert unit_setting(tui, "ProtectSystem") == "strict"  # and writes nothing


@pytest.mark.parametrize("name", STORE_UNITS)
def test_readme_installs_what_the_unit_reads_and_its_store_lands_in_the_state_directory(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    copies = readme_copies()
    assert f"/etc/systemd/system/{name}" in copies, f"README: no step installs {name}"
    assert copies[f"/etc/systemd/system/{name}"] == f"systemd/{name}"
    config = unit_config(UNITS[name])
    assert config in copies, f"README: no step puts {config}, which {name} reads, in place"
    # The copied config, loaded as systemd starts the unit (STATE_DIRECTORY from StateDirectory=).
    etc = tmp_path / Path(config).relative_to("/")
    etc.parent.mkdir(parents=True)
    etc.write_bytes((REPO / copies[config]).read_bytes())
    state = state_dir(name)
    monkeypatch.setenv("STATE_DIRECTORY", state)
    load = load_aggregator_config if "aggregator" in name else load_config
    path = load(etc).store.path
    assert path is not None and path.parent == Path(state), path


def test_readme_hand_commands_use_the_edge_units_state_directory() -> None:
    state = unit_setting(UNITS["lineside-edge.service"], "StateDirectory")
    user = unit_setting(UNITS["lineside-edge.service"], "User")
    hand = [ln for block in service_blocks() for ln in block if "STATE_DIRECTORY=" in ln]
    assert hand, "README: no example of a command run by hand against the service's store"
    for line in hand:
        assert f"sudo -u {user} STATE_DIRECTORY=/var/lib/{state} " in line
        assert "-c /etc/lineside/line.yaml" in line


def test_units_point_at_the_installed_readme() -> None:
    """Documentation= names the README the install steps put there."""
    installed = [
        ln for block in service_blocks() for ln in block if "README.md /opt/lineside/README.md" in ln
    ]
    assert installed
    for name, text in UNITS.items():
        assert unit_setting(text, "Documentation") == "file:///opt/lineside/README.md", name
