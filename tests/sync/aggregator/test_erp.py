"""ERP confirmations (issue 19): each completed order confirmed exactly once — across a
failing endpoint that recovers and an aggregator SIGKILLed between the ERP's
acknowledgement and its own record of it (a real HTTP server and a real
``lineside aggregator run`` process)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

from edge.cli import main
from sync.aggregator.erp import ErpExporter, confirmation_key, time_in_states
from sync.aggregator.service import Aggregator
from sync.aggregator.store import AggregatorStore
from tests.mqtt_rig import Mosquitto
from tests.sync.conftest import LINE_KEY, agg_config, wait


def test_time_in_states_counts_the_state_at_start_and_clips_at_end() -> None:
    changes = [(0.0, "idle"), (10.0, "running"), (70.0, "down"), (100.0, "running"), (200.0, "idle")]
    # Window 50..150: running 50..70, down 70..100, running 100..150.
    assert time_in_states(changes, 50.0, 150.0) == {"running": 70.0, "down": 30.0}
    assert time_in_states([], 0.0, 10.0) == {}


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
    erp = Erp(fail=3)
    cfg = agg_config(
        mosquitto.port,
        str(db),
        erp={"url": erp.url, "interval_s": 0.1, "retry_min_s": 0.1, "retry_max_s": 0.2},
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

        wait(lambda: states() == ["sent", "sent"], 30)
    finally:
        proc.kill()
        proc.wait()
        if agg is not None:
            agg.stop()
        erp.server.shutdown()
    keys = {confirmation_key(LINE_KEY, o) for o in ("WO-1", "WO-2")}
    assert set(erp.written) == keys  # each written once …
    assert erp.requests[:3] == [erp.requests[0]] * 3  # … after three refusals …
    assert erp.requests.count(erp.requests[0]) == 5  # … and once more after the kill
    store.close()
