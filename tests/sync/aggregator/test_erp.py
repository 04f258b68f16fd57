"""ERP confirmations (issue 19): each completed order, and each line's and order's
shift or hour, confirmed exactly once — across a failing endpoint that recovers and an
aggregator SIGKILLed between the ERP's acknowledgement and its own record of it (a real
HTTP server and a real ``lineside aggregator run`` process); periods cut so that an
order's pieces add up to the order, and held back while the line's data is not all in."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

from edge.cli import main
from sync.aggregator import erp_store
from sync.aggregator.erp import ErpExporter, confirmation_key, periods, time_in_states
from sync.aggregator.service import Aggregator
from sync.aggregator.store import AggregatorStore
from tests.mqtt_rig import Mosquitto
from tests.sync.conftest import LINE_KEY, agg_config, wait


def test_time_in_states_counts_the_state_at_start_and_clips_at_end() -> None:
    changes = [(0.0, "idle"), (10.0, "running"), (70.0, "down"), (100.0, "running"), (200.0, "idle")]
    # Window 50..150: running 50..70, down 70..100, running 100..150.
    assert time_in_states(changes, 50.0, 150.0) == {"running": 70.0, "down": 30.0}
    assert time_in_states([], 0.0, 10.0) == {}


#: 2026-12-01 00:00 UTC; the span test's times are hours after it.
DAY = datetime(2026, 12, 1, tzinfo=UTC).timestamp()


def h(hours: float) -> float:
    return DAY + hours * 3600


#: Two twelve-hour shifts every day (06:00–18:00 day, 18:00–06:00 night), UTC.
CALENDAR = {
    "patterns": [
        {
            "name": "day",
            "start": "06:00",
            "end": "18:00",
            "days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
        },
        {
            "name": "night",
            "start": "18:00",
            "end": "06:00",
            "days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
        },
    ]
}


def test_periods_are_whole_hours_and_the_calendars_shifts_ending_in_the_window() -> None:
    assert periods("hour", h(1.5), h(4)) == [
        ("2026-12-01T01:00Z", h(1), h(2)),
        ("2026-12-01T02:00Z", h(2), h(3)),
        ("2026-12-01T03:00Z", h(3), h(4)),
    ]
    assert periods("hour", h(4), h(4.9)) == []  # the hour in progress has not ended
    cfg = agg_config(1, "x.db", erp={"outbox_dir": "o", "periods": ["shift"], "calendar": CALENDAR})
    cal = ErpExporter(cfg, None).calendar  # type: ignore[arg-type]
    assert periods("shift", h(0), h(31), cal) == [
        ("2026-11-30/night", h(-6), h(6)),
        ("2026-12-01/day", h(6), h(18)),
        ("2026-12-01/night", h(18), h(30)),
    ]


def fill_span(store: AggregatorStore) -> None:
    """Order WO-9 runs 17:00–19:30 across the day/night shift change at 18:00; WO-8 was
    started at 10:00 and paused at 10:30, never to be completed."""
    with store.tx():
        store._exec(
            "INSERT INTO order_runs (line, order_id, product, first_ts, last_ts, last_action, seq) "
            "VALUES (?, 'WO-9', 'COLA', ?, ?, 'complete', 2)",
            (LINE_KEY, h(17), h(19.5)),
        )
        store._exec(
            "INSERT INTO order_runs (line, order_id, product, first_ts, last_ts, last_action, seq) "
            "VALUES (?, 'WO-8', 'COLA', ?, ?, 'pause', 1)",
            (LINE_KEY, h(10), h(10.5)),
        )
        for seq, t, machine, good, scrap, reason in (
            (1, 17 + 10 / 60, "filler", 100, 2, "JAM"),
            (2, 17 + 50 / 60, "capper", 60, 1, "CAP"),
            (3, 18 + 10 / 60, "filler", 80, 3, "JAM"),
            (4, 19.0, "filler", 20, 0, None),
        ):
            store._exec(
                "INSERT INTO counts (line, seq, ts, machine, good, scrap, order_id, scrap_reason) "
                "VALUES (?, ?, ?, ?, ?, ?, 'WO-9', ?)",
                (LINE_KEY, seq, h(t), machine, good, scrap, reason),
            )
        for seq, t, new in (
            (1, 16.0, "running"),
            (2, 17 + 40 / 60, "down"),
            (3, 18 + 20 / 60, "running"),
            (4, 19.5, "idle"),
        ):
            store._exec(
                "INSERT INTO state_changes (line, seq, ts, machine, old, new) VALUES (?, ?, ?, 'filler', NULL, ?)",
                (LINE_KEY, seq, h(t), new),
            )
        for seq, t, lot, q in ((1, 17.5, "P-1", -120), (2, 18.5, "P-2", -100)):
            store._exec(
                "INSERT INTO lot_moves (line, seq, ts, kind, location, material, lot, quantity, order_id, by_who) "
                "VALUES (?, ?, ?, 'backflush', 'L1', 'PREFORM', ?, ?, 'WO-9', 'agent')",
                (LINE_KEY, seq, h(t), lot, q),
            )
        for seq, t, lot in ((1, 17 + 55 / 60, "B-1"), (2, 19 + 25 / 60, "B-2")):
            store._exec(
                "INSERT INTO produced_lots (line, seq, ts, lot, kind, order_id, product, machine, start_ts, end_ts, "
                "quantity) VALUES (?, ?, ?, ?, 'batch', 'WO-9', 'COLA', 'filler', ?, ?, 100)",
                (LINE_KEY, seq, h(t), lot, h(t) - 600, h(t)),
            )


def status(store: AggregatorStore, ts: float, *, online: bool = True, backlog: int = 0) -> None:
    """The line's last status as the plant keeps it."""
    with store.tx():
        store._exec("DELETE FROM line_status WHERE line = ?", (LINE_KEY,))
        store._exec(
            "INSERT INTO line_status (line, online, ts, backlog, received) VALUES (?, ?, ?, ?, ?)",
            (LINE_KEY, int(online), ts, backlog, ts),
        )


