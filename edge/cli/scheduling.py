"""``lineside aggregator plan …``: finite-capacity scheduling at the plant (solve, show,
diff, approve, release, explain, import orders and routings, import flexible job-shop
instances, plant events that trigger replans)."""

from __future__ import annotations

import argparse
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from edge.cli.common import emit, float_arg, id_arg, int_arg, parse_time, text_arg
from edge.cli.plant_auth import add_plant_auth, audited, note, plant_user


def ids_arg(text: str) -> list[str]:
    """Comma-separated identifiers (orders): each as :func:`id_arg`, none empty."""
    ids = [id_arg(t) for t in text.split(",") if t.strip()]
    if not ids:
        raise argparse.ArgumentTypeError("give at least one id")
    return ids


def _agg(args: argparse.Namespace) -> Any:
    from sync.aggregator.config import load_aggregator_config

    return load_aggregator_config(args.config)


def _tz(cfg: Any) -> str:
    return cfg.scheduling.timezone if cfg.scheduling else "UTC"


def _when(t: float | None, tz: str) -> str:
    return datetime.fromtimestamp(t, ZoneInfo(tz)).strftime("%Y-%m-%d %H:%M") if t else "-"


def _print_plan(row: dict[str, Any], tz: str, *, ops: bool = True) -> None:
    from sync.aggregator.scheduling.gantt import gantt
    from sync.aggregator.scheduling.model import Plan

    plan = Plan.model_validate(row["body"])
    f = plan.figures
    gap = f"{100 * plan.gap:.2f}%" if plan.gap is not None else "-"
    print(
        f"plan {row['id']}: {row['status']} ({row['trigger']}), made {_when(row['created'], tz)}; solver "
        f"{plan.status}, objective {plan.objective}, bound {plan.bound}, gap {gap}, {plan.wall_s:.1f} s "
        f"(seed {plan.seed}, {plan.workers} workers{', deterministic' if plan.deterministic else ''})"
    )
    if plan.ops:
        print(
            f"  {len(plan.ops)} operations; late orders {f.late_orders} ({f.late_min:.0f} min), setup "
            f"{f.setup_min:.0f} min, energy {f.energy_cost:.2f}, moved {f.moved}, makespan {f.makespan_min / 60:.1f} h"
        )
        print()
        for line in gantt(plan, tz):
            print("  " + line)
    for c in plan.conflicts:
        print(f"  no plan: {c.text}")
    for c in plan.unplanned:
        print(f"  not planned: {c.text}")
    if ops and plan.ops:
        print()
        print(
            f"  {'resource':<10} {'order':<14} {'product':<12} {'start':<17} {'end':<17} {'setup':>6}  crew / tools"
        )
        for o in sorted(plan.ops, key=lambda o: (o.resource, o.start)):
            extra = ", ".join(o.crew + o.tools)
            late = f"  LATE {o.late_min:.0f} min" if o.late_min else ""
            print(
                f"  {o.resource:<10} {o.order:<14} {o.product:<12} {_when(o.start, tz):<17} {_when(o.end, tz):<17} "
                f"{o.setup_min:>5.0f}m  {extra}{' (frozen)' if o.frozen else ''}{late}"
            )


def _print_diff(row: dict[str, Any], tz: str) -> None:
    from sync.aggregator.scheduling.service import plan_diff

    d = plan_diff(row)
    print(f"plan {row['id']} against the plan in force: {d.summary()}")
    for m in d.moved:
        where = m.to_resource if m.from_resource == m.to_resource else f"{m.from_resource} -> {m.to_resource}"
        print(
            f"  moved   {m.order:<14} {where:<16} {_when(m.from_start, tz)} -> {_when(m.to_start, tz)} ({m.shift_min:+.0f} min)"
        )
    for o in d.newly_late:
        print(f"  late    {o} (newly)")
    for o in d.no_longer_late:
        print(f"  on time {o} (no longer late)")
    for o in d.added:
        print(f"  added   {o}")
    for o in d.dropped:
        print(f"  dropped {o}")


