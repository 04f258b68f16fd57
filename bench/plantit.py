"""Plant-IT benchmark: the Sparkplug node's catch-up from the store and the encoders of the
unified namespace and Sparkplug.

* Sparkplug history drain: 100,000 samples of 200 tags in a line's store that a primary
  host missed; the node (this process) is born and sends them as DDATA flagged
  is_historical (500 metrics per message) through a private mosquitto to a subscriber
  that decodes every message. Reported: metrics/s from start to the last one received.
  Ceiling: the same rows read with raw SQLite, set on the generated protobuf message
  directly (500 per message) and published by a bare paho client (QoS 0) to the same
  broker and subscriber.
* DDATA encode: metrics/s through ``EdgeSession.data`` (500 per message); ceiling: the
  same fields set on the generated protobuf message directly and serialized.
* UNS encode: ``TagValue`` payloads/s (pydantic model, ISO time); ceiling: ``json.dumps``
  of the same dict.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.table import Row, print_rows
from tests.mqtt_rig import Mosquitto

N = 100_000
TAGS = 200
PER_MSG = 500
LINE = {"enterprise": "bench", "site": "s", "area": "a", "line": "l"}


class Counter:
    """A subscriber that decodes every Sparkplug DDATA and counts its metrics."""

    def __init__(self, port: int, topic: str) -> None:
        import paho.mqtt.client as mqtt
        from paho.mqtt.enums import CallbackAPIVersion

        from sync.protocol.sparkplug import decode_payload

        self.metrics = 0
        self.done = threading.Event()
        self.target = 0
        self.last = 0.0
        ready = threading.Event()

        def on_message(c: Any, u: Any, msg: Any) -> None:
            if "/DDATA/" not in msg.topic:
                return
            self.metrics += len(decode_payload(msg.payload).metrics)
            if self.target and self.metrics >= self.target:
                self.last = time.monotonic()
                self.done.set()

        self.c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"bench-sub-{time.monotonic_ns()}")
        self.c.on_message = on_message
        self.c.on_subscribe = lambda *a: ready.set()
        self.c.connect("127.0.0.1", port)
        self.c.subscribe(topic, qos=0)
        self.c.loop_start()
        ready.wait(10)

    def close(self) -> None:
        self.c.loop_stop()
        self.c.disconnect()


def bench_drain(tmp: Path) -> dict[str, float]:
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    from edge.config.line import parse_config
    from edge.logic.model import Quality, Sample
    from edge.services.uns import SPARKPLUG_CURSOR, PlantItFeed
    from edge.store import Store
    from sync.protocol.sparkplug import Payload
    from sync.sparkplug import SparkplugNode

    broker = Mosquitto(tmp / "broker")
    broker.start()
    cfg = parse_config(
        {
            "line": LINE,
            "devices": [{"name": "plc", "protocol": "modbus_tcp", "host": "127.0.0.1", "port": 1}],
            "tags": [
                {
                    "name": f"t{i}",
                    "device": "plc",
                    "address": f"hr:{2 * i}",
                    "type": "float32",
                    "eng_unit": "°C",
                }
                for i in range(TAGS)
            ],
            "store": {"path": str(tmp / "line.db")},
            "sparkplug": {"mqtt": {"port": broker.port}, "max_metrics": PER_MSG},
        }
    )
    st = Store(cfg.store.path)
    st.register_tags((t.name, t.device, t.type, t.eng_unit) for t in cfg.tags)
    t0 = 1.7e9
    for k in range(0, N, 10_000):
        st.append_samples(
            [
                Sample(f"t{i % TAGS}", float(i) * 0.5, Quality.GOOD, t0 + i * 0.01, t0 + i * 0.01)
                for i in range(k, k + 10_000)
            ]
        )
    feed = PlantItFeed(cfg)
    feed.save_marks({SPARKPLUG_CURSOR: 0})  # the host has seen nothing of it
    feed.close()
    try:
        sub = Counter(broker.port, "spBv1.0/#")
        sub.target = N
        node = SparkplugNode(cfg)
        start = time.monotonic()
        node.start()
        sub.done.wait(300)
        drain = sub.metrics / ((sub.last or time.monotonic()) - start)
        node.stop(3)
        sub.close()

        # Ceiling: the same rows read with raw SQLite, each 500 set on the generated
        # protobuf message directly, published by a bare paho client.
        sub = Counter(broker.port, "spBv1.0/#")
        sub.target = N
        raw = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bench-raw")
        raw.connect("127.0.0.1", broker.port)
        raw.loop_start()
        db = sqlite3.connect(cfg.store.path)
        start = time.monotonic()
        after = 0
        while True:
            rows = db.execute(
                "SELECT seq, tag_id, ts, value FROM samples WHERE seq > ? ORDER BY seq LIMIT ?",
                (after, 10_000),
            ).fetchall()
            if not rows:
                break
            after = rows[-1][0]
            for i in range(0, len(rows), PER_MSG):
                p = Payload()
                p.timestamp, p.seq = 1, 1
                for _seq, tag_id, ts, value in rows[i : i + PER_MSG]:
                    m = p.metrics.add()
                    m.alias, m.timestamp, m.datatype, m.is_historical, m.float_value = (
                        tag_id,
                        round(ts * 1000),
                        9,
                        True,
                        value,
                    )
                raw.publish("spBv1.0/bench/DDATA/raw/plc", p.SerializeToString(), qos=0)
        sub.done.wait(300)
        db.close()
        ceiling = sub.metrics / ((sub.last or time.monotonic()) - start)
        raw.loop_stop()
        raw.disconnect()
        sub.close()
    finally:
        broker.stop()
    return {"drain": drain, "ceiling": ceiling}


def bench_encode() -> dict[str, float]:
    from sync.protocol.sparkplug import DataType, EdgeSession, MetricDef, Payload, Point
    from sync.protocol.uns import tag_value

    defs = [MetricDef(f"t{i}", i + 1, DataType.Float, "°C") for i in range(PER_MSG)]
    points = [Point(d, float(i), "good", 1.7e9 + i) for i, d in enumerate(defs)]
    s = EdgeSession(bd_seq=0)
    rounds = 100
    t = time.perf_counter()
    for _ in range(rounds):
        s.data(points, 1.7e9, historical=True)
    ours = rounds * PER_MSG / (time.perf_counter() - t)
    t = time.perf_counter()
    for _ in range(rounds):
        p = Payload()
        p.timestamp, p.seq = 1, 1
        for pt in points:
            m = p.metrics.add()
            m.alias, m.timestamp, m.datatype, m.is_historical, m.float_value = (
                pt.metric.alias,
                round(pt.ts * 1000),
                9,
                True,
                pt.value,
            )
        p.SerializeToString()
    raw_pb = rounds * PER_MSG / (time.perf_counter() - t)

    n = 50_000
    t = time.perf_counter()
    for i in range(n):
        tag_value(
            "filler.temperature", "filler", "float32", "°C", 21.5 + i, "good", 1.7e9 + i
        ).model_dump_json()
    uns = n / (time.perf_counter() - t)
    t = time.perf_counter()
    for i in range(n):
        json.dumps(
            {
                "v": 1,
                "timestamp": "2026-12-01T08:15:02.123Z",
                "ts_ms": 1796112902123 + i,
                "tag": "filler.temperature",
                "device": "filler",
                "value": 21.5 + i,
                "unit": "°C",
                "quality": "good",
                "type": "float32",
            }
        )
    raw_json = n / (time.perf_counter() - t)
    return {"ddata": ours, "raw_pb": raw_pb, "uns": uns, "raw_json": raw_json}


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.parse_args(argv)
    with tempfile.TemporaryDirectory() as d:
        drain = bench_drain(Path(d))
    enc = bench_encode()
    rows = [
        Row(
            "plantit",
            "sparkplug history drain metrics/s",
            drain["drain"],
            ">= 10000",
            drain["ceiling"],
            "raw SQLite+protobuf+paho",
        ),
        Row(
            "plantit",
            "sparkplug DDATA encode metrics/s",
            enc["ddata"],
            ">= 50000",
            enc["raw_pb"],
            "raw protobuf",
        ),
        Row("plantit", "uns TagValue encode values/s", enc["uns"], ">= 2000", enc["raw_json"], "json.dumps"),
    ]
    print_rows(rows, "Plant IT (Sparkplug B node, unified namespace)")


if __name__ == "__main__":
    main()
