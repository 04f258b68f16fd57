"""Line-logic benchmark: tag samples per second through the whole line logic on one core
(state machines, downtime, counters, orders), and ``lineside replay`` from CSV.

The input is the example line (config/line1.yaml) with its 19 tags padded to 50 tags at
1 Hz: most samples belong to tags no machine reads, as on a real line. Target:
>= 200,000 samples/s (<= 5 us per sample). The ceiling printed beside it is a bare
Python loop doing one dict lookup per sample, measured in the same run.
"""

from __future__ import annotations

import csv
import random
import sys
import tempfile
import time
from pathlib import Path

from bench.table import Row, print_rows

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from edge.config.line import parse_config
from edge.config.production import build_line_logic
from edge.runtime.replay import replay

REPO = Path(__file__).resolve().parent.parent
OTHER_VALUE: dict[str, object] = {
    "filler.recipe": "COLA-500",
    "capper.andon": False,
    "capper.running": True,
    "capper.faulted": False,
}


def config():  # type: ignore[no-untyped-def]
    import yaml

    data = yaml.safe_load((REPO / "config" / "line1.yaml").read_text())
    extra = [
        {"name": f"aux.t{i:02d}", "device": "capper", "address": f"hr:{100 + 2 * i}", "type": "float32"}
        for i in range(31)
    ]
    data["tags"] += extra
    return parse_config(data)


def samples(hours: float, seed: int = 1) -> list[tuple[float, str, object]]:
    rng = random.Random(seed)
    t0 = 1795420800.0  # 2026-11-23 00:00 local-ish; the calendar only labels shifts
    out: list[tuple[float, str, object]] = []
    for name in (
        "filler.temperature",
        "filler.fill_weight",
        "capper.air_pressure",
        "labeller.speed",
        "checkweigher.weight",
        "checkweigher.heartbeat",
        "palletiser.cycle_count",
        "filler.speed_setpoint",
        "capper.good_count",
    ):
        OTHER_VALUE.setdefault(name, 1)
    count = scrap = 0
    state, fault, until = 1, 0, 0.0
    aux = [f"aux.t{i:02d}" for i in range(31)]
    other = [
        "filler.temperature",
        "filler.fill_weight",
        "capper.air_pressure",
        "labeller.speed",
        "checkweigher.weight",
        "checkweigher.heartbeat",
        "palletiser.cycle_count",
        "filler.recipe",
        "filler.speed_setpoint",
        "capper.andon",
        "capper.running",
        "capper.faulted",
        "capper.good_count",
    ]
    for s in range(int(hours * 3600)):
        ts = t0 + s
        if state == 1 and rng.random() < 1 / 900:
            state, fault, until = 2, rng.choice([101, 102, 205]), ts + rng.uniform(30, 600)
        elif state == 2 and ts >= until:
            state, fault = 1, 0
        if state == 1:
            count += 2
            if rng.random() < 0.01:
                scrap += 1
        out.append((ts, "filler.state", state))
        out.append((ts, "filler.fault_code", fault))
        out.append((ts, "filler.cycle_count", count))
        out.append((ts, "capper.scrap_count", scrap))
        out.extend((ts, name, OTHER_VALUE[name]) for name in other[:15])
        out.extend((ts, name, rng.random()) for name in aux)
    return out


def main() -> None:
    cfg = config()
    data = samples(4.0)
    n = len(data)
    # Ceiling: one dict lookup per sample in a bare loop.
    probe: dict[str, int] = {"filler.state": 1}
    t = time.perf_counter()
    hits = 0
    for _ts, tag, _v in data:
        if tag in probe:
            hits += 1
    ceiling = n / (time.perf_counter() - t)
    logic = build_line_logic(cfg)
    facts = 0
    t = time.perf_counter()
    on_sample, tick = logic.on_sample, logic.tick
    last = data[0][0]
    for ts, tag, v in data:
        if ts - last >= 1.0:
            facts += len(tick(ts))
            last = ts
        facts += len(on_sample(ts, tag, v, True))
    rate = n / (time.perf_counter() - t)
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "s.csv"
        day = data[: n // 4]  # one hour
        with p.open("w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["ts", "tag", "value"])
            w.writerows(day)
        t = time.perf_counter()
        replay(cfg, p)
        replay_rate = len(day) / (time.perf_counter() - t)
    print_rows(
        [
            Row("logic", "line logic samples/s", rate, ">= 200,000", ceiling, "bare dict-lookup loop"),
            Row("logic", "line logic us per sample", 1e6 / rate, "<= 5"),
            Row("logic", "replay from CSV samples/s", replay_rate, "seconds/day"),
        ],
        f"bench/logic.py  ({time.strftime('%Y-%m-%d %H:%M')}, {n:,} samples = 4 h of 50 tags at 1 Hz, {facts:,} facts)",
    )


if __name__ == "__main__":
    main()
