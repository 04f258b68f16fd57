"""SPC benchmark: all Nelson and Western Electric rules over 1,000,000 points in batch
(target <= 100 ms; the violations come back as arrays, and a second row adds making
each of the ~41,000 a Python object) and incremental evaluation of one new point (target <= 5 us), the
rules alone and each live chart kind the agent runs (I-MR, X̄-R, X̄-S, p, np, c, u, EWMA,
CUSUM: one plotted point against frozen limits, with the Western Electric rules where
the chart has run rules). The ceiling beside each figure is one numpy pass (|z| > 3)
over the same 1M-point array, measured in the same run (per point for the incremental
rows): the ratio says how far a point-at-a-time Python path is from vectorised numpy.
Times are the process's CPU time (``time.process_time``), best of several runs: on the
shared 2-core machine wall time mostly measures the other processes."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

from bench.table import Row, print_rows

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from edge.logic.quality.live import CharacteristicTracker, fixed_spec
from edge.logic.quality.rules import RuleState, evaluate, resolve_rules

LIVE = ("imr", "xbar-r", "xbar-s", "p", "np", "c", "u", "ewma", "cusum")


def live_per_point(chart: str, points: int = 50_000) -> float:
    """Seconds per plotted point of a frozen tracker of ``chart``."""
    rng = np.random.default_rng(3)
    n = 5 if chart in ("xbar-r", "xbar-s") else None
    t = CharacteristicTracker("b", chart, n, "we", 25, lsl=480.0, usl=520.0, sample_size=200)
    if chart in ("p", "np", "c", "u"):
        sizes = rng.integers(150, 250, 25).astype(float) if chart in ("p", "u") else np.full(25, 200.0)
        for i, sz in enumerate(sizes):
            t.add_count(float(i), float(rng.binomial(int(sz), 0.05)), float(sz))
        counts = [float(c) for c in rng.binomial(200, 0.05, points)]
        size = [float(x) for x in rng.integers(150, 250, points)]
        add = t.add_count
        start = time.process_time()
        for i in range(points):
            add(0.0, counts[i], size[i])
        return (time.process_time() - start) / points
    t.freeze(fixed_spec(chart, n, 500.0, 1.0))
    if n:
        groups = rng.normal(500, 1, (points, n)).tolist()
        addg = t.add_subgroup
        start = time.process_time()
        for g in groups:
            addg(0.0, g)
        return (time.process_time() - start) / points
    xs = rng.normal(500, 1, points).tolist()
    add1 = t.add
    start = time.process_time()
    for x in xs:
        add1(0.0, x)
    return (time.process_time() - start) / points


def best(fn, repeat: int = 5) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(repeat):
        t = time.process_time()
        fn()
        times.append(time.process_time() - t)
    return min(times)


def main() -> None:
    rules = resolve_rules("nelson") + resolve_rules("we")
    rng = np.random.default_rng(7)
    z = rng.normal(0, 1, 1_000_000)
    batch = best(lambda: evaluate(z, rules))
    # The same with every violation made a Python object (what a caller iterating all
    # of them pays on top: ``evaluate`` returns them as arrays).
    objects = best(lambda: list(evaluate(z, rules)))
    ceiling = best(lambda: np.nonzero(np.abs(z) > 3))
    n_viol = len(evaluate(z, rules))
    state = RuleState(rules)
    pts = [float(v) for v in z[:200_000]]
    add = state.add
    t = time.process_time()
    for v in pts:
        add(v)
    per_point = (time.process_time() - t) / len(pts)
    per_numpy = ceiling / len(z)
    live = [
        Row(
            "spc",
            f"SPC live {chart}, one point (us)",
            min(live_per_point(chart) for _ in range(3)) * 1e6,
            "<= 5",
            per_numpy * 1e6,
            "one numpy pass, per point",
            True,
        )
        for chart in LIVE
    ]
    print_rows(
        [
            Row(
                "spc",
                "SPC batch, all rules, 1M points (ms)",
                batch * 1e3,
                "<= 100",
                ceiling * 1e3,
                "one numpy pass",
                True,
            ),
            Row(
                "spc",
                "SPC batch, all rules, 1M points, as objects (ms)",
                objects * 1e3,
                "",
                ceiling * 1e3,
                "one numpy pass",
                True,
            ),
            Row(
                "spc",
                "SPC incremental rules, one point (us)",
                per_point * 1e6,
                "<= 5",
                per_numpy * 1e6,
                "one numpy pass, per point",
                True,
            ),
            *live,
        ],
        f"bench/spc.py  ({time.strftime('%Y-%m-%d %H:%M')}, {len(rules)} rules, best of 5, {n_viol:,} violations)",
    )


if __name__ == "__main__":
    main()
