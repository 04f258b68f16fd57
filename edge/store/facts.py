"""Facts of the pure logic → rows: state changes, downtime versions, counts, order changes,
SPC points, alarms and frozen limits, lots read from lot tags, and the maintenance work
orders plans and long stops raise.

``insert_facts`` runs inside the transaction that commits the samples which caused the
facts (``Store.append_samples``), so a crash never leaves a fact without its cause.
Reading facts back is the job of the repository of their domain (``edge.store.production``,
``edge.store.quality``, ``edge.store.genealogy``).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from edge.logic.maintenance.engine import CorrectiveDue, OrderDue
from edge.logic.maintenance.plans import PlcDataFault
from edge.logic.materials.lots import LotConsumed
from edge.logic.production.downtime import DowntimeEvent
from edge.logic.production.line import Changeover, MachineCount, OrderChange, OrderNotice, ReasonImposed
from edge.logic.production.state import StateChange

if TYPE_CHECKING:  # charts pull in numpy: a line without SPC never loads it
    from edge.logic.quality.charts import ChartSpec, Limits

#: Who the line's own records are by.
LINE = "line"


def spec_to_json(spec: ChartSpec) -> str:
    """Frozen control limits as stored in ``spc_limits.spec``."""

    def lim(x: Limits | None) -> Any:
        return (
            None
            if x is None
            else {k: float(getattr(x, k)) for k in ("center", "ucl", "lcl", "point_sigma")}
            | {"chart": x.chart, "n": x.n}
        )

    return json.dumps(
        {
            "kind": spec.kind,
            "sigma_within": spec.sigma_within,
            "primary": lim(spec.primary),
            "secondary": lim(spec.secondary),
        }
    )


def spec_from_json(text: str) -> ChartSpec:
    from edge.logic.quality.charts import ChartSpec, Limits

    d = json.loads(text)

    def lim(x: Any) -> Limits | None:
        return (
            None
            if x is None
            else Limits(x["chart"], x["center"], x["ucl"], x["lcl"], x["point_sigma"], x["n"])
        )

    primary = lim(d["primary"])
    assert primary is not None
    return ChartSpec(d["kind"], primary, lim(d["secondary"]), d["sigma_within"])


def insert_facts(
    db: sqlite3.Connection, facts: Sequence[Any], audit: Callable[..., int] | None = None
) -> None:
    """Insert facts; ``audit`` (``Store.audit``) signs the facts the audit trail holds
    (material lots consumed)."""
    from edge.logic.quality.live import LimitsFrozen, SpcAlarm, SpcPoint

    for f in facts:
        if isinstance(f, SpcPoint):
            db.execute(
                "INSERT INTO spc_points (ts, characteristic, value, dispersion, z, product, n, subgroup) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    f.ts,
                    f.characteristic,
                    f.value,
                    f.dispersion,
                    f.z,
                    f.product,
                    f.n,
                    json.dumps(f.values) if f.values is not None else None,
                ),
            )
        elif isinstance(f, SpcAlarm):
            db.execute(
                "INSERT INTO spc_alarms (ts, characteristic, kind, rule, detail, value, product) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (f.ts, f.characteristic, f.kind, f.rule, f.detail, f.value, f.product),
            )
        elif isinstance(f, LimitsFrozen):
            db.execute(
                "INSERT INTO spc_limits (ts, characteristic, action, spec, by, reason, product) VALUES (?, ?, 'frozen', ?, ?, ?, ?)",
                (
                    f.ts,
                    f.characteristic,
                    spec_to_json(f.spec),
                    LINE,
                    f"{f.reason} ({f.points} points)",
                    f.product,
                ),
            )
        elif isinstance(f, StateChange):
            db.execute(
                "INSERT INTO state_changes (ts, machine, old, new, cause) VALUES (?, ?, ?, ?, ?)",
                (f.ts, f.machine, f.old.value if f.old else None, f.new.value, f.cause),
            )
        elif isinstance(f, DowntimeEvent):
            db.execute(
                "INSERT INTO downtime (event_id, machine, start, end, state, auto_reason, micro) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (f.id, f.machine, f.start, f.end, f.state.value, f.auto_reason, int(f.micro)),
            )
        elif isinstance(f, MachineCount):
            db.execute(
                "INSERT INTO counts (ts, machine, good, scrap, ideal_cycle_s, startup, order_id, product, source) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    f.ts,
                    f.machine,
                    f.good,
                    f.scrap,
                    f.ideal_cycle_s,
                    int(f.startup),
                    f.order,
                    f.product,
                    "unobserved" if f.unobserved else "plc",
                ),
            )
        elif isinstance(f, OrderChange):
            db.execute(
                "INSERT INTO orders (ts, order_id, product, action) VALUES (?, ?, ?, ?)",
                (f.ts, f.order, f.product, f.action),
            )
        elif isinstance(f, ReasonImposed):
            db.execute(
                "INSERT INTO imposed_reasons (ts, machine, source, reason, detail) VALUES (?, ?, ?, ?, ?)",
                (f.ts, f.machine, f.source, f.reason, f.detail),
            )
        elif isinstance(f, Changeover):
            db.execute(
                "INSERT INTO changeovers (ts, action, from_product, to_product, order_id, standard_s) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (f.ts, f.action, f.from_product, f.to_product, f.order, f.standard_s),
            )
        elif isinstance(f, OrderNotice):
            db.execute(
                "INSERT INTO events (ts, kind, source, message, data) VALUES (?, ?, 'line', ?, ?)",
                (f.ts, f"order_{f.kind}", f.message, json.dumps({"order": f.order})),
            )
        elif isinstance(f, PlcDataFault):
            db.execute(
                "INSERT INTO events (ts, kind, source, message, data) VALUES (?, 'plc_data_fault', ?, ?, ?)",
                (f.ts, f.tag, f.detail, json.dumps({"plan": f.plan, "value": f.value})),
            )
        elif isinstance(f, (OrderDue, CorrectiveDue)):
            from edge.store.maintenance_orders import insert_fact

            insert_fact(db, f, audit)
        elif isinstance(f, LotConsumed):
            db.execute(
                "INSERT INTO consumed (ts, material_lot, material, order_id, source, by) VALUES (?, ?, ?, ?, 'tag', ?)",
                (f.ts, f.material_lot, f.material, f.order, LINE),
            )
            if audit is not None:
                audit(
                    who=LINE,
                    action="trace.consumed",
                    entity=f.material_lot,
                    new={"material": f.material, "order": f.order, "source": "tag"},
                    meaning="performed",
                    ts=f.ts,
                )
