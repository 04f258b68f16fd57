"""``lineside stock …`` and ``lineside hold …``: lineside stock (moves in and out, counts,
issue, what is on hand, the plant's lot list, shortages) and holds with their
dispositions. Every command that changes something runs as an authenticated operator
(``--badge`` or ``--credential``) and is checked by the use case itself."""

from __future__ import annotations

import argparse
import time
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from edge.cli.auth import add_auth, operator
from edge.cli.common import _load, emit, float_arg, id_arg, int_arg, parse_time, text_arg


def _when(ts: float | None, tz: str) -> str:
    return "-" if ts is None else datetime.fromtimestamp(ts, ZoneInfo(tz)).strftime("%Y-%m-%d %H:%M:%S")


def cmd_stock_change(args: argparse.Namespace) -> int:
    from edge.services import materials
    from edge.services.context import open_store

    cfg = _load(args.config)
    with open_store(cfg) as st:
        actor = operator(args, cfg, st)
        if args.stock_command == "in":
            r = materials.move_in(
                cfg, st, actor, args.location, args.lot, material=args.material, quantity=args.quantity
            )
            print(f"{r['lot']} ({r['material']}): {r['quantity']:g} in at {r['location']}")
        elif args.stock_command == "out":
            r = materials.move_out(
                cfg, st, actor, args.location, args.lot, quantity=args.quantity, reason=args.reason or ""
            )
            print(f"{r['lot']}: {r['quantity']:g} out of {r['location']}")
        elif args.stock_command == "count":
            r = materials.count(cfg, st, actor, args.location, args.lot, args.counted, material=args.material)
            print(
                f"{r['lot']} at {r['location']}: counted {r['counted']:g} (was {r['was']:g}, {r['difference']:+g})"
            )
        else:
            r = materials.issue(
                cfg,
                st,
                actor,
                args.material,
                args.quantity,
                location=args.location,
                lot=args.lot,
                order=args.order,
            )
            src = ", ".join(f"{t['quantity']:g} from {t['lot']} at {t['location']}" for t in r["from"])
            print(f"{r['material']}: {r['quantity']:g} issued to {r['order']} ({src})")
    return 0


def cmd_stock_list(args: argparse.Namespace) -> int:
    from edge.services import materials
    from edge.services.context import open_store

    cfg = _load(args.config)
    tz = cfg.line.timezone
    with open_store(cfg, readonly=True) as st:
        rows = materials.on_hand(cfg, st, location=args.location)

    def show() -> None:
        print(f"{'location':<14} {'material':<16} {'lot':<20} {'on hand':>12}  {'status':<10} since")
        for r in rows:
            print(
                f"{r['location']:<14} {r['material']:<16} {r['lot']:<20} {r['quantity']:>12.6g}  "
                f"{r['status']:<10} {_when(r['since'], tz)}"
            )

    return emit(args.json, rows, show)


def cmd_stock_moves(args: argparse.Namespace) -> int:
    from edge.services import materials
    from edge.services.context import open_store

    cfg = _load(args.config)
    tz = cfg.line.timezone
    with open_store(cfg, readonly=True) as st:
        rows = materials.moves(cfg, st, lot=args.lot, limit=args.limit)

    def show() -> None:
        for r in rows:
            print(
                f"{_when(r['ts'], tz)} {r['kind']:<9} {r['location']:<12} {r['lot']:<18} {r['quantity']:>+12.6g} "
                f"{r['order_id'] or '':<10} {r['by']} {r['reason']}"
            )

    return emit(args.json, rows, show)


def cmd_stock_lots(args: argparse.Namespace) -> int:
    from edge.services import materials
    from edge.services.context import open_store

    cfg = _load(args.config)
    tz = cfg.line.timezone
    with open_store(cfg, readonly=True) as st:
        rows = materials.lots(cfg, st, status=args.status)

    def show() -> None:
        print(f"{'lot':<20} {'material':<16} {'status':<11} {'expiry':<20} supplier lot / reason")
        for r in rows:
            print(
                f"{r['lot']:<20} {r['material']:<16} {r['status']:<11} {_when(r['expiry'], tz):<20} "
                f"{r['supplier_lot']} {r['reason']}"
            )

    return emit(args.json, rows, show)


