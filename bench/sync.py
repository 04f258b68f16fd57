"""Sync benchmark: edge store → uplink → mosquitto → aggregator → committed plant store.

* Backlog drain: 1,000,000 samples already in a line's store (an outage's worth); the
  uplink (this process) sends them through a private mosquitto to the aggregator (its
  own process) until the aggregator's contiguous ack reaches the last sequence.
  Reported: samples/s from start to the last commit.
* Latency: an OPC UA server changes 1,000 variables every 100 ms (10,000 updates/s);
  the agent (own process, uplink on) records and ships them; the aggregator commits.
  Reported: p50/p99 of (aggregator commit time − source timestamp) over all samples
  of the measuring window (same machine, same clock).
* Aggregator ingest on one core: encoded batches of 200 samples decoded, validated and
  committed by the aggregator's store code in one thread. Ceiling: raw SQLite
  executemany of the same rows into the same table layout.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.table import Row, print_rows

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.ingest import LINE, free_port, ua_line, ua_server
from tests.mqtt_rig import Mosquitto

KEY = "bench/s/a/l"
N_DRAIN = 1_000_000


def agg_yaml(tmp: Path, port: int) -> Path:
    import yaml

    p = tmp / "agg.yaml"
    p.write_text(
        yaml.safe_dump(
            {
                "mqtt": {"port": port, "client_id": "bench-agg"},
                "store": {"path": str(tmp / "plant.db")},
                "lines": [LINE],
                "ack_interval_ms": 20,
            }
        )
    )
    return p


def start_aggregator(cfg: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "edge.cli", "--log-level", "warning", "aggregator", "run", "-c", str(cfg)],
        stderr=subprocess.DEVNULL,
    )


def plant_ack(tmp: Path, stream: str = "samples") -> int:
    try:
        db = sqlite3.connect(f"file:{tmp / 'plant.db'}?mode=ro", uri=True, timeout=5)
        row = db.execute(
            "SELECT contiguous FROM progress WHERE line = ? AND stream = ?", (KEY, stream)
        ).fetchone()
        db.close()
        return int(row[0]) if row else 0
    except sqlite3.Error:
        return 0


def wait_subscribed(tmp: Path, port: int, timeout: float = 300.0) -> None:
    """Until the aggregator has subscribed: it keeps a line's status once it hears one.
    Batches published before that would be lost to the broker, and the drain would stall
    for the uplink's ack timeout (15 s) before resending them."""
    import paho.mqtt.client as mqtt

    from sync.protocol import LineRef, LineStatus, Topics, encode

    ref = LineRef(**LINE)
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="bench-probe")
    c.connect("127.0.0.1", port)
    c.loop_start()
    payload = encode(LineStatus(line=ref, online=False, ts=0.0))
    end = time.monotonic() + timeout
    try:
        while time.monotonic() < end:
            c.publish(Topics.of(ref).state("status"), payload, qos=1)
            time.sleep(0.2)
            try:
                db = sqlite3.connect(f"file:{tmp / 'plant.db'}?mode=ro", uri=True, timeout=5)
                seen = db.execute("SELECT count(*) FROM line_status").fetchone()[0]
                db.close()
            except sqlite3.Error:
                seen = 0
            if seen:
                return
        raise RuntimeError(f"the aggregator did not subscribe within {timeout:.0f} s")
    finally:
        c.loop_stop()
        c.disconnect()


def bench_drain(tmp: Path) -> dict[str, Any]:
    from edge.config.line import parse_config
    from edge.logic.model import Quality, Sample
    from edge.store import Store
    from sync.uplink.session import Uplink

    broker = Mosquitto(tmp / "broker")
    broker.start()
    cfg = parse_config(
        {
            "line": LINE,
            "devices": [{"name": "plc", "protocol": "modbus_tcp", "host": "127.0.0.1", "port": 1}],
            "tags": [
                {"name": f"t{i}", "device": "plc", "address": f"hr:{2 * i}", "type": "float32"}
                for i in range(100)
            ],
            "store": {"path": str(tmp / "line.db")},
            "uplink": {"mqtt": {"port": broker.port}},
        }
    )
    st = Store(cfg.store.path)
    st.register_tags((t.name, t.device, t.type, t.eng_unit) for t in cfg.tags)
    t0 = 1.7e9
    for k in range(0, N_DRAIN, 10_000):
        st.append_samples(
            [
                Sample(f"t{i % 100}", float(i) * 0.5, Quality.GOOD, t0 + i * 0.001, t0 + i * 0.001)
                for i in range(k, k + 10_000)
            ]
        )
    agg = start_aggregator(agg_yaml(tmp, broker.port))
    wait_subscribed(tmp, broker.port)
    up = Uplink(cfg)
    cpu0, start = time.process_time(), time.monotonic()
    up.start()
    while plant_ack(tmp) < N_DRAIN and time.monotonic() - start < 300:
        time.sleep(0.05)
    dt = time.monotonic() - start
    cpu = time.process_time() - cpu0
    done = plant_ack(tmp)
    up.stop()
    agg.terminate()
    agg.wait(30)
    broker.stop()
    return {
        "drain_samples_per_s": done / dt,
        "drained": done,
        "seconds": dt,
        "uplink_cpu_pct": 100 * cpu / dt,
        "batches": up.stats["batches"],
        "avg_batch_bytes": up.stats["bytes"] / max(1, up.stats["batches"]),
    }


