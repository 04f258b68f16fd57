"""``lineside aggregator material|bom|lot|trace|holds …``: materials at the plant — the
material master and BOMs sent down to the lines, lots received and their status, a
supplier's recall, the genealogy trace across lines, holds as the lines recorded them
and the reconciliation after lines were offline."""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from edge.cli.common import emit, float_arg, id_arg, int_arg, parse_time, text_arg
from edge.cli.plant_auth import add_plant_auth, audited, plant_user


def _agg(args: argparse.Namespace) -> Any:
    from sync.aggregator.config import load_aggregator_config

    return load_aggregator_config(args.config)


def _when(ts: float | None) -> str:
    return "-" if ts is None else datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def cmd_material_add(args: argparse.Namespace) -> int:
    from sync.aggregator.materials import set_materials

    body: dict[str, Any] = {
        "id": args.id,
        "name": args.name or "",
        "unit": args.unit,
        "lot_controlled": not args.no_lot_control,
        "backflush": not args.issue,
    }
    if args.shelf_life_days is not None:
        body["shelf_life_days"] = args.shelf_life_days
    cfg = _agg(args)
    user = plant_user(args, cfg, "materials")
    ids = set_materials(cfg, [body], line=args.line)
    audited(cfg, user, "material.set", args.id, f"sent to {len(ids)} line(s)")
    print(f"material {args.id} set; the master goes to {len(ids)} line(s)")
    return 0


def cmd_material_import(args: argparse.Namespace) -> int:
    from edge.core.yamlio import read_yaml
    from sync.aggregator.materials import MaterialInputError, set_materials

    cfg = _agg(args)
    user = plant_user(args, cfg, "materials")
    data = read_yaml(Path(args.file))
    if isinstance(data, dict) and "materials" in data:
        data = data["materials"]
    if not isinstance(data, list):
        raise MaterialInputError(f"{args.file}: a list of materials (or materials: [...]) expected")
    ids = set_materials(cfg, data, line=args.line)
    audited(cfg, user, "material.import", Path(args.file).name, f"{len(data)} materials, {len(ids)} line(s)")
    print(f"{len(data)} materials set; the master goes to {len(ids)} line(s)")
    return 0


def cmd_master_list(args: argparse.Namespace) -> int:
    from sync.aggregator.materials import master_data

    data = master_data(_agg(args))
    key = "materials" if args.what == "material" else "boms"

    def show() -> None:
        if key == "materials":
            for m in data["materials"]:
                life = f"{m['shelf_life_days']:g} d" if m.get("shelf_life_days") else "-"
                print(
                    f"{m['id']:<20} {m['unit']:<6} {'lots' if m['lot_controlled'] else 'no lots':<8} "
                    f"{'backflush' if m['backflush'] else 'issue':<10} shelf life {life:<8} {m['name']}"
                )
        else:
            for b in data["boms"]:
                print(f"{b['product']}:")
                for c in b["components"]:
                    print(
                        f"   {c['material']:<20} {c['quantity']:>10.6g} per unit  scrap allowance "
                        f"{c['scrap_allowance']:.1%}  feeder {c['feeder'] or '-'}"
                    )

    return emit(args.json, data[key], show)


def cmd_bom_set(args: argparse.Namespace) -> int:
    from sync.aggregator.materials import parse_component, set_bom

    body = {"product": args.product, "components": [parse_component(c) for c in args.component]}
    cfg = _agg(args)
    user = plant_user(args, cfg, "materials")
    ids = set_bom(cfg, body, line=args.line)
    audited(cfg, user, "bom.set", args.product, ", ".join(args.component))
    print(f"BOM of {args.product} set ({len(body['components'])} components); BOMs go to {len(ids)} line(s)")
    return 0


