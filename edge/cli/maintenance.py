"""``lineside maint …`` (alias ``maintenance``): maintenance at the line — requests, work
orders through their lifecycle (approve, schedule, start, pause, resume, labour, parts,
failure codes, comment, finish, cancel), spare parts (stock, receive, count), plans and
reliability. Every change runs as an authenticated operator and is audited; approving
and finishing are signed with the PIN. ``--json`` on every listing."""

from __future__ import annotations

import argparse
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from edge.cli.auth import add_auth, operator
from edge.cli.common import _load, emit, float_arg, id_arg, int_arg, parse_time, text_arg


def _when(ts: float | None, zone: ZoneInfo) -> str:
    return datetime.fromtimestamp(ts, zone).strftime("%Y-%m-%d %H:%M") if ts is not None else "-"


def cmd_request(args: argparse.Namespace) -> int:
    from edge.services.context import open_store
    from edge.services.maintenance import request_maintenance

    cfg = _load(args.config)
    with open_store(cfg) as st:
        actor = operator(args, cfg, st)
        seq = request_maintenance(cfg, st, actor, args.machine, args.text, priority=args.priority)
    print(f"maintenance request {seq} for {args.machine} recorded (by {actor.who})")
    return 0


def cmd_requests(args: argparse.Namespace) -> int:
    from edge.services.context import open_store
    from edge.services.maintenance import recent_requests

    cfg = _load(args.config)
    with open_store(cfg, readonly=True) as st:
        rows = recent_requests(st, args.limit)
    zone = ZoneInfo(cfg.line.timezone)

    def show() -> None:
        for r in rows:
            made = f"{r['order']} ({r['order_state']})" if r["order"] else "open"
            print(
                f"{r['seq']:>5} {_when(r['ts'], zone)} {r['machine']:<14} {r['priority']:<7} "
                f"{made:<22} {r['by']:<28} {r['text']}"
            )
        if not rows:
            print("no maintenance requests")

    return emit(args.json, rows, show)


def _print_order(wo: dict[str, Any], zone: ZoneInfo) -> None:
    print(f"{wo['id']}  {wo['type']}  {wo['state']}  {wo['priority']}  asset {wo['asset']}")
    print(f"  {wo['title']}")
    if wo["plan"]:
        print(f"  plan {wo['plan']}, due {_when(wo['due'], zone)}")
    if wo["reason"]:
        print(f"  stops booked under {wo['reason']} while in progress")
    print(f"  estimate {wo['estimate_h']:g} h, labour {wo['labour_h']:g} h, left {wo['remaining_h']:g} h")
    for tech, h in wo["labour"].items():
        print(f"    labour {tech}: {h:g} h")
    for part, q in wo["parts"].items():
        print(f"    part {part}: {q:g} issued")
    for part, q in wo["planned_parts"].items():
        print(f"    part {part}: {q:g} planned")
    if wo["problem"] or wo["cause"] or wo["remedy"]:
        print(f"  failure: problem {wo['problem']}, cause {wo['cause']}, remedy {wo['remedy']}")
    for s in wo["steps"]:
        print(f"    {_when(s['ts'], zone)}  {s['step']:<9} {s['by']}")
    for c in wo["comments"]:
        print(f"    {_when(c['ts'], zone)}  comment   {c['by']}: {c['text']}")


def cmd_list(args: argparse.Namespace) -> int:
    from edge.services.context import open_store
    from edge.services.maintenance import work_orders

    cfg = _load(args.config)
    with open_store(cfg, readonly=True) as st:
        rows = [
            w.as_dict()
            for w in work_orders(st, state=args.state, open_only=not args.all, asset=args.asset)[: args.limit]
        ]
    zone = ZoneInfo(cfg.line.timezone)

    def show() -> None:
        print(
            f"{'ORDER':<8} {'type':<10} {'state':<11} {'prio':<6} {'asset':<16} {'due':<16} {'left h':>6}  title"
        )
        for w in rows:
            print(
                f"{w['id']:<8} {w['type']:<10} {w['state']:<11} {w['priority']:<6} {w['asset']:<16} "
                f"{_when(w['due'], zone):<16} {w['remaining_h']:>6.1f}  {w['title']}"
            )
        if not rows:
            print("no maintenance work orders" + ("" if args.all else " open (--all shows every one)"))

    return emit(args.json, rows, show)