def queued(store: AggregatorStore) -> dict[str, dict[str, Any]]:
    return {r["id"]: r["body"] for r in erp_store.outbox(store, limit=10_000)}


def test_an_order_across_a_shift_change_splits_and_its_periods_add_up_to_the_order(
    tmp_path: Path, agg_target: str
) -> None:
    store = AggregatorStore(agg_target)
    fill_span(store)
    status(store, h(31))  # the line had sent everything by 07:00 the next day
    erp = {
        "outbox_dir": str(tmp_path / "out"),
        "periods": ["order", "shift", "hour"],
        "calendar": CALENDAR,
        "periods_from": "2026-12-01T00:00:00Z",
    }
    ex = ErpExporter(agg_config(1, agg_target, erp=erp), store)
    ex.queue(h(32))
    q = queued(store)
    order = q[confirmation_key(LINE_KEY, "WO-9")]
    # The whole order: filler's good (its output), every machine's scrap; running
    # 17:00–17:40 and 18:20–19:30, down 17:40–18:20.
    assert (order["good"], order["scrap"], order["run_s"], order["down_s"]) == (200, 6, 6600.0, 2400.0)
    day = q[confirmation_key(LINE_KEY, "WO-9", "shift", "2026-12-01/day")]
    night = q[confirmation_key(LINE_KEY, "WO-9", "shift", "2026-12-01/night")]
    assert (day["start"], day["end"], day["active_start"], day["active_end"]) == (h(6), h(18), h(17), h(18))
    assert (night["active_start"], night["active_end"]) == (h(18), h(19.5))
    assert (day["good"], day["scrap"], day["scrap_by_reason"], day["run_s"], day["down_s"]) == (
        100,
        3,
        {"CAP": 1, "JAM": 2},
        2400.0,
        1200.0,
    )
    assert (night["good"], night["scrap"], night["scrap_by_reason"], night["run_s"], night["down_s"]) == (
        100,
        3,
        {"JAM": 3},
        4200.0,
        1200.0,
    )
    assert day["consumed"] == [{"material": "PREFORM", "lot": "P-1", "quantity": 120.0}]
    assert [lot["lot"] for lot in day["lots_produced"]] == ["B-1"]
    assert [lot["lot"] for lot in night["lots_produced"]] == ["B-2"]
    hours = [q[confirmation_key(LINE_KEY, "WO-9", "hour", f"2026-12-01T{x}:00Z")] for x in (17, 18, 19)]
    assert not any(b.get("order_id") == "WO-9" and b["kind"] == "hour" and b not in hours for b in q.values())
    for pieces in ([day, night], hours):
        assert sum(p["good"] for p in pieces) == order["good"]
        assert sum(p["scrap"] for p in pieces) == order["scrap"]
        assert sum(p["run_s"] for p in pieces) == order["run_s"]
        assert sum(p["down_s"] for p in pieces) == order["down_s"]
        by: dict[str, int] = {}
        for p in pieces:
            for k, v in p["scrap_by_reason"].items():
                by[k] = by.get(k, 0) + v
        assert by == order["scrap_by_reason"]
        assert sum(c["quantity"] for p in pieces for c in p["consumed"]) == sum(
            c["quantity"] for c in order["consumed"]
        )
        assert sorted(lot["lot"] for p in pieces for lot in p["lots_produced"]) == ["B-1", "B-2"]
    # The line's own day shift: running from 16:00 (before, its state is unknown), down from 17:40.
    line_day = q[confirmation_key(LINE_KEY, "", "shift", "2026-12-01/day")]
    assert (line_day["order_id"], line_day["orders"], line_day["good"]) == (None, ["WO-8", "WO-9"], 100)
    # The paused order is active in the hour it was paused in, not after it.
    assert q[confirmation_key(LINE_KEY, "", "shift", "2026-12-01/night")]["orders"] == ["WO-9"]
    assert confirmation_key(LINE_KEY, "WO-8", "hour", "2026-12-01T10:00Z") in q
    assert confirmation_key(LINE_KEY, "WO-8", "hour", "2026-12-01T11:00Z") not in q
    assert line_day["time_by_state_s"] == {"running": 6000.0, "down": 1200.0}
    # Queued once: looking again queues nothing.
    assert ex.queue(h(32)) == 0 and len(queued(store)) == len(q)
    store.close()


