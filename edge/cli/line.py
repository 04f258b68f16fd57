"""Commands about the line: replay, KPIs, downtime, work orders and counts. Commands
that change something run as an authenticated operator (``edge.cli.auth``)."""

from __future__ import annotations

import argparse
import json
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from edge.cli.auth import add_auth, operator
from edge.cli.common import _dur, _load, _pct, emit, id_arg, int_arg, parse_time, text_arg
from edge.services.validate import OperatorInputError

if TYPE_CHECKING:  # the config models load with the command that needs them
    from edge.config.line import LineConfig


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
    total = rep["total"]
    if total.get("unobserved_count"):
        print(
            f"produced while not observed: {total['unobserved_count']} parts "
            f"(run time {_dur(total['unobserved_run_s'])} inferred at ideal speed)"
        )
    for c in rep.get("changeovers", []):
        took = f"{_dur(c['end'] - c['start'])}" if c["end"] is not None else "running"
        print(
            f"changeover {c['from'] or '?'} → {c['to'] or '?'} at {when(c['start'])}: "
            f"standard {_dur(c['standard_s'])}, took {took}"
        )
    missed = rep.get("inspections_missed", [])
    if missed:
        print(f"\nMISSED INSPECTIONS ({len(missed)})")
        for m in missed:
            print(f"{when(m['due_at']):<20} {m['plan']:<20} order {m['order']}  ({m['reason']})")
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
    from edge.runtime.replay import replay

    cfg = _load(args.config)
    rep = replay(cfg, Path(args.samples))

    def text() -> None:
        print_report(rep, cfg.line.timezone)
        orders = rep.get("maintenance")
        if orders is not None:
            zone = ZoneInfo(cfg.line.timezone)
            print(f"\nmaintenance orders the plans and long stops raise: {len(orders)}")
            for o in orders:
                at = datetime.fromtimestamp(o["ts"], zone).strftime("%Y-%m-%d %H:%M:%S")
                print(f"  {at} {o['type']:<10} {o['asset']:<16} {o['plan'] or '':<22} {o['detail']}")

    return emit(args.json, rep, text)


def cmd_kpi(args: argparse.Namespace) -> int:
    from edge.services.context import open_store
    from edge.services.production import kpi_report

    cfg = _load(args.config)
    with open_store(cfg, readonly=True) as st:
        since = parse_time(args.since, cfg.line.timezone, "--since") if args.since else None
        rep = kpi_report(cfg, st, shift=args.shift, order=args.order, since=since)
    return emit(args.json, rep, lambda: print_report(rep, cfg.line.timezone))


def cmd_downtime_list(args: argparse.Namespace) -> int:
    from edge.services.context import open_store
    from edge.services.production import list_downtime

    cfg = _load(args.config)
    with open_store(cfg, readonly=True) as st:
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
    from edge.services.context import open_store
    from edge.services.production import assign_reason

    cfg = _load(args.config)
    with open_store(cfg) as st:
        actor = operator(args, cfg, st)
        assign_reason(cfg, st, actor, args.event, args.reason, comment=args.comment or "")
    print(f"{args.event}: reason {args.reason} recorded (by {actor.who})")
    return 0


def cmd_downtime_split(args: argparse.Namespace) -> int:
    from edge.services.context import open_store
    from edge.services.production import split_event

    cfg = _load(args.config)
    at = parse_time(args.at, cfg.line.timezone, "--at")
    with open_store(cfg) as st:
        actor = operator(args, cfg, st)
        second = split_event(cfg, st, actor, args.event, at, comment=args.comment or "")
    print(f"{args.event}: split; second part is {second}")
    return 0


def cmd_order(args: argparse.Namespace) -> int:
    from edge.services.context import open_store
    from edge.services.production import order_command

    cfg = _load(args.config)
    if args.action == "list":
        return _order_list(cfg, args)
    if args.action in ("block", "unblock"):
        return _order_block(cfg, args)
    due = parse_time(args.due, cfg.line.timezone, "--due") if args.due else None
    with open_store(cfg) as st:
        actor = operator(args, cfg, st)
        order_command(
            cfg,
            st,
            actor,
            args.action,
            args.order,
            product=args.product,
            quantity=args.quantity,
            due=due,
            switch=args.switch,
        )
    print(f"{args.action} {args.order or ''} queued; the agent applies it within a second")
    return 0


