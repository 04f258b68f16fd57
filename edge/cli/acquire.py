"""Commands about acquisition: config, run, status, history, simulate, certificates."""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from edge.cli.common import _age, _fmt, _load, _run_async, float_arg, int_arg, parse_time
from edge.core.errors import ConfigError
from edge.services.status import gather_status
from edge.services.validate import OperatorInputError


def config_kind(data: Any) -> str:
    """``aggregator`` for a plant aggregator config (a ``lines:`` list and no ``line:``
    section), else ``line``: the two kinds of file ``config check`` validates."""
    if isinstance(data, dict) and "lines" in data and "line" not in data:
        return "aggregator"
    return "line"


def cmd_config_check(args: argparse.Namespace) -> int:
    from edge.config.devices import missing_files
    from edge.config.line import load_config
    from edge.core.yamlio import read_yaml
    from sync.aggregator.config import load_aggregator_config

    messages: list[str] = []
    for f in args.files:
        try:
            if config_kind(read_yaml(f)) == "aggregator":
                agg = load_aggregator_config(f)
                n = len(agg.lines)
                what = f"{n} line{'s' if n != 1 else ''}): aggregator config, store {agg.store.url or agg.store.path}"
            else:
                cfg = load_config(f)
                missing = missing_files(cfg.devices)
                if missing:
                    raise ConfigError([f"{f}: {m}" for m in missing])
                what = (
                    f"{len(cfg.devices)} devices, {len(cfg.tags)} tags): line config, store {cfg.store.path}"
                )
        except ConfigError as e:
            messages.extend(e.messages)
        else:
            if not args.quiet:
                print(f"{f}: ok ({what}")
    if messages:
        for m in messages:
            print(m, file=sys.stderr)
        return 2
    return 0


def cmd_config_schema(args: argparse.Namespace) -> int:
    from edge.config.line import json_schema

    print(json.dumps(json_schema(), indent=2))
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from edge.runtime.agent import Agent
    from sync.sparkplug import sparkplug_companions
    from sync.uns import uns_companions
    from sync.uplink import companions_for

    cfg = _load(args.config)
    # The composition root: the uplink, the unified namespace and the Sparkplug node
    # are companions the agent starts, notifies of commits and stops.
    agent = Agent(cfg, companions=[*companions_for(cfg), *uns_companions(cfg), *sparkplug_companions(cfg)])
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
            f"running (pid {a['pid']}, heartbeat {_age(now - a['heartbeat_age_s'], now)} ago)"
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
        why = f"  {t['why']}" if t.get("why") else ""
        print(f"{t['tag']:<30} {val + unit:<20} {t['quality']:<8} {_age(t['ts_recv'], now)}{why}")
    u = st["uplink"]
    if u is None:
        print("\nuplink: not configured (data stays on this machine)")
    else:
        last = f"last end-to-end ack {_age(u['last_ack'], now)} ago" if u.get("last_ack") else "no ack yet"
        print(
            f"\nuplink: {'connected' if u['connected'] else 'OFFLINE'} to {u.get('broker', '?')} "
            f"(MQTT {u.get('protocol', '?')}), {last}, {u['records']} records sent, {u['resends']} resends"
        )
    pit = st.get("plant_it", {})
    if "uns" in pit:
        u2 = pit["uns"]
        print(
            f"unified namespace: {'connected' if u2['connected'] else 'OFFLINE'} to {u2.get('broker', '?')}, "
            f"{u2.get('root', '?')}/…, {u2.get('values', 0):,} values published"
        )
    if "sparkplug" in pit:
        sp = pit["sparkplug"]
        host = sp.get("primary_host")
        state = "born" if sp.get("born") else ("connected, not born" if sp["connected"] else "OFFLINE")
        unsent = sp.get("unsent")
        print(
            f"sparkplug node {sp.get('node', '?')}: {state} (bdSeq {sp.get('bd_seq', '?')})"
            + (f", primary host {host} {'online' if sp.get('host_online') else 'OFFLINE'}" if host else "")
            + (f", {unsent:,} samples not yet sent" if unsent else "")
            + (f", devices dead: {', '.join(sp['dead_devices'])}" if sp.get("dead_devices") else "")
        )
    pending = {k: v for k, v in st["backlog"].items() if v}
    total = sum(pending.values())
    if u is not None or total:
        per = ", ".join(f"{k} {v:,}" for k, v in sorted(pending.items(), key=lambda x: -x[1]))
        print(f"backlog (not yet acknowledged upstream): {total:,} records" + (f" ({per})" if per else ""))
    fs = st["store"]
    print(
        f"store {fs['path']}: {fs['db'] / 1e6:.1f} MB, journal (WAL) {fs['db_wal'] / 1e6:.1f} MB; "
        f"{fs['disk_free'] / 1e9:.1f} GB free on its file system"
        + (" (mounted read-only: read, not written)" if fs.get("readonly_fs") else "")
    )
    check = fs.get("check")
    if check and not check.get("ok"):
        first = (check.get("problems") or ["?"])[0].replace("\n", "; ")
        print(f"store check FAILED ({first[:200]}): see README 'Store faults'")
    return 0


