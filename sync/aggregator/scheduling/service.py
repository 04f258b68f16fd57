"""Scheduling use cases at the plant: import orders and routings, build the problem from
the config and the plant store (what the lines report included), solve, diff against the
plan in force, approve and release the near part of a plan to the lines as ``plan``
commands, record what should trigger a replan, and the planner thread that watches those
triggers while the aggregator runs.

A replan is *proposed* (stored with its diff) and waits for a planner's approval, unless
``replan.auto`` is on and the diff stays within ``replan.max_moved`` and
``replan.max_newly_late``: then it is approved and released at once, by ``auto``.
"""

from __future__ import annotations

import csv
import json
import logging
import threading
import time
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from edge.core.errors import ConfigError, LinesideError
from edge.core.faultlog import FaultLog
from sync.aggregator.config import AggregatorConfig
from sync.aggregator.scheduling import store as repo
from sync.aggregator.scheduling.config import SchedulingCfg
from sync.aggregator.scheduling.diff import PlanDiff, diff
from sync.aggregator.scheduling.model import (
    Alternative,
    Maintenance,
    Material,
    ModelError,
    Operation,
    Order,
    Plan,
    PlannedOp,
    Problem,
    Resource,
    Routing,
    SolveParams,
)
from sync.aggregator.scheduling.solver import solve
from sync.aggregator.store import AggregatorStore, open_store
from sync.aggregator.users import AuditNote

log = logging.getLogger("lineside.planner")

#: Plan statuses.
PROPOSED, APPROVED, RELEASED, INFEASIBLE = "proposed", "approved", "released", "infeasible"


class PlanError(LinesideError):
    """A planning request refused; the message says why."""

    exit_code = 2


def scheduling(cfg: AggregatorConfig) -> SchedulingCfg:
    if cfg.scheduling is None:
        raise PlanError("scheduling: this aggregator config has no scheduling section (see the README)")
    return cfg.scheduling


# ----------------------------------------------------------------------------- the problem


def _routings(sc: SchedulingCfg, st: AggregatorStore) -> list[Routing]:
    by_product = {r.product: r for r in sc.routings}
    for body in repo.routings(st):
        r = Routing.model_validate(body)
        by_product[r.product] = r
    return list(by_product.values())


def released_ops(st: AggregatorStore) -> tuple[int | None, list[PlannedOp]]:
    p = repo.latest(st, (RELEASED,))
    if p is None:
        return None, []
    return p["id"], Plan.model_validate(p["body"]).ops


def _completed(st: AggregatorStore, cfg: AggregatorConfig) -> set[str]:
    done: set[str] = set()
    for ln in cfg.lines:
        for r in st.records(ln.key, "orders"):
            if r.get("action") == "complete":
                done.add(str(r.get("order_id")))
    return done


