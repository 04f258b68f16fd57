"""Scheduling benchmark (``sync.aggregator.scheduling``).

A plant-sized problem (20 lines on two shift calendars, 300 orders over two weeks, 12
products in three families with sequence-dependent changeovers, rostered crews on every
line, 6 moulds of 1–2 copies shared by lines): time to the first feasible plan (target
≤ 5 s), the solver's gap at 10 s and at 60 s, and a replan after a line goes down for 8
hours (first feasible replan ≤ 10 s). Then the published flexible job-shop instances in
``bench/fjsp/`` (Brandimarte mk01–mk03), read by ``import-fjsp`` and solved by our model
and by a plain CP-SAT model with the same deterministic time budget, seed and workers
(the ceiling column): ours must be at least as good on every instance.

The plant figures run on the wall clock (portfolio search, ``deterministic: false``):
they say what a planner waits. The FJSP comparison runs both models in deterministic
mode so that "the same time" is the same amount of solver work whatever else runs on the
machine (wall seconds are printed beside).
"""

from __future__ import annotations

import os
import random
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.table import Row, print_rows
from edge.config.production import CalendarCfg
from sync.aggregator.scheduling.fjsp import makespan, plain_cpsat, read_fjsp, to_problem
from sync.aggregator.scheduling.model import (
    Alternative,
    Objectives,
    Operation,
    Operator,
    Order,
    Problem,
    Product,
    Qualification,
    Resource,
    Routing,
    SolveParams,
    Tool,
)
from sync.aggregator.scheduling.solver import solve

HERE = Path(__file__).resolve().parent
#: Monday 2026-11-23 06:00 Europe/Berlin.
ORIGIN = 1795496400.0
FJSP_BEST = {"mk01": 40, "mk02": 26, "mk03": 204}
WORKERS = min(2, os.cpu_count() or 1)


def plant(seed: int = 1, orders: int = 300, lines: int = 20) -> Problem:
    rnd = random.Random(seed)
    cals = {
        "three": CalendarCfg.model_validate(
            {
                "patterns": [
                    {
                        "name": n,
                        "start": s,
                        "end": e,
                        "days": ["mon", "tue", "wed", "thu", "fri", "sat"],
                        "breaks": [{"start": b, "minutes": 30}],
                    }
                    for n, s, e, b in (
                        ("early", "06:00", "14:00", "10:00"),
                        ("late", "14:00", "22:00", "18:00"),
                        ("night", "22:00", "06:00", "02:00"),
                    )
                ]
            }
        ),
        "two": CalendarCfg.model_validate(
            {
                "patterns": [
                    {"name": n, "start": s, "end": e, "breaks": [{"start": b, "minutes": 30}]}
                    for n, s, e, b in (
                        ("early", "06:00", "14:00", "10:00"),
                        ("late", "14:00", "22:00", "18:00"),
                    )
                ]
            }
        ),
    }
    half = lines // 2
    resources = [Resource(id=f"L{i:02d}", calendar="three" if i < half else "two") for i in range(lines)]
    families = {f: [f"{f}{k}" for k in range(4)] for f in "PQR"}
    products = [Product(id=p, changeover_min=20) for ps in families.values() for p in ps]
    changeovers = {
        a: {b: (15.0 if a[0] == b[0] else 75.0) for b in (p.id for p in products) if b != a}
        for a in (p.id for p in products)
    }
    # Family P and Q on the three-shift lines, R on the two-shift lines; 4 lines each.
    eligible: dict[str, list[str]] = {}
    for _i, p in enumerate(products):
        pool = [r.id for r in resources[:half]] if p.id[0] in "PQ" else [r.id for r in resources[half:]]
        eligible[p.id] = rnd.sample(pool, 4)
    tools = [
        Tool(
            id=f"MOLD-{k}",
            count=1 + k % 2,
            fits=[r.id for r in (resources[:half] if k < 4 else resources[half:])],
        )
        for k in range(6)
    ]
    tool_of = {p.id: f"MOLD-{i % 6}" for i, p in enumerate(products) if (i % 6 < 4) == (p.id[0] in "PQ")}
    routings = []
    for p in products:
        alts = [
            Alternative(
                resource=r,
                rate_per_min=rnd.choice([8.0, 10.0, 12.0, 15.0]),
                crew=rnd.choice([1, 1, 2]),
                tools=[tool_of[p.id]] if p.id in tool_of else [],
            )
            for r in eligible[p.id]
        ]
        routings.append(Routing(product=p.id, operations=[Operation(alternatives=alts)]))
    operators = []
    for cls, shifts, lines_ in (
        ("three", ("early", "late", "night"), resources[:half]),
        ("two", ("early", "late"), resources[half:]),
    ):
        for sh in shifts:
            for k in range(9):
                operators.append(
                    Operator(
                        id=f"{cls}-{sh}-{k}",
                        qualified=[Qualification(resource=r.id) for r in lines_],
                        roster=[sh],
                    )
                )
    two_weeks = 14 * 86400
    order_list = []
    for k in range(orders):
        p = rnd.choice(products)
        release = ORIGIN + rnd.uniform(0, 0.5) * two_weeks if rnd.random() < 0.3 else None
        due = ORIGIN + rnd.uniform(0.15, 1.0) * two_weeks
        order_list.append(
            Order(
                id=f"WO-{k:04d}",
                product=p.id,
                quantity=rnd.randrange(1500, 4000, 100),
                release=release,
                due=due,
                priority=rnd.choice([0, 0, 0, 1, 5]),
            )
        )
    return Problem(
        origin=ORIGIN,
        horizon_h=14 * 24 + 24 * 7,  # two weeks of orders, a week of room past them
        timezone="Europe/Berlin",
        calendars=cals,
        resources=resources,
        products=products,
        changeovers=changeovers,
        routings=routings,
        tools=tools,
        operators=operators,
        orders=order_list,
        objectives=Objectives(weights={"tardiness": 10, "setup": 1}),
    )


