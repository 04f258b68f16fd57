"""From a :class:`~sync.aggregator.scheduling.model.Problem` to what the solver schedules
(pure, no solver): every resource's working-time axis, the tasks (one per operation of
an order) with the alternatives that can really run them, crew pools, tool demands,
blocked spans, tariff segments, and the orders that cannot be planned at all (with the
reason, in words).

An alternative is dropped when its resource runs a bigger minimum batch than the order,
when a tool it needs does not fit the resource, or when fewer qualified operators exist
than it needs; an order left with an operation that has no alternative is *unplanned*,
and so is an order whose material is short with no date.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from sync.aggregator.scheduling import axis as ax
from sync.aggregator.scheduling.model import (
    Alternative,
    Conflict,
    ModelError,
    Operator,
    Order,
    PlannedOp,
    Problem,
    Resource,
    Tool,
)


@dataclass
class Pool:
    """Operators with the same qualifications: interchangeable at any one moment, so
    counting them on a cumulative is enough, and names are given afterwards."""

    index: int
    members: list[str]
    quals: tuple[tuple[str, tuple[str, ...]], ...]
    cls: str | None
    """The calendar class of the resources it serves (one: it is counted on that axis)."""
    profile: list[tuple[int, int, int]]
    """Working spans (a, b, head count rostered then), covering the whole axis."""
    rosters: dict[str, list[tuple[int, int]]]
    """Member → working spans rostered."""
    roster: tuple[str, ...] = ()
    """Shift names any member is rostered on (for the explanation)."""

    @property
    def size(self) -> int:
        """The most members rostered at once: the cumulative's capacity."""
        return max((c for _, _, c in self.profile), default=0)

    def qualified(self, resource: str, product: str) -> bool:
        return any(r == resource and (not ps or product in ps) for r, ps in self.quals)

    @property
    def label(self) -> str:
        return ", ".join(self.members)


@dataclass
class Alt:
    index: int
    resource: str
    cls: str | None
    dur: int
    """Working units."""
    work_min: float
    crew: int
    pools: list[int]
    tools: list[str]
    cycles: dict[str, int]
    """Tool → cycles this run takes from its life."""
    kw: float


@dataclass
class Task:
    order: Order
    op: int
    name: str
    alts: list[Alt]
    gate: int = 0
    """Clock units: earliest start (release, material)."""
    gates: list[tuple[str, str, float]] = field(default_factory=list)
    """(group, what, epoch) of each gate that applies (release, material)."""
    last: bool = False
    fixed: PlannedOp | None = None
    """Frozen (or running now): stays on this resource at this start."""
    running: bool = False
    released: PlannedOp | None = None


@dataclass
class Prepared:
    problem: Problem
    span: int
    """Clock units covered by the axes (twice the horizon: room to explain overruns)."""
    horizon: int
    axes: dict[str | None, ax.WorkAxis]
    res_cls: dict[str, str | None]
    resources: dict[str, Resource]
    blocked: dict[str, list[tuple[int, int, str]]]
    """Resource → working spans it is not available (maintenance, down), with the reason."""
    tasks: list[Task]
    pools: list[Pool]
    tool_blocked: dict[str, list[tuple[int, int]]]
    prices: dict[str | None, list[tuple[int, int, float]]]
    """Class → working segments with their price per kWh."""
    unplanned: list[Conflict]

    def unit(self, t: float) -> int:
        """Clock units from the origin (before it: 0)."""
        p = self.problem
        return max(0, min(self.span, math.floor((t - p.origin) / p.unit_s + 1e-9)))

    def unit_ceil(self, t: float) -> int:
        p = self.problem
        return max(0, min(self.span, math.ceil((t - p.origin) / p.unit_s - 1e-9)))

    def clock(self, u: int) -> float:
        return self.problem.origin + u * self.problem.unit_s

    def setup_units(self, resource: str, a: str | None, b: str) -> int:
        m = self.problem.changeover(self.resources[resource], a, b)
        return math.ceil(m * 60 / self.problem.unit_s - 1e-9) if m > 0 else 0

    def fmt(self, t: float) -> str:
        return format_time(t, self.problem.timezone)

    def minutes(self, units: int) -> float:
        return units * self.problem.unit_s / 60


def format_time(t: float, tz: str) -> str:
    return datetime.fromtimestamp(t, ZoneInfo(tz) if tz != "UTC" else UTC).strftime("%Y-%m-%d %H:%M")