def build_problem(cfg: AggregatorConfig, st: AggregatorStore, now: float) -> Problem:
    """Everything the solver needs, as of ``now``: open orders (not completed at a line),
    routings (config, then imported), resources with lines that are down, maintenance
    and materials (config, then entered at the plant, then what the lines reported),
    the plan in force (stability, frozen horizon) and the operations running now."""
    sc = scheduling(cfg)
    rp = sc.replan
    done = _completed(st, cfg)
    for oid in done:
        repo.set_order_status(st, oid, "done", now)
    _, released = released_ops(st)
    states = repo.line_states(st)
    line_of = {r.id: (cfg.line(r.line).key if r.line else None) for r in sc.resources}
    down_until: dict[str, float] = {}
    assume = (rp.assume_down_min or rp.line_down_min) * 60
    for line, _ev, start, state in repo.open_downtime(st):
        if state in rp.down_states and now - start >= rp.line_down_min * 60:
            down_until[line] = now + assume
    resources = [
        Resource(
            id=r.id,
            calendar=r.calendar,
            changeovers=r.changeovers,
            current_product=r.current_product,
            line=line_of[r.id],
            down_until=down_until.get(line_of[r.id] or ""),
        )
        for r in sc.resources
    ]
    # What runs now at a line: its operation in the plan in force stays where it is.
    in_progress = []
    running = {s["order"]: line for line, s in states.items() if s.get("online") and s.get("order")}
    for op in released:
        at = line_of.get(op.resource)
        if at is not None and running.get(op.order) == at:
            end = op.end if op.end > now else now + rp.overrun_min * 60
            in_progress.append(op.model_copy(update={"end": end}))
    orders = [
        Order(
            id=o["id"],
            product=o["product"],
            quantity=o["quantity"],
            release=o["release"],
            due=o["due"],
            deadline=o["deadline"],
            priority=o["priority"],
            materials=o["materials"],
        )
        for o in repo.orders(st)
        if o["id"] not in done
    ]
    maint = [
        Maintenance(resource=m.resource, start=sc.epoch(m.start), end=sc.epoch(m.end), reason=m.reason)
        for m in sc.maintenance
    ] + [Maintenance(resource=r, start=a, end=b, reason=why) for r, a, b, why in repo.maintenance(st, now)]
    mats = {
        m.id: Material(
            id=m.id, available_at=sc.epoch(m.available_at) if m.available_at else None, orders=m.orders
        )
        for m in sc.materials
    }
    for mid, when, ords in repo.materials(st):
        mats[mid] = Material(id=mid, available_at=when, orders=ords)
    for d in repo.deviations(st, limit=200):
        if d["reason"] == "material" and d["planned"] and now - d["ts"] < max(rp.shortage_h, 0.1) * 3600:
            mid = f"line-report:{d['planned']}"
            mats.setdefault(
                mid, Material(id=mid, available_at=d["ts"] + rp.shortage_h * 3600, orders=[d["planned"]])
            )
    return Problem(
        origin=now,
        horizon_h=sc.horizon_h,
        timezone=sc.timezone,
        unit_s=sc.unit_s,
        orders=orders,
        routings=_routings(sc, st),
        products=sc.products,
        changeovers=sc.changeovers,
        calendars=sc.calendars,
        resources=resources,
        maintenance=[m for m in maint if m.end > now],
        tools=sc.tools,
        operators=sc.operators,
        materials=list(mats.values()),
        tariff=sc.tariff,
        power_kw=sc.power_kw,
        objectives=sc.objectives,
        frozen_h=sc.frozen_h,
        released=[o for o in released if o.end > now and o.order not in done],
        in_progress=in_progress,
    )


def params(sc: SchedulingCfg, *, time_limit: float | None = None, seed: int | None = None) -> SolveParams:
    return SolveParams(
        time_limit_s=time_limit or sc.time_limit_s,
        seed=sc.seed if seed is None else seed,
        workers=sc.workers,
        deterministic=sc.deterministic,
    )


# ----------------------------------------------------------------------------- solve, approve, release


def solve_plan(
    cfg: AggregatorConfig,
    *,
    trigger: str = "manual",
    now: float | None = None,
    time_limit: float | None = None,
    seed: int | None = None,
    store: AggregatorStore | None = None,
) -> dict[str, Any]:
    """Solve, store the plan as proposed (or infeasible, with the explanation) with its
    diff against the plan in force; within the auto limits, release it. Returns the
    stored plan row."""
    sc = scheduling(cfg)
    now = now if now is not None else time.time()
    st = store or open_store(cfg)
    try:
        problem = build_problem(cfg, st, now)
        try:
            plan = solve(problem, params(sc, time_limit=time_limit, seed=seed))
        except ModelError as e:
            raise PlanError(str(e)) from None
        _, old = released_ops(st)
        d = diff(old, plan, tolerance_s=sc.unit_s, since=now)
        status = (
            INFEASIBLE
            if plan.status == "infeasible"
            else (PROPOSED if plan.ops or not problem.orders else INFEASIBLE)
        )
        with st.tx():
            pid = repo.add_plan(
                st,
                created=now,
                origin=now,
                status=status,
                trigger=trigger,
                objective=plan.objective,
                bound=plan.bound,
                gap=plan.gap,
                body=plan.model_dump(mode="json"),
                diff=d.model_dump(mode="json"),
            )
            repo.close_events(st, pid)
            if status == PROPOSED:
                repo.supersede(st, pid, (PROPOSED,), now)
        log.info("plan %d (%s): %s; %s", pid, trigger, status, d.summary())
        rp = sc.replan
        if (
            status == PROPOSED
            and rp.auto
            and trigger != "manual"
            and len(d.moved) <= rp.max_moved
            and len(d.newly_late) <= rp.max_newly_late
        ):
            release_plan(cfg, pid, by="auto", now=now, store=st)
        row = repo.plan(st, pid)
        assert row is not None
        return row
    finally:
        if store is None:
            st.close()


