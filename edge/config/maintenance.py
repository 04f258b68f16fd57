"""The ``maintenance:`` section of a line config: the asset hierarchy and the tags each
asset names, failure-code lists, preventive and condition-based plans, spare parts, the
downtime reasons work orders book stops under, and the corrective-order threshold.
Turned into the pure logic's inputs by :func:`build_maintenance_logic`.

Every machine of ``machines:`` is an asset; ``assets:`` adds tags to a machine, adds
components under it (``children``) or adds equipment of its own. An asset id is unique
across the tree. A component inherits its parent's run and cycle source.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from pydantic import Field, model_validator

from edge.config.base import Model

AssetId = Annotated[str, Field(pattern=r"^[A-Za-z][A-Za-z0-9_.\-]*$", max_length=64)]
Code = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$", max_length=32)]


class AssetCfg(Model):
    id: AssetId
    """Asset id; a machine's name makes this entry that machine."""
    name: str = ""
    """Description."""
    run_tag: str | None = None
    """Boolean tag that is true while the asset runs (run-hour plans). Absent: the
    parent's, or the machine's state (``running``)."""
    cycle_tag: str | None = None
    """PLC cycle counter (cycle plans). Absent: the parent's."""
    cycle_bits: Literal[16, 32, 64] = 32
    """Width of the cycle counter (it wraps at 2^bits)."""
    fault_code_tag: str | None = None
    """Tag with the asset's fault code (a machine's default: its ``fault_code_tag``)."""
    condition_tags: list[str] = []
    """Tags that tell the asset's condition (motor current, vibration, temperature)."""
    corrective_after_min: Annotated[float, Field(gt=0)] | None = None
    """A machine's override of ``maintenance.corrective_after_min``."""
    children: list[AssetCfg] = []
    """Components of this asset."""


class CodeCfg(Model):
    code: Code
    """Failure code."""
    name: str
    """Text shown to technicians."""


class FailureCodesCfg(Model):
    """The lists a technician picks a corrective order's failure coding from."""

    problems: list[CodeCfg] = []
    """What failed (the failure mode: bearing worn, jam, leak)."""
    causes: list[CodeCfg] = []
    """Why (wear, misuse, design)."""
    remedies: list[CodeCfg] = []
    """What was done (replaced, adjusted, cleaned)."""


class CalendarTrigger(Model):
    every_days: Annotated[float, Field(gt=0, le=3650)] | None = None
    """Interval in days."""
    every_weeks: Annotated[float, Field(gt=0, le=520)] | None = None
    """Interval in weeks."""
    start: datetime
    """The first due time (plant local time when it has no offset)."""


class MeterTrigger(Model):
    every: Annotated[float, Field(gt=0)]
    """Interval: run hours, or cycles of the counter."""


class ThresholdTrigger(Model):
    tag: str
    """Tag watched (one of the asset's condition tags, or any tag)."""
    above: float | None = None
    """Due when the value stays above this ..."""
    below: float | None = None
    """... or below this ..."""
    for_min: Annotated[float, Field(ge=0)] = 0.0
    """... for this many minutes."""


class TrendTrigger(Model):
    tag: str
    """Tag watched."""
    above: float | None = None
    """Limit the rising trend must not reach ..."""
    below: float | None = None
    """... or the falling trend."""
    window_h: Annotated[float, Field(gt=0)] = 24.0
    """Hours of samples the line is fitted through (least squares)."""
    horizon_h: Annotated[float, Field(gt=0)] = 24.0
    """Due when the fitted line reaches the limit within this many hours."""
    min_points: Annotated[int, Field(ge=2)] = 10
    """Fewest samples in the window for a fit."""


