"""Replay of a recorded day of the shipped demo line (config/line1.yaml and the simulator
model, deterministic for its seed) through the line logic and the SPC runtime, as the
agent feeds them.

Finding "SPC alarm storm": the shipped config charted every 100 ms reading, kept sampling
while the line stood and re-fired right after acknowledgement — 42 alarms in 575 s.
Now, in control, a whole day gives at most the configured expected false alarms; and
after a 1.5σ shift of the fill weight the alarm comes within the run length the rules
promise (X̄ of 5, rule 1: ARL 1.57 subgroups, Montgomery §6.2.3)."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from edge.config.line import LineConfig, load_config
from edge.config.production import build_line_logic
from edge.logic.quality.arl import chart_arl, shewhart_arl
from edge.logic.quality.live import LimitsFrozen, SpcAlarm, SpcPoint
from edge.runtime.spc import QualityRuntime
from edge.simulate.model import LineModel
from edge.store import Store
from tests.conftest import REPO

T0 = datetime(2026, 11, 23, 0, 0, tzinfo=ZoneInfo("Europe/Berlin")).timestamp()


class Host:
    """The agent as the SPC runtime sees it, without devices: writes go nowhere."""

    def __init__(self, cfg: LineConfig, store: Store) -> None:
        self.cfg, self.store = cfg, store
        self.logic = build_line_logic(cfg)
        self.filter = type("F", (), {"last": {}})()
        self.writes: list[tuple[str, Any]] = []

    def _background(self, coro: Any) -> None:
        coro.close()

    async def write(self, tag_name: str, value: Any, *, requested_by: str, reason: str = "") -> None:
        self.writes.append((tag_name, value))


def shipped(tmp_path: Path) -> tuple[LineConfig, Host, QualityRuntime]:
    cfg = load_config(REPO / "config" / "line1.yaml")
    cfg = cfg.model_copy(update={"store": cfg.store.model_copy(update={"path": tmp_path / "r.db"})})
    host = Host(cfg, Store(tmp_path / "r.db"))
    return cfg, host, QualityRuntime(host)


def day(
    cfg: LineConfig,
    host: Host,
    rt: QualityRuntime,
    model: LineModel,
    seconds: int,
    on_step: Callable[..., None],
) -> Iterator[Any]:
    """The model stepped every 2 s (a recording at 0.5 Hz: 4 bottles a step at full
    speed, the fill weight of the last one); every changed value of the tags the filler's
    logic and SPC read goes through both (the agent's data path); facts come out."""
    filler = host.logic.machines["filler"].tags
    tags = [t for t in cfg.tags if t.sim and (t.name in filler or t.name in rt.tags)]
    last: dict[str, Any] = {}
    for i in range(0, seconds, 2):
        ts = T0 + i
        on_step(ts, model)
        model.step(ts)
        sig = model.signals()
        for t in tags:
            v = sig[t.sim]
            if t.name == "filler.fill_weight":
                v = round(v, 3)
            if last.get(t.name) == v:
                continue
            last[t.name] = v
            yield from host.logic.on_sample(ts, t.name, v, True)
            yield from rt.feed(ts, t.name, v, True)


def test_a_day_in_control_gives_at_most_the_expected_false_alarms(tmp_path: Path) -> None:
    cfg, host, rt = shipped(tmp_path)
    c = cfg.characteristics[0]
    facts = list(day(cfg, host, rt, LineModel(seed=1), 86_400, lambda ts, m: None))
    points = [f for f in facts if isinstance(f, SpcPoint)]
    ooc = [f for f in facts if isinstance(f, SpcAlarm) and f.kind == "out_of_control"]
    assert [f.points for f in facts if isinstance(f, LimitsFrozen)] == [25]
    # Rational subgroups: one every 600 bottles while the filler runs (it stops for faults
    # and micro-stops), not one per reading: 575 s used to give ~1000 "subgroups".
    assert 150 <= len(points) <= 288
    expected = (len(points) - 25) / chart_arl("xbar-r", "we1", 0.0, 5)[0]  # X̄ and R charts
    assert c.expected_false_alarms_per_day is not None and expected <= c.expected_false_alarms_per_day
    assert len(ooc) <= c.expected_false_alarms_per_day
    assert not [f for f in facts if isinstance(f, SpcAlarm) and f.kind == "out_of_spec"]


def test_a_15_sigma_shift_of_the_fill_weight_alarms_within_the_promised_run_length(tmp_path: Path) -> None:
    cfg, host, rt = shipped(tmp_path)
    shift = 1.5 * 0.8  # 1.5 σ of one bottle (the simulator's σ is 0.8 g)
    state: dict[str, Any] = {"shifted_at": None, "points": 0, "clean_until": T0 + 3 * 3600}
    runs: list[int] = []

    def on_step(ts: float, m: LineModel) -> None:
        if state["shifted_at"] is None and ts >= state["clean_until"]:
            m.fill_offset, state["shifted_at"], state["points"] = shift, ts, 0

    model = LineModel(seed=2)
    for f in day(cfg, host, rt, model, 12 * 3600, on_step):
        if state["shifted_at"] is None:
            if isinstance(f, SpcAlarm):  # an in-control alarm between episodes: acknowledge
                for t in rt.trackers.values():
                    t.acknowledge(f.ts)
                rt.holding.clear()
            continue
        if isinstance(f, SpcPoint):
            state["points"] += 1
        elif isinstance(f, SpcAlarm) and f.kind == "out_of_control":
            runs.append(state["points"])
            model.fill_offset = 0.0  # the valve is fixed; the alarm is acknowledged
            for t in rt.trackers.values():
                t.acknowledge(f.ts)
            rt.holding.clear()
            state["shifted_at"], state["clean_until"] = None, f.ts + 1800
    promised = shewhart_arl(1.5, n=5)  # 1.57 subgroups
    p = 1 / promised  # run lengths are geometric
    assert len(runs) >= 10
    mean = sum(runs) / len(runs)
    assert mean <= promised + 3 * math.sqrt(1 - p) / p / math.sqrt(len(runs))
    assert max(runs) <= 6  # P(run > 6) = 0.2 %


async def test_the_runtime_takes_up_an_approved_limit_version_and_an_acknowledgement(tmp_path: Path) -> None:
    """What people decide reaches the trackers within a tick: a version approved from a
    window or typed is frozen at once; an acknowledgement starts the re-arm window."""
    from edge.logic.quality.live import fixed_spec
    from edge.store import quality as repo
    from edge.store.facts import spec_to_json

    _cfg, host, rt = shipped(tmp_path)
    tr = rt.tracker("fill_weight", "COLA-500")
    assert not tr.frozen
    with host.store.transaction():
        repo.add_frozen(
            host.store,
            "fill_weight",
            spec_to_json(fixed_spec("xbar-r", 5, 501.0, 0.7)),
            by="Clara Quality (1003)",
            reason="typed",
            ts=T0,
            product="COLA-500",
        )
    await rt.tick(T0 + 1)
    assert tr.spec is not None and tr.spec.primary.center == 501.0
    with host.store.transaction():
        repo.add_ack(host.store, "fill_weight", 0, by="Ben", comment="c", ts=T0 + 5)
    await rt.tick(T0 + 6)
    assert tr.ack_ts == T0 + 5
    assert rt.tracker("fill_weight", "WATER-1000").spec is None  # limits are per product


async def test_an_alarm_holding_the_line_still_holds_it_after_a_restart(tmp_path: Path) -> None:
    """The agent restarted while SPC held the line: the alarm still holds it until it is
    acknowledged, and then the stop-line and andon tags are released."""
    from edge.store import quality as repo

    _cfg, host, _rt = shipped(tmp_path)
    host.store.append_samples([], [SpcAlarm(T0, "fill_weight", "out_of_control", "we1", "beyond", 503.0)])
    rt = QualityRuntime(host)  # the restart
    assert rt.holding == {"fill_weight": T0}
    await rt.tick(T0 + 1)
    assert host.writes == []
    with host.store.transaction():
        repo.add_ack(
            host.store,
            "fill_weight",
            repo.last_alarm(host.store, "fill_weight") or 0,
            by="B",
            comment="c",
            ts=T0 + 2,
        )
    await rt.tick(T0 + 3)
    assert rt.holding == {}
    assert sorted(host.writes) == [("capper.andon", False), ("palletiser.stop_line", False)]