def get_plan(
    cfg: AggregatorConfig, plan_id: int | None = None, *, store: AggregatorStore | None = None
) -> dict[str, Any]:
    """A plan by id; without one the newest proposed, else the one released last."""
    st = store or open_store(cfg)
    try:
        row = (
            repo.plan(st, plan_id)
            if plan_id is not None
            else repo.latest(st, (PROPOSED,)) or repo.latest(st, (RELEASED, APPROVED, INFEASIBLE))
        )
        if row is None:
            raise PlanError(
                "plan: no plan yet (lineside aggregator plan solve)"
                if plan_id is None
                else f"plan: no plan {plan_id}"
            )
        return row
    finally:
        if store is None:
            st.close()


def approve_plan(
    cfg: AggregatorConfig,
    plan_id: int | None,
    *,
    by: str,
    now: float | None = None,
    audit: AuditNote | None = None,
) -> dict[str, Any]:
    """Approve a proposed plan; ``audit`` is written in the same transaction (entity
    ``plan ID``)."""
    now = now if now is not None else time.time()
    st = open_store(cfg)
    try:
        row = get_plan(cfg, plan_id, store=st)
        if row["status"] not in (PROPOSED, APPROVED):
            raise PlanError(f"plan {row['id']} is {row['status']}: only a proposed plan can be approved")
        by = by.strip()
        if not by:
            raise PlanError("by: say who approves")
        with st.tx():
            repo.set_plan_status(st, row["id"], APPROVED, by=by, at=now)
            if audit is not None:
                audit.write(st, now, entity=f"plan {row['id']}")
        return repo.plan(st, row["id"]) or row
    finally:
        st.close()


def release_body(
    cfg: AggregatorConfig, row: dict[str, Any], now: float, st: AggregatorStore
) -> dict[str, dict[str, Any]]:
    """The ``plan`` command body per line: the operations on its resources that start
    within ``release_h`` (and have not ended), in sequence, with plan times, changeover,
    crew and tools."""
    sc = scheduling(cfg)
    plan = Plan.model_validate(row["body"])
    line_of = {r.id: (cfg.line(r.line).key if r.line else None) for r in sc.resources}
    orders = {o["id"]: o for o in repo.orders(st, status=None)}
    bodies: dict[str, dict[str, Any]] = {}
    horizon = now + sc.release_h * 3600
    for op in sorted(plan.ops, key=lambda o: o.start):
        line = line_of.get(op.resource)
        if line is None or op.end <= now or op.start >= horizon:
            continue
        o = orders.get(op.order, {})
        body = bodies.setdefault(
            line, {"plan_id": str(row["id"]), "released_at": now, "rules": "next_feasible", "sequence": []}
        )
        body["sequence"].append(
            {
                "order_id": op.order,
                "product": op.product,
                "quantity": op.quantity,
                "due": o.get("due"),
                "priority": int(o.get("priority") or 0),
                "resource": op.resource,
                "start": op.start,
                "end": op.end,
                "setup_min": op.setup_min,
                "crew": op.crew,
                "tools": op.tools,
                "materials": list(o.get("materials") or []),
            }
        )
    # Lines with nothing in the released window get an empty sequence: their old plan ends.
    for r in sc.resources:
        if line_of[r.id] is not None:
            bodies.setdefault(
                line_of[r.id] or "",
                {"plan_id": str(row["id"]), "released_at": now, "rules": "next_feasible", "sequence": []},
            )
    return bodies