def cmd_plan_solve(args: argparse.Namespace) -> int:
    from sync.aggregator.scheduling.service import solve_plan

    cfg = _agg(args)
    user = plant_user(args, cfg, "plan")
    row = solve_plan(cfg, trigger="manual", time_limit=args.time_limit, seed=args.seed)
    audited(cfg, user, "plan.solve", f"plan {row['id']}", row["status"])

    def show() -> None:
        _print_plan(row, _tz(cfg), ops=False)
        print()
        _print_diff(row, _tz(cfg))
        if row["status"] == "proposed":
            print(
                f"\nrelease it with: lineside aggregator plan release -c {args.config} {row['id']} --user NAME"
            )

    emit(args.json, row, show)
    return 1 if row["status"] == "infeasible" else 0


def cmd_plan_show(args: argparse.Namespace) -> int:
    from sync.aggregator.scheduling.service import get_plan

    cfg = _agg(args)
    row = get_plan(cfg, args.id)
    return emit(args.json, row, lambda: _print_plan(row, _tz(cfg)))


def cmd_plan_diff(args: argparse.Namespace) -> int:
    from sync.aggregator.scheduling.service import get_plan

    cfg = _agg(args)
    row = get_plan(cfg, args.id)
    return emit(args.json, row["diff"], lambda: _print_diff(row, _tz(cfg)))


def cmd_plan_approve(args: argparse.Namespace) -> int:
    from sync.aggregator.scheduling.service import approve_plan

    cfg = _agg(args)
    user = plant_user(args, cfg, "plan", sign=True)
    row = approve_plan(cfg, args.id, by=user.name, audit=note(user, "plan.approve", meaning="approved"))
    print(f"plan {row['id']} approved by {row['decided_by']}")
    return 0


def cmd_plan_release(args: argparse.Namespace) -> int:
    from sync.aggregator.scheduling.service import release_plan

    cfg = _agg(args)
    user = plant_user(args, cfg, "plan", sign=True)
    out = release_plan(cfg, args.id, by=user.name, audit=note(user, "plan.release", meaning="approved"))

    def show() -> None:
        print(f"plan {out['plan']['id']} released by {user.name}:")
        for line, cid in out["commands"].items():
            print(f"  {line}: command {cid}")

    return emit(args.json, out, show)


def cmd_plan_explain(args: argparse.Namespace) -> int:
    from sync.aggregator.scheduling.model import Plan
    from sync.aggregator.scheduling.service import get_plan

    cfg = _agg(args)
    row = get_plan(cfg, args.id)
    plan = Plan.model_validate(row["body"])
    data = {
        "plan": row["id"],
        "status": plan.status,
        "conflicts": [c.model_dump() for c in plan.conflicts],
        "unplanned": [c.model_dump() for c in plan.unplanned],
    }

    def show() -> None:
        if plan.status == "infeasible":
            print(f"plan {row['id']}: no plan satisfies every constraint:")
        else:
            print(f"plan {row['id']} is {plan.status}: every planned order meets its hard constraints")
        for c in plan.conflicts:
            print(f"  {c.text}")
        for c in plan.unplanned:
            print(f"  not planned: {c.text}")

    emit(args.json, data, show)
    return 1 if plan.status == "infeasible" else 0


def cmd_plan_import(args: argparse.Namespace) -> int:
    from sync.aggregator.scheduling.service import import_plan_file

    cfg = _agg(args)
    user = plant_user(args, cfg, "plan")
    n, r = import_plan_file(cfg, Path(args.file))
    audited(cfg, user, "plan.import", Path(args.file).name, f"{n} orders, {r} routings")
    print(f"imported {n} orders and {r} routings")
    return 0


