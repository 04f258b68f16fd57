"""Flexible job-shop (FJSP) instances in the text format of the published benchmark sets
(Brandimarte, Hurink, Kacem, …): read, turned into a scheduling :class:`Problem` with
makespan as the objective, and solved by a plain CP-SAT model for comparison.

Format: the first line holds the number of jobs and of machines (and, in most files,
the average number of machines per operation, ignored). Then one line per job: its
number of operations, and for each operation the number of alternative machines
followed by that many (machine, processing time) pairs.

Machine numbers: the issue's description numbers them from 0, the published files
(Brandimarte's, Hurink's) from 1. ``numbering="auto"`` reads a file with a machine 0 as
0-based, a file that names machine ``m`` (the machine count) as 1-based, and a file that
shows neither as 1-based (the published convention), saying so in ``note``. Give
``numbering=0`` or ``1`` to decide.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from edge.core.errors import ConfigError
from sync.aggregator.scheduling.model import (
    Alternative,
    Objectives,
    Operation,
    Order,
    Problem,
    Resource,
    Routing,
    SolveParams,
)

Numbering = Literal["auto", 0, 1]


@dataclass
class Instance:
    name: str
    machines: int
    jobs: list[list[list[tuple[int, int]]]]
    """job → operation → (machine from 0, duration) alternatives."""
    numbering: int = 1
    note: str = ""
    stats: dict[str, int] = field(default_factory=dict)

    @property
    def operations(self) -> int:
        return sum(len(j) for j in self.jobs)


def read_fjsp(path: Path, *, numbering: Numbering = "auto") -> Instance:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise ConfigError([f"{path}: cannot read: {e}"]) from None
    return parse_fjsp(text, name=path.stem, where=str(path), numbering=numbering)


def parse_fjsp(
    text: str, *, name: str = "fjsp", where: str = "fjsp", numbering: Numbering = "auto"
) -> Instance:
    """An instance, or ConfigError naming the line (1-based) and what is wrong there."""
    lines = [(i, ln.split()) for i, ln in enumerate(text.splitlines(), start=1) if ln.strip()]
    if not lines:
        raise ConfigError([f"{where}: empty file"])
    head_no, head = lines[0]
    try:
        n_jobs, n_machines = int(head[0]), int(head[1])
    except (IndexError, ValueError):
        raise ConfigError(
            [f"{where}:{head_no}: expected 'jobs machines [average]', got {' '.join(head)!r}"]
        ) from None
    if n_jobs < 1 or n_machines < 1:
        raise ConfigError([f"{where}:{head_no}: jobs and machines must be positive"])
    if len(lines) - 1 < n_jobs:
        raise ConfigError([f"{where}: {n_jobs} jobs announced, {len(lines) - 1} job lines found"])
    raw: list[list[list[tuple[int, int]]]] = []
    errors: list[str] = []
    for line_no, tokens in lines[1 : 1 + n_jobs]:
        try:
            nums = [int(t) for t in tokens]
        except ValueError:
            errors.append(f"{where}:{line_no}: not all whole numbers")
            continue
        job: list[list[tuple[int, int]]] = []
        i = 1
        try:
            for k in range(nums[0]):
                count = nums[i]
                i += 1
                if count < 1:
                    raise ValueError(f"operation {k + 1} has no machine")
                op = []
                for _ in range(count):
                    machine, dur = nums[i], nums[i + 1]
                    i += 2
                    if dur < 0:
                        raise ValueError(f"operation {k + 1}: negative processing time {dur}")
                    op.append((machine, dur))
                job.append(op)
        except IndexError:
            errors.append(f"{where}:{line_no}: the line ends inside an operation")
            continue
        except ValueError as e:
            errors.append(f"{where}:{line_no}: {e}")
            continue
        if i != len(nums):
            errors.append(f"{where}:{line_no}: {len(nums) - i} numbers left after {nums[0]} operations")
            continue
        raw.append(job)
    if errors:
        raise ConfigError(errors)
    seen = {m for job in raw for op in job for m, _ in op}
    note = ""
    if numbering == "auto":
        if 0 in seen:
            base = 0
        elif n_machines in seen:
            base = 1
        else:
            base = 1
            note = "machine numbers show neither 0 nor the machine count: read from 1, as the published sets number them"
    else:
        base = numbering
    bad = sorted(m for m in seen if not base <= m < base + n_machines)
    if bad:
        raise ConfigError(
            [f"{where}: machine {bad[0]} is outside {base}..{base + n_machines - 1} (numbered from {base})"]
        )
    jobs = [[[(m - base, d) for m, d in op] for op in job] for job in raw]
    return Instance(name=name, machines=n_machines, jobs=jobs, numbering=base, note=note)


def to_problem(inst: Instance) -> Problem:
    """One order per job (its own product and routing), one resource per machine
    (``m0``…), working around the clock, one minute per time unit, makespan objective."""
    total = sum(max(d for _, d in op) for job in inst.jobs for op in job)
    routings = [
        Routing(
            product=f"J{j}",
            operations=[
                Operation(
                    name=f"O{j}.{k}",
                    alternatives=[Alternative(resource=f"m{m}", minutes=max(d, 1e-6)) for m, d in op],
                )
                for k, op in enumerate(job)
            ],
        )
        for j, job in enumerate(inst.jobs)
    ]
    return Problem(
        origin=0.0,
        horizon_h=max(1.0, total / 60 + 1),
        unit_s=60,
        resources=[Resource(id=f"m{i}") for i in range(inst.machines)],
        routings=routings,
        orders=[Order(id=f"J{j}", product=f"J{j}", quantity=1) for j in range(len(inst.jobs))],
        objectives=Objectives(weights={"makespan": 1.0}),
    )


def makespan(plan_ops: Sequence[object]) -> int:
    return round(max((getattr(o, "end", 0.0) for o in plan_ops), default=0.0) / 60)


def plain_cpsat(inst: Instance, params: SolveParams) -> tuple[int | None, float, str]:
    """The textbook CP-SAT model of a flexible job shop, for comparison: an optional
    interval per (operation, machine), exactly one per operation, no overlap per machine,
    precedence within a job, minimise the makespan. Same time limit, seed and workers
    as given. Returns (makespan or None, bound, status)."""
    from ortools.sat.python import cp_model

    m = cp_model.CpModel()
    horizon = sum(max(d for _, d in op) for job in inst.jobs for op in job)
    per_machine: list[list[object]] = [[] for _ in range(inst.machines)]
    ends: list[Any] = []
    for j, job in enumerate(inst.jobs):
        prev_end = None
        for k, op in enumerate(job):
            s = m.new_int_var(0, horizon, f"s{j}.{k}")
            e = m.new_int_var(0, horizon, f"e{j}.{k}")
            lits = []
            for mach, d in op:
                lit = m.new_bool_var("")
                if len(op) == 1:
                    m.add(lit == 1)
                iv = m.new_optional_interval_var(s, d, e, lit, "")
                per_machine[mach].append(iv)
                lits.append(lit)
            m.add_exactly_one(lits)
            if prev_end is not None:
                m.add(s >= prev_end)
            prev_end = e
        ends.append(prev_end)
    for ivs in per_machine:
        m.add_no_overlap(ivs)  # type: ignore[arg-type]
    mk = m.new_int_var(0, horizon, "makespan")
    m.add_max_equality(mk, ends)
    m.minimize(mk)
    solver = cp_model.CpSolver()
    solver.parameters.random_seed = params.seed
    solver.parameters.num_workers = params.workers
    if params.deterministic:
        solver.parameters.interleave_search = True
        solver.parameters.max_deterministic_time = params.time_limit_s
        solver.parameters.max_time_in_seconds = 3 * params.time_limit_s + 10
    else:
        solver.parameters.max_time_in_seconds = params.time_limit_s
    st = solver.solve(m)
    names = {cp_model.OPTIMAL: "optimal", cp_model.FEASIBLE: "feasible", cp_model.INFEASIBLE: "infeasible"}
    if st not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return None, solver.best_objective_bound, names.get(st, "unknown")
    return int(solver.objective_value), solver.best_objective_bound, names[st]