def release_plan(
    cfg: AggregatorConfig,
    plan_id: int | None,
    *,
    by: str,
    now: float | None = None,
    store: AggregatorStore | None = None,
    audit: AuditNote | None = None,
) -> dict[str, Any]:
    """Approve (if proposed) and release a plan: queue one ``plan`` command per line and
    supersede the plan released before, in one transaction with ``audit`` (entity ``plan
    ID``, detail ``line: command`` …). Returns {"plan": row, "commands": {line: id}}."""
    now = now if now is not None else time.time()
    by = by.strip()
    if not by:
        raise PlanError("by: say who releases")
    st = store or open_store(cfg)
    try:
        row = get_plan(cfg, plan_id, store=st)
        if row["status"] not in (PROPOSED, APPROVED, RELEASED):
            raise PlanError(f"plan {row['id']} is {row['status']}: it cannot be released")
        bodies = release_body(cfg, row, now, st)
        ids = {line: f"plan-{row['id']}-{line.rsplit('/', 1)[-1]}-{int(now)}" for line in bodies}
        with st.tx():
            st.insert_commands([(ids[line], line, "plan", body) for line, body in bodies.items()], now)
            repo.set_plan_status(st, row["id"], RELEASED, by=by, at=now, released=True)
            repo.supersede(st, row["id"], (RELEASED, APPROVED), now)
            if audit is not None:
                audit.write(
                    st,
                    now,
                    entity=f"plan {row['id']}",
                    detail=", ".join(f"{line}: {cid}" for line, cid in ids.items()),
                )
        log.info("plan %d released by %s to %d lines", row["id"], by, len(ids))
        return {"plan": repo.plan(st, row["id"]), "commands": ids}
    finally:
        if store is None:
            st.close()


def plan_diff(row: dict[str, Any]) -> PlanDiff:
    return PlanDiff.model_validate(row["diff"])


# ----------------------------------------------------------------------------- inputs and events


def record_event(
    cfg: AggregatorConfig,
    kind: str,
    *,
    line: str = "",
    ref: str = "",
    detail: str = "",
    now: float | None = None,
) -> int:
    st = open_store(cfg)
    try:
        return repo.add_event(
            st, now if now is not None else time.time(), kind, line=line, ref=ref, detail=detail
        )
    finally:
        st.close()


def add_maintenance(
    cfg: AggregatorConfig,
    resource: str,
    start: float,
    end: float,
    reason: str = "",
    *,
    now: float | None = None,
) -> None:
    sc = scheduling(cfg)
    if resource not in {r.id for r in sc.resources}:
        raise PlanError(
            f"resource: {resource!r} is not a resource (known: {', '.join(r.id for r in sc.resources)})"
        )
    if end <= start:
        raise PlanError("end: must be after start")
    now = now if now is not None else time.time()
    st = open_store(cfg)
    try:
        with st.tx():
            repo.add_maintenance(st, resource, start, end, reason, now)
            repo.add_event(st, now, "maintenance", ref=resource, detail=reason)
    finally:
        st.close()


def material_notice(
    cfg: AggregatorConfig,
    material: str,
    available_at: float | None,
    order_ids: list[str],
    *,
    now: float | None = None,
) -> None:
    """A material shortage (or its new date): orders needing it wait until then."""
    scheduling(cfg)
    now = now if now is not None else time.time()
    st = open_store(cfg)
    try:
        with st.tx():
            repo.set_material(st, material, available_at, order_ids, now)
            repo.add_event(st, now, "shortage", ref=material, detail=", ".join(order_ids))
    finally:
        st.close()


def cancel_order(cfg: AggregatorConfig, order_id: str, *, now: float | None = None) -> None:
    scheduling(cfg)
    now = now if now is not None else time.time()
    st = open_store(cfg)
    try:
        with st.tx():
            if not repo.set_order_status(st, order_id, "cancelled", now):
                raise PlanError(f"order: {order_id!r} is not an open order to plan")
            repo.add_event(st, now, "order_cancelled", ref=order_id)
    finally:
        st.close()


