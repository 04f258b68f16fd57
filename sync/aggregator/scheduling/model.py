"""The scheduling model (pure, typed, serialisable): what the plant asks the solver and
what it gets back.

A :class:`Problem` holds the orders, the routings (ordered operations, each with
alternative resources, a rate or a duration per resource and a minimum batch), the
resources (a shift calendar with breaks and non-working days, a sequence-dependent
changeover matrix, maintenance windows, when a line is down until), tools and moulds
(fit, copies, life in cycles, their own maintenance), operators (qualified per resource
and product, a roster of shifts), material gates, an energy tariff with kW per product
and resource, the objectives (weights or a lexicographic order), the frozen horizon and
the plan in force (for stability). A :class:`Plan` is the solver's answer: every
operation on a resource with its clock start and end, its changeover, crew and tools,
and the figures (tardiness, setup, energy, moves) with the solver's bound and gap.

Times are epoch seconds (UTC); lengths are minutes. Everything here is data: no solver,
no clock, no I/O. Maintenance windows (issue 15) and material availability (issue 16)
plug in as :class:`Maintenance` and :class:`Material`; until those parts exist the
service reads them from the ``scheduling`` section of the aggregator's config.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from edge.config.production import CalendarCfg

ObjectiveName = Literal["tardiness", "setup", "energy", "stability", "makespan"]
OBJECTIVES: tuple[ObjectiveName, ...] = ("tardiness", "setup", "energy", "stability", "makespan")
#: Constraint groups the explanation names (see ``solver.explain``).
Group = Literal["horizon", "release", "material", "deadline", "frozen", "maintenance", "crew", "tool"]


class Data(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Window(Data):
    """A span of clock time [start, end)."""

    start: float
    end: float
    reason: str = ""

    @model_validator(mode="after")
    def _order(self) -> Window:
        if self.end <= self.start:
            raise ValueError("end must be after start")
        return self


# ----------------------------------------------------------------------------- demand


class Order(Data):
    id: Annotated[str, Field(min_length=1, max_length=64)]
    product: str
    quantity: Annotated[int, Field(gt=0)]
    release: float | None = None
    """Earliest start (epoch s)."""
    due: float | None = None
    """Due date: lateness past it is tardiness (soft)."""
    deadline: float | None = None
    """Hard latest end: a plan that misses it is infeasible (and explained)."""
    priority: Annotated[int, Field(ge=0, le=1000)] = 0
    """Weight of its tardiness is 1 + priority."""
    materials: list[str] = []
    """Materials it needs; their arrival gates its first operation."""
    tool_life_used: bool = True
    """Whether its cycles count against the tools' life."""

    @property
    def weight(self) -> int:
        return 1 + self.priority


class Alternative(Data):
    """One resource an operation can run on, and how fast."""

    resource: str
    rate_per_min: Annotated[float, Field(gt=0)] | None = None
    """Units per minute; or give ``minutes_per_unit`` or a fixed ``minutes``."""
    minutes_per_unit: Annotated[float, Field(gt=0)] | None = None
    minutes: Annotated[float, Field(gt=0)] | None = None
    """A fixed duration whatever the quantity (FJSP operations, tests)."""
    fixed_min: Annotated[float, Field(ge=0)] = 0.0
    """Added to every run (start-up, first-off), on top of the changeover."""
    min_batch: Annotated[int, Field(ge=0)] = 0
    """Smallest quantity this resource runs: smaller orders cannot use it."""
    crew: Annotated[int, Field(ge=0, le=100)] = 0
    """Qualified operators needed while it runs."""
    tools: list[str] = []
    """Tools or moulds (one copy each) mounted while it runs."""
    kw: Annotated[float, Field(ge=0)] | None = None
    """Power drawn while it runs (default: ``Problem.power_kw``)."""

    def work_min(self, quantity: int, product_rate: float | None = None) -> float:
        if self.minutes is not None:
            return self.minutes + self.fixed_min
        if self.minutes_per_unit is not None:
            return quantity * self.minutes_per_unit + self.fixed_min
        rate = self.rate_per_min or product_rate
        if rate is None:
            raise ValueError(f"resource {self.resource}: no rate_per_min, minutes_per_unit or minutes")
        return quantity / rate + self.fixed_min


class Operation(Data):
    name: str = ""
    alternatives: Annotated[list[Alternative], Field(min_length=1)]


