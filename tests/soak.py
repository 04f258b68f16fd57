"""Soak suite (``make soak``, not part of ``make test``): the simulated line runs for a
configurable time while the agent is SIGKILLed at random moments, the broker is killed and
restarted, and the network between the agent and the broker silently goes dead. At the
end the aggregator's rows are compared with the line's ground truth:

* counts: the simulator's own counters (the PLC's truth) against the sum of the count
  records the aggregator holds. Production is frozen while the agent first connects and
  again at the end, so both ends are exact;
* sequences: every record the line committed, per stream, against the aggregator's
  (lost, duplicated, different content), and how many arrived out of sequence order.

Exit status 1 on any loss, duplicate, content difference or count difference.

    python -m tests.soak --duration 600 [--seed N] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from edge.config.line import load_config
from edge.simulate.runner import Simulator
from edge.store import STREAMS, Store
from edge.store.streams import SCHEMAS
from sync.aggregator.store import AggregatorStore
from tests.conftest import as_operator, example_on_free_ports
from tests.mqtt_rig import Mosquitto, SilentProxy
from tests.sync.conftest import uplink_section
from tests.sync.test_sync_e2e import LINE_KEY, edge_rows, start, stop, write_agg_config

SIGNALS = ("cycle_count", "good_count", "scrap_count")


class SimThread:
    """The simulator in this process, so its counters are the ground truth we read."""

    def __init__(self, cfg_path: Path, seed: int) -> None:
        self.sim = Simulator(load_config(cfg_path), seed=seed)
        self.sim.model.mtbf_s = 300.0  # plenty of stops in a short soak
        self.loop = asyncio.new_event_loop()
        self.stop_event: asyncio.Event | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.lock = threading.Lock()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)

        async def main() -> None:
            self.stop_event = asyncio.Event()
            await self.sim.start()
            try:
                while not self.stop_event.is_set():
                    with self.lock:
                        await self.sim.tick(time.time())
                    await asyncio.sleep(self.sim.period)
            finally:
                await self.sim.stop()

        self.loop.run_until_complete(main())

    def start(self) -> None:
        self.thread.start()

    def produce(self, on: bool) -> dict[str, int]:
        """Start or freeze production; returns the counters at that moment."""
        with self.lock:
            self.sim.model.producing = on
            return {s: int(getattr(self.sim.model, s)) for s in SIGNALS}

    def stop(self) -> None:
        if self.stop_event is not None:
            self.loop.call_soon_threadsafe(self.stop_event.set)
        self.thread.join(20)


class Operator:
    """What an operator does at the line meanwhile, through the same functions as the
    terminal: starts a work order, acknowledges SPC alarms (which releases the stop-line
    the alarm set), explains the latest stop. These records must arrive too."""

    def __init__(self, cfg_path: Path) -> None:
        self.cfg = load_config(cfg_path)
        self.started = False
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.stopped.set()
        self.thread.join(10)

    def _loop(self) -> None:
        while not self.stopped.wait(2.0):  # an attentive operator: every 2 s
            self.act()

    def act(self) -> None:
        from edge.core.errors import LinesideError
        from edge.services.production import (
            ack_alarms,
            assign_reason,
            list_downtime,
            order_command,
            spc_alarms,
        )

        ben = as_operator(self.cfg, "1002")  # the example's team lead plays the operator
        try:
            with Store(self.cfg.store.path) as st:
                if not self.started:
                    order_command(
                        self.cfg,
                        st,
                        ben,
                        "start",
                        "WO-SOAK",
                        product="COLA-500",
                        quantity=100000,
                    )
                    self.started = True
                for ch in {a["characteristic"] for a in spc_alarms(self.cfg, st)}:
                    ack_alarms(
                        self.cfg,
                        st,
                        ben,
                        ch,
                        comment="checked the filler",
                        cause="filler_valve",
                        action="adjusted",
                    )
                open_ = [
                    d for d in list_downtime(self.cfg, st, include_explained=False) if d["end"] is not None
                ]
                if open_:
                    assign_reason(self.cfg, st, ben, open_[0]["id"], "MECH.JAM")
        except LinesideError as e:
            print(f"  operator input refused: {e}", flush=True)


def current(line_db: Path, tags: dict[str, str]) -> dict[str, Any]:
    try:
        with Store(line_db, readonly=True) as st:
            vals = {v["tag"]: v for v in st.current_values()}
    except Exception:
        return {}
    return {sig: (vals.get(tag) or {}).get("value") for sig, tag in tags.items()}


def wait_until(pred: Any, timeout: float, what: str) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return
        time.sleep(0.2)
    raise SystemExit(f"soak: {what} did not happen within {timeout:.0f} s")


def _content(row: dict[str, Any], stream: str) -> dict[str, Any]:
    """A record as its stream's schema ships it (the line's own bookkeeping stays home)."""
    return {k: row.get(k) for k in SCHEMAS[stream].fields}


def compare(line_db: Path, plant_db: Path, truth: dict[str, int]) -> dict[str, Any]:
    agg = AggregatorStore(plant_db)
    out: dict[str, Any] = {"streams": {}}
    try:
        for stream in STREAMS:
            want = {r["seq"]: r for r in edge_rows(line_db, stream)}
            rows = agg.query(
                "SELECT seq, received, data FROM records WHERE line = ? AND stream = ? ORDER BY seq",
                (LINE_KEY, stream),
            )
            got_seqs = [r[0] for r in rows]
            lost = sorted(set(want) - set(got_seqs))
            dup = len(got_seqs) - len(set(got_seqs))
            extra = sorted(set(got_seqs) - set(want))  # only possible if the line lost its own rows
            differ = 0
            if stream != "samples":
                import json

                for seq, _recv, data in rows:
                    if seq in want and _content(json.loads(data), stream) != _content(want[seq], stream):
                        differ += 1
            ooo, high = 0, 0.0
            for _seq, recv, _data in rows:
                if recv < high - 1e-6:
                    ooo += 1
                high = max(high, recv)
            out["streams"][stream] = {
                "edge": len(want),
                "aggregator": len(got_seqs),
                "lost": len(lost),
                "duplicated": dup,
                "unknown": len(extra),
                "differ": differ,
                "out_of_order": ooo,
            }
        counts = agg.records(LINE_KEY, "counts")
        filler = [c for c in counts if c["machine"] == "filler" and c.get("source", "plc") == "plc"]
        capper = [c for c in counts if c["machine"] == "capper" and c.get("source", "plc") == "plc"]
        out["counts"] = {
            "filler parts (cycle_count)": (truth["cycle_count"], sum(c["good"] + c["scrap"] for c in filler)),
            "filler scrap (scrap_count)": (truth["scrap_count"], sum(c["scrap"] for c in filler)),
            "capper good (good_count)": (truth["good_count"], sum(c["good"] for c in capper)),
            "capper scrap (scrap_count)": (truth["scrap_count"], sum(c["scrap"] for c in capper)),
        }
        out["dead_letters"] = agg.dead_letter_counts()
    finally:
        agg.close()
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--duration", type=float, default=600, help="seconds of abuse (default 600)")
    ap.add_argument("--seed", type=int, default=int(time.time()) % 100000, help="random seed (printed)")
    ap.add_argument("--workdir", help="keep configs, stores and logs here (default: a temporary directory)")
    args = ap.parse_args(argv)
    rnd = random.Random(args.seed)
    work = Path(args.workdir or tempfile.mkdtemp(prefix="lineside-soak-"))
    work.mkdir(parents=True, exist_ok=True)
    print(f"soak: {args.duration:.0f} s, seed {args.seed}, work directory {work}", flush=True)

    broker = Mosquitto(work / "broker")
    broker.start()
    proxy = SilentProxy(broker.port)
    cfg = example_on_free_ports(work, data_changes=lambda d: d.update(uplink=uplink_section(proxy.port)))
    line_db = work / "line1.db"
    tags = {
        "cycle_count": "filler.cycle_count",
        "good_count": "capper.good_count",
        "scrap_count": "capper.scrap_count",
    }
    sim = SimThread(cfg, args.seed)
    sim.produce(False)
    sim.start()
    agg = start("aggregator", "run", "-c", str(write_agg_config(work, broker.port)))
    agent = start("run", "-c", str(cfg))
    events = {"agent SIGKILLs": 0, "broker kills": 0, "silent cuts": 0}
    try:
        time.sleep(2)
        c0 = sim.produce(False)
        wait_until(lambda: current(line_db, tags) == c0, 60, "the agent's first reading of the counters")
        c0 = sim.produce(True)
        operator = Operator(cfg)
        operator.start()
        t_end = time.monotonic() + args.duration
        next_report = time.monotonic() + 60
        while time.monotonic() < t_end:
            r = rnd.random()
            if r < 0.6:  # the agent dies without warning, restarts after a while
                time.sleep(rnd.uniform(5, 30))
                agent.send_signal(signal.SIGKILL)
                agent.wait(10)
                events["agent SIGKILLs"] += 1
                time.sleep(rnd.uniform(0.5, 4))
                agent = start("run", "-c", str(cfg))
            elif r < 0.8:  # the broker dies under a running agent
                time.sleep(rnd.uniform(5, 20))
                broker.kill()
                events["broker kills"] += 1
                time.sleep(rnd.uniform(1, 8))
                broker.start()
            else:  # the network to the broker goes silent (no FIN, no RST)
                time.sleep(rnd.uniform(5, 20))
                proxy.go_silent()
                events["silent cuts"] += 1
                time.sleep(rnd.uniform(4, 15))
                proxy.restore()
            if time.monotonic() >= next_report:
                next_report += 60
                with Store(line_db, readonly=True) as st:
                    backlog = sum(st.backlog().values())
                    n = st.last_seq("samples")
                print(f"  {events}, samples {n:,}, backlog {backlog:,}", flush=True)
        operator.stop()
        c1 = sim.produce(False)
        wait_until(lambda: current(line_db, tags) == c1, 60, "the agent's reading of the final counters")
        from tests.sync.test_sync_e2e import wait_drained

        wait_drained(line_db, timeout=300)
        err = stop(agent)
    finally:
        sim.stop()
        stop(agent)
        agg_err = stop(agg)
        broker.stop()
        proxy.close()
    truth = {k: c1[k] - c0[k] for k in SIGNALS}
    res = compare(line_db, work / "plant.db", truth)
    print(f"\nabuse: {events}")
    print(
        f"\n{'stream':<22}{'edge':>10}{'aggregator':>12}{'lost':>6}{'dup':>6}{'differ':>8}{'out of order':>14}"
    )
    bad = False
    for stream, f in res["streams"].items():
        print(
            f"{stream:<22}{f['edge']:>10,}{f['aggregator']:>12,}{f['lost']:>6}{f['duplicated']:>6}{f['differ']:>8}{f['out_of_order']:>14,}"
        )
        bad |= bool(f["lost"] or f["duplicated"] or f["differ"] or f["unknown"])
    print(f"\n{'count (PLC truth vs aggregator)':<34}{'simulator':>10}{'aggregator':>12}")
    for name, (want, got) in res["counts"].items():
        print(f"{name:<34}{want:>10,}{got:>12,}{'' if want == got else '   MISMATCH'}")
        bad |= want != got
    if res["dead_letters"]:
        print(f"dead letters: {res['dead_letters']}")
        bad = True
    for name, text in (("agent", err), ("aggregator", agg_err)):
        if "Traceback" in text:
            print(f"{name} printed a traceback:\n{text[-2000:]}")
            bad = True
    print("\nsoak: " + ("FAILED" if bad else "OK: nothing lost, nothing duplicated"))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
