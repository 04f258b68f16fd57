"""Maintenance on the simulated line, through the agent's own data path (samples →
line logic → maintenance logic → store, one tick a second on the agent's clock):

* the capper motor's current drifts as its bearings wear; the condition-based plan
  (above 6 A for 2 min) raises one work order;
* a technician schedules it (parts reserved), starts it — the capper's stop during the
  work is booked under the planned-maintenance reason, not unexplained — issues the
  bearings, codes the failure, books labour and finishes with a signature; stock and the
  reorder notice follow;
* a jam stops the line for longer than the threshold: the line opens corrective orders
  pre-filled with the fault code's reason; maintenance acknowledges one;
* the uplink was down all along: shipped afterwards (twice, as a redelivery would), the
  plant holds every step exactly once and its backlog and MTBF/MTTR are the line's;
* ``lineside replay`` of the stored samples raises the same orders as the live agent.
"""

from __future__ import annotations

import asyncio
import csv
from pathlib import Path
from typing import Any

import pytest

from edge.config.line import load_config
from edge.core.clock import AgentClock
from edge.logic.model import Quality, Sample
from edge.runtime.agent import Agent
from edge.runtime.replay import replay
from edge.services import maintenance as svc
from edge.services.context import open_store
from edge.services.production import list_downtime
from edge.simulate.model import FAULTED, RUNNING, STOPPED, LineModel
from sync.aggregator.config import AggregatorConfig
from sync.aggregator.queries import plant_maintenance
from sync.aggregator.store import open_store as open_agg
from tests.conftest import as_operator, example_on_free_ports
from tests.sync.aggregator.test_materials import ship

T0 = 1_764_000_000.0  # 2025-11-24, a Monday


