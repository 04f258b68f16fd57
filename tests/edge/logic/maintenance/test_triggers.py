"""Each trigger type of a maintenance plan, at the pure logic."""

from __future__ import annotations

import math

from edge.logic.maintenance.conditions import Hold, Trend
from edge.logic.maintenance.engine import CorrectiveDue, MaintenanceLogic, OrderDue, OrderTemplate
from edge.logic.maintenance.meters import CycleMeter, RunMeter
from edge.logic.maintenance.plans import PlanSpec, PlanTracker, compliance, summarize
from edge.logic.production.downtime import DowntimeEvent
from edge.logic.production.state import State, StateChange

DAY = 86400.0


def test_calendar_due_every_interval_from_start() -> None:
    tr = PlanTracker(PlanSpec("lube", "filler", "calendar", every=7 * DAY, start=1000.0))
    assert tr.tick(999.0) is None
    d = tr.tick(1000.0)
    assert d is not None and d.ts == 1000.0 and d.key == "lube@1000"
    assert tr.tick(1000.0 + 6 * DAY) is None
    d2 = tr.tick(1000.0 + 7 * DAY + 5)
    assert d2 is not None and d2.ts == 1000.0 + 7 * DAY
    # the agent was off for three weeks: one order, for the last due point passed
    d3 = tr.tick(1000.0 + 10 * 7 * DAY + 1)
    assert d3 is not None and d3.ts == 1000.0 + 10 * 7 * DAY
    assert tr.tick(1000.0 + 10 * 7 * DAY + 2) is None


def test_run_hours_from_run_signal_and_across_a_restart() -> None:
    spec = PlanSpec("belt", "capper", "run_hours", every=2.0, tag="capper.running")
    tr = PlanTracker(spec)
    assert tr.on_value(0.0, True) is None
    assert tr.on_value(3600.0, False) is None  # 1 h run
    assert tr.on_value(7200.0, True) is None  # idle hour not counted
    assert tr.meter(7200.0 + 1800) == 1.5
    snap = tr.snapshot(7200.0 + 1800)  # the agent stops here
    tr2 = PlanTracker(spec)
    tr2.restore(snap)
    # restarted an hour later: the time the agent was down is not counted
    assert tr2.on_value(7200.0 + 5400, True) is None
    assert tr2.meter(7200.0 + 5400) == 1.5
    d = tr2.tick(7200.0 + 5400 + 1800)
    assert d is not None and d.key == "belt=2" and d.meter == 2.0 and d.ts == 7200.0 + 5400 + 1800
    assert tr2.tick(7200.0 + 5400 + 1900) is None
    # no good value: not running
    tr2.on_value(20000.0, None)
    m = tr2.meter(20000.0)
    assert tr2.meter(30000.0) == m


def test_run_hours_from_machine_state() -> None:
    spec = PlanSpec("gear", "filler", "run_hours", every=1.0, machine="filler")
    ml = MaintenanceLogic([(spec, OrderTemplate(title="gearbox"))])
    out = ml.follow([StateChange(0.0, "filler", None, State.RUNNING)])
    out += ml.follow([StateChange(1800.0, "filler", State.RUNNING, State.DOWN)])
    out += ml.follow([StateChange(2000.0, "filler", State.DOWN, State.RUNNING)])
    assert out == []
    out = ml.tick(2000.0 + 1800)
    assert len(out) == 1 and isinstance(out[0], OrderDue) and out[0].due.plan == "gear"
    assert out[0].template.title == "gearbox"


def test_cycles_survive_wrap_and_reset() -> None:
    m = CycleMeter(bits=16)
    m.update(65530)
    assert m.update(65535) == 5
    assert m.update(4) == 5  # wrapped: 65535 -> 0 -> 4
    assert m.update(2) == 2  # reset to zero, then 2 counted
    assert m.total == 12
    spec = PlanSpec("nozzles", "filler", "cycles", every=100, tag="filler.count", bits=16)
    tr = PlanTracker(spec)
    tr.on_value(0.0, 65500)
    assert tr.on_value(1.0, 65535) is None
    d = tr.on_value(2.0, 64)  # 35 + 1 + 64 = 100 across the wrap
    assert d is not None and d.key == "nozzles=100" and d.meter == 100
    assert tr.on_value(3.0, 10) is None  # reset: +10
    snap = tr.snapshot(3.0)
    tr2 = PlanTracker(spec)
    tr2.restore(snap)
    d2 = tr2.on_value(10.0, 100)  # made while the agent was down: counted at restart
    assert d2 is not None and d2.key == "nozzles=200"


