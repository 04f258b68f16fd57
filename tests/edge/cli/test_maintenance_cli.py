"""`lineside maint …`: a request through to a finished order on the command line, in text
and JSON; refusals name the field and write nothing (exit 2)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from edge.cli import main
from edge.store import Store
from tests.conftest import example_on_free_ports, pin_on_stdin


def test_request_to_finished_order_on_the_command_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = str(example_on_free_ports(tmp_path))
    dirk = ["--badge", "1004"]

    def run(*argv: str, pins: int = 1) -> int:
        pin_on_stdin(monkeypatch, *["4444"] * pins)
        return main(["maint", *argv])

    pin_on_stdin(monkeypatch, "1111")
    assert main(["maintenance", "request", "-c", cfg, "capper", "motor noisy", "--badge", "1001"]) == 0
    assert run("approve-request", "-c", cfg, "1", "--estimate", "2", *dirk) == 0
    assert "work order WO-1" in capsys.readouterr().out
    assert run("receive", "-c", cfg, "BRG-6204", "4", "delivery 1", *dirk) == 0
    assert run("start", "-c", cfg, "WO-1", *dirk) == 0
    assert run("labour", "-c", cfg, "WO-1", "1.5", *dirk) == 0
    assert run("parts", "-c", cfg, "WO-1", "BRG-6204", "2", *dirk) == 0
    capsys.readouterr()
    # refused: a code not in the lists, a quantity that is no number, finishing uncoded
    assert run("failure", "-c", cfg, "WO-1", "--problem", "NOPE", *dirk) == 2
    assert "problem: 'NOPE' is not in maintenance.failure_codes" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        run("parts", "-c", cfg, "WO-1", "BRG-6204", "nan", *dirk)
    assert e.value.code == 2
    assert run("finish", "-c", cfg, "WO-1", *dirk) == 2
    assert "code the failure of WO-1 first" in capsys.readouterr().err
    assert (
        run(
            "failure",
            "-c",
            cfg,
            "WO-1",
            "--problem",
            "BEARING",
            "--cause",
            "WEAR",
            "--remedy",
            "REPLACE",
            *dirk,
        )
        == 0
    )
    assert run("finish", "-c", cfg, "WO-1", "--comment", "bearings replaced", *dirk) == 0
    capsys.readouterr()
    assert main(["maint", "show", "-c", cfg, "WO-1", "--json"]) == 0
    wo = json.loads(capsys.readouterr().out)
    assert (wo["state"], wo["labour_h"], wo["parts"]) == ("done", 1.5, {"BRG-6204": 2.0})
    assert main(["maint", "reliability", "-c", cfg, "--since=-1d", "--json"]) == 0
    assert "capper" in json.loads(capsys.readouterr().out)["assets"]
    assert main(["maint", "stock", "-c", cfg]) == 0
    assert "BRG-6204" in capsys.readouterr().out
    with Store(Path(tmp_path / "line1.db"), readonly=True) as st:
        kinds = [k for (k,) in st.db.execute("SELECT kind FROM maint_events ORDER BY seq")]
    assert kinds == ["created", "approve", "start", "labour", "parts", "failure", "finish"]