def read_plan_file(
    path: Path, sc: SchedulingCfg, known_products: set[str]
) -> tuple[list[dict[str, Any]], list[Routing]]:
    """Orders and routings from CSV or JSON, every bad row named (ConfigError), nothing
    returned while any is bad. JSON: ``{"orders": [...], "routings": [...]}`` or a list
    of orders. CSV: orders (``order_id,product,quantity[,due,release,deadline,priority,
    materials]``) or routing alternatives (``product,op,resource[,rate_per_min,
    minutes_per_unit,minutes,min_batch,crew,tools,kw]``), told apart by the header."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise ConfigError([f"{path}: cannot read: {e}"]) from None
    errors: list[str] = []
    orders: list[dict[str, Any]] = []
    routings: list[Routing] = []
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except ValueError as e:
            raise ConfigError([f"{path}: not JSON: {e}"]) from None
        if isinstance(data, list):
            data = {"orders": data}
        if not isinstance(data, dict) or set(data) - {"orders", "routings"}:
            raise ConfigError(
                [f'{path}: expected a list of orders or {{"orders": [...], "routings": [...]}}']
            )
        for i, r in enumerate(data.get("routings") or []):
            try:
                routings.append(Routing.model_validate(r))
            except ValidationError as e:
                errors.append(f"{path}: routings[{i}]: {_first(e)}")
        rows = [(f"orders[{i}]", r) for i, r in enumerate(data.get("orders") or [])]
    else:
        reader = csv.DictReader(text.splitlines())
        head = set(reader.fieldnames or [])
        if {"product", "op", "resource"} <= head:
            alts: dict[str, dict[int, list[Alternative]]] = {}
            for n, r in enumerate(reader, start=2):
                try:
                    op = int(r["op"])
                    alt = Alternative.model_validate(
                        {
                            "resource": r["resource"],
                            **{
                                k: float(r[k])
                                for k in ("rate_per_min", "minutes_per_unit", "minutes", "kw")
                                if r.get(k)
                            },
                            **{k: int(r[k]) for k in ("min_batch", "crew") if r.get(k)},
                            "tools": [t for t in (r.get("tools") or "").split(";") if t],
                        }
                    )
                except ValidationError as e:
                    errors.append(f"{path}: row {n}: {_first(e)}")
                    continue
                except (ValueError, KeyError) as e:
                    errors.append(f"{path}: row {n}: {e}")
                    continue
                alts.setdefault(r["product"], {}).setdefault(op, []).append(alt)
            for product, ops in alts.items():
                routings.append(
                    Routing(product=product, operations=[Operation(alternatives=ops[k]) for k in sorted(ops)])
                )
            rows = []
        else:
            rows = [(f"row {n}", dict(r)) for n, r in enumerate(reader, start=2)]
    products = known_products | {r.product for r in routings}
    for where, r in rows:
        try:
            o = _order_row(r, sc)
        except (ValueError, KeyError, TypeError) as e:
            errors.append(f"{path}: {where}: {e}")
            continue
        if o["product"] not in products:
            errors.append(
                f"{path}: {where}: product: {o['product']!r} has no routing (known: {', '.join(sorted(products)) or 'none'})"
            )
            continue
        orders.append(o)
    ids = [o["id"] for o in orders]
    dup = sorted({i for i in ids if ids.count(i) > 1})
    if dup:
        errors.append(f"{path}: order {dup[0]!r} appears twice")
    if errors:
        raise ConfigError(errors)
    return orders, routings


def _first(e: ValidationError) -> str:
    err = e.errors()[0]
    return f"{'.'.join(map(str, err['loc'])) or '(item)'}: {err['msg']}"


def _order_row(r: dict[str, Any], sc: SchedulingCfg) -> dict[str, Any]:
    from sync.aggregator.orders import due_time

    def t(key: str) -> float | None:
        v = r.get(key)
        if v in (None, ""):
            return None
        try:
            return due_time(str(v)) if not isinstance(v, (int, float)) else float(v)
        except LinesideError as e:
            raise ValueError(f"{key}: {str(e).removeprefix('due: ')}") from None

    oid = str(r.get("order_id") or r.get("id") or "").strip()
    if not oid:
        raise ValueError("order_id: required")
    try:
        qty = int(r["quantity"])
    except (KeyError, ValueError, TypeError):
        raise ValueError(f"quantity: a whole number is required (got {r.get('quantity')!r})") from None
    mats = r.get("materials") or []
    if isinstance(mats, str):
        mats = [m for m in mats.split(";") if m]
    order = {
        "id": oid,
        "product": str(r.get("product") or ""),
        "quantity": qty,
        "due": t("due"),
        "release": t("release"),
        "deadline": t("deadline"),
        "priority": int(r.get("priority") or 0),
        "materials": list(mats),
    }
    try:
        Order.model_validate(order)
    except ValidationError as e:
        raise ValueError(_first(e)) from None
    return order


def import_plan_file(cfg: AggregatorConfig, path: Path, *, now: float | None = None) -> tuple[int, int]:
    """Import orders and routings (all or nothing); returns (orders, routings)."""
    sc = scheduling(cfg)
    now = now if now is not None else time.time()
    st = open_store(cfg)
    try:
        known = {r.product for r in _routings(sc, st)}
        orders, routings = read_plan_file(path, sc, known)
        with st.tx():
            for r in routings:
                repo.upsert_routing(st, r.product, r.model_dump(mode="json"), now)
            for o in orders:
                if repo.upsert_order(st, o, now):
                    repo.add_event(st, now, "order_new", ref=o["id"])
        return len(orders), len(routings)
    finally:
        st.close()


# ----------------------------------------------------------------------------- triggers


def check_triggers(cfg: AggregatorConfig, st: AggregatorStore, now: float) -> list[dict[str, Any]]:
    """Record what happened since the last look (a line down past the threshold, an
    order overrunning its plan, a line that resequenced or is blocked) and return the
    events not yet answered by a plan."""
    sc = scheduling(cfg)
    rp = sc.replan
    lines = {r.line and cfg.line(r.line).key for r in sc.resources} - {None, ""}
    # One trigger per line and stop: its machines' open stops count as one episode,
    # from the earliest of them.
    down: dict[str, tuple[float, str, str]] = {}
    for line, ev, start, state in repo.open_downtime(st):
        if line in lines and state in rp.down_states and line not in down:
            down[line] = (start, ev, state)
    for line, (start, ev, state) in down.items():
        if now - start >= rp.line_down_min * 60 and not repo.event_since(st, "line_down", line, line, start):
            repo.add_event(
                st, now, "line_down", line=line, ref=line, detail=f"{state} since {start:.0f} ({ev})"
            )
    pid, released = released_ops(st)
    if pid is not None:
        line_of = {r.id: (cfg.line(r.line).key if r.line else None) for r in sc.resources}
        for line, s in repo.line_states(st).items():
            order = s.get("order")
            if not order:
                continue
            for op in released:
                if (
                    op.order == order
                    and line_of.get(op.resource) == line
                    and now - op.end >= rp.overrun_min * 60
                ) and not repo.event_since(st, "overrun", line, order, 0):
                    repo.add_event(st, now, "overrun", line=line, ref=order)
    new = repo.deviations(st, unhandled=True)
    for d in new:
        repo.add_event(
            st,
            now,
            "resequenced" if d["kind"] == "plan.resequence" else "line_blocked",
            line=d["line"],
            ref=d["planned"],
            detail=d["message"],
        )
    if new:
        repo.mark_deviations(st, [(d["line"], int(d["seq"])) for d in new])
    return repo.events(st, open_only=True)


class Planner:
    """The aggregator's planner thread: every ``replan.interval_s`` it checks the
    triggers and, when there are any, solves a replan (proposed, or released within the
    auto limits). Its own store connection; a failure is logged (once while it repeats,
    and its recovery once) and tried again later."""

    def __init__(self, cfg: AggregatorConfig) -> None:
        self.cfg = cfg
        self.sc = scheduling(cfg)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.replans = 0
        self.faults = FaultLog(log)

    def tick(self, st: AggregatorStore, now: float) -> dict[str, Any] | None:
        with st.tx():
            events = check_triggers(self.cfg, st, now)
        if not events:
            return None
        kinds = ",".join(sorted({e["kind"] for e in events}))
        row = solve_plan(self.cfg, trigger=kinds, now=now, time_limit=self.sc.replan.time_limit_s, store=st)
        self.replans += 1
        return row

    def _run(self) -> None:
        st: AggregatorStore | None = None
        try:
            while not self._stop.wait(self.sc.replan.interval_s):
                try:
                    if st is None:  # (not yet, or the store was down at start: again next tick)
                        st = open_store(self.cfg)
                    self.tick(st, time.time())
                except Exception as e:
                    self.faults.fault("replan", str(e), what="planner", level=logging.WARNING)
                else:
                    self.faults.recovered("replan", "planner")
        finally:
            if st is not None:
                st.close()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="aggregator-planner", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(30)
