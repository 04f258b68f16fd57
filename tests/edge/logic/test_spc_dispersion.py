"""R and S charts raise alarms of their own: a range or standard deviation beyond its
control limits (D3·R̄..D4·R̄, B3·s̄..B4·s̄) is an out-of-control signal (rules ``r1``,
``s1``) with the same gate as X̄'s rules (once until acknowledged, re-armed after).

Against Montgomery's piston rings (Tables 6.3/6.4, the numbers of R's qcc package) and
constructed subgroups whose spread is out of control while their mean is not.

Finding: the X̄-R and X̄-S panels drew R and S against their limits, but only X̄ ever
raised an alarm: a filling valve whose spread tripled went unnoticed."""

from __future__ import annotations

import math
import statistics

import numpy as np
import pytest

from edge.logic.quality.arl import _chi2_cdf, chart_arl, dispersion_beyond, shewhart_arl
from edge.logic.quality.charts import xbar_r_limits, xbar_s_limits
from edge.logic.quality.constants import constants
from edge.logic.quality.live import CharacteristicTracker, SpcAlarm, SpcPoint, fixed_spec
from tests.edge.logic.piston_rings import PHASE_I, PHASE_II


def alarms(facts: list[object]) -> list[SpcAlarm]:
    return [f for f in facts if isinstance(f, SpcAlarm)]


def test_piston_ring_limits_are_the_published_ones() -> None:
    data = np.array(PHASE_I)
    spec = xbar_r_limits(data, 5)
    x, r = spec.primary, spec.secondary
    assert r is not None
    # qcc's worked example on these numbers
    assert x.center == pytest.approx(74.00118, abs=5e-6)
    assert spec.sigma_within == pytest.approx(0.009785, abs=5e-7)
    assert (round(x.lcl, 5), round(float(x.ucl), 5)) == (73.98805, 74.0143)
    assert r.center == pytest.approx(0.02276, abs=5e-7)
    assert float(r.ucl) == pytest.approx(0.04812533, abs=5e-6) and r.lcl == 0.0  # D3 = 0 for n = 5
    # Montgomery's rounding: x̿ = 74.001, R̄ = 0.023 → UCL_R = 2.114 × 0.023 = 0.049
    c = constants(5)
    rbar = round(r.center, 3)
    assert (round(x.center, 3), rbar, round(c.D4, 3)) == (74.001, 0.023, 2.114)
    assert round(c.D4 * rbar, 3) == 0.049
    assert (round(x.center + c.A2 * rbar, 3), round(x.center - c.A2 * rbar, 3)) == (74.014, 73.988)


def test_live_piston_rings_phase_ii_alarms_on_xbar_only() -> None:
    """The live chart freezes the same limits from the 25 baseline subgroups; in Phase II
    X̄ goes above its UCL at sample 37 (one alarm until acknowledged, 38 and 39 are
    beyond too) and no range comes near D4·R̄."""
    t = CharacteristicTracker("ring", "xbar-r", 5, "we1", 25)
    facts = [f for i, g in enumerate(PHASE_I) for f in t.add_subgroup(float(i + 1), list(g))]
    assert t.spec is not None and t.spec.secondary is not None
    assert float(t.spec.secondary.ucl) == pytest.approx(0.04812533, abs=5e-6)
    assert not alarms(facts)
    out = [f for i, g in enumerate(PHASE_II) for f in t.add_subgroup(float(26 + i), list(g))]
    [a] = alarms(out)
    assert (a.ts, a.rule) == (37.0, "we1")
    points = [p for p in out if isinstance(p, SpcPoint)]
    assert [int(p.ts) for p in points if float(p.value) > float(t.spec.primary.ucl)] == [37, 38, 39]
    assert max(float(p.dispersion or 0) for p in points) == pytest.approx(0.044)
    assert points[0].values == PHASE_II[0]  # the subgroup's values ride along (capability)


def test_a_range_beyond_d4_rbar_is_an_alarm_of_its_own() -> None:
    """Constructed: a subgroup centred on x̿ (X̄ in control, z ≈ 0) with a range of
    0.060 > D4·R̄ = 0.0481; the alarm names the R chart's limit, then waits for an
    acknowledgement like X̄'s rules; after it a new wide range alarms again."""
    t = CharacteristicTracker("ring", "xbar-r", 5, "we1", 25, rearm_s=600)
    for i, g in enumerate(PHASE_I):
        t.add_subgroup(float(i + 1), list(g))
    wide = [74.001, 74.031, 74.001, 74.001, 73.971]
    out = t.add_subgroup(100.0, wide)
    [a] = alarms(out)
    assert (a.kind, a.rule, a.value) == ("out_of_control", "r1", pytest.approx(0.060))
    assert a.detail == "R 0.06 above UCL 0.04813 (D4·R̄)"
    point = next(p for p in out if isinstance(p, SpcPoint))
    assert abs(float(point.z or 0)) < 0.1  # the mean is where it belongs
    assert alarms(t.add_subgroup(101.0, wide)) == []  # unacknowledged: no storm
    t.acknowledge(102.0)
    assert alarms(t.add_subgroup(103.0, list(PHASE_I[0]))) == []
    assert [a.rule for a in alarms(t.add_subgroup(104.0, wide))] == ["r1"]  # a new violation


