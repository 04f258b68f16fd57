"""Logging in, the lockout after wrong entries and signing, in the services: the rule the
terminal alone had holds on every path, here through `lineside operator login`."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from edge.cli import main
from edge.config.line import load_config
from edge.services import identity, session
from edge.services.context import open_store
from edge.services.validate import OperatorInputError
from tests.conftest import as_operator, example_on_free_ports


def login_cli(monkeypatch: pytest.MonkeyPatch, cfg_path: Path, credential: str) -> int:
    monkeypatch.setattr("sys.stdin", io.StringIO(credential + "\n"))
    return main(["operator", "login", "-c", str(cfg_path)])


def test_five_wrong_entries_lock_the_login_on_every_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Wrong PINs typed at the command line count like the terminal's: the fifth locks the
    login for a minute, for the right PIN too, and every failed attempt is audited."""
    cfg_path = example_on_free_ports(tmp_path)
    assert login_cli(monkeypatch, cfg_path, "1111") == 0
    assert "Anna Operator (1001), role operator: may" in capsys.readouterr().out
    for pin in ("9990", "9991", "9992", "9993"):
        assert login_cli(monkeypatch, cfg_path, pin) == 2
        assert "credential: badge number or PIN not recognised" in capsys.readouterr().err
    assert login_cli(monkeypatch, cfg_path, "9994") == 2
    assert "5 wrong entries, login locked for 60 s" in capsys.readouterr().err
    assert login_cli(monkeypatch, cfg_path, "1111") == 2
    assert "credential: too many wrong entries; try again in" in capsys.readouterr().err
    cfg = load_config(cfg_path)
    with open_store(cfg, readonly=True) as st:
        from edge.services import audit

        actions = [(e["who"], e["action"]) for e in audit.entries(st)]
    assert (
        actions
        == [("Anna Operator (1001)", "operator.login")] + [("terminal line1", "operator.login_failed")] * 5
    )


def test_the_lock_ends_after_a_minute_and_a_login_resets_the_count(tmp_path: Path) -> None:
    cfg = load_config(example_on_free_ports(tmp_path))
    t = 1_800_000_000.0
    with open_store(cfg) as st:
        for i in range(5):
            with pytest.raises(OperatorInputError):
                session.log_in(cfg, st, "0000", now=t + i)
        assert session.locked_until(cfg, st) == (t + 4 + session.LOGIN_LOCKOUT_S, 0)
        with pytest.raises(OperatorInputError, match="try again in 30 s"):
            session.log_in(cfg, st, "2222", now=t + 34)
        assert session.log_in(cfg, st, "2222", now=t + 65).name == "Ben Teamlead"
        with pytest.raises(OperatorInputError, match=r"not recognised$"):
            session.log_in(cfg, st, "0000", now=t + 70)
        assert session.locked_until(cfg, st) == (0.0, 1)  # counted anew after the login


def test_roles_and_signatures(tmp_path: Path) -> None:
    """What a role allows is the identity layer's rule; a signature is the badge or PIN
    of the operator who acts, entered for that action (a wrong one counts as a wrong entry)."""
    cfg = load_config(example_on_free_ports(tmp_path))
    anna, ben = as_operator(cfg, "1001", signed=None), as_operator(cfg, "1002", signed=None)
    assert identity.refusal(anna, "run_orders") is None
    assert identity.refusal(anna, "ack_alarms") == (
        "refused: Anna Operator's role 'operator' may not acknowledge SPC alarms"
    )
    assert identity.refusal(ben, "adjust_counts") is None
    with open_store(cfg) as st:
        assert session.sign(cfg, st, anna, "1001").signed == "badge"
        assert session.sign(cfg, st, anna, "1111").signed == "pin"
        with pytest.raises(OperatorInputError, match="sign: badge or PIN of Anna Operator required"):
            session.sign(cfg, st, anna, "2222")  # Ben's PIN
        with pytest.raises(OperatorInputError, match="pin: PIN of Anna Operator required"):
            session.sign(cfg, st, anna, "1001", pin_only=True, field="pin")  # a badge is no PIN
        assert session.locked_until(cfg, st) == (0.0, 2)  # both wrong signatures counted
