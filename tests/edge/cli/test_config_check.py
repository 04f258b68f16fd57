"""`lineside config check` validates line configs and aggregator configs, each with its
own loader, and says which kind it checked."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from edge.cli import main
from tests.conftest import REPO


def test_shipped_configs_check_ok_and_name_their_kind(capsys: pytest.CaptureFixture[str]) -> None:
    line, agg = REPO / "config" / "line1.yaml", REPO / "config" / "aggregator.yaml"
    assert main(["config", "check", str(line), str(agg)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith(f"{line}: ok (4 devices, 20 tags): line config, store ")
    assert out[1].startswith(f"{agg}: ok (1 line): aggregator config, store ")


def test_aggregator_config_errors_come_from_the_aggregator_loader(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = yaml.safe_load((REPO / "config" / "aggregator.yaml").read_text())
    data["ack_interval_ms"] = 0
    data["lines"][0]["line"] = "line 1"
    bad = tmp_path / "aggregator.yaml"
    bad.write_text(yaml.safe_dump(data))
    assert main(["config", "check", str(bad)]) == 2
    err = capsys.readouterr().err
    assert f"{bad}: ack_interval_ms:" in err
    assert f"{bad}: lines[0].line:" in err
    assert "devices" not in err and "tags" not in err  # not judged as a line config


def test_quiet_check_prints_nothing_for_valid_files(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["config", "check", "-q", str(REPO / "config" / "aggregator.yaml")]) == 0
    assert capsys.readouterr().out == ""


def test_opcua_security_files_that_do_not_exist_fail_the_check(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Issue 13 finding 14: the check passed certificate files that do not exist (paths
    are relative to the config file)."""
    (tmp_path / "edge.der").write_bytes(b"x")
    data = {
        "line": {"enterprise": "acme", "site": "s", "area": "a", "line": "l1"},
        "devices": [
            {
                "name": "filler",
                "protocol": "opcua",
                "endpoint": "opc.tcp://127.0.0.1:4840",
                "security": {
                    "policy": "Basic256Sha256",
                    "mode": "SignAndEncrypt",
                    "certificate": "edge.der",
                    "private_key": "pki/edge-key.pem",
                    "server_certificate": "pki/server.der",
                },
            }
        ],
        "tags": [{"name": "speed", "device": "filler", "address": "ns=2;s=Speed"}],
        "store": {"path": "line.db"},
    }
    cfg = tmp_path / "line.yaml"
    cfg.write_text(yaml.safe_dump(data))
    assert main(["config", "check", str(cfg)]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err == [
        f"{cfg}: devices[0].security.private_key: device 'filler': {tmp_path}/pki/edge-key.pem does not exist",
        f"{cfg}: devices[0].security.server_certificate: device 'filler': {tmp_path}/pki/server.der does not exist",
    ]
    (tmp_path / "pki").mkdir()
    (tmp_path / "pki" / "edge-key.pem").write_bytes(b"x")
    (tmp_path / "pki" / "server.der").write_bytes(b"x")
    assert main(["config", "check", str(cfg)]) == 0
