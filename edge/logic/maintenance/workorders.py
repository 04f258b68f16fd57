"""Maintenance work orders (pure): the lifecycle, and the current state of every order
folded from its append-only events.

Lifecycle::

    requested ─approve→ approved ─schedule→ scheduled ─start→ in_progress ─finish→ done
        │                  │  └──────────start──────────────────┘  ↑ │pause
        └──reject/cancel───┴──────cancel──── (any open state) ──→ cancelled   paused ─resume┘

Every step is one event with who and when; labour, parts, failure codes and comments
are events too (allowed while the order is open). An order raised by a person is
``requested`` until maintenance approves it (that approval is its acknowledgement,
the end of the "time to acknowledge"); one raised by a plan starts ``approved`` (the
plan was approved when it was configured); a corrective order the line opens for a
long stop is ``requested`` like a person's.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal

WoType = Literal["corrective", "preventive", "condition"]
WO_TYPES: tuple[str, ...] = ("corrective", "preventive", "condition")
WoState = Literal["requested", "approved", "scheduled", "in_progress", "paused", "done", "cancelled"]
OPEN_STATES = frozenset({"requested", "approved", "scheduled", "in_progress", "paused"})
#: States in which a technician is at the machine: its stop is booked to the order.
WORKING_STATES = frozenset({"in_progress"})

#: step → (states it may follow, state it leads to); None: the state does not change.
STEPS: dict[str, tuple[frozenset[str], str | None]] = {
    "approve": (frozenset({"requested"}), "approved"),
    "schedule": (frozenset({"approved", "scheduled"}), "scheduled"),
    "start": (frozenset({"approved", "scheduled"}), "in_progress"),
    "pause": (frozenset({"in_progress"}), "paused"),
    "resume": (frozenset({"paused"}), "in_progress"),
    "finish": (frozenset({"in_progress", "paused"}), "done"),
    "cancel": (frozenset(OPEN_STATES), "cancelled"),
    "labour": (frozenset({"approved", "scheduled", "in_progress", "paused"}), None),
    "parts": (frozenset({"approved", "scheduled", "in_progress", "paused"}), None),
    "failure": (frozenset(OPEN_STATES), None),
    "comment": (frozenset(OPEN_STATES | {"done"}), None),
}


class StepError(ValueError):
    """A step the order's state does not allow."""


def check_step(state: str, step: str) -> str | None:
    """The state after ``step`` from ``state`` (None: unchanged); StepError if not allowed."""
    try:
        allowed, after = STEPS[step]
    except KeyError:
        raise StepError(f"unknown step {step!r}") from None
    if state not in allowed:
        raise StepError(f"cannot {step} an order that is {state.replace('_', ' ')}")
    return after


@dataclass(frozen=True)
class WoEvent:
    seq: int
    ts: float
    wo: str
    kind: str  # created | a step of STEPS
    data: dict[str, Any]
    by: str

    @classmethod
    def of(
        cls, seq: int, ts: float, wo: str, kind: str, data: str | dict[str, Any] | None, by: str
    ) -> WoEvent:
        d = json.loads(data) if isinstance(data, str) else (data or {})
        return cls(seq, ts, wo, kind, d if isinstance(d, dict) else {}, by)


@dataclass
class WorkOrder:
    id: str
    type: str
    asset: str
    title: str
    state: str
    created: float
    created_by: str
    priority: str = "normal"
    reason: str | None = None
    """Downtime reason the machine's stop is booked under while the order is worked."""
    plan: str | None = None
    due: float | None = None
    stop_event: str | None = None
    request: int | None = None
    """The operator's maintenance request it came from."""
    failure_start: float | None = None
    estimate_h: float = 0.0
    tolerance_s: float = 0.0
    missed_s: float = 0.0
    """A plan's order: its tolerance window (compliance)."""
    steps: list[dict[str, Any]] = field(default_factory=list)
    labour: dict[str, float] = field(default_factory=dict)  # technician -> hours
    parts: dict[str, float] = field(default_factory=dict)  # part -> quantity issued
    planned_parts: dict[str, float] = field(default_factory=dict)
    problem: str | None = None
    cause: str | None = None
    remedy: str | None = None
    comments: list[dict[str, Any]] = field(default_factory=list)
    scheduled_start: float | None = None
    technician: str | None = None
    approved_at: float | None = None
    started_at: float | None = None
    finished_at: float | None = None
    finished_by: str | None = None
    cancelled_at: float | None = None
    working: list[tuple[float, float | None]] = field(default_factory=list)
    """Intervals in progress (start/resume → pause/finish)."""

    @property
    def open(self) -> bool:
        return self.state in OPEN_STATES

    @property
    def labour_h(self) -> float:
        return sum(self.labour.values())

    @property
    def remaining_h(self) -> float:
        """Backlog hours: the estimate less the labour already booked (never below 0)."""
        return max(0.0, self.estimate_h - self.labour_h) if self.open else 0.0

    def as_dict(self) -> dict[str, Any]:
        d = {k: v for k, v in self.__dict__.items() if k != "working"}
        d["labour_h"] = round(self.labour_h, 4)
        d["remaining_h"] = round(self.remaining_h, 4)
        return d