def cmd_stock_shortages(args: argparse.Namespace) -> int:
    from edge.services import materials
    from edge.services.context import open_store

    cfg = _load(args.config)
    with open_store(cfg, readonly=True) as st:
        rows = [
            s.__dict__ | {"minutes_left": None if s.minutes_left == float("inf") else s.minutes_left}
            for s in materials.shortages(cfg, st, now=time.time())
        ]

    def show() -> None:
        if not rows:
            print(f"no feeder runs out within {cfg.stock.shortage_minutes:g} min")
        for r in rows:
            print(
                f"{r['location']:<14} {r['material']:<16} {r['on_hand']:>10.6g} on hand  "
                f"{r['rate_per_min']:.3g}/min  runs out in {r['minutes_left']:.0f} min"
            )

    return emit(args.json, rows, show)


def cmd_hold_put(args: argparse.Namespace) -> int:
    from edge.services import holds
    from edge.services.context import open_store

    cfg = _load(args.config)
    tz = cfg.line.timezone
    with open_store(cfg) as st:
        actor = operator(args, cfg, st)
        r = holds.put_on_hold(
            cfg,
            st,
            actor,
            args.kind,
            args.target,
            args.reason,
            start=parse_time(args.start, tz, "--start") if args.start else None,
            end=parse_time(args.end, tz, "--end") if args.end else None,
        )
    also = f"; also held: {', '.join(r['also_held'])}" if r["also_held"] else ""
    print(f"{args.kind} {r['target']} on hold ({r['hold']}){also}")
    return 0


def cmd_hold_list(args: argparse.Namespace) -> int:
    from edge.services import holds
    from edge.services.context import open_store

    cfg = _load(args.config)
    tz = cfg.line.timezone
    with open_store(cfg, readonly=True) as st:
        rows = holds.holds(cfg, st, open_only=args.open)

    def show() -> None:
        for r in rows:
            state = "ON HOLD" if r["action"] == "hold" else r["action"]
            span = f" {_when(r['start'], tz)}..{_when(r['end'], tz)}" if r["target_kind"] == "window" else ""
            print(
                f"{r['hold_id']:<14} {state:<8} {r['target_kind']:<6} {r['target']}{span}  since {_when(r['held_since'], tz)} "
                f"by {r['held_by']} ({r['source']}): {r['reason']}"
                + (f"  [{r['corrective_action']}]" if r["corrective_action"] else "")
            )

    return emit(args.json, rows, show)


def cmd_hold_dispose(args: argparse.Namespace) -> int:
    from edge.services import holds
    from edge.services.context import open_store

    cfg = _load(args.config)
    with open_store(cfg) as st:
        actor = operator(args, cfg, st, sign=True)
        r = holds.dispose(
            cfg,
            st,
            actor,
            args.hold,
            args.disposition,
            args.reason,
            corrective_action=args.corrective_action or "",
        )
    print(f"{r['hold']} ({r['target']}): {r['disposition']} by {actor.who}")
    return 0


