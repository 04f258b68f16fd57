"""``lineside aggregator ...``: the plant side (run the aggregator, plant status and
report, work orders down to the lines) and ``lineside order list`` on the line side."""

from __future__ import annotations

import argparse
import signal
import sys
import time
from pathlib import Path
from typing import Any

from edge.cli.common import _age, _dur, _pct, emit, float_arg, id_arg, int_arg, parse_time, text_arg
from edge.cli.plant_auth import add_plant_auth, audited, plant_user


def _agg(args: argparse.Namespace) -> Any:
    from sync.aggregator.config import load_aggregator_config

    return load_aggregator_config(args.config)


def cmd_agg_run(args: argparse.Namespace) -> int:
    from sync.aggregator.service import Aggregator

    cfg = _agg(args)
    agg = Aggregator(cfg, client_id=args.client_id)
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: agg.request_stop())
    web = None
    if cfg.web is not None and not args.no_web:
        from sync.aggregator.web.app import WebThread

        web = WebThread(cfg)
        web.start()
    try:
        agg.run(args.duration)
    finally:
        if web is not None:
            web.stop()
    return 0


def cmd_agg_web(args: argparse.Namespace) -> int:
    """Serve the plant web view alone (the aggregator's ingest runs elsewhere), or hash a password."""
    import getpass
    import sys

    if args.hash_password:
        from sync.aggregator.web.auth import hash_password

        pw = getpass.getpass("password: ") if sys.stdin.isatty() else sys.stdin.readline().rstrip("\n")
        try:
            print(hash_password(pw))
        except ValueError as e:
            print(f"password: {e}", file=sys.stderr)
            return 2
        return 0
    if not args.config:
        print("-c/--config: required (or --hash-password)", file=sys.stderr)
        return 2
    cfg = _agg(args)
    if cfg.web is None:
        print(
            f"{args.config}: web: the aggregator config has no web section (see the README's Plant web view)",
            file=sys.stderr,
        )
        return 2
    from sync.aggregator.web.app import server

    srv = server(cfg, port=args.port)
    scheme = "https" if cfg.web.tls else "http"
    print(f"plant web view on {scheme}://{cfg.web.host}:{args.port or cfg.web.port}/", flush=True)
    srv.run()
    return 0


def cmd_agg_user_token(args: argparse.Namespace) -> int:
    """Write a plant user's credential file for a script and print the token hash for the config."""
    from edge.config.operators import hash_token, new_token
    from edge.services.session import write_credential_fields
    from sync.aggregator.users import PlantAuthError, find_user

    cfg = _agg(args)
    u = find_user(cfg.web.users if cfg.web else [], args.user)
    if u is None:
        raise PlantAuthError(f"--user: no plant user {args.user!r} in {args.config} (web.users)")
    token = new_token()
    write_credential_fields(args.output, "lineside plant credential", {"user": u.name, "token": token})
    print(
        f"{args.output}: credential of plant user {u.name} written (mode 600). Put this in their web.users[] entry:"
    )
    print(f'    token_hash: "{hash_token(token)}"')
    return 0


def cmd_agg_status(args: argparse.Namespace) -> int:
    from sync.aggregator.queries import plant_status

    cfg = _agg(args)
    now = time.time()
    rows = plant_status(cfg, now=now)

    def show() -> None:
        print(
            f"{'line':<32} {'online':<8} {'state':<14} {'order':<14} {'last data':<12} {'backlog':>8}  records"
        )
        for r in rows:
            online = "yes" if r["online"] else ("no" if r["online"] is not None else "never")
            print(
                f"{r['line']:<32} {online:<8} {r['state'] or '-':<14} {r['order'] or '-':<14} "
                f"{_age(r['last_data'], now):<12} {r['backlog']:>8}  {r['records']}"
            )
        dl = rows[0]["dead_letters"] if rows else {}
        if dl:
            print("\ndead letters: " + ", ".join(f"{k} {n}" for k, n in sorted(dl.items())))

    return emit(args.json, rows, show)


