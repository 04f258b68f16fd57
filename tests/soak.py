"""Soak suite (``make soak``, not part of ``make test``): the simulated line runs for a
configurable time while the agent is SIGKILLed at random moments, the broker is killed and
restarted, the network between the agent and the broker silently goes dead, the line's
store is recreated (moved aside under a stopped agent: the agent starts a new one, under a
new incarnation), and a rogue client with the line's broker credentials publishes poison
batches, forged acks and forged commands. The broker runs as a plant's does: passwords,
the generated ACL, client ids bound to users. At the end the aggregator's rows are
compared with the line's ground truth:

* counts: the simulator's own counters (the PLC's truth) against the sum of the count
  records the aggregator holds. Production is frozen while the agent first connects and
  again at the end, so both ends are exact;
* sequences: every record the line committed, per stream and store incarnation, against
  the aggregator's (lost, duplicated, different content), and how many arrived out of
  sequence order;
* poison: every dead letter is one the rogue sent (and no more than the broker took from
  it), and the broker refused every forged ack and command.

Exit status 1 on any loss, duplicate, content difference, count difference, a dead letter
that is not poison, or a forged ack or command the broker let through.

    python -m tests.soak --duration 600 [--seed N] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import yaml
from paho.mqtt.enums import CallbackAPIVersion

from edge.config.line import load_config
from edge.simulate.runner import Simulator
from edge.store import STREAMS, Store
from edge.store.audit import load_key
from edge.store.streams import SCHEMAS
from sync.aggregator.acl import line_user, render_acl
from sync.aggregator.config import load_aggregator_config
from sync.aggregator.store import AggregatorStore
from tests.conftest import as_operator, example_on_free_ports
from tests.mqtt_rig import Mosquitto, SilentProxy
from tests.sync.conftest import uplink_section
from tests.sync.test_sync_e2e import LINE_KEY, edge_rows, start, stop, wait_drained, write_agg_config

BASE = "lineside/v1/" + LINE_KEY
#: Dead-letter kinds the rogue's poison lands as.
POISON_KINDS = {"not_json", "schema", "unknown_stream", "future", "audit"}

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
        #: Held while the store is recreated (nobody at the terminal meanwhile).
        self.pause = threading.Lock()

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.stopped.set()
        self.thread.join(10)

    def _loop(self) -> None:
        while not self.stopped.wait(2.0):  # an attentive operator: every 2 s
            with self.pause:
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


class Rogue:
    """Someone with the line's broker credentials: connects now and then (under the
    aggregator's client id, too: the broker makes it the line's user name), publishes
    poison on the line's topics and tries acks and commands of its own."""

    def __init__(self, port: int, user: str, password: str, rnd: random.Random) -> None:
        self.port, self.user, self.password, self.rnd = port, user, password, rnd
        self.sent: dict[str, int] = {}
        self.accepted = 0  # poison the broker took (PUBACK 0)
        self.forged_through = 0  # forged acks/commands the broker let through (must stay 0)
        self.forged_refused = 0

    def strike(self) -> None:
        seen: dict[str, Any] = {"acks": {}, "rc": {}}
        c = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=self.rnd.choice(["lineside-aggregator", "rogue"]),
            protocol=mqtt.MQTTv5,
        )
        c.username_pw_set(self.user, self.password)
        c.on_message = lambda _c, _u, m: seen["acks"].__setitem__(m.topic, m.payload)
        c.on_publish = lambda _c, _u, mid, rc, _p: seen["rc"].__setitem__(mid, int(rc.value))
        try:
            c.connect("127.0.0.1", self.port, keepalive=5)
        except OSError:
            return  # the broker is down just now
        c.loop_start()
        try:
            c.subscribe(f"{BASE}/ack/+", 1)  # a line reads its acks: the incarnation is no secret
            time.sleep(0.5)
            inc, acked = "", {"events": 0, "audit": 0}
            for payload in list(seen["acks"].values()):
                try:
                    a = json.loads(payload)
                    inc, acked[a["stream"]] = a.get("incarnation", ""), int(a.get("acked_seq", 0))
                except (ValueError, TypeError, KeyError):
                    pass
            mids: dict[int, str] = {}
            for kind, topic, payload in self._poison(inc, acked):
                mids[c.publish(topic, payload, qos=1).mid] = "poison"
                self.sent[kind] = self.sent.get(kind, 0) + 1
            for topic, payload in self._forged(inc):
                mids[c.publish(topic, payload, qos=1).mid] = "forged"
            end = time.monotonic() + 3
            while time.monotonic() < end and not all(m in seen["rc"] for m in mids):
                time.sleep(0.05)
            for mid, what in mids.items():
                rc = seen["rc"].get(mid)
                if what == "poison" and rc in (0, 16):
                    self.accepted += 1
                elif what == "forged" and rc in (0, 16):
                    self.forged_through += 1
                elif what == "forged" and rc is not None:
                    self.forged_refused += 1
        finally:
            c.disconnect()
            c.loop_stop()

    def _forged(self, inc: str) -> list[tuple[str, bytes]]:
        ack = {"v": 1, "line": _ref(), "stream": "samples", "acked_seq": 10**9, "incarnation": inc}
        cmd = {
            "v": 1,
            "id": f"rogue-{self.rnd.random()}",
            "kind": "work_order",
            "issued_at": time.time(),
            "body": {"action": "cancel", "order": "WO-SOAK"},
        }
        return [
            (f"{BASE}/ack/samples", json.dumps(ack).encode()),
            (f"{BASE}/cmd/work_order", json.dumps(cmd).encode()),
        ]

    def _poison(self, inc: str, acks: dict[str, int]) -> list[tuple[str, str, bytes]]:
        def batch(stream: str, after: int, seqs: list[int], rec: dict[str, Any]) -> bytes:
            d = {
                "v": 1,
                "line": _ref(),
                "stream": stream,
                "incarnation": inc,
                "after_seq": after,
                "first_seq": seqs[0],
                "last_seq": seqs[-1],
                "sent_at": time.time(),
                "records": [{"seq": s, **rec} for s in seqs],
            }
            return json.dumps(d).encode()

        ev = {"ts": time.time(), "kind": "note", "source": "rogue", "message": "forged", "data": None}
        audit = {
            "ts": time.time(),
            "who": "mallory",
            "action": "order.start",
            "entity": "WO-X",
            "old": None,
            "new": None,
            "why": "",
            "meaning": "performed",
            "prev": "0" * 128,
            "mac": "f" * 128,
        }
        acked, at = acks.get("events", 0), acks.get("audit", 0)
        nan_event = batch("events", acked, [acked + 1], ev).replace(b'"ts": ', b'"ts": NaN, "x": ', 1)
        return [
            ("not_json", f"{BASE}/events", b"\x00 not json {"),
            ("schema", f"{BASE}/events", nan_event),
            ("unknown_stream", f"{BASE}/payroll", batch("payroll", 0, [1], ev)),
            ("future", f"{BASE}/events", batch("events", acked, [acked + 1, acked + 10**12], ev)),
            ("audit", f"{BASE}/audit", batch("audit", at, [at + 1], audit)),  # not signed by the line
        ]