def cmd_show(args: argparse.Namespace) -> int:
    from edge.services.context import open_store
    from edge.services.maintenance import work_order

    cfg = _load(args.config)
    with open_store(cfg, readonly=True) as st:
        wo = work_order(st, args.order).as_dict()
    return emit(args.json, wo, lambda: _print_order(wo, ZoneInfo(cfg.line.timezone)))


def _step(args: argparse.Namespace, sign: bool = False) -> int:
    from edge.services import maintenance as svc
    from edge.services.context import open_store

    cfg = _load(args.config)
    with open_store(cfg) as st:
        actor = operator(args, cfg, st, sign=sign)
        verb = args.step
        if verb == "approve-request":
            wo = svc.approve_request(cfg, st, actor, args.request, type=args.type, estimate_h=args.estimate)
            print(f"request {args.request} approved: work order {wo} (by {actor.who})")
            return 0
        if verb == "create":
            wo = svc.create_order(
                cfg,
                st,
                actor,
                args.asset,
                args.title,
                type=args.type,
                priority=args.priority,
                estimate_h=args.estimate,
            )
            print(f"work order {wo} created (by {actor.who})")
            return 0
        if verb == "approve":
            out = svc.approve(cfg, st, actor, args.order)
        elif verb == "schedule":
            start = parse_time(args.start, cfg.line.timezone, "--start")
            out = svc.schedule(cfg, st, actor, args.order, start, technician=args.technician)
        elif verb == "start":
            out = svc.start(cfg, st, actor, args.order)
        elif verb == "pause":
            out = svc.pause(cfg, st, actor, args.order)
        elif verb == "resume":
            out = svc.resume(cfg, st, actor, args.order)
        elif verb == "labour":
            out = svc.book_labour(cfg, st, actor, args.order, args.hours, technician=args.technician)
        elif verb == "parts":
            out = svc.issue_part(cfg, st, actor, args.order, args.part, args.qty)
        elif verb == "failure":
            out = svc.code_failure(
                cfg, st, actor, args.order, problem=args.problem, cause=args.cause, remedy=args.remedy
            )
        elif verb == "comment":
            out = svc.comment(cfg, st, actor, args.order, args.text)
        elif verb == "finish":
            out = svc.finish(cfg, st, actor, args.order, comment_text=args.comment or "")
        else:
            out = svc.cancel(cfg, st, actor, args.order, args.why)
    print(f"{out.id}: {verb} recorded, now {out.state.replace('_', ' ')} (by {actor.who})")
    return 0


def cmd_stock(args: argparse.Namespace) -> int:
    from edge.services.context import open_store
    from edge.services.maintenance import stock

    cfg = _load(args.config)
    with open_store(cfg, readonly=True) as st:
        rows = stock(cfg, st)

    def show() -> None:
        print(f"{'PART':<14} {'on hand':>8} {'reserved':>8} {'avail':>7} {'min':>5} {'max':>5}  notice")
        for p in rows:
            notice = f"REORDER {p['reorder_qty']:g}" if p["reorder"] else ""
            print(
                f"{p['part']:<14} {p['on_hand']:>8g} {p['reserved']:>8g} {p['available']:>7g} "
                f"{p['min']:>5g} {p['max']:>5g}  {notice}"
            )

    return emit(args.json, rows, show)


def cmd_part_move(args: argparse.Namespace) -> int:
    from edge.services import maintenance as svc
    from edge.services.context import open_store

    cfg = _load(args.config)
    with open_store(cfg) as st:
        actor = operator(args, cfg, st)
        fn = svc.receive_part if args.move == "receive" else svc.count_part
        p = fn(cfg, st, actor, args.part, args.qty, args.why)
    print(
        f"{p['part']}: {p['on_hand']:g} on hand, {p['available']:g} available"
        + (f" - reorder {p['reorder_qty']:g}" if p["reorder"] else "")
    )
    return 0


