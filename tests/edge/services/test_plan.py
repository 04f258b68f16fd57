"""The plant's plan at the line: a ``plan`` command puts its orders on the dispatch list
in sequence with plan times; the list shows plan against actual; a blocked order is
passed over by the plan's rule, recorded once as ``plan.resequence`` while the plant is
unreachable and as ``plan.blocked`` while it is reachable; bad input names the field."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from edge.config.line import load_config
from edge.services.commands import PlantCommand, apply_command
from edge.services.context import open_store
from edge.services.identity import Actor, Refused
from edge.services.plan import block_order, check_sequence, unblock_order
from edge.services.production import dispatch_list
from edge.services.validate import OperatorInputError
from edge.store import Store
from tests.conftest import as_operator, example_on_free_ports

T0 = 1795496400.0


def plan_body(plan_id: str = "7", orders: tuple[str, ...] = ("WO-1", "WO-2", "WO-3")) -> dict[str, Any]:
    return {
        "plan_id": plan_id,
        "released_at": T0,
        "sequence": [
            {
                "order_id": o,
                "product": "COLA-500" if i != 1 else "WATER-1000",
                "quantity": 1000,
                "start": T0 + i * 3600,
                "end": T0 + (i + 1) * 3600,
                "setup_min": 20.0 if i else 0.0,
                "crew": ["anna"],
                "tools": ["MOLD-1"],
            }
            for i, o in enumerate(orders)
        ],
    }


def events(st: Store, kind: str) -> list[dict[str, Any]]:
    rows = st.db.execute("SELECT message, data FROM events WHERE kind = ? ORDER BY seq", (kind,)).fetchall()
    return [{"message": m, **json.loads(d)} for m, d in rows]


def test_a_plan_puts_its_orders_on_the_dispatch_list_in_sequence(tmp_path: Path) -> None:
    cfg = load_config(example_on_free_ports(tmp_path))
    with open_store(cfg) as st:
        # An order released before keeps its details; the plan gives it a place.
        apply_command(
            cfg,
            st,
            PlantCommand(
                "w",
                "work_order",
                T0,
                {"order_id": "WO-3", "product": "COLA-500", "priority": 9, "description": "ERP"},
            ),
            now=T0,
        )
        res = apply_command(cfg, st, PlantCommand("p-7", "plan", T0, plan_body()), now=T0)
        assert res.accepted, res.reason
        rows = dispatch_list(st, now=T0 + 600)
        assert [r["order_id"] for r in rows] == ["WO-1", "WO-2", "WO-3"]
        first = rows[0]
        assert (first["planned_start"], first["planned_end"], first["crew"], first["tools"]) == (
            T0,
            T0 + 3600,
            ["anna"],
            ["MOLD-1"],
        )
        assert first["adherence"] == "waiting, 10 min behind" and first["start_delay_min"] == 10.0
        assert rows[2]["description"] == "ERP" and rows[2]["adherence"] == "planned"
        bad = apply_command(
            cfg,
            st,
            PlantCommand(
                "p-8",
                "plan",
                T0,
                plan_body() | {"sequence": [plan_body()["sequence"][0] | {"product": "GIN"}]},
            ),
        )
        assert not bad.accepted and bad.reason.startswith("sequence[0].product: 'GIN' is not a product")


def test_a_blocked_order_is_passed_over_and_the_line_says_why_once(tmp_path: Path) -> None:
    cfg = load_config(example_on_free_ports(tmp_path))
    with open_store(cfg) as st:
        apply_command(cfg, st, PlantCommand("p-7", "plan", T0, plan_body()), now=T0)
        nxt = check_sequence(cfg, st, now=T0, link=False)
        assert nxt is not None and (nxt.planned, nxt.chosen) == ("WO-1", "WO-1")
        anna = as_operator(cfg, "1001", signed=None)
        block_order(cfg, st, anna, "WO-1", "material", detail="caps not staged")
        nxt = check_sequence(cfg, st, now=T0 + 5, link=False)
        assert nxt is not None and (nxt.planned, nxt.chosen, nxt.skipped) == (
            "WO-1",
            "WO-2",
            (("WO-1", "material"),),
        )
        check_sequence(cfg, st, now=T0 + 10, link=False)  # decided already: nothing new
        (ev,) = events(st, "plan.resequence")
        assert (ev["plan_id"], ev["planned"], ev["chosen"], ev["reason"], ev["detail"]) == (
            "7",
            "WO-1",
            "WO-2",
            "material",
            "caps not staged",
        )
        assert "the plant is unreachable, WO-2 goes next instead" in ev["message"]
        rows = dispatch_list(st, now=T0)
        assert rows[0]["blocked"] == "material not staged (caps not staged)"
        # With the link up, a block is reported for the plant to replan (once).
        block_order(cfg, st, anna, "WO-2", "tool")
        apply_command(cfg, st, PlantCommand("p-8", "plan", T0, plan_body("8", ("WO-2", "WO-3"))), now=T0)
        check_sequence(cfg, st, now=T0 + 20, link=True)
        check_sequence(cfg, st, now=T0 + 25, link=True)
        (blocked,) = events(st, "plan.blocked")
        assert blocked["planned"] == "WO-2" and blocked["reason"] == "tool"
        unblock_order(cfg, st, anna, "WO-2")
        nxt = check_sequence(cfg, st, now=T0 + 30, link=False)
        assert nxt is not None and nxt.chosen == "WO-2" and not nxt.resequenced


def test_block_input_is_checked(tmp_path: Path) -> None:
    cfg = load_config(example_on_free_ports(tmp_path))
    with open_store(cfg) as st:
        apply_command(cfg, st, PlantCommand("p-7", "plan", T0, plan_body()), now=T0)
        anna = as_operator(cfg, "1001", signed=None)
        audits = st.count("audit")
        with pytest.raises(
            OperatorInputError, match="reason: 'rain' is not one of material, tool, first_off"
        ):
            block_order(cfg, st, anna, "WO-1", "rain")
        with pytest.raises(OperatorInputError, match="order: 'WO-9' is not on this line's dispatch list"):
            block_order(cfg, st, anna, "WO-9", "tool")
        with pytest.raises(OperatorInputError, match="order: "):
            block_order(cfg, st, anna, "WO 1", "tool")
        with pytest.raises(OperatorInputError, match="detail: "):
            block_order(cfg, st, anna, "WO-1", "tool", detail="\x1b[2Jcaps")
        with pytest.raises(OperatorInputError, match="'WO-1' is not blocked"):
            unblock_order(cfg, st, anna, "WO-1")
        assert st.count("audit") == audits  # nothing written


def test_a_block_runs_as_the_operator_within_the_role_and_is_audited_under_their_name(
    tmp_path: Path,
) -> None:
    """Blocking needs ``block_orders`` (operators and maintenance hold it); the block and
    the audit trail name the authenticated operator, the unblock records what was
    cleared."""
    cfg = load_config(example_on_free_ports(tmp_path))
    nobody = Actor("operator", "Nora", "9", "visitor", frozenset(), "badge+pin")
    dirk = as_operator(cfg, "1004", signed=None)  # maintenance: a tool in maintenance
    assert "block_orders" in dirk.permissions
    with open_store(cfg) as st:
        apply_command(cfg, st, PlantCommand("p-7", "plan", T0, plan_body()), now=T0)
        with pytest.raises(Refused, match="Nora's role 'visitor' may not block or unblock work orders"):
            block_order(cfg, st, nobody, "WO-1", "tool")
        block_order(cfg, st, dirk, "WO-1", "tool", detail="MOLD-1 in repair")
        assert dispatch_list(st, now=T0)[0]["blocked"] == "tool in maintenance (MOLD-1 in repair)"
        with pytest.raises(Refused, match="may not block or unblock work orders"):
            unblock_order(cfg, st, nobody, "WO-1")
        unblock_order(cfg, st, dirk, "WO-1")
        rows = st.db.execute(
            "SELECT who, action, old, new FROM audit WHERE action LIKE 'order.%block' ORDER BY seq"
        ).fetchall()
    assert [(w, a) for w, a, _, _ in rows] == [
        ("Dirk Maintenance (1004)", "order.block"),
        ("Dirk Maintenance (1004)", "order.unblock"),
    ]
    assert json.loads(rows[1][2]) == {"reason": "tool", "detail": "MOLD-1 in repair"}