class TriggerCfg(Model):
    """Exactly one of these."""

    calendar: CalendarTrigger | None = None
    """Every N days or weeks from a start."""
    run_hours: MeterTrigger | None = None
    """Every N hours of running (the asset's run tag or its machine's state)."""
    cycles: MeterTrigger | None = None
    """Every N counts of the asset's cycle counter (across wraps and resets)."""
    threshold: ThresholdTrigger | None = None
    """A tag above or below a limit for a duration (condition-based)."""
    trend: TrendTrigger | None = None
    """A tag's linear trend reaching a limit within a horizon (condition-based)."""

    @model_validator(mode="after")
    def _one(self) -> TriggerCfg:
        given = [k for k in ("calendar", "run_hours", "cycles", "threshold", "trend") if getattr(self, k)]
        if len(given) != 1:
            raise ValueError(
                "give exactly one of calendar, run_hours, cycles, threshold, trend"
                + (f" (got {', '.join(given)})" if given else "")
            )
        for k in ("threshold", "trend"):
            t = getattr(self, k)
            if t is not None and (t.above is None) == (t.below is None):
                raise ValueError(f"{k}: give above or below (one of them)")
        c = self.calendar
        if c is not None and (c.every_days is None) == (c.every_weeks is None):
            raise ValueError("calendar: give every_days or every_weeks (one of them)")
        return self

    @property
    def kind(self) -> str:
        return next(k for k in ("calendar", "run_hours", "cycles", "threshold", "trend") if getattr(self, k))


class PlanCfg(Model):
    id: Code
    """Plan id."""
    asset: AssetId
    """Asset the plan maintains."""
    title: str = ""
    """What the work order says."""
    trigger: TriggerCfg
    """When the plan comes due."""
    tasks: list[str] = []
    """Task list of the work order."""
    estimate_h: Annotated[float, Field(ge=0, le=1000)] = 1.0
    """Estimated duration in hours (backlog, maintenance windows)."""
    parts: dict[str, Annotated[float, Field(gt=0)]] = {}
    """Spare parts it needs: part id → quantity (reserved when scheduled)."""
    tolerance_h: Annotated[float, Field(ge=0)] = 24.0
    """Done up to this many hours after its due time: on time; later: late."""
    missed_h: Annotated[float, Field(gt=0)] = 168.0
    """Not done this many hours after its due time: missed."""


class PartCfg(Model):
    id: Code
    """Part number."""
    name: str = ""
    """Description."""
    unit: str = "pcs"
    """Unit of quantities."""
    min: Annotated[float, Field(ge=0)] = 0.0
    """Reorder when on hand minus reserved falls below this."""
    max: Annotated[float, Field(ge=0)] = 0.0
    """Reorder up to this."""


class MaintReasonsCfg(Model):
    corrective: str | None = None
    """Downtime reason (an ``availability`` reason of the tree) a machine's stop is booked
    under while a corrective order without a fault-code reason is in progress."""
    preventive: str | None = None
    """Downtime reason (a ``planned`` reason) for stops while preventive or
    condition-based work is in progress."""


class MaintenanceCfg(Model):
    """Maintenance of the line's assets (see the README's Maintenance section)."""

    assets: list[AssetCfg] = []
    """Asset tree additions (machines are assets already)."""
    failure_codes: FailureCodesCfg = FailureCodesCfg()
    """Problem, cause and remedy lists."""
    plans: list[PlanCfg] = []
    """Preventive and condition-based plans."""
    parts: list[PartCfg] = []
    """Spare parts kept at the line's store room."""
    reasons: MaintReasonsCfg = MaintReasonsCfg()
    """Reasons stops are booked under while work orders are in progress."""
    corrective_after_min: Annotated[float, Field(gt=0)] | None = None
    """A ``down`` stop longer than this opens a corrective order (absent: never)."""


# ------------------------------------------------------------------------- the tree


