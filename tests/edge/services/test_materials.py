"""Materials at the line through the use cases: lots from the plant, moves in checked
against them, backflush first in first out, produced lots with genealogy, holds from a
block, a failed inspection and an SPC point, dispositions, shortage notices."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from edge.config.line import LineConfig, load_config
from edge.logic.production.line import MachineCount, OrderChange
from edge.services import holds, materials, materials_pass
from edge.services.commands import PlantCommand, apply_command
from edge.services.context import open_store
from edge.services.identity import Refused
from edge.services.materials import MoveRefused
from edge.services.validate import OperatorInputError
from edge.store import Store
from edge.store import materials as repo
from tests.conftest import as_operator, example_on_free_ports

MATERIALS: dict[str, Any] = {
    "material_master": [
        {"id": "preform", "unit": "pcs", "shelf_life_days": 180},
        {"id": "cap", "unit": "pcs"},
        {"id": "label", "unit": "m", "backflush": False},
    ],
    "boms": [
        {
            "product": "COLA-500",
            "components": [
                {"material": "preform", "quantity": 1, "scrap_allowance": 0.02, "feeder": "F-PREFORM"},
                {"material": "cap", "quantity": 1, "feeder": "F-CAP"},
                {"material": "label", "quantity": 0.25},
            ],
        }
    ],
    "stock": {
        "locations": [
            {"id": "F-PREFORM", "machine": "filler"},
            {"id": "F-CAP", "machine": "capper"},
            {"id": "STAGING", "kind": "staging"},
        ],
        "shortage_minutes": 30,
        "produced_lots": {"every_parts": 100},
    },
}


@pytest.fixture
def cfg(tmp_path: Path) -> LineConfig:
    return load_config(example_on_free_ports(tmp_path, data_changes=lambda d: d.update(MATERIALS)))


def send_lots(cfg: LineConfig, st: Store, cid: str, *lots: dict[str, Any], now: float = 1000.0) -> Any:
    return apply_command(cfg, st, PlantCommand(cid, "lots", now, {"lots": list(lots)}), now=now)


def start(st: Store, order: str = "WO-1", ts: float = 1000.0) -> None:
    st.append_samples([], [OrderChange(ts, order, "COLA-500", "start")])


def parts(st: Store, ts: float, good: int, scrap: int = 0, order: str = "WO-1") -> None:
    st.append_samples(
        [], [MachineCount(ts, good, scrap, 0.5, machine="filler", order=order, product="COLA-500")]
    )


def test_move_in_is_checked_against_the_plant_lot_list_and_the_bom(cfg: LineConfig) -> None:
    anna = as_operator(cfg, "1001")
    with open_store(cfg) as st:
        res = send_lots(
            cfg,
            st,
            "c1",
            {"lot": "PF-1", "material": "preform", "status": "released", "quantity": 500, "expiry": 9e9},
            {"lot": "PF-Q", "material": "preform", "status": "quarantine"},
            {"lot": "PF-OLD", "material": "preform", "status": "released", "expiry": 10.0},
            {"lot": "GL-1", "material": "glue", "status": "released"},
        )
        assert res.accepted, res.reason
        start(st)
        with pytest.raises(MoveRefused, match="'PF-Q' is quarantine, not released"):
            materials.move_in(cfg, st, anna, "F-PREFORM", "PF-Q", quantity=10, now=2000)
        with pytest.raises(MoveRefused, match="'PF-OLD' expired"):
            materials.move_in(cfg, st, anna, "F-PREFORM", "PF-OLD", quantity=10, now=2000)
        with pytest.raises(MoveRefused, match="not in the material master"):
            materials.move_in(cfg, st, anna, "F-PREFORM", "GL-1", quantity=10, now=2000)
        with pytest.raises(MoveRefused, match="not in the plant's lot list"):
            materials.move_in(cfg, st, anna, "F-CAP", "CAP-X", material="cap", quantity=10, now=2000)
        with pytest.raises(MoveRefused, match="loaded at 'F-PREFORM', not 'F-CAP'"):
            materials.move_in(cfg, st, anna, "F-CAP", "PF-1", now=2000)
        with pytest.raises(OperatorInputError, match="location: 'F-NOPE' is not a stock location"):
            materials.move_in(cfg, st, anna, "F-NOPE", "PF-1", now=2000)
        assert st.count("stock_moves") == 0
        ok = materials.move_in(cfg, st, anna, "F-PREFORM", "PF-1", now=2000)
        assert ok["quantity"] == 500 and ok["material"] == "preform"
        maint = as_operator(cfg, "1004")
        with pytest.raises(Refused):
            materials.move_in(cfg, st, maint, "F-PREFORM", "PF-1", quantity=1, now=2000)
        assert [
            (r["location"], r["lot"], r["quantity"], r["status"]) for r in materials.on_hand(cfg, st)
        ] == [("F-PREFORM", "PF-1", 500.0, "released")]


def test_backflush_fifo_produced_lots_and_a_block_that_holds_them(cfg: LineConfig) -> None:
    anna = as_operator(cfg, "1001")
    with open_store(cfg) as st:
        send_lots(
            cfg,
            st,
            "c1",
            {"lot": "PF-1", "material": "preform", "status": "released", "quantity": 60},
            {"lot": "PF-2", "material": "preform", "status": "released", "quantity": 500},
            {"lot": "CAP-1", "material": "cap", "status": "released", "quantity": 1000},
            {"lot": "LB-1", "material": "label", "status": "released", "quantity": 100},
        )
        start(st)
        materials_pass.materials_pass(cfg, st, now=1000)  # sets the cursors
        materials.move_in(cfg, st, anna, "F-PREFORM", "PF-1", now=1001)
        materials.move_in(cfg, st, anna, "F-PREFORM", "PF-2", now=1002)
        materials.move_in(cfg, st, anna, "F-CAP", "CAP-1", now=1003)
        materials.move_in(cfg, st, anna, "STAGING", "LB-1", now=1004)
        parts(st, 1100, 50)  # 50 parts × 1.02 = 51 preforms from PF-1 (oldest)
        materials_pass.materials_pass(cfg, st, now=1101)
        parts(st, 1200, 50, 0)  # 51 more: 9 left in PF-1, 42 from PF-2; 100 parts → a lot
        out = materials_pass.materials_pass(cfg, st, now=1201)
        assert out["produced"] == ["WO-1-0001"]
        hand = {(r["location"], r["lot"]): r["quantity"] for r in materials.on_hand(cfg, st)}
        assert hand[("F-PREFORM", "PF-2")] == pytest.approx(500 - 42)
        assert ("F-PREFORM", "PF-1") not in hand
        assert hand[("F-CAP", "CAP-1")] == pytest.approx(900)
        assert hand[("STAGING", "LB-1")] == 100  # labels are issued, not backflushed
        materials.issue(cfg, st, anna, "label", 25, now=1202)
        links = {p["parent"]: p["quantity"] for p in repo.parents(st, "WO-1-0001")}
        assert links == {"PF-1": pytest.approx(60), "PF-2": pytest.approx(42), "CAP-1": pytest.approx(100)}
        # The next lot includes the labels issued.
        parts(st, 1300, 100)
        assert materials_pass.materials_pass(cfg, st, now=1301)["produced"] == ["WO-1-0002"]
        assert "LB-1" in {p["parent"] for p in repo.parents(st, "WO-1-0002")}
        # A supplier recall: PF-1 blocked at the plant → WO-1-0001 held; -0002 (PF-2 only) not.
        res = send_lots(
            cfg, st, "c2", {"lot": "PF-1", "material": "preform", "status": "blocked", "reason": "recall 7"}
        )
        assert res.accepted
        held = {h["target"]: h for h in holds.holds(cfg, st, open_only=True)}
        assert set(held) == {"WO-1-0001"} and "recall 7" in held["WO-1-0001"]["reason"]
        # The line's trace shows the lots consumed with feeder and quantity, and the hold.
        from edge.services.trace import trace

        g = trace(cfg, st, "WO-1-0001")["genealogy"]
        assert {(i["parent"], i["location"]) for i in g["inputs"]} == {
            ("PF-1", "F-PREFORM"),
            ("PF-2", "F-PREFORM"),
            ("CAP-1", "F-CAP"),
        }
        assert [h["source"] for h in g["holds"]] == ["block"]
        # Replaying the command changes nothing.
        send_lots(cfg, st, "c2", {"lot": "PF-1", "material": "preform", "status": "blocked"})
        assert len(holds.holds(cfg, st)) == 1
        # Disposition: quality, signed; an operator may not.
        hid = held["WO-1-0001"]["hold_id"]
        with pytest.raises(Refused):
            holds.dispose(cfg, st, anna, hid, "release", "checked")
        with pytest.raises(Refused, match="required to sign"):
            holds.dispose(cfg, st, as_operator(cfg, "1003", signed=None), hid, "scrap", "recall")
        holds.dispose(
            cfg, st, as_operator(cfg, "1003"), hid, "scrap", "supplier recall", corrective_action="SCAR-12"
        )
        assert holds.holds(cfg, st, open_only=True) == []
        assert holds.holds(cfg, st)[0]["corrective_action"] == "SCAR-12"


def test_inspection_and_spc_holds_and_shortage_notice(cfg: LineConfig) -> None:
    anna = as_operator(cfg, "1001")
    with open_store(cfg) as st:
        send_lots(
            cfg,
            st,
            "c1",
            {"lot": "PF-1", "material": "preform", "status": "released", "quantity": 120},
            {"lot": "CAP-1", "material": "cap", "status": "released", "quantity": 10000},
        )
        start(st)
        materials.move_in(cfg, st, anna, "F-PREFORM", "PF-1", now=1001)
        materials.move_in(cfg, st, anna, "F-CAP", "CAP-1", now=1001)
        materials_pass.materials_pass(cfg, st, now=1001)
        parts(st, 1060, 50)  # 51 preforms a minute: 69 left last 1.4 min
        materials_pass.materials_pass(cfg, st, now=1060)
        ev = [e for e in st.events() if e["kind"] == "material.shortage"]
        assert len(ev) == 1 and ev[0]["data"]["location"] == "F-PREFORM"
        materials_pass.materials_pass(cfg, st, now=1061)  # once, not every pass
        assert len([e for e in st.events() if e["kind"] == "material.shortage"]) == 1
        short = materials.shortages(cfg, st, now=1061)
        assert [(s.location, s.material) for s in short] == [("F-PREFORM", "preform")]
        # A failed inspection holds the order's output since the order started (no pass yet).
        st.db.execute(
            "INSERT INTO inspections (ts, plan, order_id, product, parts_at, passed, items, by) "
            "VALUES (1070, 'first_off', 'WO-1', 'COLA-500', 0, 0, '[]', 'x')"
        )
        parts(st, 1080, 50)
        out = materials_pass.materials_pass(cfg, st, now=1081)
        assert out["produced"] == ["WO-1-0001"]
        held = holds.holds(cfg, st, open_only=True)
        kinds = sorted((h["target_kind"], h["source"]) for h in held)
        assert kinds == [("lot", "inspection"), ("window", "inspection")]
        # An out-of-spec point holds the lot in progress when it is made.
        st.db.execute(
            "INSERT INTO spc_alarms (ts, characteristic, kind, rule, detail, value) "
            "VALUES (1150, 'fill_weight', 'out_of_spec', 'spec', 'above USL', 512.0)"
        )
        materials_pass.materials_pass(cfg, st, now=1151)
        parts(st, 1200, 100)
        out = materials_pass.materials_pass(cfg, st, now=1201)
        lot2 = out["produced"][0]
        assert any("SPC out of spec" in h["reason"] for h in holds.holds_on(st, lot2))
