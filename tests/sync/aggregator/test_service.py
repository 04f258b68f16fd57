"""The running aggregator against a real broker, on SQLite and PostgreSQL: malformed
payloads of every kind are counted in the dead-letter table and never stop ingest."""

from __future__ import annotations

import json
import time

import paho.mqtt.client as mqtt
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from paho.mqtt.enums import CallbackAPIVersion

from sync.aggregator.service import Aggregator
from tests.mqtt_rig import Mosquitto
from tests.sync.conftest import agg_config, wait

BASE = "lineside/v1/acme/test/a1/l1"
LINE_KEY = "acme/test/a1/l1"
REF = {"enterprise": "acme", "site": "test", "area": "a1", "line": "l1"}


def batch(after: int, seqs: list[int], stream: str = "events", **over: object) -> bytes:
    d = {
        "v": 1,
        "line": REF,
        "stream": stream,
        "after_seq": after,
        "first_seq": seqs[0],
        "last_seq": seqs[-1],
        "sent_at": 0.0,
        "records": [
            {"seq": s, "ts": 1.0, "kind": "k", "source": "s", "message": f"m{s}", "data": None} for s in seqs
        ],
    }
    d.update(over)
    return json.dumps(d).encode()


CORPUS: list[tuple[str, bytes, str]] = [
    (f"{BASE}/events", b"", "not_json"),
    (f"{BASE}/events", b"\xff\xfe garbage", "not_json"),
    (f"{BASE}/events", b"[]", "schema"),
    (f"{BASE}/events", b'{"v": 2}', "schema"),
    (f"{BASE}/events", batch(0, [2, 1]), "schema"),
    (f"{BASE}/events", batch(0, [1], stream="samples"), "schema"),  # stream differs from the topic
    (f"{BASE}/events", batch(0, [1], line={**REF, "line": "l9"}), "schema"),  # line differs from the topic
    (f"{BASE}/events", batch(10**12, [10**12 + 1]), "future"),
    (f"{BASE}/downtime", batch(0, [1], stream="downtime"), "rejected"),  # records lack what downtime needs
    ("lineside/v1/acme/test/a1/l9/events", batch(0, [1]), "unknown_line"),
    (f"{BASE}/no_such_stream", b"{}", "unknown_stream"),
    # Finding 8: a well-formed batch on a stream the protocol does not know.
    (f"{BASE}/no_such_stream", batch(0, [1], stream="no_such_stream"), "unknown_stream"),
    # Finding 8: NaN and Infinity in a record (Python's JSON reads them; JSON has none).
    (f"{BASE}/events", batch(0, [1]).replace(b'"ts": 1.0', b'"ts": NaN'), "schema"),
    (f"{BASE}/events", batch(0, [1]).replace(b'"ts": 1.0', b'"ts": 1e999'), "schema"),
    # Finding 2: starts at the committed point but reaches far beyond it.
    (f"{BASE}/events", batch(0, [1, 10**12]), "future"),
    (f"{BASE}/state/status", b'{"v":1,"online":"maybe"}', "schema"),
    (f"{BASE}/state/shift_kpi", b"{", "not_json"),
    (f"{BASE}/state/alarms", b"[1,2]", "schema"),
    # A due inspection without its overdue flag; a miss without plan, order, due time.
    (
        f"{BASE}/state/inspections",
        b'{"v":1,"ts":1,"due":[{"plan":"p","order_id":"WO","due_at":1}]}',
        "schema",
    ),
    (f"{BASE}/inspection_misses", batch(0, [1], stream="inspection_misses"), "rejected"),
    (f"{BASE}/cmd-ack", b'{"id": 5}', "schema"),
]


class Pub:
    def __init__(self, port: int) -> None:
        self.c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="fuzzer", protocol=mqtt.MQTTv5)
        self.c.connect("127.0.0.1", port)
        self.c.loop_start()

    def send(self, topic: str, payload: bytes) -> None:
        self.c.publish(topic, payload, qos=1).wait_for_publish(5)

    def close(self) -> None:
        self.c.disconnect()
        self.c.loop_stop()


def test_malformed_payloads_are_dead_letters_and_ingest_goes_on(
    mosquitto: Mosquitto, agg_target: str
) -> None:
    agg = Aggregator(agg_config(mosquitto.port, agg_target))
    agg.start()
    pub = Pub(mosquitto.port)
    try:
        assert agg.connected.wait(5)
        time.sleep(0.3)
        pub.send(f"{BASE}/events", batch(0, [1, 2]))
        for topic, payload, _ in CORPUS:
            pub.send(topic, payload)
        pub.send(f"{BASE}/events", batch(2, [3]))
        want: dict[str, int] = {}
        for _, _, kind in CORPUS:
            want[kind] = want.get(kind, 0) + 1
        wait(lambda: agg.store.dead_letter_counts() == want and agg.store.ack(LINE_KEY, "events") == 3)
        # Finding 2: the far-reaching batch neither moved the ack nor displaced m1.
        assert [r["message"] for r in agg.store.records(LINE_KEY, "events")] == ["m1", "m2", "m3"]
        row = agg.store.query("SELECT topic, error FROM dead_letters WHERE kind = 'future' ORDER BY id")[0]
        assert row[0] == f"{BASE}/events" and "beyond the committed 2" in row[1]
    finally:
        pub.close()
        agg.stop()


@settings(deadline=None, max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    payloads=st.lists(
        st.tuples(
            st.sampled_from(["events", "samples", "state/status", "state/shift_kpi", "cmd-ack", "counts"]),
            st.one_of(
                st.binary(min_size=1, max_size=200),
                st.recursive(
                    st.none()
                    | st.booleans()
                    | st.integers()
                    | st.floats(allow_nan=False)
                    | st.text(max_size=10),
                    lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=8), c, max_size=4),
                    max_leaves=12,
                ).map(lambda v: json.dumps(v).encode()),
            ),
        ),
        min_size=1,
        max_size=15,
    )
)
def test_fuzzed_payloads_never_crash_the_aggregator(
    fuzz_rig: tuple[Aggregator, Pub], payloads: list[tuple[str, bytes]]
) -> None:
    agg, pub = fuzz_rig
    before = sum(agg.store.dead_letter_counts().values())
    for rest, payload in payloads:
        pub.send(f"{BASE}/{rest}", payload)
    wait(lambda: sum(agg.store.dead_letter_counts().values()) == before + len(payloads))
    assert agg._threads[0].is_alive()


import pytest  # noqa: E402


@pytest.fixture(scope="module")
def fuzz_rig(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    tmp = tmp_path_factory.mktemp("fuzz")
    b = Mosquitto(tmp / "broker")
    b.start()
    agg = Aggregator(agg_config(b.port, str(tmp / "agg.db")))
    agg.start()
    assert agg.connected.wait(5)
    time.sleep(0.3)
    pub = Pub(b.port)
    yield agg, pub
    pub.close()
    agg.stop()
    b.stop()
