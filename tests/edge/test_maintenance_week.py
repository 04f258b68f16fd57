"""A recorded week of the demo line: the maintenance plans raise the same orders in
``lineside replay`` as in the agent's way of running them (ticks on its own clock between
samples, and a restart in the middle of the week that continues from the saved meters)."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from edge.config.line import load_config
from edge.config.maintenance import build_maintenance_logic
from edge.config.production import build_line_logic
from edge.runtime.replay import replay
from edge.simulate.model import LineModel
from tests.conftest import example_on_free_ports

T0 = 1_795_900_000.0  # 2026-11-28 (Saturday), so the weekly plan's first point (Mon 06:00) is inside
TAGS = (
    "filler.state",
    "filler.fault_code",
    "filler.cycle_count",
    "capper.running",
    "capper.faulted",
    "capper.good_count",
    "capper.scrap_count",
    "capper.motor_current",
)


def test_a_recorded_week_replays_to_the_same_orders_as_the_agent(tmp_path: Path) -> None:
    def changes(d: dict[str, Any]) -> None:
        d.pop("characteristics", None)
        for p in d["maintenance"]["plans"]:
            if p["id"] == "capper-run-hours":
                p["trigger"] = {"run_hours": {"every": 24}}
            if p["id"] == "valves-cycles":
                p["trigger"] = {"cycles": {"every": 100_000}}

    cfg = load_config(example_on_free_ports(tmp_path, data_changes=changes))
    model = LineModel(
        seed=11, ideal_rate_per_min=30, mtbf_s=20_000, micro_stop_every_s=1e12, wear_a_per_hour=0.05
    )
    sim = {t.name: t.sim for t in cfg.tags if t.name in TAGS}
    rows: list[tuple[float, str, Any]] = []
    last: dict[str, Any] = {}
    model.step(T0)
    for i in range(1, 7 * 24 * 30 + 1):  # a week, a reading every two minutes
        ts = T0 + 120 * i
        model.step(ts)
        sig = model.signals()
        for name, signal in sim.items():
            v = sig[signal]  # type: ignore[index]
            if last.get(name) != v:
                last[name] = v
                rows.append((ts, name, v))

    # The agent's way: ticks every 30 s of its own clock between samples; stopped and
    # restarted (from the saved meters) half-way through the week.
    logic, maint = build_line_logic(cfg), build_maintenance_logic(cfg)
    live: list[str] = []
    clock = T0
    half = T0 + 3.5 * 86400
    restarted = False
    for ts, tag, v in rows:
        while clock + 30 <= ts:
            clock += 30
            live += [f.due.key for f in maint.tick(clock) if hasattr(f, "due")]
        if not restarted and ts >= half:
            saved = maint.snapshot(clock)
            maint = build_maintenance_logic(cfg)
            maint.restore(saved)
            restarted = True
        facts = logic.on_sample(ts, tag, v, True)
        live += [f.due.key for f in maint.follow(facts) if hasattr(f, "due")]
        live += [f.due.key for f in maint.on_sample(ts, tag, v, True) if hasattr(f, "due")]

    path = tmp_path / "week.csv"
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["ts", "tag", "value"])
        w.writerows((repr(ts), tag, int(v) if isinstance(v, bool) else v) for ts, tag, v in rows)
    replayed = [o["key"] for o in replay(cfg, path, kpis=False)["maintenance"] if o["plan"]]
    assert sorted(replayed) == sorted(live)
    plans = {k.split("@")[0].split("=")[0].split("#")[0] for k in live}
    assert plans >= {"filler-weekly", "valves-cycles", "capper-run-hours", "capper-motor-current"}
    assert len(live) == len(set(live))  # one order per due point, the restart included