def test_a_line_offline_at_the_period_end_gets_no_short_confirmation(tmp_path: Path, agg_target: str) -> None:
    store = AggregatorStore(agg_target)
    fill_span(store)
    status(store, h(17.9))  # last heard of at 17:54, with nothing outstanding …
    status(store, h(17.95), online=False)  # … then gone
    erp = {
        "outbox_dir": str(tmp_path / "out"),
        "periods": ["shift"],
        "calendar": CALENDAR,
        "periods_from": "2026-12-01T00:00:00Z",
    }
    ex = ErpExporter(agg_config(1, agg_target, erp=erp), store)
    assert ex.queue(h(20)) == 0  # the day shift has ended, but its last minutes are not here
    assert ex.queue(h(23)) == 0
    # Back: each stream's contiguous point reaches 19:00 (nothing missing before it).
    with store.tx():
        for stream, seq, t in (("counts", 4, 19.0), ("orders", 2, 19.5)):
            store._exec(
                "INSERT INTO progress (line, stream, incarnation, contiguous, highest, updated) "
                "VALUES (?, ?, '', ?, ?, ?)",
                (LINE_KEY, stream, seq, seq, h(t)),
            )
            store._exec(
                "INSERT INTO records (line, stream, incarnation, seq, received, data) VALUES (?, ?, '', ?, ?, ?)",
                (LINE_KEY, stream, seq, h(t), json.dumps({"seq": seq, "ts": h(t)})),
            )
    assert ex.queue(h(23)) == 3  # the day shift: the line's, WO-8's and WO-9's
    q = queued(store)
    day = q[confirmation_key(LINE_KEY, "WO-9", "shift", "2026-12-01/day")]
    assert (day["good"], day["scrap"]) == (100, 3)
    assert ex.queue(h(23)) == 0  # the night shift is not over; the day shift queued once
    assert ex.queue(h(31)) == 0  # over, but the plant holds the line's data only to 19:00
    status(store, h(30.5))  # online, nothing outstanding at 06:30
    assert ex.queue(h(31)) == 2
    assert erp_store.coverage(store, LINE_KEY) == h(30.5)
    status(store, h(31), online=False)
    assert erp_store.coverage(store, LINE_KEY) == h(30.5)  # coverage never goes back
    assert (
        sorted(b["period"] for b in queued(store).values())
        == ["2026-12-01/day"] * 3 + ["2026-12-01/night"] * 2
    )
    store.close()


