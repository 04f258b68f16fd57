"""Config validation: every shipped file is valid; each kind of mistake gives one
``FILE: path.to.field: problem`` line and exit code 2, never a traceback."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from edge.cli import main
from edge.config.line import load_config
from tests.conftest import REPO

GOOD = {
    "line": {"enterprise": "acme", "site": "s", "area": "a", "line": "l1"},
    "devices": [
        {"name": "plc", "protocol": "modbus_tcp", "host": "127.0.0.1", "port": 5020},
        {"name": "ua", "protocol": "opcua", "endpoint": "opc.tcp://127.0.0.1:4840"},
    ],
    "tags": [
        {"name": "speed", "device": "plc", "address": "hr:0", "type": "float32"},
        {"name": "temp", "device": "ua", "address": "ns=2;s=Temp", "type": "float64"},
    ],
}


def write(tmp_path: Path, data: object, name: str = "line.yaml") -> Path:
    p = tmp_path / name
    p.write_text(yaml.safe_dump(data) if not isinstance(data, str) else data)
    return p


@pytest.mark.parametrize("path", sorted((REPO / "config").glob("*.yaml")), ids=lambda p: p.name)
def test_every_shipped_config_is_valid(path: Path) -> None:
    """Each config under config/ loads without errors (line configs, and the aggregator's)."""
    if path.name.startswith("aggregator"):
        from sync.aggregator.config import load_aggregator_config

        assert load_aggregator_config(path).lines
        return
    cfg = load_config(path)
    assert cfg.devices and cfg.tags


def test_example_uses_all_three_protocols() -> None:
    cfg = load_config(REPO / "config" / "line1.yaml")
    assert {d.protocol for d in cfg.devices} >= {"opcua", "modbus_tcp", "modbus_rtu", "ethernetip"}


def test_check_valid_file_exits_0(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    p = write(tmp_path, GOOD)
    assert main(["config", "check", str(p)]) == 0
    assert "ok (2 devices, 2 tags)" in capsys.readouterr().out


def _mutate(fn):  # type: ignore[no-untyped-def]
    data = json.loads(json.dumps(GOOD))
    fn(data)
    return data


CASES = [
    ("unknown key", lambda d: d["tags"][0].update(scael=2), "tags[0].scael: unknown key"),
    (
        "wrong type",
        lambda d: d["devices"][0].update(port="five"),
        "devices[0].port: Input should be a valid integer",
    ),
    (
        "duplicate tag",
        lambda d: d["tags"].append(dict(d["tags"][0])),
        "tags[2].name: duplicate tag name 'speed'",
    ),
    (
        "unknown device",
        lambda d: d["tags"][0].update(device="nope"),
        "tags[0].device: tag 'speed' names unknown device 'nope'",
    ),
    (
        "address out of range",
        lambda d: d["tags"][0].update(address="hr:65535"),
        "tags[0].address: tag 'speed': address 65535 (+2 registers) is out of range",
    ),
    (
        "bad modbus address",
        lambda d: d["tags"][0].update(address="40001"),
        "tags[0].address: tag 'speed': '40001' is not a Modbus address",
    ),
    (
        "unknown protocol",
        lambda d: d["devices"][0].update(protocol="profinet"),
        "devices[0]: Input tag 'profinet' found using 'protocol' does not match",
    ),
    ("missing field", lambda d: d["devices"][0].pop("host"), "devices[0].host: required field is missing"),
    (
        "bit on coil",
        lambda d: d["tags"][0].update(address="co:1.2", type="bool"),
        "tags[0].address: tag 'speed': a bit index applies to registers only",
    ),
    (
        "bad timezone",
        lambda d: d["line"].update(timezone="Mars/Base"),
        "line.timezone: unknown IANA time zone 'Mars/Base'",
    ),
]


@pytest.mark.parametrize(("case", "mutate", "expected"), CASES, ids=[c[0] for c in CASES])
def test_bad_config_gives_field_path_error_and_exit_2(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    case: str,
    mutate,
    expected: str,  # type: ignore[no-untyped-def]
) -> None:
    p = write(tmp_path, _mutate(mutate))
    assert main(["config", "check", str(p)]) == 2
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert lines, "an error message is printed"
    assert any(line.startswith(f"{p}: ") and expected in line for line in lines), err
    assert "Traceback" not in err


def test_every_error_reported_not_just_the_first(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = _mutate(lambda d: (d["tags"][0].update(device="nope"), d["tags"][1].update(scale="x")))
    p = write(tmp_path, data)
    assert main(["config", "check", str(p)]) == 2
    err = capsys.readouterr().err
    assert "tags[1].scale" in err


def test_yaml_syntax_error_names_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    p = write(tmp_path, "line:\n  enterprise: acme\n  site: [unclosed\n")
    assert main(["config", "check", str(p)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"{p}: line ") and "invalid YAML" in err


def test_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["config", "check", str(tmp_path / "nope.yaml")]) == 2
    assert "file not found" in capsys.readouterr().err


def test_cli_process_exit_code_and_no_traceback(tmp_path: Path) -> None:
    """The installed console entry point behaves the same in a real process."""
    p = write(tmp_path, _mutate(lambda d: d["tags"][0].update(device="nope")))
    r = subprocess.run(
        [sys.executable, "-m", "edge.cli", "config", "check", str(p)], capture_output=True, text=True
    )
    assert r.returncode == 2
    assert r.stderr.strip().count("\n") == 0 and "unknown device 'nope'" in r.stderr
    assert "Traceback" not in r.stderr


def test_schema_is_json_with_field_docs(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["config", "schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    tag = schema["$defs"]["Tag"]["properties"]
    assert "writable" in tag and "refused" in tag["writable"]["description"]
    assert {"OpcUaDevice", "ModbusTcpDevice", "ModbusRtuDevice", "EthernetIpDevice"} <= set(schema["$defs"])


def test_relative_paths_resolve_against_config_folder(tmp_path: Path) -> None:
    p = write(tmp_path, GOOD | {"store": {"path": "data/line.db"}})
    assert load_config(p).store.path == tmp_path / "data" / "line.db"
