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

import functools
import math
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

from edge.logic.quality.arl import rule_width as _rule_width
from edge.logic.quality.charts import ChartSpec, Limits, baseline
from edge.logic.quality.constants import constants
from edge.logic.quality.rules import _SPEC, RULES, RuleState, resolve_rules

ATTRIBUTE_CHARTS = ("p", "np", "c", "u")
SMOOTHED_CHARTS = ("ewma", "cusum")
EXTRA_RULES = {
    "r1": "range beyond its control limits (D3·R̄, D4·R̄)",
    "s1": "standard deviation beyond its control limits (B3·s̄, B4·s̄)",
    "ewma": "EWMA beyond its limit",
    "cusum": "CUSUM beyond the decision interval",
    "lsl": "below LSL",
    "usl": "above USL",
}


class SpcPoint(NamedTuple):
    """A plotted point (a NamedTuple: the live path makes one per subgroup, cheaply)."""

    ts: float
    characteristic: str
    value: float  # plotted statistic: individual, subgroup mean, proportion, count or EWMA/CUSUM input
    dispersion: float | None  # MR, R or S
    z: float | None  # None while the baseline is being collected
    product: str | None = None
    n: float | None = None  # sample size of an attribute point
    values: tuple[float, ...] | None = None  # the measured values of an X̄-R or X̄-S subgroup


#: ``SpcPoint`` built from a tuple of all its fields at C speed (the NamedTuple's own
#: constructor is a Python function: a third of a live point's cost).
_new_point = functools.partial(tuple.__new__, SpcPoint)


