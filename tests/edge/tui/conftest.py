"""A line store with fixed data and a frozen clock for the operator terminal's tests.

The line is config/line1.yaml (operators Anna 1001/PIN 1111 operator, Ben 1002/2222
team_lead, Clara 1003/3333 quality, Dirk 1004/4444 maintenance, Eva 1005/5555 supervisor). ``NOW`` is Tuesday
17 Nov 2026 10:30 Berlin, in the early shift.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from textual.pilot import Pilot

from edge.config.line import LineConfig, load_config
from edge.logic.model import Quality, Sample
from edge.logic.quality.live import fixed_spec
from edge.runtime.channel import OperatorChannel
from edge.store import STREAMS, Store
from edge.store.quality import spec_to_json
from edge.tui.app import LinesideApp
from tests.conftest import example_on_free_ports

ZONE = ZoneInfo("Europe/Berlin")


def at(hhmm: str) -> float:
    h, m = (int(x) for x in hhmm.split(":")[:2])
    s = int(hhmm.split(":")[2]) if hhmm.count(":") == 2 else 0
    return datetime(2026, 11, 17, h, m, s, tzinfo=ZONE).timestamp()


NOW = at("10:30")
ANNA, BEN, CLARA, DIRK = (
    "Anna Operator (1001)",
    "Ben Teamlead (1002)",
    "Clara Quality (1003)",
    "Dirk Maintenance (1004)",
)


def seed(store: Store, cfg: LineConfig) -> None:
    """A morning on line 1: WO-1 running since 06:00, a jam 08:00-08:12 (reason from the
    PLC), an unexplained stop since 10:20, 40 SPC points with one alarm, a first-off
    inspection done, the hourly torque check overdue, WO-2 waiting."""
    store.register_tags([(t.name, t.device, t.type, t.eng_unit or "") for t in cfg.tags])
    db = store.db
    with store.transaction():
        for m in ("filler", "capper"):
            db.execute(
                "INSERT INTO state_changes (ts, machine, old, new, cause) VALUES (?, ?, NULL, 'running', 'start')",
                (at("06:00"), m),
            )
        db.execute(
            "INSERT INTO state_changes (ts, machine, old, new, cause) VALUES (?, 'filler', 'running', 'down', 'fault 101')",
            (at("08:00"),),
        )
        db.execute(
            "INSERT INTO state_changes (ts, machine, old, new, cause) VALUES (?, 'filler', 'down', 'running', '')",
            (at("08:12"),),
        )
        db.execute(
            "INSERT INTO state_changes (ts, machine, old, new, cause) VALUES (?, 'filler', 'running', 'down', 'fault 0')",
            (at("10:20"),),
        )
        db.execute(
            "INSERT INTO downtime (event_id, machine, start, end, state, auto_reason, micro) VALUES (?, 'filler', ?, ?, 'down', 'MECH.JAM', 0)",
            (f"filler@{at('08:00'):.3f}", at("08:00"), at("08:12")),
        )
        db.execute(
            "INSERT INTO downtime (event_id, machine, start, end, state, auto_reason, micro) VALUES (?, 'filler', ?, NULL, 'down', NULL, 0)",
            (f"filler@{at('10:20'):.3f}", at("10:20")),
        )
        t = at("06:00")
        while t < at("10:20"):
            if not at("08:00") <= t < at("08:12"):
                db.execute(
                    "INSERT INTO counts (ts, machine, good, scrap, ideal_cycle_s, order_id, product) VALUES (?, 'filler', 1100, 6, 0.5, 'WO-1', 'COLA-500')",
                    (t + 600,),
                )
            t += 600
        db.execute(
            "INSERT INTO order_requests (ts, order_id, product, action, quantity, by, applied) VALUES (?, 'WO-1', 'COLA-500', 'start', 30000, ?, 1)",
            (at("05:59"), ANNA),
        )
        db.execute(
            "INSERT INTO orders (ts, order_id, product, action) VALUES (?, 'WO-1', 'COLA-500', 'start')",
            (at("06:00"),),
        )
        for oid, prod, qty, due, prio, desc in (
            ("WO-1", "COLA-500", 30000, at("14:00"), 1, "Cola for the north DC"),
            ("WO-2", "WATER-1000", 8000, at("22:00"), 0, "Still water, export labels"),
        ):
            db.execute(
                "INSERT INTO work_orders (order_id, product, quantity, due, priority, description, updated) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (oid, prod, qty, due, prio, desc, at("05:00")),
            )
        spec = fixed_spec("xbar-r", 5, 500.0, 1.5)
        db.execute(
            "INSERT INTO spc_limits (ts, characteristic, action, spec, by, reason) VALUES (?, 'fill_weight', 'frozen', ?, 'line', 'baseline (25 points)')",
            (at("06:30"), spec_to_json(spec)),
        )
        for i in range(40):
            ts = at("07:00") + i * 300
            value = 500 + 0.6 * math.sin(i / 3) + (2.4 if i == 33 else 0)
            r = round(3.5 + 1.2 * math.cos(i / 2.5), 3)
            v = round(value, 3)  # a subgroup of 5 with this mean and range (capability)
            db.execute(
                "INSERT INTO spc_points (ts, characteristic, value, dispersion, z, subgroup) "
                "VALUES (?, 'fill_weight', ?, ?, NULL, ?)",
                (ts, v, r, json.dumps([v - r / 2, v, v, v, v + r / 2])),
            )
            if i == 33:
                db.execute(
                    "INSERT INTO spc_alarms (ts, characteristic, kind, rule, detail, value) VALUES (?, 'fill_weight', 'out_of_control', 'we1', '1 point beyond 3σ', ?)",
                    (ts, round(value, 3)),
                )
        items = [
            {"item": "fill_height", "value": 182.0, "unit": "mm", "pass": True},
            {"item": "cap_seal", "value": "pass", "pass": True},
            {"item": "label_position", "value": "pass", "pass": True},
        ]
        db.execute(
            "INSERT INTO inspections (ts, plan, order_id, product, parts_at, passed, items, by, comment) VALUES (?, 'first_off', 'WO-1', 'COLA-500', 0, 1, ?, ?, '')",
            (at("06:10"), json.dumps(items), ANNA),
        )
        db.execute(
            "INSERT INTO maintenance_requests (ts, machine, priority, text, by) VALUES (?, 'capper', 'normal', 'Head 3 drips oil', ?)",
            (at("07:45"), ANNA),
        )
        for d in cfg.devices:
            db.execute(
                "INSERT INTO device_status (device, state, since, last_error, updated_at) VALUES (?, 'connected', ?, NULL, ?)",
                (d.name, at("05:58"), NOW - 1),
            )
        for key, value in (
            ("heartbeat", NOW - 1),
            ("running", True),
            ("pid", 4242),
            (
                "uplink",
                {"connected": True, "broker": "127.0.0.1:8883", "protocol": "5", "records": 0, "resends": 0},
            ),
        ):
            db.execute(
                "INSERT INTO agent_status (key, value, updated_at) VALUES (?, ?, ?)",
                (key, json.dumps(value), NOW - 1),
            )
        # Everything recorded so far has reached the plant: backlog 0.
        for s in STREAMS:
            db.execute(
                "INSERT INTO stream_cursors (stream, sent_seq, acked_seq, updated_at) VALUES (?, 1000000, 1000000, ?)",
                (s, NOW),
            )
    samples = [
        Sample(
            "filler.fill_weight",
            500 + 1.2 * math.sin(i * 0.7) + 0.3 * math.cos(i * 1.3),
            Quality.GOOD,
            at("06:30") + i * 30,
            at("06:30") + i * 30,
        )
        for i in range(400)
    ]
    store.append_samples(samples)


@pytest.fixture
def line_cfg(tmp_path: Path) -> LineConfig:
    def changes(data: dict[str, Any]) -> None:
        data["tui"]["idle_logout_s"] = 300

    return load_config(example_on_free_ports(tmp_path, data_changes=changes))


@pytest.fixture
def channel(line_cfg: LineConfig) -> Iterator[OperatorChannel]:
    """The agent's operator channel on the seeded store (the terminal logs in and hands
    every action to it, as to a running agent; no PLCs here)."""
    with Store(line_cfg.store.path) as st:
        seed(st, line_cfg)
    ch = OperatorChannel(line_cfg)
    ch.start()
    try:
        yield ch
    finally:
        ch.stop()


@pytest.fixture
def seeded(channel: OperatorChannel) -> LineConfig:
    """The seeded line, its store served by the operator channel."""
    return channel.cfg


class FakeClock:
    def __init__(self, t: float) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


async def settle(pilot: Pilot[Any]) -> None:
    """Wait until the snapshot being read (in a worker thread) is on screen."""
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()
    await pilot.app.workers.wait_for_complete()  # a read requested while one ran
    await pilot.pause()


def make_app(cfg: LineConfig, clock: FakeClock | None = None, **kw: Any) -> LinesideApp:
    return LinesideApp(cfg, clock=clock or FakeClock(NOW), **kw)


def rows(cfg: LineConfig, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    """What the store holds, read through a separate connection (as the agent would)."""
    with Store(cfg.store.path, readonly=True) as st:
        return st.db.execute(sql, args).fetchall()
