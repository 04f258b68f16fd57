"""Control charts (pure, numpy): X̄-R, X̄-S, I-MR, p, np, c, u, EWMA and tabular CUSUM.

Phase I: ``*_limits`` compute centre line and limits from a baseline. The limits are
then frozen (a ``Limits`` value) and new data is plotted against them with
``plot``; recalculation is an explicit act. Attribute charts with varying sample sizes
(p, u) get limits per point. Each plotted point also gets its own sigma, so the zone
rules work on charts with variable limits.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from edge.logic.quality.constants import constants

Array = npt.NDArray[np.float64]

CHARTS = ("xbar-r", "xbar-s", "imr", "p", "np", "c", "u")


@dataclass(frozen=True)
class Limits:
    """Frozen limits of one chart panel. ``ucl``/``lcl``/``sigma`` are per-point arrays
    when the sample size varies (p, u), else scalars."""

    chart: str
    center: float
    ucl: float | Array
    lcl: float | Array
    point_sigma: float | Array
    n: int | None = None

    def as_dict(self) -> dict[str, Any]:
        def conv(v: float | Array) -> Any:
            return [round(float(x), 10) for x in v] if isinstance(v, np.ndarray) else float(v)

        return {
            "chart": self.chart,
            "center": self.center,
            "ucl": conv(self.ucl),
            "lcl": conv(self.lcl),
            "n": self.n,
        }


@dataclass(frozen=True)
class ChartSpec:
    """What a characteristic's chart needs to be evaluated: the primary panel's limits,
    the dispersion panel's (R, S or MR) if any, and the within-subgroup sigma."""

    kind: str
    primary: Limits
    secondary: Limits | None = None
    sigma_within: float | None = None
    extra: dict[str, float] = field(default_factory=dict)


def _reshape(values: Array, n: int) -> Array:
    v = np.asarray(values, dtype=float)
    if v.ndim == 1:
        if len(v) % n:
            raise ValueError(f"{len(v)} values do not make whole subgroups of {n}")
        v = v.reshape(-1, n)
    if v.shape[1] != n:
        raise ValueError(f"subgroups have {v.shape[1]} values, expected {n}")
    return v


def _subgroups(values: Array, n: int) -> Array:
    v = _reshape(values, n)
    if len(v) < 2:
        raise ValueError("need at least 2 subgroups for a baseline")
    return v


def xbar_r_limits(data: Array, n: int) -> ChartSpec:
    c = constants(n)
    sg = _subgroups(data, n)
    xbb = float(sg.mean(axis=1).mean())
    rbar = float(np.ptp(sg, axis=1).mean())
    sigma = rbar / c.d2
    x = Limits("xbar", xbb, xbb + c.A2 * rbar, xbb - c.A2 * rbar, sigma / math.sqrt(n), n)
    r = Limits("r", rbar, c.D4 * rbar, c.D3 * rbar, c.d3 * sigma, n)
    return ChartSpec("xbar-r", x, r, sigma)


def xbar_s_limits(data: Array, n: int) -> ChartSpec:
    c = constants(n)
    sg = _subgroups(data, n)
    xbb = float(sg.mean(axis=1).mean())
    sbar = float(sg.std(axis=1, ddof=1).mean())
    sigma = sbar / c.c4
    x = Limits("xbar", xbb, xbb + c.A3 * sbar, xbb - c.A3 * sbar, sigma / math.sqrt(n), n)
    s = Limits("s", sbar, c.B4 * sbar, c.B3 * sbar, sigma * math.sqrt(1 - c.c4**2), n)
    return ChartSpec("xbar-s", x, s, sigma)


def imr_limits(data: Array) -> ChartSpec:
    x = np.asarray(data, dtype=float).ravel()
    if len(x) < 3:
        raise ValueError("need at least 3 individual values for a baseline")
    c = constants(2)
    mrbar = float(np.abs(np.diff(x)).mean())
    xbar = float(x.mean())
    sigma = mrbar / c.d2
    i = Limits("i", xbar, xbar + c.E2 * mrbar, xbar - c.E2 * mrbar, sigma, 1)
    mr = Limits("mr", mrbar, c.D4 * mrbar, c.D3 * mrbar, c.d3 * sigma, 2)
    return ChartSpec("imr", i, mr, sigma)


