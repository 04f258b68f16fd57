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

import functools
import math
from collections import deque
from collections.abc import Iterator, Sequence
from typing import Any, NamedTuple, overload

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


class Violation(NamedTuple):
    """A rule broken at ``point`` (0-based index); ``points`` are all points of the
    pattern. A NamedTuple because a long series can yield tens of thousands."""

    rule: str
    point: int
    first: int  # first point of the pattern window
    mask: int  # for "k of w" rules: bit j set = point - j is beyond the zone; 0 = all points

    @property
    def points(self) -> tuple[int, ...]:
        if self.mask == 0:
            return tuple(range(self.first, self.point + 1))
        return tuple(sorted(self.point - j for j in range(self.point - self.first + 1) if self.mask >> j & 1))

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


def _window_count(b: npt.NDArray[np.bool_], w: int, out: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
    """Number of True among the last ``w`` values ending at each index (``w`` < 256),
    into ``out``: ``w − 1`` byte-wide adds of shifted views, no cumulative sum."""
    c = b.view(np.uint8)
    out[:] = c
    for j in range(1, min(w, len(b))):
        out[j:] += c[:-j]
    return out


def _all(
    b: npt.NDArray[np.bool_],
    w: int,
    out: npt.NDArray[np.bool_],
    t1: npt.NDArray[np.bool_],
    t2: npt.NDArray[np.bool_],
) -> npt.NDArray[np.bool_]:
    """True where the last ``w`` values are all True (a run of at least ``w``), False for
    the first ``w − 1`` indices; into ``out`` (``t1``, ``t2``: scratch, all distinct from
    ``b``). By doubling: an AND of the window of length L with itself shifted by L gives
    the window of 2L, and a last AND with a shift of the remainder closes it, about
    log2(w) byte-wide passes."""
    n = len(b)
    if w <= 1:
        out[:] = b
        return out
    if n < w:
        out[:] = False
        return out
    cur, span, bufs, k = b, 1, (t1, t2), 0
    while 2 * span <= w:
        nxt = bufs[k]
        k ^= 1
        nxt[:span] = False
        np.logical_and(cur[span:], cur[:-span], out=nxt[span:])
        cur, span = nxt, 2 * span
    rest = w - span
    if rest == 0:
        out[:] = cur
        return out
    out[:rest] = False
    np.logical_and(cur[rest:], cur[:-rest], out=out[rest:])
    return out


class _Series:
    """What several rules read of one series, computed once, all as byte-wide masks
    straight from comparisons of z (no |z| or differences as floats): z beyond ±k, its
    sign, and the sign of each step (z[i+1] > z[i] is d > 0 exactly: a difference of two
    finite doubles is 0 only when they are equal; NaN compares false either way). The
    rules work in a few scratch masks allocated once: fresh megabyte arrays per step
    cost more in page faults than the passes themselves."""

    def __init__(self, z: Array) -> None:
        self.z = z
        self.n = n = len(z)
        self.pos, self.neg = z > 0, z < 0
        self.dpos, self.dneg = z[1:] > z[:-1], z[1:] < z[:-1]
        self._zones: dict[tuple[float, bool], npt.NDArray[np.bool_]] = {}
        self.tmp = [np.empty(n, bool) for _ in range(5)]

    def zone(self, lim: float, upper: bool) -> npt.NDArray[np.bool_]:
        """z > lim (``upper``) or z < −lim (kept: the zone rules share them)."""
        key = (lim, upper)
        if key not in self._zones:
            self._zones[key] = self.z > lim if upper else self.z < -lim
        return self._zones[key]

    def beyond(self, lim: float, out: npt.NDArray[np.bool_]) -> npt.NDArray[np.bool_]:
        """|z| > lim, into ``out``."""
        return np.logical_or(self.zone(lim, True), self.zone(lim, False), out=out)

    def within(
        self, lim: float, out: npt.NDArray[np.bool_], t: npt.NDArray[np.bool_]
    ) -> npt.NDArray[np.bool_]:
        """|z| < lim (false for NaN, as |NaN| < lim is), into ``out``."""
        np.less(self.z, lim, out=out)
        np.greater(self.z, -lim, out=t)
        return np.logical_and(out, t, out=out)


def _hits(
    kind: str, a: int, w: int, lim: float, s: _Series
) -> list[tuple[npt.NDArray[np.intp], npt.NDArray[np.int64] | None]]:
    """Indices completing the pattern, and for "k of w" the bitmask of points beyond."""
    n = s.n
    t0, t1, t2, t3, t4 = s.tmp
    if kind == "beyond":
        if lim == 3.0 and (3.0, True) not in s._zones:  # rule 1 alone: no zone to keep
            np.greater(s.z, lim, out=t0)
            np.less(s.z, -lim, out=t1)
            return [(np.flatnonzero(np.logical_or(t0, t1, out=t0)), None)]
        return [(np.flatnonzero(s.beyond(lim, t0)), None)]
    if kind == "side_run":
        up = _all(s.pos, a, t0, t2, t3)
        down = _all(s.neg, a, t1, t2, t3)
        return [(np.flatnonzero(np.logical_or(up, down, out=up)), None)]
    if kind == "trend":
        if n < a:
            return [(np.empty(0, np.intp), None)]
        m = n - 1
        up = _all(s.dpos, a - 1, t0[:m], t2[:m], t3[:m])
        down = _all(s.dneg, a - 1, t1[:m], t2[:m], t3[:m])
        return [(np.flatnonzero(np.logical_or(up, down, out=up)) + 1, None)]
    if kind == "alternate":
        if n < a:
            return [(np.empty(0, np.intp), None)]
        # consecutive differences of strictly opposite signs (d[i]·d[i−1] < 0)
        m = n - 2
        flip = np.logical_and(s.dpos[1:], s.dneg[:-1], out=t0[:m])
        np.logical_or(flip, np.logical_and(s.dneg[1:], s.dpos[:-1], out=t1[:m]), out=flip)
        return [(np.flatnonzero(_all(flip, a - 2, t1[:m], t2[:m], t3[:m])) + 2, None)]
    if kind == "within_run":
        return [(np.flatnonzero(_all(s.within(lim, t0, t1), a, t4, t2, t3)), None)]
    if kind == "outside_run":
        return [(np.flatnonzero(_all(s.beyond(lim, t0), a, t4, t2, t3)), None)]
    out: list[tuple[npt.NDArray[np.intp], npt.NDArray[np.int64] | None]] = []
    for side in (s.zone(lim, True), s.zone(lim, False)):
        count = _window_count(side, w, t0.view(np.uint8))
        hit = np.logical_and(np.greater_equal(count, a, out=t1), side, out=t1)
        idx = np.flatnonzero(hit)
        mask = np.zeros(len(idx), np.int64)
        for j in range(w):
            prev = idx - j
            ok = prev >= 0
            mask[ok] |= side[prev[ok]].astype(np.int64) << j
        out.append((idx, mask))
    return out


#: A ``Violation`` from a tuple of its fields at C speed (``Violation._make`` is a
#: Python function).
_new_violation = functools.partial(tuple.__new__, Violation)


class Violations(Sequence[Violation]):
    """The violations of a series, ordered by point then rule id, held as arrays: a
    long series can have tens of thousands, and making a Python object of each costs
    more than finding them. A :class:`Violation` is made for each item read (iteration,
    indexing); ``point`` and ``first`` are the arrays themselves."""

    __slots__ = ("_names", "first", "mask", "point", "rid")

    def __init__(
        self,
        names: list[str],
        rid: npt.NDArray[np.int32],
        point: npt.NDArray[np.intp],
        first: npt.NDArray[np.intp],
        mask: npt.NDArray[np.int64],
    ) -> None:
        self._names, self.rid, self.point, self.first, self.mask = names, rid, point, first, mask

    def __len__(self) -> int:
        return len(self.point)

    @overload
    def __getitem__(self, i: int) -> Violation: ...
    @overload
    def __getitem__(self, i: slice) -> Violations: ...
    def __getitem__(self, i: int | slice) -> Violation | Violations:
        if isinstance(i, slice):
            return Violations(self._names, self.rid[i], self.point[i], self.first[i], self.mask[i])
        return Violation(self._names[self.rid[i]], int(self.point[i]), int(self.first[i]), int(self.mask[i]))

    def __iter__(self) -> Iterator[Violation]:
        rules = map(self._names.__getitem__, self.rid.tolist())
        return map(
            _new_violation,
            zip(rules, self.point.tolist(), self.first.tolist(), self.mask.tolist(), strict=True),
        )

    def __repr__(self) -> str:
        return f"Violations({len(self)})"


_NONE = np.empty(0, np.intp)


#: Points per chunk of a batch evaluation: the dozen masks of a chunk (256 kB each) are
#: reused from the allocator's heap and mostly stay in the CPU's cache, where masks of a
#: whole 1M-point series went to memory and cost a page fault per 4 kB on every call
#: (measured on 1M points: 1<<16 and 1<<20 both slower than 1<<17..1<<18).
CHUNK = 1 << 18
#: History a chunk takes from the one before: the longest pattern window.
_PAD = max(w for _k, _a, w, _l in _SPEC.values())


def evaluate(z: Array, rules: tuple[str, ...]) -> Violations:
    """All violations in a series of standardised points, ordered by point then rule
    (rule id, alphabetically). In chunks of :data:`CHUNK` points, each with the
    :data:`_PAD` points before it (a violation depends on its pattern window only)."""
    z = np.asarray(z, float)
    names = list(rules)
    n = len(z)
    if n == 0 or not names:
        return Violations(names, _NONE.astype(np.int32), _NONE, _NONE, _NONE.astype(np.int64))
    specs = [_SPEC[rule] for rule in names]
    idx_parts, rule_parts, mask_parts = [], [], []
    for start in range(0, n, CHUNK):
        lo = max(0, start - _PAD)
        series = _Series(z[lo : start + CHUNK])
        skip = start - lo  # the history's own points were the chunk before's
        cache: dict[tuple[str, int, int, float], list[tuple[Any, Any]]] = {}
        for r_i, spec in enumerate(specs):
            if spec not in cache:
                cache[spec] = _hits(*spec, series)
            for idx, mask in cache[spec]:
                if skip and len(idx) and idx[0] < skip:
                    keep = idx >= skip
                    idx = idx[keep]
                    mask = mask[keep] if mask is not None else None
                idx_parts.append(idx + lo)
                rule_parts.append(np.full(len(idx), r_i, np.int32))
                mask_parts.append(mask if mask is not None else np.zeros(len(idx), np.int64))
    idx = np.concatenate(idx_parts)
    rid = np.concatenate(rule_parts)
    mask = np.concatenate(mask_parts)
    rank = np.argsort(np.argsort(np.array(names)))  # a rule's place in alphabetical order
    order = np.lexsort((rank[rid], idx))
    idx, rid, mask = idx[order], rid[order], mask[order]
    widths = np.array([_SPEC[r][2] for r in names])[rid]
    first = np.maximum(0, idx - widths + 1)
    return Violations(names, rid, idx, first, mask)


class RuleState:
    """Incremental evaluation: ``add(z)`` returns the rules the new point violates.

    The rules are grouped by kind once, so a point costs one pass over the few counters
    each kind needs; the "k of w" windows are only counted for a point beyond the zone
    (the completing point must be one of them)."""

    def __init__(self, rules: tuple[str, ...]) -> None:
        self.rules = rules
        self.i = -1
        self.prev: float | None = None
        self.prev_d = 0.0
        self.up = self.down = self.inc = self.dec = self.alt = self.within = self.outside = 0
        self.last3: deque[float] = deque(maxlen=3)
        self.last5: deque[float] = deque(maxlen=5)
        by: dict[str, list[tuple[str, int, int, float]]] = {}
        for rule in rules:
            kind, a, w, lim = _SPEC[rule]
            by.setdefault(kind, []).append((rule, a, w, lim))
        self._beyond = [(r, lim) for r, _a, _w, lim in by.get("beyond", [])]
        self._side = [(r, a) for r, a, _w, _l in by.get("side_run", [])]
        self._trend = [(r, a - 1) for r, a, _w, _l in by.get("trend", [])]
        self._alternate = [(r, a - 2) for r, a, _w, _l in by.get("alternate", [])]
        self._k_of_w = [(r, a, w, lim) for r, a, w, lim in by.get("k_of_w", [])]
        self._k_of_w_fast = [
            (r, a, self.last3 if w == 3 else self.last5, lim, lim.__lt__, (-lim).__gt__)
            for r, a, w, lim in self._k_of_w
        ]
        self._within = [(r, a) for r, a, _w, _l in by.get("within_run", [])]
        self._outside = [(r, a) for r, a, _w, _l in by.get("outside_run", [])]
        order = {r: i for i, r in enumerate(rules)}
        self._order = order.__getitem__
        # Only the counters some chosen rule reads are kept up to date.
        self._need_d = bool(self._trend or self._alternate)
        self._need_band = bool(self._within or self._outside)
        self._need_win = bool(self._k_of_w)
        # The smallest threshold of each group: below it no rule of the group can fire.
        self._beyond_min = min((lim for _r, lim in self._beyond), default=math.inf)
        self._side_min = min((a for _r, a in self._side), default=math.inf)
        self._k_min = min((lim for _r, _a, _w, lim in self._k_of_w), default=math.inf)

    def add(self, z: float) -> list[str]:
        # The live agent calls this once per plotted point: counters are read into
        # locals, and each group of rules is only looped over when the smallest
        # threshold of the group is reached (mostly it is not).
        self.i += 1
        hit: list[str] = []
        if z > 0:
            az = z
            up = self.up + 1
            self.up, self.down = up, 0
        elif z < 0:
            az = -z
            up = self.down + 1  # the run on the side of z
            self.up, self.down = 0, up
        else:
            az = z
            up = self.up = self.down = 0
        if az > self._beyond_min:
            for rule, lim in self._beyond:
                if az > lim:
                    hit.append(rule)
        if up >= self._side_min:
            for rule, a in self._side:
                if up >= a:
                    hit.append(rule)
        if self._need_d:
            self._add_d(z, hit)
        if self._need_win:
            self.last3.append(z)
            self.last5.append(z)
            if az > self._k_min:
                self._add_k_of_w(z, az, hit)
        if self._need_band:
            self._add_band(az, hit)
        if hit and len(hit) > 1:
            hit.sort(key=self._order)
        return hit

    def _add_d(self, z: float, hit: list[str]) -> None:
        """Trend and alternation: counters of the differences between points."""
        prev = self.prev
        if prev is not None:
            d = z - prev
            if d > 0:
                self.inc += 1
                self.dec = 0
            elif d < 0:
                self.dec += 1
                self.inc = 0
            else:
                self.inc = self.dec = 0
            self.alt = self.alt + 1 if d * self.prev_d < 0 else 0
            self.prev_d = d
        self.prev = z
        run = self.inc if self.inc > self.dec else self.dec
        for rule, a in self._trend:
            if run >= a:
                hit.append(rule)
        for rule, a in self._alternate:
            if self.alt >= a:
                hit.append(rule)

    def _add_k_of_w(self, z: float, az: float, hit: list[str]) -> None:
        """ "k of w beyond the zone": counted only when the new point is beyond it."""
        for rule, a, win, lim, above, below in self._k_of_w_fast:
            if az > lim:
                # Counted in C: ``lim.__lt__`` over the window is "v > lim" per point.
                n = sum(map(above, win)) if z > lim else sum(map(below, win))
                if n >= a:
                    hit.append(rule)

    def _add_band(self, az: float, hit: list[str]) -> None:
        """Runs within and outside ±1σ."""
        if az < 1:
            self.within += 1
            self.outside = 0
        elif az > 1:
            self.outside += 1
            self.within = 0
        else:
            self.within = self.outside = 0
        for rule, a in self._within:
            if self.within >= a:
                hit.append(rule)
        for rule, a in self._outside:
            if self.outside >= a:
                hit.append(rule)
