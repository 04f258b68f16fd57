"""Pure materials logic: backflush with scrap allowance, FIFO across staged lots,
shortage projection, lot checks at move-in, hold propagation through genealogy."""

from __future__ import annotations

import math

import pytest

from edge.logic.materials.backflush import StagedLot, Take, allocate_fifo, backflush_quantity
from edge.logic.materials.checks import LotInfo, refusal
from edge.logic.materials.genealogy import backward, children_of, forward, holds_for_block
from edge.logic.materials.shortage import consumption_rate, minutes_left, project_shortage


def test_backflush_sap_component_scrap_example() -> None:
    # SAP Help, "Component Scrap": 200 pieces required with 10 % component scrap → 220.
    assert backflush_quantity(200, 0, 1.0, 0.10) == pytest.approx(220.0)


def test_backflush_counts_scrap_parts_and_allowance() -> None:
    # 95 good + 5 scrap bottles, 24.5 g resin each, 2 % purge loss: 100 × 24.5 × 1.02.
    assert backflush_quantity(95, 5, 24.5, 0.02) == pytest.approx(2499.0)
    assert backflush_quantity(0, 0, 3.0, 0.5) == 0.0
    with pytest.raises(ValueError):
        backflush_quantity(-1, 0, 1.0)
    with pytest.raises(ValueError):
        backflush_quantity(1, 0, 1.0, -0.1)


def test_fifo_uses_oldest_lot_first_then_the_next() -> None:
    staged = [StagedLot("L2", 100, since=20), StagedLot("L1", 30, since=10), StagedLot("L3", 50, since=30)]
    a = allocate_fifo(staged, 80)
    assert a.takes == (Take("L1", 30), Take("L2", 50))
    assert a.short == 0.0


def test_fifo_reports_shortfall_and_skips_empty_lots() -> None:
    staged = [StagedLot("A", 0, since=1), StagedLot("B", 10, since=2)]
    a = allocate_fifo(staged, 25)
    assert a.takes == (Take("B", 10),)
    assert a.short == pytest.approx(15)
    assert allocate_fifo([], 0).takes == ()


def test_fifo_ties_are_broken_by_lot_not_by_listing_order() -> None:
    one = allocate_fifo([StagedLot("B", 5, 1), StagedLot("A", 5, 1)], 5)
    two = allocate_fifo([StagedLot("A", 5, 1), StagedLot("B", 5, 1)], 5)
    assert one == two and one.takes == (Take("A", 5),)


def test_shortage_projection() -> None:
    # one unit a second for 10 min → 60/min; 900 on hand lasts 15 min.
    events = [(float(t), 1.0) for t in range(1, 601)]
    rate = consumption_rate(events, now=600.0, window_s=600.0)
    assert rate == pytest.approx(60.0)
    assert minutes_left(900, rate) == pytest.approx(15.0)
    s = project_shortage("feeder1", "caps", 900, rate, horizon_min=30)
    assert s is not None and s.minutes_left == pytest.approx(15.0)
    assert project_shortage("feeder1", "caps", 900, rate, horizon_min=10) is None
    # A stopped line does not run out; an empty feeder has run out.
    assert minutes_left(900, 0.0) == math.inf
    assert project_shortage("f", "m", 0.0, 0.0, horizon_min=5) is not None
    # Consumption outside the window is not part of the rate.
    assert consumption_rate([(0.0, 100.0)], now=600.0, window_s=600.0) == 0.0


def test_lot_checks() -> None:
    ok = LotInfo("L1", "caps", "released", expiry=2000.0)
    common = {"bom_materials": {"caps", "resin"}, "product": "P1", "lot_controlled": True, "now": 1000.0}
    assert refusal(lot="L1", material="caps", info=ok, **common) is None  # type: ignore[arg-type]
    assert "bill of materials" in (refusal(lot="L1", material="glue", info=ok, **common) or "")  # type: ignore[arg-type]
    assert "not in the plant's lot list" in (refusal(lot="LX", material="caps", info=None, **common) or "")  # type: ignore[arg-type]
    q = LotInfo("L1", "caps", "quarantine", None)
    assert "quarantine, not released" in (refusal(lot="L1", material="caps", info=q, **common) or "")  # type: ignore[arg-type]
    old = LotInfo("L1", "caps", "released", expiry=999.0)
    assert "expired" in (refusal(lot="L1", material="caps", info=old, **common) or "")  # type: ignore[arg-type]
    other = LotInfo("L1", "resin", "released", None)
    assert "is a lot of 'resin'" in (refusal(lot="L1", material="caps", info=other, **common) or "")  # type: ignore[arg-type]
    # Not lot-controlled: an unknown lot is fine; no product running: no BOM check.
    free = common | {"lot_controlled": False, "bom_materials": None}
    assert refusal(lot="any", material="glue", info=None, **free) is None  # type: ignore[arg-type]


def test_hold_propagates_forward_through_two_levels() -> None:
    # Supplier lot S1 → intermediate I1 (line 1) → finished F1, F2 (line 2); S2 → I2 → F3.
    edges = [("S1", "I1"), ("I1", "F1"), ("I1", "F2"), ("S2", "I2"), ("I2", "F3"), ("S1", "I3")]
    kids = children_of(edges)
    assert forward("S1", kids) == {"I1": 1, "I3": 1, "F1": 2, "F2": 2}
    assert holds_for_block("S1", kids, held={"F2": "already"}) == ["I1", "I3", "F1"]
    parents = children_of([(c, p) for p, c in edges])
    assert backward("F1", parents) == {"I1": 1, "S1": 2}


def test_propagation_ends_on_cycles() -> None:
    kids = children_of([("A", "B"), ("B", "A"), ("B", "C")])
    assert forward("A", kids) == {"B": 1, "C": 2}