def cmd_agg_report(args: argparse.Namespace) -> int:
    from sync.aggregator.queries import plant_report

    cfg = _agg(args)
    rep = plant_report(cfg, shift=args.shift)

    def show() -> None:
        for ln in rep["lines"]:
            k = ln.get("kpi")
            print(f"== {ln['line']}  shift {ln.get('shift') or '-'}")
            if not k:
                print("   no KPIs received yet")
                continue
            print(
                f"   OEE {_pct(k.get('oee'))}  A {_pct(k.get('availability'))}  P {_pct(k.get('performance'))}"
                f"  Q {_pct(k.get('quality'))}   good {k.get('good', 0)}  scrap {k.get('scrap', 0)}"
                f"   MTBF {_dur(k.get('mtbf_s'))}  MTTR {_dur(k.get('mttr_s'))}  failures {k.get('failures', 0)}"
            )
            for p in ln["pareto"][:8]:
                print(f"   {_dur(p['duration_s']):>10}  {p['count']:>4}x  {p['reason']} ({p['loss']})")
            if ln["spc_alarms"]:
                print(f"   SPC alarms: {len(ln['spc_alarms'])}")
                for a in ln["spc_alarms"][:5]:
                    print(f"     {a['characteristic']}: {a['kind']} {a['rule']} {a['detail']}")
        print("\nplant downtime Pareto:")
        for p in rep["pareto"][:10]:
            print(f"   {_dur(p['duration_s']):>10}  {p['count']:>4}x  {p['reason']} ({p['loss']})")

    return emit(args.json, rep, show)


def cmd_agg_order_add(args: argparse.Namespace) -> int:
    from sync.aggregator.orders import queue_orders, release_body

    cfg = _agg(args)
    user = plant_user(args, cfg, "orders")
    body = release_body(
        args.order,
        args.product,
        quantity=args.quantity,
        due=parse_time(args.due, "UTC", "--due") if args.due else None,
        priority=args.priority,
        description=args.description or "",
    )
    ids = queue_orders(cfg, args.line, [body], cmd_id=args.id)
    audited(
        cfg,
        user,
        "order.release",
        cfg.line(args.line).key,
        f"{body['order_id']} {body['product']} x{args.quantity} (command {ids[0]})",
    )
    print(f"queued work order {args.order} for {args.line} (command {ids[0]})")
    return 0


def cmd_agg_order_cancel(args: argparse.Namespace) -> int:
    from sync.aggregator.orders import cancel_body, queue_orders

    cfg = _agg(args)
    user = plant_user(args, cfg, "orders")
    ids = queue_orders(cfg, args.line, [cancel_body(args.order)], cmd_id=args.id)
    audited(cfg, user, "order.cancel", cfg.line(args.line).key, f"{args.order} (command {ids[0]})")
    print(f"queued cancellation of {args.order} for {args.line} (command {ids[0]})")
    return 0


def cmd_agg_order_import(args: argparse.Namespace) -> int:
    """CSV (header: line,order_id,product,quantity[,due,priority,description]) or a JSON list."""
    from sync.aggregator.orders import import_orders

    cfg = _agg(args)
    user = plant_user(args, cfg, "orders")
    n, lines = import_orders(cfg, Path(args.file), line=args.line)
    audited(cfg, user, "order.import", Path(args.file).name, f"{n} orders for {lines} lines")
    print(f"queued {n} work orders for {lines} lines")
    return 0


def cmd_agg_commands(args: argparse.Namespace) -> int:
    from sync.aggregator.store import open_store

    cfg = _agg(args)
    store = open_store(cfg)
    try:
        rows = store.commands(cfg.line(args.line).key if args.line else None)
    finally:
        store.close()
    now = time.time()

    def show() -> None:
        for r in rows:
            print(
                f"{r['id']:<32} {r['line']:<28} {r['kind']:<11} {r['state']:<9} sent {r['sent_count']}x "
                f"{_age(r['acked_at'], now) if r['acked_at'] else '':<10} {r['reason']}"
            )

    return emit(args.json, rows, show)


def cmd_agg_audit_verify(args: argparse.Namespace) -> int:
    from sync.aggregator.queries import audit_verify

    cfg = _agg(args)
    bad = 0
    for r in audit_verify(cfg):
        how = "signatures and links" if r["keyed"] else "links only (no lines[].audit_key)"
        if r["problems"]:
            bad += 1
            for p in r["problems"]:
                print(f"{r['line']}: {p}", file=sys.stderr)
        else:
            print(f"{r['line']}: audit chain intact: verified up to entry {r['verified']} ({how})")
    if bad:
        print(f"audit trail NOT intact on {bad} line(s)", file=sys.stderr)
        return 1
    return 0


