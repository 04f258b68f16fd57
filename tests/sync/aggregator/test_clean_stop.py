"""A cleanly stopped aggregator instance leaves the shared subscription: a real mosquitto
then deals every message to the instance still running, instead of queueing about half
of them in the stopped instance's persistent session until it returns."""

from __future__ import annotations

import json
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from sync.aggregator.service import Aggregator
from tests.mqtt_rig import Mosquitto
from tests.sync.conftest import agg_config, wait

REF = {"enterprise": "acme", "site": "test", "area": "a1", "line": "l1"}
KEY = "acme/test/a1/l1"


def events(seq: int) -> bytes:
    return json.dumps(
        {
            "v": 1,
            "line": REF,
            "stream": "events",
            "after_seq": seq - 1,
            "first_seq": seq,
            "last_seq": seq,
            "sent_at": 0.0,
            "records": [
                {"seq": seq, "ts": 1.0, "kind": "k", "source": "s", "message": f"m{seq}", "data": None}
            ],
        }
    ).encode()


def test_a_stopped_instance_is_dealt_no_share(tmp_path: Path, mosquitto: Mosquitto) -> None:
    db = str(tmp_path / "agg.db")
    a = Aggregator(agg_config(mosquitto.port, db, lines=[REF]), client_id="agg-a")
    b = Aggregator(agg_config(mosquitto.port, db, lines=[REF]), client_id="agg-b")
    a.start()
    b.start()
    pub = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="line-l1", protocol=mqtt.MQTTv5)
    try:
        wait(lambda: a.connected.is_set() and b.connected.is_set())
        a.stop()
        pub.connect("127.0.0.1", mosquitto.port)
        pub.loop_start()
        n = 20
        for seq in range(1, n + 1):
            pub.publish(f"lineside/v1/{KEY}/events", events(seq), qos=1).wait_for_publish(5)
        wait(lambda: b.store.ack(KEY, "events") == n, 20)
        assert b.counts["messages"] == n, "every message went to the running instance"
        assert b.counts["dead_letters"] == 0
    finally:
        pub.loop_stop()
        pub.disconnect()
        b.stop()