def fill(store: AggregatorStore) -> None:
    """Two completed orders and one running, as the projections keep them."""
    with store.tx():
        for oid, action, first, last in (
            ("WO-1", "complete", 1000.0, 1100.0),
            ("WO-2", "complete", 1100.0, 1200.0),
            ("WO-3", "start", 1200.0, 1200.0),
        ):
            store._exec(
                "INSERT INTO order_runs (line, order_id, product, first_ts, last_ts, last_action, seq) "
                "VALUES (?, ?, 'COLA', ?, ?, ?, 1)",
                (LINE_KEY, oid, first, last, action),
            )
        rows = [
            (1, 1010.0, "filler", 40, 0, None, "WO-1"),
            (2, 1020.0, "filler", 50, 2, "JAM", "WO-1"),
            (3, 1030.0, "capper", 30, 1, "CAP", "WO-1"),
            (4, 1150.0, "filler", 7, 0, None, "WO-2"),
        ]
        for seq, ts, machine, good, scrap, reason, oid in rows:
            store._exec(
                "INSERT INTO counts (line, seq, ts, machine, good, scrap, order_id, scrap_reason) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (LINE_KEY, seq, ts, machine, good, scrap, oid, reason),
            )
        for seq, ts, new in ((1, 990.0, "running"), (2, 1060.0, "down"), (3, 1090.0, "running")):
            store._exec(
                "INSERT INTO state_changes (line, seq, ts, machine, old, new) VALUES (?, ?, ?, 'filler', NULL, ?)",
                (LINE_KEY, seq, ts, new),
            )
        store._exec(
            "INSERT INTO lot_moves (line, seq, ts, kind, location, material, lot, quantity, order_id, by_who) "
            "VALUES (?, 1, 1050.0, 'backflush', 'L1', 'PREFORM', 'P-7', 90, 'WO-1', 'agent')",
            (LINE_KEY,),
        )


