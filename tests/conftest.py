"""Shared test helpers: free loopback ports and small line configs built in code."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

from edge.cli.demo import free_port
from edge.config.line import LineConfig, parse_config

# Tests do not time things: no per-example deadline for property tests (a loaded machine
# would fail them for being slow, not wrong); too_slow data generation is not a defect.
settings.register_profile("lineside", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("lineside")

REPO = Path(__file__).resolve().parent.parent

#: Test files that run the example config on its fixed ports (4840, 5020, 44818, 18830,
#: 18080): under pytest-xdist they share one worker, one after another. (The demo moves
#: everything to free ports and a work directory of its own: its tests run anywhere.)
FIXED_PORT_FILES = ("tests/test_readme.py",)


# tryfirst: xdist's worker reads the group marks in its own (later registered, so earlier
# called) hook of the same name.
@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if item.nodeid.startswith(FIXED_PORT_FILES):
            item.add_marker(pytest.mark.xdist_group("fixed-ports"))
    # The longest first (xdist hands tests out in this order): a minutes-long end-to-end
    # test started last keeps one worker busy after the other has finished.
    items.sort(key=lambda item: not item.nodeid.startswith(LONG_FILES))


#: Test files of minutes-long end-to-end runs (a fresh clone with its virtualenv, several
#: real processes with brokers and databases), started first.
LONG_FILES = (
    *FIXED_PORT_FILES,
    "tests/sync/test_sync_e2e.py",
    "tests/sync/test_materials_e2e.py",
    "tests/sync/test_maint_e2e.py",
    "tests/sync/test_plan_e2e.py",
    "tests/sync/test_brokers.py",
    "tests/sync/test_scaleout_e2e.py",
    "tests/test_demo.py",
)


LINE = {"enterprise": "acme", "site": "test", "area": "a1", "line": "l1", "timezone": "Europe/Berlin"}


def make_config(
    devices: list[dict[str, Any]], tags: list[dict[str, Any]], tmp_path: Path, **extra: Any
) -> LineConfig:
    data = {
        "line": LINE,
        "devices": devices,
        "tags": tags,
        "store": {"path": str(tmp_path / "line.db"), "batch_max_latency_ms": 50},
    }
    data.update(extra)
    return parse_config(data)


async def wait_for(predicate: Any, timeout: float = 10.0, interval: float = 0.05) -> None:
    """Poll ``predicate`` (sync or async) until it is truthy; fail the test on timeout."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while True:
        res = predicate()
        if asyncio.iscoroutine(res):
            res = await res
        if res:
            return
        if loop.time() > end:
            raise AssertionError(f"condition not met within {timeout} s")
        await asyncio.sleep(interval)


@pytest.fixture
def port() -> int:
    return free_port()


def example_on_free_ports(tmp_path: Path, *, data_changes: Any = None) -> Path:
    """config/line1.yaml moved to free loopback ports, a private store and RTU link;
    returns the new config file. ``data_changes(data)`` may edit it further."""
    import yaml

    from edge.cli.demo import on_free_ports

    data = on_free_ports(yaml.safe_load((REPO / "config" / "line1.yaml").read_text()), tmp_path)
    data["store"]["path"] = str(tmp_path / "line1.db")
    if "uplink" in data:  # never the demo broker: a free port nobody listens on, unless changed below
        data["uplink"]["mqtt"]["port"] = free_port()
    if data_changes is not None:
        data_changes(data)
    p = tmp_path / "line1.yaml"
    p.write_text(yaml.safe_dump(data, allow_unicode=True))
    return p


def as_operator(cfg: Any, badge: str, *, signed: str | None = "pin") -> Any:
    """The actor of an example operator (line1.yaml: 1001 Anna operator, 1002 Ben team
    lead, 1003 Clara quality, 1004 Dirk maintenance) as if they had entered badge and PIN
    for the action (``signed``); for tests of the use cases themselves (the command line
    and the terminal authenticate through ``edge.services.session``)."""
    from edge.config.operators import by_badge
    from edge.services.identity import operator_actor

    op = by_badge(cfg.operators, badge)
    assert op is not None, f"no operator with badge {badge}"
    return operator_actor(cfg, op, "badge+pin", signed)  # type: ignore[arg-type]


def pin_on_stdin(monkeypatch: pytest.MonkeyPatch, *pins: str) -> None:
    """What a script pipes into `lineside … --badge B`: the PIN(s), one per line."""
    import io

    monkeypatch.setattr("sys.stdin", io.StringIO("".join(p + "\n" for p in pins)))


def wait_serving(sim: Any, config: Path, timeout: float = 120.0) -> list[str]:
    """Wait until ``lineside simulate`` (a Popen with ``stderr=PIPE``, text) serves every
    device of ``config``: its log says "serving <device>" for each. Returns the simulator's
    log lines, kept up to date by a thread that drains its stderr (so a chatty simulator
    never blocks on a full pipe). Start-up takes seconds on a loaded machine: waiting for
    the event, with a generous deadline, instead of a fixed sleep."""
    import threading
    import time

    import yaml

    devices = {d["name"] for d in yaml.safe_load(config.read_text())["devices"]}
    lines: list[str] = []

    def drain() -> None:
        for line in sim.stderr:
            lines.append(line)

    threading.Thread(target=drain, daemon=True).start()
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        serving = {d for d in devices if any(f"serving {d} (" in x for x in list(lines))}
        if serving == devices:
            return lines
        if sim.poll() is not None:
            time.sleep(0.2)  # the rest of its log
            raise AssertionError("the simulator exited:\n" + "".join(lines))
        time.sleep(0.1)
    raise AssertionError(
        f"the simulator did not serve {sorted(devices)} within {timeout} s:\n" + "".join(lines)
    )
