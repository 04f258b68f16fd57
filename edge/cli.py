"""The ``lineside`` command: a thin shell over the library.

Library code raises ``LinesideError`` subclasses; this module is the one place that
turns them into a message on stderr and an exit code (2 = bad config or usage,
3 = refused write, 1 = other failures). No traceback reaches an operator unless
``--debug`` is given.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import logging
import os
import re
import signal
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from edge.errors import ConfigError, LinesideError

DESCRIPTION = """\
Lineside edge agent: reads PLCs (OPC UA, Modbus TCP/RTU, EtherNet/IP) into a local
SQLite store that keeps working without a network.

Typical use:
  lineside config check line.yaml       validate a line config (exit 2 on errors)
  lineside simulate -c line.yaml        serve a simulated line for that config
  lineside run -c line.yaml             run the agent
  lineside status -c line.yaml          latest value/quality of every tag, device states
  lineside history -c line.yaml --tag filler.speed --since=-1h
"""


def _setup_logging(level: str) -> None:
    # journald adds its own timestamps; a terminal gets them from us.
    fmt = (
        "%(levelname)s %(name)s: %(message)s"
        if os.environ.get("JOURNAL_STREAM")
        else "%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.basicConfig(level=getattr(logging, level.upper()), format=fmt, stream=sys.stderr)


def _load(path: str) -> Any:
    from edge.config import load_config

    return load_config(path)


# ---------------------------------------------------------------------------- config


def cmd_config_check(args: argparse.Namespace) -> int:
    from edge.config import load_config

    messages: list[str] = []
    for f in args.files:
        try:
            cfg = load_config(f)
        except ConfigError as e:
            messages.extend(e.messages)
        else:
            if not args.quiet:
                print(f"{f}: ok ({len(cfg.devices)} devices, {len(cfg.tags)} tags)")
    if messages:
        for m in messages:
            print(m, file=sys.stderr)
        return 2
    return 0


def cmd_config_schema(args: argparse.Namespace) -> int:
    from edge.config import json_schema

    print(json.dumps(json_schema(), indent=2))
    return 0


# ---------------------------------------------------------------------------- run / simulate


def _run_async(main: Any, on_signal: Any) -> None:
    async def runner() -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, on_signal)
        await main

    asyncio.run(runner())


def cmd_run(args: argparse.Namespace) -> int:
    from edge.agent import Agent

    cfg = _load(args.config)
    agent = Agent(cfg)
    _run_async(agent.run(args.duration), agent.request_stop)
    return 0


def cmd_simulate(args: argparse.Namespace) -> int:
    from edge.simulate.runner import Simulator

    cfg = _load(args.config)
    sim = Simulator(cfg, seed=args.seed)
    stop = asyncio.Event()

    async def main() -> None:
        task = asyncio.create_task(sim.run(args.duration))
        waiter = asyncio.create_task(stop.wait())
        await asyncio.wait([task, waiter], return_when=asyncio.FIRST_COMPLETED)
        waiter.cancel()
        if task.done():
            task.result()  # re-raise a failure to start (port in use, bad sim: binding)
            return
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await sim.stop()

    _run_async(main(), stop.set)
    return 0


# ---------------------------------------------------------------------------- status / history


def _age(ts: float | None, now: float) -> str:
    if ts is None:
        return "-"
    d = now - ts
    return f"{d:.1f}s" if d < 120 else (f"{d / 60:.1f}m" if d < 7200 else f"{d / 3600:.1f}h")


def gather_status(cfg: Any, now: float | None = None) -> dict[str, Any]:
    from edge.store import Store

    now = now if now is not None else time.time()
    with Store(cfg.store.path, readonly=True) as st:
        agent = st.agent_status()
        values = st.current_values()
        devices = st.device_status()
        backlog = st.backlog()
        files = st.file_bytes()
    hb = agent.get("heartbeat", {}).get("value")
    running = agent.get("running", {}).get("value", False)
    alive = bool(hb and running and now - hb < max(3 * cfg.agent.heartbeat_s, 10))
    tags_cfg = {t.name: t for t in cfg.tags}
    out_tags = []
    for v in values:
        t = tags_cfg.get(v["tag"])
        quality = v["quality"]
        if quality == "good" and t is not None:
            hb_s = t.deadband.max_interval_s if t.deadband and t.deadband.max_interval_s else None
            limit = max(3 * t.poll_ms / 1000, 1.5 * hb_s if hb_s else 0)
            if not alive or (hb_s and v["ts_recv"] and now - v["ts_recv"] > limit):
                quality = "stale"
        out_tags.append(
            v | {"quality": quality, "age_s": None if v["ts_recv"] is None else round(now - v["ts_recv"], 3)}
        )
    dev_out = {}
    for d in cfg.devices:
        s = devices.get(d.name)
        state = s["state"] if s else "unknown"
        dev_out[d.name] = {
            "protocol": d.protocol,
            "state": state if alive else f"{state} (agent not running)",
            "since": s["since"] if s else None,
            "last_error": s["last_error"] if s else None,
        }
    return {
        "line": cfg.line.model_dump(),
        "agent": {"alive": alive, "heartbeat": hb, "pid": agent.get("pid", {}).get("value")},
        "devices": dev_out,
        "tags": out_tags,
        "backlog": backlog,
        "store": {"path": str(cfg.store.path), **files},
    }


def cmd_status(args: argparse.Namespace) -> int:
    cfg = _load(args.config)
    now = time.time()
    st = gather_status(cfg, now)
    if args.json:
        print(json.dumps(st, indent=2, default=str))
        return 0
    a = st["agent"]
    print(
        f"line {cfg.line.enterprise}/{cfg.line.site}/{cfg.line.area}/{cfg.line.line}   agent: "
        + (
            f"running (pid {a['pid']}, heartbeat {_age(a['heartbeat'], now)} ago)"
            if a["alive"]
            else "NOT RUNNING"
        )
    )
    print("\nDEVICE               PROTOCOL     STATE                          SINCE     LAST ERROR")
    for name, d in st["devices"].items():
        print(
            f"{name:<20} {d['protocol']:<12} {d['state']:<30} {_age(d['since'], now):<9} {d['last_error'] or ''}"
        )
    print("\nTAG                            VALUE                QUALITY  AGE")
    for t in st["tags"]:
        val = "-" if t["value"] is None else _fmt(t["value"])
        if len(val) > 20:
            val = val[:17] + "..."
        unit = f" {t['eng_unit']}" if t["eng_unit"] and t["value"] is not None else ""
        print(f"{t['tag']:<30} {val + unit:<20} {t['quality']:<8} {_age(t['ts_recv'], now)}")
    print(
        f"\nbacklog (not yet acknowledged upstream): {st['backlog']}   store: {st['store']['db'] / 1e6:.1f} MB (+wal {st['store']['db_wal'] / 1e6:.1f} MB)"
    )
    return 0


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.7g}"
    if isinstance(v, list):
        return "[" + ", ".join(_fmt(x) for x in v) + "]"
    return str(v)


_REL = re.compile(r"^-(\d+(?:\.\d+)?)([smhd])$")


def parse_time(text: str, tz: str) -> float:
    """ISO 8601 (naive = plant local time), epoch seconds, or relative ``-15m`` / ``-2h``."""
    m = _REL.match(text.strip())
    if m:
        mult = {"s": 1, "m": 60, "h": 3600, "d": 86400}[m.group(2)]
        return time.time() - float(m.group(1)) * mult
    try:
        return float(text)
    except ValueError:
        pass
    try:
        dt = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise LinesideError(
            f"cannot read time {text!r}: use ISO 8601 (2026-11-21T08:00), epoch seconds or -15m/-2h/-1d"
        ) from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=ZoneInfo(tz))
    return dt.timestamp()


def cmd_history(args: argparse.Namespace) -> int:
    from edge.store import Store

    cfg = _load(args.config)
    try:
        cfg.tag(args.tag)
    except KeyError:
        raise LinesideError(f"--tag: no tag named {args.tag!r} in {args.config}") from None
    tz = ZoneInfo(cfg.line.timezone)
    since = parse_time(args.since, cfg.line.timezone) if args.since else None
    until = parse_time(args.until, cfg.line.timezone) if args.until else None
    with Store(cfg.store.path, readonly=True) as st:
        rows = st.history(args.tag, since, until, args.limit)
        if args.format == "json":
            out = [r | {"time": datetime.fromtimestamp(r["ts"], tz).isoformat()} for r in rows]
            print(json.dumps({"tag": args.tag, "samples": out}, indent=1))
        else:
            w = csv.writer(sys.stdout)
            w.writerow(["time", "ts", "value", "quality", "seq"])
            for r in rows:
                v = json.dumps(r["value"]) if isinstance(r["value"], list) else r["value"]
                w.writerow(
                    [
                        datetime.fromtimestamp(r["ts"], tz).isoformat(timespec="milliseconds"),
                        f"{r['ts']:.3f}",
                        v,
                        r["quality"],
                        r["seq"],
                    ]
                )
    return 0


def _pct(v: Any) -> str:
    return "   -  " if v is None else f"{100 * v:5.1f}%"


def _dur(s: float | None) -> str:
    if s is None:
        return "-"
    s = float(s)
    return f"{s:.0f}s" if s < 120 else (f"{s / 60:.1f}m" if s < 7200 else f"{s / 3600:.1f}h")


def print_report(rep: dict[str, Any], tz: str) -> None:
    zone = ZoneInfo(tz)

    def when(ts: float) -> str:
        return datetime.fromtimestamp(ts, zone).strftime("%Y-%m-%d %H:%M:%S")

    print(f"line machine: {rep['line_machine']}   {when(rep['start'])} .. {when(rep['end'])} ({tz})")
    head = f"{'':<26} {'A':>6} {'P':>6} {'Q':>6} {'OEE':>6} {'good':>8} {'scrap':>6} {'run':>7} {'down':>7}"

    def row(label: str, k: dict[str, Any]) -> str:
        return (
            f"{label:<26} {_pct(k['availability'])} {_pct(k['performance'])} {_pct(k['quality'])} {_pct(k['oee'])} "
            f"{k['good']:>8} {k['scrap']:>6} {_dur(k['run_s']):>7} {_dur(k['downtime_s']):>7}"
        )

    print("\n" + head)
    print(row("whole period", rep["total"]))
    for s in rep["shifts"]:
        print(row(f"shift {s['shift']}" + (" *" if s["partial"] else ""), s))
    for o in rep["orders"]:
        print(row(f"order {o['order']} ({o['product']})", o))
    for d in rep["days"]:
        print(row(f"day {d['day']}", d))
    if rep["end"] - rep["start"] <= 48 * 3600:
        for h in rep.get("hours", []):
            print(row("hour " + datetime.fromtimestamp(h["hour"], zone).strftime("%Y-%m-%d %H:00"), h))
    losses = rep["total"]["six_big_losses_s"]
    print(
        "\nsix big losses (+ time without data): "
        + ", ".join(f"{k.replace('_', ' ')} {_dur(v)}" for k, v in losses.items())
    )
    print("\nMACHINE              OEE    failures   MTBF     MTTR")
    for m, k in rep["machines"].items():
        print(
            f"{m:<20} {_pct(k['oee'])} {k['failures']:>8}   {_dur(k['mtbf_s']):>6}   {_dur(k['mttr_s']):>6}"
        )
    evs = [e for e in rep["downtime"] if not e["micro"]]
    micro = len(rep["downtime"]) - len(evs)
    print(f"\nDOWNTIME ({len(evs)} stops, {micro} micro-stops not listed)")
    print(f"{'start':<20} {'machine':<12} {'state':<10} {'duration':>8}  {'loss':<13} reason")
    for e in evs:
        reason = e["reason"] or "UNEXPLAINED"
        print(
            f"{when(e['start']):<20} {e['machine']:<12} {e['state']:<10} {_dur(e['duration_s']):>8}  {e['loss']:<13} {reason}"
        )


def cmd_replay(args: argparse.Namespace) -> int:
    from edge.replay import replay

    cfg = _load(args.config)
    rep = replay(cfg, Path(args.samples))
    if args.json:
        print(json.dumps(rep, indent=1, default=str))
    else:
        print_report(rep, cfg.line.timezone)
    return 0


def cmd_kpi(args: argparse.Namespace) -> int:
    from edge.operations import kpi_report
    from edge.store import Store

    cfg = _load(args.config)
    with Store(cfg.store.path, readonly=True) as st:
        since = parse_time(args.since, cfg.line.timezone) if args.since else None
        rep = kpi_report(cfg, st, shift=args.shift, order=args.order, since=since)
    if args.json:
        print(json.dumps(rep, indent=1, default=str))
    else:
        print_report(rep, cfg.line.timezone)
    return 0


def cmd_downtime_list(args: argparse.Namespace) -> int:
    from edge.operations import list_downtime
    from edge.store import Store

    cfg = _load(args.config)
    with Store(cfg.store.path, readonly=True) as st:
        rows = list_downtime(cfg, st, include_explained=args.all)
    if args.json:
        print(json.dumps(rows, indent=1, default=str))
        return 0
    zone = ZoneInfo(cfg.line.timezone)
    print(f"{'EVENT':<28} {'start':<19} {'duration':>8}  {'state':<9} {'loss':<12} reason")
    for r in rows:
        start = datetime.fromtimestamp(r["start"], zone).strftime("%Y-%m-%d %H:%M:%S")
        dur = _dur(r["duration_s"]) if r["end"] is not None else "ongoing"
        reason = r["reason"] or "UNEXPLAINED"
        print(f"{r['id']:<28} {start:<19} {dur:>8}  {r['state']:<9} {r['loss']:<12} {reason}")
    if not rows:
        print("no unexplained downtime" if not args.all else "no downtime recorded")
    return 0


def cmd_downtime_assign(args: argparse.Namespace) -> int:
    from edge.operations import assign_reason
    from edge.store import Store

    cfg = _load(args.config)
    with Store(cfg.store.path) as st:
        assign_reason(cfg, st, args.event, args.reason, by=args.by, comment=args.comment or "")
    print(f"{args.event}: reason {args.reason} recorded (by {args.by})")
    return 0


def cmd_downtime_split(args: argparse.Namespace) -> int:
    from edge.operations import split_event
    from edge.store import Store

    cfg = _load(args.config)
    at = parse_time(args.at, cfg.line.timezone)
    with Store(cfg.store.path) as st:
        second = split_event(cfg, st, args.event, at, by=args.by, comment=args.comment or "")
    print(f"{args.event}: split; second part is {second}")
    return 0


def cmd_order(args: argparse.Namespace) -> int:
    from edge.operations import order_command
    from edge.store import Store

    cfg = _load(args.config)
    with Store(cfg.store.path) as st:
        order_command(
            cfg, st, args.action, args.order, by=args.by, product=args.product, quantity=args.quantity
        )
    print(f"{args.action} {args.order or ''} queued; the agent applies it within a second")
    return 0


def cmd_count(args: argparse.Namespace) -> int:
    from edge.operations import adjust_count
    from edge.store import Store

    cfg = _load(args.config)
    with Store(cfg.store.path) as st:
        adjust_count(
            cfg,
            st,
            args.machine,
            good=args.good,
            scrap=args.scrap,
            by=args.by,
            scrap_reason=args.scrap_reason,
            comment=args.comment or "",
        )
    print(f"{args.machine}: good {args.good:+d}, scrap {args.scrap:+d} recorded (by {args.by})")
    return 0


def cmd_spc(args: argparse.Namespace) -> int:
    from edge.spc_cli import analyse, print_analysis

    rules = getattr(args, "rules", None)
    options = {"mu0": args.mu0, "sigma": args.sigma, "lam": args.lam, "L": args.L, "k": args.k, "h": args.h}
    res = analyse(
        Path(args.file),
        args.chart,
        subgroup_size=args.subgroup_size,
        rules=rules,
        lsl=args.lsl,
        usl=args.usl,
        target=args.target,
        options=options if args.chart in ("ewma", "cusum") else None,
    )
    if args.json:
        print(json.dumps(res, indent=1, default=str))
    else:
        print_analysis(res)
    return 0


def cmd_audit_verify(args: argparse.Namespace) -> int:
    from edge.store import Store, audit

    cfg = _load(args.config)
    with Store(cfg.store.path, readonly=True) as st:
        try:
            key = audit.load_key(cfg.store.path, create=False)
        except FileNotFoundError as e:
            raise LinesideError(str(e)) from None
        n, problems = audit.verify(st.db, key)
    for p in problems:
        print(f"audit entry {p.seq}: {p.kind}: {p.detail}", file=sys.stderr)
    if problems:
        print(f"audit trail NOT intact: {len(problems)} problem(s) in {n} entries", file=sys.stderr)
        return 1
    print(f"audit trail intact: {n} entries verified")
    return 0


def cmd_audit_list(args: argparse.Namespace) -> int:
    from edge.store import Store, audit

    cfg = _load(args.config)
    with Store(cfg.store.path, readonly=True) as st:
        rows = audit.entries(st.db, args.limit)
    if args.json:
        print(json.dumps(rows, indent=1))
        return 0
    zone = ZoneInfo(cfg.line.timezone)
    for r in rows:
        when = datetime.fromtimestamp(r["ts"], zone).strftime("%Y-%m-%d %H:%M:%S")
        change = f"{r['old'] or '-'} -> {r['new'] or '-'}"
        print(
            f"{r['seq']:>6} {when} {r['who']:<12} {r['action']:<24} {r['entity']:<28} {change}  {r['why']} [{r['meaning'] or ''}]"
        )
    return 0


def cmd_spc_alarms(args: argparse.Namespace) -> int:
    from edge.operations import spc_alarms
    from edge.store import Store

    cfg = _load(args.config)
    with Store(cfg.store.path, readonly=True) as st:
        rows = spc_alarms(cfg, st, include_acked=args.all)
    if args.json:
        print(json.dumps(rows, indent=1))
        return 0
    zone = ZoneInfo(cfg.line.timezone)
    for r in rows:
        when = datetime.fromtimestamp(r["ts"], zone).strftime("%Y-%m-%d %H:%M:%S")
        state = "acknowledged" if r["acknowledged"] else "ACTIVE"
        print(
            f"{r['seq']:>6} {when} {r['characteristic']:<16} {r['kind']:<15} {r['rule']:<8} {state:<12} {r['detail']}"
        )
    if not rows:
        print("no active SPC alarms" if not args.all else "no SPC alarms recorded")
    return 0


def cmd_spc_ack(args: argparse.Namespace) -> int:
    from edge.operations import ack_alarms
    from edge.store import Store

    cfg = _load(args.config)
    with Store(cfg.store.path) as st:
        top = ack_alarms(cfg, st, args.characteristic, by=args.by, comment=args.comment or "")
    print(f"{args.characteristic}: alarms up to {top} acknowledged by {args.by}")
    return 0


def cmd_spc_enter(args: argparse.Namespace) -> int:
    from edge.operations import enter_measurement
    from edge.store import Store

    cfg = _load(args.config)
    with Store(cfg.store.path) as st:
        enter_measurement(cfg, st, args.characteristic, args.value, by=args.by)
    print(f"{args.characteristic}: {args.value} recorded (by {args.by})")
    return 0


def cmd_spc_recalc(args: argparse.Namespace) -> int:
    from edge.operations import request_recalculation
    from edge.store import Store

    cfg = _load(args.config)
    with Store(cfg.store.path) as st:
        request_recalculation(cfg, st, args.characteristic, by=args.by, reason=args.reason or "")
    print(f"{args.characteristic}: new baseline requested; limits are frozen again when it is complete")
    return 0


def cmd_trace(args: argparse.Namespace) -> int:
    from edge.store import Store
    from edge.trace import trace

    cfg = _load(args.config)
    with Store(cfg.store.path, readonly=True) as st:
        res = trace(cfg, st, args.id)
    if args.json:
        print(json.dumps(res, indent=1, default=str))
        return 0
    zone = ZoneInfo(cfg.line.timezone)

    def when(ts: float) -> str:
        return datetime.fromtimestamp(ts, zone).strftime("%Y-%m-%d %H:%M:%S")

    if res["direction"] == "forward":
        print(f"material lot {res['id']} was used in:")
        for u in res["used_in"]:
            print(f"  order {u['order']} ({u['material']}):")
            for p in u["produced"] or [
                {"lot": "(no lots recorded yet)", "kind": "", "product": "", "start": None}
            ]:
                span = f"{when(p['start'])} .. {when(p['end'])}" if p["start"] else ""
                print(f"    {p['kind']:<6} {p['lot']:<20} {p['product'] or '':<12} {span}")
        return 0
    for p in res["produced"]:
        print(
            f"{p['kind']} {p['lot']}: order {p['order']}, product {p['product']}, machine {p['machine']}, {when(p['start'])} .. {when(p['end'])}"
        )
        print("  materials:")
        for m in p["materials"] or [
            {"material_lot": "(none recorded)", "material": "", "quantity": None, "unit": ""}
        ]:
            qty = f"{m['quantity']:g} {m['unit']}" if m["quantity"] is not None else ""
            print(f"    {m['material_lot']:<20} {m['material']:<16} {qty}")
        print("  process values in the window:")
        for v in p["process_values"]:
            if v["mean"] is None:
                print(f"    {v['tag']:<28} {v['samples']:>7} samples")
            else:
                print(
                    f"    {v['tag']:<28} {v['samples']:>7} samples  min {v['min']:.6g}  mean {v['mean']:.6g}  max {v['max']:.6g} {v['unit']}"
                )
        if p["spc_alarms"]:
            print("  SPC alarms in the window:")
            for a in p["spc_alarms"]:
                print(f"    {when(a['ts'])} {a['characteristic']} {a['kind']} {a['rule']}: {a['detail']}")
    return 0


def cmd_lot(args: argparse.Namespace) -> int:
    from edge.store import Store
    from edge.trace import register_consumed, register_produced

    cfg = _load(args.config)
    with Store(cfg.store.path) as st:
        if args.lot_command == "consumed":
            register_consumed(
                cfg,
                st,
                args.material_lot,
                args.material,
                by=args.by,
                order=args.order,
                quantity=args.quantity,
                unit=args.unit or "",
            )
            print(f"material lot {args.material_lot} recorded as consumed")
        else:
            tz = cfg.line.timezone
            register_produced(
                cfg,
                st,
                args.lot,
                by=args.by,
                kind="serial" if args.serial else "lot",
                order=args.order,
                start=parse_time(args.start, tz) if args.start else None,
                end=parse_time(args.end, tz) if args.end else None,
                quantity=args.quantity,
            )
            print(f"{'serial' if args.serial else 'lot'} {args.lot} recorded")
    return 0


def cmd_inspect_due(args: argparse.Namespace) -> int:
    from edge.inspect import due
    from edge.store import Store

    cfg = _load(args.config)
    with Store(cfg.store.path, readonly=True) as st:
        rows = due(cfg, st)
    if args.json:
        print(json.dumps(rows, indent=1))
        return 0
    zone = ZoneInfo(cfg.line.timezone)
    for r in rows:
        when = datetime.fromtimestamp(r["due_at"], zone).strftime("%H:%M:%S")
        print(
            f"{r['plan']:<20} {'OVERDUE' if r['overdue'] else 'due':<8} since {when}  ({r['reason']}, order {r['order']})"
        )
    if not rows:
        print("no inspection due")
    return 0


def cmd_inspect_record(args: argparse.Namespace) -> int:
    from edge.inspect import record
    from edge.store import Store

    cfg = _load(args.config)
    values = {}
    for item in args.item or []:
        name, sep, value = item.partition("=")
        if not sep:
            raise LinesideError(f"--item: expected NAME=VALUE, got {item!r}")
        values[name.strip()] = value.strip()
    with Store(cfg.store.path) as st:
        passed = record(cfg, st, args.plan, values, by=args.by, comment=args.comment or "")
    print(f"{args.plan}: {'PASS' if passed else 'FAIL'} recorded (by {args.by})")
    return 0 if passed else 4


def cmd_certs_create(args: argparse.Namespace) -> int:
    from edge.certs import create_app_certificate

    cert, key = create_app_certificate(
        Path(args.out), args.name, args.uri, server=args.server, hosts=args.host or None
    )
    print(f"certificate: {cert}\nprivate key: {key} (mode 600)")
    return 0


# ---------------------------------------------------------------------------- parser


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="lineside", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "--log-level",
        default=os.environ.get("LINESIDE_LOG_LEVEL", "info"),
        choices=["debug", "info", "warning", "error"],
        help="log verbosity on stderr (default: info)",
    )
    p.add_argument("--debug", action="store_true", help="show tracebacks for unexpected errors")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    c = sub.add_parser("config", help="validate a line config or print its JSON schema")
    csub = c.add_subparsers(dest="config_command", metavar="SUBCOMMAND")
    ck = csub.add_parser(
        "check", help="validate config files; prints FILE: path.to.field: problem, exit 2 on errors"
    )
    ck.add_argument("files", nargs="+", metavar="FILE")
    ck.add_argument("-q", "--quiet", action="store_true", help="print nothing for valid files")
    ck.set_defaults(func=cmd_config_check)
    cs = csub.add_parser("schema", help="print the JSON schema of a line config (for editor completion)")
    cs.set_defaults(func=cmd_config_schema)

    r = sub.add_parser("run", help="run the edge agent for a line")
    r.add_argument("-c", "--config", required=True, help="line config file (YAML)")
    r.add_argument("--duration", type=float, help="stop after S seconds (default: run until SIGTERM/Ctrl-C)")
    r.set_defaults(func=cmd_run)

    s = sub.add_parser("status", help="latest value, quality and age of every tag; device connection states")
    s.add_argument("-c", "--config", required=True, help="line config file (YAML)")
    s.add_argument("--json", action="store_true", help="machine-readable output")
    s.set_defaults(func=cmd_status)

    h = sub.add_parser("history", help="recorded samples of one tag as CSV or JSON")
    h.add_argument("-c", "--config", required=True, help="line config file (YAML)")
    h.add_argument("--tag", required=True, help="tag name as in the config")
    h.add_argument(
        "--since",
        help="start: ISO 8601 (plant local time if no offset), epoch seconds, or relative as --since=-15m / -2h / -1d",
    )
    h.add_argument("--until", help="end (exclusive), same forms as --since")
    h.add_argument("--limit", type=int, help="at most N samples")
    h.add_argument("--format", choices=["csv", "json"], default="csv", help="output format (default: csv)")
    h.set_defaults(func=cmd_history)

    sm = sub.add_parser("simulate", help="serve a simulated filling line on the config's devices (test rigs)")
    sm.add_argument(
        "-c", "--config", required=True, help="line config file (YAML); tags' sim: fields bind model signals"
    )
    sm.add_argument("--duration", type=float, help="stop after S seconds")
    sm.add_argument("--seed", type=int, default=1, help="random seed of the line model (default 1)")
    sm.set_defaults(func=cmd_simulate)

    rp = sub.add_parser(
        "replay",
        help="run recorded samples (CSV ts,tag,value) through the line logic; print KPIs per shift and order",
    )
    rp.add_argument(
        "-c",
        "--config",
        required=True,
        help="line config file (YAML) with machines, reasons, shifts, products",
    )
    rp.add_argument(
        "samples", metavar="SAMPLES.csv", help="CSV with columns ts,tag,value (ts: ISO 8601 or epoch seconds)"
    )
    rp.add_argument("--json", action="store_true", help="machine-readable output")
    rp.set_defaults(func=cmd_replay)

    k = sub.add_parser(
        "kpi", help="OEE (A/P/Q), six big losses, MTBF/MTTR for a shift or work order, from the store"
    )
    k.add_argument("-c", "--config", required=True, help="line config file (YAML)")
    k.add_argument("--shift", help="current (default) or YYYY-MM-DD/NAME")
    k.add_argument("--order", help="a work order id instead of a shift")
    k.add_argument(
        "--since", help="from this time until now instead of a shift: ISO 8601, epoch, or --since=-1h"
    )
    k.add_argument("--json", action="store_true", help="machine-readable output")
    k.set_defaults(func=cmd_kpi)

    dt = sub.add_parser("downtime", help="list, explain and split stops")
    dtsub = dt.add_subparsers(dest="downtime_command", metavar="SUBCOMMAND")
    dl = dtsub.add_parser("list", help="stops, unexplained first")
    dl.add_argument("-c", "--config", required=True, help="line config file (YAML)")
    dl.add_argument("--all", action="store_true", help="also list explained stops")
    dl.add_argument("--json", action="store_true", help="machine-readable output")
    dl.set_defaults(func=cmd_downtime_list)
    da = dtsub.add_parser("assign", help="assign or change the reason of a stop (recorded with who and why)")
    da.add_argument("-c", "--config", required=True, help="line config file (YAML)")
    da.add_argument("event", help="event id from `downtime list`")
    da.add_argument("reason", help="reason code from the config's reason tree")
    da.add_argument("--by", required=True, help="operator (badge or name)")
    da.add_argument("--comment", help="why (required when changing an operator's reason)")
    da.set_defaults(func=cmd_downtime_assign)
    ds = dtsub.add_parser("split", help="split a stop in two at a time (e.g. a jam that became a changeover)")
    ds.add_argument("-c", "--config", required=True, help="line config file (YAML)")
    ds.add_argument("event", help="event id from `downtime list`")
    ds.add_argument("--at", required=True, help="split time: ISO 8601 (plant local) or epoch seconds")
    ds.add_argument("--by", required=True, help="operator (badge or name)")
    ds.add_argument("--comment", help="why")
    ds.set_defaults(func=cmd_downtime_split)

    od = sub.add_parser("order", help="start, pause, resume or complete a work order; changeovers")
    od.add_argument("-c", "--config", required=True, help="line config file (YAML)")
    od.add_argument(
        "action",
        choices=["start", "pause", "resume", "complete", "changeover_start", "changeover_end"],
        help="what to do",
    )
    od.add_argument("order", nargs="?", help="work order id (required for start)")
    od.add_argument("--product", help="product id (start)")
    od.add_argument("--quantity", type=int, help="ordered quantity (start)")
    od.add_argument("--due", help="due date (start): ISO 8601, plant local time")
    od.add_argument("--by", required=True, help="operator (badge or name)")
    od.set_defaults(func=cmd_order)

    cn = sub.add_parser(
        "count", help="book scrap with a reason, or correct a machine's counts (recorded with who and why)"
    )
    cn.add_argument("-c", "--config", required=True, help="line config file (YAML)")
    cn.add_argument("machine", help="machine name")
    cn.add_argument("--good", type=int, default=0, help="parts to add to good (negative to remove)")
    cn.add_argument("--scrap", type=int, default=0, help="parts to add to scrap")
    cn.add_argument("--scrap-reason", help="why the parts are scrap (required with --scrap)")
    cn.add_argument("--comment", help="why (required for corrections)")
    cn.add_argument("--by", required=True, help="operator (badge or name)")
    cn.set_defaults(func=cmd_count)

    sp = sub.add_parser("spc", help="offline SPC on CSV files: control limits, run rules, capability")
    spsub = sp.add_subparsers(dest="spc_command", metavar="SUBCOMMAND")
    for name, helptext in (
        ("limits", "centre line, control limits and sigma of a chart (and capability with --lsl/--usl)"),
        ("check", "limits plus run-rule violations with sample numbers"),
    ):
        c = spsub.add_parser(name, help=helptext)
        c.add_argument(
            "--chart",
            required=True,
            choices=["xbar-r", "xbar-s", "imr", "p", "np", "c", "u", "ewma", "cusum"],
            help="chart type",
        )
        c.add_argument("--subgroup-size", type=int, help="n: 2-25 for xbar-r/xbar-s; sample size for np")
        c.add_argument("--lsl", type=float, help="lower specification limit (capability)")
        c.add_argument("--usl", type=float, help="upper specification limit (capability)")
        c.add_argument("--target", type=float, help="target value (Cpm)")
        c.add_argument("--mu0", type=float, help="ewma/cusum: in-control mean (default: the data's mean)")
        c.add_argument(
            "--sigma", type=float, help="ewma/cusum: process sigma (default: MR-bar/d2 of the data)"
        )
        c.add_argument(
            "--lambda",
            dest="lam",
            type=float,
            default=0.2,
            help="ewma: weight of the newest value (default 0.2)",
        )
        c.add_argument(
            "--L", dest="L", type=float, default=3.0, help="ewma: width of the limits in sigmas (default 3)"
        )
        c.add_argument("--k", type=float, default=0.5, help="cusum: reference value in sigmas (default 0.5)")
        c.add_argument("--h", type=float, default=5.0, help="cusum: decision interval in sigmas (default 5)")
        c.add_argument("--json", action="store_true", help="machine-readable output")
        c.add_argument(
            "file",
            metavar="FILE.csv",
            help="CSV: value [,subgroup] for variables; count [,size] for attributes",
        )
        if name == "check":
            c.add_argument(
                "--rules",
                default="nelson",
                help="nelson, we, or a list like nelson1,nelson5,we4 (default nelson)",
            )
        c.set_defaults(func=cmd_spc)
    sa = spsub.add_parser("alarms", help="SPC alarms at the line; active ones until acknowledged")
    sa.add_argument("-c", "--config", required=True, help="line config file (YAML)")
    sa.add_argument("--all", action="store_true", help="include acknowledged alarms")
    sa.add_argument("--json", action="store_true", help="machine-readable output")
    sa.set_defaults(func=cmd_spc_alarms)
    sk = spsub.add_parser(
        "ack", help="acknowledge a characteristic's alarms (comment required; releases stop-line)"
    )
    sk.add_argument("-c", "--config", required=True, help="line config file (YAML)")
    sk.add_argument("characteristic", help="characteristic name")
    sk.add_argument("--by", required=True, help="operator (badge or name)")
    sk.add_argument("--comment", required=True, help="what was found and done")
    sk.set_defaults(func=cmd_spc_ack)
    se = spsub.add_parser("enter", help="an operator's measurement of a manual characteristic")
    se.add_argument("-c", "--config", required=True, help="line config file (YAML)")
    se.add_argument("characteristic", help="characteristic name (manual: true)")
    se.add_argument("value", help="measured value")
    se.add_argument("--by", required=True, help="operator (badge or name)")
    se.set_defaults(func=cmd_spc_enter)
    sr = spsub.add_parser("recalc", help="request new control limits from a new baseline (audited, approved)")
    sr.add_argument("-c", "--config", required=True, help="line config file (YAML)")
    sr.add_argument("characteristic", help="characteristic name")
    sr.add_argument("--by", required=True, help="who approves")
    sr.add_argument("--reason", required=True, help="why the process changed")
    sr.set_defaults(func=cmd_spc_recalc)

    ins = sub.add_parser("inspect", help="inspections due for the running order; record results")
    inssub = ins.add_subparsers(dest="inspect_command", metavar="SUBCOMMAND")
    idue = inssub.add_parser("due", help="inspections due or overdue now")
    idue.add_argument("-c", "--config", required=True, help="line config file (YAML)")
    idue.add_argument("--json", action="store_true", help="machine-readable output")
    idue.set_defaults(func=cmd_inspect_due)
    irec = inssub.add_parser("record", help="record a result; exit 0 pass, 4 fail, 2 refused input")
    irec.add_argument("-c", "--config", required=True, help="line config file (YAML)")
    irec.add_argument("plan", help="inspection plan name")
    irec.add_argument("--item", action="append", help="NAME=VALUE for each item (a number, or pass/fail)")
    irec.add_argument("--comment", help="remarks")
    irec.add_argument("--by", required=True, help="operator (badge or name)")
    irec.set_defaults(func=cmd_inspect_record)

    tr = sub.add_parser(
        "trace",
        help="genealogy: what went into a lot/serial (backward) or where a material lot went (forward)",
    )
    tr.add_argument("-c", "--config", required=True, help="line config file (YAML)")
    tr.add_argument("id", help="a produced lot or serial, or a material lot")
    tr.add_argument("--json", action="store_true", help="machine-readable output")
    tr.set_defaults(func=cmd_trace)

    lt = sub.add_parser("lot", help="record produced lots/serials and consumed material lots")
    ltsub = lt.add_subparsers(dest="lot_command", metavar="SUBCOMMAND")
    lp = ltsub.add_parser(
        "produced", help="a lot or serial made on this line (defaults: running order, since its start)"
    )
    lp.add_argument("-c", "--config", required=True, help="line config file (YAML)")
    lp.add_argument("lot", help="lot or serial number")
    lp.add_argument("--serial", action="store_true", help="a single serialised unit rather than a lot")
    lp.add_argument("--order", help="work order (default: the running one)")
    lp.add_argument("--start", help="window start (default: the order's start)")
    lp.add_argument("--end", help="window end (default: now)")
    lp.add_argument("--quantity", type=int, help="parts in the lot")
    lp.add_argument("--by", required=True, help="operator (badge or name)")
    lp.set_defaults(func=cmd_lot)
    lc = ltsub.add_parser("consumed", help="a material lot used for a work order (scanned or typed)")
    lc.add_argument("-c", "--config", required=True, help="line config file (YAML)")
    lc.add_argument("material_lot", help="supplier or internal lot number")
    lc.add_argument("material", help="material id (preforms, caps, labels ...)")
    lc.add_argument("--order", help="work order (default: the running one)")
    lc.add_argument("--quantity", type=float, help="amount used")
    lc.add_argument("--unit", help="unit of the amount")
    lc.add_argument("--by", required=True, help="operator (badge or name)")
    lc.set_defaults(func=cmd_lot)

    au = sub.add_parser(
        "audit", help="the audit trail: list entries, verify that none was edited, inserted or deleted"
    )
    ausub = au.add_subparsers(dest="audit_command", metavar="SUBCOMMAND")
    av = ausub.add_parser(
        "verify", help="check the signed chain; exit 1 and list every problem if it is broken"
    )
    av.add_argument("-c", "--config", required=True, help="line config file (YAML)")
    av.set_defaults(func=cmd_audit_verify)
    al = ausub.add_parser(
        "list", help="latest audit entries: who, when, what (old -> new), why, signature meaning"
    )
    al.add_argument("-c", "--config", required=True, help="line config file (YAML)")
    al.add_argument("--limit", type=int, default=50, help="how many (default 50)")
    al.add_argument("--json", action="store_true", help="machine-readable output")
    al.set_defaults(func=cmd_audit_list)

    ce = sub.add_parser("certs", help="OPC UA application certificates")
    cesub = ce.add_subparsers(dest="certs_command", metavar="SUBCOMMAND")
    cc = cesub.add_parser("create", help="create a self-signed application certificate and key")
    cc.add_argument("--name", required=True, help="file name stem and common name")
    cc.add_argument("--uri", required=True, help="application URI (e.g. urn:lineside:edge:line1)")
    cc.add_argument("--out", required=True, help="output folder")
    cc.add_argument("--server", action="store_true", help="server certificate (default: client)")
    cc.add_argument("--host", action="append", help="host name or IP for subjectAltName (repeatable)")
    cc.set_defaults(func=cmd_certs_create)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    _setup_logging(args.log_level)
    try:
        return int(args.func(args) or 0)
    except ConfigError as e:
        for m in e.messages:
            print(m, file=sys.stderr)
        return e.exit_code
    except LinesideError as e:
        if hasattr(e, "messages"):
            for m in e.messages:
                print(m, file=sys.stderr)
            return e.exit_code
        print(f"lineside: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0
    except Exception as e:
        if args.debug:
            raise
        print(
            f"lineside: unexpected error: {type(e).__name__}: {e} (run with --debug for details)",
            file=sys.stderr,
        )
        return 1


if __name__ == "__main__":
    sys.exit(main())