def cmd_lot_receive(args: argparse.Namespace) -> int:
    from sync.aggregator.materials import receive_lot

    cfg = _agg(args)
    user = plant_user(args, cfg, "materials")
    e = receive_lot(
        cfg,
        material=args.material,
        lot=args.lot,
        quantity=args.quantity,
        expiry=parse_time(args.expiry, "UTC", "--expiry") if args.expiry else None,
        supplier_lot=args.supplier_lot or "",
        status=args.status,
    )
    audited(cfg, user, "lot.receive", e["lot"], f"{e['material']} {e['quantity']:g} {e['status']}")
    print(
        f"lot {e['lot']} ({e['material']}, {e['quantity']:g}) received {e['status']}, expires {_when(e['expiry'])}; "
        f"sent to {len(e['commands'])} line(s)"
    )
    return 0


def _affected(res: dict[str, Any]) -> None:
    made = sorted({(e["child"], e["line"], e["level"]) for e in res["affected"]}, key=lambda x: (x[2], x[0]))
    print(f"{', '.join(res['lots'])}: {res['status']}; sent to {len(res['commands'])} line(s)")
    if made:
        print("made from it (the lines hold these when the status arrives):")
        for child, line, level in made:
            print(f"   {'  ' * (level - 1)}{child:<24} {line}")


def cmd_lot_status(args: argparse.Namespace) -> int:
    from sync.aggregator.materials import set_lot_status

    cfg = _agg(args)
    user = plant_user(args, cfg, "quality")
    res = set_lot_status(cfg, args.lot, args.status, args.reason or "")
    audited(cfg, user, "lot.status", ",".join(args.lot), f"{args.status}: {args.reason or ''}")
    return emit(args.json, res, lambda: _affected(res))


def cmd_lot_recall(args: argparse.Namespace) -> int:
    from sync.aggregator.materials import recall

    cfg = _agg(args)
    user = plant_user(args, cfg, "quality")
    res = recall(cfg, args.supplier_lot, args.reason or "")
    audited(cfg, user, "lot.recall", args.supplier_lot, f"{', '.join(res['lots'])}: {args.reason or ''}")
    return emit(args.json, res, lambda: _affected(res))


def cmd_lot_list(args: argparse.Namespace) -> int:
    from sync.aggregator.materials import lot_list

    rows = lot_list(_agg(args), status=args.status)

    def show() -> None:
        print(f"{'lot':<20} {'material':<16} {'status':<11} {'quantity':>10} {'expiry':<21} supplier lot")
        for r in rows:
            q = f"{r['quantity']:g}" if r["quantity"] is not None else "-"
            print(
                f"{r['lot']:<20} {r['material']:<16} {r['status']:<11} {q:>10} {_when(r['expiry']):<21} {r['supplier_lot']}"
            )

    return emit(args.json, rows, show)


def cmd_lot_reconcile(args: argparse.Namespace) -> int:
    from sync.aggregator.materials import reconcile

    rows = reconcile(_agg(args))

    def show() -> None:
        if not rows:
            print("every lot is released: nothing to reconcile")
        for r in rows:
            used = sum(-m["quantity"] if m["quantity"] < 0 else m["quantity"] for m in r["used_after"])
            print(
                f"{r['lot']:<20} {r['status']:<11} since {_when(r['since'])}: used after {len(r['used_after'])}x "
                f"({used:g}), made {len(r['made_from'])} lot(s), not yet held at the line: "
                f"{', '.join(r['not_held']) or 'none'}"
            )

    return emit(args.json, rows, show)


def cmd_holds(args: argparse.Namespace) -> int:
    from sync.aggregator.materials import holds

    rows = holds(_agg(args), line=args.line, open_only=args.open)

    def show() -> None:
        for r in rows:
            state = "ON HOLD" if r["action"] == "hold" else r["action"]
            print(
                f"{r['line']:<28} {r['hold_id']:<14} {state:<8} {r['target_kind']:<6} {r['target']:<20} "
                f"{r['by']} ({r['source']}): {r['reason']}"
                + (f" [{r['corrective_action']}]" if r["corrective_action"] else "")
            )

    return emit(args.json, rows, show)