class SpcAlarm(NamedTuple):
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
    _cp: float = 0.0
    _cm: float = 0.0
    _sig: float = 0.0
    _center: float = 0.0
    _shewhart: bool = False
    _fast: bool = False
    _ewma_decay: float = 1.0
    _ewma_width: float = 0.0
    _d_rule: str = ""  # "r1" / "s1": the R or S panel's own out-of-control rule
    _d_ucl: float = math.inf
    _d_lcl: float = -math.inf

    def __post_init__(self) -> None:
        grouped = self.chart in ("xbar-r", "xbar-s") or (self.chart in SMOOTHED_CHARTS and self.subgroup_size)
        self._n = (self.subgroup_size or 1) if grouped else 1
        self._root_dof = math.sqrt(self._n - 1)  # √(n − 1) of a full subgroup's S
        self._s_chart = self._n > 1 and self.chart == "xbar-s"
        self.rule_ids = resolve_rules(self.rules) if self.chart not in SMOOTHED_CHARTS else ()
        if self.spec is not None:
            self.freeze(self.spec)

    @property
    def frozen(self) -> bool:
        return self.spec is not None

    @property
    def n(self) -> int:
        """Values per plotted point."""
        return self._n

    def freeze(self, spec: ChartSpec) -> None:
        self.spec = spec
        self._sig = float(spec.primary.point_sigma)  # type: ignore[arg-type]
        self._center = float(spec.primary.center)
        self._state = RuleState(self.rule_ids)
        self._rules = self._state.add
        # Frozen variables charts with run rules, EWMA and CUSUM take the short path.
        self._shewhart = self.chart in ("imr", "xbar-r", "xbar-s") and self._sig > 0
        self._fast = self._sig > 0 and (self._shewhart or self.chart in SMOOTHED_CHARTS)
        # X̄-R and X̄-S: a range or standard deviation beyond its own limits (D3·R̄..D4·R̄,
        # B3·s̄..B4·s̄) is a signal of its own (the spread changed, whatever X̄ does).
        sec = spec.secondary
        if self._n > 1 and self.chart in ("xbar-r", "xbar-s") and sec is not None and sec.chart in ("r", "s"):
            self._d_rule = sec.chart + "1"
            self._d_ucl, self._d_lcl = float(sec.ucl), float(sec.lcl)  # type: ignore[arg-type]
        else:
            self._d_rule, self._d_ucl, self._d_lcl = "", math.inf, -math.inf
        self.i, self.active, self.ack_ts, self.ack_point = -1, set(), None, -1
        self._restart_smoothed()

    def _restart_smoothed(self) -> None:
        self._ewma = self.spec.primary.center if self.spec is not None else 0.0
        self._ewma_decay, self._ewma_width = 1.0, 0.0
        self._cp = self._cm = 0.0

    def restart_baseline(self) -> None:
        """Recalculation (an approved request): collect a new baseline."""
        self.spec, self._state, self._shewhart, self._fast = None, None, False, False
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
        if not self._fast or self._n != 1:
            return self.add_subgroup(ts, [value])
        # The hot path of a frozen chart of individuals: a few microseconds a point.
        if not math.isfinite(value):
            return []
        lsl, usl = self.lsl, self.usl
        out: list[Any] = (
            self._out_of_spec(ts, [value])
            if (lsl is not None and value < lsl) or (usl is not None and value > usl)
            else []
        )
        last = self._last
        self._last = value
        self._plot(
            ts, value, (value - last if value >= last else last - value) if last is not None else None, out
        )
        return out

    def add_subgroup(self, ts: float, values: list[float]) -> list[Any]:
        """One complete subgroup (``n`` values; one value for individuals)."""
        out: list[Any] = []
        k = len(values)
        if not k:
            return out
        total = sum(values)
        if not math.isfinite(total):  # a NaN or an infinity among them: never charted
            return out
        lsl, usl = self.lsl, self.usl
        disp: float | None
        if not self._s_chart:
            # One sort gives both ends: half the cost of min() and max() on a subgroup.
            ordered = sorted(values)
            lo, hi = ordered[0], ordered[-1]
            if (lsl is not None and lo < lsl) or (usl is not None and hi > usl):
                out += self._out_of_spec(ts, values)
            if self._n == 1:
                x = values[-1]
                disp = abs(x - self._last) if self._last is not None else None
                self._last = x
            else:
                x = total / k
                disp = hi - lo
        else:
            x = total / k
            # S = sqrt(Σ(v − x̄)² / (k − 1)): math.dist sums the squared deviations in C,
            # accurately (no cancellation as in Σv² − x̄·Σv).
            dev = math.dist(values, [x] * k)
            disp = dev / (self._root_dof if k == self._n else math.sqrt(k - 1)) if dev > 0 else 0.0
            # No value lies farther from x̄ than sqrt(Σ(v − x̄)²): only when that band (with
            # a margin for rounding) reaches a specification limit are the values checked.
            reach = dev + 1e-9 * (abs(x) + dev)
            if (lsl is not None and x - reach < lsl) or (usl is not None and x + reach > usl):
                out += self._out_of_spec(ts, values)
        if self._shewhart and self._n != 1:  # the hot path of a frozen X̄ chart: _plot inlined
            self.i += 1
            z = (x - self._center) / self._sig
            out.append(_new_point((ts, self.name, x, disp, z, self.product, None, tuple(values))))
            hits = self._rules(z)
            if hits:
                self._alarm(ts, x, hits, out)
            if (disp > self._d_ucl or disp < self._d_lcl) and k == self._n:  # type: ignore[operator]
                self._dispersion_alarm(ts, disp, out)  # type: ignore[arg-type]
            return out
        if self._fast:
            self._plot(ts, x, disp, out, tuple(values) if self._n != 1 else None)
            return out
        out += self._point(ts, x, disp, values)
        return out

    def _plot(
        self, ts: float, x: float, disp: float | None, out: list[Any], values: tuple[float, ...] | None = None
    ) -> None:
        """A point of a frozen variables, EWMA or CUSUM chart, checked at once."""
        self.i += 1
        if self._shewhart:
            z = (x - self._center) / self._sig
            out.append(_new_point((ts, self.name, x, disp, z, self.product, None, values)))
            hits = self._rules(z)
            if hits:
                self._alarm(ts, x, hits, out)
            return
        if self.chart == "ewma":
            z = self._ewma_step(x, self._center, self._sig)
        else:
            z = self._cusum_step(x, self._center, self._sig)
        out.append(_new_point((ts, self.name, x, disp, z, self.product, None, values)))
        if z > 3 or z < -3:
            self._signal(ts, x, out)

    def _alarm(self, ts: float, x: float, hits: list[str], out: list[Any]) -> None:
        for rule in hits:
            if self._gate(ts, rule):
                out.append(SpcAlarm(ts, self.name, "out_of_control", rule, RULES[rule], x, self.product))

    def _dispersion_alarm(self, ts: float, disp: float, out: list[Any]) -> None:
        """An R or S point beyond its control limits (rule ``r1`` / ``s1``)."""
        rule = self._d_rule
        if self._gate(ts, rule):
            label = rule[0].upper()
            k = "R̄" if label == "R" else "s̄"
            where = (
                f"above UCL {self._d_ucl:.4g} (D4·{k})"
                if disp > self._d_ucl
                else f"below LCL {self._d_lcl:.4g} (D3·{k})"
            )
            if label == "S":
                where = where.replace("D4", "B4").replace("D3", "B3")
            detail = f"{label} {disp:.4g} {where}"
            out.append(SpcAlarm(ts, self.name, "out_of_control", rule, detail, disp, self.product))

    def _out_of_spec(self, ts: float, values: list[float]) -> list[Any]:
        out: list[Any] = []
        for v in values:
            if self.lsl is not None and v < self.lsl and self._gate_spec(ts, "lsl"):
                out.append(
                    SpcAlarm(
                        ts, self.name, "out_of_spec", "lsl", f"{v:g} below LSL {self.lsl:g}", v, self.product
                    )
                )
            if self.usl is not None and v > self.usl and self._gate_spec(ts, "usl"):
                out.append(
                    SpcAlarm(
                        ts, self.name, "out_of_spec", "usl", f"{v:g} above USL {self.usl:g}", v, self.product
                    )
                )
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
            out: list[Any] = [
                SpcPoint(ts, self.name, x, disp, None, self.product, None, tuple(raw) if self.n > 1 else None)
            ]
            if points >= self.baseline_points:
                kind = base_chart(self.chart, self.subgroup_size if self.n > 1 else None)
                spec = baseline(kind, values=np.array(self._baseline), n=self.n if self.n > 1 else None)
                self.freeze(spec)
                out.append(LimitsFrozen(ts, self.name, spec, points, "baseline complete", self.product))
            return out
        if self._fast:
            out = []
            self._plot(ts, x, disp, out, tuple(raw) if self.n > 1 else None)
            return out
        self.i += 1
        return self._check(ts, x, disp, 0.0)  # a degenerate baseline (no spread): no z

    def _check(self, ts: float, x: float, disp: float | None, z: float, n: float | None = None) -> list[Any]:
        assert self._state is not None
        out: list[Any] = [_new_point((ts, self.name, x, disp, z, self.product, n, None))]
        hits = self._state.add(z)
        if hits:
            self._alarm(ts, x, hits, out)
        return out

    def _ewma_step(self, x: float, mu0: float, sig: float) -> float:
        """EWMA statistic in units of its exact time-varying limit times 3."""
        lam = self.ewma_lambda
        self._ewma = lam * x + (1 - lam) * self._ewma
        if self._ewma_decay > 1e-15:  # (1−λ)^(2i): the limits widen to their asymptote
            self._ewma_decay *= (1 - lam) * (1 - lam)
            self._ewma_width = self.ewma_L * sig * math.sqrt(lam / (2 - lam) * (1 - self._ewma_decay))
        width = self._ewma_width
        return 3 * (self._ewma - mu0) / width if width > 0 else 0.0

    def _cusum_step(self, x: float, mu0: float, sig: float) -> float:
        k, h = self.cusum_k * sig, self.cusum_h * sig
        cp = x - (mu0 + k) + self._cp
        cm = (mu0 - k) - x + self._cm
        self._cp = cp = cp if cp > 0 else 0.0
        self._cm = cm = cm if cm > 0 else 0.0
        if h <= 0:
            return 0.0
        return 3 * (cp if cp >= cm else -cm) / h

    def _signal(self, ts: float, x: float, out: list[Any]) -> None:
        if self._gate(ts, self.chart):
            out.append(
                SpcAlarm(
                    ts, self.name, "out_of_control", self.chart, EXTRA_RULES[self.chart], x, self.product
                )
            )
        if self.chart == "cusum":  # restart after a signal: a new signal needs new evidence
            self._cp = self._cm = 0.0

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
