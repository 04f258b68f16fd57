"""A wall clock set back or forward never yields a negative duration (issue 13, finding
11), in the pure line logic: it cuts what is open at a step of the agent's clock, a
timestamp from the past (a PLC's own clock) counts as "now", and reports never show a
negative stop."""

from __future__ import annotations

from edge.logic.production.downtime import DowntimeEvent, ReasonTree
from edge.logic.production.line import LineLogic, MachineSpec
from edge.logic.production.report import Facts, build_report
from edge.logic.production.state import State, StateChange, StateModel

T0 = 1_790_000_000.0


def logic() -> LineLogic:
    model = StateModel("m", code_tag="code", codes={1: State.RUNNING, 2: State.DOWN})
    return LineLogic([MachineSpec(model, micro_stop_s=0.0)], fault_reasons={}, ideal_cycle={"P": 1.0})


def durations(facts: list[object]) -> dict[str, float]:
    return {f.id: f.duration for f in facts if isinstance(f, DowntimeEvent) and f.end is not None}  # type: ignore[misc]


def test_a_step_back_cuts_the_open_stop_and_nothing_is_negative() -> None:
    lg = logic()
    facts: list[object] = []
    facts += lg.on_sample(T0, "code", 1, True)
    facts += lg.on_sample(T0 + 60, "code", 2, True)  # down at +60
    before, after = T0 + 100, T0 + 100 - 3600  # the clock jumps back an hour at +100
    facts += lg.clock_step(before, after)
    facts += lg.on_sample(after + 30, "code", 1, True)  # runs again 30 s after the step
    got = durations(facts)
    assert got == {f"m@{T0 + 60:.3f}": 40.0, f"m@{after:.3f}": 30.0}  # 70 s of stop, in two parts
    restated = [f for f in facts if isinstance(f, StateChange) and f.ts == after]
    assert restated and restated[0].old == restated[0].new == State.DOWN


def test_a_step_forward_does_not_lengthen_the_stop() -> None:
    lg = logic()
    facts: list[object] = lg.on_sample(T0, "code", 2, True)
    facts += lg.clock_step(T0 + 10, T0 + 10 + 4 * 3600)  # NTP sets the clock at boot
    facts += lg.on_sample(T0 + 4 * 3600 + 20, "code", 1, True)
    assert sorted(durations(facts).values()) == [10.0, 10.0]


def test_timestamps_from_the_past_count_as_now() -> None:
    """A PLC whose clock was set back (or an old OPC UA SourceTimestamp after a
    reconnect) sends earlier timestamps: the stop closes with zero length, not minus."""
    lg = logic()
    facts: list[object] = lg.on_sample(T0, "code", 2, True)
    facts += lg.on_sample(T0 - 3600, "code", 1, True)
    assert list(durations(facts).values()) == [0.0]
    changes = [f for f in facts if isinstance(f, StateChange)]
    assert [c.ts for c in changes] == [T0, T0]


def test_reports_show_no_negative_duration_whatever_the_facts() -> None:
    """Facts written before this fix could hold a stop that ends before it starts."""
    bad = DowntimeEvent("m@1", "m", T0, T0 - 3600, State.DOWN)
    assert bad.duration == 0.0
    changes = [StateChange(T0, "m", None, State.DOWN), StateChange(T0 - 3600, "m", State.DOWN, State.RUNNING)]
    facts = Facts({"m": changes}, {"m": [bad]}, {}, [])
    rep = build_report(facts, T0 - 7200, T0 + 60, line_machine="m", tree=ReasonTree(), calendar=None)
    assert all(v >= 0 for v in rep["total"]["state_s"].values())
    assert all(r["duration_s"] is None or r["duration_s"] >= 0 for r in rep["downtime"])
    assert rep["total"]["downtime_s"] >= 0 and rep["total"]["run_s"] >= 0