def _order_args(cmd: Any) -> Any:
    """``order``'s checks that argparse cannot make across the action's sub-parser: an
    action is given, and ``-c`` before or after it."""

    def run(args: argparse.Namespace) -> int:
        if args.action is None:
            raise OperatorInputError(
                "action: one of start, pause, resume, complete, changeover_start, changeover_end, list, block, unblock"
            )
        if not args.config:
            raise OperatorInputError("-c/--config: required (the line config file)")
        return int(cmd(args))

    return run


def _order_block(cfg: LineConfig, args: argparse.Namespace) -> int:
    from edge.services.context import open_store
    from edge.services.plan import block_order, unblock_order

    with open_store(cfg) as st:
        actor = operator(args, cfg, st)
        if args.action == "block":
            block_order(cfg, st, actor, args.order, args.reason, detail=args.detail or "")
            print(f"{args.order}: blocked ({args.reason}); the line passes over it while it is")
        else:
            unblock_order(cfg, st, actor, args.order)
            print(f"{args.order}: no longer blocked")
    return 0


def _order_list(cfg: LineConfig, args: argparse.Namespace) -> int:
    from edge.services.context import open_store
    from edge.services.production import dispatch_list

    with open_store(cfg, readonly=True) as st:
        rows = dispatch_list(st, include_done=args.all)
    tz = ZoneInfo(cfg.line.timezone)

    def show() -> None:
        if not rows:
            print("no work orders released to this line")
            return
        planned = any(r["position"] is not None for r in rows)

        def hm(t: float | None) -> str:
            return datetime.fromtimestamp(t, tz).strftime("%d.%m. %H:%M") if t else "-"

        print(
            f"{'order':<16} {'product':<12} {'quantity':>9} {'due':<17} {'prio':>4}  {'state':<10} "
            + (f"{'plan start':<12} {'plan end':<12} {'adherence':<26} " if planned else "")
            + "description"
        )
        for r in rows:
            due = datetime.fromtimestamp(r["due"], tz).strftime("%Y-%m-%d %H:%M") if r["due"] else "-"
            plan = (
                f"{hm(r['planned_start']):<12} {hm(r['planned_end']):<12} {r['adherence'] or '-':<26} "
                if planned
                else ""
            )
            note = r["description"] + (f" [blocked: {r['blocked']}]" if r["blocked"] else "")
            print(
                f"{r['order_id']:<16} {r['product']:<12} {r['quantity'] or '-':>9} {due:<17} {r['priority']:>4}  "
                f"{r['state']:<10} {plan}{note}"
            )

    return emit(args.json, rows, show)


def cmd_count(args: argparse.Namespace) -> int:
    from edge.services.context import open_store
    from edge.services.production import adjust_count

    cfg = _load(args.config)
    with open_store(cfg) as st:
        actor = operator(args, cfg, st)
        adjust_count(
            cfg,
            st,
            actor,
            args.machine,
            good=args.good,
            scrap=args.scrap,
            scrap_reason=args.scrap_reason,
            comment=args.comment or "",
        )
    print(f"{args.machine}: good {args.good:+d}, scrap {args.scrap:+d} recorded (by {actor.who})")
    return 0


