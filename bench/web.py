"""Plant web view benchmark on PostgreSQL: 50 lines with a year of history in the plant store.

The history is generated straight into the plant tables the aggregator keeps as data
arrives (per line: about 8 stops a day with reasons, their state changes, and the hourly
rollups of state seconds, counts and scrap that ingest would have written), in the
schema ``lineside_bench_web`` of the database ``test`` on 127.0.0.1 (kept between runs;
``--regen`` builds it again). Raw samples are not generated: no page reads them.

Figures, each the median of ``--repeat`` requests through the ASGI app (HTTP, session,
handler, PlantView, template), against the same SQL run bare in the same run:

* the board page (50 tiles) — target ≤ 300 ms;
* one line's month report — target ≤ 500 ms;
* the plant's year report (50 lines) — target ≤ 2 s;
* the aggregator's ingest rate (batches of 200 samples, each with a status change so
  that tiles change and the live feed sends them) while the web view runs in the same
  process: with 50 live-update (server-sent events) clients against none, measured
  none / 50 / none so that drift cancels — target: falls by less than 10 %.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.table import Row, print_rows

PG = os.environ.get("LINESIDE_BENCH_PG", "postgresql://root@127.0.0.1:5432/test")
SCHEMA = "lineside_bench_web"
URL = f"{PG}?options=-csearch_path%3D{SCHEMA}"
N_LINES = 50
DAYS = 365
HOUR = 3600.0
PASSWORD = "bench password"


def config(port: int = 0) -> Any:
    from sync.aggregator.config import AggregatorConfig
    from sync.aggregator.web.auth import hash_password

    lines = [
        {
            "enterprise": "acme",
            "site": f"site{s}",
            "area": f"area{a}",
            "line": f"line{s}{a}{n}",
            "machine": "filler",
        }
        for s in range(2)
        for a in range(5)
        for n in range(5)
    ][:N_LINES]
    return AggregatorConfig.model_validate(
        {
            "store": {"url": URL},
            "lines": lines,
            "web": {
                "port": port or 8080,
                "users": [
                    {
                        "name": "bench",
                        "role": "viewer",
                        "password_hash": hash_password(PASSWORD, iterations=1000),
                    }
                ],
            },
        }
    )


# ---------------------------------------------------------------------- history


def _copy(conn: Any, table: str, cols: tuple[str, ...], rows: list[tuple[Any, ...]]) -> None:
    with conn.cursor() as cur, cur.copy(f"COPY {table} ({', '.join(cols)}) FROM STDIN") as cp:
        for r in rows:
            cp.write_row(r)


def generate(cfg: Any, end: float) -> dict[str, int]:
    """A year of history for every line, written with COPY (what ingest would have kept)."""
    import psycopg

    from sync.aggregator.rollups import day_of, split_hours
    from sync.aggregator.store import AggregatorStore
    from sync.protocol import LineRef, LineStatus

    start = end - DAYS * 86400
    reasons = [
        "MECH.JAM",
        "MECH.TORQUE",
        "MATL.LABEL",
        "MATL.STARVED",
        "UTIL.AIR",
        "SETUP.CHANGEOVER",
        "PLANNED.PM",
    ]
    counts: dict[str, int] = {}
    with psycopg.connect(URL, autocommit=False) as conn:
        for ln in cfg.lines:
            rnd = random.Random(ln.key)
            events, reasons_rows, dt_hours, changes = [], [], [], []
            down_by_hour: dict[float, float] = {}
            t, seq = start, 0
            while True:
                t += rnd.expovariate(8 / 86400)
                if t >= end - 600:
                    break
                d = min(rnd.expovariate(1 / 600) + 20, 7200)
                ev = f"e{seq}"
                events.append((ln.key, ev, "filler", t, t + d, "down", None, int(d < 30), seq + 1))
                reasons_rows.append((ln.key, ev, rnd.choice(reasons), "", "operator", seq + 1))
                for h, s in split_hours(t, t + d):
                    dt_hours.append((ln.key, ev, h, s))
                    down_by_hour[h] = down_by_hour.get(h, 0.0) + s
                changes.append((ln.key, 2 * seq + 1, t, "filler", "running", "down", "plc"))
                changes.append((ln.key, 2 * seq + 2, t + d, "filler", "down", "running", "plc"))
                seq += 1
                t += d
            state, cnt, scrap = [], [], []
            h = start - start % HOUR
            while h < end - end % HOUR:
                down = min(down_by_hour.get(h, 0.0), HOUR)
                state.append((ln.key, "filler", h, "running", HOUR - down))
                if down:
                    state.append((ln.key, "filler", h, "down", down))
                good = int((HOUR - down) * rnd.uniform(1.6, 1.9))
                bad = rnd.randint(0, 40)
                cnt.append((ln.key, "filler", h, good, bad, (good + bad) * 0.5, good * 0.5, 0.0))
                if bad:
                    scrap.append((ln.key, h, rnd.choice(["underfill", "cap", "label"]), bad))
                h += HOUR
            _copy(
                conn,
                "downtime",
                ("line", "event_id", "machine", "start_ts", "end_ts", "state", "auto_reason", "micro", "seq"),
                events,
            )
            _copy(
                conn,
                "downtime_reasons",
                ("line", "event_id", "reason", "comment", "by_who", "seq"),
                reasons_rows,
            )
            _copy(conn, "downtime_hours", ("line", "event_id", "hour", "seconds"), dt_hours)
            _copy(conn, "state_changes", ("line", "seq", "ts", "machine", "old", "new", "cause"), changes)
            _copy(conn, "rollup_state", ("line", "machine", "hour", "state", "seconds"), state)
            _copy(
                conn,
                "rollup_counts",
                (
                    "line",
                    "machine",
                    "hour",
                    "good",
                    "scrap",
                    "ideal_s",
                    "good_ideal_s",
                    "startup_scrap_ideal_s",
                ),
                cnt,
            )
            _copy(conn, "rollup_scrap", ("line", "hour", "reason", "scrap"), scrap)
            # The day rollups ingest keeps beside the hours.
            sd: dict[tuple[float, str], float] = {}
            for _l, _m, hh, st_, sec in state:
                k = (day_of(hh), st_)
                sd[k] = sd.get(k, 0.0) + sec
            cd: dict[float, list[float]] = {}
            for _l, _m, hh, *vals in cnt:
                acc = cd.setdefault(day_of(hh), [0.0] * 5)
                for j, v in enumerate(vals):
                    acc[j] += v
            scd: dict[tuple[float, str], int] = {}
            for _l, hh, reason, n in scrap:
                scd[(day_of(hh), reason)] = scd.get((day_of(hh), reason), 0) + n
            std: dict[tuple[float, str, int], list[float]] = {}
            why = {r[1]: r[2] for r in reasons_rows}
            for ev in events:
                for hh, sec in split_hours(ev[3], ev[4]):
                    acc = std.setdefault((day_of(hh), why[ev[1]], ev[7]), [0.0, 0])
                    acc[0] += sec
                    acc[1] += int(hh <= ev[3])
            _copy(
                conn,
                "rollup_state_days",
                ("line", "machine", "day", "state", "seconds"),
                [(ln.key, "filler", d, st_, sec) for (d, st_), sec in sd.items()],
            )
            _copy(
                conn,
                "rollup_counts_days",
                (
                    "line",
                    "machine",
                    "day",
                    "good",
                    "scrap",
                    "ideal_s",
                    "good_ideal_s",
                    "startup_scrap_ideal_s",
                ),
                [(ln.key, "filler", d, int(v[0]), int(v[1]), v[2], v[3], v[4]) for d, v in cd.items()],
            )
            _copy(
                conn,
                "rollup_scrap_days",
                ("line", "day", "reason", "scrap"),
                [(ln.key, d, r, n) for (d, r), n in scd.items()],
            )
            _copy(
                conn,
                "rollup_stops_days",
                ("line", "day", "machine", "reason", "micro", "state", "seconds", "stops"),
                [(ln.key, d, "filler", r, mi, "down", v[0], int(v[1])) for (d, r, mi), v in std.items()],
            )
            for k, n in (
                ("downtime events", len(events)),
                ("state changes", len(changes)),
                ("rollup rows", len(state) + len(cnt) + len(scrap) + len(dt_hours)),
            ):
                counts[k] = counts.get(k, 0) + n
        conn.commit()
        conn.execute("ANALYZE")
    st = AggregatorStore(URL)
    try:
        for i, ln in enumerate(cfg.lines):
            ref = LineRef(enterprise=ln.enterprise, site=ln.site, area=ln.area, line=ln.line)
            st.set_status(
                ln.key,
                LineStatus(
                    line=ref,
                    online=True,
                    ts=end,
                    agent="bench",
                    state="running" if i % 7 else "down",
                    order=f"WO-{i}",
                ),
                end,
            )
            st.set_state(
                ln.key,
                "shift_kpi",
                {
                    "shift": None,
                    "start": end - 28800,
                    "end": end,
                    "ts": end,
                    "kpi": {"oee": 0.71, "availability": 0.9, "performance": 0.82, "quality": 0.96},
                    "pareto": [],
                },
                end,
            )
            st.set_state(
                ln.key,
                "current_order",
                {
                    "order": f"WO-{i}",
                    "product": "COLA-500",
                    "since": end - 3600,
                    "ts": end,
                    "dispatch": [{"order_id": f"WO-{i}", "quantity": 6000, "good": 2500, "state": "running"}],
                },
                end,
            )
    finally:
        st.close()
    return counts


def prepare(cfg: Any, regen: bool) -> tuple[float, dict[str, int]]:
    import psycopg

    from sync.aggregator.store import AggregatorStore

    with psycopg.connect(PG, autocommit=True) as admin:
        have = admin.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", (SCHEMA,)).fetchone()
        days = admin.execute(
            "SELECT 1 FROM pg_tables WHERE schemaname = %s AND tablename = 'rollup_stops_days'", (SCHEMA,)
        ).fetchone()
        if have and days and not regen:
            row = admin.execute(f"SELECT max(hour) FROM {SCHEMA}.rollup_counts").fetchone()
            n = admin.execute(f"SELECT count(DISTINCT line) FROM {SCHEMA}.rollup_counts").fetchone()
            if row and row[0] and n and n[0] == N_LINES:
                return float(row[0]) + HOUR, {}
        admin.execute(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")
        admin.execute(f"CREATE SCHEMA {SCHEMA}")
    AggregatorStore(URL).close()  # the schema by the migrations
    end = time.time() // HOUR * HOUR
    return end, generate(cfg, end)


# ---------------------------------------------------------------------- timing


def median_ms(fn: Any, repeat: int) -> float:
    fn()  # warm
    out = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t) * 1000)
    return statistics.median(out)


def bare(store: Any, statements: list[tuple[str, tuple[Any, ...]]]) -> Any:
    def run() -> None:
        for sql, params in statements:
            store.query(sql, params)

    return run


def board_sql(cfg: Any) -> list[tuple[str, tuple[Any, ...]]]:
    """The statements the board page runs (PlantView.board), with their parameters."""
    keys = tuple(ln.key for ln in cfg.lines)
    marks = ", ".join("?" for _ in keys)
    latest = " UNION ALL ".join(
        f"SELECT * FROM (SELECT line, ts, new FROM state_changes WHERE line = ? AND machine = ? "
        f"ORDER BY ts DESC LIMIT 1) AS q{i}"
        for i in range(len(keys))
    )
    return [
        ("SELECT line, online, ts, state, order_id, last_data, backlog FROM line_status", ()),
        (
            "SELECT line, name, data FROM line_state WHERE name IN ('shift_kpi', 'current_order', 'alarms')",
            (),
        ),
        (
            "SELECT d.line, d.event_id, d.machine, d.start_ts, d.state, d.auto_reason, r.reason FROM downtime d "
            "LEFT JOIN downtime_reasons r ON r.line = d.line AND r.event_id = d.event_id "
            f"WHERE d.line IN ({marks}) AND d.end_ts IS NULL ORDER BY d.start_ts",
            keys,
        ),
        (latest, tuple(x for k in keys for x in (k, "filler"))),
    ]


def report_sql(keys: list[str], a: float, b: float) -> list[tuple[str, tuple[Any, ...]]]:
    """The grouped statements a report runs (PlantView.report: day rollups for whole days,
    hours at the edges), with their parameters."""
    from sync.aggregator.plantview import _split, _union

    def t(q: tuple[str, list[Any]]) -> tuple[str, tuple[Any, ...]]:
        return q[0], tuple(q[1])

    marks = ", ".join("?" for _ in keys)
    out = [
        t(
            _union(
                "line, machine, state",
                "seconds",
                "rollup_state",
                "rollup_state_days",
                keys,
                a,
                b,
                "line, machine, state",
            )
        ),
        t(
            _union(
                "line, machine",
                "good, scrap, ideal_s, good_ideal_s, startup_scrap_ideal_s",
                "rollup_counts",
                "rollup_counts_days",
                keys,
                a,
                b,
                "line, machine",
            )
        ),
        t(_union("reason", "scrap", "rollup_scrap", "rollup_scrap_days", keys, a, b, "reason")),
    ]
    hours, days = _split(a, b)
    for h0, h1 in hours:
        out.append(
            (
                "SELECT h.line, d.machine, r.reason, d.auto_reason, d.micro, d.state, sum(h.seconds), "
                "sum(CASE WHEN h.hour <= d.start_ts THEN 1 ELSE 0 END) "
                "FROM downtime_hours h JOIN downtime d ON d.line = h.line AND d.event_id = h.event_id "
                "LEFT JOIN downtime_reasons r ON r.line = h.line AND r.event_id = h.event_id "
                f"WHERE h.line IN ({marks}) AND h.hour >= ? AND h.hour < ? "
                "GROUP BY h.line, d.machine, r.reason, d.auto_reason, d.micro, d.state",
                (*keys, h0, h1),
            )
        )
    if days:
        out.append(
            (
                "SELECT line, machine, reason, micro, state, sum(seconds), sum(stops) FROM rollup_stops_days "
                f"WHERE line IN ({marks}) AND day >= ? AND day < ? GROUP BY line, machine, reason, micro, state",
                (*keys, *days),
            )
        )
    return out


CLIENTS = textwrap.dedent(
    """
    # 50 live-update clients as cheap as browsers on other machines would be to this one:
    # raw sockets, no HTTP library parsing each line; counts the board updates received.
    import asyncio, re, sys, urllib.request, urllib.parse, http.cookiejar
    url, n, seconds, pw = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
    jar = http.cookiejar.CookieJar()
    op = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    page = op.open(url + "/login").read().decode()
    csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
    op.open(url + "/login", urllib.parse.urlencode({"user": "bench", "password": pw, "csrf": csrf}).encode())
    cookie = "; ".join(f"{c.name}={c.value}" for c in jar)
    host, port = url.split("//")[1].split(":")
    got = [0] * n
    async def one(i):
        r, w = await asyncio.open_connection(host, int(port))
        w.write(f"GET /events HTTP/1.1\\r\\nHost: {host}\\r\\nCookie: {cookie}\\r\\n\\r\\n".encode())
        tail = b""
        while True:
            data = await r.read(65536)
            if not data:
                return
            got[i] += (tail + data).count(b"event: tiles")
            tail = data[-16:]
    async def main():
        tasks = [asyncio.create_task(one(i)) for i in range(n)]
        print("connected", flush=True)
        await asyncio.sleep(seconds)
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        print(sum(got), min(got), flush=True)
    asyncio.run(main())
    """
)


def ingest_rate(store: Any, cfg: Any, seconds: float, seqs: dict[str, int]) -> float:
    """Records per second the plant store commits (batches of 200 samples, each with the
    line's status flipping state: the tiles change and the live feed sends them)."""
    from sync.protocol import Batch, LineRef, LineStatus

    n, i = 0, 0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        ln = cfg.lines[i % len(cfg.lines)]
        ref = LineRef(enterprise=ln.enterprise, site=ln.site, area=ln.area, line=ln.line)
        first = seqs.get(ln.key, 0) + 1
        now = time.time()
        recs = [
            {
                "seq": s,
                "tag": "filler.fill_weight",
                "ts": now,
                "ts_recv": now,
                "value": 500.0,
                "quality": "good",
            }
            for s in range(first, first + 200)
        ]
        with store.tx():
            store.ingest_in_tx(
                Batch(
                    line=ref,
                    stream="samples",
                    after_seq=first - 1,
                    first_seq=first,
                    last_seq=first + 199,
                    sent_at=now,
                    records=recs,
                ),
                now=now,
            )
            store.set_status(
                ln.key,
                LineStatus(
                    line=ref,
                    online=True,
                    ts=now,
                    agent="bench",
                    state=("down", "running")[i // len(cfg.lines) % 2],
                ),
                now,
            )
        seqs[ln.key] = first + 199
        n += 200
        i += 1
    return n / seconds


def live_clients(cfg: Any, repeat_s: float) -> dict[str, float]:
    from edge.cli.demo import free_port
    from sync.aggregator.store import AggregatorStore
    from sync.aggregator.web.app import server

    port = free_port()
    srv = server(cfg, port=port)
    th = threading.Thread(target=srv.run, daemon=True)
    th.start()
    while not srv.started:
        time.sleep(0.05)
    store = AggregatorStore(URL)
    seqs = dict(store.query("SELECT line, contiguous FROM progress WHERE stream = 'samples'"))
    try:
        # none / 50 / 50 / none: drift from the rest of the machine falls on both alike.
        none = [ingest_rate(store, cfg, repeat_s, seqs)]
        p = subprocess.Popen(
            [
                sys.executable,
                "-c",
                CLIENTS,
                f"http://127.0.0.1:{port}",
                "50",
                str(2 * repeat_s + 3),
                PASSWORD,
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert p.stdout is not None
        assert p.stdout.readline().strip() == "connected"
        time.sleep(1)  # every stream open
        with_ = [ingest_rate(store, cfg, repeat_s, seqs), ingest_rate(store, cfg, repeat_s, seqs)]
        out = p.communicate(timeout=120)[0].split()
        none.append(ingest_rate(store, cfg, repeat_s, seqs))
    finally:
        srv.should_exit = True
        th.join(10)
        store.close()
    return {
        "none": statistics.mean(none),
        "with": statistics.mean(with_),
        "events": float(out[0]),
        "min_events": float(out[1]),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--regen", action="store_true", help="generate the year of history again")
    ap.add_argument("--repeat", type=int, default=7, help="requests per page figure (median)")
    ap.add_argument("--ingest-s", type=float, default=6.0, help="seconds per ingest-rate phase")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    try:
        import psycopg

        psycopg.connect(PG, connect_timeout=3).close()
    except Exception as e:
        print(f"bench/web.py: PostgreSQL not reachable at {PG} ({e}); set LINESIDE_BENCH_PG", file=sys.stderr)
        return 1
    from starlette.testclient import TestClient

    from sync.aggregator.store import AggregatorStore
    from sync.aggregator.web.app import create_app

    cfg = config()
    t = time.monotonic()
    end, generated = prepare(cfg, args.regen)
    gen_s = time.monotonic() - t
    store = AggregatorStore(URL)
    rows: list[Row] = []
    try:
        with TestClient(create_app(cfg), base_url="http://127.0.0.1") as c:
            import re

            page = c.get("/login")
            csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
            assert csrf
            c.post("/login", data={"user": "bench", "password": PASSWORD, "csrf": csrf.group(1)})
            one = cfg.lines[0].key
            board = median_ms(lambda: c.get("/").raise_for_status(), args.repeat)
            board_bare = median_ms(bare(store, board_sql(cfg)), args.repeat)
            rows.append(
                Row("web", "board page, 50 lines (ms)", board, "≤ 300", board_bare, "board's SQL bare", True)
            )
            month = median_ms(
                lambda: c.get(
                    "/reports", params={"scope": f"line:{one}", "period": "month"}
                ).raise_for_status(),
                args.repeat,
            )
            month_bare = median_ms(bare(store, report_sql([one], end - 30 * 86400, end)), args.repeat)
            rows.append(
                Row("web", "line month report (ms)", month, "≤ 500", month_bare, "its SQL bare", True)
            )
            year = median_ms(
                lambda: c.get("/reports", params={"scope": "plant", "period": "year"}).raise_for_status(),
                max(3, args.repeat // 2),
            )
            year_bare = median_ms(
                bare(store, report_sql([ln.key for ln in cfg.lines], end - 365 * 86400, end)),
                max(3, args.repeat // 2),
            )
            rows.append(
                Row(
                    "web", "plant year report, 50 lines (ms)", year, "≤ 2000", year_bare, "its SQL bare", True
                )
            )
        live = live_clients(config(), args.ingest_s)
        rows.append(
            Row(
                "web",
                "ingest with 50 live clients (rec/s)",
                live["with"],
                "≥ 90 %",
                live["none"],
                "no clients, same run",
            )
        )
    finally:
        store.close()
    print_rows(
        rows,
        f"Plant web view on PostgreSQL: {N_LINES} lines, {DAYS} days of history"
        + (f" (generated in {gen_s:.0f} s: {generated})" if generated else " (kept from an earlier run)"),
    )
    drop = 1 - live["with"] / live["none"]
    print(
        f"live updates: {live['events']:.0f} tile events received by 50 clients (fewest per client "
        f"{live['min_events']:.0f}); ingest fell by {100 * drop:.1f} %"
    )
    if args.json:
        print(json.dumps({r.figure: r.measured for r in rows} | {"ingest_drop": drop}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
