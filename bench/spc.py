"""SPC benchmark: all Nelson and Western Electric rules over 1,000,000 points in batch
(target <= 100 ms) and incremental evaluation of one new point (target <= 5 us).
The ceiling beside the batch figure is one numpy pass (|z| > 3) over the same array,
measured in the same run."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

from bench.table import Row, print_rows

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from edge.logic.quality.rules import RuleState, evaluate, resolve_rules


def best(fn, repeat: int = 5) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main() -> None:
    rules = resolve_rules("nelson") + resolve_rules("we")
    rng = np.random.default_rng(7)
    z = rng.normal(0, 1, 1_000_000)
    batch = best(lambda: evaluate(z, rules))
    ceiling = best(lambda: np.nonzero(np.abs(z) > 3))
    n_viol = len(evaluate(z, rules))
    state = RuleState(rules)
    pts = [float(v) for v in z[:200_000]]
    add = state.add
    t = time.perf_counter()
    for v in pts:
        add(v)
    per_point = (time.perf_counter() - t) / len(pts)
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
            Row("spc", "SPC incremental, one point (us)", per_point * 1e6, "<= 5"),
        ],
        f"bench/spc.py  ({time.strftime('%Y-%m-%d %H:%M')}, {len(rules)} rules, best of 5, {n_viol:,} violations)",
    )


if __name__ == "__main__":
    main()
