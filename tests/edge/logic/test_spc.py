"""SPC against published worked examples (Montgomery, Introduction to Statistical
Quality Control) and its invariants.

Each data set is first checked against the book's own totals, so a transcription error
would fail here rather than hide. Where the book rounds a constant (2.66 for E2, 3.267
for D4) the exact constant can move the 4th significant digit; those limits are
compared to the book within that rounding and to the exact formula to 1e-9.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge.logic.quality.capability import capability
from edge.logic.quality.charts import baseline, cusum, ewma, plot
from edge.logic.quality.constants import constants
from edge.logic.quality.rules import NELSON, WESTERN_ELECTRIC, RuleState, evaluate, resolve_rules

sig4 = lambda v: float(f"{v:.4g}")  # noqa: E731 - 4 significant digits

# Montgomery Example 7.1: orange-juice cans, 30 samples of n = 50, defectives.
OJ = [
    12,
    15,
    8,
    10,
    4,
    7,
    16,
    9,
    14,
    10,
    5,
    6,
    17,
    12,
    22,
    8,
    10,
    5,
    13,
    11,
    20,
    18,
    24,
    15,
    9,
    12,
    7,
    13,
    9,
    6,
]
# Montgomery Example 7.3: nonconformities in 26 samples of 100 printed circuit boards.
PCB = [21, 24, 16, 12, 15, 5, 28, 20, 31, 25, 20, 24, 16, 19, 10, 17, 13, 22, 18, 39, 30, 24, 16, 19, 17, 15]
# Montgomery u-chart example: nonconformities in 20 samples of 5 personal computers.
PC = [10, 12, 8, 14, 10, 16, 11, 7, 10, 15, 9, 5, 7, 11, 12, 6, 8, 10, 7, 5]
# Montgomery Example 6.5: weekly cost of processing mortgage loan applications.
LOAN = [310, 288, 297, 298, 307, 303, 294, 297, 308, 306, 294, 299, 297, 299, 314, 295, 293, 306, 301, 304]
# Montgomery Example 9.1: 30 observations, mu0 = 10, sigma = 1, shift of 1 sigma from 21 on.
CUSUM_X = [
    9.45,
    7.99,
    9.29,
    11.66,
    12.16,
    10.18,
    8.04,
    11.46,
    9.20,
    10.34,
    9.03,
    11.47,
    10.51,
    9.40,
    10.08,
    9.37,
    10.62,
    10.31,
    8.52,
    10.84,
    10.90,
    9.33,
    12.29,
    11.50,
    10.60,
    11.08,
    10.38,
    11.62,
    11.31,
    10.52,
]


def flagged(points, spec_panel) -> list[int]:  # type: ignore[no-untyped-def]
    return [int(i) + 1 for i in np.nonzero(spec_panel.beyond)[0]]


def test_constants_match_montgomery_appendix_vi() -> None:
    table = {  # n: A2, A3, c4, B3, B4, d2, d3, D3, D4 (Montgomery Appendix VI)
        2: (1.880, 2.659, 0.7979, 0, 3.267, 1.128, 0.853, 0, 3.267),
        5: (0.577, 1.427, 0.9400, 0, 2.089, 2.326, 0.864, 0, 2.114),
        10: (0.308, 0.975, 0.9727, 0.284, 1.716, 3.078, 0.797, 0.223, 1.777),
        25: (0.153, 0.606, 0.9896, 0.565, 1.435, 3.931, 0.708, 0.459, 1.541),
    }
    for n, (a2, a3, c4, b3, b4, d2, d3, dd3, d4) in table.items():
        c = constants(n)
        assert (round(c.A2, 3), round(c.A3, 3), round(c.c4, 4), round(c.B3, 3), round(c.B4, 3)) == (
            a2,
            a3,
            c4,
            b3,
            b4,
        )
        assert (round(c.d2, 3), round(c.d3, 3), round(c.D3, 3), round(c.D4, 3)) == (d2, d3, dd3, d4)
    # Closed forms for n = 2: d2 = 2/sqrt(pi), d3 = sqrt(2(1 - 2/pi)).
    assert constants(2).d2 == pytest.approx(2 / math.sqrt(math.pi), abs=1e-5)
    assert constants(2).d3 == pytest.approx(math.sqrt(2 * (1 - 2 / math.pi)), abs=1e-5)
    for bad in (1, 26, 2.5, True):
        with pytest.raises(ValueError, match="from 2 to 25"):
            constants(bad)  # type: ignore[arg-type]


def test_p_chart_orange_juice() -> None:
    assert sum(OJ) == 347
    spec = baseline("p", counts=OJ, sizes=[50] * 30)
    p = spec.primary
    assert (sig4(p.center), sig4(p.ucl), sig4(p.lcl)) == (
        0.2313,
        0.4102,
        0.05243,
    )  # book: 0.2313, 0.4102, 0.0524
    [panel] = plot(spec, counts=OJ, sizes=[50] * 30)
    assert flagged(panel.points, panel) == [15, 23]


def test_np_chart_orange_juice() -> None:
    spec = baseline("np", counts=OJ, n=50)
    p = spec.primary
    assert (sig4(p.center), sig4(p.ucl), sig4(p.lcl)) == (11.57, 20.51, 2.621)
    [panel] = plot(spec, counts=OJ)
    assert flagged(panel.points, panel) == [15, 23]


def test_p_chart_variable_sample_size_has_limits_per_point() -> None:
    sizes = [50, 100] * 15
    spec = baseline("p", counts=OJ, sizes=sizes)
    assert isinstance(spec.primary.ucl, np.ndarray)
    assert spec.primary.ucl[1] < spec.primary.ucl[0]  # a larger sample has tighter limits
    pbar = 347 / sum(sizes)
    assert spec.primary.ucl[1] == pytest.approx(pbar + 3 * math.sqrt(pbar * (1 - pbar) / 100))


def test_c_chart_circuit_boards() -> None:
    assert sum(PCB) == 516
    spec = baseline("c", counts=PCB)
    c = spec.primary
    # Book: c-bar 19.85, UCL 33.22, LCL 6.48 (from c-bar rounded to 19.85 before the square root).
    assert (sig4(c.center), sig4(c.ucl), sig4(c.lcl)) == (19.85, 33.21, 6.481)
    assert c.ucl == pytest.approx(33.22, abs=0.01) and c.lcl == pytest.approx(6.48, abs=0.01)
    [panel] = plot(spec, counts=PCB)
    assert flagged(panel.points, panel) == [6, 20]


def test_u_chart_personal_computers() -> None:
    assert sum(PC) == 193
    spec = baseline("u", counts=PC, sizes=[5] * 20)
    u = spec.primary
    assert (sig4(u.center), sig4(u.ucl), sig4(u.lcl)) == (1.93, 3.794, 0.06613)  # book: 1.93, 3.79, 0.07
    [panel] = plot(spec, counts=PC, sizes=[5] * 20)
    assert flagged(panel.points, panel) == []


def test_imr_chart_mortgage_loans() -> None:
    assert sum(LOAN) / 20 == 300.5
    spec = baseline("imr", values=LOAN)
    i, mr = spec.primary, spec.secondary
    assert mr is not None
    assert sig4(mr.center) == 7.789  # book: 7.79
    assert (sig4(i.ucl), sig4(i.lcl)) == (321.2, 279.8)  # book: 321.22, 279.78 (with E2 = 2.66)
    assert i.ucl == pytest.approx(321.22, abs=0.02) and mr.ucl == pytest.approx(25.45, abs=0.01)
    assert spec.sigma_within == pytest.approx(7.789 / 1.128, rel=1e-3)
    panels = plot(spec, values=LOAN)
    assert flagged(panels[0].points, panels[0]) == [] and flagged(panels[1].points, panels[1]) == []


def _groups_with(means: list[float], ranges: list[float]) -> np.ndarray:
    """Subgroups of five whose means and ranges are exactly the given ones."""
    return np.array([[m - r / 2, m, m, m, m + r / 2] for m, r in zip(means, ranges, strict=True)])


def test_xbar_r_piston_rings_summary() -> None:
    """Montgomery Example 6.1 (piston rings, n = 5): x-double-bar 74.001, R-bar 0.023 →
    x-bar limits 74.014 / 73.988, R chart 0.049 / 0."""
    rng = np.random.default_rng(1)
    means = list(74.001 + rng.normal(0, 0.004, 25))
    means[-1] += 74.001 * 25 - sum(means)
    ranges = list(0.023 + rng.normal(0, 0.005, 25))
    ranges[-1] += 0.023 * 25 - sum(ranges)
    spec = baseline("xbar-r", values=_groups_with(means, ranges), n=5)
    x, r = spec.primary, spec.secondary
    assert r is not None
    assert (round(x.center, 3), round(x.ucl, 3), round(x.lcl, 3)) == (74.001, 74.014, 73.988)
    assert (round(r.center, 3), round(r.ucl, 3), r.lcl) == (0.023, 0.049, 0.0)


def test_xbar_s_piston_rings_summary() -> None:
    """Montgomery Example 6.3: x-double-bar 74.001, S-bar 0.0094 → 74.014 / 73.988; S chart 0.0196 / 0."""
    rng = np.random.default_rng(2)
    groups = []
    for _ in range(25):
        g = rng.normal(0, 1, 5)
        g = (g - g.mean()) / g.std(ddof=1) * 0.0094 + 74.001
        groups.append(g)
    spec = baseline("xbar-s", values=np.array(groups), n=5)
    x, s = spec.primary, spec.secondary
    assert s is not None
    assert (round(x.ucl, 3), round(x.lcl, 3)) == (74.014, 73.988)
    assert (round(s.center, 4), round(s.ucl, 4), s.lcl) == (0.0094, 0.0196, 0.0)


def test_cusum_example_9_1() -> None:
    cp, cm, h = cusum(CUSUM_X, 10, 1, k=0.5, h=5)
    assert round(float(cp[28]), 2) == 5.28  # book: C+ = 5.28 at sample 29, the first signal
    assert int(np.argmax(cp > h)) + 1 == 29
    assert not np.any(cm > h)


def test_ewma_limits_follow_the_exact_formula() -> None:
    z, ucl, lcl = ewma(CUSUM_X, 10, 1, lam=0.1, L=2.7)
    assert z[0] == pytest.approx(0.1 * 9.45 + 0.9 * 10)
    assert ucl[0] - 10 == pytest.approx(2.7 * math.sqrt(0.1 / 1.9 * (1 - 0.9**2)))
    assert ucl[-1] - 10 == pytest.approx(2.7 * math.sqrt(0.1 / 1.9), rel=0.01)  # near the asymptote
    assert np.allclose(ucl - 10, 10 - lcl)


def test_capability() -> None:
    x = np.array([9.8, 10.1, 10.0, 9.9, 10.2, 10.0, 9.95, 10.05])
    c = capability(x, lsl=9.0, usl=11.0, sigma_within=0.1)
    assert c["cp"] == pytest.approx(2 / 0.6)
    assert c["cpk"] == pytest.approx(min(11 - x.mean(), x.mean() - 9) / 0.3)
    assert c["pp"] == pytest.approx(2 / (6 * x.std(ddof=1)))
    assert c["n"] == 8 and c["out_of_spec"] == 0
    one_sided = capability(x, lsl=None, usl=10.5, sigma_within=0.1)
    assert one_sided["cp"] is None and one_sided["cpk"] == pytest.approx((10.5 - x.mean()) / 0.3)


# ------------------------------------------------------------------------------ rules

ALL = resolve_rules("nelson") + resolve_rules("we")


def test_each_rule_fires_on_its_pattern_and_names_the_points() -> None:
    cases = {
        "nelson1": [0, 0, 3.5],
        "nelson2": [0.5] * 9,
        "nelson3": [-2, -1.5, -1, -0.5, 0, 0.5],
        "nelson4": [0.5, -0.5] * 7,
        "nelson5": [2.5, 0, 2.5],
        "nelson6": [1.5, 1.5, 0, 1.5, 1.5],
        "nelson7": [0.2, -0.2] * 7 + [0.1],
        "nelson8": [1.5, -1.5] * 4,
        "we4": [0.5] * 8,
    }
    for rule, z in cases.items():
        vs = [v for v in evaluate(np.array(z), (rule,)) if v.rule == rule]
        assert vs and vs[-1].point == len(z) - 1, rule
        assert len(z) - 1 in vs[-1].points
    v = evaluate(np.array([2.5, 0, 2.5]), ("nelson5",))[0]
    assert v.points == (0, 2) and "2 of 3" in v.text


def test_resolve_rules_names_unknown() -> None:
    assert resolve_rules("we") == tuple(WESTERN_ELECTRIC) and len(resolve_rules("nelson")) == len(NELSON)
    with pytest.raises(ValueError, match="unknown rule 'nelson9'"):
        resolve_rules("nelson9")


def test_constant_process_flags_nothing() -> None:
    z = np.zeros(500)
    assert [v for v in evaluate(z, ALL) if v.rule != "nelson7"] == []  # 15 in a row within 1σ is "too good"


@settings(deadline=None, max_examples=30)
@given(seed=st.integers(0, 10_000))
def test_two_sigma_shift_is_flagged_by_the_right_rules(seed: int) -> None:
    rng = np.random.default_rng(seed)
    z = np.concatenate([rng.normal(0, 1, 50), rng.normal(2, 1, 50)])
    hit = {v.rule for v in evaluate(z, ALL) if v.point >= 50}
    assert {"nelson2", "we4"} & hit or {"nelson5", "nelson6"} & hit


@settings(deadline=None, max_examples=40)
@given(data=st.lists(st.floats(-4, 4, allow_nan=False), min_size=1, max_size=120))
def test_incremental_matches_batch(data: list[float]) -> None:
    z = np.array(data)
    state = RuleState(ALL)
    inc = sorted((i, r) for i, x in enumerate(z) for r in state.add(float(x)))
    batch = sorted((v.point, v.rule) for v in evaluate(z, ALL))
    assert sorted(set(inc)) == sorted(set(batch))


@settings(deadline=None, max_examples=30)
@given(seed=st.integers(0, 10_000), kind=st.sampled_from(["xbar-r", "xbar-s"]))
def test_limits_are_invariant_to_subgroup_order(seed: int, kind: str) -> None:
    rng = np.random.default_rng(seed)
    groups = rng.normal(10, 1, (20, 5))
    a = baseline(kind, values=groups, n=5)
    b = baseline(kind, values=groups[rng.permutation(20)], n=5)
    assert a.primary.ucl == pytest.approx(b.primary.ucl) and a.secondary.ucl == pytest.approx(b.secondary.ucl)  # type: ignore[union-attr]
    c1 = baseline("p", counts=OJ, sizes=[50] * 30)
    c2 = baseline("p", counts=list(reversed(OJ)), sizes=[50] * 30)
    assert c1.primary.ucl == pytest.approx(c2.primary.ucl)