def apply_event(orders: dict[str, WorkOrder], ev: WoEvent) -> None:
    """Fold one event into ``orders`` (events of unknown orders or steps the state does
    not allow are ignored: the use cases refused them before they were written)."""
    d = ev.data
    if ev.kind == "created":
        orders[ev.wo] = WorkOrder(
            id=ev.wo,
            type=str(d.get("type", "corrective")),
            asset=str(d.get("asset", "")),
            title=str(d.get("title", "")),
            state=str(d.get("state", "requested")),
            created=ev.ts,
            created_by=ev.by,
            priority=str(d.get("priority", "normal")),
            reason=d.get("reason"),
            plan=d.get("plan"),
            due=d.get("due"),
            stop_event=d.get("stop_event"),
            request=d.get("request"),
            failure_start=d.get(
                "failure_start", ev.ts if d.get("type", "corrective") == "corrective" else None
            ),
            estimate_h=float(d.get("estimate_h", 0.0)),
            tolerance_s=float(d.get("tolerance_s", 0.0)),
            missed_s=float(d.get("missed_s", 0.0)),
            planned_parts={str(k): float(v) for k, v in (d.get("parts") or {}).items()},
            problem=d.get("problem"),
        )
        orders[ev.wo].steps.append({"step": "created", "ts": ev.ts, "by": ev.by})
        return
    wo = orders.get(ev.wo)
    if wo is None:
        return
    try:
        after = check_step(wo.state, ev.kind)
    except StepError:
        return
    wo.steps.append({"step": ev.kind, "ts": ev.ts, "by": ev.by})
    if ev.kind == "approve":
        wo.approved_at = ev.ts
    elif ev.kind == "schedule":
        wo.scheduled_start = d.get("start")
        wo.technician = d.get("technician") or wo.technician
    elif ev.kind in ("start", "resume"):
        if wo.started_at is None:
            wo.started_at = ev.ts
        wo.working.append((ev.ts, None))
    elif ev.kind in ("pause", "finish"):
        if wo.working and wo.working[-1][1] is None:
            wo.working[-1] = (wo.working[-1][0], ev.ts)
        if ev.kind == "finish":
            wo.finished_at, wo.finished_by = ev.ts, ev.by
    elif ev.kind == "cancel":
        wo.cancelled_at = ev.ts
        if wo.working and wo.working[-1][1] is None:
            wo.working[-1] = (wo.working[-1][0], ev.ts)
    elif ev.kind == "labour":
        tech = str(d.get("technician", ev.by))
        wo.labour[tech] = wo.labour.get(tech, 0.0) + float(d.get("hours", 0.0))
    elif ev.kind == "parts":
        part = str(d.get("part"))
        wo.parts[part] = wo.parts.get(part, 0.0) + float(d.get("qty", 0.0))
    elif ev.kind == "failure":
        wo.problem = d.get("problem", wo.problem)
        wo.cause = d.get("cause", wo.cause)
        wo.remedy = d.get("remedy", wo.remedy)
    elif ev.kind == "comment":
        wo.comments.append({"ts": ev.ts, "by": ev.by, "text": d.get("text", "")})
    if after is not None:
        wo.state = after


def fold(events: list[WoEvent]) -> dict[str, WorkOrder]:
    """Current state of every order from its events (in sequence order)."""
    orders: dict[str, WorkOrder] = {}
    for ev in sorted(events, key=lambda e: e.seq):
        apply_event(orders, ev)
    return orders