def register(sub: Any) -> None:
    def cfg_arg(p: argparse.ArgumentParser) -> None:
        p.add_argument("-c", "--config", required=True, help="line config file (YAML)")

    s = sub.add_parser(
        "stock",
        help="lineside stock: moves in (checked against the plant's lots), out, counts, issue, on hand",
    )
    ssub = s.add_subparsers(dest="stock_command", metavar="SUBCOMMAND", required=True)
    si = ssub.add_parser(
        "in",
        help="move a lot in at a location (scanned or typed); refused with the reason unless the "
        "material is in the running product's BOM and the lot released and unexpired",
    )
    cfg_arg(si)
    si.add_argument("location", type=id_arg, help="feeder or staging location (stock.locations)")
    si.add_argument("lot", type=id_arg, help="lot number as scanned")
    si.add_argument(
        "--material", type=id_arg, help="material (default: the lot's, from the plant's lot list)"
    )
    si.add_argument(
        "--quantity", type=float_arg(lo=0, hi=1e12), help="quantity (default: the lot's received quantity)"
    )
    add_auth(si)
    si.set_defaults(func=cmd_stock_change)
    so = ssub.add_parser("out", help="take a lot (or part of it) out of a location")
    cfg_arg(so)
    so.add_argument("location", type=id_arg, help="location")
    so.add_argument("lot", type=id_arg, help="lot number")
    so.add_argument("--quantity", type=float_arg(lo=0, hi=1e12), help="how much (default: all on hand there)")
    so.add_argument("--reason", type=text_arg, help="why (back to the warehouse, damaged …)")
    add_auth(so)
    so.set_defaults(func=cmd_stock_change)
    sc = ssub.add_parser("count", help="a stock count: the quantity found replaces what the moves say")
    cfg_arg(sc)
    sc.add_argument("location", type=id_arg, help="location")
    sc.add_argument("lot", type=id_arg, help="lot number")
    sc.add_argument("counted", type=float_arg(lo=0, hi=1e12), help="quantity found")
    sc.add_argument("--material", type=id_arg, help="material (a lot not yet at the location)")
    add_auth(sc)
    sc.set_defaults(func=cmd_stock_change)
    ss = ssub.add_parser(
        "issue", help="issue a material that is not backflushed to the running order (first in first out)"
    )
    cfg_arg(ss)
    ss.add_argument("material", type=id_arg, help="material")
    ss.add_argument("quantity", type=float_arg(lo=0, hi=1e12), help="quantity")
    ss.add_argument("--location", type=id_arg, help="only from this location")
    ss.add_argument("--lot", type=id_arg, help="only from this lot")
    ss.add_argument("--order", type=id_arg, help="work order (default: the running one)")
    add_auth(ss)
    ss.set_defaults(func=cmd_stock_change)
    sl = ssub.add_parser("list", help="on hand per location and lot, with the lot's status")
    cfg_arg(sl)
    sl.add_argument("--location", type=id_arg, help="only this location")
    sl.add_argument("--json", action="store_true", help="machine-readable output")
    sl.set_defaults(func=cmd_stock_list)
    sm = ssub.add_parser("moves", help="the movements, newest last (append-only, synced to the plant)")
    cfg_arg(sm)
    sm.add_argument("--lot", type=id_arg, help="only this lot")
    sm.add_argument("--limit", type=int_arg(lo=1, hi=100_000), default=200, help="how many (default 200)")
    sm.add_argument("--json", action="store_true", help="machine-readable output")
    sm.set_defaults(func=cmd_stock_moves)
    slo = ssub.add_parser("lots", help="the plant's lot list as cached at the line (status, expiry)")
    cfg_arg(slo)
    slo.add_argument("--status", choices=["released", "quarantine", "blocked", "expired"], help="only these")
    slo.add_argument("--json", action="store_true", help="machine-readable output")
    slo.set_defaults(func=cmd_stock_lots)
    ssh = ssub.add_parser(
        "shortages", help="feeders that run out within stock.shortage_minutes at the current rate"
    )
    cfg_arg(ssh)
    ssh.add_argument("--json", action="store_true", help="machine-readable output")
    ssh.set_defaults(func=cmd_stock_shortages)

    h = sub.add_parser("hold", help="holds (quarantine) of lots, orders, machine windows; dispositions")
    hsub = h.add_subparsers(dest="hold_command", metavar="SUBCOMMAND", required=True)
    hp = hsub.add_parser(
        "put", help="put a lot (and what was made from it), an order, or a machine's time window on hold"
    )
    cfg_arg(hp)
    hp.add_argument("kind", choices=["lot", "order", "window"], help="what is held")
    hp.add_argument("target", type=id_arg, help="lot, work order, or machine (window)")
    hp.add_argument("--reason", required=True, type=text_arg, help="why")
    hp.add_argument("--start", help="window start (ISO 8601, epoch, or -1h)")
    hp.add_argument("--end", help="window end")
    add_auth(hp)
    hp.set_defaults(func=cmd_hold_put)
    hl = hsub.add_parser("list", help="holds with their state and disposition")
    cfg_arg(hl)
    hl.add_argument("--open", action="store_true", help="only those still on hold")
    hl.add_argument("--json", action="store_true", help="machine-readable output")
    hl.set_defaults(func=cmd_hold_list)
    hd = hsub.add_parser(
        "dispose",
        help="close a hold: release, scrap or rework, with the nonconformance's reason and corrective action "
        "(quality role, signed)",
    )
    cfg_arg(hd)
    hd.add_argument("hold", type=id_arg, help="hold id (hold list)")
    hd.add_argument("disposition", choices=["release", "scrap", "rework"], help="the decision")
    hd.add_argument("--reason", required=True, type=text_arg, help="why (the nonconformance)")
    hd.add_argument("--corrective-action", type=text_arg, help="corrective-action reference (CAPA, 8D …)")
    add_auth(hd, signs=True)
    hd.set_defaults(func=cmd_hold_dispose)
