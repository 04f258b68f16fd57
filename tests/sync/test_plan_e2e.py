"""Scheduling end to end, with real processes: the aggregator (with its planner thread)
and the agent as ``lineside`` processes, a real mosquitto, and the simulated line.

The plant releases a plan; the line goes down (its PLC stops it) for longer than the
threshold; the aggregator proposes a replan with a diff; the planner approves it and the
new sequence reaches the line. Then the plant link is cut, the next planned order's
material is not staged, and the line picks the next order of the sequence on its own,
records why, and the plant sees the reason when the link comes back."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from edge.config.line import load_config
from edge.simulate.runner import Simulator
from edge.store import Store
from edge.store import plant as line_repo
from tests.conftest import REPO, example_on_free_ports
from tests.mqtt_rig import Mosquitto, SilentProxy
from tests.sync.conftest import uplink_section
from tests.sync.test_sync_e2e import start, stop

LINE_KEY = "acme/hamburg/filling/line1"


def cli(*args: str, check: bool = True, stdin: str | None = None) -> Any:
    r = subprocess.run(
        [sys.executable, "-m", "edge.cli", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
        input=stdin,
    )
    if not check and r.returncode != 0:
        return None
    assert r.returncode == 0, f"{args}: {r.stdout}\n{r.stderr}"
    return json.loads(r.stdout) if "--json" in args else r.stdout


def wait(pred: Callable[[], Any], timeout: float, what: str) -> Any:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        got = pred()
        if got:
            return got
        time.sleep(0.3)
    raise AssertionError(f"{what}: not within {timeout} s")


def line_plan(db: Path) -> list[dict[str, Any]]:
    st = Store(db, readonly=True)
    try:
        return line_repo.line_plan(st)
    finally:
        st.close()


def line_events(db: Path, kind: str) -> list[dict[str, Any]]:
    st = Store(db, readonly=True)
    try:
        rows = st.db.execute(
            "SELECT message, data FROM events WHERE kind = ? ORDER BY seq", (kind,)
        ).fetchall()
    finally:
        st.close()
    return [{"message": m, **json.loads(d)} for m, d in rows]


class SimThread:
    """The simulated line in a thread of the test, so the test can stop it like its PLC."""

    def __init__(self, cfg_path: Path) -> None:
        self.sim = Simulator(load_config(cfg_path), seed=3)
        self.sim.model.mtbf_s = self.sim.model.micro_stop_every_s = 1e12  # no faults of its own
        self._stop = threading.Event()
        self._ready = threading.Event()
        self.thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)

    async def _run(self) -> None:
        await self.sim.start()
        self._ready.set()
        try:
            while not self._stop.is_set():
                await self.sim.tick(time.time())
                await asyncio.sleep(0.05)
        finally:
            await self.sim.stop()

    def stop_line(self, on: bool) -> None:
        """Set the palletiser's StopLine bit at the simulated PLC. The model reads its
        writable tags back from the PLC every tick, so setting ``model.stop_line`` alone
        is undone at the next tick."""
        for srv, points in self.sim.enip:
            for name, signal, _t in points:
                if signal == "stop_line":
                    srv.set(name, on)
        self.sim.model.stop_line = on

    def __enter__(self) -> SimThread:
        self.thread.start()
        assert self._ready.wait(20), "the simulator did not start"
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self.thread.join(10)


def agg_yaml(tmp_path: Path, port: int) -> Path:
    products = ("COLA-500", "WATER-1000")
    data = {
        "mqtt": {
            "port": port,
            "client_id": "agg-plan",
            "keepalive_s": 3,
            "reconnect_min_s": 0.5,
            "reconnect_max_s": 2,
        },
        "store": {"path": str(tmp_path / "plant.db")},
        "lines": [{"enterprise": "acme", "site": "hamburg", "area": "filling", "line": "line1"}],
        "ack_interval_ms": 20,
        "command_resend_s": 2,
        "scheduling": {
            "timezone": "Europe/Berlin",
            "horizon_h": 48,
            "release_h": 24,
            "frozen_h": 0,
            "time_limit_s": 2,
            "workers": 1,
            "resources": [{"id": "L1", "line": "line1"}, {"id": "HAND", "calendar": None}],
            "products": [
                {"id": "COLA-500", "changeover_min": 20},
                {"id": "WATER-1000", "changeover_min": 30},
            ],
            "routings": [
                {
                    "product": p,
                    "operations": [
                        {
                            "alternatives": [
                                {"resource": "L1", "rate_per_min": 100},
                                {"resource": "HAND", "rate_per_min": 10},
                            ]
                        }
                    ],
                }
                for p in products
            ],
            "objectives": {"weights": {"tardiness": 10, "setup": 1, "stability": 1}},
            "replan": {
                "interval_s": 1,
                "line_down_min": 0.1,
                "down_states": ["down", "idle"],
                "assume_down_min": 120,
                "time_limit_s": 2,
            },
        },
    }
    p = tmp_path / "aggregator.yaml"
    p.write_text(yaml.safe_dump(data))
    return p


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[dict[str, Any]]:
    broker = Mosquitto(tmp_path / "broker")
    broker.start()
    proxy = SilentProxy(broker.port)
    cfg = example_on_free_ports(tmp_path, data_changes=lambda d: d.update(uplink=uplink_section(proxy.port)))
    agg_cfg = agg_yaml(tmp_path, broker.port)
    procs = []
    try:
        with SimThread(cfg) as sim:
            procs.append(start("aggregator", "run", "-c", str(agg_cfg)))
            procs.append(start("run", "-c", str(cfg)))
            yield {
                "cfg": cfg,
                "agg": agg_cfg,
                "sim": sim.sim,
                "simthread": sim,
                "proxy": proxy,
                "db": tmp_path / "line1.db",
            }
    finally:
        errs = [stop(p) for p in reversed(procs)]
        proxy.close()
        broker.stop()
        for e in errs:
            assert "Traceback" not in e, e


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_replan_on_a_line_down_reaches_the_line_and_offline_resequencing_reaches_the_plant(
    rig: dict[str, Any], tmp_path: Path
) -> None:
    cfg, agg, db = str(rig["cfg"]), str(rig["agg"]), rig["db"]
    now = time.time()
    orders = [
        {
            "order_id": f"WO-{i}",
            "product": "COLA-500" if i % 2 else "WATER-1000",
            "quantity": 6000,
            "due": now + (2 + i) * 3600,
        }
        for i in range(1, 5)
    ]
    (tmp_path / "orders.json").write_text(json.dumps(orders))
    cli("aggregator", "plan", "import", "-c", agg, str(tmp_path / "orders.json"))
    # New orders are a trigger: the planner thread proposes a plan for them.
    first = wait(
        lambda: (
            (r := cli("aggregator", "plan", "show", "-c", agg, "--json", check=False))
            and r["status"] == "proposed"
            and r
        ),
        60,
        "a plan proposed for the new orders",
    )
    assert "order_new" in first["trigger"] and first["diff"]["added"] == [o["order_id"] for o in orders]
    cli("aggregator", "plan", "release", "-c", agg, str(first["id"]), "--by", "Paula Planner")
    plan = wait(lambda: line_plan(db), 30, "the released sequence at the line")
    assert plan[0]["plan_id"] == str(first["id"])
    listed = cli("order", "list", "-c", cfg, "--json")
    assert [r["order_id"] for r in listed][: len(plan)] == [e["order_id"] for e in plan]
    assert all(r["planned_start"] is not None and r["adherence"] for r in listed[: len(plan)])

    # The line's PLC stops it; past the threshold (6 s) the planner proposes a replan.
    rig["simthread"].stop_line(True)

    def proposed() -> dict[str, Any] | None:
        row = cli("aggregator", "plan", "show", "-c", agg, "--json")
        return row if row["id"] != first["id"] and "line_down" in row["trigger"] else None

    replan = wait(proposed, 60, "a replan proposed after the line went down")
    assert replan["status"] == "proposed"
    d = cli("aggregator", "plan", "diff", "-c", agg, str(replan["id"]), "--json")
    assert d["moved"], d  # L1's work starts later or moves to the hand station
    text = cli("aggregator", "plan", "diff", "-c", agg, str(replan["id"]))
    assert "moved" in text
    cli("aggregator", "plan", "approve", "-c", agg, str(replan["id"]), "--by", "Paula Planner")
    out = cli(
        "aggregator", "plan", "release", "-c", agg, str(replan["id"]), "--by", "Paula Planner", "--json"
    )
    assert out["plan"]["status"] == "released" and list(out["commands"]) == [LINE_KEY]
    new_plan = wait(
        lambda: (p := line_plan(db)) and p[0]["plan_id"] == str(replan["id"]) and p,
        30,
        "the new sequence at the line",
    )
    rig["simthread"].stop_line(False)

    # The plant link goes dead; the next planned order's material is not staged.
    rig["proxy"].go_silent()
    time.sleep(8)  # the uplink's status goes stale (3 intervals of 1 s) and the keep-alive gives up
    planned = new_plan[0]["order_id"]
    cli(
        "order",
        "block",
        "-c",
        cfg,
        planned,
        "--reason",
        "material",
        "--detail",
        "preforms not staged",
        "--badge",
        "1001",
        stdin="1111\n",  # Anna's PIN, as a script pipes it
    )
    ev = wait(lambda: line_events(db, "plan.resequence"), 20, "the line's own resequencing")
    assert (
        ev[0]["planned"] == planned
        and ev[0]["chosen"] == new_plan[1]["order_id"]
        and ev[0]["reason"] == "material"
    )
    listed = cli("order", "list", "-c", cfg, "--json")
    assert (
        next(r for r in listed if r["order_id"] == planned)["blocked"]
        == "material not staged (preforms not staged)"
    )

    # The link returns: the plant sees the reason and replans from the real state.
    rig["proxy"].restore()

    def reported() -> list[dict[str, Any]]:
        return [
            r
            for r in cli("aggregator", "plan", "events", "-c", agg, "--json")["line_reports"]
            if r["kind"] == "plan.resequence"
        ]

    (rep,) = wait(reported, 60, "the line's report at the plant")
    assert (rep["planned"], rep["chosen"], rep["reason"]) == (planned, new_plan[1]["order_id"], "material")
    assert "preforms" not in rep["message"] and planned in rep["message"]
    wait(
        lambda: any(
            e["kind"] == "resequenced"
            for e in cli("aggregator", "plan", "events", "-c", agg, "--json")["events"]
        ),
        30,
        "a replan trigger from the line's report",
    )
