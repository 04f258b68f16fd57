"""OEE against the standard worked example, and its invariants (hypothesis)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edge.logic.production.downtime import DowntimeEvent, Loss, Reason, ReasonTree
from edge.logic.production.oee import CountRecord, Interval, compute, intervals
from edge.logic.production.state import State, StateChange

TREE = ReasonTree(
    {
        "MECH.JAM": Reason("MECH.JAM", "Bottle jam", Loss.AVAILABILITY, "MECH", ("MECH", "MECH.JAM")),
        "SETUP.CHG": Reason("SETUP.CHG", "Format change", Loss.AVAILABILITY, "SETUP", ("SETUP", "SETUP.CHG")),
        "PM": Reason("PM", "Planned maintenance", Loss.PLANNED, "PM", ("PM",)),
    }
)
H = 3600.0


def test_oee_com_worked_example() -> None:
    """oee.com's example: an 8 h shift with 60 min of breaks, 47 min of downtime, ideal
    cycle 1.0 s, 19,271 made, 423 rejects → A 88.81 %, P 86.11 %, Q 97.80 %, OEE 74.79 %."""
    start = 0.0
    end = 8 * H
    breaks = [(2 * H, 2 * H + 15 * 60), (4 * H, 4 * H + 30 * 60), (6 * H, 6 * H + 15 * 60)]
    down_start = 60 * 60.0
    down_end = down_start + 47 * 60
    states = [
        Interval(start, down_start, State.RUNNING),
        Interval(down_start, down_end, State.DOWN),
        Interval(down_end, end, State.RUNNING),
    ]
    events = [DowntimeEvent("m@1", "m", down_start, down_end, State.DOWN, "MECH.JAM")]
    counts = [CountRecord(5 * H, 19271 - 423, 423, 1.0)]
    k = compute(start, end, states, events, counts, TREE, breaks)
    assert k.planned_production_s == 420 * 60
    assert k.run_s == 373 * 60
    assert round(k.availability, 4) == 0.8881  # type: ignore[arg-type]
    assert round(k.performance, 4) == 0.8611  # type: ignore[arg-type]
    assert round(k.quality, 4) == 0.9780  # type: ignore[arg-type]
    assert round(k.oee, 4) == 0.7479  # type: ignore[arg-type]
    assert k.failures == 1 and k.mttr_s == 47 * 60 and k.mtbf_s == 373 * 60
    losses = k.six_big_losses()
    assert losses["breakdowns"] == 47 * 60
    assert sum(losses.values()) + k.good_ideal_s == pytest.approx(k.planned_production_s)


def test_micro_stops_are_performance_loss_and_planned_reasons_leave_ppt() -> None:
    states = [
        Interval(0, 100, State.RUNNING),
        Interval(100, 110, State.STARVED),  # micro-stop
        Interval(110, 200, State.RUNNING),
        Interval(200, 500, State.DOWN),  # operator says: planned maintenance
        Interval(500, 600, State.IDLE),  # changeover booked as setup
    ]
    events = [
        DowntimeEvent("a", "m", 100, 110, State.STARVED, micro=True),
        DowntimeEvent("b", "m", 200, 500, State.DOWN, reason="PM"),
        DowntimeEvent("c", "m", 500, 600, State.IDLE, reason="SETUP.CHG"),
    ]
    k = compute(0, 600, states, events, [CountRecord(50, 100, 0, 1.0)], TREE)
    assert k.planned_stop_s == 300
    assert k.run_s == 200 and k.micro_stop_s == 10
    assert k.setup_s == 100 and k.breakdown_s == 0 and k.failures == 0
    assert k.availability == pytest.approx(200 / 300)


def test_no_data_counts_as_availability_loss_and_is_reported() -> None:
    states = [Interval(0, 50, State.RUNNING), Interval(50, 100, State.NO_DATA)]
    k = compute(0, 100, states, [DowntimeEvent("x", "m", 50, 100, State.NO_DATA)], [], TREE)
    assert k.no_data_s == 50 and k.downtime_s == 50 and k.availability == 0.5


def test_time_without_a_known_state_is_no_data() -> None:
    """Before the first state change (agent not yet running) the window is no data."""
    k = compute(0, 100, [Interval(40, 100, State.RUNNING)], [], [], TREE)
    assert k.no_data_s == 40 and k.run_s == 60 and k.downtime_s == 40
    assert k.planned_stop_s + k.run_s + k.downtime_s == 100


def test_intervals_from_changes() -> None:
    ch = [StateChange(0, "m", None, State.RUNNING), StateChange(10, "m", State.RUNNING, State.DOWN)]
    assert intervals(ch, 25) == [Interval(0, 10, State.RUNNING), Interval(10, 25, State.DOWN)]


STATES = [State.RUNNING, State.IDLE, State.DOWN, State.STARVED, State.PLANNED_STOP, State.NO_DATA]


@given(
    durations=st.lists(st.tuples(st.sampled_from(STATES), st.floats(0.5, 5000)), min_size=1, max_size=40),
    micro=st.floats(0, 120),
    counts=st.lists(st.tuples(st.integers(0, 500), st.integers(0, 50)), max_size=20),
    ideal=st.floats(0.01, 5),
    breaks=st.lists(st.tuples(st.floats(0, 1), st.floats(0, 0.2)), max_size=3),
)
def test_kpi_invariants(durations, micro, counts, ideal, breaks) -> None:  # type: ignore[no-untyped-def]
    t = 0.0
    states, events = [], []
    for i, (stt, d) in enumerate(durations):
        states.append(Interval(t, t + d, stt))
        if stt not in (State.RUNNING, State.PLANNED_STOP):
            events.append(
                DowntimeEvent(f"e{i}", "m", t, t + d, stt, micro=stt != State.NO_DATA and d < micro)
            )
        t += d
    end = t
    planned = [(f * end, f * end + w * end) for f, w in breaks]
    recs = [
        CountRecord(end * (i + 0.5) / max(1, len(counts)), g, s, ideal) for i, (g, s) in enumerate(counts)
    ]
    k = compute(0, end, states, events, recs, TREE, planned)
    # state durations add up exactly to calendar time
    assert math.isclose(sum(k.state_s.values()), end, rel_tol=1e-9)
    assert math.isclose(k.planned_stop_s + k.run_s + k.downtime_s, end, rel_tol=1e-9, abs_tol=1e-6)
    for v in (k.availability, k.quality):
        assert v is None or 0.0 <= v <= 1.0 + 1e-12
    if k.oee is not None:
        assert k.oee == pytest.approx(k.availability * k.performance * k.quality)  # type: ignore[operator]
        assert k.oee == pytest.approx(k.good_ideal_s / k.planned_production_s)
    assert sum(k.six_big_losses().values()) + k.good_ideal_s == pytest.approx(
        k.planned_production_s, abs=1e-6
    )


def test_stop_across_a_shift_boundary_is_split_between_shifts() -> None:
    """A 40-minute stop from 13:40 to 14:20 is 20 min in the early and 20 in the late shift;
    per-shift downtime adds up to the whole."""
    from datetime import datetime, time
    from zoneinfo import ZoneInfo

    from edge.logic.production.report import Facts, build_report
    from edge.logic.production.shifts import ShiftCalendar, ShiftPattern

    tz = ZoneInfo("Europe/Berlin")
    cal = ShiftCalendar(
        "Europe/Berlin", [ShiftPattern("early", time(6), time(14)), ShiftPattern("late", time(14), time(22))]
    )

    def at(h: int, m: int) -> float:
        return datetime(2026, 11, 23, h, m, tzinfo=tz).timestamp()

    changes = [
        StateChange(at(12, 0), "m", None, State.RUNNING),
        StateChange(at(13, 40), "m", State.RUNNING, State.DOWN),
        StateChange(at(14, 20), "m", State.DOWN, State.RUNNING),
    ]
    ev = DowntimeEvent("m@1", "m", at(13, 40), at(14, 20), State.DOWN, "MECH.JAM")
    facts = Facts({"m": changes}, {"m": [ev]}, {}, [])
    rep = build_report(facts, at(12, 0), at(16, 0), line_machine="m", tree=TREE, calendar=cal)
    by_shift = {s["shift"]: s for s in rep["shifts"]}
    assert by_shift["2026-11-23/early"]["downtime_s"] == 20 * 60
    assert by_shift["2026-11-23/late"]["downtime_s"] == 20 * 60
    assert sum(s["downtime_s"] for s in rep["shifts"]) == rep["total"]["downtime_s"] == 40 * 60
    assert sum(s["calendar_s"] for s in rep["shifts"]) == rep["total"]["calendar_s"]
