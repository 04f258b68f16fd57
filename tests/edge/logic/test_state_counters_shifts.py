"""Machine state, downtime, counters and the shift calendar (pure)."""

from __future__ import annotations

import itertools
from datetime import date, time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edge.logic.production.counters import CounterTracker
from edge.logic.production.downtime import (
    Assign,
    DowntimeTracker,
    Loss,
    Reason,
    ReasonTree,
    Split,
    loss_of,
    resolve,
)
from edge.logic.production.shifts import Break, ShiftCalendar, ShiftPattern, split_at
from edge.logic.production.state import Rule, State, StateModel, StateTracker

TREE = ReasonTree(
    {
        "JAM": Reason("JAM", "Jam", Loss.AVAILABILITY, "MECH", ("MECH", "JAM")),
        "PM": Reason("PM", "PM", Loss.PLANNED, "PM", ("PM",)),
    }
)


def test_state_code_map_rules_and_no_data() -> None:
    m = StateModel(
        "filler",
        code_tag="code",
        codes={1: State.RUNNING, 2: State.DOWN},
        rules=(Rule(State.DOWN, "estop", "eq", True),),
    )
    t = StateTracker(m)
    assert [c.new for c in t.update(0, "code", 1, True)] == [State.NO_DATA]  # estop never seen yet
    assert [c.new for c in t.update(1, "estop", False, True)] == [State.RUNNING]
    assert [c.new for c in t.update(2, "estop", True, True)] == [State.DOWN]
    assert [c.new for c in t.update(3, "estop", False, True)] == [State.RUNNING]
    assert [c.new for c in t.update(4, "code", None, False)] == [State.NO_DATA]
    assert t.update(5, "unrelated", 1, True) == []


def test_counter_rule_stamps_idle_when_the_window_ran_out() -> None:
    t = StateTracker(StateModel("m", counter_tag="cnt", running_window_s=10))
    t.update(0, "cnt", 5, True)
    assert [c.new for c in t.update(1, "cnt", 6, True)] == [State.RUNNING]
    t.update(4, "cnt", 7, True)
    changes = t.update(30, "cnt", 7, True)  # noticed late; became idle at 4 + 10
    assert [(c.ts, c.new) for c in changes] == [(14, State.IDLE)]
    assert [c.new for c in t.set_planned(40, "changeover")] == [State.PLANNED_STOP]


def test_downtime_micro_stop_auto_reason_assign_and_split() -> None:
    from edge.logic.production.state import StateChange

    d = DowntimeTracker("m", micro_stop_s=30, fault_reasons={101: "JAM"})
    d.set_fault_code(101)
    opened = d.on_state(StateChange(100, "m", State.RUNNING, State.DOWN))
    assert opened[0].auto_reason == "JAM" and opened[0].end is None
    closed = d.on_state(StateChange(400, "m", State.DOWN, State.RUNNING))[0]
    assert closed.duration == 300 and not closed.micro
    short = d.on_state(StateChange(500, "m", State.RUNNING, State.STARVED))[0]
    short = d.on_state(StateChange(510, "m", State.STARVED, State.RUNNING))[0]
    assert short.micro and loss_of(short, TREE) == Loss.PERFORMANCE
    events = [closed, short]
    edited = resolve(
        events, [Split(closed.id, 250), Assign(closed.id + "/250.000", "PM", "planned after all")], TREE
    )
    assert [(e.start, e.end, e.effective_reason) for e in edited[:2]] == [(100, 250, "JAM"), (250, 400, "PM")]
    assert loss_of(edited[1], TREE) == Loss.PLANNED
    with pytest.raises(KeyError, match="not in the reason tree"):
        resolve(events, [Assign(closed.id, "NOPE")], TREE)


