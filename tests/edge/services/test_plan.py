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
from edge.services.plan import block_order, check_sequence, unblock_order
from edge.services.production import dispatch_list
from edge.services.validate import OperatorInputError
from edge.store import Store
from tests.conftest import example_on_free_ports

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
        block_order(cfg, st, "WO-1", "material", by="Anna (1001)", detail="caps not staged")
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
        block_order(cfg, st, "WO-2", "tool", by="Anna (1001)")
        apply_command(cfg, st, PlantCommand("p-8", "plan", T0, plan_body("8", ("WO-2", "WO-3"))), now=T0)
        check_sequence(cfg, st, now=T0 + 20, link=True)
        check_sequence(cfg, st, now=T0 + 25, link=True)
        (blocked,) = events(st, "plan.blocked")
        assert blocked["planned"] == "WO-2" and blocked["reason"] == "tool"
        unblock_order(cfg, st, "WO-2", by="Anna (1001)")
        nxt = check_sequence(cfg, st, now=T0 + 30, link=False)
        assert nxt is not None and nxt.chosen == "WO-2" and not nxt.resequenced


def test_block_input_is_checked(tmp_path: Path) -> None:
    cfg = load_config(example_on_free_ports(tmp_path))
    with open_store(cfg) as st:
        apply_command(cfg, st, PlantCommand("p-7", "plan", T0, plan_body()), now=T0)
        with pytest.raises(
            OperatorInputError, match="reason: 'rain' is not one of material, tool, first_off"
        ):
            block_order(cfg, st, "WO-1", "rain", by="Anna")
        with pytest.raises(OperatorInputError, match="order: 'WO-9' is not on this line's dispatch list"):
            block_order(cfg, st, "WO-9", "tool", by="Anna")
        with pytest.raises(OperatorInputError, match="by: required"):
            block_order(cfg, st, "WO-1", "tool", by=" ")
        with pytest.raises(OperatorInputError, match="'WO-1' is not blocked"):
            unblock_order(cfg, st, "WO-1", by="Anna")