class Routing(Data):
    """How a product is made: operations in order, each on one of its alternatives."""

    product: str
    operations: Annotated[list[Operation], Field(min_length=1)]


class Product(Data):
    id: str
    changeover_min: Annotated[float, Field(ge=0)] = 0.0
    """Changeover onto this product from any other (default of the matrix)."""
    rate_per_min: Annotated[float, Field(gt=0)] | None = None
    """Default rate where a routing gives none."""


# ----------------------------------------------------------------------------- supply


class Resource(Data):
    """A line or work centre."""

    id: str
    calendar: str | None = None
    """Name of a calendar in ``Problem.calendars``; None: it works around the clock."""
    changeovers: dict[str, dict[str, float]] = {}
    """from product → to product → minutes, over ``Problem.changeovers``."""
    current_product: str | None = None
    """What it last ran: the first changeover is from this."""
    down_until: float | None = None
    """Not available before this (a line that is down)."""
    line: str | None = None
    """The aggregator's line this resource is (release sends its sequence there)."""


class Maintenance(Data):
    """A resource not available over [start, end): work does not straddle it."""

    resource: str
    start: float
    end: float
    reason: str = ""


class Tool(Data):
    id: str
    count: Annotated[int, Field(ge=1)] = 1
    """Copies: at most this many operations use it at once."""
    fits: list[str] = []
    """Resources it can be mounted on (empty: all)."""
    life_cycles: Annotated[int, Field(ge=0)] | None = None
    """Cycles left before it must go to maintenance (all copies together)."""
    cycles_per_unit: Annotated[float, Field(gt=0)] = 1.0
    """Tool cycles per unit made (a 4-cavity mould: 0.25)."""
    maintenance: list[Window] = []
    """When no copy is available."""


class Qualification(Data):
    resource: str
    products: list[str] = []
    """Empty: every product on that resource."""


class Operator(Data):
    id: str
    name: str = ""
    qualified: list[Qualification] = []
    roster: list[str] = []
    """Shift names (of the resources' calendar) this person works; empty: every shift."""


class Material(Data):
    """A material gate: orders needing it cannot start before it is available."""

    id: str
    available_at: float | None = None
    """When it is (or will be) staged; None: short with no date (its orders wait)."""
    orders: list[str] = []
    """Orders it gates, besides those that list it in ``Order.materials``."""


class TariffWindow(Data):
    start: str = "00:00"
    """Local time of day (HH:MM)."""
    end: str = "24:00"
    days: list[Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]] = [
        "mon",
        "tue",
        "wed",
        "thu",
        "fri",
        "sat",
        "sun",
    ]
    price: Annotated[float, Field(ge=0)]
    """Per kWh."""


class Tariff(Data):
    default_price: Annotated[float, Field(ge=0)] = 0.0
    """Per kWh outside every window."""
    windows: list[TariffWindow] = []
    """The first window that contains a moment sets its price."""


class Objectives(Data):
    weights: dict[ObjectiveName, Annotated[float, Field(ge=0)]] = {"tardiness": 10.0, "setup": 1.0}
    """Weighted sum (per minute of tardiness × order weight, per minute of setup, per
    currency unit of energy, per minute moved)."""
    lexicographic: list[ObjectiveName] | None = None
    """Instead of weights: optimise these in order, each without worsening the ones before."""
    move_penalty_min: Annotated[float, Field(ge=0)] = 60.0
    """Stability: moving released work to another resource costs as much as moving it
    this many minutes."""


class PlannedOp(Data):
    """One operation in a plan."""

    order: str
    op: int
    """Index in the routing."""
    name: str = ""
    product: str
    quantity: int
    resource: str
    start: float
    end: float
    setup_min: float = 0.0
    """Changeover before it (from the previous product on the resource)."""
    work_min: float = 0.0
    """Working minutes it runs (the clock span is longer when it pauses over breaks)."""
    crew: list[str] = []
    tools: list[str] = []
    late_min: float = 0.0
    """Clock minutes past its order's due date (last operation only)."""
    energy_cost: float = 0.0
    frozen: bool = False


