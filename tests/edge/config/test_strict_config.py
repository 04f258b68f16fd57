"""Strict config input (issue 13, finding 9): a key given twice, NaN or an infinity in
any number, and absurd nesting are config errors naming the file and the field or line
(exit 2), on the line config and the aggregator config alike."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from edge.cli import main
from edge.config.line import load_config
from edge.core.errors import ConfigError
from edge.core.yamlio import MAX_DEPTH, loads
from sync.aggregator.config import load_aggregator_config
from tests.conftest import REPO

LINE1 = (REPO / "config" / "line1.yaml").read_text()
AGG = (REPO / "config" / "aggregator.yaml").read_text()


def edited(tmp_path: Path, text: str, pattern: str, repl: str, name: str = "line.yaml") -> Path:
    new, n = re.subn(pattern, repl, text, count=1, flags=re.M)
    assert n == 1, f"pattern {pattern!r} not found in the example config"
    p = tmp_path / name
    p.write_text(new)
    return p


def errors_of(path: Path, loader=load_config) -> list[str]:  # type: ignore[no-untyped-def]
    with pytest.raises(ConfigError) as e:
        loader(path)
    return e.value.messages


def test_duplicate_key_is_an_error_naming_the_key_and_both_lines(tmp_path: Path) -> None:
    """Today's main keeps the last ``line:`` silently; now the second one is refused."""
    text = LINE1.replace("\nline:\n", "\nline:\n  line: other\n  line: again\n", 1)
    p = tmp_path / "line.yaml"
    p.write_text(text)
    (msg,) = errors_of(p)
    first = text.splitlines().index("  line: other") + 1
    assert msg.startswith(f"{p}: line {first + 1} column 3: invalid YAML: duplicate key 'line'"), msg
    assert f"first on line {first}" in msg


def test_duplicate_top_level_section_is_refused(tmp_path: Path) -> None:
    p = tmp_path / "line.yaml"
    p.write_text(LINE1 + "\nline:\n  enterprise: evil\n  site: s\n  area: a\n  line: l\n")
    (msg,) = errors_of(p)
    assert "duplicate key 'line'" in msg


def test_a_merge_key_may_still_be_overridden() -> None:
    """``<<: *defaults`` followed by one of its keys is an override, not a duplicate."""
    data = loads("d: &d {x: 1, y: 2}\ne:\n  <<: *d\n  x: 3\n")
    assert data["e"] == {"x": 3, "y": 2}


@pytest.mark.parametrize(
    ("pattern", "repl", "field"),
    [
        (r"scale: 0\.001", "scale: .nan", "tags[11].scale"),
        (r"timeout_s: 2$", "timeout_s: .nan", "devices[0].timeout_s"),
        (r"usl: 505", "usl: .nan", "characteristics[0].spec.usl"),
        (r"plausible: \[150, 220\]", "plausible: [150, .inf]", "inspections[0].items[0].plausible[1]"),
        (r"deadband: \{absolute: 0\.2", "deadband: {absolute: -.inf", "tags[4].deadband.absolute"),
        (r"value: true\}", "value: .nan}", "machines[1].state.rules[0].value"),
        (r"micro_stop_s: 30", "micro_stop_s: .inf", "machines[0].micro_stop_s"),
    ],
)
def test_nan_or_infinity_in_any_number_is_refused_naming_the_field(
    tmp_path: Path, pattern: str, repl: str, field: str
) -> None:
    msgs = errors_of(edited(tmp_path, LINE1, pattern, repl))
    assert len(msgs) == 1, msgs
    assert "finite number" in msgs[0], msgs
    assert f": {field}: " in msgs[0], msgs


def test_nan_in_the_aggregator_config_is_refused(tmp_path: Path) -> None:
    p = tmp_path / "aggregator.yaml"
    p.write_text(AGG + "\ncommand_resend_s: .nan\n")
    (msg,) = errors_of(p, load_aggregator_config)
    assert msg.startswith(f"{p}: command_resend_s: Input should be a finite number")


@pytest.mark.parametrize("kind", ["lists", "mappings"])
def test_absurd_nesting_is_a_config_error_naming_the_file(tmp_path: Path, kind: str) -> None:
    deep = "[" * 5000 + "]" * 5000 if kind == "lists" else "{a: " * 5000 + "1" + "}" * 5000
    p = tmp_path / "line.yaml"
    p.write_text(LINE1 + f"\ndescription_extra: {deep}\n")
    (msg,) = errors_of(p)
    assert msg.startswith(f"{p}: line ") and f"nested deeper than {MAX_DEPTH} levels" in msg


def test_cli_exits_2_on_each_of_them(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    dup = tmp_path / "dup.yaml"
    dup.write_text(LINE1.replace("\nline:\n", "\nline:\n  line: x\n", 1))
    nan = edited(tmp_path, LINE1, r"usl: 505", "usl: .nan", "nan.yaml")
    deep = tmp_path / "deep.yaml"
    deep.write_text("x: " + "[" * 5000 + "]" * 5000 + "\n")
    for p in (dup, nan, deep):
        assert main(["config", "check", str(p)]) == 2
        err = capsys.readouterr().err
        assert err.startswith(str(p)) and "Traceback" not in err and "unexpected" not in err
        assert main(["status", "-c", str(p)]) == 2
        capsys.readouterr()
