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
    return LineLogic([spec], fault_reasons={101: "MECH.JAM"}, ideal_cycle={"A": 1.0, "B": 2.0}, **kw)  # type: ignore[arg-type]


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
