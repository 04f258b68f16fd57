"""Line execution (issue 14): imposed reasons, changeovers, time accounting without
negative losses, catch-up counts, commissioning. Each test is a finding of the issue."""

from __future__ import annotations

import pytest

from edge.logic.production.downtime import DowntimeTracker, Loss, Reason, ReasonTree
from edge.logic.production.line import LineLogic, MachineSpec, ReasonImposed
from edge.logic.production.oee import compute, intervals
from edge.logic.production.report import Facts
from edge.logic.production.state import State, StateChange, StateModel

TREE = ReasonTree(
    {
        "MECH.JAM": Reason("MECH.JAM", "Bottle jam", Loss.AVAILABILITY, "MECH", ("MECH", "MECH.JAM")),
        "MAINT.CM": Reason("MAINT.CM", "Corrective", Loss.AVAILABILITY, "MAINT", ("MAINT", "MAINT.CM")),
        "PLANNED.PM": Reason("PLANNED.PM", "Preventive", Loss.PLANNED, "PLANNED", ("PLANNED", "PLANNED.PM")),
        "SETUP.CHANGEOVER": Reason(
            "SETUP.CHANGEOVER", "Changeover", Loss.AVAILABILITY, "SETUP", ("SETUP", "SETUP.CHANGEOVER")
        ),
    }
)


def _line(**kw: object) -> LineLogic:
    spec = MachineSpec(
        StateModel("filler", code_tag="code", codes={1: State.RUNNING, 2: State.DOWN, 3: State.IDLE}),
        fault_code_tag="fault",
        counters={"good": ("good", 32), "scrap": ("scrap", 32)},
    )
    return LineLogic(
        [spec], fault_reasons={101: "MECH.JAM"}, ideal_cycle={"A": 1.0, "B": 2.0}, default_product="A", **kw
    )  # type: ignore[arg-type]


def test_imposed_reason_books_the_stop_and_cuts_an_open_one() -> None:
    d = DowntimeTracker("m", micro_stop_s=30, fault_reasons={101: "MECH.JAM"})
    d.set_fault_code(101)
    opened = d.on_state(StateChange(100, "m", State.RUNNING, State.DOWN))[0]
    assert opened.auto_reason == "MECH.JAM"
    # A corrective work order takes the machine 60 s into the stop: the stop is cut.
    closed, cont = d.impose(160, "maintenance:WO-1", "MAINT.CM")
    assert (closed.start, closed.end, closed.auto_reason) == (100, 160, "MECH.JAM")
    assert (cont.start, cont.end, cont.auto_reason) == (160, None, "MAINT.CM")
    # Lifted: the rest is the PLC's reason again.
    _, rest = d.impose(400, "maintenance:WO-1", None)
    assert rest.auto_reason == "MECH.JAM" and d.imposed == {}
    # A stop opening while an imposition holds takes it, before any fault code.
    d.impose(500, "spc", "PLANNED.PM")
    d.on_state(StateChange(450, "m", State.DOWN, State.RUNNING))
    ev = d.on_state(StateChange(510, "m", State.RUNNING, State.DOWN))[0]
    assert ev.auto_reason == "PLANNED.PM"
    # Lifting when nothing changes (another source's reason) cuts nothing.
    assert d.impose(520, "other", None) == []


def test_preventive_imposition_is_planned_time_corrective_is_availability() -> None:
    logic = _line()
    facts = []
    facts += logic.on_sample(0, "code", 1, True)
    facts += logic.on_sample(0, "fault", 0, True)
    facts += logic.impose_reason(100, "filler", "PLANNED.PM", source="maintenance:PM-1")
    facts += logic.on_sample(100, "code", 3, True)
    facts += logic.on_sample(400, "code", 1, True)
    facts += logic.impose_reason(400, "filler", None, source="maintenance:PM-1")
    facts += logic.impose_reason(500, "filler", "MAINT.CM", source="maintenance:CM-2")
    facts += logic.on_sample(500, "code", 2, True)
    facts += logic.on_sample(700, "code", 1, True)
    assert any(isinstance(f, ReasonImposed) and f.reason == "PLANNED.PM" for f in facts)
    fx = Facts.collect(facts)
    k = compute(0, 1000, intervals(fx.changes["filler"], 1000), fx.events["filler"], [], TREE)
    assert k.planned_stop_s == 300  # preventive: out of planned production time
    assert k.downtime_s == 200 and k.breakdown_s == 200  # corrective: availability loss
    assert logic.imposed() == {"filler": {"maintenance:CM-2": "MAINT.CM"}}
    with pytest.raises(KeyError):
        logic.impose_reason(800, "nope", "MAINT.CM", source="x")


