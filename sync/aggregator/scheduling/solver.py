"""The CP-SAT scheduler: interval variables on each resource's working-time axis
(``axis``), one optional interval per alternative resource of every operation, and the
best plan found within the time limit with the solver's bound and the gap.

* **Resources:** ``AddNoOverlap`` over the operations' intervals and fixed intervals for
  maintenance and down time (work does not straddle them); where changeovers exist, an
  ``AddCircuit`` over the operations that may run there (optional nodes) whose arcs carry
  the sequence-dependent changeover: the successor starts no earlier than the
  predecessor's end plus the product → product minutes (the first from the resource's
  current product). Work pauses over breaks and non-working days because every interval
  lives on the working-time axis.
* **Crews:** operators with the same qualifications form a pool; each pool is an
  ``AddCumulative`` whose capacity follows the rosters (fixed intervals take what is not
  rostered at each moment, so a long operation is handed from one shift's crew to the
  next). An operation needing N people takes them from the pools qualified for its
  resource and product (split across pools when several are; the split holds for the
  whole operation).
* **Tools:** an ``AddCumulative`` per tool with its copies as capacity (fixed intervals
  for its maintenance), only on resources it fits; its life in cycles caps the cycles
  planned on it.
* **Energy:** the tariff is mapped onto the axis; an operation pays kW × price for every
  working minute it overlaps a segment (exact: overlap variables for the segments dearer
  than the cheapest price).
* **Objectives:** weighted tardiness (working minutes past the due date × 1 + priority),
  setup minutes, energy cost, plan stability (minutes moved from the released start, and
  a penalty for another resource), makespan; a weighted sum or a lexicographic order
  (each stage bounded by the best value of the ones before it, the time split evenly).

**Determinism.** With ``SolveParams.deterministic`` (the default) the search is CP-SAT's
interleaved search (``interleave_search``) over ``workers`` workers with ``random_seed``
and a limit in *deterministic* time: the same problem, seed and workers give the same
plan on any machine and under any load. (A wall-clock safety stop at 3× the limit + 10 s
only matters on a machine too slow to reach the deterministic limit.) Without it, the
parallel portfolio runs against the wall clock: often better, not repeatable.

OR-Tools is imported when a model is built, never at import: a line agent, the uplink
and the aggregator's ingest never load it.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sync.aggregator.scheduling.explain import explain
from sync.aggregator.scheduling.model import (
    Conflict,
    Figures,
    ObjectiveName,
    Plan,
    PlannedOp,
    Problem,
    SolveParams,
)
from sync.aggregator.scheduling.prepare import Alt, Prepared, Task, prepare

if TYPE_CHECKING:
    from ortools.sat.python import cp_model

#: Integer scale of the weighted objective (weights may be fractions).
SCALE = 1000
#: Energy is counted in thousandths of the currency inside the model.
ENERGY_SCALE = 1000


@dataclass
class AltVars:
    alt: Alt
    task: Task
    present: Any
    start: Any
    end: Any
    interval: Any
    crew_take: dict[int, Any] = field(default_factory=dict)
    """Pool → people taken from it (a variable when several pools qualify)."""
    tool_present: dict[str, Any] = field(default_factory=dict)
    """Explain mode: tool → whether its use counts (present and not relaxed)."""


@dataclass
class Built:
    model: cp_model.CpModel
    prep: Prepared
    alts: list[AltVars]
    by_task: dict[tuple[str, int], list[AltVars]]
    terms: dict[str, Any]
    lits: dict[tuple[str, str], Any] = field(default_factory=dict)
    """(order, group) → assumption literal (explain mode)."""
    hinted: bool = False
    """A complete feasible solution is hinted (the warm start)."""


class _Builder:
    def __init__(self, prep: Prepared, *, explain: bool = False) -> None:
        from ortools.sat.python import cp_model

        self.cp = cp_model
        self.m = cp_model.CpModel()
        self.prep = prep
        self.p = prep.problem
        self.explain = explain
        self.alts: list[AltVars] = []
        self.by_task: dict[tuple[str, int], list[AltVars]] = {}
        self.lits: dict[tuple[str, str], Any] = {}
        self.terms: dict[str, Any] = {}
        self.spans: dict[tuple[str, int], tuple[Any, Any, str | None] | None] = {}

    # ------------------------------------------------------------------ helpers

    def lit(self, order: str, group: str) -> Any:
        """The assumption literal of (order, group) in explain mode; None otherwise."""
        if not self.explain:
            return None
        key = (order, group)
        if key not in self.lits:
            self.lits[key] = self.m.new_bool_var(f"enf[{order},{group}]")
        return self.lits[key]

    @staticmethod
    def enforce(ct: Any, *lits: Any) -> None:
        ls = [x for x in lits if x is not None]
        if ls:
            ct.only_enforce_if(ls)

    def bound(self, cls: str | None) -> int:
        """Largest end on the axis of ``cls`` the variables may take."""
        axis = self.prep.axes[cls]
        if self.explain:
            return axis.total
        return axis.work_at(self.prep.horizon)

    def both(self, a: Any, b: Any, name: str) -> Any:
        """A literal for a ∧ b (b None: a)."""
        if b is None:
            return a
        c = self.m.new_bool_var(name)
        self.m.add_implication(c, a)
        self.m.add_implication(c, b)
        self.m.add_bool_or([c, a.negated(), b.negated()])
        return c

    # ------------------------------------------------------------------ model

    def build(self) -> Built:
        for t in self.prep.tasks:
            self._task(t)
        self._precedences()
        self._resources()
        self._crews()
        self._tools()
        self._objectives()
        return Built(self.m, self.prep, self.alts, self.by_task, self.terms, self.lits)

    def _task(self, t: Task) -> None:
        m, prep = self.m, self.prep
        oid = t.order.id
        alts: list[AltVars] = []
        single = len(t.alts) == 1
        classes = {a.cls for a in t.alts}
        # Alternatives on one axis share the task's start and end (each interval has its
        # own length): the strong formulation of a flexible job shop.
        shared: tuple[Any, Any] | None = None
        if len(classes) == 1:
            cls = next(iter(classes))
            ub = self.bound(cls)
            lo = min(self._dur(t, a) for a in t.alts)
            shared = (
                m.new_int_var(0, max(0, ub - lo), f"s[{oid}/{t.op}]"),
                m.new_int_var(lo, max(lo, ub), f"e[{oid}/{t.op}]"),
            )
            self.spans[(oid, t.op)] = (*shared, cls)
        else:
            self.spans[(oid, t.op)] = None
        for a in t.alts:
            axis = prep.axes[a.cls]
            ub = self.bound(a.cls)
            name = f"{oid}/{t.op}@{a.resource}"
            present = m.new_bool_var(f"p[{name}]")
            if single:
                m.add(present == 1)
            dur = self._dur(t, a)
            if shared is not None:
                s, e = shared
            else:
                s = m.new_int_var(0, max(0, ub - dur), f"s[{name}]")
                e = m.new_int_var(dur, max(dur, ub), f"e[{name}]")
            iv = m.new_optional_interval_var(s, dur, e, present, f"i[{name}]")
            alts.append(AltVars(a, t, present, s, e, iv))
            if shared is not None and a is not t.alts[0]:
                continue  # the shared variables carry the rest once
            on = None if shared is not None else present
            # Gates: release and materials (first operation).
            for group, _what, at in t.gates:
                self.enforce(m.add(s >= axis.work_at(prep.unit_ceil(at))), on, self.lit(oid, group))
            if t.order.deadline is not None and t.last:
                dl = axis.work_at(prep.unit(t.order.deadline))
                self.enforce(m.add(e <= dl), on, self.lit(oid, "deadline"))
            if self.explain:
                self.enforce(m.add(e <= axis.work_at(prep.horizon)), on, self.lit(oid, "horizon"))
        if not single:
            m.add_exactly_one([av.present for av in alts])
        if t.fixed is not None:
            lit = self.lit(oid, "frozen")
            match = [av for av in alts if av.alt.resource == t.fixed.resource]
            if match:
                av = match[0]
                axis = prep.axes[av.alt.cls]
                at = 0 if t.running else axis.work_at(prep.unit(t.fixed.start))
                self.enforce(m.add(av.present == 1), lit)
                self.enforce(m.add(av.start == at), lit)
        self.alts.extend(alts)
        self.by_task[(oid, t.op)] = alts

    def _dur(self, t: Task, a: Alt) -> int:
        if t.running and t.fixed is not None and t.fixed.resource == a.resource:
            return max(1, self.prep.axes[a.cls].work_at(self.prep.unit_ceil(t.fixed.end)))
        return a.dur

    def _precedences(self) -> None:
        from sync.aggregator.scheduling.model import ModelError

        by_order: dict[str, list[Task]] = {}
        for t in self.prep.tasks:
            by_order.setdefault(t.order.id, []).append(t)
        for oid, tasks in by_order.items():
            if len(tasks) < 2:
                continue
            prev = None
            for t in tasks:
                span = self.spans[(oid, t.op)]
                if span is None:
                    raise ModelError(
                        f"order {oid}: operation {t.op + 1} may run on resources with different calendars; "
                        "operations that follow each other are scheduled on one calendar"
                    )
                if prev is not None:
                    if prev[2] != span[2]:
                        raise ModelError(
                            f"order {oid}: operations {t.op} and {t.op + 1} run on resources with different "
                            "calendars; operations that follow each other are scheduled on one calendar"
                        )
                    self.m.add(span[0] >= prev[1])
                prev = span

    def _resources(self) -> None:
        m, prep = self.m, self.prep
        on: dict[str, list[AltVars]] = {r: [] for r in prep.resources}
        for av in self.alts:
            on[av.alt.resource].append(av)
        setup_terms: list[Any] = []
        for rid, avs in on.items():
            res = prep.resources[rid]
            fixed = []
            for a, b, _what in prep.blocked[rid]:
                if self.explain:
                    continue  # per operation below, so that each can be relaxed
                fixed.append(m.new_interval_var(a, b - a, b, f"blk[{rid},{a}]"))
            if self.explain:
                for av in avs:
                    lit = self.lit(av.task.order.id, "maintenance")
                    for a, b, _what in prep.blocked[rid]:
                        before = m.new_bool_var("")
                        self.enforce(m.add(av.end <= a), before, av.present, lit)
                        self.enforce(m.add(av.start >= b), before.negated(), av.present, lit)
            if not avs:
                continue
            m.add_no_overlap([av.interval for av in avs] + fixed)
            products = {av.task.order.product for av in avs}
            cur = res.current_product
            needs_setup = any(
                prep.setup_units(rid, a, b) > 0
                for a in products | ({cur} if cur else set())
                for b in products
            )
            if not needs_setup:
                continue
            down = max((b for a, b, _ in prep.blocked[rid] if a == 0), default=0)
            arcs: list[tuple[int, int, Any]] = []
            for i, av in enumerate(avs, start=1):
                first = m.new_bool_var("")
                last = m.new_bool_var("")
                arcs.append((0, i, first))
                arcs.append((i, 0, last))
                arcs.append((i, i, av.present.negated()))
                su = prep.setup_units(rid, cur, av.task.order.product)
                if su or down:
                    m.add(av.start >= down + su).only_enforce_if(first)
                if su:
                    setup_terms.append(su * first)
            for i, x in enumerate(avs, start=1):
                for j, y in enumerate(avs, start=1):
                    if i == j or (x.task.order.id == y.task.order.id and x.task.op > y.task.op):
                        continue
                    lit = m.new_bool_var("")
                    su = prep.setup_units(rid, x.task.order.product, y.task.order.product)
                    m.add(y.start >= x.end + su).only_enforce_if(lit)
                    arcs.append((i, j, lit))
                    if su:
                        setup_terms.append(su * lit)
            arcs.append((0, 0, m.new_bool_var("")))  # a resource left empty
            m.add_circuit(arcs)
        self.terms["setup"] = sum(setup_terms) if setup_terms else 0

    def _crews(self) -> None:
        m, prep = self.m, self.prep
        per_pool: dict[int, list[tuple[Any, Any]]] = {pl.index: [] for pl in prep.pools}
        for av in self.alts:
            a = av.alt
            if not a.crew:
                continue
            lit = self.lit(av.task.order.id, "crew")
            iv = av.interval
            if lit is not None:
                pres = self.both(av.present, lit, "")
                iv = m.new_optional_interval_var(av.start, a.dur, av.end, pres, "")
            if len(a.pools) == 1:
                av.crew_take[a.pools[0]] = a.crew
                per_pool[a.pools[0]].append((iv, a.crew))
                continue
            takes = []
            for pi in a.pools:
                n = m.new_int_var(0, min(a.crew, prep.pools[pi].size), "")
                av.crew_take[pi] = n
                per_pool[pi].append((iv, n))
                takes.append(n)
            self.enforce(m.add(sum(takes) == a.crew), av.present, lit)
        for pl in prep.pools:
            items = per_pool[pl.index]
            if not items:
                continue
            ivs = [iv for iv, _ in items]
            dem = [d for _, d in items]
            for lo, hi, count in pl.profile:
                if count < pl.size:  # fewer rostered: the rest of the capacity is taken
                    ivs.append(m.new_interval_var(lo, hi - lo, hi, ""))
                    dem.append(pl.size - count)
            m.add_cumulative(ivs, dem, pl.size)

    def _tools(self) -> None:
        m, prep = self.m, self.prep
        uses: dict[str, list[tuple[Any, AltVars]]] = {t.id: [] for t in self.p.tools}
        for av in self.alts:
            if not av.alt.tools:
                continue
            lit = self.lit(av.task.order.id, "tool")
            iv, pres = av.interval, av.present
            if lit is not None:
                pres = self.both(av.present, lit, "")
                iv = m.new_optional_interval_var(av.start, av.alt.dur, av.end, pres, "")
            for tid in av.alt.tools:
                uses[tid].append((iv, av))
                av.tool_present[tid] = pres
        for tool in self.p.tools:
            items = uses[tool.id]
            if not items:
                continue
            ivs = [iv for iv, _ in items]
            dem = [1] * len(ivs)
            for a, b in prep.tool_blocked[tool.id]:
                ivs.append(m.new_interval_var(a, b - a, b, ""))
                dem.append(tool.count)
            if tool.count == 1:
                m.add_no_overlap(ivs)
            else:
                m.add_cumulative(ivs, dem, tool.count)
            if tool.life_cycles is not None:
                terms = []
                for _iv, av in items:
                    pres = av.tool_present.get(tool.id, av.present)
                    if av.alt.cycles.get(tool.id):
                        terms.append(av.alt.cycles[tool.id] * pres)
                if terms:
                    m.add(sum(terms) <= tool.life_cycles)

    def _objectives(self) -> None:
        m, prep, p = self.m, self.prep, self.p
        wanted = set(p.objectives.lexicographic or [k for k, w in p.objectives.weights.items() if w > 0])
        if self.explain:
            return
        # Tardiness: weight × working units past the due date, on the last operation.
        tard = []
        if "tardiness" in wanted:
            for key, avs in self.by_task.items():
                t = avs[0].task
                if not t.last or t.order.due is None:
                    continue
                shared = self.spans[key] is not None
                for av in avs[:1] if shared else avs:
                    due = prep.axes[av.alt.cls].work_at(prep.unit(t.order.due))
                    if self.bound(av.alt.cls) <= due:
                        continue  # can never be late
                    late = m.new_int_var(0, self.bound(av.alt.cls), "")
                    ct = m.add(late >= av.end - due)
                    if not shared:
                        ct.only_enforce_if(av.present)
                    tard.append(t.order.weight * late)
        self.terms["tardiness"] = sum(tard) if tard else 0
        # Energy: kW × price over the working units an operation covers.
        energy = []
        if "energy" in wanted and prep.prices:
            unit_h = p.unit_s / 3600
            for av in self.alts:
                if av.alt.kw <= 0:
                    continue
                segs = prep.prices.get(av.alt.cls, [])
                if not segs:
                    continue
                base = min(v for _, _, v in segs)
                energy.append(round(av.alt.kw * unit_h * base * av.alt.dur * ENERGY_SCALE) * av.present)
                ub = self.bound(av.alt.cls)
                for a, b, price in segs:
                    extra = price - base
                    if extra <= 0 or a >= ub:
                        continue
                    coef = round(av.alt.kw * unit_h * extra * ENERGY_SCALE)
                    if coef <= 0:
                        continue
                    lo = m.new_int_var(0, ub, "")
                    hi = m.new_int_var(0, ub, "")
                    m.add_max_equality(lo, [av.start, a])
                    m.add_min_equality(hi, [av.end, b])
                    ov = m.new_int_var(0, min(b - a, av.alt.dur), "")
                    m.add(ov >= hi - lo).only_enforce_if(av.present)
                    energy.append(coef * ov)
        self.terms["energy"] = sum(energy) if energy else 0
        # Stability: released operations moved in time or to another resource.
        stab = []
        if "stability" in wanted:
            move = max(1, round(p.objectives.move_penalty_min * 60 / p.unit_s))
            for avs in self.by_task.values():
                t = avs[0].task
                rel = t.released
                if rel is None or t.fixed is not None:
                    continue
                same = [av for av in avs if av.alt.resource == rel.resource]
                if not same:
                    continue
                av = same[0]
                old = prep.axes[av.alt.cls].work_at(prep.unit(rel.start))
                dev = m.new_int_var(0, self.bound(av.alt.cls), "")
                m.add(dev >= av.start - old).only_enforce_if(av.present)
                m.add(dev >= old - av.start).only_enforce_if(av.present)
                stab.append(dev)
                if len(avs) > 1:
                    stab.append(move - move * av.present)
        self.terms["stability"] = sum(stab) if stab else 0
        # Makespan (flexible job shops): the latest end on one axis.
        if "makespan" in wanted and self.alts:
            ub = max(self.bound(av.alt.cls) for av in self.alts)
            mk = m.new_int_var(0, ub, "makespan")
            self._makespan_cuts(mk)
            for key, avs in self.by_task.items():
                if not avs[0].task.last:
                    continue
                if self.spans[key] is not None:
                    m.add(mk >= avs[0].end)
                else:
                    for av in avs:
                        m.add(mk >= av.end).only_enforce_if(av.present)
            self.terms["makespan"] = mk
        else:
            self.terms["makespan"] = 0

    def _makespan_cuts(self, mk: Any) -> None:
        """Redundant constraints that tighten the makespan's bound: every order's chain of
        shortest operations, and all work over all resources of one axis as one
        cumulative (capacity: the number of resources)."""
        m = self.m
        chain: dict[str, int] = {}
        for t in self.prep.tasks:
            chain[t.order.id] = chain.get(t.order.id, 0) + min(a.dur for a in t.alts)
        if chain:
            m.add(mk >= max(chain.values()))
        by_cls: dict[str | None, list[AltVars]] = {}
        for av in self.alts:
            by_cls.setdefault(av.alt.cls, []).append(av)
        for cls, avs in by_cls.items():
            n = sum(1 for r, c in self.prep.res_cls.items() if c == cls)
            if n > 1 and all(not b for r, b in self.prep.blocked.items() if self.prep.res_cls[r] == cls):
                m.add_cumulative([av.interval for av in avs], [1] * len(avs), n)
                work = sum(min(a.dur for a in t.alts) for t in self.prep.tasks if t.alts[0].cls == cls)
                m.add(mk * n >= work)


def build(prep: Prepared, *, explain: bool = False) -> Built:
    return _Builder(prep, explain=explain).build()


# ----------------------------------------------------------------------------- solving


def _factor(p: Problem, name: str) -> float:
    """Model units of an objective → what its weight is per (minutes or currency)."""
    per_min = p.unit_s / 60
    return {"tardiness": per_min, "setup": per_min, "stability": per_min, "makespan": per_min}.get(
        name, 1 / ENERGY_SCALE
    )


#: Above this many alternatives, presolve is kept light (no probing, one round): on a
#: plant-sized model the full presolve alone takes longer than a planner waits.
LIGHT_PRESOLVE = 400
#: From this many alternatives on, the solver starts from the greedy plan.
WARM_START_MIN = 400


def _params(solver: Any, params: SolveParams, limit: float, size: int = 0) -> None:
    sp = solver.parameters
    if size > LIGHT_PRESOLVE:
        sp.cp_model_probing_level = 0
        sp.max_presolve_iterations = 1
    sp.random_seed = params.seed
    sp.num_workers = params.workers
    if params.deterministic:
        sp.interleave_search = True
        sp.max_deterministic_time = limit
        sp.max_time_in_seconds = 3 * limit + 10
    else:
        sp.max_time_in_seconds = limit


def _hint(b: Built) -> None:
    prep = b.prep
    for _key, avs in b.by_task.items():
        rel = avs[0].task.released
        if rel is None:
            continue
        for av in avs:
            on = av.alt.resource == rel.resource
            if len(avs) > 1:
                b.model.add_hint(av.present, on)
            if on:
                b.model.add_hint(av.start, prep.axes[av.alt.cls].work_at(prep.unit(rel.start)))


def _warm_start(b: Built, params: SolveParams) -> bool:
    """Start from the greedy plan: hint its choices, let CP-SAT complete every other
    variable with them fixed (changeover arcs, crew splits, objective terms), then hint
    that complete, feasible solution. False when the greedy pass or the completion
    failed (the solver then searches from the plan in force, or from nothing)."""
    from ortools.sat.python import cp_model

    from sync.aggregator.scheduling.greedy import greedy_plan

    placed = greedy_plan(b.prep)
    if placed is None or len(placed) != len(b.by_task):
        return False
    for key, (k, s, _e) in placed.items():
        avs = b.by_task[key]
        for i, av in enumerate(avs):
            if len(avs) > 1:
                b.model.add_hint(av.present, i == k)
        b.model.add_hint(avs[k].start, s)
    done = cp_model.CpSolver()
    sp = done.parameters
    if len(b.alts) > LIGHT_PRESOLVE:
        sp.cp_model_probing_level = 0
        sp.max_presolve_iterations = 1
    sp.fix_variables_to_their_hinted_value = True
    sp.num_workers = 1
    sp.random_seed = params.seed
    sp.max_deterministic_time = max(1.0, params.time_limit_s / 4)
    sp.max_time_in_seconds = max(2.0, params.time_limit_s / 2)
    st = done.solve(b.model)
    b.model.clear_hints()
    if st not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return False
    proto = b.model.proto
    values = done.response_proto.solution
    proto.solution_hint.vars.extend(range(len(values)))
    proto.solution_hint.values.extend(values)
    b.hinted = True
    return True


def solve(problem: Problem, params: SolveParams | None = None, *, explained: bool = True) -> Plan:
    """The best plan within ``params.time_limit_s``; an infeasible problem comes back
    with ``status == "infeasible"`` and (``explained``) the explanation in ``conflicts``."""
    from ortools.sat.python import cp_model

    params = params or SolveParams()
    t0 = time.monotonic()  # the time limit and the first solution count from here
    prep = prepare(problem)
    b = build(prep)
    obj = problem.objectives
    stages: list[list[tuple[ObjectiveName, float]]]
    if obj.lexicographic:
        stages = [[(k, 1.0)] for k in obj.lexicographic]
    else:
        stages = [[(k, w) for k, w in obj.weights.items() if w > 0]]
    first: list[float] = []
    # The greedy warm start pays on big models, where CP-SAT may not find a first plan in
    # time; on small ones it only steers the search (mk02 ends one worse with it).
    if params.hint and not (len(b.alts) > WARM_START_MIN and _warm_start(b, params)):
        _hint(b)
    if b.hinted:
        first.append(time.monotonic() - t0)
    status_names = {
        cp_model.OPTIMAL: "optimal",
        cp_model.FEASIBLE: "feasible",
        cp_model.INFEASIBLE: "infeasible",
    }
    solver = cp_model.CpSolver()
    stage_info: list[dict[str, float | str | None]] = []
    status = cp_model.UNKNOWN
    value = bound = None
    for n, stage in enumerate(stages):
        expr = sum(round(w * _factor(problem, k) * SCALE) * b.terms.get(k, 0) for k, w in stage)
        b.model.minimize(expr)

        class _First(cp_model.CpSolverSolutionCallback):
            def on_solution_callback(self) -> None:
                if not first:
                    first.append(time.monotonic() - t0)

        if params.deterministic:
            budget = params.time_limit_s / len(stages)
        else:  # what is left of the wall-clock limit, shared by the stages still to run
            budget = max(1.0, params.time_limit_s - (time.monotonic() - t0)) / (len(stages) - n)
        _params(solver, params, budget, len(b.alts))
        status = solver.solve(b.model, _First())
        if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
            break
        value, bound = solver.objective_value / SCALE, solver.best_objective_bound / SCALE
        stage_info.append(
            {
                "objective": "+".join(k for k, _ in stage),
                "value": value,
                "bound": bound,
                "status": status_names[status],
            }
        )
        if n < len(stages) - 1:
            # The next stage keeps this one's value and starts from its plan.
            b.model.add(expr <= round(solver.objective_value))
            b.model.clear_hints()
            for av in b.alts:
                b.model.add_hint(av.present, solver.value(av.present))
                b.model.add_hint(av.start, solver.value(av.start))
    wall = time.monotonic() - t0
    common: dict[str, Any] = {
        "wall_s": round(wall, 3),
        "first_solution_s": round(first[0], 3) if first else None,
        "seed": params.seed,
        "workers": params.workers,
        "deterministic": params.deterministic,
        "unplanned": prep.unplanned,
        "stages": stage_info,
    }
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        if status == cp_model.INFEASIBLE:
            conflicts = explain(prep, params, build) if explained else []
            return Plan(status="infeasible", conflicts=conflicts, **common)
        return Plan(status="unknown", **common)
    assert status in (cp_model.OPTIMAL, cp_model.FEASIBLE)
    ops = extract(b, solver)
    assert value is not None and bound is not None
    gap = 0.0 if status == cp_model.OPTIMAL else (value - bound) / max(abs(value), 1e-9)
    return Plan(
        status="optimal" if status == cp_model.OPTIMAL else "feasible",
        objective=round(value, 3),
        bound=round(bound, 3),
        gap=round(max(0.0, gap), 4),
        ops=ops,
        figures=figures(prep, ops),
        **common,
    )


# ----------------------------------------------------------------------------- the answer


def extract(b: Built, solver: Any) -> list[PlannedOp]:
    prep = b.prep
    chosen: list[tuple[AltVars, int, int]] = []
    for _key, avs in b.by_task.items():
        for av in avs:
            if solver.value(av.present):
                chosen.append((av, solver.value(av.start), solver.value(av.end)))
                break
    crews = _name_crews(b, solver, chosen)
    tools = _name_tools(b, chosen)
    ops: list[PlannedOp] = []
    prev: dict[str, str | None] = {r.id: r.current_product for r in prep.resources.values()}
    for av, s, e in sorted(chosen, key=lambda c: (c[0].alt.resource, c[1])):
        t = av.task
        axis = prep.axes[av.alt.cls]
        start, end = prep.clock(axis.clock_start(s)), prep.clock(axis.clock_end(e))
        setup = prep.problem.changeover(
            prep.resources[av.alt.resource], prev[av.alt.resource], t.order.product
        )
        prev[av.alt.resource] = t.order.product
        late = max(0.0, (end - t.order.due) / 60) if t.last and t.order.due is not None else 0.0
        ops.append(
            PlannedOp(
                order=t.order.id,
                op=t.op,
                name=t.name,
                product=t.order.product,
                quantity=t.order.quantity,
                resource=av.alt.resource,
                start=start,
                end=end,
                setup_min=setup,
                work_min=round(prep.minutes(e - s), 2),
                crew=crews.get(id(av), []),
                tools=tools.get(id(av), []),
                late_min=round(late, 1),
                energy_cost=round(_energy(prep, av.alt, axis, s, e), 2),
                frozen=t.fixed is not None,
            )
        )
    return sorted(ops, key=lambda o: (o.start, o.resource))


def _energy(prep: Prepared, alt: Alt, axis: Any, s: int, e: int) -> float:
    segs = prep.prices.get(alt.cls)
    if not segs or alt.kw <= 0:
        return 0.0
    unit_h = prep.problem.unit_s / 3600
    return sum(alt.kw * unit_h * price * max(0, min(e, b) - max(s, a)) for a, b, price in segs)


def _assign(items: list[tuple[int, int, int, Any]], names: list[str]) -> dict[Any, list[str]]:
    """Give ``n`` of ``names`` to each (start, end, n, key), earliest first: pools hold
    interchangeable people and the cumulative kept every moment within the head count,
    so this never runs short (interval graphs colour greedily)."""
    free = list(names)
    busy: list[tuple[int, str]] = []
    out: dict[Any, list[str]] = {}
    for s, e, n, key in sorted(items, key=lambda x: (x[0], x[1])):
        for end, who in sorted(busy):
            if end <= s:
                busy.remove((end, who))
                free.append(who)
        free.sort(key=names.index)
        got, free = free[:n], free[n:]
        busy += [(e, w) for w in got]
        out[key] = got
    return out


def _name_crews(b: Built, solver: Any, chosen: list[tuple[AltVars, int, int]]) -> dict[int, list[str]]:
    """Names per operation: within each stretch where the same members are rostered,
    the operations overlapping it get people from those members, earliest first."""
    prep = b.prep
    out: dict[int, list[str]] = {}
    for pl in prep.pools:
        items = []
        for av, s, e in chosen:
            take = av.crew_take.get(pl.index)
            if take is None:
                continue
            n = take if isinstance(take, int) else solver.value(take)
            if n:
                items.append((s, e, n, id(av)))
        if not items:
            continue
        cuts = sorted({0, *(x for spans in pl.rosters.values() for a, c in spans for x in (a, c))})
        for a, c in itertools.pairwise(cuts):
            here = [m for m in pl.members if any(x <= a and c <= y for x, y in pl.rosters[m])]
            part = [(max(s, a), min(e, c), n, key) for s, e, n, key in items if s < c and e > a]
            for key, names in _assign(part, here).items():
                have = out.setdefault(key, [])
                have.extend(x for x in names if x not in have)
    return out


def _name_tools(b: Built, chosen: list[tuple[AltVars, int, int]]) -> dict[int, list[str]]:
    out: dict[int, list[str]] = {}
    for tool in b.prep.problem.tools:
        copies = [tool.id if tool.count == 1 else f"{tool.id}#{i + 1}" for i in range(tool.count)]
        items = [(s, e, 1, id(av)) for av, s, e in chosen if tool.id in av.alt.tools]
        for key, names in _assign(items, copies).items():
            out.setdefault(key, []).extend(names)
    return out


def figures(prep: Prepared, ops: list[PlannedOp]) -> Figures:
    p = prep.problem
    orders = {o.id: o for o in p.orders}
    released = {(o.order, o.op): o for o in p.released}
    tard = late = 0.0
    n_late = moved = 0
    for o in ops:
        rel = released.get((o.order, o.op))
        if rel is not None and (rel.resource != o.resource or abs(rel.start - o.start) >= p.unit_s):
            moved += 1
        if o.late_min > 0:
            n_late += 1
            late += o.late_min
            order = orders[o.order]
            axis = prep.axes[prep.res_cls[o.resource]]
            assert order.due is not None
            w = axis.work_at(prep.unit_ceil(o.end)) - axis.work_at(prep.unit(order.due))
            tard += order.weight * prep.minutes(max(0, w))
    return Figures(
        tardiness_min=round(tard, 1),
        late_orders=n_late,
        late_min=round(late, 1),
        setup_min=round(sum(o.setup_min for o in ops), 1),
        energy_cost=round(sum(o.energy_cost for o in ops), 2),
        moved=moved,
        makespan_min=round((max((o.end for o in ops), default=p.origin) - p.origin) / 60, 2),
    )


__all__ = ["Conflict", "Plan", "build", "figures", "solve"]
