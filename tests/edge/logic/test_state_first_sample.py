"""Issue 13 finding 14: at agent start a counter-based machine state recorded a 0.2 s idle
micro-stop on the very first sample (one value cannot show a counter advancing)."""

from __future__ import annotations

from edge.logic.production.state import State, StateModel, StateTracker


def model() -> StateModel:
    return StateModel("m", counter_tag="cnt", running_window_s=10)


def test_first_counter_value_records_no_idle_when_the_counter_then_advances() -> None:
    t = StateTracker(model())
    changes = t.update(100.0, "cnt", 5, True) + t.tick(100.1) + t.update(100.2, "cnt", 6, True)
    # Running from the first value on: no idle, no change stamped 0.2 s later.
    assert [(c.ts, c.old, c.new) for c in changes] == [(100.0, None, State.RUNNING)]


def test_a_counter_that_never_advances_is_idle_from_its_first_value() -> None:
    t = StateTracker(model())
    assert t.update(100.0, "cnt", 5, True) == []
    assert t.tick(109.0) == [] and t.update(109.5, "cnt", 5, True) == []
    changes = t.tick(110.5)
    assert [(c.ts, c.new) for c in changes] == [(100.0, State.IDLE)]
    assert [(c.ts, c.new) for c in t.update(111.0, "cnt", 6, True)] == [(111.0, State.RUNNING)]


def test_no_data_until_the_counter_is_good_then_judged_from_its_first_good_value() -> None:
    t = StateTracker(model())
    assert [c.new for c in t.update(100.0, "cnt", None, False)] == [State.NO_DATA]
    assert t.update(101.0, "cnt", 5, True) == []
    assert [(c.ts, c.new) for c in t.update(102.0, "cnt", 6, True)] == [(101.0, State.RUNNING)]


def test_a_planned_stop_during_the_first_window_is_kept() -> None:
    t = StateTracker(model())
    t.update(100.0, "cnt", 5, True)
    assert [(c.ts, c.new) for c in t.set_planned(101.0, "changeover")] == [(101.0, State.PLANNED_STOP)]
    assert t.tick(120.0) == []
    assert [(c.ts, c.new) for c in t.set_planned(121.0, None)] == [(121.0, State.IDLE)]