def prepare(p: Problem) -> Prepared:
    resources = {r.id: r for r in p.resources}
    if len(resources) != len(p.resources):
        raise ModelError("resources: duplicate resource id")
    for r in p.resources:
        if r.calendar is not None and r.calendar not in p.calendars:
            raise ModelError(
                f"resources.{r.id}.calendar: no calendar {r.calendar!r} (known: {sorted(p.calendars)})"
            )
    horizon = math.ceil(p.horizon_h * 3600 / p.unit_s)
    span = 2 * horizon
    axes: dict[str | None, ax.WorkAxis] = {}
    for cls in {r.calendar for r in p.resources}:
        axes[cls] = (
            ax.always(span)
            if cls is None
            else ax.calendar_axis(p.calendars[cls], p.timezone, p.origin, p.unit_s, span)
        )
    res_cls = {r.id: r.calendar for r in p.resources}
    prep = Prepared(
        problem=p,
        span=span,
        horizon=horizon,
        axes=axes,
        res_cls=res_cls,
        resources=resources,
        blocked={r: [] for r in resources},
        tasks=[],
        pools=[],
        tool_blocked={},
        prices={},
        unplanned=[],
    )
    for m in p.maintenance:
        if m.resource not in resources:
            raise ModelError(f"maintenance: resource {m.resource!r} is not a resource")
        a, b = axes[res_cls[m.resource]].to_work(prep.unit(m.start), prep.unit_ceil(m.end))
        if b > a:
            what = f"maintenance {prep.fmt(m.start)}–{prep.fmt(m.end)}" + (
                f" ({m.reason})" if m.reason else ""
            )
            prep.blocked[m.resource].append((a, b, what))
    for r in p.resources:
        if r.down_until is not None and r.down_until > p.origin:
            b = axes[r.calendar].work_at(prep.unit_ceil(r.down_until))
            if b > 0:
                prep.blocked[r.id].append((0, b, f"down until {prep.fmt(r.down_until)}"))
    _pools(prep)
    _tools(prep)
    _tasks(prep)
    _prices(prep)
    return prep


def _pools(prep: Prepared) -> None:
    """Operators with the same qualifications form a pool; its capacity at any moment is
    how many of them are rostered then (a shift change hands the work to the next crew)."""
    p = prep.problem
    groups: dict[tuple[tuple[str, tuple[str, ...]], ...], list[Operator]] = {}
    for o in p.operators:
        quals = tuple(sorted((q.resource, tuple(sorted(q.products))) for q in o.qualified))
        for r, _ in quals:
            if r not in prep.resources:
                raise ModelError(f"operators.{o.id}.qualified: {r!r} is not a resource")
        groups.setdefault(quals, []).append(o)
    for quals, ops in sorted(groups.items()):
        classes = {prep.res_cls[r] for r, _ in quals}
        if len(classes) > 1:
            raise ModelError(
                f"operators.{ops[0].id}: qualified on resources with different calendars "
                f"({', '.join(sorted(r for r, _ in quals))}); a crew is counted on one calendar"
            )
        cls = next(iter(classes), None)
        axis = prep.axes.get(cls) or ax.always(prep.span)
        # Each member's rostered working spans; the pool's head count per span.
        marks: dict[int, int] = {0: 0, axis.total: 0}
        rosters = {}
        for o in ops:
            if not o.roster:
                spans = [(0, axis.total)]
            else:
                if cls is None:
                    raise ModelError(
                        f"operators.{o.id}.roster: names shifts, but its resources have no calendar"
                    )
                on = ax.shift_windows(
                    p.calendars[cls], p.timezone, set(o.roster), p.origin, p.unit_s, prep.span
                )
                spans = [w for w in (axis.to_work(a, b) for a, b in on) if w[1] > w[0]]
            rosters[o.id] = spans
            for a, b in spans:
                marks[a] = marks.get(a, 0) + 1
                marks[b] = marks.get(b, 0) - 1
        profile: list[tuple[int, int, int]] = []
        count = 0
        points = sorted(marks)
        for a, b in itertools.pairwise(points):
            count += marks[a]
            if b > a:
                if profile and profile[-1][2] == count and profile[-1][1] == a:
                    profile[-1] = (profile[-1][0], b, count)
                else:
                    profile.append((a, b, count))
        pool = Pool(len(prep.pools), sorted(o.id for o in ops), quals, cls, profile, rosters)
        pool.roster = tuple(sorted({s for o in ops for s in o.roster}))
        prep.pools.append(pool)


def _tools(prep: Prepared) -> None:
    p = prep.problem
    ids = [t.id for t in p.tools]
    if len(set(ids)) != len(ids):
        raise ModelError("tools: duplicate tool id")
    for t in p.tools:
        for r in t.fits:
            if r not in prep.resources:
                raise ModelError(f"tools.{t.id}.fits: {r!r} is not a resource")
        classes = {prep.res_cls[r] for r in (t.fits or prep.resources)}
        if len(classes) > 1:
            raise ModelError(
                f"tools.{t.id}.fits: resources with different calendars; a tool is counted on one calendar"
            )
        cls = next(iter(classes), None)
        axis = prep.axes.get(cls) or ax.always(prep.span)
        spans = []
        for w in t.maintenance:
            a, b = axis.to_work(prep.unit(w.start), prep.unit_ceil(w.end))
            if b > a:
                spans.append((a, b))
        prep.tool_blocked[t.id] = spans


