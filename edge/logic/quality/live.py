"""Live SPC for one characteristic (pure): values in, chart points and alarms out.

Phase I collects ``baseline_points`` plotted points, computes the limits and freezes
them; after that each new point is checked against the frozen limits with the
incremental rules. Individual values outside the specification raise an out-of-spec
alarm, kept apart from out-of-control (a process can be in control and out of spec,
and the other way round).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from edge.logic.quality.charts import ChartSpec, Limits, baseline
from edge.logic.quality.constants import constants
from edge.logic.quality.rules import RULES, RuleState, resolve_rules


@dataclass(frozen=True)
class SpcPoint:
    ts: float
    characteristic: str
    value: float  # plotted statistic (individual, or subgroup mean)
    dispersion: float | None  # MR, R or S
    z: float | None  # None while the baseline is being collected


@dataclass(frozen=True)
class SpcAlarm:
    ts: float
    characteristic: str
    kind: str  # out_of_control | out_of_spec
    rule: str  # rule id, or lsl / usl
    detail: str
    value: float


@dataclass(frozen=True)
class LimitsFrozen:
    ts: float
    characteristic: str
    spec: ChartSpec
    points: int
    reason: str


def fixed_spec(chart: str, n: int | None, center: float, sigma: float) -> ChartSpec:
    """Limits from a known centre and sigma."""
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
    _group: list[float] = field(default_factory=list)
    _baseline: list[float] = field(default_factory=list)
    _last: float | None = None
    _state: RuleState | None = None

    def __post_init__(self) -> None:
        self.rule_ids = resolve_rules(self.rules)
        if self.spec is not None:
            self._state = RuleState(self.rule_ids)

    @property
    def frozen(self) -> bool:
        return self.spec is not None

    def freeze(self, spec: ChartSpec) -> None:
        self.spec = spec
        self._state = RuleState(self.rule_ids)

    def restart_baseline(self) -> None:
        """Recalculation (an explicit, audited request): collect a new baseline."""
        self.spec, self._state = None, None
        self._baseline.clear()

    def add(self, ts: float, value: float) -> list[Any]:
        out: list[Any] = []
        if value is None or not math.isfinite(value):
            return out
        if self.lsl is not None and value < self.lsl:
            out.append(
                SpcAlarm(ts, self.name, "out_of_spec", "lsl", f"{value:g} below LSL {self.lsl:g}", value)
            )
        if self.usl is not None and value > self.usl:
            out.append(
                SpcAlarm(ts, self.name, "out_of_spec", "usl", f"{value:g} above USL {self.usl:g}", value)
            )
        if self.chart == "imr":
            disp = abs(value - self._last) if self._last is not None else None
            self._last = value
            out += self._point(ts, value, disp, [value])
            return out
        self._group.append(value)
        if len(self._group) < (self.subgroup_size or 2):
            return out
        g, self._group = self._group, []
        arr = np.array(g)
        disp = float(np.ptp(arr)) if self.chart == "xbar-r" else float(arr.std(ddof=1))
        out += self._point(ts, float(arr.mean()), disp, g)
        return out

    def _point(self, ts: float, x: float, disp: float | None, raw: list[float]) -> list[Any]:
        if self.spec is None:
            self._baseline.extend(raw)
            points = len(self._baseline) // (self.subgroup_size or 1)
            out: list[Any] = [SpcPoint(ts, self.name, x, disp, None)]
            if points >= self.baseline_points:
                values = np.array(self._baseline)
                spec = baseline(self.chart, values=values, n=self.subgroup_size)
                self.freeze(spec)
                out.append(LimitsFrozen(ts, self.name, spec, points, "baseline complete"))
            return out
        lim = self.spec.primary
        z = (x - lim.center) / float(lim.point_sigma) if float(lim.point_sigma) > 0 else 0.0
        assert self._state is not None
        out = [SpcPoint(ts, self.name, x, disp, z)]
        for rule in self._state.add(z):
            out.append(SpcAlarm(ts, self.name, "out_of_control", rule, RULES[rule], x))
        return out
