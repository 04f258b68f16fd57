"""The ``scheduling`` section of the aggregator's config: the plant's resources and their
calendars, products and changeovers, default routings, tools, operators, materials and
maintenance (until the maintenance and materials parts provide them), the tariff, the
objectives, the horizons and the replanning rules."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from zoneinfo import ZoneInfo

from pydantic import Field, field_validator, model_validator

from edge.config.base import Model
from edge.config.production import CalendarCfg
from sync.aggregator.scheduling.model import (
    Objectives,
    Operator,
    Product,
    Routing,
    Tariff,
    Tool,
)


class ResourceCfg(Model):
    id: str
    """Resource name in plans and routings."""
    line: str | None = None
    """The aggregator line (short name or key) this resource is; its released sequence
    goes there as a ``plan`` command. None: a work centre without an agent."""
    calendar: str | None = None
    """A calendar of ``calendars``; none: around the clock."""
    changeovers: dict[str, dict[str, float]] = {}
    """from product → to product → minutes on this resource (over the plant matrix)."""
    current_product: str | None = None
    """What it last ran before the first plan."""


class MaintenanceCfg(Model):
    resource: str
    start: datetime
    """Plant local time unless an offset is given."""
    end: datetime
    reason: str = ""


class MaterialCfg(Model):
    id: str
    available_at: datetime | None = None
    """When it is staged; none: short with no date."""
    orders: list[str] = []


class ReplanCfg(Model):
    watch: bool = True
    """The aggregator checks the triggers while it runs (a planner thread)."""
    interval_s: Annotated[float, Field(gt=0, le=3600)] = 10.0
    """How often."""
    line_down_min: Annotated[float, Field(gt=0)] = 30.0
    """A line down (an open downtime event in ``down_states``) longer than this triggers a replan."""
    down_states: list[str] = ["down"]
    assume_down_min: Annotated[float, Field(gt=0)] | None = None
    """How long a down line is assumed to stay down from now (default: ``line_down_min``)."""
    overrun_min: Annotated[float, Field(gt=0)] = 30.0
    """An order still running this long after its planned end triggers a replan."""
    shortage_h: Annotated[float, Field(ge=0)] = 4.0
    """A shortage reported by a line (it resequenced) gates the order this long from now."""
    auto: bool = False
    """Apply a replan without approval when it stays within the limits below."""
    max_moved: Annotated[int, Field(ge=0)] = 5
    max_newly_late: Annotated[int, Field(ge=0)] = 0
    time_limit_s: Annotated[float, Field(gt=0, le=3600)] = 10.0


class SchedulingCfg(Model):
    """Finite-capacity scheduling at the plant (see the README's Scheduling section)."""

    timezone: str = "UTC"
    """Zone of calendars, tariff windows and naive times."""
    horizon_h: Annotated[float, Field(gt=0, le=24 * 366)] = 336.0
    release_h: Annotated[float, Field(gt=0)] = 24.0
    """The released part of a plan: operations starting within this many hours go down."""
    frozen_h: Annotated[float, Field(ge=0)] = 2.0
    """Released work starting within this many hours keeps its line and start on replans."""
    unit_s: Annotated[int, Field(ge=1, le=3600)] = 60
    time_limit_s: Annotated[float, Field(gt=0, le=86400)] = 10.0
    seed: int = 1
    workers: Annotated[int, Field(ge=1, le=64)] = 2
    deterministic: bool = True
    objectives: Objectives = Objectives()
    calendars: dict[str, CalendarCfg] = {}
    resources: list[ResourceCfg] = []
    products: list[Product] = []
    changeovers: dict[str, dict[str, float]] = {}
    routings: list[Routing] = []
    """Default routings; ``plan import`` adds or replaces them per product."""
    tools: list[Tool] = []
    operators: list[Operator] = []
    materials: list[MaterialCfg] = []
    maintenance: list[MaintenanceCfg] = []
    tariff: Tariff | None = None
    power_kw: dict[str, dict[str, float]] = {}
    replan: ReplanCfg = ReplanCfg()

    @field_validator("timezone")
    @classmethod
    def _zone(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except Exception:
            raise ValueError(f"unknown time zone {v!r}") from None
        return v

    @model_validator(mode="after")
    def _refs(self) -> SchedulingCfg:
        ids = [r.id for r in self.resources]
        if len(set(ids)) != len(ids):
            raise ValueError("resources: duplicate resource id")
        for r in self.resources:
            if r.calendar is not None and r.calendar not in self.calendars:
                raise ValueError(f"resources.{r.id}.calendar: no calendar {r.calendar!r}")
        for m in self.maintenance:
            if m.resource not in ids:
                raise ValueError(f"maintenance: {m.resource!r} is not a resource")
        return self

    def epoch(self, t: datetime) -> float:
        return (t if t.tzinfo else t.replace(tzinfo=ZoneInfo(self.timezone))).timestamp()