def asset_tree(cfg: Any) -> dict[str, dict[str, Any]]:
    """Every asset: id → {name, parent, machine, run_tag, cycle_tag, cycle_bits,
    fault_code_tag, condition_tags, corrective_after_min, depth}. Machines first."""
    m: MaintenanceCfg = cfg.maintenance
    out: dict[str, dict[str, Any]] = {}
    machines = {mc.name: mc for mc in cfg.machines}
    for mc in cfg.machines:
        out[mc.name] = {
            "name": mc.name,
            "parent": None,
            "machine": mc.name,
            "run_tag": None,
            "cycle_tag": None,
            "cycle_bits": 32,
            "fault_code_tag": mc.fault_code_tag,
            "condition_tags": [],
            "corrective_after_min": m.corrective_after_min,
            "depth": 0,
        }

    def walk(a: AssetCfg, parent: str | None, depth: int) -> None:
        up = out.get(parent) if parent else None
        base = out.get(a.id) if a.id in machines and parent is None else None
        node = {
            "name": a.name or (base["name"] if base else a.id),
            "parent": parent,
            "machine": a.id if a.id in machines else (up["machine"] if up else None),
            "run_tag": a.run_tag or (up["run_tag"] if up else None),
            "cycle_tag": a.cycle_tag or (up["cycle_tag"] if up else None),
            "cycle_bits": a.cycle_bits if a.cycle_tag or not up else up["cycle_bits"],
            "fault_code_tag": a.fault_code_tag or (base["fault_code_tag"] if base else None),
            "condition_tags": list(a.condition_tags),
            "corrective_after_min": a.corrective_after_min
            or (base["corrective_after_min"] if base else None),
            "depth": depth,
        }
        out[a.id] = node
        for c in a.children:
            walk(c, a.id, depth + 1)

    for a in m.assets:
        walk(a, None, 0)
    return out


def check_maintenance_section(cfg: Any) -> list[str]:
    """Cross-section checks; each message starts with the field path."""
    errors: list[str] = []
    m: MaintenanceCfg = cfg.maintenance
    tags = {t.name for t in cfg.tags}
    machines = {mc.name for mc in cfg.machines}
    seen: set[str] = set()

    def walk(a: AssetCfg, path: str, top: bool) -> None:
        if a.id in seen or (not top and a.id in machines):
            errors.append(f"{path}.id: duplicate asset id {a.id!r}")
        seen.add(a.id)
        for f in ("run_tag", "cycle_tag", "fault_code_tag"):
            t = getattr(a, f)
            if t is not None and t not in tags:
                errors.append(f"{path}.{f}: asset {a.id!r} refers to unknown tag {t!r}")
        for i, t in enumerate(a.condition_tags):
            if t not in tags:
                errors.append(f"{path}.condition_tags[{i}]: asset {a.id!r} refers to unknown tag {t!r}")
        for j, c in enumerate(a.children):
            walk(c, f"{path}.children[{j}]", False)

    for i, a in enumerate(m.assets):
        walk(a, f"maintenance.assets[{i}]", True)
    tree = asset_tree(cfg)
    parts = {p.id for p in m.parts}
    if len(parts) != len(m.parts):
        errors.append("maintenance.parts: duplicate part id")
    for i, part_cfg in enumerate(m.parts):
        if part_cfg.max and part_cfg.max < part_cfg.min:
            errors.append(f"maintenance.parts[{i}].max: below min")
    for kind in ("problems", "causes", "remedies"):
        codes = [c.code for c in getattr(m.failure_codes, kind)]
        if len(set(codes)) != len(codes):
            errors.append(f"maintenance.failure_codes.{kind}: duplicate code")
    ids: set[str] = set()
    for i, p in enumerate(m.plans):
        where = f"maintenance.plans[{i}]"
        if p.id in ids:
            errors.append(f"{where}.id: duplicate plan id {p.id!r}")
        ids.add(p.id)
        node = tree.get(p.asset)
        if node is None:
            errors.append(f"{where}.asset: plan {p.id!r} is for unknown asset {p.asset!r}")
            continue
        for part in p.parts:
            if part not in parts:
                errors.append(f"{where}.parts: {part!r} is not in maintenance.parts")
        t = p.trigger
        if t.cycles is not None and not node["cycle_tag"]:
            errors.append(f"{where}.trigger.cycles: asset {p.asset!r} names no cycle_tag")
        if t.run_hours is not None and not node["run_tag"] and not node["machine"]:
            errors.append(f"{where}.trigger.run_hours: asset {p.asset!r} has no run_tag and is no machine's")
        for k in ("threshold", "trend"):
            w = getattr(t, k)
            if w is not None and w.tag not in tags:
                errors.append(f"{where}.trigger.{k}.tag: unknown tag {w.tag!r}")
        if p.missed_h < p.tolerance_h:
            errors.append(f"{where}.missed_h: shorter than tolerance_h")
    reasons = _reason_losses(cfg.reasons)
    for f, loss in (("corrective", "availability"), ("preventive", "planned")):
        code = getattr(m.reasons, f)
        if code is None:
            continue
        if code not in reasons:
            errors.append(f"maintenance.reasons.{f}: reason {code!r} is not in the reason tree")
        elif reasons[code] != loss:
            errors.append(f"maintenance.reasons.{f}: reason {code!r} is a {reasons[code]} loss, not {loss}")
    return errors