def cmd_plan_import_fjsp(args: argparse.Namespace) -> int:
    from sync.aggregator.scheduling.fjsp import makespan, read_fjsp, to_problem
    from sync.aggregator.scheduling.gantt import gantt
    from sync.aggregator.scheduling.model import SolveParams
    from sync.aggregator.scheduling.solver import solve

    numbering = {"auto": "auto", "0": 0, "1": 1}[args.machines_from]
    inst = read_fjsp(Path(args.file), numbering=numbering)  # type: ignore[arg-type]
    params = SolveParams(time_limit_s=args.time_limit, seed=args.seed, workers=args.workers)
    plan = solve(to_problem(inst), params)
    mk = makespan(plan.ops)
    data = {
        "instance": inst.name,
        "jobs": len(inst.jobs),
        "machines": inst.machines,
        "operations": inst.operations,
        "machines_numbered_from": inst.numbering,
        "note": inst.note,
        "status": plan.status,
        "makespan": mk,
        "bound": plan.bound,
        "gap": plan.gap,
        "wall_s": plan.wall_s,
        "plan": [o.model_dump() for o in plan.ops],
    }

    def show() -> None:
        print(
            f"{inst.name}: {len(inst.jobs)} jobs, {inst.machines} machines (numbered from {inst.numbering} in the file), "
            f"{inst.operations} operations"
        )
        if inst.note:
            print(f"  note: {inst.note}")
        print(
            f"  makespan {mk}, bound {plan.bound}, gap {100 * (plan.gap or 0):.1f}%, {plan.status}, {plan.wall_s:.1f} s"
        )
        for line in gantt(plan, axis=False):
            print("  " + line)

    emit(args.json, data, show)
    return 0 if plan.status in ("optimal", "feasible") else 1


def cmd_plan_event(args: argparse.Namespace) -> int:
    from sync.aggregator.scheduling import service

    cfg = _agg(args)
    tz = _tz(cfg)
    user = plant_user(args, cfg, "plan")
    if args.kind == "maintenance":
        if not (args.resource and args.start and args.end):
            raise service.PlanError("maintenance: give --resource, --start and --end")
        service.add_maintenance(
            cfg,
            args.resource,
            parse_time(args.start, tz, "--start"),
            parse_time(args.end, tz, "--end"),
            args.reason or "",
        )
        audited(
            cfg,
            user,
            "plan.event",
            args.resource,
            f"maintenance {args.start} to {args.end} {args.reason or ''}",
        )
        print(f"maintenance on {args.resource} recorded; the next replan keeps clear of it")
    elif args.kind == "shortage":
        if not args.material:
            raise service.PlanError("shortage: give --material")
        until = parse_time(args.until, tz, "--until") if args.until else None
        orders = args.orders or []
        service.material_notice(cfg, args.material, until, orders)
        audited(
            cfg,
            user,
            "plan.event",
            args.material,
            f"shortage until {args.until or '-'} orders {','.join(orders)}",
        )
        print(
            f"material {args.material}: {'available ' + _when(until, tz) if until else 'short with no date'}"
        )
    else:
        if not args.order:
            raise service.PlanError("cancel: give --order")
        service.cancel_order(cfg, args.order)
        audited(cfg, user, "plan.event", args.order, "cancel")
        print(f"order {args.order} cancelled")
    return 0


def cmd_plan_events(args: argparse.Namespace) -> int:
    from sync.aggregator.scheduling import store as repo
    from sync.aggregator.store import open_store

    cfg = _agg(args)
    st = open_store(cfg)
    try:
        data = {"events": repo.events(st), "line_reports": repo.deviations(st)}
    finally:
        st.close()
    tz = _tz(cfg)

    def show() -> None:
        print("replan triggers (newest first):")
        for e in data["events"]:
            answered = f"plan {e['plan_id']}" if e["plan_id"] else "open"
            print(
                f"  {_when(e['ts'], tz)}  {e['kind']:<16} {e['line'] or '-':<28} {e['ref']:<16} {answered:<10} {e['detail']}"
            )
        print("what the lines reported about their sequence:")
        for d in data["line_reports"]:
            print(f"  {_when(d['ts'], tz)}  {d['line']:<28} {d['kind']:<16} {d['message']}")

    return emit(args.json, data, show)