def _ref() -> dict[str, str]:
    return dict(zip(("enterprise", "site", "area", "line"), LINE_KEY.split("/"), strict=True))


def plant_broker(work: Path) -> tuple[Mosquitto, dict[str, Path]]:
    """A broker as the plant runs it: passwords, the generated ACL, client ids bound to
    users and the shipped size limit (``config/mosquitto/mosquitto.conf``). Returns the
    broker and each user's password file."""
    agg_cfg = load_aggregator_config(write_agg_config(work, 1))
    users = {"lineside-aggregator": "agg-secret", line_user(LINE_KEY): "line-secret"}
    pw, acl = work / "passwd", work / "acl"
    for i, (u, p) in enumerate(users.items()):
        subprocess.run(["mosquitto_passwd", *(["-c"] if i == 0 else []), "-b", str(pw), u, p], check=True)
    acl.write_text(render_acl(agg_cfg))
    for f in (pw, acl):
        f.chmod(0o600)
    shipped = (Path(__file__).parent.parent / "config" / "mosquitto" / "mosquitto.conf").read_text()
    identity = "".join(
        ln + "\n"
        for ln in shipped.splitlines()
        if ln.startswith(("use_username_as_clientid", "message_size_limit"))
    )
    files = {}
    for u, p in users.items():
        files[u] = work / f"{u}.pw"
        files[u].write_text(p + "\n")
        files[u].chmod(0o600)
    extra = f"allow_anonymous false\npassword_file {pw}\nacl_file {acl}\n" + identity
    return Mosquitto(work / "broker", extra=extra), files