class Erp:
    """An ERP endpoint: refuses the first ``fail`` requests (503), then writes each
    confirmation once per idempotency key; ``on_write`` runs before it answers."""

    def __init__(self, fail: int) -> None:
        self.fail = fail
        self.requests: list[str] = []
        self.written: dict[str, dict[str, Any]] = {}
        self.on_write: Any = None
        erp = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                key = self.headers["Idempotency-Key"]
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                erp.requests.append(key)
                if len(erp.requests) <= erp.fail:
                    self.send_response(503)
                    self.end_headers()
                    return
                if key not in erp.written:
                    erp.written[key] = body
                    if erp.on_write is not None:
                        erp.on_write()
                self.send_response(201)
                self.end_headers()

            def log_message(self, *a: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/confirmations"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def test_confirmation_content(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = AggregatorStore(tmp_path / "agg.db")
    fill(store)
    cfg = agg_config(1, str(tmp_path / "agg.db"), erp={"outbox_dir": str(tmp_path / "out")})
    ex = ErpExporter(cfg, store)
    assert ex.step(now=2000.0) == (2, 2)
    assert ex.step(now=2001.0) == (0, 0)  # queued once
    c = json.loads((tmp_path / "out" / f"{confirmation_key(LINE_KEY, 'WO-1')}.json").read_text())
    assert (c["good"], c["scrap"], c["machine"]) == (90, 3, "filler")
    assert c["scrap_by_reason"] == {"CAP": 1, "JAM": 2}
    # Running from before the start to 1060, down to 1090, running to the end at 1100.
    assert (c["run_s"], c["down_s"]) == (70.0, 30.0)
    assert c["consumed"] == [{"material": "PREFORM", "lot": "P-7", "quantity": 90.0}]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(
        f"{confirmation_key(LINE_KEY, o)}.json" for o in ("WO-1", "WO-2")
    )
    path = tmp_path / "agg.yaml"
    path.write_text(yaml.safe_dump(cfg.model_dump(mode="json", exclude={"source"})))
    assert main(["aggregator", "erp", "outbox", "-c", str(path), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert sorted((r["order_id"], r["state"], r["attempts"]) for r in rows) == [
        ("WO-1", "sent", 1),
        ("WO-2", "sent", 1),
    ]
    store.close()


def test_written_exactly_once_across_a_sigkill_and_a_failing_endpoint(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    db = tmp_path / "agg.db"
    store = AggregatorStore(db)
    fill(store)
    # The line had sent everything by 01:01:40 (epoch 3700): the first hour is confirmed
    # as well — the line's and one per order active in it — the second waits.
    with store.tx():
        store._exec(
            "INSERT INTO line_status (line, online, ts, backlog, received) VALUES (?, 1, 3700.0, 0, 3700.0)",
            (LINE_KEY,),
        )
    erp = Erp(fail=3)
    cfg = agg_config(
        mosquitto.port,
        str(db),
        erp={
            "url": erp.url,
            "interval_s": 0.1,
            "retry_min_s": 0.1,
            "retry_max_s": 0.2,
            "periods": ["order", "hour"],
            "periods_from": "1970-01-01T00:00:00Z",
        },
    )
    path = tmp_path / "agg.yaml"
    path.write_text(yaml.safe_dump(cfg.model_dump(mode="json", exclude={"source"})))

    def run() -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [sys.executable, "-m", "edge.cli", "aggregator", "run", "-c", str(path)],
            stdout=subprocess.DEVNULL,
            stderr=open(tmp_path / "agg.log", "ab"),
        )

    proc = run()
    agg = None
    # The ERP writes the first confirmation, then the aggregator dies before it hears 201.
    erp.on_write = lambda: os.kill(proc.pid, signal.SIGKILL)
    try:
        wait(lambda: proc.poll() is not None, 30)
        erp.on_write = None
        assert len(erp.written) == 1
        agg = Aggregator(cfg)  # restarted (in this process: a second start-up costs seconds)
        agg.start()

        def states() -> list[str]:
            return [r[0] for r in store.query("SELECT state FROM erp_outbox")]

        wait(lambda: states() == ["sent"] * 6, 30)
    finally:
        proc.kill()
        proc.wait()
        if agg is not None:
            agg.stop()
        erp.server.shutdown()
    hour = "1970-01-01T00:00Z"
    keys = {confirmation_key(LINE_KEY, o) for o in ("WO-1", "WO-2")} | {
        confirmation_key(LINE_KEY, o, "hour", hour) for o in ("", "WO-1", "WO-2", "WO-3")
    }
    assert set(erp.written) == keys  # each written once …
    assert len(erp.requests) == len(keys) + 3 + 1
    assert erp.written[confirmation_key(LINE_KEY, "", "hour", hour)]["good"] == 97
    assert store.query("SELECT after_ts FROM erp_periods") == [(3600.0,)]
    assert erp.requests[:3] == [erp.requests[0]] * 3  # … after three refusals …
    assert erp.requests.count(erp.requests[0]) == 5  # … and once more after the kill
    store.close()


def test_a_confirmation_pruned_once_sent_is_not_queued_again(tmp_path: Path) -> None:
    from sync.aggregator.config import RetentionCfg
    from sync.aggregator.ops import prune

    store = AggregatorStore(tmp_path / "agg.db")
    fill(store)  # WO-1 and WO-2 completed at 1100 and 1200 (epoch s)
    cfg = agg_config(1, str(tmp_path / "agg.db"), erp={"outbox_dir": str(tmp_path / "out")}, retention={})
    ex = ErpExporter(cfg, store)
    assert ex.step(now=2000.0) == (2, 2)
    assert cfg.retention is not None
    later = time.time() + cfg.retention.erp_sent_days * 86400 + 1  # (marked sent at the real time)
    assert prune(store, RetentionCfg(), later)["erp_outbox"] == 2
    assert ex.step(now=later) == (0, 0)  # the orders are not confirmed a second time
    assert len(list((tmp_path / "out").iterdir())) == 2
    store.close()


def test_one_instance_sends_and_another_takes_over_when_it_dies(tmp_path: Path, pg_database: str) -> None:
    """Two aggregator instances on one PostgreSQL store queue the same confirmations once,
    but only the one holding the sender lock delivers them; when its connection goes (the
    instance died), the other takes over at its next step, and nothing is sent twice."""
    from sync.aggregator.store import AggregatorStore as Store

    setup = Store(pg_database)
    setup.reset()
    setup.close()
    a, b = Store(pg_database), Store(pg_database)
    fill(a)
    erp = Erp(fail=0)
    cfg = agg_config(1, pg_database, erp={"url": erp.url})
    first, second = ErpExporter(cfg, a), ErpExporter(cfg, b)
    assert first.step(now=2000.0) == (2, 2)  # WO-1 and WO-2, by the first instance
    with b.tx():  # a third order completes
        b._exec("UPDATE order_runs SET last_action = 'complete', last_ts = 1300.0 WHERE order_id = 'WO-3'")
    assert second.step(now=2001.0) == (1, 0)  # queued (once), but not sent: not the sender
    assert first.step(now=2002.0) == (0, 1)  # the sender sends it
    assert len(erp.requests) == 3
    with b.tx():
        b._exec(
            "INSERT INTO order_runs (line, order_id, product, first_ts, last_ts, last_action, seq) "
            "VALUES (?, 'WO-4', 'COLA', 1300.0, 1400.0, 'complete', 1)",
            (LINE_KEY,),
        )
    a.close()  # the first instance dies: its lock goes with its connection
    assert second.step(now=2003.0) == (1, 1)
    assert sorted(erp.written) == sorted(confirmation_key(LINE_KEY, f"WO-{i}") for i in (1, 2, 3, 4))
    assert len(erp.requests) == 4  # each once
    b.close()
    erp.server.shutdown()
