"""A cycles plan fed a value that is no whole number (text, a list, NaN, an infinity)
from the PLC: no crash, the value is not counted, and one PLC-data fault naming the tag
is recorded (again only after the tag sent a number in between); counting goes on from
the last good reading. Stored as a ``plc_data_fault`` event.

Finding: ``PlanTracker._on_cycles`` passed the raw value to the counter tracker's
``int()``: a string on the counter tag raised ValueError (a list TypeError, an infinity
OverflowError) out of the agent's sample path."""

from __future__ import annotations

import json
import math
from pathlib import Path

from edge.logic.maintenance.engine import MaintenanceLogic, OrderDue, OrderTemplate
from edge.logic.maintenance.plans import PlanSpec, PlcDataFault
from edge.store import Store

TAG = "filler.cycles"


def logic() -> MaintenanceLogic:
    spec = PlanSpec("nozzles", "filler", "cycles", every=100, tag=TAG)
    return MaintenanceLogic([(spec, OrderTemplate(title="nozzles"))])


def test_a_counter_value_that_is_no_number_is_a_plc_data_fault_not_a_crash(tmp_path: Path) -> None:
    ml = logic()
    assert ml.on_sample(0.0, TAG, 1000, True) == []
    assert ml.on_sample(1.0, TAG, 1040, True) == []
    [fault] = ml.on_sample(2.0, TAG, "ERR", True)
    assert isinstance(fault, PlcDataFault)
    assert (fault.tag, fault.plan, fault.value) == (TAG, "nozzles", "'ERR'")
    assert fault.detail.startswith(f"{TAG}: cycle counter value 'ERR' is not a whole number")
    # the same fault goes on: recorded once
    for bad in ([1, 2], math.nan, math.inf, "ERR"):
        assert ml.on_sample(3.0, TAG, bad, True) == []
    # counting resumes from the last good reading (1040): 1100 reaches the 100-cycle point
    [due] = ml.on_sample(4.0, TAG, 1100, True)
    assert isinstance(due, OrderDue) and due.due.key == "nozzles=100"
    assert ml.trackers["nozzles"].meter(4.0) == 100
    # a new fault after a good value is recorded again
    [again] = ml.on_sample(5.0, TAG, math.inf, True)
    assert isinstance(again, PlcDataFault) and again.value == "inf"
    st = Store(tmp_path / "s.db")
    st.append_samples([], [fault, again])
    rows = st.db.execute("SELECT ts, kind, source, message, data FROM events WHERE kind = 'plc_data_fault'")
    got = rows.fetchall()
    st.close()
    assert [(r[0], r[2]) for r in got] == [(2.0, TAG), (5.0, TAG)]
    assert got[0][3] == fault.detail and json.loads(got[0][4]) == {"plan": "nozzles", "value": "'ERR'"}
