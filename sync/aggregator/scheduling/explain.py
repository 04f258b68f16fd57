"""Why there is no plan, in plain words: which orders cannot meet which constraints.

The model is built again with every hard constraint of every order behind an
assumption literal, one per (order, constraint group): the planning horizon, its
release, its material gates, its deadline, its frozen position, the maintenance and down
time of its resources, its crew and its tools. CP-SAT solved under all assumptions
returns a set of them that is infeasible on its own (an infeasible core); a deletion
pass then drops every assumption the core does not need (solve without it: still
infeasible → it was not needed), which leaves a small set of orders and constraints
that cannot hold together. That set is written out with the figures that make it so:
the dates, the working minutes the order needs on each resource it can use, the
maintenance windows, the crew and the tools.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from sync.aggregator.scheduling.model import Conflict, SolveParams
from sync.aggregator.scheduling.prepare import Prepared, Task

#: At most this many solves to shrink a core, and this long each.
MAX_SHRINK = 24
SHRINK_LIMIT_S = 2.0


def explain(prep: Prepared, params: SolveParams | None, build: Callable[..., Any]) -> list[Conflict]:
    """``build(prep, explain=True)`` makes the model with assumption literals (the
    solver's builder, passed in so that this module does not import the solver)."""
    from ortools.sat.python import cp_model

    params = params or SolveParams()
    b = build(prep, explain=True)
    keys = sorted(b.lits)
    solver = cp_model.CpSolver()
    solver.parameters.num_workers = 1  # the core is reported by the sequential search
    solver.parameters.random_seed = params.seed
    solver.parameters.max_time_in_seconds = min(params.time_limit_s, 20.0)

    def infeasible(assumed: list[tuple[str, str]], limit: float) -> tuple[bool, list[tuple[str, str]]]:
        b.model.clear_assumptions()
        b.model.add_assumptions([b.lits[k] for k in assumed])
        solver.parameters.max_time_in_seconds = limit
        st = solver.solve(b.model)
        if st != cp_model.INFEASIBLE:
            return False, []
        core_idx = set(solver.sufficient_assumptions_for_infeasibility())
        return True, [k for k in assumed if b.lits[k].index in core_idx]

    bad, core = infeasible(keys, min(params.time_limit_s, 20.0))
    if not bad:
        return [
            Conflict(
                orders=[],
                groups=[],
                text="no plan was found in time, and no conflict between orders could be shown: "
                "give the solver more time (--time-limit)",
            )
        ]
    core = core or keys
    deadline = time.monotonic() + MAX_SHRINK * SHRINK_LIMIT_S
    for k in list(core):
        if len(core) <= 1 or time.monotonic() > deadline:
            break
        trial = [x for x in core if x != k]
        still, smaller = infeasible(trial, SHRINK_LIMIT_S)
        if still:
            core = [x for x in trial if x in set(smaller)] or trial
    if not core:
        return [
            Conflict(orders=[], groups=[], text="the operations running now or frozen overlap each other")
        ]
    return [_words(prep, core)]


def _words(prep: Prepared, core: list[tuple[str, str]]) -> Conflict:
    tasks: dict[str, list[Task]] = {}
    for t in prep.tasks:
        tasks.setdefault(t.order.id, []).append(t)
    by_order: dict[str, list[str]] = {}
    for oid, group in core:
        by_order.setdefault(oid, []).append(group)
    parts = []
    for oid, groups in by_order.items():
        ts = tasks[oid]
        wants = [_want(prep, ts, g) for g in sorted(set(groups), key=_ORDER.index)]
        parts.append((oid, wants, _needs(prep, ts)))
    if len(parts) == 1:
        oid, wants, needs = parts[0]
        text = f"order {oid} cannot {_and(wants)}: {needs}"
    else:
        ids = _and([p[0] for p in parts])
        each = "; ".join(f"{oid} must {_and(wants)} ({needs})" for oid, wants, needs in parts)
        shared = _shared(prep, [tasks[p[0]] for p in parts])
        text = f"orders {ids} cannot all be planned: {each}" + (
            f"; they compete for {shared}" if shared else ""
        )
    return Conflict(
        orders=list(by_order),
        groups=sorted({g for _, g in core}, key=_ORDER.index),
        text=text,
    )


_ORDER = ["frozen", "release", "material", "maintenance", "crew", "tool", "deadline", "horizon"]


def _and(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _resources(ts: list[Task]) -> list[str]:
    return sorted({a.resource for t in ts for a in t.alts})


def _want(prep: Prepared, ts: list[Task], group: str) -> str:
    order = ts[0].order
    fmt = prep.fmt
    if group == "horizon":
        return f"finish within the planning horizon (by {fmt(prep.clock(prep.horizon))})"
    if group == "deadline":
        assert order.deadline is not None
        return f"end by its deadline {fmt(order.deadline)}"
    if group in ("release", "material"):
        gates = [f"{what} ({fmt(at)})" for g, what, at in ts[0].gates if g == group]
        return ("wait for " if group == "material" else "not start before ") + _and(gates)
    if group == "frozen":
        fixed = [t.fixed for t in ts if t.fixed is not None]
        if any(t.running for t in ts):
            f = fixed[0]
            return f"keep running on {f.resource} until {fmt(f.end)}"
        return _and([f"stay frozen on {f.resource} from {fmt(f.start)}" for f in fixed])
    if group == "maintenance":
        spans = [f"{r} {what}" for r in _resources(ts) for _a, _b, what in prep.blocked[r]]
        return "keep clear of " + _and(spans or ["maintenance"])
    if group == "crew":
        out = []
        for t in ts:
            for a in t.alts:
                if a.crew:
                    pools = [prep.pools[i] for i in a.pools]
                    who = "; ".join(
                        pl.label + (f" (rostered {', '.join(pl.roster)})" if pl.roster else "")
                        for pl in pools
                    )
                    out.append(f"{a.crew} qualified operators on {a.resource} ({who})")
        return "get " + _and(sorted(set(out)) or ["its crew"])
    if group == "tool":
        tools = {t.id: t for t in prep.problem.tools}
        names = sorted({tid for t in ts for a in t.alts for tid in a.tools})
        descs = []
        for tid in names:
            tool = tools[tid]
            life = f", {tool.life_cycles} cycles of life left" if tool.life_cycles is not None else ""
            cyc = max((a.cycles.get(tid, 0) for t in ts for a in t.alts), default=0)
            descs.append(
                f"tool {tid} ({tool.count} cop{'y' if tool.count == 1 else 'ies'}{life}; it takes {cyc} cycles)"
            )
        return "get " + _and(descs or ["its tools"])
    return group


def _needs(prep: Prepared, ts: list[Task]) -> str:
    ops = []
    for t in ts:
        alts = " or ".join(f"{a.work_min:.0f} min on {a.resource}" for a in t.alts)
        ops.append(alts)
    return "it needs " + "; then ".join(ops) + " (working time)"


def _shared(prep: Prepared, groups: list[list[Task]]) -> str:
    sets: list[set[str]] = []
    for ts in groups:
        s: set[str] = set()
        for t in ts:
            for a in t.alts:
                s.add(a.resource)
                s |= {f"tool {x}" for x in a.tools}
                s |= {f"the crew {prep.pools[i].label}" for i in a.pools}
        sets.append(s)
    common: Any = set.intersection(*sets) if sets else set()
    return _and(sorted(common)) if common else ""