def cmd_history(args: argparse.Namespace) -> int:
    from edge.services.context import open_store
    from edge.services.data import history

    cfg = _load(args.config)
    try:
        cfg.tag(args.tag)
    except KeyError:
        raise OperatorInputError(f"--tag: no tag named {args.tag!r} in {args.config}") from None
    tz = ZoneInfo(cfg.line.timezone)
    since = parse_time(args.since, cfg.line.timezone, "--since") if args.since else None
    until = parse_time(args.until, cfg.line.timezone, "--until") if args.until else None
    with open_store(cfg, readonly=True) as st:
        rows = history(st, args.tag, since, until, args.limit)
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


def cmd_certs_create(args: argparse.Namespace) -> int:
    from edge.drivers.certs import create_app_certificate

    cert, key = create_app_certificate(
        Path(args.out), args.name, args.uri, server=args.server, hosts=args.host or None
    )
    print(f"certificate: {cert}\nprivate key: {key} (mode 600)")
    return 0


def cmd_topics(args: argparse.Namespace) -> int:
    from edge.services.data import STREAMS
    from sync.protocol import COMMANDS, STATE_NAMES, Topics

    if args.schema:
        from sync.protocol import PAYLOADS
        from sync.protocol.uns import json_schemas

        print(
            json.dumps(
                {
                    "uns": json_schemas(),
                    "lineside": {n: m.model_json_schema(mode="serialization") for n, m in PAYLOADS.items()},
                },
                indent=1,
                ensure_ascii=False,
            )
        )
        return 0
    if not args.config:
        print("lineside topics: -c/--config is required (except with --schema)", file=sys.stderr)
        return 2
    from sync.sparkplug import topic_rows as sparkplug_rows
    from sync.uns import topic_rows as uns_rows

    cfg = _load(args.config)
    t = Topics.of(cfg.line)
    rows = (
        [("up", "QoS 1", t.stream(s), f"batches of the {s} stream") for s in STREAMS]
        + [("up", "retained", t.state(n), f"current {n.replace('_', ' ')}") for n in STATE_NAMES]
        + [("up", "QoS 1", t.cmd_ack, "results of commands")]
        + [("down", "QoS 1", t.ack(s), f"end-to-end ack of {s}") for s in STREAMS]
        + [("down", "QoS 1", t.cmd(c), f"{c.replace('_', ' ')} commands") for c in COMMANDS]
        + uns_rows(cfg)
        + sparkplug_rows(cfg)
    )
    if args.json:
        print(
            json.dumps(
                [{"direction": d, "delivery": q, "topic": tp, "meaning": m} for d, q, tp, m in rows], indent=1
            )
        )
        return 0
    print(f"topic map of line {cfg.line.line} (this line's credentials are confined to {t.subtree})\n")
    for d, q, tp, m in rows:
        print(f"{d:<5} {q:<9} {tp:<70} {m}")
    return 0