def test_condition_order_from_drift_to_done_booked_synced_and_replayed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Not under test here, and the costliest part of a simulated second: run them rarely.
    monkeypatch.setattr("edge.runtime.agent.PLAN_CHECK_S", 3600.0)
    monkeypatch.setattr("edge.runtime.agent.MATERIALS_S", 3600.0)

    def no_uplink(d: dict[str, Any]) -> None:
        d.pop("uplink", None)
        d.pop("characteristics", None)  # no SPC: its stop-line writes have no device here

    cfg = load_config(example_on_free_ports(tmp_path, data_changes=no_uplink))
    now = [T0]
    clock = AgentClock(wall=lambda: now[0], mono=lambda: now[0])
    model = LineModel(seed=5, mtbf_s=1e12, micro_stop_every_s=1e12, wear_a_per_hour=180.0)
    sim_tags = [t for t in cfg.tags if t.sim in model.signals() and t.elements == 1 and t.type != "string"]
    dirk = as_operator(cfg, "1004")

    async def run() -> None:
        agent = Agent(cfg, clock=clock)
        assert agent.maint is not None
        agent._resume_maintenance()
        last: dict[str, Any] = {}

        async def advance(seconds: int) -> None:
            for _ in range(seconds):
                now[0] += 1.0
                model.step(now[0])
                sig = model.signals()
                samples = []
                for t in sim_tags:
                    v = sig[t.sim]  # type: ignore[index]
                    if last.get(t.name) != v:
                        last[t.name] = v
                        samples.append(Sample(t.name, v, Quality.GOOD, now[0], now[0]))
                agent._feed_logic(samples)
                agent.writer.put_many(samples)
                await agent.tick_once()
            await agent.writer.flush()

        model.step(now[0])
        await advance(240)  # 4.0 A rising 0.05 A/s: 6 A after 40 s, held 2 min
        orders = svc.work_orders(agent.store)
        assert [(o.type, o.plan, o.state) for o in orders] == [
            ("condition", "capper-motor-current", "approved")
        ]
        wo = orders[0].id
        svc.receive_part(cfg, agent.store, dirk, "BRG-6204", 3, "delivery 17", now=now[0])
        svc.schedule(cfg, agent.store, dirk, wo, now[0] + 60, technician=dirk.who, now=now[0])
        await advance(60)
        svc.start(cfg, agent.store, dirk, wo, now=now[0])
        await advance(5)  # the agent applies the booking
        model.state = STOPPED  # the technician stops the capper
        await advance(600)
        svc.issue_part(cfg, agent.store, dirk, wo, "BRG-6204", 2, now=now[0])
        model.replace_bearings()
        svc.code_failure(cfg, agent.store, dirk, wo, problem="BEARING", cause="WEAR", remedy="REPLACE")
        svc.book_labour(cfg, agent.store, dirk, wo, 0.2, now=now[0])
        done = svc.finish(cfg, agent.store, dirk, wo, comment_text="bearings replaced", now=now[0])
        assert done.state == "done" and done.parts == {"BRG-6204": 2.0}
        await advance(5)
        model.state, model._until = RUNNING, 0.0
        await advance(120)
        # A jam stops the line for longer than corrective_after_min (10 min): the line
        # opens corrective orders, pre-filled with the fault code's reason where it has one.
        model.state, model.fault_code, model._until = FAULTED, 101, now[0] + 700
        await advance(720)
        corrective = {o.asset: o for o in svc.work_orders(agent.store) if o.type == "corrective"}
        assert {a: (o.state, o.reason) for a, o in corrective.items()} == {
            "filler": ("requested", "MECH.JAM"),
            "capper": ("requested", None),
        }
        svc.approve(cfg, agent.store, dirk, corrective["filler"].id, now=now[0])  # acknowledged
        await agent._save_maintenance()
        await agent.writer.flush()
        agent.store.close()

    asyncio.run(run())

    with open_store(cfg) as st:
        # the capper's stop while the order was worked: planned maintenance, never unexplained
        stops = [e for e in list_downtime(cfg, st, include_explained=True) if e["machine"] == "capper"]
        worked = [e for e in stops if (e["duration_s"] or 0) > 300 and e["state"] != "down"]
        assert worked and all(e["reason"] == "PLANNED.PM" and e["loss"] == "planned" for e in worked)
        stock = {p["part"]: p for p in svc.stock(cfg, st)}
        assert (
            stock["BRG-6204"]["on_hand"],
            stock["BRG-6204"]["reserved"],
            stock["BRG-6204"]["reorder"],
        ) == (
            1,
            0,
            True,
        )
        reorder = [r[0] for r in st.db.execute("SELECT data FROM events WHERE kind = 'maintenance.reorder'")]
        assert any('"BRG-6204"' in d for d in reorder)
        line_report = svc.reliability_report(cfg, st, since=T0, until=now[0])
        line_open = [o.id for o in svc.work_orders(st, open_only=True)]
        n_events = st.db.execute("SELECT count(*) FROM maint_events").fetchone()[0]
        n_moves = st.db.execute("SELECT count(*) FROM maint_stock").fetchone()[0]
        keys = sorted(k for (k,) in st.db.execute("SELECT key FROM maint_orders WHERE key IS NOT NULL"))
        with (tmp_path / "samples.csv").open("w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["ts", "tag", "value"])
            for name, ts, value in st.db.execute(
                "SELECT t.name, s.ts, s.value FROM samples s JOIN tags t ON t.id = s.tag_id ORDER BY s.seq"
            ):
                w.writerow([repr(ts), name, "" if value is None else value])

    # The uplink comes back: everything arrives at the plant, once, however often it is sent.
    ref = cfg.line
    agg = AggregatorConfig.model_validate(
        {
            "store": {"path": str(tmp_path / "agg.db")},
            "lines": [{k: getattr(ref, k) for k in ("enterprise", "site", "area", "line")}],
        }
    )
    for attempt in range(2):
        a = open_agg(agg)
        try:
            ship(cfg, a, now[0] + 10 + attempt)
        finally:
            a.close()
    (plant,) = plant_maintenance(agg, since=T0, until=now[0])
    a = open_agg(agg)
    try:
        assert a.db.query("SELECT count(*) FROM maint_events")[0][0] == n_events
        assert a.db.query("SELECT count(*) FROM maint_stock")[0][0] == n_moves
    finally:
        a.close()
    assert plant["report"] == line_report
    assert sorted(o["id"] for o in plant["backlog"]) == sorted(line_open)
    filler = line_report["assets"]["filler"]
    assert filler["failures"] == 1 and abs(filler["mttr_h"] * 3600 - 700) <= 2
    assert filler["mtta_h"] is not None and filler["mtbf_h"] is not None
    assert [p["mode"] for p in line_report["pareto"]][:1] in (["MECH.JAM"], ["uncoded"])
    assert plant["stock"]["BRG-6204"]["on_hand"] == 1
    # the capper's stop for planned work is no failure
    assert line_report["assets"]["capper.motor"]["failures"] == 0
    assert line_report["assets"]["capper"]["failures"] == 1  # the jam only

    # Replay of the stored samples raises the same orders as the live agent did.
    rep = replay(cfg, tmp_path / "samples.csv")
    assert sorted(o["key"] for o in rep["maintenance"]) == keys
