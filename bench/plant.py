"""Plant benchmark: a simulated plant into one mosquitto and one, then two aggregators
on PostgreSQL (README "A plant that outgrows one box").

The plant: ``--lines`` lines (default 20), each with ``--tags`` tags (default 200)
changing at ``--hz`` (default 1): every period each line commits one sample per tag into
its own SQLite line store (``edge.store.Store``, the agent's store) and its real uplink
(``sync.uplink.Uplink``, one per line, persistent MQTT 5 session) ships them. The lines
run in ``--producers`` processes (default 2), spread evenly over the period. The
aggregators are ``lineside aggregator run`` processes (own ``--client-id`` each) on a
PostgreSQL database made for the run and dropped afterwards.

One run, in this order:

1. *steady, one aggregator*: ``--window`` s of the plant's load. Sustained ingest is the
   records committed at the plant in the window per second (against what the lines
   produced in it); lag is, per sample, its plant commit (the ``received`` time of the
   committing transaction) minus its commit at the line (the sample's ``ts``, taken as
   it is committed), p99 per line.
2. *catch-up, one aggregator*: the aggregator is paused (SIGSTOP) for ``--pause`` s while
   the lines go on (the broker holds the backlog), then resumed: records committed per
   second until the plant has caught up. This is the ingest capacity.
3. The same two with a second instance started: *steady, two* and *catch-up, two*.
   Two against one is the ratio of the catch-up rates.
4. *kill*: one of the two is SIGKILLed mid-stream, restarted after ``--pause`` s (its
   session brings back what it held), the lines stop, everything drains: per line, the
   records the line store holds and those the plant holds must be the same count, with
   the plant's contiguous ack at the line's last sequence (zero loss, no duplicate: the
   plant's key is the sequence).

Ceiling, same run: the same records rows (line, stream, incarnation, seq, received, data)
inserted into PostgreSQL by psycopg ``executemany`` in transactions, nothing else.

``--quick``: 4 lines × 50 tags, short phases (the smoke test, ``tests/bench``).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing as mp
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.table import Row, print_rows
from tests.mqtt_rig import Mosquitto

PG_ADMIN = os.environ.get(
    "LINESIDE_BENCH_PG", os.environ.get("LINESIDE_TEST_PG", "postgresql://root@127.0.0.1:5432/postgres")
)
REPO = Path(__file__).resolve().parent.parent


def line_name(i: int) -> str:
    return f"l{i:02d}"


def line_key(i: int) -> str:
    return f"bench/plant/a/{line_name(i)}"


def line_spec(i: int, tmp: Path, port: int, tags: int) -> dict[str, Any]:
    """Line ``i``'s config: ``tags`` float tags on a device nobody polls (the producer
    writes the samples), its store and its uplink to the broker."""
    return {
        "line": {"enterprise": "bench", "site": "plant", "area": "a", "line": line_name(i)},
        "devices": [{"name": "plc", "protocol": "modbus_tcp", "host": "127.0.0.1", "port": 1}],
        "tags": [
            {"name": f"t{k:03d}", "device": "plc", "address": f"hr:{2 * k}", "type": "float32"}
            for k in range(tags)
        ],
        "store": {"path": str(tmp / f"{line_name(i)}.db")},
        # The catch-up phases hold acks back for many seconds: no resend meanwhile.
        "uplink": {"mqtt": {"port": port, "keepalive_s": 30}, "ack_timeout_s": 600},
    }


# ---------------------------------------------------------------------- the lines


def producer(
    specs: list[tuple[int, dict[str, Any]]],
    n_lines: int,
    hz: float,
    go: Any,
    t0: Any,
    producing: Any,
    finish: Any,
) -> None:
    """Lines ``specs`` (global index, config): their stores, then on ``go`` their
    uplinks; while ``producing`` is set, one sample per tag per period from ``t0``, line
    i at offset i/n of the period; after, the uplinks keep shipping until ``finish``."""
    import logging

    logging.basicConfig(level=logging.WARNING)
    from edge.config.line import parse_config
    from edge.logic.model import Quality, Sample
    from edge.store import Store
    from sync.uplink.session import Uplink

    lines = []
    for gi, data in specs:
        cfg = parse_config(data)
        st = Store(cfg.store.path)
        st.register_tags((t.name, t.device, t.type, t.eng_unit) for t in cfg.tags)
        lines.append((gi, st, Uplink(cfg), [t.name for t in cfg.tags]))
    go.wait()
    for _, _, up, _ in lines:
        up.start()
    period = 1.0 / hz
    k = 0
    while producing.is_set():
        for gi, st, up, tags in lines:
            due = t0.value + k * period + gi * period / n_lines
            delay = due - time.time()
            if delay > 0:
                time.sleep(delay)
            now = time.time()
            st.append_samples([Sample(t, k + j * 0.001, Quality.GOOD, now, now) for j, t in enumerate(tags)])
            up.notify()
        k += 1
    finish.wait()
    for _, st, up, _ in lines:
        up.stop(1.0)
        st.close()


class Lines:
    """Read-only views of the line stores: last sequence and acknowledged cursor."""

    def __init__(self, paths: list[Path]) -> None:
        self.dbs = [sqlite3.connect(f"file:{p}?mode=ro", uri=True, timeout=10) for p in paths]

    def last(self) -> list[int]:
        out = []
        for db in self.dbs:
            row = db.execute("SELECT seq FROM sqlite_sequence WHERE name = 'samples'").fetchone()
            out.append(int(row[0]) if row else 0)
        return out

    def acked(self) -> list[int]:
        out = []
        for db in self.dbs:
            row = db.execute("SELECT acked_seq FROM stream_cursors WHERE stream = 'samples'").fetchone()
            out.append(int(row[0]) if row else 0)
        return out

    def count(self, i: int) -> int:
        return int(self.dbs[i].execute("SELECT count(*) FROM samples").fetchone()[0])

    def produced_between(self, t0: float, t1: float) -> int:
        return sum(
            int(db.execute("SELECT count(*) FROM samples WHERE ts >= ? AND ts < ?", (t0, t1)).fetchone()[0])
            for db in self.dbs
        )

    def close(self) -> None:
        for db in self.dbs:
            db.close()


# ---------------------------------------------------------------------- the plant


@contextlib.contextmanager
def pg_database() -> Iterator[str]:
    import psycopg

    name = f"lineside_bench_plant_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    try:
        admin = psycopg.connect(PG_ADMIN, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as e:
        raise SystemExit(
            f"bench/plant.py: PostgreSQL not reachable at {PG_ADMIN} ({e}); set LINESIDE_BENCH_PG"
        ) from None
    admin.execute(f"CREATE DATABASE {name}")
    try:
        yield PG_ADMIN.rsplit("/", 1)[0] + f"/{name}"
    finally:
        admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.close()


class Aggregator:
    """One ``lineside aggregator run`` instance."""

    def __init__(self, cfg: Path, client_id: str, logdir: Path) -> None:
        self.cfg, self.client_id, self.logdir = cfg, client_id, logdir
        self.starts = 0
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 120.0) -> None:
        self.starts += 1
        log = self.logdir / f"{self.client_id}-{self.starts}.log"
        self.proc = subprocess.Popen(
            [
                *(sys.executable, "-m", "edge.cli", "aggregator", "run", "-c", str(self.cfg)),
                *("--client-id", self.client_id, "--no-web"),
            ],
            cwd=REPO,
            stdout=subprocess.DEVNULL,
            stderr=log.open("w"),
        )
        end = time.monotonic() + timeout
        while "aggregator connected" not in log.read_text():
            if self.proc.poll() is not None or time.monotonic() > end:
                raise RuntimeError(f"aggregator {self.client_id} did not connect: {log.read_text()}")
            time.sleep(0.1)

    def signal(self, sig: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)
        if sig == signal.SIGKILL:
            self.proc.wait(10)

    def cpu_s(self) -> float:
        """CPU seconds used so far (user + system), from /proc."""
        assert self.proc is not None
        try:
            fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return 0.0
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> str:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return (self.logdir / f"{self.client_id}-{self.starts}.log").read_text()


class Plant:
    def __init__(self, url: str, n_lines: int) -> None:
        import psycopg

        self.conn = psycopg.connect(url, autocommit=True)
        self.keys = [line_key(i) for i in range(n_lines)]

    def committed(self) -> int:
        """Samples committed contiguously, all lines (the sum of the plant's acks)."""
        row = self.conn.execute(
            "SELECT coalesce(sum(contiguous), 0) FROM progress WHERE stream = 'samples'"
        ).fetchone()
        return int(row[0]) if row else 0

    def ingested_between(self, t0: float, t1: float) -> int:
        row = self.conn.execute(
            "SELECT count(*) FROM records WHERE stream = 'samples' AND received >= %s AND received < %s",
            (t0, t1),
        ).fetchone()
        return int(row[0]) if row else 0

    def lag_p99(self, t0: float, t1: float) -> list[float]:
        """Per line: p99 of (plant commit − line commit) of the samples the lines
        committed in [t0, t1), in ms."""
        rows = self.conn.execute(
            "SELECT line, percentile_cont(0.99) WITHIN GROUP (ORDER BY lag) FROM ("
            "  SELECT line, received - (data::jsonb->>'ts')::float8 AS lag FROM records"
            "  WHERE stream = 'samples' AND (data::jsonb->>'ts')::float8 >= %s AND (data::jsonb->>'ts')::float8 < %s"
            ") x GROUP BY line",
            (t0, t1),
        ).fetchall()
        return sorted(1000 * float(r[1]) for r in rows)

    def per_line(self, key: str) -> tuple[int, int]:
        """(records held, contiguous ack) of a line's samples."""
        n = self.conn.execute(
            "SELECT count(*) FROM records WHERE line = %s AND stream = 'samples'", (key,)
        ).fetchone()
        c = self.conn.execute(
            "SELECT coalesce(max(contiguous), 0) FROM progress WHERE line = %s AND stream = 'samples'", (key,)
        ).fetchone()
        return (int(n[0]) if n else 0, int(c[0]) if c else 0)

    def sample_rows(self, limit: int) -> list[tuple[Any, ...]]:
        return self.conn.execute(
            "SELECT line, stream, incarnation, seq, received, data FROM records WHERE stream = 'samples' LIMIT %s",
            (limit,),
        ).fetchall()

    def raw_insert_rate(self, rows: list[tuple[Any, ...]], per_tx: int = 5000) -> float:
        """Ceiling: the same rows into a table of the same layout, psycopg executemany."""
        c = self.conn
        c.execute("DROP TABLE IF EXISTS raw_records")
        c.execute(
            "CREATE TABLE raw_records (line TEXT NOT NULL, stream TEXT NOT NULL, incarnation TEXT NOT NULL, "
            "seq BIGINT NOT NULL, received DOUBLE PRECISION NOT NULL, data TEXT NOT NULL, "
            "PRIMARY KEY (line, stream, incarnation, seq))"
        )
        t = time.perf_counter()
        for g in range(0, len(rows), per_tx):
            with c.transaction(), c.cursor() as cur:
                cur.executemany(
                    "INSERT INTO raw_records VALUES (%s, %s, %s, %s, %s, %s)", rows[g : g + per_tx]
                )
        dt = time.perf_counter() - t
        c.execute("DROP TABLE raw_records")
        return len(rows) / dt

    def close(self) -> None:
        self.conn.close()


_T0 = time.monotonic()


def say(what: str) -> None:
    """Progress on stderr, with the seconds since the start."""
    print(f"  [plant {time.monotonic() - _T0:6.1f} s] {what}", file=sys.stderr, flush=True)


def wait_for(what: str, pred: Any, timeout: float) -> None:
    end = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > end:
            raise RuntimeError(f"bench/plant.py: {what}: not within {timeout:.0f} s")
        time.sleep(0.2)


def py_spy() -> str | None:
    here = Path(sys.executable).parent / "py-spy"
    return str(here) if here.exists() else shutil.which("py-spy")


def profile_start(agg: Aggregator, seconds: float, out: Path) -> subprocess.Popen[bytes] | None:
    """py-spy on one aggregator for ``seconds`` (every thread, idle ones too: where the
    ingest thread waits is the point), collapsed stacks to ``out``."""
    exe = py_spy()
    if exe is None or agg.proc is None:
        return None
    return subprocess.Popen(
        [
            exe,
            "record",
            "-p",
            str(agg.proc.pid),
            "-d",
            str(max(1, round(seconds))),
            "-r",
            "100",
            "--idle",
            "--threads",
            "--nonblocking",
            "-f",
            "raw",
            "-o",
            str(out),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


#: Where the aggregator's ingest thread spends its time, by the frames on its stack
#: (first match wins).
WHERE = (
    ("waiting for/locking progress rows (PG)", ("_lock_progress",)),
    ("records insert (PG)", ("_insert_records",)),
    ("projections (PG)", ("project (",)),
    ("other ingest statements (PG)", ("ingest_in_tx",)),
    ("commit (PG)", ("_commit_gen", "commit (psycopg")),
    ("savepoints and other statements (PG)", ("psycopg/",)),
    ("decode", ("decode_batch", "parse_records")),
    ("waiting for messages", ("get (queue.py", "SimpleQueue")),
)


def profile_split(path: Path) -> dict[str, float]:
    """Share of the ingest thread's samples per :data:`WHERE` (else "other Python")."""
    counts: dict[str, int] = {}
    if not path.exists():
        return {}
    for line in path.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        if "aggregator-ingest" not in stack.split(";", 1)[0]:
            continue
        what = next((name for name, marks in WHERE if any(m in stack for m in marks)), "other Python")
        counts[what] = counts.get(what, 0) + int(n)
    total = sum(counts.values()) or 1
    return {k: round(100 * v / total, 1) for k, v in sorted(counts.items(), key=lambda kv: -kv[1])}


def catch_up(
    plant: Plant,
    lines: Lines,
    aggs: list[Aggregator],
    pause: float,
    timeout: float,
    profile: Path | None = None,
) -> dict[str, Any]:
    """Pause ``aggs`` for ``pause`` s, resume them, and measure the commit rate until
    the plant's acks reach what the lines held when they resumed."""
    for a in aggs:
        a.signal(signal.SIGSTOP)
    time.sleep(pause)
    target = sum(lines.last())
    cpu0 = sum(a.cpu_s() for a in aggs)
    t_r, c_r = time.monotonic(), plant.committed()
    for a in aggs:
        a.signal(signal.SIGCONT)
    spy = profile_start(aggs[0], pause, profile) if profile is not None else None
    wait_for("catch-up", lambda: plant.committed() >= target, timeout)
    dt = time.monotonic() - t_r
    c = plant.committed()
    out: dict[str, Any] = {
        "rate": (c - c_r) / dt,
        "backlog": target - c_r,
        "seconds": dt,
        "agg_cpu_pct": 100 * (sum(a.cpu_s() for a in aggs) - cpu0) / dt,
    }
    if spy is not None and profile is not None:
        spy.wait(pause + 60)
        out["ingest_thread_pct"] = profile_split(profile)
    return out


def caught_up(plant: Plant, lines: Lines, hz: float, timeout: float) -> float | None:
    """Wait until the plant's acks are within one period's production of the lines;
    the seconds it took, None if it did not within ``timeout``."""
    t = time.monotonic()
    first = sum(lines.last())
    time.sleep(1.0 / hz)
    period = sum(lines.last()) - first
    try:
        wait_for("the plant caught up", lambda: plant.committed() >= sum(lines.last()) - period, timeout)
    except RuntimeError:
        return None
    return time.monotonic() - t


def steady(plant: Plant, lines: Lines, aggs: list[Aggregator], window: float) -> dict[str, Any]:
    cpu0 = sum(a.cpu_s() for a in aggs)
    t0 = time.time()
    time.sleep(window)
    t1 = time.time()
    return {
        "t0": t0,
        "t1": t1,
        "agg_cpu_pct": 100 * (sum(a.cpu_s() for a in aggs) - cpu0) / (t1 - t0),
        "produced": lines.produced_between(t0, t1),
    }


def stop_all(aggs: list[Aggregator]) -> list[str]:
    for a in aggs:
        if a.proc is not None and a.proc.poll() is None:
            a.proc.send_signal(signal.SIGCONT)
            a.proc.terminate()
    return [a.stop() for a in aggs]


def run(args: argparse.Namespace) -> dict[str, Any]:
    """The phases of the module docstring (``--quick``: two aggregators from the start,
    one steady window, the kill)."""
    import yaml

    from sync.aggregator.store import AggregatorStore

    n = args.lines
    out: dict[str, Any] = {
        "lines": n,
        "tags": args.tags,
        "hz": args.hz,
        "offered_per_s": n * args.tags * args.hz,
    }
    with tempfile.TemporaryDirectory() as d, pg_database() as url:
        tmp = Path(d)
        broker = Mosquitto(tmp / "broker")
        broker.start()
        agg_cfg = tmp / "aggregator.yaml"
        agg_cfg.write_text(
            yaml.safe_dump(
                {
                    "mqtt": {"port": broker.port, "keepalive_s": 60},
                    "store": {"url": url},
                    "lines": [
                        {"enterprise": "bench", "site": "plant", "area": "a", "line": line_name(i)}
                        for i in range(n)
                    ],
                }
            )
        )
        ctx = mp.get_context("spawn")
        go, producing, finish = ctx.Event(), ctx.Event(), ctx.Event()
        t0 = ctx.Value("d", 0.0)
        producing.set()
        specs = [(i, line_spec(i, tmp, broker.port, args.tags)) for i in range(n)]
        procs = [
            ctx.Process(
                target=producer, args=(specs[p :: args.producers], n, args.hz, go, t0, producing, finish)
            )
            for p in range(args.producers)
        ]
        for pr in procs:  # they open their stores while the aggregators start
            pr.start()
        AggregatorStore(url).close()  # migrated before anything is timed
        aggs = [Aggregator(agg_cfg, f"agg-{k}", tmp) for k in (1, 2)]
        plant: Plant | None = None
        lines: Lines | None = None
        try:
            for a in aggs if args.quick else aggs[:1]:
                a.start()
            say("broker, plant store and aggregator(s) up")
            t0.value = time.time() + 0.5
            go.set()
            plant = Plant(url, n)
            paths = [tmp / f"{line_name(i)}.db" for i in range(n)]
            wait_for("the line stores", lambda: all(p.exists() for p in paths), 120)
            lines = Lines(paths)
            wait_for("every line shipping", lambda: all(a > 0 for a in lines.acked()), 120)
            say("every line shipping")
            time.sleep(args.window / 4)  # warm up
            prof = (tmp / "profile-1.txt", tmp / "profile-2.txt") if args.profile else (None, None)
            if not args.quick:
                out["settle1_s"] = caught_up(plant, lines, args.hz, 120)
                out["steady1"] = steady(plant, lines, aggs[:1], args.window)
                out["catchup1"] = catch_up(plant, lines, aggs[:1], args.pause, 300, prof[0])
                say("one aggregator measured")
                aggs[1].start()
                time.sleep(args.window / 4)
            out["settle2_s"] = caught_up(plant, lines, args.hz, 120)
            out["steady2"] = steady(plant, lines, aggs, args.window)
            if not args.quick:
                out["catchup2"] = catch_up(plant, lines, aggs, args.pause, 300, prof[1])
                say("two aggregators measured")
                time.sleep(args.window / 4)
            # The kill: mid-stream; back (with its session) after the pause.
            aggs[0].signal(signal.SIGKILL)
            out["killed_at_committed"] = plant.committed()
            time.sleep(args.pause)
            aggs[0].start()
            say("killed aggregator back")
            time.sleep(args.window / 4)
            producing.clear()
            time.sleep(1.5 / args.hz)  # the producers finish their period
            wait_for("the lines drained", lambda: lines.acked() == lines.last(), 300)
            say("lines drained")
            finish.set()
            logs = stop_all(aggs)
            out["tracebacks"] = sum("Traceback" in x for x in logs)
            # Zero loss: per line, what the line holds = what the plant holds, every seq once.
            last = lines.last()
            per = []
            for i in range(n):
                held, contiguous = plant.per_line(line_key(i))
                per.append(
                    {
                        "line": line_key(i),
                        "in": lines.count(i),
                        "last": last[i],
                        "out": held,
                        "ack": contiguous,
                    }
                )
            out["per_line"] = per
            out["lost_lines"] = [p["line"] for p in per if not (p["in"] == p["last"] == p["out"] == p["ack"])]
            out["records_in"] = sum(p["in"] for p in per)
            out["records_out"] = sum(p["out"] for p in per)
            for k in ("steady1", "steady2"):
                if k not in out:
                    continue
                s = out[k]
                s["ingest_per_s"] = plant.ingested_between(s["t0"], s["t1"]) / (s["t1"] - s["t0"])
                s["offered_per_s"] = s["produced"] / (s["t1"] - s["t0"])
                lags = plant.lag_p99(s["t0"], s["t1"])
                s["lag_p99_ms_worst_line"] = lags[-1] if lags else float("nan")
                s["lag_p99_ms_median_line"] = lags[len(lags) // 2] if lags else float("nan")
            rows = plant.sample_rows(args.ceiling_rows)
            out["ceiling_rows"] = len(rows)
            out["raw_pg_insert_per_s"] = plant.raw_insert_rate(rows)
            out["loadavg"] = os.getloadavg()
            say("figures read")
        finally:
            producing.clear()
            go.set()
            finish.set()
            for pr in procs:
                pr.join(10)
                if pr.is_alive():
                    pr.kill()
            stop_all(aggs)
            if lines is not None:
                lines.close()
            if plant is not None:
                plant.close()
            broker.stop()
    return out


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--lines", type=int, default=20, help="lines in the plant (default 20)")
    p.add_argument("--tags", type=int, default=200, help="tags per line (default 200)")
    p.add_argument("--hz", type=float, default=1.0, help="changes per tag per second (default 1)")
    p.add_argument("--producers", type=int, default=2, help="processes the lines run in (default 2)")
    p.add_argument("--window", type=float, default=20.0, help="seconds per steady phase (default 20)")
    p.add_argument(
        "--pause", type=float, default=15.0, help="seconds an aggregator is paused or dead (default 15)"
    )
    p.add_argument("--ceiling-rows", type=int, default=100_000, help="rows of the raw insert ceiling")
    p.add_argument(
        "--profile",
        action="store_true",
        help="py-spy the first aggregator during each catch-up (needs py-spy)",
    )
    p.add_argument("--quick", action="store_true", help="a small plant and short phases (smoke test)")
    p.add_argument("--json", action="store_true", help="also print the figures as one JSON line")
    args, _ = p.parse_known_args(argv)  # bench/run.py passes its own arguments to every script
    if args.quick:
        args.lines, args.tags, args.window, args.pause, args.ceiling_rows = 4, 50, 3.0, 0.0, 5000
    r = run(args)
    report(r)
    if r["lost_lines"] or r["records_in"] != r["records_out"] or r["tracebacks"]:
        print(f"FAILED: loss across the kill: {r['lost_lines']}", file=sys.stderr)
        sys.exit(1)
    if args.json:
        print(json.dumps({k: v for k, v in r.items() if k != "per_line"}))
    return r


def report(r: dict[str, Any]) -> None:
    offered = r["offered_per_s"]
    ceiling = r["raw_pg_insert_per_s"]
    rows = []
    for k, n in (("steady1", "1 aggregator"), ("steady2", "2 aggregators")):
        if k in r:
            s = r[k]
            rows.append(
                Row(
                    "plant",
                    f"sustained ingest rec/s, {n}",
                    s["ingest_per_s"],
                    f"= {offered:,.0f}",
                    s["offered_per_s"],
                    "produced at the lines",
                )
            )
            rows.append(Row("plant", f"lag p99 ms, worst line, {n}", s["lag_p99_ms_worst_line"], "<= 1000"))
    c1, c2 = r.get("catchup1"), r.get("catchup2")
    if c1 and c2:
        rows.append(
            Row("plant", "catch-up ingest rec/s, 1 aggregator", c1["rate"], "", ceiling, "raw PG executemany")
        )
        rows.append(
            Row(
                "plant",
                "catch-up ingest rec/s, 2 aggregators",
                c2["rate"],
                "",
                c1["rate"],
                "1 aggregator, same run",
            )
        )
    rows.append(Row("plant", "lines losing records across a kill", float(len(r["lost_lines"])), "= 0"))
    print_rows(
        rows,
        f"bench/plant.py  ({time.strftime('%Y-%m-%d %H:%M')}, {os.cpu_count()} cores, load {r['loadavg'][0]:.1f})",
    )
    print(
        f"  plant: {r['lines']} lines x {r['tags']} tags at {r['hz']:g} Hz = {offered:,.0f} samples/s offered"
    )
    for k, n in (("steady1", "1 aggregator"), ("steady2", "2 aggregators")):
        if k in r:
            s = r[k]
            print(
                f"  steady, {n}: lag p99 of the median line {s['lag_p99_ms_median_line']:.0f} ms; "
                f"aggregator CPU {s['agg_cpu_pct']:.0f}% of a core"
            )
    for k, n in (("settle1_s", "1 aggregator"), ("settle2_s", "2 aggregators")):
        if k in r:
            v = r[k]
            print(
                f"  before the steady window, {n}: "
                + (f"caught up in {v:.1f} s" if v is not None else "never caught up")
            )
    for k, n in (("catchup1", "1 aggregator"), ("catchup2", "2 aggregators")):
        if r.get(k, {}).get("ingest_thread_pct"):
            print(
                f"  profile (py-spy) of an aggregator's ingest thread in catch-up, {n}: {r[k]['ingest_thread_pct']}"
            )
    if c1 and c2:
        print(
            f"  catch-up: 1 aggregator {c1['backlog']:,} records in {c1['seconds']:.1f} s (aggregator CPU "
            f"{c1['agg_cpu_pct']:.0f}% of a core); 2 aggregators {c2['backlog']:,} in {c2['seconds']:.1f} s "
            f"(CPU {c2['agg_cpu_pct']:.0f}%); ratio {c2['rate'] / c1['rate']:.2f}"
        )
    print(
        f"  kill: {r['records_in']:,} records in at the lines, {r['records_out']:,} out at the plant; "
        f"lines with loss or duplicates: {len(r['lost_lines'])}; aggregator tracebacks: {r['tracebacks']}\n"
        f"  ceiling: {r['ceiling_rows']:,} of the run's rows by psycopg executemany: {ceiling:,.0f} rows/s"
    )


if __name__ == "__main__":
    main()