def _losses_non_negative(k: object) -> None:
    losses = k.six_big_losses()  # type: ignore[attr-defined]
    assert all(v >= -1e-9 for v in losses.values()), losses
    assert sum(losses.values()) + k.good_ideal_s == pytest.approx(k.planned_production_s)  # type: ignore[attr-defined]
    assert k.performance is None or k.performance <= 1 + 1e-9  # type: ignore[attr-defined]


def test_a_break_worked_through_is_run_time_and_no_loss_is_negative() -> None:
    """Found on the demo line: parts made during a planned break gave "reduced speed
    −22 s". One part a second at an ideal 1 s through a 15-minute break: the break was not
    taken, so it is run time; Performance 100 %, every loss 0."""
    logic = _line()
    facts = logic.on_sample(0, "code", 1, True) + logic.on_sample(0, "fault", 0, True)
    facts += logic.on_sample(0, "good", 0, True) + logic.on_sample(0, "scrap", 0, True)
    for t in range(1, 3601):
        facts += logic.on_sample(t, "good", t, True)
    fx = Facts.collect(facts)
    brk = [(1000.0, 1900.0)]
    k = compute(0, 3600, intervals(fx.changes["filler"], 3600), [], fx.counts["filler"], TREE, brk)
    assert k.planned_stop_s == 0 and k.run_s == 3600 and k.performance == pytest.approx(1.0, abs=1e-3)
    _losses_non_negative(k)
    # Running through a break with nothing counted: the break was taken (planned).
    idle = compute(0, 3600, intervals(fx.changes["filler"], 3600), [], [], TREE, brk)
    assert idle.planned_stop_s == 900


def test_a_machine_running_through_an_operator_pause_is_running() -> None:
    logic = _line()
    logic.on_sample(0, "code", 1, True)
    logic.order_action(10, "start", "WO-1", "A")
    changes = logic.order_action(20, "pause")
    assert not any(getattr(c, "new", None) == State.PLANNED_STOP for c in changes)
    changes = logic.on_sample(30, "code", 3, True)  # stops: now it is the planned pause
    assert [c.new for c in changes if hasattr(c, "new")] == [State.PLANNED_STOP]


def test_catch_up_counts_after_an_outage_never_push_performance_above_100() -> None:
    """The counter's tag had no good value for 300 s (device or agent down); the next
    reading caught up 250 parts. They were produced while not observed: booked at the
    start of the gap, and 250 s of the gap become run time (ideal 1 s), not Performance."""
    logic = _line()
    facts = logic.on_sample(0, "code", 1, True) + logic.on_sample(0, "fault", 0, True)
    facts += logic.on_sample(0, "scrap", 0, True) + logic.on_sample(0, "good", 0, True)
    for t in range(1, 101):
        facts += logic.on_sample(t, "good", t, True)
    facts += logic.on_sample(100, "code", None, False)
    facts += logic.on_sample(100, "good", None, False)
    facts += logic.on_sample(400, "code", 1, True)
    facts += logic.on_sample(400, "good", 350, True)
    for t in range(401, 501):
        facts += logic.on_sample(t, "good", 350 + t - 400, True)
    fx = Facts.collect(facts)
    caught = [c for c in fx.counts["filler"] if c.unobserved]
    assert [(c.ts, c.good) for c in caught] == [(100, 250)]
    k = compute(
        0, 500, intervals(fx.changes["filler"], 500), fx.events.get("filler", []), fx.counts["filler"], TREE
    )
    assert k.good == 449 and k.unobserved_count == 250 and k.unobserved_run_s == 250  # (t=500 is the end)
    assert k.run_s == 450 and k.performance == pytest.approx(449 / 450)
    assert k.six_big_losses()["no_data"] == pytest.approx(50)
    _losses_non_negative(k)
    # The agent restarting after an outage: the counters' next increase caught up too.
    logic.resume(600)
    late = logic.on_sample(700, "good", 460, True)
    assert [(c.ts, c.good, c.unobserved) for c in late if hasattr(c, "unobserved")] == [(600, 10, True)]