def cmd_agg_acl(args: argparse.Namespace) -> int:
    from edge.core.errors import ConfigError
    from sync.aggregator.acl import AclCollision, line_user, render_acl, spb_user, uns_user

    cfg = _agg(args)
    try:
        acl = render_acl(cfg, args.aggregator_user, None if args.no_consumer else args.consumer_user)
    except AclCollision as e:
        raise ConfigError([f"{args.config}: lines: {e}"]) from None
    print(acl)
    if args.users:
        print("# broker users to create (mosquitto_passwd -b FILE USER PASSWORD):")
        print(f"#   {args.aggregator_user}")
        if not args.no_consumer:
            print(f"#   {args.consumer_user}  (read-only: namespace, Sparkplug, line state)")
        for ln in cfg.lines:
            print(f"#   {line_user(ln.key)}  (the line's uplink: uplink.mqtt.username)")
            print(f"#   {uns_user(ln.key)}  (its unified namespace: uns.mqtt.username)")
            print(f"#   {spb_user(ln.key)}  (its Sparkplug B node: sparkplug.mqtt.username)")
    return 0


def cmd_agg_maint(args: argparse.Namespace) -> int:
    from edge.cli.maintenance import print_reliability
    from sync.aggregator.queries import plant_maintenance

    cfg = _agg(args)
    now = time.time()
    since = parse_time(args.since, "UTC", "--since")
    until = parse_time(args.until, "UTC", "--until") if args.until else now
    if args.view == "windows" and args.offer:
        from sync.aggregator.maintenance import offer_windows

        user = plant_user(args, cfg, "maintenance")
        offered = offer_windows(cfg, now=now, since=since)
        audited(
            cfg,
            user,
            "maint.offer",
            "windows",
            ", ".join(f"{w['order']} on {w['resource']}" for w in offered),
        )
        for w in offered:
            print(f"offered {w['order']} on {w['resource']}: {w['duration_h']:g} h ({w['title']})")
        print(f"{len(offered)} maintenance windows offered to the scheduler")
        return 0
    rows = plant_maintenance(cfg, since=since, until=until, line=args.line)

    def show() -> None:
        for r in rows:
            rep = r["report"]
            print(f"== {r['line']}: {len(r['backlog'])} open orders, backlog {rep['backlog_h']:.1f} h")
            if args.view == "windows":
                for w in r["windows"]:
                    print(f"  {w['order']:<8} {w['asset']:<16} {w['duration_h']:>5.1f} h  {w['title']}")
            elif args.view == "backlog":
                for o in r["backlog"]:
                    print(
                        f"  {o['id']:<8} {o['type']:<10} {o['state']:<11} {o['priority']:<6} "
                        f"{o['asset']:<16} {o['remaining_h']:>5.1f} h  {o['title']}"
                    )
            else:
                print_reliability(rep)

    return emit(args.json, rows, show)


def cmd_agg_inspections(args: argparse.Namespace) -> int:
    """Inspections the lines recorded as missed, and those due now per line."""
    from sync.aggregator.queries import plant_inspections

    cfg = _agg(args)
    now = time.time()
    rep = plant_inspections(cfg, since=now - args.hours * 3600, line=args.line)

    def show() -> None:
        print(f"missed in the last {args.hours:g} h: {len(rep['missed'])}")
        for m in rep["missed"]:
            print(
                f"  {m['line']:<32} {m['plan']:<16} {m['order_id']:<12} due {_age(m['due_at'], now)} ago, "
                f"missed {_age(m['ts'], now)} ago: {m['reason']}"
            )
        for ln in rep["due"]:
            print(f"== {ln['line']}: {ln['count']} due now (as the line said {_age(ln['ts'], now)} ago)")
            for d in ln["due"]:
                flag = "OVERDUE" if d.get("overdue") else "due"
                print(
                    f"  {flag:<8} {d.get('plan', ''):<16} {d.get('order_id', ''):<12} "
                    f"due {_age(d.get('due_at'), now)} ago ({d.get('reason', '')})"
                )

    return emit(args.json, rep, show)