def _tasks(prep: Prepared) -> None:
    p = prep.problem
    tools = {t.id: t for t in p.tools}
    gates: dict[str, list[tuple[str, float | None]]] = {}
    for m in p.materials:
        for oid in m.orders:
            gates.setdefault(oid, []).append((m.id, m.available_at))
    mats = {m.id: m for m in p.materials}
    released = {(o.order, o.op): o for o in p.released}
    running = {(o.order, o.op): o for o in p.in_progress}
    frozen_until = p.origin + p.frozen_h * 3600
    seen: set[str] = set()
    for order in p.orders:
        if order.id in seen:
            raise ModelError(f"orders: duplicate order {order.id!r}")
        seen.add(order.id)
        routing = p.routing(order.product)
        product = p.product(order.product)
        if routing is None:
            prep.unplanned.append(
                Conflict(
                    orders=[order.id],
                    groups=["routing"],
                    text=f"order {order.id}: product {order.product} has no routing",
                )
            )
            continue
        # Materials: listed on the order, or gating it from the material's side.
        mat_gates = list(gates.get(order.id, []))
        for mid in order.materials:
            if mid not in mats:
                raise ModelError(f"orders.{order.id}.materials: {mid!r} is not a material")
            mat_gates.append((mid, mats[mid].available_at))
        short = [mid for mid, at in mat_gates if at is None]
        if short:
            prep.unplanned.append(
                Conflict(
                    orders=[order.id],
                    groups=["material"],
                    text=f"order {order.id} waits for material {', '.join(sorted(short))}: short, with no date",
                )
            )
            continue
        tasks: list[Task] = []
        why: list[str] = []
        for i, op in enumerate(routing.operations):
            alts: list[Alt] = []
            for j, alt in enumerate(op.alternatives):
                a = _alt(prep, order, alt, j, product.rate_per_min if product else None, tools, why)
                if a is not None:
                    alts.append(a)
            if not alts:
                prep.unplanned.append(
                    Conflict(
                        orders=[order.id],
                        groups=["routing"],
                        text=f"order {order.id}: operation {i + 1}{f' ({op.name})' if op.name else ''} has no resource "
                        f"that can run it: {'; '.join(why) or 'no alternative'}",
                    )
                )
                tasks = []
                break
            t = Task(order, i, op.name, alts, last=i == len(routing.operations) - 1)
            t.released = released.get((order.id, i))
            run = running.get((order.id, i))
            if run is not None:
                t.fixed, t.running = run, True
            elif t.released is not None and p.origin <= t.released.start < frozen_until:
                t.fixed = t.released
            tasks.append(t)
        if not tasks:
            continue
        first = tasks[0]
        if order.release is not None and order.release > p.origin:
            first.gates.append(("release", "its release", order.release))
        for mid, at in mat_gates:
            assert at is not None
            if at > p.origin:
                first.gates.append(("material", f"material {mid}", at))
        first.gate = max([prep.unit_ceil(g[2]) for g in first.gates], default=0)
        prep.tasks.extend(tasks)


def _alt(
    prep: Prepared,
    order: Order,
    alt: Alternative,
    index: int,
    product_rate: float | None,
    tools: dict[str, Tool],
    why: list[str],
) -> Alt | None:
    p = prep.problem
    if alt.resource not in prep.resources:
        raise ModelError(f"routings.{order.product}: resource {alt.resource!r} is not a resource")
    if alt.min_batch and order.quantity < alt.min_batch:
        why.append(f"{alt.resource} runs at least {alt.min_batch} (order: {order.quantity})")
        return None
    cycles: dict[str, int] = {}
    for tid in alt.tools:
        tool = tools.get(tid)
        if tool is None:
            raise ModelError(f"routings.{order.product}: tool {tid!r} is not a tool")
        if tool.fits and alt.resource not in tool.fits:
            why.append(f"tool {tid} does not fit {alt.resource}")
            return None
        cycles[tid] = math.ceil(order.quantity * tool.cycles_per_unit) if order.tool_life_used else 0
    pools = [pl.index for pl in prep.pools if pl.qualified(alt.resource, order.product)]
    if alt.crew and sum(prep.pools[i].size for i in pools) < alt.crew:
        have = sum(prep.pools[i].size for i in pools)
        why.append(f"{alt.resource} needs {alt.crew} operators qualified for {order.product}, {have} are")
        return None
    try:
        work = alt.work_min(order.quantity, product_rate)
    except ValueError as e:
        raise ModelError(f"routings.{order.product}: {e}") from None
    dur = max(1, math.ceil(work * 60 / p.unit_s - 1e-9))
    return Alt(
        index=index,
        resource=alt.resource,
        cls=prep.res_cls[alt.resource],
        dur=dur,
        work_min=work,
        crew=alt.crew,
        pools=pools if alt.crew else [],
        tools=list(alt.tools),
        cycles=cycles,
        kw=p.kw(alt, order.product),
    )


def _prices(prep: Prepared) -> None:
    p = prep.problem
    if p.tariff is None:
        return
    wins = [(w.start, w.end, list(w.days), w.price) for w in p.tariff.windows]
    segs = ax.price_segments(wins, p.tariff.default_price, p.timezone, p.origin, p.unit_s, prep.span)
    for cls, axis in prep.axes.items():
        prep.prices[cls] = ax.on_axis(axis, segs)
