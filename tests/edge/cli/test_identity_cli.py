"""Every operator action on the command line runs as an authenticated operator, within
the role, audited under the authenticated name and badge (finding 4: `--by` was free
text; "Mickey Mouse" signed an inspection, an operator acknowledged alarms, added a
million good parts and requested limits recorded as approved)."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest

from edge.cli import main
from edge.config.line import load_config
from edge.store import STREAMS, Store
from tests.conftest import example_on_free_ports, pin_on_stdin


def with_visitor(data: dict[str, Any]) -> None:
    """A role that may do nothing, and an operator holding it (Vera, 1006, PIN 6666)."""
    from edge.config.operators import hash_pin, parse_hash

    salt = parse_hash(data["operators"][0]["pin_hash"])[1]
    data["tui"]["roles"] = {"visitor": []}
    data["operators"].append(
        {"badge": "1006", "name": "Vera Visitor", "role": "visitor", "pin_hash": hash_pin("6666", salt=salt)}
    )


@pytest.fixture
def line(tmp_path: Path) -> tuple[str, Path]:
    """The example line with a running order, an SPC alarm and a stop, as CLI arguments."""
    path = example_on_free_ports(tmp_path, data_changes=with_visitor)
    cfg = load_config(path)
    now = time.time()
    with Store(cfg.store.path) as st, st.transaction():
        st.db.execute(
            "INSERT INTO orders (ts, order_id, product, action) VALUES (?, 'WO-1', 'COLA-500', 'start')",
            (now - 600,),
        )
        st.db.execute(
            "INSERT INTO counts (ts, machine, good, scrap, order_id, product) VALUES (?, 'filler', 100, 2, 'WO-1', 'COLA-500')",
            (now - 60,),
        )
        st.db.execute(
            "INSERT INTO spc_alarms (ts, characteristic, kind, rule, detail, value) VALUES (?, 'fill_weight', 'out_of_control', 'we1', 'x', 503)",
            (now - 30,),
        )
        st.db.execute(
            "INSERT INTO downtime (event_id, machine, start, end, state, auto_reason, micro) VALUES (?, 'filler', ?, ?, 'down', NULL, 0)",
            (f"filler@{now - 300:.3f}", now - 300, now - 200),
        )
    return str(path), cfg.store.path


def snapshot(store: Path) -> dict[str, int]:
    with Store(store, readonly=True) as st:
        return {s: st.count(s) for s in STREAMS} | {
            "limit_requests": st.db.execute("SELECT count(*) FROM spc_limit_requests").fetchone()[0]
        }


def event_id(store: Path) -> str:
    with Store(store, readonly=True) as st:
        return str(st.db.execute("SELECT event_id FROM downtime").fetchone()[0])


def actions(cfg: str, store: Path) -> dict[str, list[str]]:
    """Several operator commands (without who runs them)."""
    return {
        "order start": ["order", "start", "-c", cfg, "WO-2", "--product", "COLA-500", "--switch"],
        "order block": ["order", "block", "-c", cfg, "WO-1", "--reason", "material"],
        "count": ["count", "-c", cfg, "filler", "--good", "1000000", "--comment", "more"],
        "spc ack": [
            "spc",
            "ack",
            "-c",
            cfg,
            "fill_weight",
            "--cause",
            "material",
            "--action",
            "adjusted",
            "--comment",
            "ok",
        ],
        "spc recalc": ["spc", "recalc", "-c", cfg, "fill_weight", "--reason", "why not"],
        "inspect record": [
            "inspect",
            "record",
            "-c",
            cfg,
            "hourly_torque",
            "--item",
            "cap_torque=2.0",
        ],
        "downtime assign": ["downtime", "assign", "-c", cfg, event_id(store), "MECH.JAM"],
        "lot produced": ["lot", "produced", "-c", cfg, "L-1"],
        "maintenance request": ["maintenance", "request", "-c", cfg, "filler", "leaks oil"],
    }


def test_without_an_authenticated_operator_every_action_is_refused_and_writes_nothing(
    line: tuple[str, Path], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg, store = line
    monkeypatch.delenv("LINESIDE_CREDENTIAL", raising=False)
    before = snapshot(store)
    for name, argv in actions(cfg, store).items():
        assert main(argv) == 2, name
        assert "--badge/--credential: an operator action needs an authenticated operator" in (
            capsys.readouterr().err
        ), name
    assert snapshot(store) == before


def test_by_is_gone(line: tuple[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    """`--by "Mickey Mouse"` is a usage error now (exit 2), not a signature."""
    cfg, store = line
    before = snapshot(store)
    with pytest.raises(SystemExit) as e:
        main(
            [
                "inspect",
                "record",
                "-c",
                cfg,
                "hourly_torque",
                "--item",
                "cap_torque=2.0",
                "--by",
                "Mickey Mouse",
            ]
        )
    assert e.value.code == 2 and "unrecognized arguments: --by" in capsys.readouterr().err
    assert snapshot(store) == before


def test_a_wrong_pin_is_refused_and_only_the_attempt_is_audited(
    line: tuple[str, Path], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg, store = line
    before = snapshot(store)
    pin_on_stdin(monkeypatch, "2222")  # Ben's PIN with Anna's badge
    assert main(["count", "-c", cfg, "filler", "--scrap", "2", "--scrap-reason", "x", "--badge", "1001"]) == 2
    assert "credential: badge number or PIN not recognised" in capsys.readouterr().err
    after = snapshot(store)
    assert after == before | {"audit": before["audit"] + 1}
    with Store(store, readonly=True) as st:
        assert st.db.execute("SELECT who, action FROM audit").fetchall() == [
            ("terminal line1", "operator.login_failed")
        ]


def test_outside_the_role_every_action_is_refused_and_writes_nothing(
    line: tuple[str, Path], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg, store = line
    before = snapshot(store)
    for name, argv in actions(cfg, store).items():
        pin_on_stdin(monkeypatch, "6666")
        assert main([*argv, "--badge", "1006"]) == 2, name
        assert "refused: Vera Visitor's role 'visitor' may not" in capsys.readouterr().err, name
    # An operator (Anna) may not acknowledge alarms, correct counts nor request limits.
    for name in ("spc ack", "count", "spc recalc"):
        pin_on_stdin(monkeypatch, "1111")
        assert main([*actions(cfg, store)[name], "--badge", "1001"]) == 2, name
        assert "refused: Anna Operator's role 'operator' may not" in capsys.readouterr().err
    assert snapshot(store) == before


def test_actions_are_audited_under_the_authenticated_name_and_badge(
    line: tuple[str, Path], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg, store = line
    acts = actions(cfg, store)
    for name, badge, pin in (
        ("order start", "1001", "1111"),
        ("spc ack", "1002", "2222"),
        ("downtime assign", "1001", "1111"),
        ("lot produced", "1001", "1111"),
        ("maintenance request", "1004", "4444"),
    ):
        pin_on_stdin(monkeypatch, pin)
        assert main([*acts[name], "--badge", badge]) == 0, capsys.readouterr().err
    pin_on_stdin(monkeypatch, "3333")
    assert main([*acts["inspect record"], "--badge", "1003"]) == 0
    assert "PASS recorded and signed by Clara Quality (1003)" in capsys.readouterr().out
    pin_on_stdin(monkeypatch, "2222")  # a team lead: a million parts is beyond the bound
    assert main([*acts["count"], "--badge", "1002"]) == 2
    assert "needs a supervisor" in capsys.readouterr().err
    with Store(store, readonly=True) as st:
        who = dict(st.db.execute("SELECT action, who FROM audit"))
        assert st.db.execute("SELECT by FROM order_requests").fetchall() == [("Anna Operator (1001)",)]
        assert st.db.execute("SELECT by FROM inspections").fetchall() == [("Clara Quality (1003)",)]
    assert who == {
        "order.start": "Anna Operator (1001)",
        "spc.acknowledge": "Ben Teamlead (1002)",
        "downtime.assign_reason": "Anna Operator (1001)",
        "trace.produced_lot": "Anna Operator (1001)",
        "maintenance.request": "Dirk Maintenance (1004)",
        "inspection.record": "Clara Quality (1003)",
    }


def test_counts_below_zero_are_refused(
    line: tuple[str, Path], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg, _store = line
    pin_on_stdin(monkeypatch, "5555")  # even a supervisor
    assert main(["count", "-c", cfg, "filler", "--good", "-101", "--comment", "x", "--badge", "1005"]) == 2
    assert (
        "good: -101 would leave -1 good parts on filler (order WO-1: 100 so far)" in capsys.readouterr().err
    )


def test_new_limits_are_requested_by_one_and_approved_by_another_with_the_pin(
    line: tuple[str, Path], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg, store = line
    pin_on_stdin(monkeypatch, "3333")
    assert main(["spc", "recalc", "-c", cfg, "fill_weight", "--reason", "new nozzle", "--badge", "1003"]) == 0
    assert "new limits requested (request 1)" in capsys.readouterr().out
    with Store(store, readonly=True) as st:
        assert st.db.execute("SELECT count(*) FROM spc_limits").fetchone()[0] == 0
    assert main(["spc", "requests", "-c", cfg]) == 0
    assert "Clara Quality (1003): new nozzle" in capsys.readouterr().out
    pin_on_stdin(monkeypatch, "3333")
    assert main(["spc", "approve", "-c", cfg, "1", "--badge", "1003"]) == 2
    assert "Clara Quality requested these limits; another person must approve them" in capsys.readouterr().err
    pin_on_stdin(monkeypatch, "5555")
    assert main(["spc", "approve", "-c", cfg, "1", "--badge", "1005"]) == 0
    assert "request 1 approved by Eva Supervisor (1005)" in capsys.readouterr().out
    with Store(store, readonly=True) as st:
        assert st.db.execute("SELECT action, by FROM spc_limits").fetchall() == [
            ("recalculate", "Eva Supervisor (1005)")
        ]
        assert ("spc.limits_approved", "approved") in st.db.execute(
            "SELECT action, meaning FROM audit"
        ).fetchall()


def test_credential_files_for_scripts(
    line: tuple[str, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`operator token` writes a mode-600 credential file and prints the hash for the
    config; a file others may read is refused naming its mode; a credential identifies
    but never signs: an approval with one asks for the PIN as well."""
    import yaml

    cfg, _store = line
    cred = tmp_path / "eva.cred"
    assert main(["operator", "token", "-c", cfg, "--badge", "1005", "-o", str(cred)]) == 0
    out = capsys.readouterr().out
    token_hash = out.split("token_hash: ")[1].strip().strip('"')
    assert os.stat(cred).st_mode & 0o777 == 0o600
    data = yaml.safe_load(Path(cfg).read_text())
    data["operators"][4]["token_hash"] = token_hash
    Path(cfg).write_text(yaml.safe_dump(data))

    monkeypatch.setenv("LINESIDE_CREDENTIAL", str(cred))
    assert main(["maintenance", "request", "-c", cfg, "capper", "head 3 drips"]) == 0
    assert "(by Eva Supervisor (1005))" in capsys.readouterr().out
    os.chmod(cred, 0o640)
    assert main(["maintenance", "request", "-c", cfg, "capper", "again"]) == 2
    assert f"credential file {cred}: readable by group or others (mode 0640)" in capsys.readouterr().err
    os.chmod(cred, 0o600)

    pin_on_stdin(monkeypatch, "3333")
    assert main(["spc", "recalc", "-c", cfg, "fill_weight", "--reason", "r", "--badge", "1003"]) == 0
    pin_on_stdin(monkeypatch, "")  # no PIN: a credential file alone does not sign
    assert main(["spc", "approve", "-c", cfg, "1", "--credential", str(cred)]) == 2
    assert "pin: required" in capsys.readouterr().err
    pin_on_stdin(monkeypatch, "1111")  # not Eva's PIN
    assert main(["spc", "approve", "-c", cfg, "1", "--credential", str(cred)]) == 2
    assert "pin: PIN of Eva Supervisor required to sign" in capsys.readouterr().err
    pin_on_stdin(monkeypatch, "5555")
    assert main(["spc", "approve", "-c", cfg, "1", "--credential", str(cred)]) == 0


