"""``lineside spc limits|check`` on CSV files: output and clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from edge.cli import main
from tests.edge.logic.test_spc import LOAN, OJ, PCB


def write(tmp_path: Path, name: str, header: str, rows: list[str]) -> str:
    p = tmp_path / name
    p.write_text(header + "\n" + "\n".join(rows) + "\n")
    return str(p)


def test_check_c_chart_prints_limits_and_violations(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    f = write(tmp_path, "pcb.csv", "count", [str(c) for c in PCB])
    assert main(["spc", "check", "--chart", "c", "--rules", "we", f, "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    [panel] = res["panels"]
    assert panel["beyond_limits"] == [6, 20]
    assert {(v["rule"], v["sample"]) for v in panel["violations"]} >= {("we1", 6), ("we1", 20)}


def test_p_chart_with_size_column_and_imr_capability(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    f = write(tmp_path, "oj.csv", "count,size", [f"{c},50" for c in OJ])
    assert main(["spc", "limits", "--chart", "p", f]) == 0
    out = capsys.readouterr().out
    assert "centre 0.23133" in out and "beyond the limits: 15, 23" in out
    g = write(tmp_path, "loan.csv", "value", [str(v) for v in LOAN])
    assert main(["spc", "limits", "--chart", "imr", "--lsl", "270", "--usl", "330", g]) == 0
    out = capsys.readouterr().out
    assert "UCL 321.21" in out and "Cp 1.449" in out


def test_subgroup_column_groups_rows(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = [f"{v},{i // 4}" for i, v in enumerate(LOAN)]
    f = write(tmp_path, "g.csv", "value,subgroup", rows)
    assert main(["spc", "limits", "--chart", "xbar-s", "--subgroup-size", "4", f, "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["panels"][0]["points"] == 5


@pytest.mark.parametrize(
    ("args", "rows", "message"),
    [
        (["--chart", "imr"], ["1", "x2", "3"], ":3: value: 'x2' is not a number"),
        (
            ["--chart", "xbar-r", "--subgroup-size", "30"],
            ["1", "2"],
            "--subgroup-size: must be from 2 to 25, got 30",
        ),
        (
            ["--chart", "xbar-r", "--subgroup-size", "1"],
            ["1", "2"],
            "--subgroup-size: must be from 2 to 25, got 1",
        ),
        (["--chart", "xbar-r"], ["1", "2"], "--subgroup-size: required for a xbar-r chart"),
        (
            ["--chart", "xbar-r", "--subgroup-size", "2"],
            ["1", "2", "3"],
            "3 values do not make whole subgroups of 2",
        ),
        (["--chart", "c"], ["1", "2"], ":1: header: missing column(s) count for a c chart"),
        (["--chart", "imr", "--rules", "nelson9"], ["1", "2", "3"], "--rules: unknown rule 'nelson9'"),
    ],
)
def test_bad_input_names_the_line_or_option(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], rows: list[str], message: str
) -> None:
    f = write(tmp_path, "bad.csv", "value", rows)
    cmd = "check" if "--rules" in args else "limits"
    assert main(["spc", cmd, *args, f]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_cusum_and_ewma_from_the_command_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from tests.edge.logic.test_spc import CUSUM_X

    f = write(tmp_path, "x.csv", "value", [str(v) for v in CUSUM_X])
    assert main(["spc", "check", "--chart", "cusum", "--mu0", "10", "--sigma", "1", f, "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["panels"][0]["upper_signals"] == [29, 30] and res["panels"][0]["ucl"] == 5.0
    assert (
        main(
            [
                "spc",
                "check",
                "--chart",
                "ewma",
                "--mu0",
                "10",
                "--sigma",
                "1",
                "--lambda",
                "0.1",
                "--L",
                "2.7",
                f,
                "--json",
            ]
        )
        == 0
    )
    res = json.loads(capsys.readouterr().out)
    assert res["panels"][0]["beyond_limits"][0] >= 21  # the shift starts at observation 21
    assert main(["spc", "check", "--chart", "ewma", "--lambda", "1.5", f]) == 2
    assert "--lambda: must be in (0, 1]" in capsys.readouterr().err


def test_spc_arl_reports_what_the_shipped_rules_promise(capsys: pytest.CaptureFixture[str]) -> None:
    from edge.logic.quality.arl import dispersion_beyond
    from tests.conftest import REPO

    assert main(["spc", "arl", "-c", str(REPO / "config" / "line1.yaml"), "--json"]) == 0
    [row] = json.loads(capsys.readouterr().out)
    assert row["characteristic"] == "fill_weight" and row["rules"] == "we1"
    # X̄ alone: 370.4 (Montgomery §6.2.3), 1.57 after a 1.5σ shift; the R chart signals
    # too (independently, 0.0046 a point in control, unchanged by a mean shift).
    p_r = dispersion_beyond("xbar-r", 5)
    assert round(p_r, 4) == 0.0046
    assert row["arl0"] == pytest.approx(1 / (1 - (1 - 1 / 370.4) * (1 - p_r)), rel=1e-4)
    assert row["arl1"] == pytest.approx(1 / (1 - (1 - 1 / 1.57) * (1 - p_r)), abs=0.01)
    assert row["points_per_day"] == pytest.approx(288) and row["false_alarms_per_day"] <= row["allowed"]
    with pytest.raises(SystemExit) as e:
        main(["spc", "arl", "-c", str(REPO / "config" / "line1.yaml"), "--shift", "x"])
    assert e.value.code == 2