def test_a_changeover_overrun_is_setup_loss_the_standard_part_planned() -> None:
    """WO-1 (product A, 10 parts) runs; WO-2 (product B) is started over it at t=100.
    The matrix gives A → B 10 min standard. The line stands still until t=1000 and the
    first good part at t=1010 ends the changeover: 600 s planned, 300 s "setup &
    adjustments" (found: a changeover was wholly planned, setup always 0)."""
    from edge.logic.production.line import Changeover, OrderChange, OrderNotice

    logic = _line(changeover_s={("A", "B"): 600.0}, setup_reason="SETUP.CHANGEOVER")
    facts = logic.on_sample(0, "code", 1, True) + logic.on_sample(0, "fault", 0, True)
    facts += logic.on_sample(0, "good", 0, True) + logic.on_sample(0, "scrap", 0, True)
    facts += logic.order_action(0, "start", "WO-1", "A", quantity=10)
    for t in range(1, 13):
        facts += logic.on_sample(t * 5, "good", t, True)
    notices = [f for f in facts if isinstance(f, OrderNotice)]
    assert [(n.ts, n.kind) for n in notices] == [(50, "quantity_reached")]  # once, at the 10th
    facts += logic.on_sample(99, "code", 3, True)  # the line stops for the changeover
    facts += logic.order_action(100, "start", "WO-2", "B")
    assert [(o.order, o.action) for o in facts if isinstance(o, OrderChange)][-2:] == [
        ("WO-1", "complete"),
        ("WO-2", "start"),
    ]
    facts += logic.tick(650)
    facts += logic.tick(701)  # the standard ran out at 700
    facts += logic.on_sample(1000, "code", 1, True)
    facts += logic.on_sample(1010, "good", 13, True)  # first good part of B
    cos = [
        (c.ts, c.action, c.from_product, c.to_product, c.standard_s)
        for c in facts
        if isinstance(c, Changeover)
    ]
    assert cos == [
        (100, "start", "A", "B", 600.0),
        (700, "overrun", "A", "B", 600.0),
        (1010, "end", "A", "B", 600.0),
    ]
    assert logic.co is None and logic.imposed() == {}
    fx = Facts.collect(facts)
    k = compute(
        0, 1100, intervals(fx.changes["filler"], 1100), fx.events["filler"], fx.counts["filler"], TREE
    )
    assert k.planned_stop_s == 600
    assert k.setup_s == pytest.approx(300) and k.six_big_losses()["setup_adjustments"] == pytest.approx(300)
    assert k.breakdown_s == 0 and k.micro_stop_s == pytest.approx(1)  # 99..100: a small stop
    _losses_non_negative(k)


def test_changeover_within_its_standard_is_wholly_planned_and_same_product_needs_none() -> None:
    logic = _line(changeover_s={("A", "B"): 600.0}, setup_reason="SETUP.CHANGEOVER")
    logic.on_sample(0, "code", 3, True)
    logic.order_action(0, "start", "WO-1", "A")
    logic.order_action(10, "complete")
    assert logic.co is None
    facts = logic.changeover(20, True, "B")
    facts += logic.changeover(300, False)
    facts += logic.order_action(310, "start", "WO-2", "B")  # changed over already: none again
    assert logic.co is None
    fx = Facts.collect(facts)
    k = compute(20, 300, intervals(fx.changes["filler"], 300), fx.events.get("filler", []), [], TREE)
    assert k.planned_stop_s == 280 and k.setup_s == 0
    logic.order_action(400, "start", "WO-3", "B", quantity=5)  # same product: no changeover
    assert logic.co is None
    with pytest.raises(ValueError, match="no changeover"):
        logic.changeover(410, False)