def plant_agg_config(work: Path, port: int, password_file: Path, audit_key: str) -> Path:
    """The aggregator's config: its own broker user, the line's audit key."""
    p = write_agg_config(work, port)
    data = yaml.safe_load(p.read_text())
    data["mqtt"] |= {"username": "lineside-aggregator", "password_file": str(password_file)}
    data["lines"][0]["audit_key"] = audit_key
    p.write_text(yaml.safe_dump(data))
    return p


def recreate_store(line_db: Path, n: int) -> Path:
    """What a careless admin does under a stopped agent: the store (and its WAL) moved
    aside; the agent starts a new one. Returns where the old one went."""
    for suffix in ("", "-wal", "-shm"):
        p = Path(f"{line_db}{suffix}")
        if p.exists():
            p.rename(Path(f"{line_db}.old{n}{suffix}"))
    return Path(f"{line_db}.old{n}")


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


def compare(line_dbs: list[Path], plant_db: Path, truth: dict[str, int]) -> dict[str, Any]:
    """Each store the line had (moved-aside ones first) against its incarnation's records
    at the plant."""
    agg = AggregatorStore(plant_db)
    out: dict[str, Any] = {"streams": {}, "incarnations": []}
    try:
        for i, line_db in enumerate(line_dbs):
            with Store(line_db, readonly=True) as st:
                inc = st.incarnation()
            out["incarnations"].append(inc)
            for stream in STREAMS:
                key = stream if len(line_dbs) == 1 else f"{stream} #{i + 1}"
                out["streams"][key] = _compare_stream(agg, line_db, inc, stream)
        counts = [c for inc in out["incarnations"] for c in agg.records(LINE_KEY, "counts", inc)]
        # Parts the counters caught up after a restart are the PLC's too ("unobserved": made
        # while the agent was not looking); corrections and manual entries are not.
        plc = ("plc", "unobserved")
        filler = [c for c in counts if c["machine"] == "filler" and c.get("source", "plc") in plc]
        capper = [c for c in counts if c["machine"] == "capper" and c.get("source", "plc") in plc]
        out["counts"] = {
            "filler parts (cycle_count)": (truth["cycle_count"], sum(c["good"] + c["scrap"] for c in filler)),
            "filler scrap (scrap_count)": (truth["scrap_count"], sum(c["scrap"] for c in filler)),
            "capper good (good_count)": (truth["good_count"], sum(c["good"] for c in capper)),
            "capper scrap (scrap_count)": (truth["scrap_count"], sum(c["scrap"] for c in capper)),
        }
        out["dead_letters"] = agg.dead_letter_counts()
        out["plant_incarnations"] = [i["incarnation"] for i in agg.incarnations()]
    finally:
        agg.close()
    return out


