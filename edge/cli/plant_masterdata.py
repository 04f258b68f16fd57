"""``lineside aggregator products|reasons|operators|materials push``: master data from
the plant down to one line, an area or every line (``sync.aggregator.masterdata``)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from edge.cli.common import int_arg
from edge.cli.plant_auth import add_plant_auth, note, plant_user

WHAT = {
    "products": "the product list (id, name, ideal cycle time, …) as in a line config's products:",
    "reasons": "the downtime reason tree as in a line config's reasons:",
    "operators": "the operators who may log in (badge, name, role, PIN hash only) as in a line config's operators:",
}


def cmd_push(args: argparse.Namespace) -> int:
    from sync.aggregator.config import load_aggregator_config
    from sync.aggregator.masterdata import load_items, push, push_materials, targets

    cfg = load_aggregator_config(args.config)
    user = plant_user(args, cfg, "admin")
    keys = targets(cfg, line=args.line, area=args.area, all_lines=args.all)
    if args.kind == "materials":
        what = "material master and BOMs"
        ids = push_materials(cfg, keys, audit=note(user, f"{args.kind}.push", what))
    else:
        path = Path(args.file)
        items = load_items(path, args.kind)
        what = f"{len(items)} {args.kind}"
        ids = push(
            cfg, args.kind, items, keys, where=f"{path}: ", audit=note(user, f"{args.kind}.push", what)
        )
    print(f"queued {what} for {len(keys)} line(s): {', '.join(keys)}")
    print(f"commands: {', '.join(ids)} (lineside aggregator commands shows the lines' answers)")
    return 0


def register(asub: Any) -> None:
    for kind in ("products", "reasons", "operators", "materials"):
        text = WHAT.get(kind, "the plant's material master and BOMs (lineside aggregator material …)")
        p = asub.add_parser(kind, help=f"send {text.split(' (')[0].split(' as in')[0]} down to lines")
        psub = p.add_subparsers(dest=f"{kind}_command", metavar="ACTION", required=True)
        if kind == "materials":
            first = (
                "Takes no file: it sends what the plant holds (set with lineside aggregator material "
                "add|import and bom set) again, e.g. to a line added later or whose config was reset; "
                "nothing is queued while the plant's master is empty"
            )
            help_ = "send the plant's material master and BOMs to one line, an area or all lines"
            checks = " (a BOM's product must be one the line makes, its materials in the master)"
        else:
            first = "The file is checked here first (nothing is queued while anything is wrong)"
            help_ = f"send {kind} to one line, an area or all lines (validated here and at the line)"
            checks = ""
        pp = psub.add_parser(
            "push",
            help=help_,
            description=f"Send {text} to the lines as commands. {first}; each line checks again with "
            f"its config's cross-checks{checks}, applies and audits it, and answers (lineside "
            "aggregator commands). A line that is offline gets it when it returns. "
            "What is pushed replaces the line config's section.",
        )
        pp.add_argument("-c", "--config", required=True, help="aggregator config file (YAML)")
        if kind != "materials":
            pp.add_argument(
                "file", help=f"YAML or JSON: a list, a mapping with {kind}: [...], or a line config"
            )
        to = pp.add_mutually_exclusive_group(required=True)
        to.add_argument("--line", help="one line (its key e/s/a/l, or its name when unique)")
        to.add_argument("--area", help="every line of an area (AREA or SITE/AREA)")
        to.add_argument("--all", action="store_true", help="every line of the aggregator config")
        add_plant_auth(pp, "admin")
        pp.set_defaults(func=cmd_push, kind=kind)


def cmd_erp_outbox(args: argparse.Namespace) -> int:
    from edge.cli.common import emit
    from sync.aggregator import erp_store
    from sync.aggregator.config import load_aggregator_config
    from sync.aggregator.store import open_store

    store = open_store(load_aggregator_config(args.config))
    try:
        rows = erp_store.outbox(store, limit=args.limit)
    finally:
        store.close()

    def show() -> None:
        for r in rows:
            print(
                f"{r['id']:<38} {r['line']:<28} {r['order_id'] or '(line)':<14} "
                f"{r['kind'] + (' ' + r['period'] if r['period'] else ''):<24} {r['state']:<8} "
                f"{r['attempts']:>3} tries  good {r['body'].get('good', 0)} scrap {r['body'].get('scrap', 0)}"
                f"  {r['last_error']}"
            )

    return emit(args.json, rows, show)


def register_erp(asub: Any) -> None:
    e = asub.add_parser(
        "erp", help="ERP confirmations of completed orders, shifts, hours (erp: in the aggregator config)"
    )
    esub = e.add_subparsers(dest="erp_command", metavar="ACTION", required=True)
    o = esub.add_parser(
        "outbox",
        help="confirmations queued and sent, newest first",
        description="Each confirmation of a completed order, or of a line's or an order's shift or hour "
        "(erp.periods; good, scrap by reason, start, end, run and down time, lots consumed and "
        "produced) with its idempotency key, kind and period, state (pending until the ERP "
        "acknowledged it, then sent), tries and the last error.",
    )
    o.add_argument("-c", "--config", required=True, help="aggregator config file (YAML)")
    o.add_argument("--limit", type=int_arg(1, 100_000), default=50, help="at most this many (default 50)")
    o.add_argument("--json", action="store_true", help="machine-readable output (with the bodies)")
    o.set_defaults(func=cmd_erp_outbox)
