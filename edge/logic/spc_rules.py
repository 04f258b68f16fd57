"""Run rules on standardised chart points z = (x − centre)/σ_point (pure).

Nelson 1–8 and Western Electric 1–4, each selectable. A violation names the rule, the
point that completed the pattern and all points of the pattern. ``evaluate`` works on a
whole series with numpy (run lengths and window counts by cumulative sums);
``RuleState`` evaluates one new point at a time in O(1) for the live agent. Both give
the same answers (a property test checks it).

For the zone rules (2 of 3 beyond 2σ, 4 of 5 beyond 1σ) the completing point must be
one of the points beyond the zone, as in Minitab and most SPC packages.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

Array = npt.NDArray[np.float64]

NELSON = {
    "nelson1": "1 point beyond 3σ",
    "nelson2": "9 points in a row on one side of the centre line",
    "nelson3": "6 points in a row steadily increasing or decreasing",
    "nelson4": "14 points in a row alternating up and down",
    "nelson5": "2 of 3 points beyond 2σ on the same side",
    "nelson6": "4 of 5 points beyond 1σ on the same side",
    "nelson7": "15 points in a row within 1σ",
    "nelson8": "8 points in a row beyond 1σ on either side",
}
WESTERN_ELECTRIC = {
    "we1": "1 point beyond 3σ",
    "we2": "2 of 3 points beyond 2σ on the same side",
    "we3": "4 of 5 points beyond 1σ on the same side",
    "we4": "8 points in a row on one side of the centre line",
}
RULES = NELSON | WESTERN_ELECTRIC
RULE_SETS = {"nelson": tuple(NELSON), "we": tuple(WESTERN_ELECTRIC)}

# rule -> (kind, parameter(s))
_SPEC: dict[str, tuple[str, int, int, float]] = {
    "nelson1": ("beyond", 1, 1, 3.0),
    "we1": ("beyond", 1, 1, 3.0),
    "nelson2": ("side_run", 9, 9, 0.0),
    "we4": ("side_run", 8, 8, 0.0),
    "nelson3": ("trend", 6, 6, 0.0),
    "nelson4": ("alternate", 14, 14, 0.0),
    "nelson5": ("k_of_w", 2, 3, 2.0),
    "we2": ("k_of_w", 2, 3, 2.0),
    "nelson6": ("k_of_w", 4, 5, 1.0),
    "we3": ("k_of_w", 4, 5, 1.0),
    "nelson7": ("within_run", 15, 15, 1.0),
    "nelson8": ("outside_run", 8, 8, 1.0),
}


@dataclass(frozen=True)
class Violation:
    rule: str
    index: int  # the point that completed the pattern (0-based)
    points: tuple[int, ...]  # every point of the pattern

    @property
    def text(self) -> str:
        return RULES[self.rule]


def resolve_rules(names: str | list[str]) -> tuple[str, ...]:
    """``"nelson"``, ``"we"`` or a list of rule ids → rule ids; ValueError names the unknown."""
    if isinstance(names, str):
        if names in RULE_SETS:
            return RULE_SETS[names]
        names = [n.strip() for n in names.split(",") if n.strip()]
    out: list[str] = []
    for n in names:
        if n in RULE_SETS:
            out.extend(RULE_SETS[n])
        elif n in RULES:
            out.append(n)
        else:
            raise ValueError(f"unknown rule {n!r} (use nelson, we, nelson1..nelson8, we1..we4)")
    return tuple(dict.fromkeys(out))


def _run(b: npt.NDArray[np.bool_]) -> npt.NDArray[np.int64]:
    """Length of the run of True ending at each index."""
    idx = np.arange(len(b))
    last_false = np.maximum.accumulate(np.where(~b, idx, -1))
    return idx - last_false


def _window_count(b: npt.NDArray[np.bool_], w: int) -> npt.NDArray[np.int64]:
    cs = np.concatenate(([0], np.cumsum(b, dtype=np.int64)))
    i = np.arange(1, len(b) + 1)
    return cs[i] - cs[np.maximum(0, i - w)]


def evaluate(z: Array, rules: tuple[str, ...]) -> list[Violation]:
    """All violations in a series of standardised points, in point order."""
    z = np.asarray(z, float)
    n = len(z)
    out: list[Violation] = []
    if n == 0:
        return out
    up, down = z > 0, z < 0
    d = np.diff(z)
    for rule in rules:
        kind, a, w, lim = _SPEC[rule]
        if kind == "beyond":
            hits = np.nonzero(np.abs(z) > lim)[0]
            out += [Violation(rule, int(i), (int(i),)) for i in hits]
        elif kind == "side_run":
            run = np.maximum(_run(up), _run(down))
            hits = np.nonzero(run >= a)[0]
            out += [Violation(rule, int(i), tuple(range(int(i) - a + 1, int(i) + 1))) for i in hits]
        elif kind == "trend":
            inc = np.concatenate(([0], _run(d > 0)))
            dec = np.concatenate(([0], _run(d < 0)))
            hits = np.nonzero(np.maximum(inc, dec) >= a - 1)[0]
            out += [Violation(rule, int(i), tuple(range(int(i) - a + 1, int(i) + 1))) for i in hits]
        elif kind == "alternate":
            alt = np.concatenate(([0, 0], _run(d[1:] * d[:-1] < 0))) if n > 2 else np.zeros(n, int)
            hits = np.nonzero(alt >= a - 2)[0]
            out += [Violation(rule, int(i), tuple(range(int(i) - a + 1, int(i) + 1))) for i in hits]
        elif kind == "k_of_w":
            for side in (z > lim, z < -lim):
                cnt = _window_count(side, w)
                hits = np.nonzero((cnt >= a) & side)[0]
                for i in hits:
                    lo = max(0, int(i) - w + 1)
                    pts = tuple(j for j in range(lo, int(i) + 1) if side[j])
                    out.append(Violation(rule, int(i), pts))
        elif kind == "within_run":
            hits = np.nonzero(_run(np.abs(z) < lim) >= a)[0]
            out += [Violation(rule, int(i), tuple(range(int(i) - a + 1, int(i) + 1))) for i in hits]
        elif kind == "outside_run":
            hits = np.nonzero(_run(np.abs(z) > lim) >= a)[0]
            out += [Violation(rule, int(i), tuple(range(int(i) - a + 1, int(i) + 1))) for i in hits]
    out.sort(key=lambda v: (v.index, v.rule))
    return out


class RuleState:
    """Incremental evaluation: ``add(z)`` returns the rules the new point violates."""

    def __init__(self, rules: tuple[str, ...]) -> None:
        self.rules = rules
        self.i = -1
        self.prev: float | None = None
        self.prev_d = 0.0
        self.up = self.down = self.inc = self.dec = self.alt = self.within = self.outside = 0
        self.last3: deque[float] = deque(maxlen=3)
        self.last5: deque[float] = deque(maxlen=5)

    def add(self, z: float) -> list[str]:
        self.i += 1
        self.up = self.up + 1 if z > 0 else 0
        self.down = self.down + 1 if z < 0 else 0
        if self.prev is not None:
            d = z - self.prev
            self.inc = self.inc + 1 if d > 0 else 0
            self.dec = self.dec + 1 if d < 0 else 0
            self.alt = self.alt + 1 if d * self.prev_d < 0 else 0
            self.prev_d = d
        self.prev = z
        az = abs(z)
        self.within = self.within + 1 if az < 1 else 0
        self.outside = self.outside + 1 if az > 1 else 0
        self.last3.append(z)
        self.last5.append(z)
        hit: list[str] = []
        for rule in self.rules:
            kind, a, _w, lim = _SPEC[rule]
            if kind == "beyond":
                ok = az > lim
            elif kind == "side_run":
                ok = max(self.up, self.down) >= a
            elif kind == "trend":
                ok = max(self.inc, self.dec) >= a - 1
            elif kind == "alternate":
                ok = self.alt >= a - 2
            elif kind == "k_of_w":
                win = self.last3 if _w == 3 else self.last5
                ok = (z > lim and sum(v > lim for v in win) >= a) or (
                    z < -lim and sum(v < -lim for v in win) >= a
                )
            elif kind == "within_run":
                ok = self.within >= a
            else:
                ok = self.outside >= a
            if ok:
                hit.append(rule)
        return hit