def _compare_stream(agg: AggregatorStore, line_db: Path, inc: str, stream: str) -> dict[str, int]:
    want = {r["seq"]: r for r in edge_rows(line_db, stream)}
    rows = agg.query(
        "SELECT seq, received, data FROM records WHERE line = ? AND stream = ? AND incarnation = ? ORDER BY seq",
        (LINE_KEY, stream, inc),
    )
    got_seqs = [r[0] for r in rows]
    lost = sorted(set(want) - set(got_seqs))
    dup = len(got_seqs) - len(set(got_seqs))
    extra = sorted(set(got_seqs) - set(want))  # only possible if the line lost its own rows
    differ = 0
    if stream != "samples":
        for seq, _recv, data in rows:
            if seq in want and _content(json.loads(data), stream) != _content(want[seq], stream):
                differ += 1
    ooo, high = 0, 0.0
    for _seq, recv, _data in rows:
        if recv < high - 1e-6:
            ooo += 1
        high = max(high, recv)
    return {
        "edge": len(want),
        "aggregator": len(got_seqs),
        "lost": len(lost),
        "duplicated": dup,
        "unknown": len(extra),
        "differ": differ,
        "out_of_order": ooo,
    }


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

    broker, passwords = plant_broker(work)
    broker.start()
    proxy = SilentProxy(broker.port)
    up = uplink_section(proxy.port)
    up["mqtt"] |= {"username": line_user(LINE_KEY), "password_file": str(passwords[line_user(LINE_KEY)])}
    cfg = example_on_free_ports(work, data_changes=lambda d: d.update(uplink=up))
    line_db = work / "line1.db"
    audit_key = load_key(line_db).public_hex  # the agent signs with it; the plant checks with it
    tags = {
        "cycle_count": "filler.cycle_count",
        "good_count": "capper.good_count",
        "scrap_count": "capper.scrap_count",
    }
    sim = SimThread(cfg, args.seed)
    sim.produce(False)
    sim.start()
    agg_cfg = plant_agg_config(work, broker.port, passwords["lineside-aggregator"], audit_key)
    agg = start("aggregator", "run", "-c", str(agg_cfg))
    agent = start("run", "-c", str(cfg))
    rogue = Rogue(broker.port, line_user(LINE_KEY), "line-secret", rnd)
    old_dbs: list[Path] = []
    stop_errs: list[str] = []
    events = {
        "agent SIGKILLs": 0,
        "broker kills": 0,
        "silent cuts": 0,
        "rogue strikes": 0,
        "stores recreated": 0,
    }
    try:
        time.sleep(2)
        c0 = sim.produce(False)
        wait_until(lambda: current(line_db, tags) == c0, 60, "the agent's first reading of the counters")
        c0 = sim.produce(True)
        operator = Operator(cfg)
        operator.start()
        t_end = time.monotonic() + args.duration
        next_report = time.monotonic() + 60
        recreate_at = time.monotonic() + args.duration * rnd.uniform(0.3, 0.6)
        while time.monotonic() < t_end:
            r = rnd.random()
            if not events["stores recreated"] and time.monotonic() >= recreate_at:
                # The line's store recreated under a stopped agent (once per soak). Production
                # is frozen and the old store drained first: what a recreated store had not
                # delivered is gone with it, which is not what this soak measures.
                with operator.pause:
                    c = sim.produce(False)
                    wait_until(
                        lambda c=c: current(line_db, tags) == c, 60, "the agent's reading before recreation"
                    )
                    wait_drained(line_db, timeout=300)
                    stop_errs.append(stop(agent))
                    old_dbs.append(recreate_store(line_db, len(old_dbs) + 1))
                    events["stores recreated"] += 1
                    agent = start("run", "-c", str(cfg))
                    wait_until(
                        lambda c=c: current(line_db, tags) == c,
                        60,
                        "the agent's first reading in the new store",
                    )
                    sim.produce(True)
            elif r < 0.1 or not events["rogue strikes"]:  # someone with the line's credentials
                time.sleep(rnd.uniform(2, 10))
                rogue.strike()
                events["rogue strikes"] += 1
            elif r < 0.6:  # the agent dies without warning, restarts after a while
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
        wait_drained(line_db, timeout=300)
        err = stop(agent)
        time.sleep(2)  # the aggregator's last commits (poison included)
    finally:
        sim.stop()
        stop(agent)
        agg_err = stop(agg)
        broker.stop()
        proxy.close()
    truth = {k: c1[k] - c0[k] for k in SIGNALS}
    res = compare([*old_dbs, line_db], work / "plant.db", truth)
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
    dead = res["dead_letters"]
    print(
        f"\nrogue: poison sent {rogue.sent}, taken by the broker {rogue.accepted}; dead letters {dead}; "
        f"forged acks and commands refused {rogue.forged_refused}, let through {rogue.forged_through}"
    )
    if set(dead) - POISON_KINDS or sum(dead.values()) > rogue.accepted or (rogue.accepted and not dead):
        print("dead letters that are not the rogue's poison (or poison that went missing)")
        bad = True
    if rogue.forged_through:
        print("the broker let forged acks or commands through")
        bad = True
    print(f"store incarnations: line {res['incarnations']}, plant {res['plant_incarnations']}")
    if res["incarnations"] != res["plant_incarnations"]:
        bad = True
    for name, text in (("agent", err + "".join(stop_errs)), ("aggregator", agg_err)):
        if "Traceback" in text:
            print(f"{name} printed a traceback:\n{text[-2000:]}")
            bad = True
    print("\nsoak: " + ("FAILED" if bad else "OK: nothing lost, nothing duplicated"))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