def cmd_trace(args: argparse.Namespace) -> int:
    from sync.aggregator.materials import trace

    res = trace(_agg(args), args.id, depth=args.depth)
    if args.json:
        print(json.dumps(res, indent=1, default=str))
        return 0

    def lot_line(lt: str) -> str:
        i = res["lots"].get(lt, {})
        bits = []
        for p in i.get("made", []):
            bits.append(
                f"made on {p['line']} order {p['order_id']} ({p['product']}) {_when(p['start'])}..{_when(p['end'])}"
            )
            if p["spc_alarms"]:
                bits.append(f"{len(p['spc_alarms'])} SPC alarm(s)")
            failed = [x for x in p["inspections"] if not x["passed"]]
            if failed:
                bits.append(f"{len(failed)} failed inspection(s)")
        if "received" in i:
            r = i["received"]
            bits.append(
                f"{r['material']} {r['status']}"
                + (f" (supplier lot {r['supplier_lot']})" if r["supplier_lot"] else "")
            )
        for h in i.get("holds", []):
            bits.append(
                ("ON HOLD" if h["action"] == "hold" else h["action"]) + f" on {h['line']}: {h['reason']}"
            )
        return "; ".join(bits)

    print(f"{args.id}: {lot_line(args.id)}")
    for name, key, arrow in (
        ("backward (what went into it)", "backward", "parent"),
        ("forward (made from it)", "forward", "child"),
    ):
        edges = res[key]
        print(f"{name}:" + ("" if edges else " none"))
        for e in edges:
            qty = f" {e['quantity']:g}" if e["quantity"] is not None else ""
            print(
                f"   {'  ' * (e['level'] - 1)}{e[arrow]:<22} {e['material']}{qty} at {e['line']} {e['location'] or ''}"
                f"  {lot_line(e[arrow])}"
            )
    return 0


