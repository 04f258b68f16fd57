"""Live SPC for one characteristic and product (pure): subgroups in, chart points and
alarms out, for every live chart kind (I-MR, X̄-R, X̄-S, p, np, c, u, EWMA, CUSUM).

Phase I collects ``baseline_points`` plotted points, computes the limits and freezes
them; after that each new point is checked against the frozen limits with the
incremental rules, in O(1) per point. Individual values outside the specification
raise an out-of-spec alarm, kept apart from out-of-control (a process can be in control
and out of spec, and the other way round).

Alarms do not storm. While an alarm of a rule is unacknowledged the same rule raises
no new alarm (the points are still charted). After an acknowledgement, within the
re-arm window, a rule alarms again only when a new violation completes from points
after the acknowledgement: a run of 8 on one side that merely goes on does not re-fire.

EWMA and CUSUM run on individual values (or subgroup means) against the centre and
sigma of the frozen Shewhart limits underneath (``spec.primary``). Their points carry in
``z`` the statistic in units of its own decision limit times 3, so ``|z| > 3`` is a
signal on every chart kind. After an acknowledgement they restart from the centre (the
process was corrected), as after any signal.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from edge.logic.quality.arl import rule_width as _rule_width
from edge.logic.quality.charts import ChartSpec, Limits, baseline
from edge.logic.quality.constants import constants
from edge.logic.quality.rules import _SPEC, RULES, RuleState, resolve_rules

ATTRIBUTE_CHARTS = ("p", "np", "c", "u")
SMOOTHED_CHARTS = ("ewma", "cusum")
EXTRA_RULES = {
    "ewma": "EWMA beyond its limit",
    "cusum": "CUSUM beyond the decision interval",
    "lsl": "below LSL",
    "usl": "above USL",
}


@dataclass(frozen=True)
class SpcPoint:
    ts: float
    characteristic: str
    value: float  # plotted statistic: individual, subgroup mean, proportion, count or EWMA/CUSUM input
    dispersion: float | None  # MR, R or S
    z: float | None  # None while the baseline is being collected
    product: str | None = None
    n: float | None = None  # sample size of an attribute point


@dataclass(frozen=True)
class SpcAlarm:
    ts: float
    characteristic: str
    kind: str  # out_of_control | out_of_spec
    rule: str  # rule id, or lsl / usl
    detail: str
    value: float
    product: str | None = None


@dataclass(frozen=True)
class LimitsFrozen:
    ts: float
    characteristic: str
    spec: ChartSpec
    points: int
    reason: str
    product: str | None = None


def base_chart(chart: str, subgroup_size: int | None) -> str:
    """The Shewhart chart whose limits a chart kind is frozen with (EWMA and CUSUM: of
    individuals, or of subgroup means)."""
    if chart in SMOOTHED_CHARTS:
        return "xbar-r" if subgroup_size else "imr"
    return chart


def fixed_spec(chart: str, n: int | None, center: float, sigma: float) -> ChartSpec:
    """Limits from a known centre and sigma (variables charts, EWMA and CUSUM)."""
    chart = base_chart(chart, n if n and n > 1 else None)
    if chart == "imr":
        c = constants(2)
        i = Limits("i", center, center + 3 * sigma, center - 3 * sigma, sigma, 1)
        mr = Limits("mr", c.d2 * sigma, c.D4 * c.d2 * sigma, c.D3 * c.d2 * sigma, c.d3 * sigma, 2)
        return ChartSpec("imr", i, mr, sigma)
    assert n is not None
    c = constants(n)
    se = sigma / math.sqrt(n)
    x = Limits("xbar", center, center + 3 * se, center - 3 * se, se, n)
    if chart == "xbar-r":
        disp = Limits("r", c.d2 * sigma, c.D4 * c.d2 * sigma, c.D3 * c.d2 * sigma, c.d3 * sigma, n)
    else:
        disp = Limits(
            "s", c.c4 * sigma, c.B4 * c.c4 * sigma, c.B3 * c.c4 * sigma, sigma * math.sqrt(1 - c.c4**2), n
        )
    return ChartSpec(chart, x, disp, sigma)


def rule_width(rule: str) -> int:
    """Points a violation of ``rule`` spans (its pattern window); 1 for the others."""
    return _rule_width(rule) if rule in _SPEC else 1


@dataclass
class CharacteristicTracker:
    name: str
    chart: str
    subgroup_size: int | None
    rules: str
    baseline_points: int
    lsl: float | None = None
    usl: float | None = None
    spec: ChartSpec | None = None
    product: str | None = None
    rearm_s: float = 0.0
    sample_size: int | None = None
    ewma_lambda: float = 0.2
    ewma_L: float = 2.962
    cusum_k: float = 0.5
    cusum_h: float = 5.0
    _baseline: list[float] = field(default_factory=list)
    _sizes: list[float] = field(default_factory=list)
    _last: float | None = None
    _state: RuleState | None = None
    i: int = -1  # index of the last point checked against frozen limits
    active: set[str] = field(default_factory=set)  # rules alarmed and not acknowledged
    ack_ts: float | None = None
    ack_point: int = -1
    _ewma: float = 0.0
    _ewma_i: int = 0
    _cp: float = 0.0
    _cm: float = 0.0

    def __post_init__(self) -> None:
        self.rule_ids = resolve_rules(self.rules) if self.chart not in SMOOTHED_CHARTS else ()
        if self.spec is not None:
            self.freeze(self.spec)

    @property
    def frozen(self) -> bool:
        return self.spec is not None

    @property
    def n(self) -> int:
        """Values per plotted point."""
        if self.chart in ("xbar-r", "xbar-s") or (self.chart in SMOOTHED_CHARTS and self.subgroup_size):
            return self.subgroup_size or 1
        return 1

    def freeze(self, spec: ChartSpec) -> None:
        self.spec = spec
        self._state = RuleState(self.rule_ids)
        self.i, self.active, self.ack_ts, self.ack_point = -1, set(), None, -1
        self._restart_smoothed()

    def _restart_smoothed(self) -> None:
        self._ewma = self.spec.primary.center if self.spec is not None else 0.0
        self._ewma_i = 0
        self._cp = self._cm = 0.0

    def restart_baseline(self) -> None:
        """Recalculation (an approved request): collect a new baseline."""
        self.spec, self._state = None, None
        self._baseline.clear()
        self._sizes.clear()
        self._last = None

    def acknowledge(self, ts: float) -> None:
        """The characteristic's alarms were acknowledged at ``ts``: the re-arm window starts."""
        self.active.clear()
        self.ack_ts, self.ack_point = ts, self.i
        self._restart_smoothed()

    def _gate(self, ts: float, rule: str) -> bool:
        """Whether a violation of ``rule`` completed by point ``self.i`` raises an alarm."""
        if rule in self.active:
            return False
        if (
            self.ack_ts is not None
            and ts < self.ack_ts + self.rearm_s
            and self.i - rule_width(rule) + 1 <= self.ack_point
        ):
            return False
        self.active.add(rule)
        return True

    # ------------------------------------------------------------------ variables

    def add(self, ts: float, value: float) -> list[Any]:
        """One individual value (I-MR, or EWMA/CUSUM of individuals)."""
        return self.add_subgroup(ts, [value])

    def add_subgroup(self, ts: float, values: list[float]) -> list[Any]:
        """One complete subgroup (``n`` values; one value for individuals)."""
        out: list[Any] = []
        vals = [float(v) for v in values if v is not None and math.isfinite(v)]
        if len(vals) != len(values) or not vals:
            return out
        for v in vals:
            for side, bad in (
                ("lsl", self.lsl is not None and v < self.lsl),
                ("usl", self.usl is not None and v > self.usl),
            ):
                if bad and self._gate_spec(ts, side):
                    limit = self.lsl if side == "lsl" else self.usl
                    word = "below LSL" if side == "lsl" else "above USL"
                    out.append(
                        SpcAlarm(
                            ts, self.name, "out_of_spec", side, f"{v:g} {word} {limit:g}", v, self.product
                        )
                    )
        if self.n == 1:
            x = vals[-1]
            disp = abs(x - self._last) if self._last is not None else None
            self._last = x
        else:
            x = sum(vals) / len(vals)
            disp = float(np.std(vals, ddof=1)) if self.chart == "xbar-s" else max(vals) - min(vals)
        out += self._point(ts, x, disp, vals)
        return out

    def _gate_spec(self, ts: float, side: str) -> bool:
        if side in self.active:
            return False
        self.active.add(side)
        return True

    def _point(self, ts: float, x: float, disp: float | None, raw: list[float]) -> list[Any]:
        if self.spec is None:
            self._baseline.extend(raw)
            points = len(self._baseline) // self.n
            out: list[Any] = [SpcPoint(ts, self.name, x, disp, None, self.product)]
            if points >= self.baseline_points:
                kind = base_chart(self.chart, self.subgroup_size if self.n > 1 else None)
                spec = baseline(kind, values=np.array(self._baseline), n=self.n if self.n > 1 else None)
                self.freeze(spec)
                out.append(LimitsFrozen(ts, self.name, spec, points, "baseline complete", self.product))
            return out
        self.i += 1
        lim = self.spec.primary
        sig = float(lim.point_sigma)
        if self.chart == "ewma":
            return self._smoothed(ts, x, disp, self._ewma_step(x, lim.center, sig))
        if self.chart == "cusum":
            return self._smoothed(ts, x, disp, self._cusum_step(x, lim.center, sig))
        z = (x - lim.center) / sig if sig > 0 else 0.0
        return self._check(ts, x, disp, z)

    def _check(self, ts: float, x: float, disp: float | None, z: float, n: float | None = None) -> list[Any]:
        assert self._state is not None
        out: list[Any] = [SpcPoint(ts, self.name, x, disp, z, self.product, n)]
        for rule in self._state.add(z):
            if self._gate(ts, rule):
                out.append(SpcAlarm(ts, self.name, "out_of_control", rule, RULES[rule], x, self.product))
        return out

    def _ewma_step(self, x: float, mu0: float, sig: float) -> float:
        lam = self.ewma_lambda
        self._ewma = lam * x + (1 - lam) * self._ewma
        self._ewma_i += 1
        width = self.ewma_L * sig * math.sqrt(lam / (2 - lam) * (1 - (1 - lam) ** (2 * self._ewma_i)))
        return 3 * (self._ewma - mu0) / width if width > 0 else 0.0

    def _cusum_step(self, x: float, mu0: float, sig: float) -> float:
        k, h = self.cusum_k * sig, self.cusum_h * sig
        self._cp = max(0.0, x - (mu0 + k) + self._cp)
        self._cm = max(0.0, (mu0 - k) - x + self._cm)
        if h <= 0:
            return 0.0
        return 3 * (self._cp if self._cp >= self._cm else -self._cm) / h

    def _smoothed(self, ts: float, x: float, disp: float | None, z: float) -> list[Any]:
        out: list[Any] = [SpcPoint(ts, self.name, x, disp, z, self.product)]
        if abs(z) > 3:
            if self._gate(ts, self.chart):
                out.append(
                    SpcAlarm(
                        ts, self.name, "out_of_control", self.chart, EXTRA_RULES[self.chart], x, self.product
                    )
                )
            if self.chart == "cusum":  # restart after a signal: a new signal needs new evidence
                self._cp = self._cm = 0.0
        return out

    # ------------------------------------------------------------------ attributes

    def add_count(self, ts: float, count: float, size: float | None = None) -> list[Any]:
        """One attribute sample: defectives (p, np) or defects (c, u) in ``size`` units."""
        if count is None or not math.isfinite(count) or count < 0:
            return []
        if self.chart == "np":
            size = float(self.sample_size or 1)
        elif self.chart == "c":
            size = 1.0
        if size is None or not math.isfinite(size) or size <= 0:
            return []
        if self.chart == "p" and count > size:
            return []
        pt = count / size if self.chart in ("p", "u") else float(count)
        if self.spec is None:
            self._baseline.append(float(count))
            self._sizes.append(float(size))
            out: list[Any] = [SpcPoint(ts, self.name, pt, None, None, self.product, size)]
            if len(self._baseline) >= self.baseline_points:
                spec = attribute_spec(self.chart, self._baseline, self._sizes, self.sample_size)
                self.freeze(spec)
                out.append(
                    LimitsFrozen(ts, self.name, spec, len(self._baseline), "baseline complete", self.product)
                )
            return out
        self.i += 1
        c = self.spec.primary.center
        if self.chart == "p":
            sig = math.sqrt(c * (1 - c) / size)
        elif self.chart == "u":
            sig = math.sqrt(c / size)
        else:
            sig = float(self.spec.primary.point_sigma)
        z = (pt - c) / sig if sig > 0 else 0.0
        return self._check(ts, pt, None, z, size)