def test_hash_pin_refuses_a_pin_that_is_another_operators(
    line: tuple[str, Path], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Tested against every stored hash (whatever its salt): Ben's PIN cannot become
    Dirk's; Ben may hash his own again; a PIN nobody has is hashed."""
    import yaml

    cfg, _ = line
    data = yaml.safe_load(Path(cfg).read_text())
    from edge.config.operators import hash_pin

    data["operators"][1]["pin_hash"] = hash_pin("2222")  # Ben's, with a salt of its own
    Path(cfg).write_text(yaml.safe_dump(data))
    pin_on_stdin(monkeypatch, "2222")
    assert main(["operator", "hash-pin", "-c", cfg, "--badge", "1004"]) == 2
    assert "PIN: already the PIN of another operator (badge 1002)" in capsys.readouterr().err
    pin_on_stdin(monkeypatch, "2222")
    assert main(["operator", "hash-pin", "-c", cfg, "--badge", "1002"]) == 0
    pin_on_stdin(monkeypatch, "8642")
    assert main(["operator", "hash-pin", "-c", cfg]) == 0
    assert capsys.readouterr().out.count("pbkdf2_sha256$") == 2


def test_operator_login_with_a_shared_pin_asks_for_the_badge(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from edge.config.operators import hash_pin

    def clash(data: dict[str, Any]) -> None:
        data["operators"][0]["pin_hash"] = hash_pin("5555")  # Anna's PIN = Eva's, another salt

    cfg = str(example_on_free_ports(tmp_path, data_changes=clash))
    assert main(["config", "check", cfg]) == 0  # identical PINs with different salts: invisible there
    pin_on_stdin(monkeypatch, "5555")
    assert main(["operator", "login", "-c", cfg]) == 2
    assert (
        "this PIN is not unique on this line; scan or type your badge number instead"
        in capsys.readouterr().err
    )


def test_config_check_refuses_identical_pin_hashes_and_malformed_token_hashes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def same(data: dict[str, Any]) -> None:
        data["operators"][1]["pin_hash"] = data["operators"][0]["pin_hash"]
        data["operators"][2]["token_hash"] = "md5$abc"

    cfg = str(example_on_free_ports(tmp_path, data_changes=same))
    assert main(["config", "check", cfg]) == 2
    err = capsys.readouterr().err
    assert "operators[1].pin_hash: same PIN as operators[0]" in err
    assert "operators[2].token_hash: not a token hash from `lineside operator token`" in err


def test_an_order_block_runs_as_the_operator_and_by_is_gone(
    line: tuple[str, Path], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`order block|unblock` (the plan's offline resequencing) take --badge like every
    operator command: the block and its audit entry name Anna, `--by` is a usage error."""
    from edge.services.commands import PlantCommand, apply_command

    cfg, store = line
    body = {"order_id": "WO-7", "product": "COLA-500", "quantity": 10}
    with Store(store) as st:
        assert apply_command(
            load_config(Path(cfg)), st, PlantCommand("c-7", "work_order", 1.0, body)
        ).accepted
    with pytest.raises(SystemExit) as e:
        main(["order", "block", "-c", cfg, "WO-7", "--reason", "tool", "--by", "Mickey Mouse"])
    assert e.value.code == 2 and "unrecognized arguments: --by" in capsys.readouterr().err
    pin_on_stdin(monkeypatch, "1111")
    argv = [
        "order",
        "block",
        "-c",
        cfg,
        "WO-7",
        "--reason",
        "material",
        "--detail",
        "caps",
        "--badge",
        "1001",
    ]
    assert main(argv) == 0, capsys.readouterr().err
    assert "WO-7: blocked (material)" in capsys.readouterr().out
    assert main(["order", "list", "-c", cfg, "--json"]) == 0
    assert '"blocked": "material not staged (caps)"' in capsys.readouterr().out
    pin_on_stdin(monkeypatch, "1111")
    assert main(["order", "unblock", "-c", cfg, "WO-7", "--badge", "1001"]) == 0
    with Store(store, readonly=True) as st:
        rows = st.db.execute(
            "SELECT who, action FROM audit WHERE action IN ('order.block', 'order.unblock') ORDER BY seq"
        ).fetchall()
    assert rows == [("Anna Operator (1001)", "order.block"), ("Anna Operator (1001)", "order.unblock")]
