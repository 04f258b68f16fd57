"""Commands about quality: SPC, inspections, lots and traceability, the audit trail.
Commands that change something run as an authenticated operator (``edge.cli.auth``)."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from edge.cli.auth import add_auth, operator
from edge.cli.common import _load, emit, float_arg, id_arg, int_arg, parse_time, text_arg
from edge.services.validate import OperatorInputError


def cmd_spc(args: argparse.Namespace) -> int:
    from edge.services.spc_offline import analyse, print_analysis

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
    return emit(args.json, res, lambda: print_analysis(res))


def cmd_audit_verify(args: argparse.Namespace) -> int:
    from edge.services import audit
    from edge.services.context import open_store

    cfg = _load(args.config)
    with open_store(cfg, readonly=True) as st:
        n, problems = audit.verify(cfg, st)
    for p in problems:
        where = f"audit entry {p.seq}" if p.seq else "audit trail"
        print(f"{where}: {p.kind}: {p.detail}", file=sys.stderr)
    if problems:
        print(f"audit trail NOT intact: {len(problems)} problem(s) in {n} entries", file=sys.stderr)
        return 1
    print(f"audit trail intact: {n} entries verified")
    return 0


def cmd_audit_key(args: argparse.Namespace) -> int:
    from edge.services import audit

    cfg = _load(args.config)
    key = audit.public_key(cfg)
    if args.export:
        Path(args.export).write_text(key + "\n")
        print(f"audit public key written to {args.export}")
    else:
        print(key)
    return 0


def cmd_audit_list(args: argparse.Namespace) -> int:
    from edge.services import audit
    from edge.services.context import open_store

    cfg = _load(args.config)
    with open_store(cfg, readonly=True) as st:
        rows = audit.entries(st, args.limit)
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
    from edge.services.context import open_store
    from edge.services.quality import spc_alarms

    cfg = _load(args.config)
    with open_store(cfg, readonly=True) as st:
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
    from edge.services.context import open_store
    from edge.services.quality import ack_alarms

    cfg = _load(args.config)
    with open_store(cfg) as st:
        actor = operator(args, cfg, st)
        top = ack_alarms(
            cfg,
            st,
            actor,
            args.characteristic,
            comment=args.comment or "",
            cause=args.cause,
            action=args.action,
        )
    print(
        f"{args.characteristic}: alarms up to {top} acknowledged by {actor.who} ({args.cause}, {args.action})"
    )
    return 0


def cmd_spc_enter(args: argparse.Namespace) -> int:
    from edge.services.context import open_store
    from edge.services.quality import enter_measurement

    cfg = _load(args.config)
    with open_store(cfg) as st:
        actor = operator(args, cfg, st)
        enter_measurement(cfg, st, actor, args.characteristic, args.value, args.size)
    size = f" of {args.size}" if args.size is not None else ""
    print(f"{args.characteristic}: {args.value}{size} recorded (by {actor.who})")
    return 0


def cmd_spc_recalc(args: argparse.Namespace) -> int:
    from edge.services.context import open_store
    from edge.services.quality import request_limits

    cfg = _load(args.config)
    with open_store(cfg) as st:
        actor = operator(args, cfg, st)
        tz = cfg.line.timezone
        rid = request_limits(
            cfg,
            st,
            actor,
            args.characteristic,
            reason=args.reason or "",
            start=parse_time(args.start, tz, "--from") if args.start else None,
            end=parse_time(args.end, tz, "--to") if args.end else None,
            center=args.center,
            sigma=args.sigma,
            product=args.product,
        )
    print(
        f"{args.characteristic}: new limits requested (request {rid}); another person approves them "
        f"with `lineside spc approve -c FILE {rid}`"
    )
    return 0


def cmd_spc_versions(args: argparse.Namespace) -> int:
    from edge.services.context import open_store
    from edge.services.quality import limit_versions

    cfg = _load(args.config)
    with open_store(cfg, readonly=True) as st:
        rows = limit_versions(cfg, st, args.characteristic)
    if args.json:
        print(json.dumps(rows, indent=1))
        return 0
    zone = ZoneInfo(cfg.line.timezone)
    for r in rows:
        when = datetime.fromtimestamp(r["ts"], zone).strftime("%Y-%m-%d %H:%M")
        mark = "ACTIVE" if r["active"] else ""
        if r["action"] == "frozen":
            what = f"CL {r['center']:.6g}  UCL {r['ucl']:.6g}  LCL {r['lcl']:.6g}"
        else:
            what = "new baseline requested"
        print(f"{r['seq']:>5} {when} {r['product'] or '-':<12} {mark:<7}{what:<48} {r['by']}: {r['reason']}")
    if not rows:
        print(f"{args.characteristic}: no limits yet")
    return 0


def cmd_spc_capability(args: argparse.Namespace) -> int:
    from edge.services.context import open_store
    from edge.services.quality import capability

    cfg = _load(args.config)
    with open_store(cfg, readonly=True) as st:
        cap = capability(cfg, st, args.characteristic)
    if args.json:
        print(json.dumps(cap, indent=1))
        return 0
    if cap is None:
        print(
            f"{args.characteristic}: no capability (no specification, an attribute chart, or fewer than 2 subgroups)"
        )
        return 0

    def g(k: str) -> str:
        return "-" if cap.get(k) is None else f"{cap[k]:.3f}"

    zone = ZoneInfo(cfg.line.timezone)
    since = datetime.fromtimestamp(cap["since"], zone).strftime("%Y-%m-%d %H:%M")
    lim = cap["limits"]
    version = (
        "limits from config"
        if lim is None
        else f"limit version {lim['seq']} ({lim['action']} by {lim['by']})"
    )
    print(
        f"{args.characteristic} ({cap['product'] or '-'}): {cap['subgroups']} subgroups of {cap['subgroup_size']} "
        f"since {since}, {version}"
    )
    print(
        f"  mean {cap['mean']:.6g}  sigma within {cap['sigma_within']:.5g} ({cap['sigma_within_method']})  "
        f"overall {cap['sigma_overall']:.5g}"
    )
    print(f"  Cp {g('cp')}  Cpk {g('cpk')}  Pp {g('pp')}  Ppk {g('ppk')}   out of spec: {cap['out_of_spec']}")
    return 0


def cmd_spc_arl(args: argparse.Namespace) -> int:
    from edge.services.spc_arl import run_lengths

    cfg = _load(args.config)
    rows = run_lengths(cfg, shift=args.shift)
    if args.json:
        print(json.dumps(rows, indent=1))
        return 0
    for r in rows:
        print(f"{r['characteristic']} ({r['chart']}, n={r['n']}, rules {r['rules']}):")
        print(f"  in control:          ARL0 {r['arl0']:.1f} points  ({r['method']})")
        print(f"  {r['shift']:g} sigma mean shift: ARL1 {r['arl1']:.2f} points")
        if r["points_per_day"] is not None:
            print(
                f"  at full speed {r['points_per_day']:.0f} points a day: {r['false_alarms_per_day']:.2f} false alarms a day"
                + (f" (the config allows {r['allowed']:g})" if r["allowed"] is not None else "")
            )
    return 0


def cmd_spc_requests(args: argparse.Namespace) -> int:
    from edge.services.context import open_store
    from edge.services.quality import limit_requests

    cfg = _load(args.config)
    with open_store(cfg, readonly=True) as st:
        rows = limit_requests(st, pending_only=not args.all)
    if args.json:
        print(json.dumps(rows, indent=1))
        return 0
    zone = ZoneInfo(cfg.line.timezone)
    for r in rows:
        when = datetime.fromtimestamp(r["ts"], zone).strftime("%Y-%m-%d %H:%M")
        decided = f" by {r['decided_by']}" if r["decided_by"] else ""
        print(
            f"{r['id']:>5} {when} {r['characteristic']:<16} {r['status'] + decided:<32} "
            f"{r['requested_by']}: {r['reason']}"
        )
    if not rows:
        print("no pending requests for new limits" if not args.all else "no requests for new limits")
    return 0


def cmd_spc_decide(args: argparse.Namespace) -> int:
    from edge.services.context import open_store
    from edge.services.quality import approve_limits, reject_limits

    cfg = _load(args.config)
    with open_store(cfg) as st:
        if args.spc_command == "approve":
            actor = operator(args, cfg, st, sign=True)
            name = approve_limits(cfg, st, actor, args.request, comment=args.comment or "")
            print(
                f"{name}: request {args.request} approved by {actor.who}; the agent collects a new "
                "baseline and freezes new limits"
            )
        else:
            actor = operator(args, cfg, st)
            name = reject_limits(cfg, st, actor, args.request, comment=args.comment or "")
            print(f"{name}: request {args.request} rejected by {actor.who}")
    return 0


def cmd_trace(args: argparse.Namespace) -> int:
    from edge.services.context import open_store
    from edge.services.trace import trace

    cfg = _load(args.config)
    with open_store(cfg, readonly=True) as st:
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
            print(f"  order {u['order']} (product {u.get('product') or '?'}), as {u['material']}:")
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
            # Text, bool and array tags (min/max of JSON text are not numbers) get the count only.
            if v["mean"] is None or not all(isinstance(v[k], (int, float)) for k in ("min", "max")):
                print(f"    {v['tag']:<28} {v['samples']:>7} samples {v.get('changes', 0):>6} changes")
            else:
                print(
                    f"    {v['tag']:<28} {v['samples']:>7} samples {v.get('changes', 0):>6} changes  "
                    f"min {v['min']:.6g}  mean {v['mean']:.6g}  max {v['max']:.6g} {v['unit']} (time-weighted)"
                )
        if p["spc_alarms"]:
            print("  SPC alarms in the window:")
            for a in p["spc_alarms"]:
                print(f"    {when(a['ts'])} {a['characteristic']} {a['kind']} {a['rule']}: {a['detail']}")
    g = res.get("genealogy") or {}
    if g.get("inputs"):
        print("  lots consumed (genealogy):")
        for i in g["inputs"]:
            qty = f"{i['quantity']:g}" if i["quantity"] is not None else ""
            print(f"    {i['parent']:<20} {i['material']:<16} {qty:>10}  {i['location']}")
    for h in g.get("holds", []):
        print(f"  ON HOLD ({h['hold_id']}, {h['source']}): {h['reason']}")
    return 0


def cmd_lot(args: argparse.Namespace) -> int:
    from edge.services.context import open_store
    from edge.services.trace import register_consumed, register_produced

    cfg = _load(args.config)
    with open_store(cfg) as st:
        actor = operator(args, cfg, st)
        if args.lot_command == "consumed":
            register_consumed(
                cfg,
                st,
                actor,
                args.material_lot,
                args.material,
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
                actor,
                args.lot,
                kind="serial" if args.serial else "lot",
                order=args.order,
                start=parse_time(args.start, tz, "--start") if args.start else None,
                end=parse_time(args.end, tz, "--end") if args.end else None,
                quantity=args.quantity,
            )
            print(f"{'serial' if args.serial else 'lot'} {args.lot} recorded")
    return 0


def cmd_inspect_due(args: argparse.Namespace) -> int:
    from edge.services.context import open_store
    from edge.services.inspections import due

    cfg = _load(args.config)
    with open_store(cfg, readonly=True) as st:
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
    from edge.services.context import open_store
    from edge.services.inspections import record

    cfg = _load(args.config)
    values: dict[str, str] = {}
    for item in args.item or []:
        name, sep, value = item.partition("=")
        if not sep:
            raise OperatorInputError(f"--item: expected NAME=VALUE, got {item!r}")
        if name.strip() in values:
            # The last value would silently win: which one did the inspector mean?
            raise OperatorInputError(f"--item: {name.strip()!r} is given more than once")
        values[name.strip()] = value.strip()
    with open_store(cfg) as st:
        actor = operator(args, cfg, st, sign=True)
        passed = record(cfg, st, actor, args.plan, values, comment=args.comment or "")
    print(f"{args.plan}: {'PASS' if passed else 'FAIL'} recorded and signed by {actor.who}")
    return 0 if passed else 4


def cmd_inspect_release(args: argparse.Namespace) -> int:
    from edge.services.context import open_store
    from edge.services.inspections import release_hold

    cfg = _load(args.config)
    with open_store(cfg) as st:
        actor = operator(args, cfg, st, sign=True)
        release_hold(cfg, st, actor, args.order, reason=args.reason)
    print(f"{args.order}: hold released by {actor.who}; the order may resume")
    return 0


def cmd_inspect_missed(args: argparse.Namespace) -> int:
    import time as _time

    from edge.services.context import open_store
    from edge.services.inspections import holds, missed_between

    cfg = _load(args.config)
    now = _time.time()
    with open_store(cfg, readonly=True) as st:
        rows = missed_between(st, now - args.hours * 3600, now + 1)
        held = holds(st)
    if args.json:
        print(json.dumps({"missed": rows, "on_hold": held}, indent=1))
        return 0
    zone = ZoneInfo(cfg.line.timezone)
    for r in rows:
        when = datetime.fromtimestamp(r["due_at"], zone).strftime("%Y-%m-%d %H:%M")
        print(f"{r['plan']:<20} order {r['order']:<14} due {when}  MISSED ({r['reason']})")
    if not rows:
        print(f"no inspection missed in the last {args.hours:g} h")
    for order, why in held.items():
        print(f"order {order} ON HOLD: {why}")
    return 0


def register(sub: Any) -> None:
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
        c.add_argument(
            "--subgroup-size",
            type=int_arg(lo=1, hi=10_000),
            help="n: 2-25 for xbar-r/xbar-s; sample size for np",
        )
        c.add_argument("--lsl", type=float_arg(), help="lower specification limit (capability)")
        c.add_argument("--usl", type=float_arg(), help="upper specification limit (capability)")
        c.add_argument("--target", type=float_arg(), help="target value (Cpm)")
        c.add_argument(
            "--mu0", type=float_arg(), help="ewma/cusum: in-control mean (default: the data's mean)"
        )
        c.add_argument(
            "--sigma", type=float_arg(), help="ewma/cusum: process sigma (default: MR-bar/d2 of the data)"
        )
        c.add_argument(
            "--lambda",
            dest="lam",
            type=float_arg(),
            default=0.2,
            help="ewma: weight of the newest value (default 0.2)",
        )
        c.add_argument(
            "--L",
            dest="L",
            type=float_arg(),
            default=3.0,
            help="ewma: width of the limits in sigmas (default 3)",
        )
        c.add_argument(
            "--k", type=float_arg(), default=0.5, help="cusum: reference value in sigmas (default 0.5)"
        )
        c.add_argument(
            "--h", type=float_arg(), default=5.0, help="cusum: decision interval in sigmas (default 5)"
        )
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
    sk.add_argument("characteristic", type=id_arg, help="characteristic name")
    sk.add_argument("--cause", required=True, type=id_arg, help="cause code from the config's spc.causes")
    sk.add_argument("--action", required=True, type=id_arg, help="action code from the config's spc.actions")
    sk.add_argument("--comment", required=True, type=text_arg, help="what was found and done")
    add_auth(sk)
    sk.set_defaults(func=cmd_spc_ack)
    se = spsub.add_parser("enter", help="an operator's measurement of a manual characteristic")
    se.add_argument("-c", "--config", required=True, help="line config file (YAML)")
    se.add_argument("characteristic", type=id_arg, help="characteristic name (manual: true)")
    se.add_argument("value", help="measured value (attribute charts: the count of defectives or defects)")
    se.add_argument("--size", help="p and u charts: units inspected for this count")
    add_auth(se)
    se.set_defaults(func=cmd_spc_enter)
    sr = spsub.add_parser(
        "recalc",
        help="request new control limits: a new baseline, a baseline window, or typed (another person approves)",
        description="Request new control limits (permission request_limits): from a new baseline "
        "the line collects (no options), from the points charted in a baseline window (--from, --to), "
        "or typed (--center, --sigma; variables charts). Limits are per product (--product; default "
        "the product of the latest point). Nothing changes at the line until another person with the "
        "approve permission approves the request with their PIN (`lineside spc approve`).",
    )
    sr.add_argument("-c", "--config", required=True, help="line config file (YAML)")
    sr.add_argument("characteristic", type=id_arg, help="characteristic name")
    sr.add_argument("--reason", required=True, type=text_arg, help="why the process changed")
    sr.add_argument("--from", dest="start", help="baseline window start (ISO 8601 local time, epoch, or -8h)")
    sr.add_argument("--to", dest="end", help="baseline window end")
    sr.add_argument("--center", type=float_arg(), help="typed limits: process centre")
    sr.add_argument("--sigma", type=float_arg(lo=0), help="typed limits: process sigma (within subgroups)")
    sr.add_argument("--product", type=id_arg, help="product whose limits these are")
    add_auth(sr)
    sr.set_defaults(func=cmd_spc_recalc)
    sv = spsub.add_parser(
        "versions", help="a characteristic's limit versions, newest first, the active one per product marked"
    )
    sv.add_argument("-c", "--config", required=True, help="line config file (YAML)")
    sv.add_argument("characteristic", type=id_arg, help="characteristic name")
    sv.add_argument("--json", action="store_true", help="machine-readable output")
    sv.set_defaults(func=cmd_spc_versions)
    sp_cap = spsub.add_parser(
        "capability",
        help="Cp/Cpk and Pp/Ppk of a characteristic from the subgroups of its limits in force",
        description="Process capability at the line, for the product of the latest point: Cp and Cpk "
        "from the within-subgroup sigma (R-bar/d2, S-bar/c4, MR-bar/d2) of the subgroups the chart "
        "sampled under the limit version in force (for limits frozen from a baseline: from the "
        "baseline on), Pp and Ppk from the overall standard deviation of their values.",
    )
    sp_cap.add_argument("-c", "--config", required=True, help="line config file (YAML)")
    sp_cap.add_argument("characteristic", type=id_arg, help="characteristic name")
    sp_cap.add_argument("--json", action="store_true", help="machine-readable output")
    sp_cap.set_defaults(func=cmd_spc_capability)
    sl = spsub.add_parser(
        "arl",
        help="average run lengths of the configured charts: false alarms a day in control, detection of a shift",
        description="In-control ARL (false alarms) and the ARL after a mean shift for each characteristic "
        "as configured: exact for rule 1, Markov chains for EWMA and CUSUM, simulation for run rules.",
    )
    sl.add_argument("-c", "--config", required=True, help="line config file (YAML)")
    sl.add_argument(
        "--shift", type=float_arg(lo=0, hi=10), default=1.5, help="mean shift in sigmas (default 1.5)"
    )
    sl.add_argument("--json", action="store_true", help="machine-readable output")
    sl.set_defaults(func=cmd_spc_arl)
    sq = spsub.add_parser("requests", help="requests for new control limits (pending ones unless --all)")
    sq.add_argument("-c", "--config", required=True, help="line config file (YAML)")
    sq.add_argument("--all", action="store_true", help="include approved and rejected requests")
    sq.add_argument("--json", action="store_true", help="machine-readable output")
    sq.set_defaults(func=cmd_spc_requests)
    for name, text in (
        ("approve", "approve a request for new limits, signed with your PIN (not your own request)"),
        ("reject", "reject a request for new limits (comment required)"),
    ):
        sd = spsub.add_parser(name, help=text, description=text + ". Permission: approve.")
        sd.add_argument("-c", "--config", required=True, help="line config file (YAML)")
        sd.add_argument("request", type=int_arg(lo=1), help="request number from `lineside spc requests`")
        sd.add_argument(
            "--comment",
            required=name == "reject",
            type=text_arg,
            help="why" + (" (required)" if name == "reject" else " (optional)"),
        )
        add_auth(sd, signs=name == "approve")
        sd.set_defaults(func=cmd_spc_decide)

    ins = sub.add_parser("inspect", help="inspections due for the running order; record results")
    inssub = ins.add_subparsers(dest="inspect_command", metavar="SUBCOMMAND")
    idue = inssub.add_parser("due", help="inspections due or overdue now")
    idue.add_argument("-c", "--config", required=True, help="line config file (YAML)")
    idue.add_argument("--json", action="store_true", help="machine-readable output")
    idue.set_defaults(func=cmd_inspect_due)
    irec = inssub.add_parser("record", help="record a result; exit 0 pass, 4 fail, 2 refused input")
    irec.add_argument("-c", "--config", required=True, help="line config file (YAML)")
    irec.add_argument("plan", type=id_arg, help="inspection plan name")
    irec.add_argument("--item", action="append", help="NAME=VALUE for each item (a number, or pass/fail)")
    irec.add_argument(
        "--comment",
        type=text_arg,
        help="remarks; required when the result fails (what was found, what was done)",
    )
    add_auth(irec, signs=True)
    irec.set_defaults(func=cmd_inspect_record)
    irel = inssub.add_parser(
        "release",
        help="release an order held by a failed first-off without a re-check (supervisor, signed)",
        description="A failed first-off holds its order (it neither starts nor resumes) until a "
        "passing re-check of the plan. A supervisor (permission release_holds) may release it "
        "instead, with a reason; signed with the PIN and audited as an approval.",
    )
    irel.add_argument("-c", "--config", required=True, help="line config file (YAML)")
    irel.add_argument("order", type=id_arg, help="work order on hold")
    irel.add_argument("--reason", required=True, type=text_arg, help="why the order may run anyway")
    add_auth(irel, signs=True)
    irel.set_defaults(func=cmd_inspect_release)
    imis = inssub.add_parser("missed", help="inspections recorded as missed, and orders on hold")
    imis.add_argument("-c", "--config", required=True, help="line config file (YAML)")
    imis.add_argument(
        "--hours", type=float_arg(lo=0.0, hi=24.0 * 366), default=24.0, help="look back (default 24)"
    )
    imis.add_argument("--json", action="store_true", help="machine-readable output")
    imis.set_defaults(func=cmd_inspect_missed)

    tr = sub.add_parser(
        "trace",
        help="genealogy: what went into a lot/serial (backward) or where a material lot went (forward)",
    )
    tr.add_argument("-c", "--config", required=True, help="line config file (YAML)")
    tr.add_argument("id", type=id_arg, help="a produced lot or serial, or a material lot")
    tr.add_argument("--json", action="store_true", help="machine-readable output")
    tr.set_defaults(func=cmd_trace)

    lt = sub.add_parser("lot", help="record produced lots/serials and consumed material lots")
    ltsub = lt.add_subparsers(dest="lot_command", metavar="SUBCOMMAND")
    lp = ltsub.add_parser(
        "produced", help="a lot or serial made on this line (defaults: running order, since its start)"
    )
    lp.add_argument("-c", "--config", required=True, help="line config file (YAML)")
    lp.add_argument("lot", type=id_arg, help="lot or serial number")
    lp.add_argument("--serial", action="store_true", help="a single serialised unit rather than a lot")
    lp.add_argument("--order", type=id_arg, help="work order (default: the running one)")
    lp.add_argument("--start", help="window start (default: the order's start)")
    lp.add_argument("--end", help="window end (default: now)")
    lp.add_argument("--quantity", type=int_arg(lo=1, hi=100_000_000), help="parts in the lot")
    add_auth(lp)
    lp.set_defaults(func=cmd_lot)
    lc = ltsub.add_parser("consumed", help="a material lot used for a work order (scanned or typed)")
    lc.add_argument("-c", "--config", required=True, help="line config file (YAML)")
    lc.add_argument("material_lot", type=id_arg, help="supplier or internal lot number")
    lc.add_argument("material", type=id_arg, help="material id (preforms, caps, labels ...)")
    lc.add_argument("--order", type=id_arg, help="work order (default: the running one)")
    lc.add_argument("--quantity", type=float_arg(lo=0, hi=1e12), help="amount used")
    lc.add_argument("--unit", type=text_arg, help="unit of the amount")
    add_auth(lc)
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
    ak = ausub.add_parser(
        "key",
        help="the audit trail's public key (Ed25519, 64 hex digits): for the aggregator's lines[].audit_key",
        description="Print (or --export to a file) the public key the line's audit entries are signed "
        "with. Anyone may hold it: it checks the chain but cannot sign. Put it in the aggregator's config "
        "(lines[].audit_key) so the plant verifies the line's chain as it arrives.",
    )
    ak.add_argument("-c", "--config", required=True, help="line config file (YAML)")
    ak.add_argument("--export", metavar="FILE", help="write the key to FILE instead of printing it")
    ak.set_defaults(func=cmd_audit_key)
    al = ausub.add_parser(
        "list", help="latest audit entries: who, when, what (old -> new), why, signature meaning"
    )
    al.add_argument("-c", "--config", required=True, help="line config file (YAML)")
    al.add_argument("--limit", type=int_arg(lo=1), default=50, help="how many (default 50)")
    al.add_argument("--json", action="store_true", help="machine-readable output")
    al.set_defaults(func=cmd_audit_list)
