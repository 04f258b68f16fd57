"""The store's public transaction and its repositories, on real SQLite files: what each
named query returns, the split of order requests from the line's order facts (migration
m010 on a store that has both), and SQLite's errors leaving as StoreError."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

import pytest

from edge.core.errors import StoreError
from edge.logic.materials.lots import LotConsumed
from edge.logic.production.line import MachineCount, OrderChange
from edge.logic.production.state import State, StateChange
from edge.logic.quality.live import fixed_spec
from edge.store import Store, genealogy, migrations, plant, production, quality, status
from edge.store.facts import spec_to_json
from edge.store.migrations import MIGRATIONS

# ----------------------------------------------------------------------------- transaction


def test_transaction_commits_together_or_not_at_all(tmp_path: Path) -> None:
    """A transaction opened inside another joins it: an error anywhere rolls back both."""
    st = Store(tmp_path / "s.db")
    with st.transaction(sync_full=True):
        production.add_order_request(st, "start", "WO-1", product="P", quantity=5, due=None, by="ann", ts=1.0)
        with st.transaction():
            st.append_event("note", "test", "inside")
    assert st.count("order_requests") == 1 and st.count("events") == 1
    with pytest.raises(RuntimeError), st.transaction():
        production.add_order_request(
            st, "pause", "WO-1", product=None, quantity=None, due=None, by="ann", ts=2.0
        )
        st.append_event("note", "test", "joined")  # its own transaction joins the outer one
        raise RuntimeError("validation failed after the first write")
    assert st.count("order_requests") == 1 and st.count("events") == 1
    assert not st.db.in_transaction


def test_a_store_locked_by_another_process_refuses_with_a_store_error(tmp_path: Path) -> None:
    st = Store(tmp_path / "s.db")
    st.db.execute("PRAGMA busy_timeout=100")
    other = sqlite3.connect(tmp_path / "s.db", isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    try:
        with (
            pytest.raises(StoreError, match="cannot start a transaction in the store: database is locked"),
            st.transaction(sync_full=True),
        ):
            st.append_event("x", "y", "z")
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert st.append_event("x", "y", "z") > 0  # the lock and the store's own lock were released


def test_a_snapshot_reads_one_state_while_the_agent_writes(tmp_path: Path) -> None:
    """Two reads inside one snapshot agree even if another connection commits between them."""
    writer = Store(tmp_path / "s.db")
    reader = Store(tmp_path / "s.db", readonly=True)
    writer.append_event("a", "test", "first")
    with reader.snapshot():
        before = reader.count("events")
        writer.append_event("b", "test", "second")
        assert reader.count("events") == before == 1
    assert reader.count("events") == 2


# ----------------------------------------------------------------------------- m010: requests apart from facts


def old_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A store as the line left it before m010: orders mixing requests and facts, all of
    them acknowledged by the aggregator, the last row a pending request."""
    path = tmp_path / "old.db"
    monkeypatch.setattr(migrations, "MIGRATIONS", [m for m in MIGRATIONS if m[0] < "m010"])
    with Store(path) as st, st.transaction():
        rows = [
            (1.0, "WO-1", "COLA", "start", 100, None, "Anna (1001)", 1),  # request, applied
            (1.5, "WO-1", "COLA", "start", None, None, "line", 1),  # fact
            (2.0, "WO-1", None, "pause", None, None, "Anna (1001)", 1),
            (2.5, "WO-1", "COLA", "pause", None, None, "line", 1),
            (3.0, "WO-2", "NOPE", "start", None, None, "erp", -1),  # refused
            (4.0, "WO-1", None, "complete", None, None, "Ben (1002)", 0),  # pending, the last row
        ]
        st.db.executemany(
            "INSERT INTO orders (ts, order_id, product, action, quantity, due, by, applied) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
        st.db.execute("INSERT INTO stream_cursors (stream, sent_seq, acked_seq) VALUES ('orders', 6, 6)")
    monkeypatch.undo()
    return path


def test_m010_moves_requests_out_of_the_order_facts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Requests keep their sequence numbers in `order_requests`; `orders` keeps the line's
    facts with only their own columns, and its counter: the next fact gets a sequence the
    aggregator has never seen (seq 6 was a request it already acknowledged)."""
    st = Store(old_store(tmp_path, monkeypatch))
    assert st.db.execute("SELECT seq, action, by, applied FROM order_requests ORDER BY seq").fetchall() == [
        (1, "start", "Anna (1001)", 1),
        (3, "pause", "Anna (1001)", 1),
        (5, "start", "erp", -1),
        (6, "complete", "Ben (1002)", 0),
    ]
    assert st.db.execute("SELECT * FROM orders ORDER BY seq").fetchall() == [
        (2, 1.5, "WO-1", "COLA", "start"),
        (4, 2.5, "WO-1", "COLA", "pause"),
    ]
    assert [r.seq for r in production.pending_order_requests(st)] == [6]
    st.append_samples([], [OrderChange(5.0, "WO-1", "COLA", "complete")])
    assert st.db.execute("SELECT max(seq) FROM orders").fetchone()[0] == 7
    assert st.cursor("orders") == {"sent_seq": 6, "acked_seq": 6}
    assert st.cursor("order_requests") == {"sent_seq": 0, "acked_seq": 0}  # shipped as the new stream
    assert production.requested_quantity(st, "WO-1") == 100


# ----------------------------------------------------------------------------- production


def test_running_order_state_and_counts(tmp_path: Path) -> None:
    st = Store(tmp_path / "s.db")
    assert production.running_order(st) is None and production.latest_state(st, "filler") is None
    st.append_samples(
        [],
        [
            StateChange(10.0, "filler", None, State.RUNNING, "start"),
            OrderChange(10.0, "WO-1", "COLA", "start"),
            MachineCount(20.0, 100, 2, 0.5, False, machine="filler", order="WO-1", product="COLA"),
            OrderChange(30.0, "WO-1", "COLA", "pause"),
            StateChange(30.0, "filler", State.RUNNING, State.PLANNED_STOP, "order paused"),
        ],
    )
    running = production.running_order(st)
    assert running == production.OrderState("WO-1", "COLA", 10.0, "pause")
    assert production.latest_state(st, "filler") == ("planned_stop", 30.0)
    assert production.counts_since(st, "filler", 10.0) == (100, 2)
    assert production.counts_since(st, "filler", 25.0) == (0, 0)
    assert production.last_plc_count(st, "filler") == ("WO-1", "COLA", 0.5)
    assert production.order_window(st, "WO-1") == (10.0, None)
    assert production.order_window(st, "WO-9") is None
    st.append_samples([], [OrderChange(40.0, "WO-1", "COLA", "complete")])
    assert production.running_order(st) is None
    assert production.order_window(st, "WO-1") == (10.0, 40.0)
    assert production.count_order_starts(st) == 1


def test_order_requests_pending_applied_and_changeover(tmp_path: Path) -> None:
    st = Store(tmp_path / "s.db")
    with st.transaction():
        a = production.add_order_request(
            st, "changeover_start", "", product=None, quantity=None, due=None, by="ann", ts=1.0
        )
        b = production.add_order_request(
            st, "start", "WO-3", product="P", quantity=None, due=None, by="ann", ts=2.0
        )
    assert [r.seq for r in production.pending_order_requests(st)] == [a, b]
    assert not production.in_changeover(st)  # requested, not applied yet
    assert production.order_was_started(st, "WO-3")  # asked for counts as started
    with st.transaction():
        production.mark_order_request(st, a, True)
        production.mark_order_request(st, b, False)
    assert production.pending_order_requests(st) == []
    assert not production.in_changeover(st)  # applied, but the line has not started one yet
    from edge.logic.production.line import Changeover

    st.append_samples([], [Changeover(3.0, "start", "P", "Q", None, 600.0)])
    assert production.in_changeover(st)
    st.append_samples([], [Changeover(700.0, "overrun", "P", "Q", None, 600.0)])
    assert production.open_changeover(st) == (Changeover(3.0, "start", "P", "Q", None, 600.0), True)
    st.append_samples([], [Changeover(800.0, "end", "P", "Q", None, 600.0)])
    assert not production.in_changeover(st)
    assert not production.order_was_started(st, "WO-3")  # the line refused it


# ----------------------------------------------------------------------------- quality


def test_frozen_limits_and_a_pending_recalculation(tmp_path: Path) -> None:
    """The view shows the last frozen limits; the agent starts a new baseline while a
    recalculation requested after them is pending."""
    st = Store(tmp_path / "s.db")
    spec = fixed_spec("imr", 1, 500.0, 1.5)
    with st.transaction():
        st.db.execute(
            "INSERT INTO spc_limits (ts, characteristic, action, spec, by, reason) VALUES (1, 'w', 'frozen', ?, 'line', 'b')",
            (spec_to_json(spec),),
        )
    frozen = quality.frozen_spec(st, "w")
    assert frozen is not None and frozen.primary.center == 500.0
    assert quality.frozen_spec(st, "w", in_force=True) is not None
    with st.transaction():
        seq = quality.add_recalculation(st, "w", by="clara", reason="new nozzle", ts=2.0)
    assert quality.frozen_spec(st, "w") is not None
    assert quality.frozen_spec(st, "w", in_force=True) is None
    assert quality.last_limit_row(st) == seq
    assert [(r.seq, r.action) for r in quality.limit_rows_after(st, seq - 1)] == [(seq, "recalculate")]
    assert quality.frozen_spec(st, "other") is None
    # Limits are kept per product: another product has none yet, then its own.
    assert quality.frozen_spec(st, "w", product="COLA") is None
    with st.transaction():
        quality.add_frozen(
            st,
            "w",
            spec_to_json(fixed_spec("imr", 1, 300.0, 1.0)),
            by="clara",
            reason="typed",
            ts=3.0,
            product="COLA",
        )
    cola = quality.frozen_spec(st, "w", product="COLA", in_force=True)
    assert cola is not None and cola.primary.center == 300.0
    assert quality.frozen_spec(st, "w", in_force=True) is None  # the product-less one still recalculates
    assert [r.action for r in quality.limit_history(st, "w")] == ["frozen", "recalculate", "frozen"]


def test_alarms_and_their_acknowledgement(tmp_path: Path) -> None:
    from edge.logic.quality.live import SpcAlarm, SpcPoint

    st = Store(tmp_path / "s.db")
    st.append_samples(
        [],
        [
            SpcPoint(1.0, "w", 501.0, None, None),
            SpcAlarm(1.0, "w", "out_of_spec", "spec", "above USL", 501.0),
            SpcAlarm(2.0, "w", "out_of_control", "we1", "beyond 3σ", 505.0),
        ],
    )
    top = quality.last_alarm(st, "w")
    assert [a.acknowledged for a in quality.alarms(st)] == [False, False]
    with st.transaction():
        quality.add_ack(
            st, "w", top or 0, by="ben", comment="ok", ts=3.0, cause="material", action="adjusted"
        )
    assert quality.acks_after(st, 0) == [(quality.last_ack(st), 3.0, "w")]
    assert [a.acknowledged for a in quality.alarms(st)] == [True, True]
    assert quality.ack_state(st, "w") == (top, 2.0, top)
    assert quality.alarm_times(st, "w", 1.5) == {2.0}
    assert quality.recent_points(st, "w", 10) == [(1.0, 501.0, None)]
    with st.transaction():
        quality.add_measurement(st, "w", 499.0, by="ann", ts=0.5)  # before the last point: charted
        later = quality.add_measurement(st, "w", 498.0, by="ann", ts=5.0)
    assert quality.last_charted_measurement(st) == later - 1
    assert quality.measurement_values(st, "w", 1.0) == [498.0]


# ----------------------------------------------------------------------------- plant and genealogy


def test_master_data_version_changes_with_each_command(tmp_path: Path) -> None:
    st = Store(tmp_path / "s.db")
    assert plant.master_version(st) == () and plant.master_data(st) == {}
    with st.transaction():
        plant.set_master_data(st, "reasons", [{"code": "MECH"}], command_id="c-1", ts=1.0)
    v1 = plant.master_version(st)
    with st.transaction():
        plant.set_master_data(st, "reasons", [{"code": "ELEC"}], command_id="c-2", ts=2.0)
    assert plant.master_version(st) != v1
    assert plant.master_data(st) == {"reasons": [{"code": "ELEC"}]}


def test_dispatch_list_carries_the_lines_last_order_fact(tmp_path: Path) -> None:
    st = Store(tmp_path / "s.db")
    with st.transaction():
        for oid, prio in (("WO-1", 0), ("WO-2", 5)):
            plant.release_work_order(
                st,
                oid,
                product="P",
                quantity=10,
                due=None,
                priority=prio,
                description="",
                command_id="c",
                ts=1.0,
            )
        plant.cancel_work_order(st, "WO-1", command_id="c2", ts=2.0)
    st.append_samples([], [OrderChange(3.0, "WO-2", "P", "start")])
    rows = plant.work_orders(st)
    assert [(r["order_id"], r["status"], r["last_action"]) for r in rows] == [
        ("WO-2", "released", "start"),
        ("WO-1", "cancelled", None),
    ]
    assert plant.released_work_order(st, "WO-2") == ("P", 10, None)
    assert plant.released_work_order(st, "WO-1") is None


def test_consumed_lots_from_tags_and_process_values(tmp_path: Path) -> None:
    from edge.logic.model import Quality, Sample

    st = Store(tmp_path / "s.db")
    st.register_tags([("w", "d", "float32", "g"), ("lot", "d", "string", "")])
    t0 = time.time()
    st.append_samples(
        [Sample("w", 500.0 + i, Quality.GOOD, t0 + i, t0 + i) for i in range(5)]
        + [Sample("lot", "PRE-1", Quality.GOOD, t0, t0)],
        [LotConsumed(t0, "PRE-1", "preforms", "WO-1")],
    )
    assert genealogy.consumed_for_order(st, "WO-1")[0]["material_lot"] == "PRE-1"
    assert genealogy.uses_of_material_lot(st, "PRE-1") == [("WO-1", "preforms")]
    pv = {v["tag"]: v for v in genealogy.process_values(st, t0, t0 + 10)}
    assert (pv["w"]["samples"], pv["w"]["min"], pv["w"]["max"]) == (5, 500.0, 504.0)
    assert pv["lot"]["mean"] is None  # not numeric
    assert status.last_data(st) == t0 + 4


def test_concurrent_writers_through_the_public_transaction(tmp_path: Path) -> None:
    """Threads sharing one Store serialise on its lock: every request lands once."""
    st = Store(tmp_path / "s.db")

    def work(i: int) -> None:
        for j in range(20):
            with st.transaction(sync_full=True):
                production.add_order_request(
                    st, "pause", f"WO-{i}", product=None, quantity=None, due=None, by=f"t{i}", ts=float(j)
                )

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert st.count("order_requests") == 80
