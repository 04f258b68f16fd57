"""Simulator → agent: a shift of the fill weight raises an SPC alarm, the agent writes
the stop-line tag on the simulated PLC through the allow-list, books the filler's stop
as a quality hold, and the line stays stopped until an operator acknowledges with a
cause, an action and a comment."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
import yaml

from edge.config.line import load_config
from edge.runtime.agent import Agent
from edge.services.identity import Actor
from edge.services.production import OperatorInputError, ack_alarms, spc_alarms
from edge.simulate.runner import Simulator
from tests.conftest import as_operator, wait_for
from tests.edge.test_line_e2e import line_config


@pytest.mark.slow
async def test_drift_alarm_stops_the_line_until_acknowledged(tmp_path: Path) -> None:
    line_config(tmp_path)  # free ports, private store and RTU link
    data = yaml.safe_load((tmp_path / "line1.yaml").read_text())
    # Known process: centre 500 g, sigma 2 g (the simulator's noise is 0.8 g, so no false
    # alarms); rule 1 only. A 10 g step is 5 sigma.
    data["characteristics"] = [
        {
            "name": "fill_weight",
            "tag": "filler.fill_weight",
            "sampling": {"every_parts": 2},
            "chart": "imr",
            "spec": {"lsl": 490, "usl": 520},
            "rules": "we1",
            "limits": {"center": 500, "sigma": 2},
            "actions": {"stop_line_tag": "palletiser.stop_line", "andon_tag": "capper.andon"},
        }
    ]
    (tmp_path / "line1.yaml").write_text(yaml.safe_dump(data, allow_unicode=True))
    cfg = load_config(tmp_path / "line1.yaml")
    clara = as_operator(cfg, "1003")
    sim = Simulator(cfg, seed=5)
    sim.model.drift_per_hour = 0.0
    sim.model.mtbf_s = sim.model.micro_stop_every_s = 1e12
    await sim.start()

    async def run_sim() -> None:
        while True:
            await sim.tick(time.time())
            await asyncio.sleep(0.05)

    task = asyncio.create_task(run_sim())
    agent = Agent(cfg)
    await agent.start()
    enip = sim.enip[0][0]
    try:
        await wait_for(
            lambda: agent.store.db.execute("SELECT count(*) FROM spc_points").fetchone()[0] > 10, timeout=15
        )
        assert spc_alarms(cfg, agent.store) == []
        assert enip.get("Program:Main.StopLine") is False

        sim.model.fill_offset = 10.0
        await wait_for(lambda: spc_alarms(cfg, agent.store), timeout=5)
        first = spc_alarms(cfg, agent.store)[-1]
        assert first["kind"] == "out_of_control" and first["rule"] == "we1"
        await wait_for(lambda: enip.get("Program:Main.StopLine") is True, timeout=5)
        await wait_for(lambda: sim.model.stop_line and sim.model.state == 0, timeout=5)  # the line stopped
        sim.model.fill_offset = 0.0

        await asyncio.sleep(2.5)  # nobody acknowledged: the alarm and the stop stay
        assert spc_alarms(cfg, agent.store) and enip.get("Program:Main.StopLine") is True

        # SPC stopped the line: the filler's stop is a quality hold, not "idle / unexplained".
        await wait_for(
            lambda: agent.store.db.execute(
                "SELECT count(*) FROM downtime WHERE machine = 'filler' AND auto_reason = 'QUAL.HOLD'"
            ).fetchone()[0],
            timeout=5,
        )
        assert not agent.store.db.execute(
            "SELECT count(*) FROM downtime WHERE machine = 'capper' AND auto_reason = 'QUAL.HOLD'"
        ).fetchone()[0]
        with pytest.raises(OperatorInputError, match="comment: required"):
            ack_alarms(
                cfg, agent.store, clara, "fill_weight", comment=" ", cause="material", action="adjusted"
            )
        with pytest.raises(OperatorInputError, match="cause: 'weather' is not one of"):
            ack_alarms(
                cfg, agent.store, clara, "fill_weight", comment="x", cause="weather", action="adjusted"
            )
        ack_alarms(
            cfg,
            agent.store,
            clara,
            "fill_weight",
            comment="valve 3 recalibrated",
            cause="filler_valve",
            action="adjusted",
        )
        await wait_for(lambda: enip.get("Program:Main.StopLine") is False, timeout=5)
        assert spc_alarms(cfg, agent.store) == []
        writes = [(w["tag"], w["value"], w["outcome"], w["requested_by"]) for w in agent.store.writes()]
        assert ("palletiser.stop_line", True, "ok", "spc") in writes
        assert ("palletiser.stop_line", False, "ok", "spc") in writes
        assert next(w for w in enip.writes if w.tag == "Program:Main.StopLine").values == [True]
        audit = agent.store.db.execute("SELECT who, action, why, meaning FROM audit").fetchall()
        assert ("Clara Quality (1003)", "spc.acknowledge", "valve 3 recalibrated", "reviewed") in audit
    finally:
        task.cancel()
        await agent.stop()
        await sim.stop()


async def test_manual_measurements_are_charted_by_the_agent(tmp_path: Path) -> None:
    from edge.services.production import enter_measurement

    data = {
        "line": {"enterprise": "a", "site": "b", "area": "c", "line": "d"},
        "characteristics": [
            {
                "name": "torque",
                "manual": True,
                "chart": "imr",
                "rules": "we1",
                "spec": {"lsl": 1.6, "usl": 2.4},
                "limits": {"center": 2.0, "sigma": 0.05},
            }
        ],
        "store": {"path": str(tmp_path / "m.db"), "batch_max_latency_ms": 20},
    }
    (tmp_path / "m.yaml").write_text(yaml.safe_dump(data))
    cfg = load_config(tmp_path / "m.yaml")
    op = Actor("operator", "Otto", "77", "operator", frozenset({"inspect"}), "badge+pin")
    agent = Agent(cfg)
    await agent.start()
    try:
        with pytest.raises(OperatorInputError, match="value: 'abc' is not a number"):
            enter_measurement(cfg, agent.store, op, "torque", "abc")
        with pytest.raises(OperatorInputError, match="far outside the specification"):
            enter_measurement(cfg, agent.store, op, "torque", "20")
        for v in ("2.01", "1.98", "2.30"):  # 2.30 is 6 sigma out: out of control, still in spec
            enter_measurement(cfg, agent.store, op, "torque", v)
        await wait_for(
            lambda: agent.store.db.execute("SELECT count(*) FROM spc_points").fetchone()[0] == 3, timeout=5
        )
        await wait_for(lambda: spc_alarms(cfg, agent.store), timeout=5)
        [alarm] = spc_alarms(cfg, agent.store)
        assert (alarm["kind"], alarm["rule"], alarm["value"]) == ("out_of_control", "we1", 2.3)
    finally:
        await agent.stop()


async def test_the_agent_collects_a_new_baseline_only_for_an_approved_request(tmp_path: Path) -> None:
    """Finding 4: `spc recalc` took effect at once, recorded as approved. Now a request
    changes nothing at the line; the agent restarts the baseline once another person
    approved it."""
    from edge.config.operators import hash_pin
    from edge.services.quality import approve_limits, enter_measurement, request_limits

    salt = b"0123456789abcdef"
    data = {
        "line": {"enterprise": "a", "site": "b", "area": "c", "line": "d"},
        "characteristics": [
            {"name": "torque", "manual": True, "chart": "imr", "rules": "we1", "baseline_points": 10}
        ],
        "operators": [
            {"badge": "1002", "name": "Ben", "role": "team_lead", "pin_hash": hash_pin("2222", salt=salt)},
            {"badge": "1003", "name": "Clara", "role": "quality", "pin_hash": hash_pin("3333", salt=salt)},
        ],
        "store": {"path": str(tmp_path / "m.db"), "batch_max_latency_ms": 20},
    }
    (tmp_path / "m.yaml").write_text(yaml.safe_dump(data))
    cfg = load_config(tmp_path / "m.yaml")
    ben, clara = as_operator(cfg, "1002"), as_operator(cfg, "1003")
    agent = Agent(cfg)
    await agent.start()
    try:
        for i in range(10):
            enter_measurement(cfg, agent.store, ben, "torque", 2.0 + 0.01 * (i % 3))
        assert agent.quality is not None
        tracker = agent.quality.tracker("torque")
        await wait_for(lambda: tracker.frozen, timeout=5)
        rid = request_limits(cfg, agent.store, ben, "torque", reason="new torque head")
        await asyncio.sleep(2.5)  # the agent ticks every second: nothing to act on
        assert tracker.frozen
        approve_limits(cfg, agent.store, clara, rid)
        await wait_for(lambda: not tracker.frozen, timeout=5)  # collecting a new baseline
    finally:
        await agent.stop()