def agent_proc(cfg_data: dict[str, Any], seconds: float, out: Any) -> None:
    import asyncio
    import logging

    logging.basicConfig(level=logging.WARNING)
    from edge.config.line import parse_config
    from edge.runtime.agent import Agent
    from sync.uplink import companions_for

    async def main() -> None:
        cfg = parse_config(cfg_data)
        agent = Agent(cfg, companions=companions_for(cfg))
        await agent.start()
        out["t0"] = time.time()
        await asyncio.sleep(seconds)
        out["t1"] = time.time()
        await asyncio.sleep(1.0)
        await agent.stop()

    asyncio.run(main())


def bench_latency(tmp: Path, seconds: float) -> dict[str, Any]:
    broker = Mosquitto(tmp / "broker2")
    broker.start()
    ctx = mp.get_context("spawn")
    mgr = ctx.Manager()
    stats, out = mgr.dict(), mgr.dict()
    ready, stop = ctx.Event(), ctx.Event()
    port = free_port()
    srv = ctx.Process(target=ua_server, args=(port, ready, stop, stats))
    srv.start()
    ready.wait(60)
    lat_tmp = tmp / "lat"
    lat_tmp.mkdir()
    agg = start_aggregator(agg_yaml(lat_tmp, broker.port))
    cfg = ua_line(
        port,
        lat_tmp / "line.db",
        store={"path": str(lat_tmp / "line.db"), "batch_max_latency_ms": 50},
        uplink={"mqtt": {"port": broker.port}, "batch_max_ms": 50},
    )
    warmup = 4.0
    ag = ctx.Process(target=agent_proc, args=(cfg, warmup + seconds, out))
    ag.start()
    ag.join(warmup + seconds + 60)
    time.sleep(1.0)
    stop.set()
    srv.join(30)
    agg.terminate()
    agg.wait(30)
    broker.stop()
    server_rate = float(stats.get("server_updates_per_s", 0.0))
    t_from = out.get("t0", 0) + warmup
    t_to = out.get("t1", 0)
    db = sqlite3.connect(str(lat_tmp / "plant.db"))
    lat = sorted(
        received - json.loads(data)["ts"]
        for received, data in db.execute(
            "SELECT received, data FROM records WHERE line = ? AND stream = 'samples'", (KEY,)
        )
        if t_from <= json.loads(data)["ts"] < t_to
    )
    line = sqlite3.connect(str(lat_tmp / "line.db"))
    produced = line.execute(
        "SELECT count(*) FROM samples WHERE ts >= ? AND ts < ?", (t_from, t_to)
    ).fetchone()[0]
    if not lat:
        return {
            "p50_ms": float("nan"),
            "p99_ms": float("nan"),
            "samples": 0,
            "produced": produced,
            "server_rate": server_rate,
        }
    return {
        "p50_ms": 1000 * lat[len(lat) // 2],
        "p99_ms": 1000 * lat[int(len(lat) * 0.99)],
        "max_ms": 1000 * lat[-1],
        "samples": len(lat),
        "produced": produced,
        "rate": len(lat) / max(1e-9, t_to - t_from),
        "server_rate": server_rate,
    }


def bench_ingest(tmp: Path) -> dict[str, Any]:
    from sync.aggregator.store import AggregatorStore
    from sync.protocol import LineRef, decode_batch, encode_batch

    ref = LineRef(**LINE)
    n_batches, per = 2500, 200
    payloads = []
    for b in range(n_batches):
        first = b * per + 1
        recs = [
            f'{{"seq":{s},"tag":"t{s % 100}","ts":{1.7e9 + s * 0.001!r},"ts_recv":{1.7e9 + s * 0.001!r},"value":{s * 0.5!r},"quality":"good"}}'
            for s in range(first, first + per)
        ]
        payloads.append(encode_batch(ref, "samples", first - 1, recs, (first, first + per - 1), 0.0))
    st = AggregatorStore(tmp / "ingest.db")
    cpu0, t0 = time.process_time(), time.perf_counter()
    group = 25
    for g in range(0, n_batches, group):
        now = time.time()
        with st.tx():
            for p in payloads[g : g + group]:
                with st.savepoint():
                    b, texts = decode_batch(p)  # as the aggregator service does
                    st.ingest_in_tx(b, now=now, texts=texts)
    dt = time.perf_counter() - t0
    cpu = time.process_time() - cpu0
    total = n_batches * per
    assert st.ack(KEY, "samples") == total
    st.close()
    # Ceiling: the same rows straight into SQLite, same layout, no decoding.
    raw = sqlite3.connect(str(tmp / "raw.db"), isolation_level=None)
    raw.execute("PRAGMA journal_mode=WAL")
    raw.execute("PRAGMA synchronous=NORMAL")
    raw.execute(
        "CREATE TABLE records (line TEXT NOT NULL, stream TEXT NOT NULL, seq BIGINT NOT NULL, received DOUBLE PRECISION, "
        "data TEXT NOT NULL, PRIMARY KEY (line, stream, seq)) WITHOUT ROWID"
    )
    rows = [
        (KEY, "samples", s, 0.0, f'{{"seq":{s},"tag":"t{s % 100}","value":{s * 0.5!r}}}')
        for s in range(1, total + 1)
    ]
    t1 = time.perf_counter()
    for g in range(0, total, per * group):
        raw.execute("BEGIN")
        raw.executemany("INSERT INTO records VALUES (?, ?, ?, ?, ?)", rows[g : g + per * group])
        raw.execute("COMMIT")
    raw_dt = time.perf_counter() - t1
    return {"ingest_samples_per_s": total / dt, "cpu_pct": 100 * cpu / dt, "raw_sqlite_per_s": total / raw_dt}


def ingest_payloads(n_batches: int, per: int = 200) -> list[bytes]:
    """``n_batches`` encoded sample batches of ``per`` records, as the uplink sends them."""
    from sync.protocol import LineRef, encode_batch

    ref = LineRef(**LINE)
    payloads = []
    for b in range(n_batches):
        first = b * per + 1
        recs = [
            f'{{"seq":{s},"tag":"t{s % 100}","ts":{1.7e9 + s * 0.001!r},"ts_recv":{1.7e9 + s * 0.001!r},"value":{s * 0.5!r},"quality":"good"}}'
            for s in range(first, first + per)
        ]
        payloads.append(encode_batch(ref, "samples", first - 1, recs, (first, first + per - 1), 0.0))
    return payloads


def work(kind: str, n: int, tmp: Path, dry: bool) -> None:
    """One piece of the sync path, deterministic, for instruction counts that the load of
    the machine does not change (``valgrind --tool=callgrind``). With ``dry`` only the
    setup runs: the work's count is the difference of the two runs.

    * ``ingest``: ``n`` batches of 200 samples decoded and committed by the aggregator's
      store code (25 batches per transaction, a savepoint each, as the service does).
    * ``uplink``: ``n`` × 1,000 samples of a line's store read, encoded and built into
      batches by the uplink's engine (the client only counts them).
    * ``insert``: ``n`` × 1,000 samples committed to a line's store in batches of 1,000
      (what the index of ``m019_trace_index`` costs)."""
    if kind == "ingest":
        from sync.aggregator.store import AggregatorStore
        from sync.protocol import decode_batch

        payloads = ingest_payloads(n)
        st = AggregatorStore(tmp / "ingest.db")
        if not dry:
            for g in range(0, n, 25):
                with st.tx():
                    for p in payloads[g : g + 25]:
                        with st.savepoint():
                            b, texts = decode_batch(p)
                            st.ingest_in_tx(b, now=1.7e9, texts=texts)
        st.close()
        return
    from edge.logic.model import Quality, Sample
    from edge.store import Store

    st = Store(tmp / "line.db")
    st.register_tags((f"t{i}", "plc", "float32", "") for i in range(100))
    t0 = 1.7e9

    def rows(k: int) -> list[Sample]:
        return [
            Sample(f"t{i % 100}", float(i) * 0.5, Quality.GOOD, t0 + i * 0.001, t0 + i * 0.001)
            for i in range(k, k + 1000)
        ]

    if kind == "insert":
        batches = [rows(k * 1000) for k in range(n)]
        if not dry:
            for b in batches:
                st.append_samples(b)
        st.close()
        return
    for k in range(n):
        st.append_samples(rows(k * 1000))
    st.close()
    from edge.config.line import parse_config
    from edge.services.uplink import STREAMS, UplinkFeed
    from sync.protocol import LineRef
    from sync.uplink.engine import Engine, Limits
    from sync.uplink.source import StoreSource

    cfg = parse_config(
        {
            "line": LINE,
            "devices": [{"name": "plc", "protocol": "modbus_tcp", "host": "127.0.0.1", "port": 1}],
            "tags": [{"name": "t0", "device": "plc", "address": "hr:0", "type": "float32"}],
            "store": {"path": str(tmp / "line.db")},
            "uplink": {"mqtt": {"port": 1}},
        }
    )
    assert cfg.uplink is not None
    feed = UplinkFeed(cfg)
    source = StoreSource(feed)
    u = cfg.uplink
    eng = Engine(
        LineRef(**LINE),
        STREAMS,
        Limits(inflight=u.inflight, unacked_records=u.unacked_records, batch_max_bytes=u.batch_max_bytes),
        feed.incarnation(),
    )
    eng.load(feed.cursors())
    eng.on_connect(False, 0.0)

    class Count:
        mid = 0

        def publish(self, stream: str, payload: bytes) -> int:
            self.mid += 1
            return self.mid

    client = Count()
    if dry:
        feed.close()
        return
    while eng.pump(source, client, now=0.0, wall=0.0):
        for mid in range(client.mid - eng.outstanding + 1, client.mid + 1):
            eng.on_puback(mid)
        eng.on_ack("samples", eng.streams["samples"].pos, 0.0)
    assert eng.streams["samples"].pos == n * 1000, eng.streams["samples"].pos
    feed.close()


def bench_index_cost(tmp: Path, n: int = 100_000) -> dict[str, Any]:
    """What ``m019_trace_index`` costs a line's sample inserts: ``n`` samples of 100 tags
    committed in batches of 5,000 (the agent's writer) to a store with the index and to
    one with it dropped, taking turns, best of three rounds each."""
    from edge.logic.model import Quality, Sample
    from edge.store import Store

    t0 = 1.7e9
    batches = [
        [
            Sample(f"t{i % 100}", float(i) * 0.5, Quality.GOOD, t0 + i * 0.001, t0 + i * 0.001)
            for i in range(k, k + 5000)
        ]
        for k in range(0, n, 5000)
    ]
    best = {"with": 1e9, "without": 1e9}
    for r in range(3):
        for kind in ("without", "with"):
            st = Store(tmp / f"idx-{kind}-{r}.db")
            st.register_tags((f"t{i}", "plc", "float32", "") for i in range(100))
            if kind == "without":
                st.db.execute("DROP INDEX samples_trace")
            t = time.perf_counter()
            for b in batches:
                st.append_samples(b)
            best[kind] = min(best[kind], time.perf_counter() - t)
            st.close()
    return {"with_per_s": n / best["with"], "without_per_s": n / best["without"]}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seconds", type=float, default=10.0, help="latency measuring window (default 10)")
    p.add_argument("--json", action="store_true", help="also print the figures as one JSON line")
    p.add_argument(
        "--work",
        choices=("ingest", "uplink", "insert"),
        help="run only this piece, for valgrind --tool=callgrind (see work())",
    )
    p.add_argument("--n", type=int, default=50, help="size of --work (batches / thousands of samples)")
    p.add_argument("--dry", action="store_true", help="with --work: the setup only")
    args = p.parse_args(argv)
    if args.work:
        with tempfile.TemporaryDirectory() as d:
            work(args.work, args.n, Path(d), args.dry)
        return {}
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        ing = bench_ingest(tmp)
        idx = bench_index_cost(tmp)
        drain = bench_drain(tmp)
        lat = bench_latency(tmp, args.seconds)
    rows = [
        (
            "backlog drain samples/s",
            drain["drain_samples_per_s"],
            ">= 100000",
            ing["raw_sqlite_per_s"],
            "raw SQLite insert",
        ),
        ("latency p50 ms (10k upd/s)", lat["p50_ms"], "", None, ""),
        ("latency p99 ms (10k upd/s)", lat["p99_ms"], "<= 250", None, ""),
        (
            "samples shipped/s in latency run",
            lat.get("rate", 0),
            ">= 10000",
            lat.get("server_rate") or None,
            "OPC UA server's updates/s",
        ),
        (
            "line store insert samples/s (trace index)",
            idx["with_per_s"],
            "",
            idx["without_per_s"],
            "same inserts without it",
        ),
        (
            "aggregator ingest samples/s",
            ing["ingest_samples_per_s"],
            ">= 100000",
            ing["raw_sqlite_per_s"],
            "raw SQLite insert",
        ),
    ]
    print_rows(
        [Row("sync", n, v, t, c, w) for n, v, t, c, w in rows],
        f"bench/sync.py  ({time.strftime('%Y-%m-%d %H:%M')}, {os.cpu_count()} cores)",
    )
    print(
        f"  drain: {drain['drained']:,} samples in {drain['seconds']:.1f} s, {drain['batches']:,} batches of "
        f"{drain['avg_batch_bytes']:,.0f} B, uplink CPU {drain['uplink_cpu_pct']:.0f}% of a core; "
        f"latency run: {lat['samples']:,} of {lat['produced']:,} samples, max {lat.get('max_ms', 0):.0f} ms"
    )
    result = {"drain": drain, "latency": lat, "ingest": ing, "index": idx}
    if args.json:
        print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
