"""Missed inspections as a synced stream: the line's rows (recorded once each by
``edge.store.quality.add_miss``) go out through the uplink's record source as wire
records, land in the plant table once however often they are delivered, a record its
schema refuses fails the batch naming the field (the service dead-letters it), and a
line store from before the stream keeps its misses, which then ship too."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from edge.services.uplink import UplinkFeed
from edge.store import Store, migrations
from edge.store import quality as quality_repo
from sync.aggregator.store import AggregatorStore
from sync.protocol import Batch, LineRef, RecordError, parse_records
from sync.uplink.source import StoreSource
from tests.conftest import make_config

REF = LineRef(enterprise="acme", site="s", area="a", line="l1")
LINE = "acme/s/a/l1"


def _batch(records: list[dict[str, object]], after: int = 0) -> Batch:
    return Batch(
        line=REF,
        stream="inspection_misses",
        after_seq=after,
        first_seq=records[0]["seq"],  # type: ignore[arg-type]
        last_seq=records[-1]["seq"],  # type: ignore[arg-type]
        sent_at=0,
        records=records,
    )


def _wire(cfg_dir: Path) -> list[dict[str, object]]:
    """What the uplink's record source reads of the stream, as the wire has it."""
    feed = UplinkFeed(make_config([], [], cfg_dir))
    try:
        return [json.loads(t) for _, t in StoreSource(feed).read("inspection_misses", 0, 100)]
    finally:
        feed.close()


def test_misses_go_from_the_line_store_to_the_plant_table_once(agg_target: str, tmp_path: Path) -> None:
    cfg = make_config([], [], tmp_path)
    with Store(cfg.store.path) as st:
        for _ in range(2):  # the agent's check runs again: still one miss
            quality_repo.add_miss(
                st,
                "first-off",
                order="WO-1",
                product="P1",
                due_at=1000.0,
                reason="grace passed (order start)",
                ts=2000.0,
            )
        quality_repo.add_miss(
            st,
            "hourly",
            order="WO-1",
            product=None,
            due_at=4600.0,
            reason="order ended (every 60 min)",
            ts=5000.0,
        )
        assert st.last_seq("inspection_misses") == 2
    recs = _wire(tmp_path)
    assert recs == [
        {
            "seq": 1,
            "ts": 2000.0,
            "plan": "first-off",
            "order_id": "WO-1",
            "product": "P1",
            "due_at": 1000.0,
            "reason": "grace passed (order start)",
        },
        {
            "seq": 2,
            "ts": 5000.0,
            "plan": "hourly",
            "order_id": "WO-1",
            "product": None,
            "due_at": 4600.0,
            "reason": "order ended (every 60 min)",
        },
    ]
    agg = AggregatorStore(agg_target)
    try:
        for _ in range(2):  # redelivered: nothing changes
            assert agg.ingest(_batch(recs)) == 2
        rows = agg.query(
            "SELECT line, seq, ts, plan, order_id, product, due_at, reason FROM inspection_misses ORDER BY seq"
        )
        assert rows == [
            (LINE, 1, 2000.0, "first-off", "WO-1", "P1", 1000.0, "grace passed (order start)"),
            (LINE, 2, 5000.0, "hourly", "WO-1", None, 4600.0, "order ended (every 60 min)"),
        ]
        assert agg.ack(LINE, "inspection_misses") == 2
    finally:
        agg.close()


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("due_at", "soon", "due_at: Input should be a valid number"),
        ("order_id", "", "order_id: String should have at least 1 character"),
        ("plan", None, "plan: Input should be a valid string"),
        ("extra", 1, "extra: Extra inputs are not permitted"),
    ],
)
def test_a_bad_miss_is_refused_naming_the_field(field: str, value: object, message: str) -> None:
    rec = {
        "seq": 3,
        "ts": 1.0,
        "plan": "hourly",
        "order_id": "WO-1",
        "product": None,
        "due_at": 0.5,
        "reason": "grace passed",
    } | {field: value}
    with pytest.raises(RecordError, match=f"inspection_misses record 3: {message}"):
        parse_records("inspection_misses", [rec])