def _reason_losses(reasons: list[Any]) -> dict[str, str]:
    out: dict[str, str] = {}

    def walk(node: Any, parent: str) -> None:
        loss = node.loss or parent
        out[node.code] = loss
        for c in node.children:
            walk(c, loss)

    for r in reasons:
        walk(r, r.loss or "availability")
    return out


# ------------------------------------------------------------------------- builders


def _epoch(dt: datetime, tz: str) -> float:
    return (dt if dt.tzinfo else dt.replace(tzinfo=ZoneInfo(tz))).timestamp()


def build_maintenance_logic(cfg: Any) -> Any:
    """The pure ``MaintenanceLogic`` for a validated line config (None: nothing to watch)."""
    from edge.logic.maintenance.engine import MaintenanceLogic, OrderTemplate
    from edge.logic.maintenance.plans import PlanSpec

    m: MaintenanceCfg = cfg.maintenance
    tree = asset_tree(cfg)
    plans = []
    for p in m.plans:
        a = tree[p.asset]
        t = p.trigger
        common: dict[str, Any] = {
            "tolerance_s": p.tolerance_h * 3600,
            "missed_s": p.missed_h * 3600,
        }
        spec: PlanSpec
        if t.calendar is not None:
            every = (t.calendar.every_days or 0) * 86400 or (t.calendar.every_weeks or 0) * 7 * 86400
            start = _epoch(t.calendar.start, cfg.line.timezone)
            spec = PlanSpec(p.id, p.asset, "calendar", every=every, start=start, **common)
        elif t.run_hours is not None:
            spec = PlanSpec(
                p.id,
                p.asset,
                "run_hours",
                every=t.run_hours.every,
                tag=a["run_tag"],
                machine=a["machine"],
                **common,
            )
        elif t.cycles is not None:
            spec = PlanSpec(
                p.id,
                p.asset,
                "cycles",
                every=t.cycles.every,
                tag=a["cycle_tag"],
                bits=a["cycle_bits"],
                **common,
            )
        elif t.threshold is not None:
            w = t.threshold
            op: Literal["above", "below"] = "above" if w.above is not None else "below"
            limit = w.above if w.above is not None else w.below
            assert limit is not None
            spec = PlanSpec(
                p.id, p.asset, "threshold", tag=w.tag, limit=limit, op=op, for_s=w.for_min * 60, **common
            )
        else:
            tr = t.trend
            assert tr is not None
            op = "above" if tr.above is not None else "below"
            limit = tr.above if tr.above is not None else tr.below
            assert limit is not None
            spec = PlanSpec(
                p.id,
                p.asset,
                "trend",
                tag=tr.tag,
                limit=limit,
                op=op,
                window_s=tr.window_h * 3600,
                horizon_s=tr.horizon_h * 3600,
                min_points=tr.min_points,
                **common,
            )
        reason = m.reasons.preventive
        plans.append(
            (
                spec,
                OrderTemplate(
                    title=p.title or f"{p.id} on {p.asset}",
                    estimate_h=p.estimate_h,
                    parts=tuple(sorted(p.parts.items())),
                    reason=reason,
                    tolerance_s=p.tolerance_h * 3600,
                    missed_s=p.missed_h * 3600,
                ),
            )
        )
    after = {
        name: a["corrective_after_min"] * 60
        for name, a in tree.items()
        if a["parent"] is None and a["machine"] == name and a["corrective_after_min"]
    }
    if not plans and not after:
        return None
    return MaintenanceLogic(plans, corrective_after_s=after)