def test_a_range_below_d3_rbar_alarms_for_n_7() -> None:
    """n = 7: D3 = 0.076 > 0, so a range below D3·R̄ (spread collapsed, e.g. a stuck
    gauge) is out of control too."""
    c = constants(7)
    assert round(c.D3, 3) == 0.076 and round(c.D4, 3) == 1.924  # Montgomery Appendix VI
    t = CharacteristicTracker("g", "xbar-r", 7, "we1", 25, spec=fixed_spec("xbar-r", 7, 10.0, 1.0))
    lcl = c.D3 * c.d2
    [a] = alarms(t.add_subgroup(1.0, [10.0, 10.0, 10.0, 10.0, 10.0, 10.0, 10.0 + lcl / 2]))
    assert a.rule == "r1" and a.detail == f"R {lcl / 2:.4g} below LCL {lcl:.4g} (D3·R̄)"
    assert a.value == pytest.approx(lcl / 2)


def test_s_chart_piston_rings_and_an_s_beyond_its_limits() -> None:
    """X̄-S on the piston rings: S̄ = 0.00924, UCL = B4·S̄ = 2.089·S̄ (Montgomery's B4),
    LCL 0. A constructed subgroup with s = 0.025 alarms ``s1``; n = 10 (B3 = 0.284) a
    subgroup with s below B3·s̄ alarms below the LCL."""
    spec = xbar_s_limits(np.array(PHASE_I), 5)
    s = spec.secondary
    assert s is not None
    c = constants(5)
    assert round(c.B4, 3) == 2.089 and s.lcl == 0.0
    assert s.center == pytest.approx(statistics.mean(statistics.stdev(g) for g in PHASE_I))
    assert float(s.ucl) == pytest.approx(c.B4 * s.center)
    t = CharacteristicTracker("ring", "xbar-s", 5, "we1", 25)
    for i, g in enumerate(PHASE_I):
        t.add_subgroup(float(i + 1), list(g))
    phase_ii = [f for i, g in enumerate(PHASE_II) for f in t.add_subgroup(26.0 + i, list(g))]
    assert [a.rule for a in alarms(phase_ii)] == ["we1"]  # X̄ at sample 37; S stays in control
    d = 0.025 * math.sqrt(4 / 2)  # two values ±d around the mean, three at it: s = 0.025
    [a] = alarms(t.add_subgroup(50.0, [74.001 + d, 74.001 - d, 74.001, 74.001, 74.001]))
    assert (a.rule, a.value) == ("s1", pytest.approx(0.025))
    assert a.detail.startswith("S 0.025 above UCL") and "(B4·s̄)" in a.detail
    c10 = constants(10)
    assert round(c10.B3, 3) == 0.284
    t10 = CharacteristicTracker("g", "xbar-s", 10, "we1", 25, spec=fixed_spec("xbar-s", 10, 0.0, 1.0))
    tiny = [0.01 * (-1) ** i for i in range(10)]
    [low] = alarms(t10.add_subgroup(1.0, tiny))
    assert low.rule == "s1" and "below LCL" in low.detail


def test_individuals_ewma_and_cusum_have_no_dispersion_alarm() -> None:
    """Only X̄-R and X̄-S: the moving range of an I-MR chart is not a signal (successive
    MRs overlap), and EWMA/CUSUM watch the mean."""
    for chart, n in (("imr", None), ("ewma", 5), ("cusum", 5)):
        t = CharacteristicTracker("g", chart, n, "we1", 25, spec=fixed_spec(chart, n, 0.0, 1.0))
        add = (lambda ts, v, t=t: t.add(ts, v[0])) if n is None else t.add_subgroup
        facts = [f for i in range(3) for f in add(float(i), [0.0, 9.0, -9.0, 0.0, 0.0][: n or 1])]
        assert not [a for a in alarms(facts) if a.rule in ("r1", "s1")]


def test_in_control_false_alarm_rate_of_the_r_and_s_charts() -> None:
    """n = 2: R = √2·|Z|·σ and S = R/√2, so P(R > D4·d2·σ) = erfc(D4·d2/2) exactly and both
    charts agree; the χ² helper against a table value; an X̄-R chart with rule 1 alone
    signals in control with p = 1 − (1 − 0.0027)(1 − 0.0046) (X̄ and R independent)."""
    c2 = constants(2)
    exact = math.erfc(c2.D4 * c2.d2 / 2)
    assert dispersion_beyond("xbar-r", 2) == pytest.approx(exact, rel=1e-4)
    assert dispersion_beyond("xbar-s", 2) == pytest.approx(exact, rel=1e-4)
    assert _chi2_cdf(9.488, 4) == pytest.approx(0.95, abs=1e-4)  # χ²(4) 95 % point
    p_r = dispersion_beyond("xbar-r", 5)
    assert round(p_r, 4) == 0.0046
    arl0, method = chart_arl("xbar-r", "we1", 0.0, 5)
    assert arl0 == pytest.approx(1 / (1 - (1 - 1 / shewhart_arl(0.0)) * (1 - p_r)))
    assert "R beyond its limits" in method
    assert chart_arl("imr", "we1", 0.0, 1)[0] == pytest.approx(shewhart_arl(0.0))