def p_limits(defectives: Array, sizes: Array) -> ChartSpec:
    d, n = np.asarray(defectives, float), np.asarray(sizes, float)
    _check_attr(d, n)
    pbar = float(d.sum() / n.sum())
    sig = np.sqrt(pbar * (1 - pbar) / n)
    ucl, lcl = pbar + 3 * sig, np.maximum(0.0, pbar - 3 * sig)
    if np.all(n == n[0]):
        return ChartSpec("p", Limits("p", pbar, float(ucl[0]), float(lcl[0]), float(sig[0]), int(n[0])))
    return ChartSpec("p", Limits("p", pbar, ucl, lcl, sig, None))


def np_limits(defectives: Array, size: int) -> ChartSpec:
    d = np.asarray(defectives, float)
    _check_attr(d, np.full(len(d), float(size)))
    pbar = float(d.mean() / size)
    center = size * pbar
    sig = math.sqrt(size * pbar * (1 - pbar))
    return ChartSpec("np", Limits("np", center, center + 3 * sig, max(0.0, center - 3 * sig), sig, size))


def c_limits(counts: Array) -> ChartSpec:
    cnt = np.asarray(counts, float)
    _check_attr(cnt, None)
    cbar = float(cnt.mean())
    sig = math.sqrt(cbar)
    return ChartSpec("c", Limits("c", cbar, cbar + 3 * sig, max(0.0, cbar - 3 * sig), sig))


def u_limits(counts: Array, units: Array) -> ChartSpec:
    cnt, n = np.asarray(counts, float), np.asarray(units, float)
    _check_attr(cnt, n)
    ubar = float(cnt.sum() / n.sum())
    sig = np.sqrt(ubar / n)
    ucl, lcl = ubar + 3 * sig, np.maximum(0.0, ubar - 3 * sig)
    if np.all(n == n[0]):
        return ChartSpec("u", Limits("u", ubar, float(ucl[0]), float(lcl[0]), float(sig[0]), None))
    return ChartSpec("u", Limits("u", ubar, ucl, lcl, sig, None))


def _check_attr(counts: Array, sizes: Array | None) -> None:
    if len(counts) < 2:
        raise ValueError("need at least 2 samples for a baseline")
    if np.any(counts < 0):
        raise ValueError("counts cannot be negative")
    if sizes is not None:
        if np.any(sizes <= 0):
            raise ValueError("sample sizes must be positive")
        if np.any(counts > sizes) and not np.all(sizes > 0):
            raise ValueError("more defectives than inspected")


def baseline(
    kind: str,
    *,
    values: Array | None = None,
    n: int | None = None,
    counts: Array | None = None,
    sizes: Array | None = None,
) -> ChartSpec:
    """Phase I limits for any chart kind."""
    if kind == "xbar-r":
        return xbar_r_limits(_need(values, "values"), _need_n(n))
    if kind == "xbar-s":
        return xbar_s_limits(_need(values, "values"), _need_n(n))
    if kind == "imr":
        return imr_limits(_need(values, "values"))
    if kind == "p":
        return p_limits(_need(counts, "counts"), _need(sizes, "sizes"))
    if kind == "np":
        return np_limits(_need(counts, "counts"), _need_n(n, low=1))
    if kind == "c":
        return c_limits(_need(counts, "counts"))
    if kind == "u":
        return u_limits(_need(counts, "counts"), _need(sizes, "sizes"))
    raise ValueError(f"unknown chart {kind!r} (one of {', '.join(CHARTS)})")


def _need(v: Any, name: str) -> Any:
    if v is None:
        raise ValueError(f"{name} are required for this chart")
    return v


