"""Simulator → agent → store with line logic: an injected fault becomes a downtime event
of the right length; an operator's reason changes its loss category; orders apply."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from edge.config.line import load_config
from edge.runtime.agent import Agent
from edge.services.production import (
    OperatorInputError,
    adjust_count,
    assign_reason,
    kpi_report,
    list_downtime,
    order_command,
)
from edge.simulate.model import FAULTED, RUNNING
from edge.simulate.runner import Simulator
from tests.conftest import as_operator, example_on_free_ports, pin_on_stdin, wait_for


def line_config(tmp_path: Path):  # type: ignore[no-untyped-def]
    def changes(data: dict) -> None:  # type: ignore[type-arg]
        data["store"]["batch_max_latency_ms"] = 50
        for m in data["machines"]:
            m["micro_stop_s"] = 1.0  # the injected 3 s jam is a real stop here
        data["shifts"] = {"patterns": []}  # the whole test window is scheduled time

    return load_config(example_on_free_ports(tmp_path, data_changes=changes))


@pytest.mark.slow
async def test_injected_fault_becomes_downtime_and_reason_moves_the_loss(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = line_config(tmp_path)
    anna, ben = as_operator(cfg, "1001"), as_operator(cfg, "1002")
    sim = Simulator(cfg, seed=3)
    sim.model.mtbf_s = sim.model.micro_stop_every_s = 1e12  # only the injected fault
    await sim.start()
    transitions: list[tuple[float, int]] = []
    agent = Agent(cfg)

    async def run_sim() -> None:
        last = None
        while True:
            now = time.time()
            await sim.tick(now)
            if sim.model.state != last:
                transitions.append((now, sim.model.state))
                last = sim.model.state
            await asyncio.sleep(0.05)

    task = asyncio.create_task(run_sim())
    await agent.start()
    try:
        await wait_for(
            lambda: agent.logic is not None and agent.logic.machines["filler"].state.state == "running",
            timeout=15,
        )
        await asyncio.sleep(1.0)
        # Inject a jam for about 3 s.
        sim.model.state, sim.model.fault_code, sim.model._until = FAULTED, 101, time.time() + 3.0
        await wait_for(lambda: any(s == FAULTED for _t, s in transitions), timeout=5)
        await wait_for(lambda: transitions[-1][1] == RUNNING, timeout=10)
        await asyncio.sleep(1.0)  # let the closing facts commit
        fault_start = next(t for t, s in transitions if s == FAULTED)
        fault_end = next(t for t, s in transitions if s == RUNNING and t > fault_start)
        down = [
            r for r in list_downtime(cfg, agent.store) if r["state"] == "down" and r["machine"] == "filler"
        ]
        assert len(down) == 1, down
        ev = down[0]
        poll = cfg.tag("filler.state").poll_ms / 1000
        assert ev["duration_s"] == pytest.approx(fault_end - fault_start, abs=poll)
        assert ev["reason"] == "MECH.JAM" and ev["reason_source"] == "plc" and ev["loss"] == "availability"

        rep = kpi_report(cfg, agent.store)
        assert rep["total"]["downtime_s"] == pytest.approx(ev["duration_s"], abs=0.01)
        assert rep["machines"]["filler"]["failures"] == 1
        assert rep["total"]["good"] > 0

        with pytest.raises(OperatorInputError, match="reason: 'NOPE' is not in the reason tree"):
            assign_reason(cfg, agent.store, anna, ev["id"], "NOPE")
        assign_reason(cfg, agent.store, anna, ev["id"], "PLANNED.PM", comment="scheduled nozzle swap")
        [ev2] = [r for r in list_downtime(cfg, agent.store) if r["id"] == ev["id"]]
        assert ev2["loss"] == "planned" and ev2["reason_source"] == "operator"
        rep2 = kpi_report(cfg, agent.store)
        assert rep2["total"]["downtime_s"] == pytest.approx(0, abs=0.01)
        assert rep2["total"]["planned_stop_s"] == pytest.approx(
            rep["total"]["planned_stop_s"] + ev["duration_s"], abs=0.01
        )
        assert rep2["total"]["availability"] > rep["total"]["availability"]
        with pytest.raises(OperatorInputError, match="needs a comment"):
            assign_reason(cfg, agent.store, ben, ev["id"], "MECH.JAM")

        # A work order started by an operator reaches the line logic and its counts.
        with pytest.raises(OperatorInputError, match="product: 'FANTA' is not a product"):
            order_command(cfg, agent.store, anna, "start", "WO-1", product="FANTA")
        order_command(cfg, agent.store, anna, "start", "WO-1", product="WATER-1000", quantity=500)
        await wait_for(lambda: agent.logic is not None and agent.logic.order == "WO-1", timeout=5)
        await asyncio.sleep(2.0)
        rep3 = kpi_report(cfg, agent.store, order="WO-1")
        [o] = rep3["orders"]
        assert o["order"] == "WO-1" and o["product"] == "WATER-1000" and o["good"] > 0

        # Scrap booked by an operator counts; bad input is refused with the field named.
        with pytest.raises(OperatorInputError, match="scrap_reason: required"):
            adjust_count(cfg, agent.store, anna, "filler", scrap=2)
        with pytest.raises(OperatorInputError, match="machine: 'mixer' is not a machine"):
            adjust_count(cfg, agent.store, anna, "mixer", scrap=2, scrap_reason="x")
        before = kpi_report(cfg, agent.store, order="WO-1")["orders"][0]["scrap"]
        adjust_count(
            cfg,
            agent.store,
            ben,  # a team lead: moves parts from good to scrap
            "filler",
            good=-2,
            scrap=2,
            scrap_reason="FILL.UNDER",
            comment="found at checkweigher",
        )
        assert kpi_report(cfg, agent.store, order="WO-1")["orders"][0]["scrap"] == before + 2

        # A command that reaches the store unvalidated (e.g. from above) is refused by the
        # agent, which records why and keeps running.
        with agent.store.transaction():
            agent.store.db.execute(
                "INSERT INTO order_requests (ts, order_id, product, action, by) VALUES (?, 'WO-2', 'NOPE', 'start', 'erp')",
                (time.time(),),
            )
        await wait_for(lambda: any(e["kind"] == "order_refused" for e in agent.store.events()), timeout=5)
        assert (
            "unknown product 'NOPE'"
            in next(e for e in agent.store.events() if e["kind"] == "order_refused")["message"]
        )
        assert agent.logic is not None and agent.logic.order == "WO-1"

        # The same through the command line, while the agent runs.
        from edge.cli import main

        cfgfile = str(tmp_path / "line1.yaml")
        assert main(["kpi", "-c", cfgfile, "--order", "WO-1", "--json"]) == 0
        assert main(["downtime", "list", "-c", cfgfile, "--all"]) == 0
        assert main(["kpi", "-c", cfgfile, "--shift", "2026-02-30/early"]) == 2
        pin_on_stdin(monkeypatch, "1111")
        assert main(["count", "-c", cfgfile, "filler", "--scrap", "1", "--badge", "1001"]) == 2
    finally:
        task.cancel()
        await agent.stop()
        await sim.stop()
