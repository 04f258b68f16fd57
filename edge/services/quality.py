"""Quality use cases at the line: SPC alarms and their acknowledgement, new control
limits (one person requests them, another approves them with the PIN: the agent acts
only on approved requests), manual measurements, and what a characteristic's chart and
capability show. Writes are authorized and validated first and committed with their
audit entry in one ``synchronous=FULL`` transaction; the agent picks them up
(``edge.runtime.spc``).
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from edge.config.quality import CharacteristicCfg
from edge.services.context import Line, LineContext, line_context
from edge.services.identity import Actor, Refused, authorize, require_signature
from edge.services.validate import OperatorInputError, ident, number, plain_text, require, when, whole
from edge.store import Store
from edge.store import quality as repo
from edge.store.facts import spec_to_json


def spc_alarms(line: Line, store: Store, *, include_acked: bool = False) -> list[dict[str, Any]]:
    """SPC alarms, newest first; unacknowledged ones stay listed until acknowledged."""
    return [
        {
            "seq": a.seq,
            "ts": a.ts,
            "characteristic": a.characteristic,
            "kind": a.kind,
            "rule": a.rule,
            "detail": a.detail,
            "value": a.value,
            "acknowledged": a.acknowledged,
        }
        for a in repo.alarms(store)
        if include_acked or not a.acknowledged
    ]


def ack_alarms(
    line: Line,
    store: Store,
    actor: Actor,
    characteristic: str,
    *,
    comment: str,
    cause: str | None = None,
    action: str | None = None,
) -> int:
    """Acknowledge every alarm of a characteristic so far, following the out-of-control
    action plan: a cause and an action code from the config's lists (``spc.causes``,
    ``spc.actions``) and a comment, all required (audited, signature meaning
    ``reviewed``). The re-arm window of the characteristic starts now."""
    authorize(actor, "ack_alarms")
    ctx = line_context(line, store)
    spc = ctx.config.spc
    comment = require(comment, "comment")
    cause = _code(cause, "cause", spc.causes)
    action = _code(action, "action", spc.actions)
    ctx.characteristic(characteristic)
    with store.transaction(sync_full=True):
        top = repo.last_alarm(store, characteristic)
        if top is None:
            raise OperatorInputError(f"characteristic: {characteristic!r} has no alarms to acknowledge")
        repo.add_ack(
            store,
            characteristic,
            top,
            by=actor.who,
            comment=comment,
            ts=time.time(),
            cause=cause,
            action=action,
        )
        store.audit(
            who=actor.who,
            action="spc.acknowledge",
            entity=characteristic,
            new={"upto_alarm": top, "cause": cause, "action": action},
            why=comment,
            meaning="reviewed",
        )
    return top


def _code(value: str | None, field: str, allowed: list[str]) -> str:
    """A code from a configured list, or a refusal naming the field and the choices."""
    if value is None or not str(value).strip():
        raise OperatorInputError(f"{field}: required (one of {', '.join(allowed)})")
    v = str(value).strip()
    if v not in allowed:
        raise OperatorInputError(f"{field}: {v!r} is not one of {', '.join(allowed)}")
    return v


def request_limits(
    line: Line,
    store: Store,
    actor: Actor,
    characteristic: str,
    *,
    reason: str,
    start: float | None = None,
    end: float | None = None,
    center: float | None = None,
    sigma: float | None = None,
    product: str | None = None,
) -> int:
    """Request new control limits; returns the request's number. Three kinds: a new
    baseline collected at the line (no window, no typed limits), limits computed from the
    points charted in a baseline window ``start``..``end``, or typed limits (``center``
    and ``sigma`` of a variables chart). Limits are per product (``product``; the running
    product's by default). Nothing changes at the line until another person approves it
    (:func:`approve_limits`)."""
    authorize(actor, "request_limits")
    ctx = line_context(line, store)
    reason = require(reason, "reason")
    c = ctx.characteristic(characteristic)
    if actor.badge is None:
        raise Refused(f"refused: new limits are requested by a person, not the {actor.name}")
    product = _product(ctx, c, product, store)
    window: tuple[float, float] | None = None
    typed: str | None = None
    if (start is None) != (end is None):
        raise OperatorInputError("from: a baseline window needs both --from and --to")
    if (center is None) != (sigma is None):
        raise OperatorInputError("sigma: typed limits need both --center and --sigma")
    if start is not None and center is not None:
        raise OperatorInputError("center: give a baseline window or typed limits, not both")
    proposed: str | None = None
    if start is not None and end is not None:
        window = (when(start, "from"), when(end, "to"))
        if window[0] >= window[1]:
            raise OperatorInputError("to: the end of the baseline window must be after its start")
        proposed = spec_to_json(_window_spec(store, c, product, window))
    elif center is not None and sigma is not None:
        if c.chart in ("p", "np", "c", "u"):
            raise OperatorInputError("center: typed limits are for variables charts; give a baseline window")
        x = number(center, "center")
        sd = number(sigma, "sigma")
        if sd <= 0:
            raise OperatorInputError("sigma: must be positive")
        typed = json.dumps({"center": x, "sigma": sd})
        from edge.logic.quality.live import fixed_spec

        proposed = spec_to_json(fixed_spec(c.chart, c.subgroup_size, x, sd))
    with store.transaction(sync_full=True):
        rid = repo.add_limit_request(
            store,
            characteristic,
            reason=reason,
            by=actor.who,
            badge=actor.badge,
            ts=time.time(),
            product=product,
            window=window,
            typed=typed,
        )
        store.audit(
            who=actor.who,
            action="spc.limits_requested",
            entity=characteristic,
            old=repo.frozen_spec_text(store, characteristic, product=product),
            new={"request": rid, "product": product, "window": window, "proposed": proposed},
            why=reason,
            meaning="performed",
        )
    return rid


def _product(ctx: LineContext, c: CharacteristicCfg, product: str | None, store: Store) -> str | None:
    """The product whose limits are meant: the one given, else that of the latest point."""
    if product is not None:
        product = ident(product, "product")
        if product not in {p.id for p in ctx.config.products}:
            raise OperatorInputError(f"product: {product!r} is not a product of this line")
        return product
    any_point, last = repo.last_point_product(store, c.name)
    if any_point:
        return last
    return ctx.config.default_product if ctx.config.machines else None


def _window_spec(store: Store, c: CharacteristicCfg, product: str | None, window: tuple[float, float]) -> Any:
    from edge.logic.quality.live import spec_from_points

    rows = repo.points_between(store, c.name, product, *window)
    try:
        return spec_from_points(
            c.chart,
            c.values_per_point,
            [r[0] for r in rows],
            [r[1] for r in rows],
            [r[2] for r in rows],
            c.sample_size,
        )
    except ValueError as e:
        raise OperatorInputError(f"from: {len(rows)} points in the window: {e}") from None


def _pending(store: Store, request: int) -> repo.LimitRequest:
    req = repo.limit_request(store, request)
    if req is None:
        raise OperatorInputError(f"request: no request for new limits numbered {request}")
    if req.status != "pending":
        raise OperatorInputError(f"request: {request} was {req.status} by {req.decided_by} already")
    return req


def approve_limits(line: Line, store: Store, actor: Actor, request: int, *, comment: str = "") -> str:
    """Approve a request for new limits, signed with the approver's PIN (meaning
    ``approved``); the approver must not be the requester. Limits from a baseline window
    or typed become the active version at once (the agent picks them up within a second);
    otherwise the agent collects a new baseline and freezes new limits. Returns the
    characteristic."""
    authorize(actor, "approve")
    require_signature(actor, pin=True)
    request = whole(request, "request", lo=1)
    comment = plain_text(comment.strip(), "comment")
    with store.transaction(sync_full=True):
        req = _pending(store, request)
        line_context(line, store).characteristic(req.characteristic)
        if req.requested_badge.lower() == (actor.badge or "").lower():
            raise Refused(f"refused: {actor.name} requested these limits; another person must approve them")
        now = time.time()
        repo.decide_limit_request(store, request, "approved", by=actor.who, comment=comment.strip(), ts=now)
        why = f"{req.reason} (requested by {req.requested_by}, request {request})"
        c = line_context(line, store).characteristic(req.characteristic)
        if req.window_start is not None and req.window_end is not None:
            spec = _window_spec(store, c, req.product, (req.window_start, req.window_end))
            repo.add_frozen(
                store, c.name, spec_to_json(spec), by=actor.who, reason=why, ts=now, product=req.product
            )
        elif req.typed is not None:
            from edge.logic.quality.live import fixed_spec

            t = json.loads(req.typed)
            spec = fixed_spec(c.chart, c.subgroup_size, t["center"], t["sigma"])
            repo.add_frozen(
                store, c.name, spec_to_json(spec), by=actor.who, reason=why, ts=now, product=req.product
            )
        else:
            repo.add_recalculation(
                store, req.characteristic, by=actor.who, reason=why, ts=now, product=req.product
            )
        store.audit(
            who=actor.who,
            action="spc.limits_approved",
            entity=req.characteristic,
            old=repo.frozen_spec_text(store, req.characteristic),
            new={"request": request, "requested_by": req.requested_by},
            why=comment.strip() or req.reason,
            meaning="approved",
        )
    return req.characteristic


def reject_limits(line: Line, store: Store, actor: Actor, request: int, *, comment: str) -> str:
    """Reject a request for new limits (a comment says why; meaning ``reviewed``)."""
    authorize(actor, "approve")
    request = whole(request, "request", lo=1)
    comment = require(comment, "comment")
    with store.transaction(sync_full=True):
        req = _pending(store, request)
        repo.decide_limit_request(store, request, "rejected", by=actor.who, comment=comment, ts=time.time())
        store.audit(
            who=actor.who,
            action="spc.limits_rejected",
            entity=req.characteristic,
            new={"request": request, "requested_by": req.requested_by},
            why=comment,
            meaning="reviewed",
        )
    return req.characteristic


def limit_requests(store: Store, *, pending_only: bool = True) -> list[dict[str, Any]]:
    """Requests for new limits, newest first (the pending ones by default)."""
    return [asdict(r) for r in repo.limit_requests(store, pending_only=pending_only)]


def enter_measurement(
    line: Line,
    store: Store,
    actor: Actor,
    characteristic: str,
    value: str | float,
    size: str | float | None = None,
) -> None:
    """An operator's measurement of a manual characteristic (for an attribute chart: the
    count of defectives or defects, with ``size`` the units inspected for p and u); the
    agent charts it."""
    authorize(actor, "inspect")
    ctx = line_context(line, store)
    c = ctx.characteristic(characteristic)
    if not c.manual:
        source = f"tag {c.tag!r}" if c.tag else "the line's counters"
        raise OperatorInputError(
            f"characteristic: {characteristic!r} is read from {source}, not entered by hand"
        )
    n: float | None = None
    if c.chart in ("p", "np", "c", "u"):
        x = float(whole(value, "value", lo=0, hi=10**12))
        if c.chart in ("p", "u"):
            if size is None or (isinstance(size, str) and not size.strip()):
                raise OperatorInputError("size: required for a p or u chart (units inspected)")
            n = number(size, "size", lo=0)
            if n <= 0:
                raise OperatorInputError("size: must be positive")
            if c.chart == "p" and x > n:
                raise OperatorInputError(f"value: {x:g} defectives in {n:g} inspected")
        elif c.chart == "np" and c.sample_size is not None and x > c.sample_size:
            raise OperatorInputError(f"value: {x:g} defectives in a sample of {c.sample_size}")
    else:
        x = number(value, "value")
        spec = c.spec
        if spec.lsl is not None and spec.usl is not None:
            width = spec.usl - spec.lsl
            if not spec.lsl - 5 * width <= x <= spec.usl + 5 * width:
                raise OperatorInputError(
                    f"value: {x:g} is far outside the specification {spec.lsl:g}..{spec.usl:g} (typing error?)"
                )
    with store.transaction(sync_full=True):
        repo.add_measurement(store, characteristic, x, by=actor.who, ts=time.time(), size=n)
        store.audit(
            who=actor.who,
            action="spc.measurement",
            entity=characteristic,
            new=x if n is None else {"count": x, "size": n},
            meaning="performed",
        )


def limit_versions(line: Line, store: Store, characteristic: str) -> list[dict[str, Any]]:
    """A characteristic's limit history, newest first: each frozen version (by the line
    from a baseline, or approved by people from a window or typed) and each approved
    request for a new baseline; ``active`` marks the version in force per product."""
    c = line_context(line, store).characteristic(characteristic)
    out: list[dict[str, Any]] = []
    seen: set[str | None] = set()
    for r in repo.limit_history(store, c.name):
        d: dict[str, Any] = {
            "seq": r.seq,
            "ts": r.ts,
            "product": r.product,
            "action": r.action,
            "by": r.by,
            "reason": r.reason,
            "active": False,
        }
        if r.spec:
            spec = json.loads(r.spec)
            d["center"] = spec["primary"]["center"]
            d["ucl"] = spec["primary"]["ucl"]
            d["lcl"] = spec["primary"]["lcl"]
            d["sigma"] = spec["sigma_within"]
        if r.product not in seen:
            seen.add(r.product)
            d["active"] = r.action == "frozen"
        out.append(d)
    return out


# ----------------------------------------------------------------------------- what a chart shows


@dataclass
class SpcView:
    """A characteristic's chart: its last points against the limits in force, with the
    dispersion panel (R, S or MR) where the chart has one."""

    name: str
    chart: str
    unit: str
    points: list[tuple[float, float]]  # (ts, plotted value)
    center: float | None
    ucl: float | None
    lcl: float | None
    lsl: float | None
    usl: float | None
    violations: set[float]  # ts of points that raised an alarm
    frozen: bool
    sigma_within: float | None
    manual: bool
    product: str | None = None
    dispersion: list[tuple[float, float]] = field(default_factory=list)  # (ts, R/S/MR)
    dispersion_label: str | None = None  # "R", "S", "MR" or None (no second panel)
    d_center: float | None = None
    d_ucl: float | None = None
    d_lcl: float | None = None
    d_violations: set[float] = field(default_factory=set)  # ts of R/S points that raised an alarm


_DISPERSION = {"xbar-r": "R", "xbar-s": "S", "imr": "MR"}
#: The rules of the dispersion panel (R, S beyond their limits): marked there, not on X̄.
DISPERSION_RULES = ("r1", "s1")


def _spec(store: Store, c: CharacteristicCfg, product: str | None) -> Any:
    """The limits in force for a product: frozen at the line or approved, else from config."""
    spec = repo.frozen_spec(store, c.name, product=product)
    if spec is None and c.limits is not None:
        from edge.logic.quality.live import fixed_spec

        spec = fixed_spec(c.chart, c.subgroup_size, c.limits.center, c.limits.sigma)
    return spec


def _limits(
    store: Store, c: CharacteristicCfg, product: str | None = None
) -> tuple[float | None, float | None, float | None, float | None]:
    """(center, ucl, lcl, sigma within) of the limits in force."""
    spec = _spec(store, c, product)
    if spec is None:
        return None, None, None, None
    p = spec.primary
    return float(p.center), _last(p.ucl), _last(p.lcl), spec.sigma_within


def _last(x: Any) -> float:
    """A limit, or the last of limits that vary per point (p and u charts)."""
    return float(x[-1]) if hasattr(x, "__len__") else float(x)


def spc_view(line: Line, store: Store, characteristic: str, *, limit: int = 60) -> SpcView:
    """The last ``limit`` points of a characteristic (of the product of its latest
    point: limits are per product) with its limits, dispersion panel and alarm points."""
    ctx = line_context(line, store)
    c = ctx.characteristic(characteristic)
    _any, product = repo.last_point_product(store, c.name)
    rows = repo.recent_points(store, c.name, limit, product=product, any_product=False)
    pts = [(t, v) for t, v, _d in rows]
    spec = _spec(store, c, product)
    center = ucl = lcl = sigma = None
    d_center = d_ucl = d_lcl = None
    if spec is not None:
        center, ucl, lcl = float(spec.primary.center), _last(spec.primary.ucl), _last(spec.primary.lcl)
        sigma = spec.sigma_within
        if spec.secondary is not None:
            sec = spec.secondary
            d_center, d_ucl, d_lcl = float(sec.center), _last(sec.ucl), _last(sec.lcl)
    label = _DISPERSION.get(c.chart)
    if c.chart in ("ewma", "cusum"):
        # The statistic, not the observations: in units of its decision limit (±3).
        pts = repo.recent_statistics(store, c.name, limit, product=product)
        center, ucl, lcl, label = 0.0, 3.0, -3.0, None
    since = pts[0][0] if pts else 0.0
    unit = ""
    if c.tag:
        try:
            unit = ctx.config.tag(c.tag).eng_unit or ""
        except KeyError:
            pass
    return SpcView(
        name=c.name,
        chart=c.chart,
        unit=unit,
        points=pts,
        center=center,
        ucl=ucl,
        lcl=lcl,
        lsl=c.spec.lsl,
        usl=c.spec.usl,
        violations=repo.alarm_times(store, c.name, since, rules=DISPERSION_RULES, exclude=True),
        frozen=center is not None,
        sigma_within=sigma,
        manual=c.manual,
        product=product,
        dispersion=[(t, d) for t, _v, d in rows if d is not None] if label else [],
        dispersion_label=label,
        d_center=d_center,
        d_ucl=d_ucl,
        d_lcl=d_lcl,
        d_violations=repo.alarm_times(store, c.name, since, rules=DISPERSION_RULES) if label else set(),
    )


def capability(line: Line, store: Store, characteristic: str) -> dict[str, Any] | None:
    """Cp/Cpk and Pp/Ppk of a characteristic (for the product of its latest point) from
    the rational subgroups charted under the limit version in force
    (:func:`edge.store.quality.version_window`; the last 5000): Cp/Cpk with the within
    sigma of those subgroups (R̄/d2 for X̄-R, S̄/c4 for X̄-S, MR̄/d2 for individuals),
    Pp/Ppk with the overall standard deviation of their values. Not every stored
    reading of the tag: only what the chart sampled. None for attribute charts, without
    a specification, or with fewer than 2 subgroups."""
    import json as _json

    from edge.logic.quality.capability import subgroup_capability

    ctx: LineContext = line_context(line, store)
    c = next((c for c in ctx.config.characteristics if c.name == characteristic), None)
    if c is None or c.chart in ("p", "np", "c", "u") or (c.spec.lsl is None and c.spec.usl is None):
        return None
    _any, product = repo.last_point_product(store, c.name)
    start, inclusive, row = repo.version_window(store, c.name, product)
    rows = repo.subgroups_since(store, c.name, product, start, inclusive)
    n = c.values_per_point
    groups: list[list[float]] = []
    for _ts, value, sub in rows:
        if n == 1:
            groups.append([value])
        elif sub is not None:
            g = [float(v) for v in _json.loads(sub)]
            if len(g) == n:
                groups.append(g)
    if len(groups) < 2:
        return None
    try:
        out = subgroup_capability(c.chart, groups, lsl=c.spec.lsl, usl=c.spec.usl, target=c.spec.target)
    except ValueError:
        return None
    out["product"] = product
    out["since"] = rows[0][0]
    out["limits"] = (
        None if row is None else {"seq": row.seq, "ts": row.ts, "action": row.action, "by": row.by}
    )
    return out
