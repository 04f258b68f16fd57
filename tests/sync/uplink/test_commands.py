"""Commands down: a work order queued while the line was offline arrives when it returns;
replaying a command changes nothing; an invalid command is rejected with the reason."""

from __future__ import annotations

import time
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from edge.services.commands import dispatch_list, effective_config
from edge.services.identity import Actor
from edge.services.production import order_command
from edge.store import Store
from sync.aggregator.service import Aggregator
from sync.protocol import Command, Topics, encode
from sync.uplink.session import Uplink
from tests.conftest import make_config
from tests.mqtt_rig import Mosquitto
from tests.sync.conftest import DEVICE, TAGS, agg_config, uplink_section, wait

LINE_KEY = "acme/test/a1/l1"
PRODUCTS = [{"id": "COLA-500", "ideal_cycle_s": 0.5}, {"id": "WATER-1L", "ideal_cycle_s": 0.8}]


def test_offline_line_gets_its_work_order_once(tmp_path: Path, mosquitto: Mosquitto) -> None:
    cfg = make_config(DEVICE, TAGS, tmp_path, uplink=uplink_section(mosquitto.port), products=PRODUCTS)
    agg = Aggregator(agg_config(mosquitto.port, str(tmp_path / "agg.db")))
    agg.start()
    try:
        # The line has never been seen: nothing can be delivered yet.
        agg.store.add_command(
            "c-1",
            LINE_KEY,
            "work_order",
            {"order_id": "WO-1", "product": "COLA-500", "quantity": 1200},
            time.time(),
        )
        agg.store.add_command(
            "c-2", LINE_KEY, "work_order", {"order_id": "WO-2", "product": "BEER"}, time.time()
        )
        agg.store.add_command(
            "c-3", LINE_KEY, "reasons", {"reasons": [{"code": "MECH", "name": "Mechanical"}]}, time.time()
        )
        time.sleep(1.5)
        assert [c["state"] for c in agg.store.commands()] == ["pending"] * 3
        # The line comes online: pending commands go out, the edge stores and answers them.
        up = Uplink(cfg)
        up.start()
        wait(lambda: all(c["state"] != "pending" for c in agg.store.commands()))
        states = {c["id"]: (c["state"], c["reason"]) for c in agg.store.commands()}
        assert states["c-1"] == ("accepted", "")
        assert states["c-2"][0] == "rejected" and "'BEER' is not a product of this line" in states["c-2"][1]
        assert states["c-3"] == ("accepted", "")
        store = Store(cfg.store.path)
        assert [(o["order_id"], o["product"], o["quantity"], o["state"]) for o in dispatch_list(store)] == [
            ("WO-1", "COLA-500", 1200, "released")
        ]
        assert [r.code for r in effective_config(cfg, store).reasons] == ["MECH"]
        # The line goes offline again; an order queued meanwhile waits and arrives later.
        up.stop()
        agg.store.add_command(
            "c-4",
            LINE_KEY,
            "work_order",
            {"order_id": "WO-3", "product": "WATER-1L", "priority": 5},
            time.time(),
        )
        time.sleep(1.5)
        assert {c["id"]: c["state"] for c in agg.store.commands()}["c-4"] == "pending"
        up = Uplink(cfg)
        up.start()
        wait(lambda: {c["id"]: c["state"] for c in agg.store.commands()}["c-4"] == "accepted")
        assert [o["order_id"] for o in dispatch_list(store)] == ["WO-3", "WO-1"]  # priority first
        # A replay of an applied command (a lost ack, a redelivery) changes nothing.
        replay = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="replayer", protocol=mqtt.MQTTv5)
        replay.connect("127.0.0.1", mosquitto.port)
        replay.loop_start()
        cmd = Command(
            id="c-1", kind="work_order", issued_at=0, body={"order_id": "WO-1", "product": "WATER-1L"}
        )
        for _ in range(3):
            replay.publish(
                Topics("acme", "test", "a1", "l1").cmd("work_order"), encode(cmd), qos=1
            ).wait_for_publish(5)
        time.sleep(1.0)
        replay.disconnect()
        replay.loop_stop()
        assert [(o["order_id"], o["product"]) for o in dispatch_list(store)] == [
            ("WO-3", "WATER-1L"),
            ("WO-1", "COLA-500"),
        ]
        assert store.db.execute("SELECT count(*) FROM commands").fetchone()[0] == 4
        assert store.db.execute("SELECT count(*) FROM audit WHERE action LIKE 'command.%'").fetchone()[0] == 4
        # The operator starts the released order by id alone: product and quantity come with it.
        anna = Actor("operator", "Anna", "1001", "operator", frozenset({"run_orders"}), "badge+pin")
        order_command(cfg, store, anna, "start", "WO-1")
        assert store.db.execute(
            "SELECT product, quantity FROM order_requests WHERE order_id = 'WO-1'"
        ).fetchone() == ("COLA-500", 1200)
        up.stop()
    finally:
        agg.stop()
