"""Uplink → real mosquitto → aggregator, in one process: every record arrives once and
in order, acks come back end to end, and only then may retention prune."""

from __future__ import annotations

import time
from pathlib import Path

from edge.logic.model import Quality, Sample
from edge.store import STREAMS, Store
from sync.aggregator.service import Aggregator
from sync.uplink.session import Uplink
from tests.conftest import make_config
from tests.mqtt_rig import Mosquitto
from tests.sync.conftest import DEVICE, LINE_KEY, TAGS, agg_config, uplink_section, wait


def produce(store: Store, n: int, start: float = 1.7e9) -> None:
    rows = [Sample(f"t{i % 5}", float(i), Quality.GOOD, start + i * 0.01, start + i * 0.01) for i in range(n)]
    for k in range(0, n, 500):
        store.append_samples(rows[k : k + 500])


def test_records_reach_the_aggregator_once_in_order_and_acks_allow_retention(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    cfg = make_config(DEVICE, TAGS, tmp_path, uplink=uplink_section(mosquitto.port))
    store = Store(cfg.store.path)
    store.register_tags((t.name, t.device, t.type, t.eng_unit) for t in cfg.tags)
    agg = Aggregator(agg_config(mosquitto.port, str(tmp_path / "agg.db")))
    agg.start()
    up = Uplink(cfg)
    up.start()
    try:
        produce(store, 20_000)
        for i in range(30):
            store.append_event("note", "test", f"event {i}")
        wait(
            lambda: (
                agg.store.ack(LINE_KEY, "samples") == 20_000
                and agg.store.ack(LINE_KEY, "events") == store.last_seq("events")
            )
        )
        got = agg.store.records(LINE_KEY, "samples")
        assert [r["seq"] for r in got] == list(range(1, 20_001))
        assert got[7] == {
            "seq": 8,
            "tag": "t2",
            "ts": 1.7e9 + 0.07,
            "ts_recv": 1.7e9 + 0.07,
            "value": 7.0,
            "quality": "good",
        }
        ev = agg.store.records(LINE_KEY, "events")
        assert [e["message"] for e in ev][-30:] == [f"event {i}" for i in range(30)]
        # The acks travel back and are made durable at the edge.
        wait(lambda: Store(cfg.store.path, readonly=True).cursor("samples")["acked_seq"] == 20_000)
        wait(lambda: agg.store.query("SELECT online FROM line_status WHERE line = ?", (LINE_KEY,)) == [(1,)])
    finally:
        up.stop()
        agg.stop()
    assert agg.store.query("SELECT online FROM line_status WHERE line = ?", (LINE_KEY,)) == [(0,)], (
        "clean stop publishes offline"
    )
    removed = store.apply_retention(max_age_s=0, max_bytes=10**12, now=time.time() + 10**10)
    assert removed["samples"] == 20_000 and store.count("samples") == 0
    # Nothing unacknowledged is pruned: new rows stay.
    produce(store, 10)
    store.apply_retention(max_age_s=0, max_bytes=10**12, now=time.time() + 10**10)
    assert store.count("samples") == 10
    assert set(agg.store.dead_letter_counts()) == set()
    assert all(s in STREAMS for _, s in agg.store.acks())


def test_bookkeeping_columns_stay_at_the_line(tmp_path: Path, mosquitto: Mosquitto) -> None:
    """`order_requests.applied` changes after the row is written (the agent marks it
    applied); shipped, it would arrive stale. The record goes up without it."""
    cfg = make_config(DEVICE, TAGS, tmp_path, uplink=uplink_section(mosquitto.port))
    store = Store(cfg.store.path)
    with store.transaction():
        store.db.execute(
            "INSERT INTO order_requests (ts, order_id, product, action, quantity, by, applied) VALUES (1.7e9, 'WO-9', 'P', 'start', 10, 'ann', 0)"
        )
    agg = Aggregator(agg_config(mosquitto.port, str(tmp_path / "agg.db")))
    agg.start()
    up = Uplink(cfg)
    up.start()
    try:
        wait(lambda: agg.store.ack(LINE_KEY, "order_requests") == 1)
        (rec,) = agg.store.records(LINE_KEY, "order_requests")
        assert rec == {
            "seq": 1, "ts": 1.7e9, "order_id": "WO-9", "product": "P", "action": "start",
            "quantity": 10, "due": None, "by": "ann",
        }  # fmt: skip
    finally:
        up.stop()
        agg.stop()
        store.close()


def test_the_composition_root_gets_an_uplink_only_where_one_is_configured(tmp_path: Path) -> None:
    from edge.runtime.companion import Companion, UpstreamLink
    from sync.uplink import companions_for

    with_uplink = make_config(DEVICE, TAGS, tmp_path, uplink=uplink_section(1))
    (up,) = companions_for(with_uplink)
    assert isinstance(up, Uplink) and isinstance(up, Companion) and isinstance(up, UpstreamLink)
    assert not up.connected and up.last_ack is None
    assert companions_for(make_config(DEVICE, TAGS, tmp_path)) == []
    off = make_config(DEVICE, TAGS, tmp_path, uplink=uplink_section(1, enabled=False))
    assert companions_for(off) == []