class Problem(Data):
    origin: float
    """Plan start (epoch s): nothing starts before it."""
    horizon_h: Annotated[float, Field(gt=0, le=24 * 366)] = 336.0
    """Everything must end within origin + horizon."""
    timezone: str = "UTC"
    """Zone of calendars and tariff windows."""
    unit_s: Annotated[int, Field(ge=1, le=3600)] = 60
    """Time granularity of the model, seconds."""
    orders: list[Order] = []
    routings: list[Routing] = []
    products: list[Product] = []
    changeovers: dict[str, dict[str, float]] = {}
    """Plant-wide changeover matrix: from product → to product → minutes (overrides
    the products' ``changeover_min``)."""
    calendars: dict[str, CalendarCfg] = {}
    resources: list[Resource] = []
    maintenance: list[Maintenance] = []
    tools: list[Tool] = []
    operators: list[Operator] = []
    materials: list[Material] = []
    tariff: Tariff | None = None
    power_kw: dict[str, dict[str, float]] = {}
    """resource → product → kW while running."""
    objectives: Objectives = Objectives()
    frozen_h: Annotated[float, Field(ge=0)] = 0.0
    """Released work starting within this many hours of ``origin`` keeps its resource and start."""
    released: list[PlannedOp] = []
    """The plan in force (stability; the frozen part)."""
    in_progress: list[PlannedOp] = []
    """Operations running now: kept on their resource from ``origin`` to their end."""

    @property
    def end(self) -> float:
        return self.origin + self.horizon_h * 3600

    def routing(self, product: str) -> Routing | None:
        return next((r for r in self.routings if r.product == product), None)

    def product(self, pid: str) -> Product | None:
        return next((p for p in self.products if p.id == pid), None)

    def changeover(self, resource: Resource, a: str | None, b: str) -> float:
        """Minutes to change ``resource`` over from product ``a`` to ``b``."""
        if a is None or a == b:
            return 0.0
        if b in resource.changeovers.get(a, {}):
            return resource.changeovers[a][b]
        if b in self.changeovers.get(a, {}):
            return self.changeovers[a][b]
        p = self.product(b)
        return p.changeover_min if p else 0.0

    def kw(self, alt: Alternative, product: str) -> float:
        if alt.kw is not None:
            return alt.kw
        return self.power_kw.get(alt.resource, {}).get(product, 0.0)


class SolveParams(Data):
    time_limit_s: Annotated[float, Field(gt=0, le=86400)] = 10.0
    seed: int = 1
    workers: Annotated[int, Field(ge=1, le=64)] = 2
    deterministic: bool = True
    """Interleaved search bounded by deterministic time (``time_limit_s`` of it): the
    same problem, seed and workers give the same plan on any machine and under any load.
    Off: a wall-clock limit, parallel portfolio (often better, not repeatable)."""
    hint: bool = True
    """Warm start from the plan in force (or a greedy plan)."""


class Figures(Data):
    tardiness_min: float = 0.0
    """Σ weight × working minutes late (what the solver minimises)."""
    late_orders: int = 0
    late_min: float = 0.0
    """Σ clock minutes late."""
    setup_min: float = 0.0
    energy_cost: float = 0.0
    moved: int = 0
    """Released operations on another resource or start than in the plan in force."""
    makespan_min: float = 0.0


class Conflict(Data):
    """Why there is no plan: these orders cannot meet these constraints together."""

    orders: list[str]
    groups: list[str]
    text: str


class Plan(Data):
    status: Literal["optimal", "feasible", "infeasible", "unknown"]
    objective: float | None = None
    bound: float | None = None
    gap: float | None = None
    """(objective − bound) / objective; 0 when proven optimal."""
    stages: list[dict[str, float | str | None]] = []
    """Lexicographic stages: objective, value, bound."""
    wall_s: float = 0.0
    first_solution_s: float | None = None
    seed: int = 1
    workers: int = 1
    deterministic: bool = True
    ops: list[PlannedOp] = []
    figures: Figures = Figures()
    unplanned: list[Conflict] = []
    """Orders left out before solving (no date for their material, no feasible route)."""
    conflicts: list[Conflict] = []
    """For an infeasible problem: the explanation."""

    def by_resource(self) -> dict[str, list[PlannedOp]]:
        out: dict[str, list[PlannedOp]] = {}
        for o in sorted(self.ops, key=lambda o: (o.resource, o.start)):
            out.setdefault(o.resource, []).append(o)
        return out


class ModelError(ValueError):
    """A problem that cannot be modelled as given; the message names the item."""
