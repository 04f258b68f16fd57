"""Live SPC (pure): rational subgroups, the re-arm rule after acknowledgement, and the
live chart kinds against the offline (batch) charts of ``edge.logic.quality.charts``."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge.logic.quality.charts import baseline, cusum, ewma, xbar_r_limits
from edge.logic.quality.live import (
    CharacteristicTracker,
    LimitsFrozen,
    SpcAlarm,
    SpcPoint,
    fixed_spec,
    spec_from_points,
)
from edge.logic.quality.rules import RULES, RuleState, evaluate
from edge.logic.quality.sampling import Sampler


def alarms(facts: list[object]) -> list[SpcAlarm]:
    return [f for f in facts if isinstance(f, SpcAlarm)]


# ----------------------------------------------------------------------------- sampling


def test_every_n_parts_takes_the_next_n_values_and_never_every_poll() -> None:
    s = Sampler(3, every_parts=100)
    s.set_running(0.0, True)
    s.counter(0.0, 1000)
    taken = [s.value(0.1 * i, float(i)) for i in range(10)]  # polls between due points
    assert taken == [None] * 10
    s.counter(1.0, 1099)
    assert s.value(1.1, 1.0) is None
    s.counter(2.0, 1100)  # 100 parts: due
    assert [s.value(2.1, 5.0), s.value(2.2, 6.0), s.value(2.3, 7.0)] == [None, None, [5.0, 6.0, 7.0]]
    assert s.value(2.4, 8.0) is None  # one subgroup per 100 parts
    s.counter(3.0, 5)  # counter reset: counting restarts, no subgroup on the jump
    assert s.value(3.1, 9.0) is None


def test_a_stop_discards_the_partial_subgroup_and_stopped_time_makes_nothing_due() -> None:
    s = Sampler(2, every_s=60.0)
    s.set_running(0.0, True)
    assert s.value(30.0, 1.0) is None
    s.set_running(40.0, False)  # 40 s run so far
    assert s.value(500.0, 2.0) is None  # stopped: no sampling however long it stands
    s.set_running(1000.0, True)
    assert s.value(1010.0, 3.0) is None  # 50 s of running time: not due yet
    assert s.value(1021.0, 4.0) is None  # 61 s: due, first value taken
    s.set_running(1022.0, False)  # interrupted: the partial subgroup is discarded
    s.set_running(1023.0, True)
    assert s.value(1030.0, 5.0) is None
    assert s.value(1084.0, 6.0) is None  # due again after 60 s of running
    assert s.value(1085.0, 7.0) == [6.0, 7.0]


def test_trigger_takes_one_value_per_trigger_while_running() -> None:
    s = Sampler(2, trigger_mode=True)
    assert s.trigger(0.0, 1.0) is None  # not running
    s.set_running(0.0, True)
    assert s.value(0.5, 9.0) is None  # plain values do not sample in trigger mode
    assert s.trigger(1.0, 1.0) is None
    assert s.trigger(2.0, 2.0) == [1.0, 2.0]


# ----------------------------------------------------------------------------- re-arm


def tracker(rule: str, rearm_s: float = 600.0) -> CharacteristicTracker:
    return CharacteristicTracker(
        "w", "imr", None, rule, 10, spec=fixed_spec("imr", None, 0.0, 1.0), rearm_s=rearm_s
    )


def test_a_run_that_goes_on_raises_one_alarm_not_one_per_point() -> None:
    t = tracker("we4")  # 8 in a row on one side
    got = [a.ts for i in range(30) for a in alarms(t.add(float(i), 0.5))]
    assert got == [7.0]  # the old tracker alarmed on every point from the 8th on


def test_after_acknowledgement_the_same_rule_waits_for_a_new_violation() -> None:
    t = tracker("we4")
    for i in range(8):
        t.add(float(i), 0.5)
    t.acknowledge(8.5)
    # The run goes on: points 9..15 still complete "8 in a row" with pre-ack points.
    assert [a for i in range(8, 15) for a in alarms(t.add(float(i), 0.5))] == []
    # The 8th point after the acknowledgement completes a new violation: it alarms.
    assert [a.rule for a in alarms(t.add(15.0, 0.5))] == ["we4"]


def test_outside_the_rearm_window_an_unacknowledged_rule_still_waits() -> None:
    t = tracker("we1", rearm_s=10.0)
    assert len(alarms(t.add(0.0, 4.0))) == 1
    assert alarms(t.add(1.0, 4.0)) == []  # active, not acknowledged: no new alarm
    t.acknowledge(2.0)
    assert len(alarms(t.add(3.0, 4.0))) == 1  # beyond 3σ again after the ack: a new violation


def test_out_of_spec_is_raised_once_until_acknowledged() -> None:
    t = CharacteristicTracker("w", "imr", None, "we1", 10, usl=1.0, spec=fixed_spec("imr", None, 0.0, 10.0))
    assert [a.rule for a in alarms(t.add(0.0, 2.0))] == ["usl"]
    assert alarms(t.add(1.0, 2.0)) == []
    t.acknowledge(1.5)
    assert [a.rule for a in alarms(t.add(2.0, 2.0))] == ["usl"]


# ----------------------------------------------------------------------------- chart kinds


def test_xbar_r_baseline_from_subgroups_and_from_stored_points_agree() -> None:
    rng = np.random.default_rng(3)
    data = rng.normal(500, 0.8, (25, 5))
    t = CharacteristicTracker("w", "xbar-r", 5, "we", 25)
    facts: list[object] = []
    for i, g in enumerate(data):
        facts += t.add_subgroup(float(i), list(g))
    frozen = [f for f in facts if isinstance(f, LimitsFrozen)]
    assert len(frozen) == 1
    ref = xbar_r_limits(data, 5)
    assert t.spec is not None and t.spec.primary.ucl == pytest.approx(ref.primary.ucl)
    pts = [f for f in facts if isinstance(f, SpcPoint)]
    again = spec_from_points("xbar-r", 5, [p.value for p in pts], [p.dispersion for p in pts], [None] * 25)
    assert again.primary.ucl == pytest.approx(ref.primary.ucl)
    assert again.secondary is not None and ref.secondary is not None
    assert again.secondary.ucl == pytest.approx(ref.secondary.ucl)


def test_live_ewma_and_cusum_match_the_offline_charts() -> None:
    rng = np.random.default_rng(5)
    x = np.concatenate([rng.normal(10, 1, 30), rng.normal(11.5, 1, 30)])
    spec = fixed_spec("imr", None, 10.0, 1.0)
    ew = CharacteristicTracker("e", "ewma", None, "we", 10, spec=spec, ewma_lambda=0.2, ewma_L=3.0)
    z, ucl, lcl = ewma(x, 10.0, 1.0, lam=0.2, L=3.0)
    first_offline = int(np.flatnonzero((z > ucl) | (z < lcl))[0])
    first_live = next(i for i, v in enumerate(x) if alarms(ew.add(float(i), float(v))))
    assert first_live == first_offline
    cu = CharacteristicTracker("c", "cusum", None, "we", 10, spec=spec, cusum_k=0.5, cusum_h=4.0)
    cp, cm, h = cusum(x, 10.0, 1.0, k=0.5, h=4.0)
    first_offline = int(np.flatnonzero((cp > h) | (cm > h))[0])
    first_live = next(i for i, v in enumerate(x) if alarms(cu.add(float(i), float(v))))
    assert first_live == first_offline


@pytest.mark.parametrize("chart", ["p", "np", "c", "u"])
def test_live_attribute_charts_freeze_the_offline_limits(chart: str) -> None:
    rng = np.random.default_rng(11)
    sizes = [200.0] * 20 if chart in ("np", "c") else list(rng.integers(150, 250, 20).astype(float))
    counts = [float(rng.binomial(int(n), 0.05)) for n in sizes]
    t = CharacteristicTracker("a", chart, None, "we1", 20, sample_size=200 if chart == "np" else None)
    for i, (c, n) in enumerate(zip(counts, sizes, strict=True)):
        t.add_count(float(i), c, n)
    ref = baseline(chart, counts=np.array(counts), sizes=np.array(sizes), n=200 if chart == "np" else None)
    assert t.spec is not None and t.spec.primary.center == pytest.approx(ref.primary.center)
    # A sample far above the centre alarms (rule 1 with its own per-sample limit).
    big = 0.5 * 200
    assert [a.rule for a in alarms(t.add_count(99.0, big, 200.0))] == ["we1"]


@settings(deadline=None, max_examples=40)
@given(
    data=st.lists(st.floats(-4, 4, allow_nan=False), min_size=1, max_size=80),
    rules=st.sets(st.sampled_from(sorted(RULES)), min_size=1, max_size=5),
)
def test_incremental_rules_match_batch_for_any_subset(data: list[float], rules: set[str]) -> None:
    """The incremental state keeps only the counters its rules read: any subset of the
    rules still gives what the batch evaluation gives."""
    ids = tuple(sorted(rules))
    state = RuleState(ids)
    inc = sorted({(i, r) for i, x in enumerate(data) for r in state.add(x)})
    assert inc == sorted({(v.point, v.rule) for v in evaluate(np.array(data), ids)})