def register(sub: Any) -> None:
    c = sub.add_parser(
        "config", help="validate line and aggregator configs or print the line config's JSON schema"
    )
    csub = c.add_subparsers(dest="config_command", metavar="SUBCOMMAND")
    ck = csub.add_parser(
        "check",
        help="validate config files; prints FILE: path.to.field: problem, exit 2 on errors",
        description="Validate line configs and plant aggregator configs (a file with a `lines:` list and "
        "no `line:` section is an aggregator config). Prints `FILE: ok (…): KIND config, store PATH` per "
        "valid file and `FILE: path.to.field: problem` per problem; exit 2 on any problem.",
    )
    ck.add_argument("files", nargs="+", metavar="FILE")
    ck.add_argument("-q", "--quiet", action="store_true", help="print nothing for valid files")
    ck.set_defaults(func=cmd_config_check)
    cs = csub.add_parser("schema", help="print the JSON schema of a line config (for editor completion)")
    cs.set_defaults(func=cmd_config_schema)

    tp = sub.add_parser(
        "topics",
        help="the MQTT topic map of a line (batch streams, unified namespace, Sparkplug B), or the payloads' JSON schemas",
        description="Print every MQTT topic the line publishes or reads, with its delivery and meaning: "
        "the exactly-once batch streams and their acks, retained state, commands, the unified namespace "
        "(uns:) and the Sparkplug B edge node (sparkplug:). With --schema, print the JSON schema of every "
        "JSON payload (the unified namespace's and Lineside's own) instead; Sparkplug payloads are "
        "protobuf (sync/protocol/sparkplug/sparkplug_b.proto).",
    )
    tp.add_argument("-c", "--config", help="line config file (YAML); required except with --schema")
    tp.add_argument("--json", action="store_true", help="machine-readable output")
    tp.add_argument(
        "--schema", action="store_true", help="print the JSON schema of each payload (needs no config)"
    )
    tp.set_defaults(func=cmd_topics)

    r = sub.add_parser("run", help="run the edge agent for a line")
    r.add_argument("-c", "--config", required=True, help="line config file (YAML)")
    r.add_argument(
        "--duration",
        type=float_arg(lo=0, hi=1e9),
        help="stop after S seconds (default: run until SIGTERM/Ctrl-C)",
    )
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
    h.add_argument("--limit", type=int_arg(lo=1), help="at most N samples")
    h.add_argument("--format", choices=["csv", "json"], default="csv", help="output format (default: csv)")
    h.set_defaults(func=cmd_history)

    sm = sub.add_parser("simulate", help="serve a simulated filling line on the config's devices (test rigs)")
    sm.add_argument(
        "-c", "--config", required=True, help="line config file (YAML); tags' sim: fields bind model signals"
    )
    sm.add_argument("--duration", type=float_arg(lo=0, hi=1e9), help="stop after S seconds")
    sm.add_argument("--seed", type=int_arg(), default=1, help="random seed of the line model (default 1)")
    sm.set_defaults(func=cmd_simulate)

    ce = sub.add_parser("certs", help="OPC UA application certificates")
    cesub = ce.add_subparsers(dest="certs_command", metavar="SUBCOMMAND")
    cc = cesub.add_parser("create", help="create a self-signed application certificate and key")
    cc.add_argument("--name", required=True, help="file name stem and common name")
    cc.add_argument("--uri", required=True, help="application URI (e.g. urn:lineside:edge:line1)")
    cc.add_argument("--out", required=True, help="output folder")
    cc.add_argument("--server", action="store_true", help="server certificate (default: client)")
    cc.add_argument("--host", action="append", help="host name or IP for subjectAltName (repeatable)")
    cc.set_defaults(func=cmd_certs_create)
