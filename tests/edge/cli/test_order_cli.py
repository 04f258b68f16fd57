"""`lineside order`: the order id is positional after the action and -c, as the README
documents (`lineside order start -c FILE WO-1001 --badge B`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge.cli import build_parser, main
from tests.conftest import example_on_free_ports, pin_on_stdin


@pytest.mark.parametrize(
    "argv",
    [
        ["order", "start", "-c", "line.yaml", "WO-1001", "--badge", "1001"],  # as documented
        ["order", "start", "WO-1001", "-c", "line.yaml", "--badge", "1001"],
        ["order", "-c", "line.yaml", "start", "WO-1001", "--badge", "1001"],
        ["order", "start", "--badge", "1001", "-c", "line.yaml", "WO-1001"],
    ],
)
def test_order_start_takes_the_order_id_wherever_options_stand(argv: list[str]) -> None:
    args = build_parser().parse_args(argv)
    assert (args.action, args.order, args.config, args.badge) == ("start", "WO-1001", "line.yaml", "1001")


def test_order_start_without_an_id_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as e:
        build_parser().parse_args(["order", "start", "-c", "line.yaml", "--badge", "1001"])
    assert e.value.code == 2
    assert "order" in capsys.readouterr().err


def test_order_without_config_or_action_names_what_is_missing(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["order", "pause", "--badge", "1001"]) == 2
    assert "-c/--config: required" in capsys.readouterr().err
    assert main(["order", "-c", "line.yaml"]) == 2
    assert "action: one of start" in capsys.readouterr().err


def test_documented_order_start_queues_the_command(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The README's command line, end to end against a real store."""
    cfg = example_on_free_ports(tmp_path)
    pin_on_stdin(monkeypatch, "1111")
    argv = ["order", "start", "-c", str(cfg), "WO-1001", "--badge", "1001", "--product", "COLA-500"]
    assert main(argv) == 0, capsys.readouterr().err
    assert "start WO-1001 queued" in capsys.readouterr().out
    assert main(["order", "list", "-c", str(cfg)]) == 0
    pin_on_stdin(monkeypatch, "1111")
    assert main(["order", "pause", "-c", str(cfg), "--badge", "1001"]) == 0
    assert "pause" in capsys.readouterr().out
