"""Maintenance-plan benchmark: the cost per stored sample of evaluating every plan of a
50-asset line, as the agent (and ``lineside replay``) does for each sample it stores.

The line: 50 assets, each with a run signal, a cycle counter and a condition tag (motor
current), and five plans each — calendar (weekly), run hours (every 250 h), cycles
(every 100,000), a threshold held 10 min and a 24 h linear trend — 250 plans in all. The
stream: 4 h at 1 Hz of the 150 plan tags plus 50 tags no plan reads (a counter advances
every second, the current drifts with noise, the run signal changes now and then), and
a tick each second. Target: <= 2 us per stored sample. Printed beside it: a bare loop
doing one dict lookup per sample (the ceiling), and the line-logic loop of bench/logic.py
on its own stream, measured in the same run (the ratio says what the plans add to it).
"""

from __future__ import annotations

import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.table import Row, print_rows
from edge.logic.maintenance.engine import MaintenanceLogic, OrderTemplate
from edge.logic.maintenance.plans import PlanSpec

ASSETS = 50
T0 = 1795420800.0


def plans() -> list[tuple[PlanSpec, OrderTemplate]]:
    out = []
    for i in range(ASSETS):
        a = f"m{i:02d}"
        out += [
            (PlanSpec(f"{a}-cal", a, "calendar", every=7 * 86400, start=T0 + i * 3600), OrderTemplate()),
            (PlanSpec(f"{a}-run", a, "run_hours", every=250, tag=f"{a}.run"), OrderTemplate()),
            (PlanSpec(f"{a}-cyc", a, "cycles", every=100_000, tag=f"{a}.count"), OrderTemplate()),
            (
                PlanSpec(f"{a}-hold", a, "threshold", tag=f"{a}.current", limit=9.0, for_s=600),
                OrderTemplate(),
            ),
            (
                PlanSpec(
                    f"{a}-trend", a, "trend", tag=f"{a}.current", limit=12.0, window_s=86400, horizon_s=86400
                ),
                OrderTemplate(),
            ),
        ]
    return out


def samples(hours: float, seed: int = 1) -> list[tuple[float, str, object]]:
    rng = random.Random(seed)
    out: list[tuple[float, str, object]] = []
    count = [0] * ASSETS
    run = [True] * ASSETS
    for s in range(int(hours * 3600)):
        ts = T0 + s
        for i in range(ASSETS):
            a = f"m{i:02d}"
            if rng.random() < 1 / 600:
                run[i] = not run[i]
                out.append((ts, f"{a}.run", run[i]))
            if run[i]:
                count[i] = (count[i] + 1) & 0xFFFFFFFF
            out.append((ts, f"{a}.count", count[i]))
            out.append((ts, f"{a}.current", 5.0 + s / 3600 + rng.gauss(0, 0.05)))
            out.append((ts, f"{a}.other", rng.random()))
    return out


def line_logic_us() -> float:
    """µs per sample of the line-logic loop (bench/logic.py's line and stream, 1 h)."""
    from bench.logic import config
    from bench.logic import samples as line_samples
    from edge.config.production import build_line_logic

    data = line_samples(1.0)
    logic = build_line_logic(config())
    on_sample, tick = logic.on_sample, logic.tick
    last = data[0][0]
    t = time.process_time()
    for ts, tag, v in data:
        if ts - last >= 1.0:
            tick(ts)
            last = ts
        on_sample(ts, tag, v, True)
    return (time.process_time() - t) / len(data) * 1e6


def main() -> None:
    data = samples(4.0)
    n = len(data)
    probe: dict[str, int] = {"m00.count": 1}
    t = time.process_time()
    hits = 0
    for _ts, tag, _v in data:
        if tag in probe:
            hits += 1
    ceiling_us = (time.process_time() - t) / n * 1e6
    ml = MaintenanceLogic(plans())
    on_sample, tick = ml.on_sample, ml.tick
    due = 0
    last = data[0][0]
    t = time.process_time()
    for ts, tag, v in data:
        if ts - last >= 1.0:
            due += len(tick(ts))
            last = ts
        due += len(on_sample(ts, tag, v, True))
    us = (time.process_time() - t) / n * 1e6
    line_us = line_logic_us()
    print_rows(
        [
            Row("maint", "plans us per stored sample", us, "<= 2", ceiling_us, "bare dict-lookup loop", True),
            Row("maint", "line logic us per sample (same run)", line_us, "", None, ""),
            Row("maint", "plans / line logic (ratio)", us / line_us, "", None, ""),
        ],
        f"bench/maint.py  ({time.strftime('%Y-%m-%d %H:%M')}, {n:,} samples = 4 h of a 50-asset line, "
        f"{len(ml.trackers)} plans, {due} orders due)",
    )


if __name__ == "__main__":
    main()
