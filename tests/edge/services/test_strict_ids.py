"""One id rule and strict numbers in the use cases themselves (issue 13, finding 10), so
the terminal's forms and commands from the plant get the same refusals as the CLI: a
refusal names the field and writes nothing."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from edge.config.line import load_config
from edge.core.parse import check_id, parse_float, parse_int, parse_time
from edge.services.commands import PlantCommand, apply_command
from edge.services.context import open_store
from edge.services.production import order_command
from edge.services.trace import register_consumed, register_produced
from edge.services.validate import OperatorInputError, ident, number, require, whole
from edge.tui.forms import whole as form_whole
from tests.conftest import as_operator, example_on_free_ports

BAD_IDS = ["WO\x1b[2J", "WO\n1", "WO+1", "WO#1", "a/b", "W" * 65, "", " ", "WO\u200b1", "\u202eWO"]


@pytest.mark.parametrize("bad", BAD_IDS)
def test_the_id_rule(bad: str) -> None:
    with pytest.raises(ValueError):
        check_id(bad)
    with pytest.raises(OperatorInputError, match=r"^order: "):
        ident(bad, "order")


@pytest.mark.parametrize("good", ["WO-1001", "LOT.2026-11-21_07", "Prä-Form", "X" * 64, "a:b@c"])
def test_ids_that_pass(good: str) -> None:
    assert check_id(good) == good and ident(f"  {good} ", "order") == good


def test_strict_numbers() -> None:
    assert parse_int("+20") == 20 and parse_int(" -3 ") == -3
    for bad in ("2_0", "\uff12\uff10", "1e3", "20.0", "nan", "0x10", "", "--1", str(2**63)):
        with pytest.raises(ValueError):
            parse_int(bad)
    assert parse_float("1.5e3") == 1500.0 and parse_float(".5") == 0.5
    for bad in ("nan", "inf", "-Infinity", "1e400", "1_0.5", "\uff11.5", "1,5", "0x1p3"):
        with pytest.raises(ValueError):
            parse_float(bad)
    assert whole(5, "n") == 5 and whole(5.0, "n") == 5
    for v in (True, 5.7, math.nan, "5.0"):
        with pytest.raises(OperatorInputError, match=r"^n: "):
            whole(v, "n")
    for v in (True, math.inf, math.nan, "nan", None):
        with pytest.raises(OperatorInputError, match=r"^x: "):
            number(v, "x")
    assert parse_time("-1h", "UTC", now=10_000.0) == 6400.0
    assert parse_time("2026-01-01T00:00Z", "Europe/Berlin") == 1767225600.0


def test_free_text_refuses_control_characters() -> None:
    assert require(" line one\nline two\t ", "comment") == "line one\nline two"
    with pytest.raises(OperatorInputError, match=r"^comment: contains the control character U\+001B"):
        require("ok \x1b[31mred", "comment")


def test_terminal_counts_refuse_fullwidth_and_underscores() -> None:
    assert form_whole(" 1 000 ", "quantity") == 1000 and form_whole("-3", "good", signed=True) == -3
    for bad in ("\uff12\uff10", "2_0", "nan", "1e3", "-3"):
        with pytest.raises(OperatorInputError, match=r"^quantity: "):
            form_whole(bad, "quantity")


def test_use_cases_refuse_bad_ids_and_numbers_and_write_nothing(tmp_path: Path) -> None:
    cfg = load_config(example_on_free_ports(tmp_path))
    anna = as_operator(cfg, "1001")  # may run orders and record lots: the input is refused
    with open_store(cfg) as st:
        cases = [
            (lambda: order_command(cfg, st, anna, "start", "WO\x1b1", product="COLA-500"), "order"),
            (
                lambda: order_command(cfg, st, anna, "start", "WO-1", product="COLA-500", quantity=True),
                "quantity",
            ),  # type: ignore[arg-type]
            (
                lambda: order_command(cfg, st, anna, "start", "WO-1", product="COLA-500", due=math.nan),
                "due",
            ),
            (lambda: register_produced(cfg, st, anna, "L#1", order="WO-1"), "lot"),
            (lambda: register_produced(cfg, st, anna, "L1", order="WO-1", start=math.inf), "start"),
            (lambda: register_consumed(cfg, st, anna, "L1", "M/1", order="WO-1"), "material"),
            (
                lambda: register_consumed(cfg, st, anna, "L1", "M1", order="WO-1", quantity=math.nan),
                "quantity",
            ),
        ]
        for call, field in cases:
            with pytest.raises(OperatorInputError, match=f"^{field}: "):
                call()
        assert st.count("audit") == 0 and st.count("order_requests") == 0


def test_plant_commands_follow_the_id_rule(tmp_path: Path) -> None:
    cfg = load_config(example_on_free_ports(tmp_path))
    with open_store(cfg) as st:
        for i, body in enumerate(
            (
                {"order_id": "WO+1", "product": "COLA-500"},
                {"order_id": "WO-1", "product": "COLA-500", "quantity": 5.7},
                {"order_id": "WO-1", "product": "COLA-500", "quantity": True},
                {"order_id": "WO-1", "product": "COLA-500", "due": math.nan},
                {"order_id": "WO-1", "product": "COLA-500", "description": "\x1b[2J"},
            )
        ):
            res = apply_command(cfg, st, PlantCommand(f"c-{i}", "work_order", 1.0, body))
            assert not res.accepted, body
        products = apply_command(cfg, st, PlantCommand("p", "products", 1.0, {"products": [{"id": "A#B"}]}))
        assert not products.accepted and "contains '#'" in products.reason


def test_the_operator_channel_does_not_coerce_argument_types() -> None:
    """What the terminal (or anything else on the agent's socket) sends is checked against
    the use case's signature without coercion: ``true`` is not a quantity, ``"5"`` not a
    count; a proper value passes to the use case, which applies the strict rules."""
    from edge.services.gateway import validate_args

    for args, field in (
        ({"action": "start", "order": "WO-1", "quantity": True}, "quantity"),
        ({"action": "start", "order": "WO-1", "quantity": "5"}, "quantity"),
        ({"action": "start", "order": "WO-1", "due": "tomorrow"}, "due"),
    ):
        with pytest.raises(OperatorInputError, match=f"^{field}: "):
            validate_args("production.order_command", args)
    ok = validate_args("production.order_command", {"action": "start", "order": "WO-1", "quantity": 5})
    assert ok == {"action": "start", "order": "WO-1", "quantity": 5}
    with pytest.raises(OperatorInputError, match=r"^good: "):
        validate_args("production.adjust_count", {"machine": "filler", "good": 1.5})
