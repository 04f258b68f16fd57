"""Every state-changing `lineside aggregator …` command runs as an authenticated plant
user (the web view's `web.users`), within their role, and is audited in the web view's
audit log; refused (exit 2, nothing written, the field named) otherwise."""

from __future__ import annotations

import os
import re
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from edge.cli import main
from sync.aggregator.config import load_aggregator_config
from sync.aggregator.store import open_store
from sync.aggregator.users import ROLES, PlantUser, authenticate, authorize, locked_until
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
    # Nothing done; the failed logins are audited under the name tried (never the password).
    cmds, audit = written(agg)
    assert cmds == [] and audit == [
        ("paula", "planner", "login.failed", "paula", "refused", "command line (password)"),
        ("nobody", "", "login.failed", "nobody", "refused", "command line (password)"),
    ]
    assert not any("not-the-password" in str(r) or PASSWORD in str(r) for r in audit_rows(agg))


def audit_rows(agg: Path) -> list[tuple[Any, ...]]:
    st = open_store(load_aggregator_config(agg))
    try:
        return st.db.query("SELECT * FROM web_audit ORDER BY id")
    finally:
        st.close()


def lockout(agg: Path, **lock: Any) -> None:
    data = yaml.safe_load(agg.read_text())
    data["lockout"] = lock
    agg.write_text(yaml.safe_dump(data))


