"""The maintenance report (pure): reliability per asset and per failure mode, the Pareto
of failure modes, mean time between preventive services, preventive-maintenance
compliance and the backlog — from work orders and machine stops. The line
(``lineside maint reliability``) and the plant (``lineside aggregator maint``) build it
from the same records with this one function, so their figures agree."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from edge.logic.maintenance import reliability as rel
from edge.logic.maintenance.plans import compliance, summarize
from edge.logic.maintenance.workorders import WorkOrder


def maintenance_report(
    orders: Mapping[str, WorkOrder], stops: list[rel.Stop], since: float, end: float
) -> dict[str, Any]:
    fails = rel.failures(stops, orders, end)
    assets = sorted({s.machine for s in stops} | {o.asset for o in orders.values()})
    per_asset = {a: r.as_dict() for a, r in rel.by_asset(fails, since, end, assets).items()}
    per_mode = [
        {"asset": a, "mode": m, **r.as_dict()} for (a, m), r in rel.by_mode(fails, since, end).items()
    ]
    states = [
        compliance(
            wo.due,
            tolerance_s=wo.tolerance_s,
            missed_s=wo.missed_s or float("inf"),
            now=end,
            done_ts=wo.finished_at if wo.state == "done" else None,
            cancelled=wo.state == "cancelled",
        )
        for wo in orders.values()
        if wo.plan and wo.due is not None and since <= wo.due < end
    ]
    comp = summarize(states)
    return {
        "since": since,
        "until": end,
        "assets": per_asset,
        "modes": per_mode,
        "pareto": rel.pareto([f for f in fails if since <= f.start < end]),
        "between_services_h": rel.between_services(orders.values()),
        "compliance": {
            "on_time": comp.on_time,
            "late": comp.late,
            "missed": comp.missed,
            "open": comp.open,
            "ratio": comp.ratio,
        },
        "backlog_h": rel.backlog_hours(orders.values()),
        "open_orders": sum(1 for o in orders.values() if o.open),
    }
