"""`lineside export -c FILE STREAM --since … [--until …] --format csv|json|ndjson`:
one stream of the line's store, for support and audits."""

from __future__ import annotations

import csv
import io
import json
import time
from pathlib import Path

import pytest

from edge.cli import main
from edge.config.line import load_config
from edge.logic.model import Quality, Sample
from edge.services.production import order_command
from edge.store import Store
from tests.conftest import as_operator, example_on_free_ports


@pytest.fixture
def line(tmp_path: Path) -> tuple[Path, float]:
    path = example_on_free_ports(tmp_path)
    cfg = load_config(path)
    t0 = time.time() - 60
    with Store(cfg.store.path) as st:
        st.register_tags((t.name, t.device, t.type, t.eng_unit) for t in cfg.tags)
        st.append_samples(
            [Sample("filler.fill_weight", 500.0 + i, Quality.GOOD, t0 + i, t0 + i) for i in range(10)]
            + [Sample("palletiser.zone_temps", [60.0, 61.0, 62.0, 63.0], Quality.STALE, t0 + 5, t0 + 5)]
        )
        order_command(cfg, st, as_operator(cfg, "1001"), "start", "WO-1001", product="COLA-500", quantity=50)
    return path, t0


def test_csv_export_of_a_window(line: tuple[Path, float], capsys: pytest.CaptureFixture[str]) -> None:
    path, t0 = line
    argv = ["export", "-c", str(path), "samples", "--since", str(t0 + 2), "--until", str(t0 + 6)]
    assert main(argv) == 0
    out = capsys.readouterr()
    rows = list(csv.DictReader(io.StringIO(out.out)))
    assert list(rows[0]) == ["time", "seq", "tag", "ts", "ts_recv", "value", "quality"]
    assert [(r["tag"], r["value"], r["quality"]) for r in rows] == [
        ("filler.fill_weight", "502.0", "good"),
        ("filler.fill_weight", "503.0", "good"),
        ("filler.fill_weight", "504.0", "good"),
        ("filler.fill_weight", "505.0", "good"),
        ("palletiser.zone_temps", "[60.0, 61.0, 62.0, 63.0]", "stale"),
    ]
    assert rows[0]["time"].startswith(time.strftime("%Y-", time.localtime(t0)))
    assert "samples: 5 rows" in out.err


def test_json_and_ndjson_hold_the_same_rows(
    line: tuple[Path, float], capsys: pytest.CaptureFixture[str]
) -> None:
    path, t0 = line
    base = ["export", "-c", str(path), "samples", "--since", str(t0)]
    assert main([*base, "--format", "json"]) == 0
    as_json = json.loads(capsys.readouterr().out)
    assert main([*base, "--format", "ndjson"]) == 0
    as_ndjson = [json.loads(ln) for ln in capsys.readouterr().out.splitlines()]
    assert as_json == as_ndjson and len(as_json) == 11
    assert as_json[-1]["value"] == [60.0, 61.0, 62.0, 63.0]


def test_audit_export_to_a_file_with_a_relative_since(
    line: tuple[Path, float], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The operator's order command is in the audit stream, as support would pull it."""
    path, _ = line
    out = tmp_path / "audit.ndjson"
    assert (
        main(["export", "-c", str(path), "audit", "--since=-1h", "--format", "ndjson", "-o", str(out)]) == 0
    )
    [entry] = [json.loads(ln) for ln in out.read_text().splitlines()]
    assert (
        entry["who"] == "Anna Operator (1001)"
        and entry["action"] == "order.start"
        and entry["entity"] == "WO-1001"
    )
    assert "audit: 1 rows" in capsys.readouterr().err


def test_bad_arguments_are_refused_naming_them(
    line: tuple[Path, float], capsys: pytest.CaptureFixture[str]
) -> None:
    path, t0 = line
    with pytest.raises(SystemExit) as e:
        main(["export", "-c", str(path), "sample", "--since", str(t0)])
    assert e.value.code == 2 and "STREAM" in capsys.readouterr().err
    assert main(["export", "-c", str(path), "samples", "--since", str(t0), "--until", str(t0 - 1)]) == 2
    assert "until: must be later than --since" in capsys.readouterr().err
    assert main(["export", "-c", str(path), "samples", "--since", "yesterday"]) == 2
    assert "cannot read time 'yesterday'" in capsys.readouterr().err