def register(asub: Any) -> None:
    def cfg_arg(p: argparse.ArgumentParser) -> None:
        p.add_argument("-c", "--config", required=True, help="aggregator config file (YAML)")

    def line_arg(p: argparse.ArgumentParser) -> None:
        p.add_argument("--line", help="send to this line only (default: every line)")

    m = asub.add_parser("material", help="the material master, sent down to the lines")
    msub = m.add_subparsers(dest="material_command", metavar="ACTION", required=True)
    ma = msub.add_parser("add", help="add or change a material (validated as in a line config)")
    cfg_arg(ma)
    ma.add_argument("--id", required=True, type=id_arg, help="material id")
    ma.add_argument("--name", type=text_arg, help="description")
    ma.add_argument("--unit", default="pcs", type=text_arg, help="unit (default pcs)")
    ma.add_argument("--no-lot-control", action="store_true", help="quantities need no released lot")
    ma.add_argument("--shelf-life-days", type=float_arg(lo=0, hi=36500), help="days from receipt to expiry")
    ma.add_argument("--issue", action="store_true", help="issued explicitly at the line, not backflushed")
    line_arg(ma)
    add_plant_auth(ma, "materials")
    ma.set_defaults(func=cmd_material_add)
    mi = msub.add_parser(
        "import", help="materials from a YAML/JSON file (a list, as material_master: in a line config)"
    )
    cfg_arg(mi)
    mi.add_argument("file", help="YAML or JSON file")
    line_arg(mi)
    add_plant_auth(mi, "materials")
    mi.set_defaults(func=cmd_material_import)
    ml = msub.add_parser("list", help="the plant's material master")
    cfg_arg(ml)
    ml.add_argument("--json", action="store_true", help="machine-readable output")
    ml.set_defaults(func=cmd_master_list, what="material")

    b = asub.add_parser("bom", help="bills of materials, sent down to the lines")
    bsub = b.add_subparsers(dest="bom_command", metavar="ACTION", required=True)
    bs = bsub.add_parser("set", help="set a product's BOM (its materials must be in the plant's master)")
    cfg_arg(bs)
    bs.add_argument(
        "--product", required=True, type=id_arg, help="product id (must be a product of the line)"
    )
    bs.add_argument(
        "--component",
        action="append",
        required=True,
        help="MATERIAL:QTY_PER_UNIT[:SCRAP_ALLOWANCE[:FEEDER]], e.g. preform:1:0.02:F-PREFORM (repeat)",
    )
    line_arg(bs)
    add_plant_auth(bs, "materials")
    bs.set_defaults(func=cmd_bom_set)
    bl = bsub.add_parser("list", help="the plant's BOMs")
    cfg_arg(bl)
    bl.add_argument("--json", action="store_true", help="machine-readable output")
    bl.set_defaults(func=cmd_master_list, what="bom")

    lo = asub.add_parser("lot", help="lots received at the plant and their status (sent to every line)")
    losub = lo.add_subparsers(dest="lot_command", metavar="ACTION", required=True)
    lr = losub.add_parser("receive", help="receive a lot: material, lot, quantity, expiry, supplier lot")
    cfg_arg(lr)
    lr.add_argument("--material", required=True, type=id_arg, help="material (in the plant's master)")
    lr.add_argument("--lot", required=True, type=id_arg, help="lot number (as the lines scan it)")
    lr.add_argument("--quantity", required=True, type=float_arg(lo=0, hi=1e12), help="quantity received")
    lr.add_argument("--expiry", help="expiry (ISO 8601 or epoch; default: receipt + shelf life)")
    lr.add_argument("--supplier-lot", type=text_arg, help="the supplier's lot number")
    lr.add_argument(
        "--status",
        default="released",
        choices=["released", "quarantine"],
        help="released (default) or quarantine until incoming inspection",
    )
    add_plant_auth(lr, "materials")
    lr.set_defaults(func=cmd_lot_receive)
    ls = losub.add_parser(
        "status",
        help="change lots' status; a block reaches each line as a command and holds what was made from them",
    )
    cfg_arg(ls)
    ls.add_argument("lot", nargs="+", type=id_arg, help="lot number(s)")
    ls.add_argument("--status", required=True, choices=["released", "quarantine", "blocked", "expired"])
    ls.add_argument("--reason", type=text_arg, help="why (a recall notice, an inspection)")
    ls.add_argument("--json", action="store_true", help="machine-readable output")
    add_plant_auth(ls, "quality")
    ls.set_defaults(func=cmd_lot_status)
    lc = losub.add_parser("recall", help="block every lot received with a supplier's lot number")
    cfg_arg(lc)
    lc.add_argument("supplier_lot", type=text_arg, help="the supplier's lot number")
    lc.add_argument("--reason", type=text_arg, help="the recall notice")
    lc.add_argument("--json", action="store_true", help="machine-readable output")
    add_plant_auth(lc, "quality")
    lc.set_defaults(func=cmd_lot_recall)
    ll = losub.add_parser("list", help="lots and their status")
    cfg_arg(ll)
    ll.add_argument("--status", choices=["released", "quarantine", "blocked", "expired"], help="only these")
    ll.add_argument("--json", action="store_true", help="machine-readable output")
    ll.set_defaults(func=cmd_lot_list)
    lx = losub.add_parser(
        "reconcile",
        help="lots not released that lines used after the change (e.g. while offline), what was made "
        "from them and what the lines have not held yet",
    )
    cfg_arg(lx)
    lx.add_argument("--json", action="store_true", help="machine-readable output")
    lx.set_defaults(func=cmd_lot_reconcile)

    h = asub.add_parser("holds", help="holds and dispositions as the lines recorded them")
    cfg_arg(h)
    h.add_argument("--line", help="only this line")
    h.add_argument("--open", action="store_true", help="only those still on hold")
    h.add_argument("--json", action="store_true", help="machine-readable output")
    h.set_defaults(func=cmd_holds)

    t = asub.add_parser(
        "trace",
        help="genealogy across lines: backward (what went into a lot) and forward (what was made from it), "
        "with status, holds, SPC alarms and inspections",
    )
    cfg_arg(t)
    t.add_argument("id", type=id_arg, help="a material, intermediate or finished lot or serial")
    t.add_argument("--depth", type=int_arg(lo=1, hi=100), default=20, help="levels each way (default 20)")
    t.add_argument("--json", action="store_true", help="machine-readable output")
    t.set_defaults(func=cmd_trace)