def attribute_spec(chart: str, counts: list[float], sizes: list[float], sample_size: int | None) -> ChartSpec:
    """Frozen attribute limits: the centre from the baseline; p and u charts with varying
    sample sizes keep the limits at the average size (each point gets its own)."""
    cnt, n = np.array(counts), np.array(sizes)
    if chart == "np":
        return baseline("np", counts=cnt, n=sample_size)
    spec = baseline(chart, counts=cnt, sizes=n if chart in ("p", "u") else None)
    p = spec.primary
    if chart in ("p", "u") and isinstance(p.ucl, np.ndarray):
        nbar = float(n.mean())
        sig = math.sqrt(p.center * (1 - p.center) / nbar) if chart == "p" else math.sqrt(p.center / nbar)
        lim = Limits(chart, p.center, p.center + 3 * sig, max(0.0, p.center - 3 * sig), sig, None)
        return ChartSpec(chart, lim)
    return spec


def spec_from_points(
    chart: str,
    n: int,
    values: list[float],
    dispersions: list[float | None],
    sizes: list[float | None],
    sample_size: int | None = None,
) -> ChartSpec:
    """Limits from the points charted in a baseline window (Phase I from stored points):
    X̄-R and X̄-S from the mean of the subgroup means and of their ranges or standard
    deviations (σ = R̄/d2, S̄/c4), I-MR from the individual values, attribute charts from
    the counts and sample sizes behind the plotted proportions. EWMA and CUSUM take the
    limits of the Shewhart chart beneath them."""
    if len(values) < 2:
        raise ValueError("need at least 2 points for a baseline")
    if chart in ATTRIBUTE_CHARTS:
        ns = [float(s) if s is not None else float(sample_size or 1) for s in sizes]
        counts = [v * s if chart in ("p", "u") else v for v, s in zip(values, ns, strict=True)]
        return attribute_spec(chart, counts, ns, sample_size)
    kind = base_chart(chart, n if n > 1 else None)
    if kind == "imr":
        return baseline("imr", values=np.array(values, float))
    disp = [d for d in dispersions if d is not None]
    if len(disp) < 2:
        raise ValueError("the points carry no ranges or standard deviations")
    c = constants(n)
    mean_disp = float(np.mean(disp))
    sigma = mean_disp / (c.c4 if kind == "xbar-s" else c.d2)
    if sigma <= 0:
        raise ValueError("no spread within the subgroups of the window")
    return fixed_spec(kind, n, float(np.mean(values)), sigma)
