"""Average run length (pure, numpy): how many points a chart plots, on average, before it
signals. ARL0 (in control) sets the false-alarm rate; ARL1 (after a shift) the speed of
detection.

Methods, each a published one:

* Shewhart chart, rule 1 alone: ARL = 1/p with p the probability of a point beyond the
  limits (Montgomery, *Introduction to Statistical Quality Control*, 6th ed., §6.2.3:
  ARL0 = 370.4 for 3σ limits; an individuals chart after a 1.5σ shift ≈ 15).
* Run rules (Western Electric, Nelson): Monte Carlo over the same incremental rule
  evaluation the line runs, restarting after each signal (Champ & Woodall, Technometrics
  29 (1987): all four Western Electric rules ARL0 = 91.75).
* Tabular CUSUM: the Markov chain of Brook & Evans (Biometrika 59 (1972)); the two-sided
  ARL from the one-sided ones, 1/ARL = 1/ARL⁺ + 1/ARL⁻ (Montgomery Table 9.3: k = ½,
  h = 5: ARL0 = 465, 10.4 at a 1σ shift).
* EWMA: the Markov chain of Lucas & Saccucci (Technometrics 32 (1990)) with the
  asymptotic limits (Montgomery Table 9.11: λ = 0.2, L = 2.962: ARL0 ≈ 500, 5.5 at 1.5σ).

Shifts are in units of the process sigma (of individual values); a chart of subgroup
means of size n sees a shift of δ√n in its own units.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from edge.logic.quality.rules import _SPEC, RuleState, evaluate, resolve_rules


def _phi(x: float) -> float:
    return 0.5 * math.erfc(-x / math.sqrt(2))


def shewhart_arl(shift: float = 0.0, n: int = 1, L: float = 3.0) -> float:
    """ARL of a Shewhart chart with L-sigma limits (rule 1 alone), exact."""
    d = shift * math.sqrt(n)
    p = _phi(-L - d) + 1 - _phi(L - d)
    return 1 / p


def _ncdf(x: np.ndarray) -> np.ndarray:
    """Standard normal CDF, element-wise (numpy has no erf; math.erfc is exact)."""
    erfc, r = math.erfc, -1 / math.sqrt(2)
    flat = [0.5 * erfc(t * r) for t in np.asarray(x, float).ravel().tolist()]
    return np.array(flat, float).reshape(np.shape(x))


def _one_sided_cusum(k: float, h: float, shift: float, m: int) -> float:
    """Brook & Evans: states 0..m−1 of C⁺ (state 0 = [0, w/2), state i centred at i·w,
    w = 2h/(2m−1)); absorbing above h."""
    w = 2 * h / (2 * m - 1)
    centers = np.arange(m) * w
    # from state i, C_new = c_i + X − k with X ~ N(shift, 1)
    lo = (np.arange(m) - 0.5) * w  # lower edge of state j (j = 0: −∞)
    hi = (np.arange(m) + 0.5) * w
    a = centers[:, None] + shift - k
    cdf_hi = _ncdf(hi[None, :] - a)
    cdf_lo = _ncdf(lo[None, :] - a)
    Q = cdf_hi - cdf_lo
    Q[:, 0] = cdf_hi[:, 0]  # state 0 takes everything below w/2 (C is floored at 0)
    arl = np.linalg.solve(np.eye(m) - Q, np.ones(m))
    return float(arl[0])


def cusum_arl(k: float = 0.5, h: float = 5.0, shift: float = 0.0, m: int = 100) -> float:
    """Two-sided tabular CUSUM (k, h in sigmas), zero start."""
    up = _one_sided_cusum(k, h, shift, m)
    down = _one_sided_cusum(k, h, -shift, m)
    return 1 / (1 / up + 1 / down)


def ewma_arl(lam: float = 0.2, L: float = 2.962, shift: float = 0.0, m: int = 151) -> float:
    """EWMA with asymptotic limits ±L·√(λ/(2−λ)), started at the centre."""
    if m % 2 == 0:
        m += 1
    hw = L * math.sqrt(lam / (2 - lam))
    w = 2 * hw / m
    centers = -hw + w * (np.arange(m) + 0.5)
    lo, hi = centers - w / 2, centers + w / 2
    mean = (1 - lam) * centers[:, None] + lam * shift
    Q = _ncdf((hi[None, :] - mean) / lam) - _ncdf((lo[None, :] - mean) / lam)
    arl = np.linalg.solve(np.eye(m) - Q, np.ones(m))
    return float(arl[m // 2])


def rule_width(rule: str) -> int:
    """Points a violation of ``rule`` spans (its pattern window)."""
    kind, a, w, _lim = _SPEC[rule]
    return w if kind == "k_of_w" else a


@dataclass(frozen=True)
class Simulated:
    arl: float
    standard_error: float
    runs: int


def run_lengths_of(z: np.ndarray, ids: tuple[str, ...]) -> tuple[list[int], int]:
    """Run lengths of the rules over a series, the chart restarting after each signal,
    and where the unfinished last run starts.

    The series is evaluated once. A run starting at ``s`` ends at the first violation
    whose pattern lies wholly after ``s``; a violation within the first (longest
    pattern) points of a run is confirmed by evaluating just those points afresh (a
    fresh start sees fewer points, so its violations are a subset of the whole
    series')."""
    width = max(rule_width(r) for r in ids)
    found = evaluate(z, ids)
    pts = found.point.astype(np.int64)
    firsts = found.first.astype(np.int64)
    lengths: list[int] = []
    s = 0
    while True:
        k = int(np.searchsorted(pts, s))
        p: int | None = None
        while p is None and k < len(pts):
            q = int(pts[k])
            j = int(np.searchsorted(pts, q, side="right"))
            if q >= s + width - 1 or bool((firsts[k:j] >= s).any()):
                p = q  # the pattern lies wholly after the restart
            else:  # only a fresh start can tell whether the head holds a violation
                early = evaluate(z[s : s + width - 1], ids)
                if early:
                    p = s + early[0].point
                else:
                    k = int(np.searchsorted(pts, s + width - 1))
        if p is None:
            return lengths, s
        lengths.append(p - s + 1)
        s = p + 1


def rules_arl(
    rules: str | tuple[str, ...],
    shift: float = 0.0,
    n: int = 1,
    *,
    runs: int = 2000,
    seed: int = 1,
    dispersion: float = 0.0,
) -> Simulated:
    """ARL of a Shewhart chart with run rules by simulation: standard normal points
    shifted by ``shift``·√n, the chart restarting after each signal
    (:func:`run_lengths_of` over long series). ``dispersion``: the probability a point
    that an independent R or S chart signals; each simulated run length L then counts
    as E[min(L, G)] = (1 − q^L)/(1 − q), G geometric with q = 1 − ``dispersion``."""
    ids = resolve_rules(rules) if isinstance(rules, str) else rules
    rng = np.random.default_rng(seed)
    d = shift * math.sqrt(n)
    lengths: list[int] = []
    carry = np.empty(0)
    size = max(10_000, runs * 20)
    while len(lengths) < runs:
        series = np.concatenate([carry, rng.normal(d, 1.0, size)])
        got, rest = run_lengths_of(series, ids)
        lengths += got
        carry = series[rest:]
        size *= 2
    arr = np.array(lengths[:runs], float)
    if dispersion > 0:
        q = 1 - dispersion
        arr = (1 - q**arr) / (1 - q)
    return Simulated(float(arr.mean()), float(arr.std(ddof=1) / math.sqrt(len(arr))), len(arr))


def first_signal(z: list[float], rules: tuple[str, ...]) -> int | None:
    """Index of the first point at which the incremental rules signal (None: none)."""
    st = RuleState(rules)
    for i, v in enumerate(z):
        if st.add(v):
            return i
    return None


def _chi2_cdf(x: float, k: int) -> float:
    """P(χ²_k ≤ x): the regularized lower incomplete gamma P(k/2, x/2) by its series."""
    if x <= 0:
        return 0.0
    a, y = k / 2, x / 2
    term = total = 1 / a
    i = 0
    while term > total * 1e-16 and i < 10_000:
        i += 1
        term *= y / (a + i)
        total += term
    return min(1.0, math.exp(a * math.log(y) - y - math.lgamma(a)) * total)


def dispersion_beyond(chart: str, n: int, *, step: float = 0.002) -> float:
    """In control, the probability that one R (``xbar-r``) or S (``xbar-s``) point of a
    subgroup of ``n`` normal values falls beyond its 3σ limits (D3·R̄..D4·R̄,
    B3·s̄..B4·s̄); 0 for other charts. R: from the distribution of the range,
    P(W ≤ w) = n ∫ φ(x) [Φ(x + w) − Φ(x)]^(n−1) dx, integrated numerically; S: from
    (n−1)S²/σ² ~ χ²(n−1). For n = 5 the R chart alone gives 0.0046 (ARL0 ≈ 217), more than
    the X̄ chart's 0.0027: the limits are ±3 standard errors of a skewed statistic.
    X̄ and R (or S) of normal data are independent, and a mean shift leaves R and S as
    they are."""
    from edge.logic.quality.constants import constants

    if chart not in ("xbar-r", "xbar-s") or n < 2:
        return 0.0
    c = constants(n)
    if chart == "xbar-s":
        hi, lo = c.B4 * c.c4, c.B3 * c.c4  # limits in units of σ
        return 1 - _chi2_cdf((n - 1) * hi * hi, n - 1) + _chi2_cdf((n - 1) * lo * lo, n - 1)
    x = np.arange(-9.0, 9.0, step)
    phi = np.exp(-x * x / 2) / math.sqrt(2 * math.pi)
    cdf_x = _ncdf(x)

    def cdf(w: float) -> float:
        return float(n * np.sum(phi * (_ncdf(x + w) - cdf_x) ** (n - 1)) * step) if w > 0 else 0.0

    return 1 - cdf(c.D4 * c.d2) + cdf(c.D3 * c.d2)


def chart_arl(
    chart: str,
    rules: str,
    shift: float,
    n: int,
    *,
    ewma_lambda: float = 0.2,
    ewma_L: float = 2.962,
    cusum_k: float = 0.5,
    cusum_h: float = 5.0,
    runs: int = 2000,
) -> tuple[float, str]:
    """ARL of a live chart as configured, and the method used."""
    d = shift * math.sqrt(n)
    if chart == "ewma":
        return ewma_arl(ewma_lambda, ewma_L, d), "Markov chain (Lucas & Saccucci 1990)"
    if chart == "cusum":
        return cusum_arl(cusum_k, cusum_h, d), "Markov chain (Brook & Evans 1972)"
    ids = resolve_rules(rules)
    # X̄-R and X̄-S: the R or S point beyond its limits signals too, independently of X̄.
    pd = dispersion_beyond(chart, n)
    if set(ids) <= {"we1", "nelson1"}:
        if pd:
            p = 1 - (1 - 1 / shewhart_arl(shift, n)) * (1 - pd)
            return (
                1 / p,
                f"exact, 1/p (Montgomery §6.2.3; {chart[-1].upper()} beyond its limits {pd:.2g} a point)",
            )
        return shewhart_arl(shift, n), "exact, 1/p (Montgomery §6.2.3)"
    sim = rules_arl(ids, shift, n, runs=runs, dispersion=pd)
    return sim.arl, f"simulation, {sim.runs} runs (± {sim.standard_error:.2g})"