def cmd_plans(args: argparse.Namespace) -> int:
    from edge.services.context import open_store
    from edge.services.maintenance import plans

    cfg = _load(args.config)
    with open_store(cfg, readonly=True) as st:
        rows = plans(cfg, st)
    zone = ZoneInfo(cfg.line.timezone)

    def show() -> None:
        print(
            f"{'PLAN':<22} {'asset':<16} {'trigger':<10} {'meter':>10} {'next due':>16} {'last order':<10} status"
        )
        for p in rows:
            meter = "-" if p["meter"] is None else f"{p['meter']:.1f}"
            nd = p["next_due"]
            nd_s = "-" if nd is None else (_when(nd, zone) if p["trigger"] == "calendar" else f"{nd:g}")
            print(
                f"{p['plan']:<22} {p['asset']:<16} {p['trigger']:<10} {meter:>10} {nd_s:>16} "
                f"{p['last_order'] or '-':<10} {p['status'] or '-'}"
            )

    return emit(args.json, rows, show)


def cmd_reliability(args: argparse.Namespace) -> int:
    import time

    from edge.services.context import open_store
    from edge.services.maintenance import reliability_report

    cfg = _load(args.config)
    since = parse_time(args.since, cfg.line.timezone, "--since")
    until = parse_time(args.until, cfg.line.timezone, "--until") if args.until else time.time()
    with open_store(cfg, readonly=True) as st:
        rep = reliability_report(cfg, st, since=since, until=until)
    return emit(args.json, rep, lambda: print_reliability(rep))


def print_reliability(rep: dict[str, Any]) -> None:
    """The maintenance report as text (the line's and the plant's)."""

    def h(v: float | None) -> str:
        return "-" if v is None else f"{v:.2f}"

    print(f"{'ASSET':<18} {'fail':>4} {'MTBF h':>8} {'MTTR h':>7} {'MTTA h':>7} {'avail':>6}  next failure")
    for a, r in rep["assets"].items():
        av = "-" if r["availability"] is None else f"{r['availability']:.1%}"
        nf = (
            "-"
            if r["next_failure"] is None
            else datetime.fromtimestamp(r["next_failure"]).strftime("%Y-%m-%d %H:%M")
        )
        print(
            f"{a:<18} {r['failures']:>4} {h(r['mtbf_h']):>8} {h(r['mttr_h']):>7} {h(r['mtta_h']):>7} {av:>6}  {nf}"
        )
    if rep["pareto"]:
        print("\nfailure modes (Pareto):")
        for p in rep["pareto"]:
            print(f"  {p['mode']:<20} {p['count']:>4}  {p['down_h']:.2f} h")
    c = rep["compliance"]
    ratio = "-" if c["ratio"] is None else f"{c['ratio']:.0%}"
    print(
        f"\nPM compliance {ratio} (on time {c['on_time']}, late {c['late']}, missed {c['missed']}, open {c['open']}); "
        f"backlog {rep['backlog_h']:.1f} h in {rep['open_orders']} open orders"
    )
    for a, v in rep["between_services_h"].items():
        if v is not None:
            print(f"  mean time between services of {a}: {v:.1f} h")


def cmd_windows(args: argparse.Namespace) -> int:
    from edge.services.context import open_store
    from edge.services.maintenance import maintenance_windows

    cfg = _load(args.config)
    with open_store(cfg, readonly=True) as st:
        rows = maintenance_windows(cfg, st)
    zone = ZoneInfo(cfg.line.timezone)

    def show() -> None:
        for w in rows:
            print(
                f"{_when(w['start'], zone)}  {w['duration_h']:>5.1f} h  {w['machine'] or '-':<12} {w['order']:<8} {w['title']}"
            )
        if not rows:
            print("no planned maintenance windows")

    return emit(args.json, rows, show)


