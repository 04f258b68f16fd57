"""A line store recreated (issue 13, finding 1): its sequences start at 1 again. Before,
the plant took its batches for ones already received and the line clamped the plant's
old ack, marking everything acknowledged: the new store's records never arrived."""

from __future__ import annotations

from pathlib import Path

from edge.store import Store
from sync.aggregator.service import Aggregator
from sync.uplink.session import Uplink
from tests.conftest import make_config
from tests.mqtt_rig import Mosquitto
from tests.sync.conftest import DEVICE, LINE_KEY, TAGS, agg_config, uplink_section, wait
from tests.sync.uplink.test_session import produce


def _new_store(cfg) -> Store:  # type: ignore[no-untyped-def]
    st = Store(cfg.store.path)
    st.register_tags((t.name, t.device, t.type, t.eng_unit) for t in cfg.tags)
    return st


def test_a_recreated_store_is_delivered_as_a_new_incarnation(tmp_path: Path, mosquitto: Mosquitto) -> None:
    cfg = make_config(DEVICE, TAGS, tmp_path, uplink=uplink_section(mosquitto.port))
    agg = Aggregator(agg_config(mosquitto.port, str(tmp_path / "agg.db")))
    agg.start()
    try:
        store = _new_store(cfg)
        old = store.incarnation()
        produce(store, 300)
        up = Uplink(cfg)
        up.start()
        wait(lambda: Store(cfg.store.path, readonly=True).cursor("samples")["acked_seq"] == 300)
        up.stop()
        store.close()
        for suffix in ("", "-wal", "-shm"):
            Path(f"{cfg.store.path}{suffix}").unlink()
        store = _new_store(cfg)  # recreated: sequences from 1, a new incarnation
        assert store.incarnation() != old
        produce(store, 120, start=1.8e9)
        up = Uplink(cfg)
        up.start()
        try:
            wait(
                lambda: (
                    agg.store.ack(LINE_KEY, "samples") == 120
                    and agg.store.latest_incarnation(LINE_KEY) != old
                )
            )
            wait(lambda: Store(cfg.store.path, readonly=True).cursor("samples")["acked_seq"] == 120)
        finally:
            up.stop()
        new = agg.store.records(LINE_KEY, "samples")
        assert [r["seq"] for r in new] == list(range(1, 121)) and new[0]["ts"] == 1.8e9
        assert len(agg.store.records(LINE_KEY, "samples", old)) == 300  # the old store's, kept apart
        assert [i["incarnation"] for i in agg.store.incarnations()] == [old, store.incarnation()]
    finally:
        agg.stop()