def test_a_user_is_locked_after_n_failed_logins_on_the_command_line(
    agg: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    lockout(agg, max_failures=3, window_s=600, lock_s=300)
    password_on_stdin(monkeypatch, "wrong-password", times=3)
    for _ in range(2):
        assert main([*ADD, "-c", str(agg), "--user", "paula"]) == 2
        assert "--user: unknown plant user or wrong password\n" in capsys.readouterr().err
    assert main([*ADD, "-c", str(agg), "--user", "PAULA"]) == 2  # the third: locked now
    assert "plant user paula is now locked after 3 failed logins, until " in capsys.readouterr().err
    # Locked: even the right password is refused, with the lock and when it ends.
    password_on_stdin(monkeypatch, times=2)
    t0 = time.time()
    assert main([*ADD, "-c", str(agg), "--user", "paula"]) == 2
    err = capsys.readouterr().err
    assert "--user: plant user paula is locked after 3 failed logins within 600 s; the lock ends at " in err
    assert "(in 5 min)" in err and "Traceback" not in err
    # Other users are not locked.
    assert main([*ADD, "-c", str(agg), "--user", "max"]) == 0
    cmds, audit = written(agg)
    assert [c["body"]["order_id"] for c in cmds] == ["WO-9"]
    assert [(a[0], a[2]) for a in audit] == [
        ("paula", "login.failed"),
        ("paula", "login.failed"),
        ("paula", "login.failed"),
        ("paula", "login.locked"),
        ("max", "order.release"),
    ]
    # The lock ends lock_s after the last failure; a success then clears the count.
    cfg = load_aggregator_config(agg)
    st = open_store(cfg)
    try:
        assert locked_until(st, cfg.lockout, "paula", t0) is not None
        assert locked_until(st, cfg.lockout, "paula", t0 + 301) is None
    finally:
        st.close()


def test_a_wrong_credential_counts_as_well(
    agg: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    lockout(agg, max_failures=2, window_s=600, lock_s=60)
    cred = tmp_path / "paula.cred"
    assert main(["aggregator", "user", "token", "-c", str(agg), "--user", "paula", "-o", str(cred)]) == 0
    capsys.readouterr()  # the token hash is not put in the config: the credential is wrong
    for _ in range(2):
        assert main([*ADD, "-c", str(agg), "--credential", str(cred)]) == 2
    assert "--credential: unknown plant user or wrong password; plant user paula is now locked" in (
        capsys.readouterr().err
    )
    assert [(a[0], a[2], a[5]) for a in written(agg)[1]] == [
        ("paula", "login.failed", "command line (credential)")
    ] * 2


def test_the_web_login_shares_the_lockout(agg: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from starlette.testclient import TestClient

    from sync.aggregator.web.app import create_app

    lockout(agg, max_failures=3, window_s=600, lock_s=300)
    password_on_stdin(monkeypatch, "wrong-password", times=2)
    for _ in range(2):  # two failures on the command line …
        assert main([*ADD, "-c", str(agg), "--user", "paula"]) == 2
    with TestClient(create_app(load_aggregator_config(agg)), base_url="http://127.0.0.1") as c:

        def login(password: str) -> Any:
            page = c.get("/login")
            csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
            assert csrf
            return c.post(
                "/login",
                data={"user": "paula", "password": password, "csrf": csrf.group(1), "next": "/"},
                follow_redirects=False,
            )

        r = login("wrong-password")  # … and the third in the browser: locked now
        assert r.status_code == 429 and "plant user paula is now locked after 3 failed logins" in r.text
        r = login(PASSWORD)
        assert r.status_code == 429 and "plant user paula is locked" in r.text and "lock ends at" in r.text
    # And back on the command line, still locked.
    password_on_stdin(monkeypatch)
    assert main([*ADD, "-c", str(agg), "--user", "paula"]) == 2
    assert [(a[2], a[5]) for a in written(agg)[1]] == [
        ("login.failed", "command line (password)"),
        ("login.failed", "command line (password)"),
        ("login.failed", "testclient"),
        ("login.locked", "testclient"),
        ("login.locked", "command line (password)"),
    ]


def test_a_master_data_push_writes_its_audit_entry_in_the_same_transaction(
    agg: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The audit entry is written by the service inside the action's transaction: an
    action that fails leaves neither; one that succeeds has both (with the plan id and
    the command ids the service chose)."""
    from sync.aggregator.masterdata import push
    from sync.aggregator.users import AuditNote

    cfg = load_aggregator_config(agg)
    user = PlantUser("ada", "admin", "password")
    note = AuditNote(user, "reasons.push", "", "1 reasons", "performed", "command line (password)")
    ids = push(cfg, "reasons", [{"code": "MECH.JAM", "name": "Jam"}], [cfg.lines[0].key], audit=note)
    cmds, audit = written(agg)
    assert [c["id"] for c in cmds] == ids
    assert audit == [
        ("ada", "admin", "reasons.push", cfg.lines[0].key, "performed", "command line (password)")
    ]
    detail = audit_rows(agg)[0][6]
    assert detail == f"1 reasons (commands {ids[0]})"

    class Boom(Exception):
        pass

    class Failing(AuditNote):
        def write(self, *a: Any, **k: Any) -> None:
            raise Boom

    bad = Failing(user, "reasons.push")
    with pytest.raises(Boom):
        push(cfg, "reasons", [{"code": "MECH.JAM", "name": "Jam"}], [cfg.lines[0].key], audit=bad)
    assert len(written(agg)[0]) == 1  # the audit failed: the command was not queued either


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
        ("paula", "planner", "login.failed", "command line (credential)"),  # the token not yet in the config
        ("paula", "planner", "order.release", "command line (credential)"),
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


def test_plan_approve_and_release_write_their_audit_entry_in_the_same_transaction(tmp_path: Path) -> None:
    from sync.aggregator.scheduling import service
    from sync.aggregator.users import AuditNote
    from tests.sync.aggregator.scheduling.test_service import GOOD, NOW, config, orders_csv

    cfg = config(str(tmp_path / "plant.db"))
    service.import_plan_file(cfg, orders_csv(tmp_path, GOOD), now=NOW)
    row = service.solve_plan(cfg, now=NOW)
    user = PlantUser("paula", "planner", "password", signed=True)

    class Boom(Exception):
        pass

    class Failing(AuditNote):
        def write(self, *a: Any, **k: Any) -> None:
            raise Boom

    def state() -> tuple[str, list[str], list[tuple[Any, ...]]]:
        st = open_store(cfg)
        try:
            plan = st.db.query("SELECT status FROM plans WHERE id = ?", (row["id"],))[0][0]
            audit = st.db.query("SELECT who, action, entity, detail, meaning FROM web_audit ORDER BY id")
            return plan, [c["id"] for c in st.commands()], audit
        finally:
            st.close()

    with pytest.raises(Boom):  # the audit entry cannot be written: the approval is undone too
        service.approve_plan(cfg, row["id"], by="paula", now=NOW, audit=Failing(user, "plan.approve"))
    assert state() == ("proposed", [], [])
    service.approve_plan(
        cfg, row["id"], by="paula", now=NOW, audit=AuditNote(user, "plan.approve", meaning="approved")
    )
    assert state() == ("approved", [], [("paula", "plan.approve", f"plan {row['id']}", "", "approved")])
    with pytest.raises(Boom):  # nor a release: no plan command goes to the line without its entry
        service.release_plan(cfg, row["id"], by="paula", now=NOW, audit=Failing(user, "plan.release"))
    assert state()[:2] == ("approved", [])
    out = service.release_plan(
        cfg, row["id"], by="paula", now=NOW, audit=AuditNote(user, "plan.release", meaning="approved")
    )
    plan, cmds, audit = state()
    assert plan == "released" and cmds == list(out["commands"].values()) and len(cmds) == 1
    assert audit[-1] == (
        "paula",
        "plan.release",
        f"plan {row['id']}",
        ", ".join(f"{line}: {cid}" for line, cid in out["commands"].items()),
        "approved",
    )