def _need_n(n: int | None, low: int = 2) -> int:
    if n is None:
        raise ValueError("subgroup size is required for this chart")
    if low == 2:
        constants(n)  # validates 2..25
    elif n < low:
        raise ValueError("sample size must be positive")
    return n


@dataclass(frozen=True)
class Plotted:
    """Points of one panel against frozen limits, with their standardised distance."""

    limits: Limits
    points: Array
    z: Array

    @property
    def beyond(self) -> npt.NDArray[np.bool_]:
        return (self.points > self.limits.ucl) | (self.points < self.limits.lcl)


def plot(
    spec: ChartSpec, *, values: Array | None = None, counts: Array | None = None, sizes: Array | None = None
) -> list[Plotted]:
    """New data against the frozen limits of ``spec``: the primary panel first."""
    p, s = spec.primary, spec.secondary
    if spec.kind in ("xbar-r", "xbar-s"):
        assert p.n is not None and s is not None
        sg = _reshape(_need(values, "values"), p.n)
        xb = sg.mean(axis=1)
        disp = np.ptp(sg, axis=1) if spec.kind == "xbar-r" else sg.std(axis=1, ddof=1)
        return [_panel(p, xb), _panel(s, disp)]
    if spec.kind == "imr":
        assert s is not None
        x = np.asarray(_need(values, "values"), float).ravel()
        return [_panel(p, x), _panel(s, np.abs(np.diff(x)))]
    cnt = np.asarray(_need(counts, "counts"), float)
    if spec.kind in ("p", "u"):
        n = np.asarray(_need(sizes, "sizes"), float)
        pts = cnt / n
        sig = np.sqrt(p.center * (1 - p.center) / n) if spec.kind == "p" else np.sqrt(p.center / n)
        lim = Limits(p.chart, p.center, p.center + 3 * sig, np.maximum(0.0, p.center - 3 * sig), sig, p.n)
        return [_panel(lim, pts)]
    return [_panel(p, cnt)]


def _panel(lim: Limits, pts: Array) -> Plotted:
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(np.asarray(lim.point_sigma) > 0, (pts - lim.center) / lim.point_sigma, 0.0)
    return Plotted(lim, np.asarray(pts, float), np.asarray(z, float))


# ------------------------------------------------------------------------------ EWMA, CUSUM


def ewma(x: Array, mu0: float, sigma: float, lam: float = 0.2, L: float = 3.0) -> tuple[Array, Array, Array]:
    """EWMA statistic z_i = λx_i + (1−λ)z_{i−1} (z_0 = μ0) and its exact time-varying
    limits μ0 ± Lσ√(λ/(2−λ)·(1−(1−λ)^{2i}))."""
    if not 0 < lam <= 1:
        raise ValueError("lambda must be in (0, 1]")
    xs = np.asarray(x, float)
    z = np.empty_like(xs)
    prev = mu0
    for i, v in enumerate(xs):
        prev = lam * v + (1 - lam) * prev
        z[i] = prev
    steps = np.arange(1, len(xs) + 1)
    w = L * sigma * np.sqrt(lam / (2 - lam) * (1 - (1 - lam) ** (2 * steps)))
    return z, mu0 + w, mu0 - w


def cusum(x: Array, mu0: float, sigma: float, k: float = 0.5, h: float = 5.0) -> tuple[Array, Array, float]:
    """Tabular CUSUM: C+_i = max(0, x_i − (μ0 + K) + C+_{i−1}), C−_i = max(0, (μ0 − K) − x_i +
    C−_{i−1}) with K = kσ; a signal when either exceeds H = hσ."""
    xs = np.asarray(x, float)
    K, H = k * sigma, h * sigma
    cp, cm = np.empty_like(xs), np.empty_like(xs)
    a = b = 0.0
    for i, v in enumerate(xs):
        a = max(0.0, v - (mu0 + K) + a)
        b = max(0.0, (mu0 - K) - v + b)
        cp[i], cm[i] = a, b
    return cp, cm, H
