"""Every state-changing `lineside aggregator …` command runs as an authenticated plant
user (the web view's `web.users`), within their role, and is audited in the web view's
audit log; refused (exit 2, nothing written, the field named) otherwise."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from edge.cli import main
from sync.aggregator.config import load_aggregator_config
from sync.aggregator.store import open_store
from sync.aggregator.users import ROLES, PlantUser, authenticate, authorize
from sync.aggregator.web.auth import Sessions
from tests.plant_users import PASSWORD, password_on_stdin, web_users

LINE = {"enterprise": "acme", "site": "hamburg", "area": "filling", "line": "line1"}
ADD = ["aggregator", "order", "add", "--line", "line1", "--order", "WO-9", "--product", "COLA-500"]


@pytest.fixture
def agg(tmp_path: Path) -> Path:
    p = tmp_path / "agg.yaml"
    p.write_text(yaml.safe_dump({"store": {"path": "plant.db"}, "lines": [LINE], "web": web_users()}))
    return p


def written(agg: Path) -> tuple[list[Any], list[tuple[Any, ...]]]:
    """The plant's commands and its audit log."""
    st = open_store(load_aggregator_config(agg))
    try:
        rows = st.db.query("SELECT who, role, action, entity, meaning, address FROM web_audit ORDER BY id")
        return st.commands(), rows
    finally:
        st.close()


def test_unauthenticated_or_wrong_password_is_refused_and_writes_nothing(
    agg: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("LINESIDE_PLANT_CREDENTIAL", raising=False)
    assert main([*ADD, "-c", str(agg)]) == 2
    assert "--user/--credential: a plant action needs an authenticated plant user" in capsys.readouterr().err
    password_on_stdin(monkeypatch, "not-the-password")
    assert main([*ADD, "-c", str(agg), "--user", "paula"]) == 2
    assert "--user: unknown plant user or wrong password" in capsys.readouterr().err
    password_on_stdin(monkeypatch)
    assert main([*ADD, "-c", str(agg), "--user", "nobody"]) == 2
    password_on_stdin(monkeypatch, "")
    assert main([*ADD, "-c", str(agg), "--user", "paula"]) == 2
    assert "password: required" in capsys.readouterr().err
    # `--by NAME` (free text) is gone, with the way that replaced it.
    assert main(["aggregator", "plan", "approve", "-c", str(agg), "1", "--by", "Paula Planner"]) == 2
    assert "--by: removed" in capsys.readouterr().err
    assert written(agg) == ([], [])


def test_outside_the_role_is_refused_and_writes_nothing(
    agg: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    password_on_stdin(monkeypatch, times=4)
    assert main([*ADD, "-c", str(agg), "--user", "vic"]) == 2
    assert (
        "--user: vic (role viewer) may not release, cancel and import work orders" in capsys.readouterr().err
    )
    assert main(["aggregator", "plan", "approve", "-c", str(agg), "1", "--user", "quinn"]) == 2
    assert "quinn (role quality) may not plan" in capsys.readouterr().err
    assert main(["aggregator", "lot", "recall", "-c", str(agg), "S-1", "--user", "paula"]) == 2
    assert main(["aggregator", "products", "push", "-c", str(agg), "p.yaml", "--all", "--user", "max"]) == 2
    assert "max (role manager) may not read the audit log and push master data" in capsys.readouterr().err
    assert written(agg) == ([], [])


def test_authorized_action_is_done_and_audited_under_the_users_name(
    agg: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    password_on_stdin(monkeypatch)
    assert main([*ADD, "-c", str(agg), "--user", "Paula"]) == 0
    cmds, audit = written(agg)
    assert [c["body"]["order_id"] for c in cmds] == ["WO-9"]
    assert audit == [
        (
            "paula",
            "planner",
            "order.release",
            "acme/hamburg/filling/line1",
            "performed",
            "command line (password)",
        )
    ]


def test_a_scripts_credential_file_identifies_but_an_approval_needs_the_password(
    agg: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    cred = tmp_path / "paula.cred"
    assert main(["aggregator", "user", "token", "-c", str(agg), "--user", "paula", "-o", str(cred)]) == 0
    token_hash = capsys.readouterr().out.split('token_hash: "')[1].split('"')[0]
    assert os.stat(cred).st_mode & 0o777 == 0o600
    # Not yet in the config: the credential is refused.
    assert main([*ADD, "-c", str(agg), "--credential", str(cred)]) == 2
    assert "--credential: the credential is not a plant user's current one" in capsys.readouterr().err
    data = yaml.safe_load(agg.read_text())
    data["web"]["users"][0]["token_hash"] = token_hash
    agg.write_text(yaml.safe_dump(data))
    monkeypatch.setenv("LINESIDE_PLANT_CREDENTIAL", str(cred))
    assert main([*ADD, "-c", str(agg)]) == 0
    # An approval is signed with the password: without it on stdin, refused.
    password_on_stdin(monkeypatch, "")
    assert main(["aggregator", "plan", "approve", "-c", str(agg), "1"]) == 2
    assert "password: required" in capsys.readouterr().err
    cred.chmod(0o644)
    assert main([*ADD, "-c", str(agg)]) == 2
    assert "readable by group or others" in capsys.readouterr().err
    cmds, audit = written(agg)
    assert len(cmds) == 1 and [a[:3] + a[5:] for a in audit] == [
        ("paula", "planner", "order.release", "command line (credential)")
    ]


def test_the_web_and_the_command_line_share_users_and_roles(agg: Path) -> None:
    cfg = load_aggregator_config(agg)
    assert cfg.web is not None
    from sync.aggregator.store import open_store

    st = open_store(cfg)
    try:
        s = Sessions(cfg.web, st).login("quinn", PASSWORD)
    finally:
        st.close()
    u = authenticate(cfg, "quinn", PASSWORD)
    assert s is not None and (s.user, s.role, s.permissions) == (u.name, u.role, u.permissions)
    assert ROLES["viewer"] == frozenset({"view"})  # read-only by default
    authorize(PlantUser("x", "manager", "password"), "orders")
