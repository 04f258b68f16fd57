"""`lineside stock …`, `hold …` and `aggregator lot|trace …` on the command line: a
refused move names the reason and exits 2 with nothing written; the plant's commands
queue for every line."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from edge.cli import main
from edge.config.line import load_config
from edge.services.commands import PlantCommand, apply_command
from edge.store import Store
from tests.conftest import example_on_free_ports, pin_on_stdin
from tests.edge.services.test_materials import MATERIALS


def test_stock_and_plant_commands(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = example_on_free_ports(tmp_path, data_changes=lambda d: d.update(MATERIALS))
    cfg = load_config(path)
    lots = [{"lot": "PF-Q", "material": "preform", "status": "quarantine", "quantity": 10}]
    with Store(cfg.store.path) as st:
        assert apply_command(cfg, st, PlantCommand("c1", "lots", 1.0, {"lots": lots})).accepted
    pin_on_stdin(monkeypatch, "1111")
    assert main(["stock", "in", "-c", str(path), "F-PREFORM", "PF-Q", "--badge", "1001"]) == 2
    assert "refused: lot 'PF-Q' is quarantine, not released" in capsys.readouterr().err
    assert main(["stock", "list", "-c", str(path), "--json"]) == 0
    assert capsys.readouterr().out.strip() == "[]"
    assert main(["stock", "lots", "-c", str(path)]) == 0
    assert "PF-Q" in capsys.readouterr().out
    # The plant: a material, a lot received, sent to the line; bad input exits 2.
    agg = tmp_path / "agg.yaml"
    agg.write_text(
        yaml.safe_dump(
            {
                "store": {"path": str(tmp_path / "plant.db")},
                "lines": [{k: getattr(cfg.line, k) for k in ("enterprise", "site", "area", "line")}],
            }
        )
    )
    a = ["aggregator"]
    assert main([*a, "material", "add", "-c", str(agg), "--id", "cap", "--shelf-life-days", "30"]) == 0
    assert (
        main([*a, "lot", "receive", "-c", str(agg), "--material", "cap", "--lot", "C1", "--quantity", "5"])
        == 0
    )
    assert (
        main([*a, "lot", "receive", "-c", str(agg), "--material", "nope", "--lot", "C2", "--quantity", "5"])
        == 2
    )
    assert "material: 'nope' is not in the plant's material master" in capsys.readouterr().err
    assert main([*a, "lot", "recall", "-c", str(agg), "NO-SUCH"]) == 2
    assert main([*a, "commands", "-c", str(agg), "--json"]) == 0
    assert '"kind": "lots"' in capsys.readouterr().out
    assert main([*a, "trace", "-c", str(agg), "C1"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("C1: cap released") and "backward (what went into it): none" in out
    assert main([*a, "trace", "-c", str(agg), "UNKNOWN"]) == 2
    assert main([*a, "lot", "reconcile", "-c", str(agg)]) == 0
