"""Strict operator input on the command line (issue 13, finding 10): numbers refuse NaN,
infinities, overflow, ``2_0`` and non-ASCII digits; times refuse NaN and absurd dates;
ids follow one rule (printable, ≤ 64 characters, no ``+ # /``, no control characters).
Each refusal names the option, exits 2 (never 1 "unexpected error") and writes nothing.
The operator commands run as Anna (badge 1001, her PIN 1111 piped on stdin)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from edge.cli import main
from edge.config.line import load_config
from edge.store import Store
from tests.conftest import example_on_free_ports, pin_on_stdin

BY = ["--badge", "1001"]


@pytest.fixture(autouse=True)
def anna_pin(monkeypatch: pytest.MonkeyPatch) -> None:
    """Anna's PIN for every command that gets as far as authenticating (one line each)."""
    monkeypatch.delenv("LINESIDE_CREDENTIAL", raising=False)
    pin_on_stdin(monkeypatch, *["1111"] * 50)


@pytest.fixture
def line(tmp_path: Path) -> Path:
    def manual(data: dict[str, Any]) -> None:
        data["characteristics"].append(
            {
                "name": "cap_height",
                "manual": True,
                "chart": "imr",
                "spec": {"lsl": 10, "usl": 12},
                "limits": {"center": 11, "sigma": 0.2},
            }
        )

    return example_on_free_ports(tmp_path, data_changes=manual)


def audit_rows(cfg_path: Path) -> int:
    path = load_config(cfg_path).store.path
    if not path.exists():
        return 0
    with Store(path, readonly=True) as st:
        return st.count("audit")


def refused(capsys: pytest.CaptureFixture[str], argv: list[str], option: str) -> str:
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2, err
    assert option in err and "unexpected error" not in err and "Traceback" not in err, err
    return err


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("1e30", "not a whole number"),
        ("nan", "not a whole number"),
        ("2_0", "not a whole number"),
        ("\uff12\uff10", "not a whole number"),  # fullwidth 20
        ("\u0663", "not a whole number"),  # Arabic-Indic 3
        ("99999999999999999999999", "out of range"),
        ("0", "out of range"),
    ],
)
def test_order_quantity_refuses_what_python_int_would_take(
    line: Path, capsys: pytest.CaptureFixture[str], value: str, why: str
) -> None:
    argv = ["order", "start", "-c", str(line), "WO-1", *BY, "--product", "COLA-500", "--quantity", value]
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert "argument --quantity:" in err and why in err, err
    assert audit_rows(line) == 0


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "1e400", "1e30", "-1", "2026-13-01", "10000-01-01"])
def test_times_refuse_nan_infinity_and_absurd_dates(
    line: Path, capsys: pytest.CaptureFixture[str], value: str
) -> None:
    refused(
        capsys,
        ["order", "start", "-c", str(line), "WO-1", *BY, "--product", "COLA-500", f"--due={value}"],
        "--due",
    )
    refused(
        capsys,
        ["lot", "produced", "-c", str(line), "L-1", *BY, "--order", "WO-1", f"--start={value}"],
        "--start",
    )
    refused(capsys, ["kpi", "-c", str(line), f"--since={value}"], "--since")
    assert audit_rows(line) == 0


@pytest.mark.parametrize(
    ("ident", "why"),
    [
        ("WO\x1b[2J", "control character U+001B"),
        ("WO-1\nWO-2", "white space"),
        ("WO+1", "contains '+'"),
        ("WO#1", "contains '#'"),
        ("line/WO-1", "contains '/'"),
        ("W" * 100_000, "too long (at most 64)"),
        ("WO\u202e1", "control character U+202E"),  # right-to-left override
    ],
)
def test_ids_follow_one_rule_everywhere(
    line: Path, capsys: pytest.CaptureFixture[str], ident: str, why: str
) -> None:
    for argv in (
        ["order", "start", "-c", str(line), ident, *BY, "--product", "COLA-500"],
        ["lot", "produced", "-c", str(line), ident, *BY, "--order", "WO-1"],
        ["lot", "consumed", "-c", str(line), ident, "PREFORM", *BY, "--order", "WO-1"],
        ["lot", "consumed", "-c", str(line), "L-1", ident, *BY, "--order", "WO-1"],
        ["trace", "-c", str(line), ident],
    ):
        with pytest.raises(SystemExit) as e:
            main(argv)
        assert e.value.code == 2
        err = capsys.readouterr().err
        assert why in err and len(err) < 2000, err  # the message never echoes 100k characters
    assert audit_rows(line) == 0


def test_a_duplicate_inspection_item_is_refused(line: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["inspect", "record", "-c", str(line), "hourly_torque", *BY]
    err = refused(capsys, [*argv, "--item", "cap_torque=2.0", "--item", "cap_torque=9"], "--item")
    assert "'cap_torque' is given more than once" in err
    assert audit_rows(line) == 0


@pytest.mark.parametrize("value", ["nan", "inf", "1_0", "\uff11\uff10", "1e400", "10 11"])
def test_measured_values_are_read_strictly(
    line: Path, capsys: pytest.CaptureFixture[str], value: str
) -> None:
    refused(capsys, ["spc", "enter", "-c", str(line), "cap_height", value, *BY], "value:")
    refused(
        capsys,
        ["inspect", "record", "-c", str(line), "hourly_torque", "--item", f"cap_torque={value}", *BY],
        "item 'cap_torque'",
    )
    assert audit_rows(line) == 0


def test_a_valid_measurement_still_goes_in(line: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["spc", "enter", "-c", str(line), "cap_height", "11.2", *BY]) == 0, capsys.readouterr().err
    assert audit_rows(line) == 1


@pytest.mark.parametrize(
    ("argv", "option"),
    [
        (["lot", "consumed", "-c", "{line}", "L-1", "PREFORM", *BY, "--quantity", "nan"], "--quantity"),
        (["history", "-c", "{line}", "--tag", "filler.temperature", "--limit", "1e3"], "--limit"),
        (["spc", "limits", "--chart", "imr", "--lsl", "nan", "x.csv"], "--lsl"),
        (["run", "-c", "{line}", "--duration", "inf"], "--duration"),
        (["audit", "list", "-c", "{line}", "--limit", "-1"], "--limit"),
        (
            [
                "spc",
                "ack",
                "-c",
                "{line}",
                "fill_weight",
                *BY,
                "--cause",
                "material",
                "--action",
                "none",
                "--comment",
                "ok\x1b[2J",
            ],
            "--comment",
        ),
    ],
)
def test_every_number_option_uses_the_strict_readers(
    line: Path, capsys: pytest.CaptureFixture[str], argv: list[str], option: str
) -> None:
    with pytest.raises(SystemExit) as e:
        main([a.replace("{line}", str(line)) for a in argv])
    assert e.value.code == 2
    assert f"argument {option}:" in capsys.readouterr().err


def test_aggregator_order_add_refuses_overflow_and_bad_ids(capsys: pytest.CaptureFixture[str]) -> None:
    base = ["aggregator", "order", "add", "-c", "agg.yaml", "--line", "l1", "--product", "P"]
    for extra, option in (
        (["--order", "WO-1", "--quantity", "1e30"], "--quantity"),
        (["--order", "WO-1", "--priority", "nan"], "--priority"),
        (["--order", "WO+1"], "--order"),
    ):
        with pytest.raises(SystemExit) as e:
            main(base + extra)
        assert e.value.code == 2
        assert f"argument {option}:" in capsys.readouterr().err
