"""Plant genealogy benchmark: ``lineside aggregator trace`` backward and forward over a
year of one plant — 20 lines, a lot change at one of each line's three feeders every
hour (175,200 material lots), a produced lot every 1.75 h per line (100,160 produced
lots, ~400k genealogy links), lines 11-20 packing what lines 1-10 make, so a finished
lot traces back through an intermediate to supplier lots across two lines. Target: each
trace answers in ≤ 1 s, on SQLite and on PostgreSQL (skipped when none is reachable;
``LINESIDE_BENCH_PG`` names the server). The ceiling is a bare indexed lookup of one
lot's parents in the same store, measured in the same run."""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.table import Row, print_rows
from sync.aggregator import materials_store
from sync.aggregator.config import AggregatorConfig
from sync.aggregator.materials import trace
from sync.aggregator.store import AggregatorStore

LINES = 20
HOURS = 8760
FEEDERS = 3
PRODUCED_EVERY_H = 1.75
T0 = 1_767_225_600.0  # 2026-01-01 UTC
PG_ADMIN = os.environ.get("LINESIDE_BENCH_PG", "postgresql://root@127.0.0.1:5432/postgres")


def line_key(i: int) -> str:
    return f"acme/plant/area/l{i:02d}"


def loaded(li: int, f: int, start: float, end: float) -> list[str]:
    """Lots at feeder ``f`` of line ``li`` during [start, end]: feeder f gets a new lot
    at every hour h with h % FEEDERS == f (the one loaded at ``start``, and any change up
    to ``end``)."""
    h0 = int((start - T0) // 3600)
    h1 = int((end - T0) // 3600)
    first = h0 - ((h0 - f) % FEEDERS)  # the last change at or before start
    hours = [h for h in range(max(first, f), h1 + 1, FEEDERS) if h < HOURS] or [f]
    return [f"S{li:02d}-F{f}-{h}" for h in hours]


def build(store: AggregatorStore) -> tuple[int, int, int]:
    """Fill the plant tables as the projections would; returns (material lots, produced
    lots, links)."""
    lots, produced, links = [], [], []
    seq = 0
    for li in range(1, LINES + 1):
        line = line_key(li)
        for h in range(HOURS):
            f = h % FEEDERS
            lots.append(
                (
                    f"S{li:02d}-F{f}-{h}",
                    f"mat{f}",
                    "released",
                    None,
                    f"SUP-{li}-{h // 24}",
                    1000.0,
                    "",
                    T0,
                    T0,
                )
            )
        n = int(HOURS / PRODUCED_EVERY_H)
        for k in range(n):
            start = T0 + k * PRODUCED_EVERY_H * 3600
            end = start + PRODUCED_EVERY_H * 3600
            child = f"P{li:02d}-{k:05d}"
            seq += 1
            produced.append(
                (line, seq, end, child, "lot", f"WO{li:02d}-{k // 50}", "P", "m1", start, end, 500)
            )
            for f in range(FEEDERS):
                if li > 10 and f == 0:
                    # Lines 11-20 pack line (i-10)'s output at feeder 0.
                    parents = [f"P{li - 10:02d}-{max(k - 1, 0):05d}"]
                else:
                    parents = loaded(li, f, start, end)
                for p in parents:
                    seq += 1
                    links.append(
                        (line, seq, end, p, child, f"mat{f}", f"F{f}", 100.0, f"WO{li:02d}-{k // 50}")
                    )
    db = store.db
    with store.tx():
        db.executemany(
            "INSERT INTO plant_lots (lot, material, status, expiry, supplier_lot, quantity, reason, received_at, updated) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            lots,
        )
        db.executemany(
            "INSERT INTO produced_lots (line, seq, ts, lot, kind, order_id, product, machine, start_ts, end_ts, quantity) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            produced,
        )
        db.executemany(
            "INSERT INTO genealogy (line, seq, ts, parent, child, material, location, quantity, order_id) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            links,
        )
    if db.dialect == "postgres":
        db.execute("ANALYZE")
    return len(lots), len(produced), len(links)


def best(fn: object, n: int = 5) -> float:
    out = 1e9
    for _ in range(n):
        t = time.perf_counter()
        fn()  # type: ignore[operator]
        out = min(out, time.perf_counter() - t)
    return out


def measure(store: AggregatorStore, engine: str) -> list[Row]:
    cfg = AggregatorConfig.model_validate(
        {
            "store": {"path": "/nonexistent"},
            "lines": [{"enterprise": "acme", "site": "plant", "area": "area", "line": "l01"}],
        }
    )
    t = time.perf_counter()
    n_lots, n_prod, n_links = build(store)
    built = time.perf_counter() - t
    finished = "P15-04000"  # line 15, made from line 5's P05-03999 and line 15's supplier lots
    supplier = "S05-F1-7000"  # consumed on line 5, into intermediates, packed on line 15
    back = trace(cfg, finished, store=store)
    fwd = trace(cfg, supplier, store=store)
    assert any(e["line"] == line_key(5) for e in back["backward"]), "the chain must cross lines"
    assert any(e["line"] == line_key(15) for e in fwd["forward"]), "the chain must cross lines"
    t_back = best(lambda: trace(cfg, finished, store=store))
    t_fwd = best(lambda: trace(cfg, supplier, store=store))
    t_bare = best(lambda: materials_store.edge_lookup(store, finished))
    what = (
        f"{engine}: {n_lots:,} material lots, {n_prod:,} produced, {n_links:,} links (built in {built:.0f} s)"
    )
    print(what)
    return [
        Row(
            "genealogy",
            f"{engine} trace backward across 2 lines (ms)",
            t_back * 1e3,
            "<= 1000",
            t_bare * 1e3,
            "bare indexed lookup of one lot's parents",
            True,
        ),
        Row(
            "genealogy",
            f"{engine} trace forward across 2 lines (ms)",
            t_fwd * 1e3,
            "<= 1000",
            t_bare * 1e3,
            "bare indexed lookup of one lot's parents",
            True,
        ),
        Row("genealogy", f"{engine} lots reached backward", float(len(back["lots"]))),
        Row("genealogy", f"{engine} lots reached forward", float(len(fwd["lots"]))),
    ]


def main() -> None:
    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as d:
        st = AggregatorStore(str(Path(d) / "plant.db"))
        try:
            rows += measure(st, "SQLite")
        finally:
            st.close()
    try:
        import psycopg

        admin = psycopg.connect(PG_ADMIN, autocommit=True, connect_timeout=3)
    except Exception as e:  # no server: SQLite only
        print(f"PostgreSQL not reachable at {PG_ADMIN} ({e}): SQLite only")
    else:
        name = f"lineside_bench_genealogy_{os.getpid()}"
        admin.execute(f"DROP DATABASE IF EXISTS {name}")
        admin.execute(f"CREATE DATABASE {name}")
        try:
            st = AggregatorStore(PG_ADMIN.rsplit("/", 1)[0] + f"/{name}")
            try:
                rows += measure(st, "PostgreSQL")
            finally:
                st.close()
        finally:
            admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
            admin.close()
    print_rows(rows, f"bench/genealogy.py  ({time.strftime('%Y-%m-%d %H:%M')}, best of 5)")


if __name__ == "__main__":
    main()
