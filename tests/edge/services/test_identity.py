"""The one authorization layer: every action checks the actor's role itself and writes
nothing when refused; signatures; PINs two operators share; commands from the plant;
two people for new SPC limits; bounds on count corrections; script credential files."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest

from edge.config.line import LineConfig, load_config
from edge.config.operators import hash_pin
from edge.services import gateway, identity, quality, session
from edge.services.commands import PlantCommand, apply_command
from edge.services.context import open_store
from edge.services.identity import PLANT, Actor, Refused
from edge.services.production import adjust_count, correction_limit
from edge.services.validate import OperatorInputError
from edge.store import STREAMS, Store
from tests.conftest import as_operator, example_on_free_ports

#: Arguments each action of the catalogue would be called with (after line, store, actor).
ARGS: dict[str, tuple[tuple[Any, ...], dict[str, Any]]] = {
    "production.assign_reason": (("filler@1.000", "MECH.JAM"), {"comment": "c"}),
    "production.split_event": (("filler@1.000", 1.5), {}),
    "production.order_command": (("start", "WO-1"), {"product": "COLA-500"}),
    "plan.block_order": (("WO-1", "material"), {"detail": "caps"}),
    "plan.unblock_order": (("WO-1",), {}),
    "production.adjust_count": (("filler",), {"good": 5, "comment": "c"}),
    "quality.ack_alarms": (("fill_weight",), {"comment": "c", "cause": "material", "action": "adjusted"}),
    "quality.enter_measurement": (("fill_weight", 500.0), {}),
    "quality.request_limits": (("fill_weight",), {"reason": "r"}),
    "quality.approve_limits": ((1,), {}),
    "quality.reject_limits": ((1,), {"comment": "c"}),
    "inspections.record": (("first_off", {"fill_height": "182"}), {}),
    "inspections.release_hold": (("WO-1",), {"reason": "r"}),
    "maintenance.request_maintenance": (("filler", "leaks"), {}),
    "maintenance.technician_step": (("MWO-1", "start"), {}),
    "maintenance.approve_request": ((1,), {}),
    "maintenance.receive_part": (("P-1", 2.0, "delivery"), {}),
    "maintenance.count_part": (("P-1", 3.0, "count"), {}),
    "trace.register_produced": (("L-1",), {"order": "WO-1"}),
    "trace.register_consumed": (("M-1", "caps"), {"order": "WO-1"}),
    "materials.move_in": (("F-1", "L-1"), {"quantity": 5.0}),
    "materials.move_out": (("F-1", "L-1"), {}),
    "materials.count": (("F-1", "L-1", 3.0), {}),
    "materials.issue": (("label", 2.0), {}),
    "holds.put_on_hold": (("lot", "L-1", "why"), {}),
    "holds.dispose": (("H-1", "release", "ok"), {}),
}


def counts(st: Store) -> dict[str, int]:
    with st.snapshot():
        return {s: st.count(s) for s in STREAMS} | {
            "limit_requests": st.db.execute("SELECT count(*) FROM spc_limit_requests").fetchone()[0]
        }


@pytest.fixture
def cfg(tmp_path: Path) -> LineConfig:
    return load_config(example_on_free_ports(tmp_path))


def test_every_action_of_the_catalogue_refuses_an_actor_without_the_permission(cfg: LineConfig) -> None:
    """The rule is in the use case: called with a role that holds nothing, every action
    is refused naming the role, and writes nothing (not even an audit entry)."""
    assert set(ARGS) == set(gateway.ACTIONS), "teach this test the new action"
    nobody = Actor("operator", "Nora", "9", "visitor", frozenset(), "badge+pin", signed="pin")
    with open_store(cfg) as st:
        before = counts(st)
        for name, fn in gateway.ACTIONS.items():
            args, kwargs = ARGS[name]
            with pytest.raises(Refused, match="refused: Nora's role 'visitor' may not"):
                fn(cfg, st, nobody, *args, **kwargs)
        assert counts(st) == before


def test_plant_commands_run_as_the_plant_and_only_the_plant(cfg: LineConfig) -> None:
    body = {"order_id": "WO-7", "product": "COLA-500", "quantity": 10}
    with open_store(cfg) as st:
        with pytest.raises(Refused, match="may not send commands from the plant"):
            apply_command(
                cfg, st, PlantCommand("c-1", "work_order", 1.0, body), actor=as_operator(cfg, "1005")
            )
        assert st.count("audit") == 0
        assert apply_command(cfg, st, PlantCommand("c-1", "work_order", 1.0, body)).accepted
        who, action = st.db.execute("SELECT who, action FROM audit").fetchone()
    assert (who, action) == (PLANT.who, "command.work_order") == ("plant", "command.work_order")


def test_a_pin_two_operators_share_is_refused_and_asks_for_the_badge(tmp_path: Path) -> None:
    """Finding 5: Dirk's PIN set to Eva's (the supervisor's), hashed with another salt, so
    the config check cannot see it. A PIN-only login used to return the first match;
    now it is refused, asks for the badge and counts as a wrong entry; badge alone, or
    badge and PIN, still say who it is."""

    def clash(data: dict[str, Any]) -> None:
        data["operators"][3]["pin_hash"] = hash_pin("5555")  # a fresh salt

    cfg = load_config(example_on_free_ports(tmp_path, data_changes=clash))  # passes the checks
    with open_store(cfg) as st:
        with pytest.raises(
            OperatorInputError, match="PIN is not unique on this line; scan or type your badge"
        ):
            session.log_in(cfg, st, "5555")
        assert session.locked_until(cfg, st)[1] == 1
        assert session.log_in(cfg, st, "1004").name == "Dirk Maintenance"
        dirk = session.authenticate(cfg, st, badge="1004", pin="5555")
        eva = session.authenticate(cfg, st, badge="1005", pin="5555")
        assert (dirk.role, eva.role) == ("maintenance", "supervisor")
        assert session.log_in(cfg, st, "1111").name == "Anna Operator"  # unique PINs still log in


def test_signatures(cfg: LineConfig) -> None:
    """An inspection needs the inspector's badge or PIN entered for it, an approval the
    PIN; a login alone signs nothing, nor does a credential file."""
    with open_store(cfg) as st:
        clara = session.log_in(cfg, st, "3333")
        assert clara.signed is None and clara.auth == "pin"
        with pytest.raises(Refused, match="sign: the badge or PIN of Clara Quality is required"):
            identity.require_signature(clara, field="sign")
        by_badge = session.sign(cfg, st, clara, "1003")
        identity.require_signature(by_badge)
        with pytest.raises(Refused, match="pin: the PIN of Clara Quality is required"):
            identity.require_signature(by_badge, pin=True)
        identity.require_signature(session.sign(cfg, st, clara, "3333"), pin=True)
        assert session.authenticate(cfg, st, badge="1003", pin="3333").signed == "pin"
        with pytest.raises(Refused, match="only a person signs"):
            identity.require_signature(PLANT)


def test_new_limits_take_two_people(cfg: LineConfig) -> None:
    """One person requests, another with the approve permission approves, signing with
    the PIN; the requester cannot approve their own request. Only the approval writes the
    'recalculate' row the agent acts on."""
    ben, clara = as_operator(cfg, "1002"), as_operator(cfg, "1003")
    with open_store(cfg) as st:
        rid = quality.request_limits(cfg, st, ben, "fill_weight", reason="new nozzle")
        own = quality.request_limits(cfg, st, clara, "fill_weight", reason="her own")
        assert st.db.execute("SELECT count(*) FROM spc_limits").fetchone()[0] == 0  # nothing for the agent
        with pytest.raises(Refused, match="role 'team_lead' may not approve"):
            quality.approve_limits(cfg, st, ben, rid)
        with pytest.raises(
            Refused, match="Clara Quality requested these limits; another person must approve"
        ):
            quality.approve_limits(cfg, st, clara, own)
        with pytest.raises(Refused, match="pin: the PIN of Clara Quality is required"):
            quality.approve_limits(cfg, st, as_operator(cfg, "1003", signed=None), rid)
        with pytest.raises(Refused, match="the PIN of Clara"):
            quality.approve_limits(cfg, st, as_operator(cfg, "1003", signed="badge"), rid)
        assert st.db.execute("SELECT count(*) FROM spc_limits").fetchone()[0] == 0
        assert quality.approve_limits(cfg, st, clara, rid, comment="checked") == "fill_weight"
        with pytest.raises(OperatorInputError, match=f"request: {rid} was approved by Clara Quality"):
            quality.approve_limits(cfg, st, as_operator(cfg, "1005"), rid)
        assert (
            quality.reject_limits(cfg, st, as_operator(cfg, "1005"), own, comment="not needed")
            == "fill_weight"
        )
        rows = st.db.execute("SELECT action, by, reason FROM spc_limits").fetchall()
        assert rows == [
            (
                "recalculate",
                "Clara Quality (1003)",
                f"new nozzle (requested by Ben Teamlead (1002), request {rid})",
            )
        ]
        audit = st.db.execute("SELECT who, action, meaning FROM audit ORDER BY seq").fetchall()
    assert audit == [
        ("Ben Teamlead (1002)", "spc.limits_requested", "performed"),
        ("Clara Quality (1003)", "spc.limits_requested", "performed"),
        ("Clara Quality (1003)", "spc.limits_approved", "approved"),
        ("Eva Supervisor (1005)", "spc.limits_rejected", "reviewed"),
    ]


def test_count_corrections_stay_above_zero_and_large_ones_need_a_supervisor(cfg: LineConfig) -> None:
    """Finding 10: a correction drove an order to -4,961 good parts. Now no total goes
    below zero, and a correction beyond the bound (the smaller of 1000 parts and 10 % of
    the order) is a supervisor's."""
    ben, eva = as_operator(cfg, "1002"), as_operator(cfg, "1005")
    assert correction_limit(cfg.tui.count_corrections, None) == 1000
    assert correction_limit(cfg.tui.count_corrections, 500) == 50
    with open_store(cfg) as st:
        now = time.time()
        with st.transaction():  # the PLC counted 39 parts on WO-1 (500 ordered)
            st.db.execute(
                "INSERT INTO order_requests (ts, order_id, product, action, quantity, by, applied) "
                "VALUES (?, 'WO-1', 'COLA-500', 'start', 500, 'x', 1)",
                (now,),
            )
            st.db.execute(
                "INSERT INTO counts (ts, machine, good, scrap, order_id, product) VALUES (?, 'filler', 39, 1, 'WO-1', 'COLA-500')",
                (now,),
            )
        with pytest.raises(
            OperatorInputError,
            match=r"good: -40 would leave -1 good parts on filler \(order WO-1: 39 so far\)",
        ):
            adjust_count(cfg, st, ben, "filler", good=-40, comment="recount")
        with pytest.raises(OperatorInputError, match="scrap: -2 would leave -1 scrapped parts"):
            adjust_count(cfg, st, ben, "filler", scrap=-2, comment="recount")
        with pytest.raises(
            Refused, match=r"more than 50 parts \(10 % of order WO-1's 500\) needs a supervisor"
        ):
            adjust_count(cfg, st, ben, "filler", good=51, comment="recount")
        assert st.db.execute("SELECT count(*) FROM counts WHERE source = 'operator'").fetchone()[0] == 0
        adjust_count(cfg, st, ben, "filler", good=50, comment="recount")
        adjust_count(cfg, st, eva, "filler", good=400, comment="counter was off")
        adjust_count(
            cfg, st, ben, "filler", good=-39, scrap=39, scrap_reason="FILL.UNDER", comment="rebooked"
        )
        total = st.db.execute("SELECT sum(good), sum(scrap) FROM counts WHERE order_id = 'WO-1'").fetchone()
    assert total == (39 + 50 + 400 - 39, 1 + 39)


def test_credential_files_are_their_owners_alone(cfg: LineConfig, tmp_path: Path) -> None:
    from edge.config.operators import hash_token

    path = tmp_path / "ben.cred"
    session.write_credential(path, "1002", "s3cret-token")
    assert os.stat(path).st_mode & 0o777 == 0o600
    cred = session.read_credential(path)
    assert (cred.badge, cred.token) == ("1002", "s3cret-token")
    os.chmod(path, 0o644)
    with pytest.raises(OperatorInputError, match=r"readable by group or others \(mode 0644\); .*chmod 600"):
        session.read_credential(path)
    os.chmod(path, 0o600)
    bad = tmp_path / "bad.cred"
    session.write_credential(bad, "1002", "x")
    bad.write_text("badge: 1002\npin: 2222\n")
    with pytest.raises(OperatorInputError, match="line 2: expected 'badge: NUMBER' and 'token: TEXT'"):
        session.read_credential(bad)
    with pytest.raises(OperatorInputError, match="exists already"):
        session.write_credential(path, "1002", "again")

    ops = [
        o.model_copy(update={"token_hash": hash_token("s3cret-token")}) if o.badge == "1002" else o
        for o in cfg.operators
    ]
    with_token = cfg.model_copy(update={"operators": ops})
    with open_store(with_token) as st:
        ben = session.authenticate(with_token, st, badge="1002", token=cred.token, via="command line")
        assert (ben.name, ben.auth, ben.signed) == ("Ben Teamlead", "credential", None)
        with pytest.raises(OperatorInputError, match="not recognised"):
            session.authenticate(with_token, st, badge="1002", token="guess", via="command line")
        with pytest.raises(OperatorInputError, match="not recognised"):  # no token_hash: no credential
            session.authenticate(with_token, st, badge="1001", token=cred.token, via="command line")