@given(
    bits=st.sampled_from([16, 32]),
    steps=st.lists(
        st.tuples(st.sampled_from(["inc", "inc", "inc", "reset"]), st.integers(0, 500)), max_size=200
    ),
    start=st.integers(0, 2**16 - 1),
)
def test_counter_wrap_and_reset_never_negative_or_phantom(
    bits: int, steps: list[tuple[str, int]], start: int
) -> None:
    """Each delta is >= 0, and the total is exact whenever every reset is visible in the
    values (see the comment on ``ambiguous``)."""
    mod, max_step = 1 << bits, 1000
    c = CounterTracker(bits=bits, max_step=max_step)
    raw = start % mod
    c.update(raw)
    true_total = counted = 0
    ambiguous = False
    for kind, n in steps:
        if kind == "inc":
            raw = (raw + n) % mod
        else:
            # Indistinguishable from the values alone: a reset near the top (looks like a
            # wrap) or one that lands at or above the old value (looks like counting on).
            ambiguous |= (raw > mod - max_step - 1 and n < max_step) or n >= raw
            raw = n  # reset to zero, then n items made before the next poll
        true_total += n
        got = c.update(raw)
        assert got >= 0
        counted += got
    if not ambiguous:
        assert counted == true_total


def test_counter_16_bit_wrap_counts_across_the_top() -> None:
    c = CounterTracker(bits=16, max_step=1000)
    c.update(65530)
    assert c.update(4) == 10
    assert c.update(0) == 0  # a reset to zero right after: nothing made since
    assert c.update(None) == 0
    assert c.update(50_000) == 0 and c.suspicious == 1  # an implausible jump is not counted


CAL = ShiftCalendar(
    "Europe/Berlin",
    [
        ShiftPattern("early", time(6), time(14), breaks=(Break(time(9), 15),)),
        ShiftPattern("night", time(22), time(6), days=frozenset({"sat"})),
    ],
    frozenset({date(2026, 12, 25)}),
)


def test_shift_instances_are_dst_correct() -> None:
    # Night shift starting Saturday 2026-10-24 22:00 ends Sunday 06:00 after the clocks go back: 9 h.
    night = CAL.find("2026-10-24/night")
    assert night.end - night.start == 9 * 3600
    # Spring: Saturday 2026-03-28 22:00 → Sunday 06:00 loses an hour: 7 h.
    assert (lambda s: s.end - s.start)(CAL.find("2026-03-28/night")) == 7 * 3600
    early = CAL.find("2026-11-23/early")
    assert early.end - early.start == 8 * 3600 and early.planned_break_s == 15 * 60
    with pytest.raises(KeyError):
        CAL.find("2026-12-25/early")  # non-working day
    assert CAL.shift_at(early.start + 10).key == "2026-11-23/early"  # type: ignore[union-attr]


@given(s=st.floats(0, 1e6), d=st.floats(0.001, 1e6), cuts=st.lists(st.floats(-1e6, 3e6), max_size=20))
def test_split_at_loses_no_time(s: float, d: float, cuts: list[float]) -> None:
    parts = split_at(s, s + d, cuts)
    assert parts[0][0] == s and parts[-1][1] == s + d
    assert all(a[1] == b[0] for a, b in itertools.pairwise(parts))
    assert sum(b - a for a, b in parts) == pytest.approx(d)


def test_zero_length_stop_is_not_an_event() -> None:
    from edge.logic.production.state import StateChange

    d = DowntimeTracker("m", micro_stop_s=30, fault_reasons={})
    d.on_state(StateChange(10, "m", State.RUNNING, State.IDLE))
    out = d.on_state(StateChange(10, "m", State.IDLE, State.DOWN))
    assert [(e.state, e.end) for e in out] == [(State.IDLE, 10), (State.DOWN, None)]
    assert out[0].id == out[1].id == "m@10.000"  # the later version supersedes the empty one
    closed = d.on_state(StateChange(10, "m", State.DOWN, State.RUNNING))
    assert closed[0].end == closed[0].start and not closed[0].micro