def test_threshold_held_for_a_duration() -> None:
    h = Hold(limit=10.0, for_s=60.0, op="above")
    assert h.update(0.0, 11.0) is None
    assert h.update(30.0, 9.0) is None  # broke the hold
    assert h.update(40.0, 12.0) is None
    assert h.update(99.0, 12.5) is None
    f = h.update(105.0, 12.0)
    assert f is not None and f.ts == 100.0  # the moment the hold completed
    assert h.update(200.0, 13.0) is None  # once per excursion
    assert h.update(210.0, 5.0) is None  # cleared: re-armed
    assert h.update(220.0, 11.0) is None
    f2 = h.tick(290.0)
    assert f2 is not None and f2.ts == 280.0
    below = Hold(limit=2.0, for_s=10.0, op="below")
    below.update(0.0, 1.0)
    assert below.update(5.0, None) is None  # no data breaks the hold
    below.update(6.0, 1.0)
    assert below.tick(15.0) is None and below.tick(16.0) is not None


def test_trend_projected_to_cross_within_horizon() -> None:
    t = Trend(limit=20.0, horizon_s=3600.0, window_s=4 * 3600.0, op="above", min_points=5)
    fired = []
    # current rising 1 A per hour from 10 A: reaches 20 A at 10 h
    for i in range(0, 10 * 60):
        ts = i * 60.0
        f = t.update(ts, 10.0 + ts / 3600.0)
        if f is not None:
            fired.append(f)
    assert len(fired) == 1
    # it fires when the crossing is one hour ahead: at 9 h
    assert math.isclose(fired[0].ts, 9 * 3600.0, abs_tol=60.0)
    assert "linear fit" in fired[0].detail
    flat = Trend(limit=20.0, horizon_s=3600.0, window_s=3600.0, min_points=5)
    assert all(flat.update(i * 60.0, 15.0) is None for i in range(100))
    falling = Trend(limit=20.0, horizon_s=3600.0, window_s=3600.0, min_points=5)
    assert all(falling.update(i * 60.0, 19.0 - i * 0.01) is None for i in range(100))


def test_condition_plan_keys_and_kind() -> None:
    spec = PlanSpec("current", "capper.motor", "threshold", tag="capper.current", limit=8.0, for_s=10.0)
    tr = PlanTracker(spec)
    tr.on_value(0.0, 9.0)
    d = tr.on_value(10.0, 9.0)
    assert d is not None and d.kind == "condition" and d.trigger == "threshold" and d.key == "current#10.000"


def test_tolerance_windows_due_late_missed() -> None:
    due, tol, missed = 1000.0, 100.0, 500.0
    c = lambda **kw: compliance(due, tolerance_s=tol, missed_s=missed, **kw)  # noqa: E731
    assert c(now=900.0) == "upcoming"
    assert c(now=1050.0) == "due"
    assert c(now=1200.0) == "overdue"
    assert c(now=1501.0) == "missed"
    assert c(now=2000.0, done_ts=1100.0) == "on_time"
    assert c(now=2000.0, done_ts=950.0) == "on_time"
    assert c(now=2000.0, done_ts=1101.0) == "late"
    assert c(now=1050.0, cancelled=True) == "missed"
    s = summarize(["on_time", "late", "missed", "on_time", "due"])
    assert (s.on_time, s.late, s.missed, s.open) == (2, 1, 1, 1) and s.ratio == 0.5


def test_down_stop_longer_than_threshold_opens_one_corrective() -> None:
    ml = MaintenanceLogic([], corrective_after_s={"filler": 300.0})
    ev = DowntimeEvent("filler@100.000", "filler", 100.0, None, State.DOWN, "MECH.JAM")
    assert ml.follow([ev]) == []
    assert ml.tick(399.0) == []
    out = ml.tick(401.0)
    assert out == [CorrectiveDue(400.0, "filler", "filler@100.000", 100.0, "MECH.JAM", "stop:filler@100.000")]
    assert ml.tick(500.0) == []
    assert ml.follow([DowntimeEvent("filler@100.000", "filler", 100.0, 600.0, State.DOWN, "MECH.JAM")]) == []
    # a short stop, and one noticed only when it closed
    assert ml.follow([DowntimeEvent("filler@700.000", "filler", 700.0, 800.0, State.DOWN)]) == []
    late = ml.follow([DowntimeEvent("filler@900.000", "filler", 900.0, 1300.0, State.DOWN)])
    assert len(late) == 1 and isinstance(late[0], CorrectiveDue) and late[0].ts == 1200.0
    # starved is no failure
    assert ml.follow([DowntimeEvent("filler@2000.000", "filler", 2000.0, 9000.0, State.STARVED)]) == []


def test_run_meter_basics() -> None:
    m = RunMeter()
    m.set_running(0.0, True)
    m.set_running(10.0, True)
    m.set_running(20.0, False)
    assert m.value(100.0) == 20.0


def test_trend_over_weeks_keeps_its_precision() -> None:
    """Times are re-based past 11.6 days: a slow drift still projects right."""
    t = Trend(limit=40.0, horizon_s=24 * 3600.0, window_s=48 * 3600.0, min_points=5)
    t0 = 1.8e9
    fired = [f for h in range(600) if (f := t.update(t0 + h * 3600.0, 0.1 * h)) is not None]
    assert len(fired) == 1 and abs(fired[0].ts - (t0 + 376 * 3600.0)) <= 3600.0
