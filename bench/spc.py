"""SPC benchmark: all Nelson and Western Electric rules over 1,000,000 points in batch
(target <= 100 ms) and incremental evaluation of one new point (target <= 5 us).
The ceiling beside the batch figure is one numpy pass (|z| > 3) over the same array,
measured in the same run."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from edge.logic.spc_rules import RuleState, evaluate, resolve_rules


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
    print(f"\nbench/spc.py  ({time.strftime('%Y-%m-%d %H:%M')}, {len(rules)} rules, best of 5)")
    print(f"{'figure':<44} {'measured':>10} {'target':>10} {'ceiling':>10} {'ratio':>6}")
    print(
        f"{'batch, all rules, 1,000,000 points (ms)':<44} {batch * 1e3:>10.1f} {'<= 100':>10} {ceiling * 1e3:>10.1f} {ceiling / batch:>6.2f}"
    )
    print(f"{'incremental, one new point (us)':<44} {per_point * 1e6:>10.2f} {'<= 5':>10}")
    print(f"{'violations found (random normal data)':<44} {n_viol:>10,}")


if __name__ == "__main__":
    main()