def register(sub: Any) -> None:
    a = sub.add_parser(
        "aggregator", help="the plant aggregator: ingest from the lines, plant view, orders down"
    )
    asub = a.add_subparsers(dest="agg_command", metavar="ACTION", required=True)

    def cfg_arg(p: argparse.ArgumentParser) -> None:
        p.add_argument("-c", "--config", required=True, help="aggregator config file (YAML)")

    r = asub.add_parser("run", help="run the aggregator (MQTT → plant store, acks, commands down)")
    cfg_arg(r)
    r.add_argument(
        "--duration",
        type=float_arg(lo=0, hi=1e9),
        help="stop after S seconds (default: until SIGTERM/Ctrl-C)",
    )
    r.add_argument(
        "--client-id",
        help="MQTT client id of this instance (several instances share the load; each needs its own)",
    )
    r.add_argument(
        "--no-web", action="store_true", help="do not serve the web view even when the config has web:"
    )
    r.set_defaults(func=cmd_agg_run)

    wv = asub.add_parser(
        "web",
        help="serve the plant web view (board, line detail, reports, orders, planning, quality)",
        description="Serve the plant web view of the config's web: section (it also runs inside "
        "`aggregator run`). Users, roles, TLS and the proxy header are in web:; hash a user's "
        "password with --hash-password (reads it from the terminal or one line of stdin).",
    )
    wv.add_argument("-c", "--config", help="aggregator config file (YAML) with a web: section")
    wv.add_argument("--port", type=int_arg(lo=1, hi=65535), help="listen on this port instead of web.port")
    wv.add_argument("--hash-password", action="store_true", help="print the hash of a password for web.users")
    wv.set_defaults(func=cmd_agg_web)

    us = asub.add_parser("user", help="plant users (web.users): credential files for scripts")
    ussub = us.add_subparsers(dest="user_command", metavar="ACTION", required=True)
    ut = ussub.add_parser(
        "token",
        help="write a credential file for a script (user and token, mode 600) and print its token_hash",
        description="Create a credential file with a random token for the plant user --user (mode 600, "
        "never over an existing file) and print the token_hash line to add to their web.users entry. "
        "A script then runs plant commands as that user with --credential FILE; approvals still ask "
        "for the password.",
    )
    cfg_arg(ut)
    ut.add_argument("--user", required=True, help="the plant user (a name in web.users)")
    ut.add_argument("-o", "--output", required=True, help="credential file to create")
    ut.set_defaults(func=cmd_agg_user_token)

    s = asub.add_parser("status", help="each line: online, state, current order, last data, backlog")
    cfg_arg(s)
    s.add_argument("--json", action="store_true", help="machine-readable output")
    s.set_defaults(func=cmd_agg_status)

    rp = asub.add_parser("report", help="OEE per line, downtime Pareto, SPC alarms, MTBF/MTTR")
    cfg_arg(rp)
    rp.add_argument("--shift", help="shift as YYYY-MM-DD/NAME (default: each line's latest)")
    rp.add_argument("--json", action="store_true", help="machine-readable output")
    rp.set_defaults(func=cmd_agg_report)

    ins = asub.add_parser(
        "inspections",
        help="inspections the lines recorded as missed, and those due now per line (as each line last said)",
    )
    cfg_arg(ins)
    ins.add_argument(
        "--hours",
        type=float_arg(lo=0, hi=24 * 366),
        default=24.0,
        help="missed ones recorded within the last HOURS (default 24)",
    )
    ins.add_argument("--line", help="one line (its key e/s/a/l or its name)")
    ins.add_argument("--json", action="store_true", help="machine-readable output")
    ins.set_defaults(func=cmd_agg_inspections)

    mt = asub.add_parser(
        "maint",
        help="maintenance across the plant: each line's backlog, or reliability per line and asset",
    )
    cfg_arg(mt)
    mt.add_argument(
        "view",
        choices=["backlog", "reliability", "windows"],
        help="open orders; MTBF/MTTR/MTTA per asset; planned preventive work (maintenance windows)",
    )
    mt.add_argument(
        "--offer",
        action="store_true",
        help="windows: offer them to the scheduler as maintenance windows of the line's resource (once each)",
    )
    mt.add_argument("--line", help="only this line (key or short name)")
    mt.add_argument(
        "--since", default="-30d", help="start of the period (ISO 8601, epoch, -7d; default -30d)"
    )
    mt.add_argument(
        "--until",
        help="end of the period (default now; the same --since/--until as `lineside maint reliability` "
        "gives the line's own figures)",
    )
    mt.add_argument("--json", action="store_true", help="machine-readable output")
    add_plant_auth(mt, "maintenance", when="with --offer")
    mt.set_defaults(func=cmd_agg_maint)

    o = asub.add_parser("order", help="work orders down to a line")
    osub = o.add_subparsers(dest="order_command", metavar="ACTION", required=True)
    oa = osub.add_parser("add", help="release a work order to a line (delivered when the line is online)")
    cfg_arg(oa)
    oa.add_argument("--line", required=True, help="line key e/s/a/l or its short name")
    oa.add_argument("--order", required=True, type=id_arg, help="work order id")
    oa.add_argument(
        "--product", required=True, type=id_arg, help="product id (must be a product of the line)"
    )
    oa.add_argument("--quantity", type=int_arg(lo=1, hi=100_000_000), help="ordered quantity")
    oa.add_argument("--due", help="due date (ISO 8601 or epoch seconds)")
    oa.add_argument(
        "--priority",
        type=int_arg(lo=0, hi=1000),
        default=0,
        help="higher first on the line's list (default 0)",
    )
    oa.add_argument("--description", type=text_arg, help="free text for the operators")
    oa.add_argument(
        "--id", type=id_arg, help="command id (default: generated); the same id is never applied twice"
    )
    add_plant_auth(oa, "orders")
    oa.set_defaults(func=cmd_agg_order_add)
    oc = osub.add_parser("cancel", help="cancel a released work order that has not started")
    cfg_arg(oc)
    oc.add_argument("--line", required=True, help="line key or short name")
    oc.add_argument("--order", required=True, type=id_arg, help="work order id")
    oc.add_argument("--id", type=id_arg, help="command id (default: generated)")
    add_plant_auth(oc, "orders")
    oc.set_defaults(func=cmd_agg_order_cancel)
    oi = osub.add_parser(
        "import", help="import work orders from an ERP export (CSV with a header row, or JSON)"
    )
    cfg_arg(oi)
    oi.add_argument("file", help="CSV (line,order_id,product,quantity,due,priority,description) or JSON list")
    oi.add_argument("--line", help="line for rows without a line column")
    add_plant_auth(oi, "orders")
    oi.set_defaults(func=cmd_agg_order_import)

    au = asub.add_parser(
        "audit", help="the lines' audit chains as the plant anchors them (verified as they arrive)"
    )
    ausub = au.add_subparsers(dest="audit_command", metavar="SUBCOMMAND")
    av = ausub.add_parser(
        "verify",
        help="report chains broken on arrival, cut off or wiped at the line, rewritten, or recreated; exit 1 if any",
        description="Each line's audit chain was checked link by link (and signature by signature with "
        "lines[].audit_key) as it arrived; the last verified head is the plant's anchor. Compared with the "
        "head each line reports in its status, a chain cut off at the end or wiped at the line is reported "
        "even when the line's sqlite_sequence was reset.",
    )
    av.add_argument("-c", "--config", required=True, help="aggregator config file (YAML)")
    av.set_defaults(func=cmd_agg_audit_verify)
    acl = asub.add_parser(
        "acl",
        help="print a mosquitto ACL confining each line's uplink, unified namespace and Sparkplug node "
        "to their own topics",
    )
    cfg_arg(acl)
    acl.add_argument("--aggregator-user", default="lineside-aggregator", help="broker user of the aggregator")
    acl.add_argument(
        "--consumer-user",
        default="lineside-consumer",
        help="broker user of the read-only consumer for dashboards and historians (default lineside-consumer)",
    )
    acl.add_argument("--no-consumer", action="store_true", help="no read-only consumer user")
    acl.add_argument("--users", action="store_true", help="also list the broker users to create")
    acl.set_defaults(func=cmd_agg_acl)

    from edge.cli import plant_masterdata, plant_materials, scheduling

    scheduling.register(asub)
    plant_materials.register(asub)
    plant_masterdata.register(asub)
    plant_masterdata.register_erp(asub)

    c = asub.add_parser("commands", help="commands queued for the lines and their results")
    cfg_arg(c)
    c.add_argument("--line", help="only this line")
    c.add_argument("--json", action="store_true", help="machine-readable output")
    c.set_defaults(func=cmd_agg_commands)