def register(sub: Any) -> None:
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
    k.add_argument("--order", type=id_arg, help="a work order id instead of a shift")
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
    da.add_argument("--comment", type=text_arg, help="why (required when changing an operator's reason)")
    add_auth(da)
    da.set_defaults(func=cmd_downtime_assign)
    ds = dtsub.add_parser("split", help="split a stop in two at a time (e.g. a jam that became a changeover)")
    ds.add_argument("-c", "--config", required=True, help="line config file (YAML)")
    ds.add_argument("event", help="event id from `downtime list`")
    ds.add_argument("--at", required=True, help="split time: ISO 8601 (plant local) or epoch seconds")
    ds.add_argument("--comment", type=text_arg, help="why")
    add_auth(ds)
    ds.set_defaults(func=cmd_downtime_split)

    od = sub.add_parser(
        "order",
        help="start, pause, resume or complete a work order; changeovers; list the dispatch list",
        description="`lineside order start -c FILE WO-1001 --badge 1001` starts a work order as the "
        "operator with that badge (the PIN is asked; product, quantity and due date come from the "
        "dispatch list when the plant released it); `order list` shows the dispatch list. The agent "
        "applies each command within a second.",
    )
    # -c may come before the action (`order -c FILE start …`) or after it (as documented).
    od.add_argument("-c", "--config", help="line config file (YAML)")
    oda = od.add_subparsers(dest="action", metavar="ACTION")
    for action, text in (
        ("start", "start a work order"),
        ("pause", "pause the running order (a planned stop)"),
        ("resume", "resume the paused order"),
        ("complete", "complete the running order"),
        ("changeover_start", "begin a changeover: planned for its standard minutes, then setup loss"),
        ("changeover_end", "end the changeover (it also ends with the line machine's first good part)"),
        (
            "list",
            "the dispatch list: in the plan's sequence with plan against actual, else by priority and due",
        ),
        (
            "block",
            "an order cannot start now (material not staged, tool in maintenance, first-off hold); "
            "the line passes over it in the plan's sequence (permission block_orders)",
        ),
        ("unblock", "the order can start again (permission block_orders)"),
    ):
        a = oda.add_parser(action, help=text, description=text)
        a.add_argument("-c", "--config", default=argparse.SUPPRESS, help="line config file (YAML)")
        if action == "list":
            a.add_argument("--all", action="store_true", help="include completed and cancelled orders")
            a.add_argument("--json", action="store_true", help="machine-readable output")
        else:
            a.add_argument(
                "order",
                nargs=None if action in ("start", "block", "unblock") else "?",
                type=id_arg,
                help="work order id" + ("" if action in ("start", "block", "unblock") else " (optional)"),
            )
            add_auth(a)
        if action == "block":
            a.add_argument(
                "--reason",
                required=True,
                choices=["material", "tool", "first_off"],
                help="why it cannot start: material not staged, tool in maintenance, first-off hold",
            )
            a.add_argument("--detail", type=text_arg, help="what exactly (material, tool, who holds it)")
        if action == "changeover_start":
            a.add_argument(
                "--product",
                type=id_arg,
                help="product the line changes over to (default: the product of ORDER); its standard "
                "minutes (changeovers.matrix) are planned, the overrun is setup loss",
            )
        if action == "start":
            a.add_argument(
                "--switch",
                action="store_true",
                help="confirm: another order runs; complete it and start this one (a changeover "
                "begins when the product changes)",
            )
            a.add_argument("--product", type=id_arg, help="product id (default: from the dispatch list)")
            a.add_argument(
                "--quantity",
                type=int_arg(lo=1, hi=100_000_000),
                help="ordered quantity (default: from the dispatch list)",
            )
            a.add_argument("--due", help="due date: ISO 8601, plant local time")
        a.set_defaults(
            func=_order_args(cmd_order),
            switch=False,
            product=None,
            quantity=None,
            due=None,
            all=False,
            json=False,
            badge=None,
            credential=None,
            reason=None,
            detail=None,
        )
    od.set_defaults(func=_order_args(cmd_order), action=None)

    cn = sub.add_parser(
        "count",
        help="book scrap with a reason, or correct a machine's counts (recorded with who and why)",
        description="Book scrap (permission book_scrap) or correct counts (adjust_counts). A correction "
        "may not drive the order's good or scrap count below zero, and one larger than "
        "tui.count_corrections (the smaller of max_parts and max_order_percent of the order) needs "
        "large_corrections (a supervisor).",
    )
    cn.add_argument("-c", "--config", required=True, help="line config file (YAML)")
    cn.add_argument("machine", help="machine name")
    cn.add_argument("--good", type=int_arg(), default=0, help="parts to add to good (negative to remove)")
    cn.add_argument("--scrap", type=int_arg(), default=0, help="parts to add to scrap")
    cn.add_argument(
        "--scrap-reason",
        type=text_arg,
        help="why the parts are scrap: a code of the config's scrap_reasons tree, the same the terminal "
        "offers (required with --scrap). On a machine with scrap_entry: from_good (the default) "
        "the parts move from good to scrap",
    )
    cn.add_argument("--comment", type=text_arg, help="why (required for corrections)")
    add_auth(cn)
    cn.set_defaults(func=cmd_count)