def register(sub: Any) -> None:
    from edge.logic.maintenance.workorders import WO_TYPES
    from edge.services.maintenance import MAINTENANCE_PRIORITIES

    m = sub.add_parser(
        "maint",
        aliases=["maintenance"],
        help="maintenance: requests, work orders, spare parts, plans, reliability",
        description=__doc__,
    )
    msub = m.add_subparsers(dest="maintenance_command", metavar="SUBCOMMAND", required=True)

    def cfg(p: argparse.ArgumentParser) -> None:
        p.add_argument("-c", "--config", required=True, help="line config file (YAML)")

    def order(p: argparse.ArgumentParser) -> None:
        p.add_argument("order", type=id_arg, help="work order (WO-n)")

    r = msub.add_parser(
        "request", help="raise a maintenance request for a machine or asset (request_maintenance)"
    )
    cfg(r)
    r.add_argument("machine", help="machine, asset (or device) name")
    r.add_argument("text", type=text_arg, help="what is wrong")
    r.add_argument(
        "--priority", choices=MAINTENANCE_PRIORITIES, default="normal", help="default: %(default)s"
    )
    add_auth(r)
    r.set_defaults(func=cmd_request)

    rq = msub.add_parser("requests", help="the latest requests and the orders they became")
    cfg(rq)
    rq.add_argument("--limit", type=int_arg(lo=1), default=20, help="how many (default 20)")
    rq.add_argument("--json", action="store_true", help="machine-readable output")
    rq.set_defaults(func=cmd_requests)
    # `maintenance list` lists requests as before.
    ls_old = msub.add_parser("list", help="the latest maintenance requests (same as requests)")
    cfg(ls_old)
    ls_old.add_argument("--limit", type=int_arg(lo=1), default=20, help="how many (default 20)")
    ls_old.add_argument("--json", action="store_true", help="machine-readable output")
    ls_old.set_defaults(func=cmd_requests)

    o = msub.add_parser("orders", help="work orders (open ones unless --all), newest first")
    cfg(o)
    o.add_argument("--all", action="store_true", help="done and cancelled ones too")
    o.add_argument(
        "--state",
        help="only this state (requested, approved, scheduled, in_progress, paused, done, cancelled)",
    )
    o.add_argument("--asset", help="only this asset")
    o.add_argument("--limit", type=int_arg(lo=1), default=50, help="how many (default 50)")
    o.add_argument("--json", action="store_true", help="machine-readable output")
    o.set_defaults(func=cmd_list)

    sh = msub.add_parser("show", help="one work order with every step, labour, parts and failure codes")
    cfg(sh)
    order(sh)
    sh.add_argument("--json", action="store_true", help="machine-readable output")
    sh.set_defaults(func=cmd_show)

    def step(
        name: str, help: str, *, signs: bool = False, needs_order: bool = True
    ) -> argparse.ArgumentParser:
        p = msub.add_parser(name, help=help)
        cfg(p)
        if needs_order:
            order(p)
        p.set_defaults(func=lambda a, s=signs: _step(a, sign=s), step=name)
        return p

    ar = step(
        "approve-request",
        "turn an operator's request into an approved work order (approve_maintenance; signed)",
        signs=True,
        needs_order=False,
    )
    ar.add_argument("request", type=int_arg(lo=1), help="request number (see requests)")
    ar.add_argument("--type", choices=WO_TYPES, default="corrective", help="default: %(default)s")
    ar.add_argument(
        "--estimate", type=float_arg(lo=0, hi=1000), default=1.0, help="estimated hours (default 1)"
    )
    add_auth(ar, signs=True)
    cr = step("create", "open an approved work order on an asset (approve_maintenance)", needs_order=False)
    cr.add_argument("asset", help="asset id")
    cr.add_argument("title", type=text_arg, help="what is to be done")
    cr.add_argument("--type", choices=WO_TYPES, default="corrective", help="default: %(default)s")
    cr.add_argument(
        "--priority", choices=MAINTENANCE_PRIORITIES, default="normal", help="default: %(default)s"
    )
    cr.add_argument(
        "--estimate", type=float_arg(lo=0, hi=1000), default=1.0, help="estimated hours (default 1)"
    )
    add_auth(cr)
    add_auth(
        step(
            "approve",
            "approve (acknowledge) a requested order, e.g. one opened for a long stop; signed",
            signs=True,
        ),
        signs=True,
    )
    sc = step("schedule", "plan the work; the parts it needs are reserved (approve_maintenance)")
    sc.add_argument("--start", required=True, help="when (ISO 8601 plant local time, epoch seconds)")
    sc.add_argument("--technician", type=text_arg, help="who will do it")
    add_auth(sc)
    add_auth(step("start", "start the work: the machine's stops are booked to the order (do_maintenance)"))
    add_auth(step("pause", "pause the work (the stop booking is lifted)"))
    add_auth(step("resume", "resume paused work"))
    lb = step("labour", "book labour time of a technician (default: you)")
    lb.add_argument("hours", type=float_arg(lo=0, hi=336), help="hours worked")
    lb.add_argument("--technician", type=text_arg, help="who worked (default: the operator booking it)")
    add_auth(lb)
    pt = step("parts", "issue spare parts from the store room to the order")
    pt.add_argument("part", type=id_arg, help="part number")
    pt.add_argument("qty", type=float_arg(lo=0, hi=1e6), help="quantity")
    add_auth(pt)
    fc = step("failure", "failure coding from maintenance.failure_codes")
    fc.add_argument("--problem", help="problem code (the failure mode)")
    fc.add_argument("--cause", help="cause code")
    fc.add_argument("--remedy", help="remedy code")
    add_auth(fc)
    cm = step("comment", "add a comment")
    cm.add_argument("text", type=text_arg, help="the comment")
    add_auth(cm)
    fi = step(
        "finish", "finish the work and sign it with your PIN (corrective orders must be coded)", signs=True
    )
    fi.add_argument("--comment", type=text_arg, help="closing comment")
    add_auth(fi, signs=True)
    ca = step("cancel", "cancel or reject an order (approve_maintenance); reservations are released")
    ca.add_argument("why", type=text_arg, help="why")
    add_auth(ca)

    sk = msub.add_parser("stock", help="spare parts: on hand, reserved, available, reorder notices")
    cfg(sk)
    sk.add_argument("--json", action="store_true", help="machine-readable output")
    sk.set_defaults(func=cmd_stock)
    for move, text in (
        ("receive", "parts arrived (manage_parts)"),
        ("count", "a stock count: set the book to what was counted"),
    ):
        mv = msub.add_parser(move, help=text)
        cfg(mv)
        mv.add_argument("part", type=id_arg, help="part number")
        mv.add_argument("qty", type=float_arg(lo=0, hi=1e9), help="quantity received / counted")
        mv.add_argument("why", type=text_arg, help="why (delivery note, count reference)")
        add_auth(mv)
        mv.set_defaults(func=cmd_part_move, move=move)

    pl = msub.add_parser(
        "plans", help="preventive and condition-based plans: meters, next due, last order, compliance"
    )
    cfg(pl)
    pl.add_argument("--json", action="store_true", help="machine-readable output")
    pl.set_defaults(func=cmd_plans)

    rl = msub.add_parser(
        "reliability",
        help="MTBF, MTTR, MTTA, availability per asset and failure mode; Pareto; PM compliance; backlog",
    )
    cfg(rl)
    rl.add_argument("--since", default="-30d", help="start (ISO 8601, epoch, or -7d/-24h; default -30d)")
    rl.add_argument("--until", help="end (default now)")
    rl.add_argument("--json", action="store_true", help="machine-readable output")
    rl.set_defaults(func=cmd_reliability)

    wn = msub.add_parser("windows", help="planned preventive work with its duration, offered to scheduling")
    cfg(wn)
    wn.add_argument("--json", action="store_true", help="machine-readable output")
    wn.set_defaults(func=cmd_windows)