def test_a_refused_miss_keeps_nothing_at_the_plant(tmp_path: Path) -> None:
    agg = AggregatorStore(str(tmp_path / "agg.db"))
    try:
        good = {
            "seq": 1,
            "ts": 1.0,
            "plan": "p",
            "order_id": "WO",
            "product": None,
            "due_at": 0.5,
            "reason": "",
        }
        with pytest.raises(RecordError, match="inspection_misses record 2: due_at"):
            agg.ingest(_batch([good, good | {"seq": 2, "due_at": "later"}]))
        assert agg.ack(LINE, "inspection_misses") == 0
        assert agg.query("SELECT count(*) FROM inspection_misses") == [(0,)]
    finally:
        agg.close()


def test_a_store_from_before_the_stream_keeps_its_misses_and_ships_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = make_config([], [], tmp_path)
    old = [(n, fn) for n, fn in migrations.MIGRATIONS if n != "m021_inspection_stream"]
    db = sqlite3.connect(cfg.store.path, isolation_level=None)
    with monkeypatch.context() as m:
        m.setattr(migrations, "MIGRATIONS", old)
        migrations.apply(db)
    db.execute(
        "INSERT INTO inspection_misses (seq, ts, plan, order_id, product, due_at, reason) "
        "VALUES (4, 10.0, 'hourly', 'WO-9', NULL, 5.0, 'grace passed')"
    )
    db.close()
    with Store(cfg.store.path) as st:  # applies m021_inspection_stream
        assert st.last_seq("inspection_misses") == 4
        quality_repo.add_miss(st, "hourly", order="WO-9", product=None, due_at=5.0, reason="again", ts=11.0)
        quality_repo.add_miss(st, "hourly", order="WO-9", product=None, due_at=65.0, reason="x", ts=70.0)
        assert [m["due_at"] for m in quality_repo.misses_between(st, 0, 100)] == [5.0, 65.0]
    assert [(r["seq"], r["order_id"], r["due_at"]) for r in _wire(tmp_path)] == [
        (4, "WO-9", 5.0),
        (5, "WO-9", 65.0),
    ]


# ------------------------------------------------------------ inspections due (retained state)


def _due(i: int, overdue: bool) -> dict[str, object]:
    return {
        "plan": f"plan{i}",
        "order": "WO-1",
        "product": None,
        "due_at": 100.0 + i,
        "reason": "every 30 min",
        "overdue": overdue,
    }


def test_the_due_list_is_capped_and_says_how_many_in_all() -> None:
    from sync.protocol import InspectionsDue, decode
    from sync.protocol.payloads import MAX_DUE_INSPECTIONS
    from sync.uplink.state import inspections_payload

    due = [_due(i, i < 3) for i in range(MAX_DUE_INSPECTIONS + 5)]
    got = decode(InspectionsDue, inspections_payload(due, 500.0))
    assert got.count == MAX_DUE_INSPECTIONS + 5 and len(got.due) == MAX_DUE_INSPECTIONS
    assert [(d.plan, d.order_id, d.overdue) for d in got.due[:4]] == [
        ("plan0", "WO-1", True),
        ("plan1", "WO-1", True),
        ("plan2", "WO-1", True),
        ("plan3", "WO-1", False),
    ]
    assert decode(InspectionsDue, inspections_payload([], 1.0)).due == []


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (
            b'{"v":1,"ts":1,"due":[{"plan":"p","order_id":"WO","due_at":1}]}',
            "InspectionsDue: due.0.overdue: Field required",
        ),
        (
            b'{"v":1,"ts":1,"due":[{"plan":"p","order_id":"WO","due_at":NaN,"overdue":false}]}',
            "InspectionsDue: due.0.due_at",
        ),
        (b'{"v":1,"ts":1,"due":[],"count":-1}', "InspectionsDue: count"),
        (
            b'{"v":1,"ts":1,"due":['
            + b",".join([b'{"plan":"p","order_id":"W","due_at":1,"overdue":true}'] * 21)
            + b"]}",
            "InspectionsDue: due: List should have at most 20 items",
        ),
    ],
)
def test_a_bad_due_list_is_refused_naming_the_field(payload: bytes, message: str) -> None:
    from sync.protocol import InspectionsDue, PayloadError, decode

    with pytest.raises(PayloadError, match=message) as e:
        decode(InspectionsDue, payload)
    assert e.value.kind == "schema"