def plant_rows() -> list[Row]:
    rows: list[Row] = []
    p = plant()
    t = time.monotonic()
    first = solve(p, SolveParams(time_limit_s=5, workers=WORKERS, deterministic=False))
    first_s = first.first_solution_s or (time.monotonic() - t)
    print(
        f"plant: {len(p.orders)} orders, {len(p.resources)} lines; 5 s: {first.status}, first solution "
        f"{first.first_solution_s} s, objective {first.objective}, bound {first.bound}"
    )
    rows.append(
        Row("plan", "plant: first feasible plan (s)", round(first_s, 2), "<= 5", lower_is_better=True)
    )
    plans: dict[int, Any] = {}
    for limit in (10, 60):
        plan = solve(p, SolveParams(time_limit_s=limit, workers=WORKERS, deterministic=False))
        plans[limit] = plan
        f = plan.figures
        print(
            f"plant {limit} s: {plan.status}, objective {plan.objective}, bound {plan.bound}, gap {plan.gap}, "
            f"late {f.late_orders} ({f.late_min:.0f} min), setup {f.setup_min:.0f} min"
        )
        rows.append(Row("plan", f"plant: gap at {limit} s (%)", round(100 * (plan.gap or 0), 2), "reported"))
        rows.append(Row("plan", f"plant: setup minutes at {limit} s", plan.figures.setup_min, ""))
    # A line goes down for 8 hours an hour into the plan: replan from the 10 s plan.
    released = plans[10].ops
    now = ORIGIN + 3600
    down = p.resources[3].id
    replan = p.model_copy(
        update={
            "origin": now,
            "released": [o for o in released if o.start >= now],
            "in_progress": [o for o in released if o.start < now < o.end and o.resource != down],
            "orders": [o for o in p.orders if not any(x.order == o.id and x.end <= now for x in released)],
            "resources": [
                r.model_copy(update={"down_until": now + 8 * 3600}) if r.id == down else r
                for r in p.resources
            ],
            "frozen_h": 2.0,
            "objectives": Objectives(weights={"tardiness": 10, "setup": 1, "stability": 1}),
        }
    )
    t = time.monotonic()
    again = solve(replan, SolveParams(time_limit_s=10, workers=WORKERS, deterministic=False))
    wall = time.monotonic() - t
    print(
        f"replan: {again.status} in {wall:.1f} s, first solution {again.first_solution_s} s, "
        f"moved {again.figures.moved}, late {again.figures.late_orders}"
    )
    rows.append(
        Row(
            "plan",
            "replan after 8 h down: first feasible (s)",
            round(again.first_solution_s or wall, 2),
            "<= 10",
            lower_is_better=True,
        )
    )
    rows.append(Row("plan", "replan after 8 h down: operations moved", again.figures.moved, ""))
    return rows


def fjsp_rows(limit: float = 10.0) -> list[Row]:
    rows = []
    params = SolveParams(time_limit_s=limit, workers=WORKERS, seed=1, deterministic=True)
    for f in sorted((HERE / "fjsp").glob("*.fjs")):
        inst = read_fjsp(f)
        t = time.monotonic()
        ours = solve(to_problem(inst), params)
        ours_s = time.monotonic() - t
        t = time.monotonic()
        plain, plain_bound, plain_status = plain_cpsat(inst, params)
        plain_s = time.monotonic() - t
        mk = makespan(ours.ops)
        print(
            f"{inst.name}: ours {mk} (bound {ours.bound:.0f}, {ours.status}, {ours_s:.1f} s wall) | plain CP-SAT "
            f"{plain} (bound {plain_bound:.0f}, {plain_status}, {plain_s:.1f} s wall) | best known {FJSP_BEST.get(inst.name)}"
        )
        rows.append(
            Row(
                "plan",
                f"fjsp {inst.name} makespan (best known {FJSP_BEST.get(inst.name)})",
                mk,
                f"<= {plain}",
                float(plain) if plain else None,
                "plain CP-SAT, same budget",
                lower_is_better=True,
            )
        )
        rows.append(
            Row(
                "plan",
                f"fjsp {inst.name} solver bound",
                round(ours.bound or 0, 1),
                "",
                round(plain_bound, 1),
                "plain CP-SAT's bound",
            )
        )
    return rows


def main() -> None:
    load = os.getloadavg()[0]
    print(f"load average {load:.2f} on {os.cpu_count()} cores before the run")
    rows = plant_rows() + fjsp_rows()
    print_rows(rows, f"Scheduling benchmark ({WORKERS} workers; load {load:.2f} at start)")


if __name__ == "__main__":
    main()
