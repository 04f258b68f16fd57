"""Maintenance end to end with real processes: ``lineside simulate``, the ``lineside run``
agent with its uplink, a real mosquitto and ``lineside aggregator run``.

* the capper motor's current drifts as its bearings wear (the simulator's own wear, 12 A
  per running hour); the condition plan's threshold is lowered just above the current at
  start, so the drift crosses it within seconds instead of the demo's minutes;
* the agent opens one condition-based work order for it;
* with the broker DOWN, a technician takes it through on the command line (badge + PIN):
  receive the bearings, schedule (parts reserved), start, the line is stopped for the work
  (booked under the work order's reason, never unexplained), parts issued (the reorder
  notice follows), failure codes, labour, finish signed with the PIN;
* the broker comes back on the same port: the plant holds every record exactly once, and
  its backlog and MTBF/MTTR (``lineside aggregator maint …``) are the line's
  (``lineside maint reliability``).

(The single-process variant with a fake clock and the jam/corrective path is
tests/edge/test_maintenance_e2e.py.)
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from edge.config.line import load_config
from edge.core.errors import StoreError
from edge.services import maintenance as svc
from edge.services.context import open_store
from edge.services.production import list_downtime
from tests.conftest import REPO, example_on_free_ports, wait_serving
from tests.mqtt_rig import Mosquitto
from tests.sync.conftest import uplink_section
from tests.sync.test_sync_e2e import assert_exactly_once, stop, wait_drained, write_agg_config

THRESHOLD_A = 5.08  # the simulator starts at 5.0 A (noise σ 0.03 A) and wears 12 A/h running
DIRK = ("--badge", "1004")  # maintenance, PIN 4444
EVA = ("--badge", "1005")  # supervisor (may write PLC tags), PIN 5555


def lineside(*args: str, pin: str | None = None, ok: bool = True) -> str:
    p = subprocess.run(
        [sys.executable, "-m", "edge.cli", *args],
        cwd=REPO,
        input=(pin + "\n") if pin else "",
        capture_output=True,
        text=True,
        timeout=120,
    )
    if ok:
        assert p.returncode == 0, f"lineside {' '.join(args)}: exit {p.returncode}\n{p.stdout}\n{p.stderr}"
    return p.stdout


def start(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "edge.cli", *args],
        cwd=REPO,
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
    )


def wait_until(what: str, pred: Callable[[], Any], timeout: float = 120.0) -> Any:
    """Poll ``pred`` until it returns something truthy (which is returned); generous
    deadline, the machine is shared."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        res = pred()
        if res:
            return res
        time.sleep(0.25)
    raise AssertionError(f"not within {timeout} s: {what}")


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_condition_order_worked_offline_reaches_the_plant_once_with_matching_reliability(
    tmp_path: Path,
) -> None:
    broker = Mosquitto(tmp_path / "broker")
    broker.start()

    def changes(d: dict[str, Any]) -> None:
        d["uplink"] = uplink_section(broker.port)
        d.pop("characteristics", None)  # no SPC: its stop-line writes would stop the line at random
        (capper,) = [m for m in d["machines"] if m["name"] == "capper"]
        capper["micro_stop_s"] = 2  # the stop for the work shows in seconds, not after half a minute
        (plan,) = [p for p in d["maintenance"]["plans"] if p["id"] == "capper-motor-current"]
        plan["trigger"] = {"threshold": {"tag": "capper.motor_current", "above": THRESHOLD_A, "for_min": 0.1}}

    cfg_path = example_on_free_ports(tmp_path, data_changes=changes)
    cfg = load_config(cfg_path)
    c = str(cfg_path)
    line_db = tmp_path / "line1.db"
    since = str(int(time.time()) - 60)
    agg_cfg = str(write_agg_config(tmp_path, broker.port))
    sim = start("simulate", "-c", c)
    agg = start("aggregator", "run", "-c", agg_cfg)
    agent: subprocess.Popen[str] | None = None
    try:
        wait_serving(sim, cfg_path)
        agent = start("run", "-c", c)

        def orders() -> list[Any]:
            """The condition orders (the calendar plan's weekly inspection is due too)."""
            try:
                with open_store(cfg, readonly=True) as st:
                    return [o for o in svc.work_orders(st) if o.type == "condition"]
            except StoreError:  # the agent is still creating its store
                return []

        # The condition tag drifts across the threshold; the line opens one condition order.
        (wo,) = wait_until("a condition-based work order", orders)
        assert (wo.type, wo.plan, wo.asset, wo.state) == (
            "condition",
            "capper-motor-current",
            "capper.motor",
            "approved",
        )
        with open_store(cfg, readonly=True) as st:
            currents = [
                v
                for (v,) in st.db.execute(
                    "SELECT s.value FROM samples s JOIN tags t ON t.id = s.tag_id "
                    "WHERE t.name = 'capper.motor_current' AND s.value > 0 ORDER BY s.seq"
                )
            ]
        assert min(currents) < THRESHOLD_A < max(currents), currents  # it crossed (noise on the way)

        # The link to the plant goes down; the technician works the order meanwhile.
        broker.kill()
        lineside("maint", "receive", "-c", c, "BRG-6204", "3", "delivery 17", *DIRK, pin="4444")
        lineside(
            "maint", "schedule", "-c", c, wo.id, "--start", str(int(time.time()) + 60), *DIRK, pin="4444"
        )
        with open_store(cfg, readonly=True) as st:
            assert {p["part"]: p["reserved"] for p in svc.stock(cfg, st)}["BRG-6204"] == 2
        lineside("maint", "start", "-c", c, wo.id, *DIRK, pin="4444")
        # The line is stopped for the work (through the running agent, as a supervisor).
        lineside("write", "-c", c, "palletiser.stop_line", "true", "--reason", wo.id, *EVA, pin="5555")

        def capper_stop_booked() -> list[dict[str, Any]]:
            with open_store(cfg, readonly=True) as st:
                return [
                    e
                    for e in list_downtime(cfg, st, include_explained=True, since=float(since))
                    if e["machine"] == "capper" and e["reason"] == "PLANNED.PM"
                ]

        # Every capper stop while the work is in progress is booked under the order's reason
        # (on a loaded machine the stopped line's capper may change state more than once).
        booked = wait_until("the capper's stop booked under the order's reason", capper_stop_booked)
        assert all(b["loss"] == "planned" for b in booked), booked
        lineside("maint", "parts", "-c", c, wo.id, "BRG-6204", "2", *DIRK, pin="4444")
        lineside(
            "maint", "failure", "-c", c, wo.id, "--problem", "BEARING", "--cause", "WEAR",
            "--remedy", "REPLACE", *DIRK, pin="4444",
        )  # fmt: skip
        lineside("maint", "labour", "-c", c, wo.id, "0.2", *DIRK, pin="4444")
        out = lineside("maint", "finish", "-c", c, wo.id, "--comment", "bearings replaced", *DIRK, pin="4444")
        assert "now done" in out, out
        lineside("write", "-c", c, "palletiser.stop_line", "false", *EVA, pin="5555")
        with open_store(cfg, readonly=True) as st:  # (read in-process: each CLI start costs seconds here)
            done = svc.work_order(st, wo.id).as_dict()
            stock = {p["part"]: p for p in svc.stock(cfg, st)}
        assert (done["state"], done["parts"], done["labour_h"]) == ("done", {"BRG-6204": 2.0}, 0.2)
        assert (
            stock["BRG-6204"]["on_hand"],
            stock["BRG-6204"]["reserved"],
            stock["BRG-6204"]["reorder"],
        ) == (
            1,
            0,
            True,
        )
        with open_store(cfg, readonly=True) as st:
            reorder = [
                d for (d,) in st.db.execute("SELECT data FROM events WHERE kind = 'maintenance.reorder'")
            ]
        assert any('"BRG-6204"' in d for d in reorder), reorder

        # The link returns on the same port: the backlog drains, every record arrives once.
        broker.start()
        wait_until("the capper running again", lambda: capper_stop_booked()[-1].get("end") is not None)
        sim_err = stop(sim)  # the line stops producing; the agent drains its backlog
        wait_drained(line_db, timeout=120)
        err = stop(agent)
        assert "Traceback" not in err, err
    finally:
        stop(sim)
        if agent is not None:
            stop(agent)
        agg_err = stop(agg)
        broker.stop()
    assert "Traceback" not in agg_err and "Traceback" not in sim_err, agg_err
    totals = assert_exactly_once(line_db, tmp_path / "plant.db")
    assert totals["maint_events"] >= 7 and totals["maint_stock"] >= 2, totals

    # The plant's backlog and MTBF/MTTR are the line's.
    period = (f"--since={since}", f"--until={int(time.time())}")
    line_rep = json.loads(lineside("maint", "reliability", "-c", c, *period, "--json"))
    with open_store(cfg, readonly=True) as st:
        line_open = [o.as_dict() for o in svc.work_orders(st, open_only=True)]
    (plant_bl,) = json.loads(lineside("aggregator", "maint", "backlog", "-c", agg_cfg, *period, "--json"))
    (plant_rel,) = json.loads(
        lineside("aggregator", "maint", "reliability", "-c", agg_cfg, *period, "--json")
    )
    assert sorted(o["id"] for o in plant_bl["backlog"]) == sorted(o["id"] for o in line_open)
    assert wo.id not in [o["id"] for o in plant_bl["backlog"]]
    assert plant_bl["report"]["backlog_h"] == line_rep["backlog_h"]
    assert plant_rel["report"] == line_rep, (plant_rel["report"], line_rep)
    assert line_rep["assets"]["capper.motor"]["failures"] == 0  # planned work is no failure