def register(asub: Any) -> None:
    p = asub.add_parser(
        "plan",
        help="finite-capacity scheduling: solve, show, diff, release, explain, import",
        description="Plans the plant's orders on its lines with OR-Tools CP-SAT (see the README's Scheduling section).",
    )
    psub = p.add_subparsers(dest="plan_command", metavar="ACTION", required=True)

    def cfg_arg(q: argparse.ArgumentParser) -> None:
        q.add_argument(
            "-c", "--config", required=True, help="aggregator config file (YAML) with a scheduling section"
        )

    def plan_id(q: argparse.ArgumentParser) -> None:
        q.add_argument(
            "id",
            nargs="?",
            type=int_arg(lo=1),
            help="plan id (default: the newest proposed, else the one in force)",
        )

    s = psub.add_parser("solve", help="plan every open order now; the plan is proposed with its diff")
    cfg_arg(s)
    s.add_argument(
        "--time-limit", type=float_arg(lo=0.1, hi=86400), help="seconds (default: scheduling.time_limit_s)"
    )
    s.add_argument("--seed", type=int_arg(lo=0, hi=2**31 - 1), help="random seed (default: scheduling.seed)")
    s.add_argument("--json", action="store_true", help="machine-readable output")
    add_plant_auth(s, "plan")
    s.set_defaults(func=cmd_plan_solve)

    for name, fn, text in (
        ("show", cmd_plan_show, "a plan: figures, a text Gantt per resource, every operation"),
        ("diff", cmd_plan_diff, "what a plan changes against the plan in force"),
        (
            "explain",
            cmd_plan_explain,
            "why there is no plan (which order cannot meet which constraint), or what was left out",
        ),
    ):
        q = psub.add_parser(name, help=text)
        cfg_arg(q)
        plan_id(q)
        q.add_argument("--json", action="store_true", help="machine-readable output")
        q.set_defaults(func=fn)

    a = psub.add_parser("approve", help="approve a proposed plan (release sends it)")
    cfg_arg(a)
    plan_id(a)
    add_plant_auth(a, "plan", signs=True)
    a.set_defaults(func=cmd_plan_approve)

    r = psub.add_parser("release", help="approve (if proposed) and send the near part of a plan to the lines")
    cfg_arg(r)
    plan_id(r)
    add_plant_auth(r, "plan", signs=True)
    r.add_argument("--json", action="store_true", help="machine-readable output")
    r.set_defaults(func=cmd_plan_release)

    i = psub.add_parser("import", help="orders and routings to plan, CSV or JSON (all or nothing)")
    cfg_arg(i)
    i.add_argument(
        "file", help="orders CSV (order_id,product,quantity,…), routings CSV (product,op,resource,…) or JSON"
    )
    add_plant_auth(i, "plan")
    i.set_defaults(func=cmd_plan_import)

    f = psub.add_parser(
        "import-fjsp", help="solve a flexible job-shop instance (benchmark text format) for makespan"
    )
    f.add_argument("file", help="FJSP text file (first line: jobs machines [average])")
    f.add_argument(
        "--machines-from",
        choices=["auto", "0", "1"],
        default="auto",
        help="how the file numbers machines (default auto: 0 if a machine 0 appears, else 1)",
    )
    f.add_argument(
        "--time-limit",
        type=float_arg(lo=0.1, hi=86400),
        default=10.0,
        help="seconds of deterministic solver time (default 10)",
    )
    f.add_argument("--seed", type=int_arg(lo=0, hi=2**31 - 1), default=1, help="random seed (default 1)")
    f.add_argument("--workers", type=int_arg(lo=1, hi=64), default=2, help="solver workers (default 2)")
    f.add_argument("--json", action="store_true", help="machine-readable output")
    f.set_defaults(func=cmd_plan_import_fjsp)

    e = psub.add_parser(
        "event", help="record what should trigger a replan: maintenance, a shortage, a cancelled order"
    )
    cfg_arg(e)
    e.add_argument("kind", choices=["maintenance", "shortage", "cancel"])
    e.add_argument(
        "--resource", type=text_arg, help="maintenance: the resource (an id of scheduling.resources)"
    )
    e.add_argument("--start", help="maintenance: start (ISO 8601, plant local)")
    e.add_argument("--end", help="maintenance: end")
    e.add_argument("--reason", type=text_arg, help="maintenance: why")
    e.add_argument("--material", type=id_arg, help="shortage: the material")
    e.add_argument("--until", help="shortage: when it will be available (none: no date)")
    e.add_argument("--orders", type=ids_arg, help="shortage: comma-separated orders it gates")
    e.add_argument("--order", type=id_arg, help="cancel: the order")
    add_plant_auth(e, "plan")
    e.set_defaults(func=cmd_plan_event)

    ev = psub.add_parser("events", help="replan triggers and what the lines reported about their sequence")
    cfg_arg(ev)
    ev.add_argument("--json", action="store_true", help="machine-readable output")
    ev.set_defaults(func=cmd_plan_events)
