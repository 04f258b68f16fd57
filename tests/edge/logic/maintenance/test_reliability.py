"""Reliability figures against a published worked example, and work-order folding."""

from __future__ import annotations

from edge.logic.maintenance import reliability as rel
from edge.logic.maintenance.stock import Part, apply_movement
from edge.logic.maintenance.workorders import StepError, WoEvent, check_step, fold

H = 3600.0


def test_worked_example_mtbf_mttr_availability() -> None:
    """ITIL availability-management exercise 1 (published e.g. at
    scribd.com/document/403226083): a component must run 24 h Monday to Friday and fails
    Tuesday 05:00–07:00, Thursday 16:00–20:00 and Friday 08:00–11:00. By hand: downtime
    2 + 4 + 3 = 9 h, uptime 5·24 − 9 = 111 h, MTBF = 111 / 3 = 37 h, MTTR = 9 / 3 = 3 h,
    availability = 37 / (37 + 3) = 111 / 120 = 0.925."""
    day = 24 * H
    fails = [
        rel.Failure("c1", 1 * day + 5 * H, 1 * day + 7 * H),
        rel.Failure("c1", 3 * day + 16 * H, 3 * day + 20 * H),
        rel.Failure("c1", 4 * day + 8 * H, 4 * day + 11 * H),
    ]
    r = rel.reliability(fails, 0.0, 5 * day)
    assert r.failures == 3
    assert f"{r.mtbf_s / H:.4g}" == "37"  # type: ignore[operator]
    assert f"{r.mttr_s / H:.4g}" == "3"  # type: ignore[operator]
    assert f"{r.availability:.4g}" == "0.925"
    assert r.next_failure == 4 * day + 11 * H + 37 * H


def test_failures_from_stops_and_orders() -> None:
    stops = [
        rel.Stop("f@0", "filler", 0.0, 600.0, "down", reason="MECH.JAM"),
        rel.Stop("f@1000", "filler", 1000.0, 1010.0, "down", micro=True),
        rel.Stop("f@2000", "filler", 2000.0, None, "down"),
        rel.Stop("f@3000", "filler", 3000.0, 4000.0, "starved"),
    ]
    evs = [
        WoEvent.of(
            1,
            100.0,
            "WO-1",
            "created",
            {"type": "corrective", "asset": "filler", "stop_event": "f@0"},
            "line",
        ),
        WoEvent.of(2, 160.0, "WO-1", "approve", {}, "Dirk"),
        WoEvent.of(
            3, 170.0, "WO-1", "failure", {"problem": "JAM", "cause": "WEAR", "remedy": "REPLACE"}, "Dirk"
        ),
        WoEvent.of(4, 5000.0, "WO-2", "created", {"type": "corrective", "asset": "filler.valve"}, "Anna"),
        WoEvent.of(5, 5100.0, "WO-2", "approve", {}, "Dirk"),
        WoEvent.of(6, 5200.0, "WO-2", "start", {}, "Dirk"),
        WoEvent.of(7, 5500.0, "WO-2", "finish", {}, "Dirk"),
    ]
    orders = fold(evs)
    fs = rel.failures(stops, orders, now=2500.0)
    assert [(f.asset, f.mode, f.repair_s, f.ack) for f in fs] == [
        ("filler", "JAM", 600.0, 160.0),
        ("filler", "uncoded", 500.0, None),
        ("filler.valve", "uncoded", 300.0, 5100.0),
    ]
    per = rel.by_asset(fs, 0.0, 6000.0)
    assert per["filler"].mtta_s == 160.0
    assert [(p["mode"], p["count"]) for p in rel.pareto(fs)] == [("uncoded", 2), ("JAM", 1)]


def test_lifecycle_and_fold() -> None:
    assert check_step("requested", "approve") == "approved"
    assert check_step("in_progress", "labour") is None
    for state, step in [
        ("requested", "start"),
        ("done", "start"),
        ("cancelled", "approve"),
        ("approved", "pause"),
    ]:
        try:
            check_step(state, step)
        except StepError:
            continue
        raise AssertionError(f"{step} from {state} allowed")
    evs = [
        WoEvent.of(
            1,
            0.0,
            "WO-1",
            "created",
            {"type": "preventive", "asset": "a", "state": "approved", "estimate_h": 2.0},
            "line",
        ),
        WoEvent.of(2, 10.0, "WO-1", "schedule", {"start": 100.0, "technician": "Dirk"}, "Eva"),
        WoEvent.of(3, 100.0, "WO-1", "start", {}, "Dirk"),
        WoEvent.of(4, 200.0, "WO-1", "pause", {}, "Dirk"),
        WoEvent.of(5, 300.0, "WO-1", "resume", {}, "Dirk"),
        WoEvent.of(6, 310.0, "WO-1", "labour", {"technician": "Dirk", "hours": 0.5}, "Dirk"),
        WoEvent.of(7, 320.0, "WO-1", "parts", {"part": "belt", "qty": 1}, "Dirk"),
        WoEvent.of(8, 330.0, "WO-1", "start", {}, "Dirk"),  # not allowed: ignored
    ]
    wo = fold(evs)["WO-1"]
    assert wo.state == "in_progress" and wo.working == [(100.0, 200.0), (300.0, None)]
    assert wo.labour == {"Dirk": 0.5} and wo.parts == {"belt": 1.0} and wo.remaining_h == 1.5
    assert rel.backlog_hours([wo]) == 1.5
    assert [s["step"] for s in wo.steps] == [
        "created",
        "schedule",
        "start",
        "pause",
        "resume",
        "labour",
        "parts",
    ]


def test_stock_reorder() -> None:
    parts = {"belt": Part("belt", min=2, max=6)}
    apply_movement(parts, "belt", "receipt", 3, None)
    assert not parts["belt"].reorder
    apply_movement(parts, "belt", "reserve", 2, "WO-1")
    assert parts["belt"].available == 1 and parts["belt"].reorder and parts["belt"].reorder_qty == 5
    apply_movement(parts, "belt", "release", -2, "WO-1")
    apply_movement(parts, "belt", "issue", -2, "WO-1")
    assert parts["belt"].on_hand == 1 and parts["belt"].reserved == 0 and parts["belt"].by_order == {}
