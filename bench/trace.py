"""Traceability benchmark: `trace` of a lot on a store holding 1,000,000 samples
(target < 1 s), for a one-hour lot and for a lot whose window spans the whole store
(worst case: every sample is summarised). The ceiling is a bare ``count(*)`` over the
same window, measured in the same run."""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from bench.table import Row, print_rows

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import yaml

from edge.config.line import parse_config
from edge.logic.model import Quality, Sample
from edge.services.identity import Actor
from edge.services.trace import register_consumed, register_produced, trace
from edge.store import Store

REPO = Path(__file__).resolve().parent.parent


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument(
        "--work",
        type=int,
        metavar="N",
        help="for valgrind --tool=callgrind: a store of N samples, one trace of the whole-store lot",
    )
    p.add_argument("--dry", action="store_true", help="with --work: the setup only")
    args = p.parse_args()
    data = yaml.safe_load((REPO / "config" / "line1.yaml").read_text())
    # Without the demo's material master: the lot consumed here is not a plant lot, and
    # the figure is the trace, not the lot checks.
    for key in ("material_master", "boms", "stock"):
        data.pop(key, None)
    data["tags"] += [
        {"name": f"aux.t{i:02d}", "device": "capper", "address": f"hr:{100 + 2 * i}", "type": "float32"}
        for i in range(31)
    ]
    with tempfile.TemporaryDirectory() as d:
        data["store"]["path"] = str(Path(d) / "t.db")
        cfg = parse_config(data)
        st = Store(cfg.store.path)
        st.register_tags((t.name, t.device, t.type, t.eng_unit) for t in cfg.tags)
        names = [t.name for t in cfg.tags if t.type not in ("string", "bool")][:50]
        t0 = time.time() - 30_000
        total, batch = args.work or 1_000_000, 50_000
        per_s = len(names)
        for b in range(-(-total // batch)):
            rows = []
            for k in range(b * batch, min(total, (b + 1) * batch)):
                ts = t0 + k // per_s
                rows.append(Sample(names[k % per_s], 500.0 + (k % 7), Quality.GOOD, ts, ts))
            st.append_samples(rows)
        end = t0 + total // per_s
        with st.transaction():
            st.db.execute(
                "INSERT INTO orders (ts, order_id, product, action) VALUES (?, 'WO-1', 'COLA-500', 'start')",
                (t0,),
            )
        bench = Actor("operator", "bench", "B-1", "operator", frozenset({"record_lots"}), "badge+pin")
        register_consumed(cfg, st, bench, "PRE-1", "preforms")
        register_produced(cfg, st, bench, "L-HOUR", start=end - 3600, end=end)
        register_produced(cfg, st, bench, "L-ALL", start=t0, end=end)

        if args.work:
            if not args.dry:
                trace(cfg, st, "L-ALL")
            st.close()
            return

        def timed(ident: str) -> float:
            best = 1e9
            for _ in range(3):
                t = time.perf_counter()
                trace(cfg, st, ident)
                best = min(best, time.perf_counter() - t)
            return best

        def ceiling(a: float, b: float) -> float:
            t = time.perf_counter()
            st.db.execute("SELECT count(*) FROM samples WHERE ts >= ? AND ts <= ?", (a, b)).fetchone()
            return time.perf_counter() - t

        hour, whole, fwd = timed("L-HOUR"), timed("L-ALL"), timed("PRE-1")
        c_hour, c_all = ceiling(end - 3600, end), ceiling(t0, end)
        print_rows(
            [
                Row(
                    "trace",
                    "trace a 1-hour lot (ms)",
                    hour * 1e3,
                    "< 1000",
                    c_hour * 1e3,
                    "bare count(*) of the window",
                    True,
                ),
                Row(
                    "trace",
                    "trace a lot over all samples (ms)",
                    whole * 1e3,
                    "< 1000",
                    c_all * 1e3,
                    "bare count(*) of the window",
                    True,
                ),
                Row("trace", "trace a material lot forward (ms)", fwd * 1e3, "< 1000"),
            ],
            f"bench/trace.py  ({time.strftime('%Y-%m-%d %H:%M')}, store of {st.count('samples'):,} samples, best of 3)",
        )
        st.close()


if __name__ == "__main__":
    main()
