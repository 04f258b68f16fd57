"""Quality use cases at the line: SPC alarms and their acknowledgement, new control
limits (one person requests them, another approves them with the PIN: the agent acts
only on approved requests), manual measurements, and what a characteristic's chart and
capability show. Writes are authorized and validated first and committed with their
audit entry in one ``synchronous=FULL`` transaction; the agent picks them up
(``edge.runtime.spc``).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any

from edge.config.quality import CharacteristicCfg
from edge.core.errors import StoreError
from edge.services.context import Line, LineContext, line_context
from edge.services.identity import Actor, Refused, authorize, require_signature
from edge.services.validate import OperatorInputError, number, plain_text, require, whole
from edge.store import Store
from edge.store import quality as repo


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


def ack_alarms(line: Line, store: Store, actor: Actor, characteristic: str, *, comment: str) -> int:
    """Acknowledge every alarm of a characteristic so far; a comment is required (audited,
    signature meaning ``reviewed``)."""
    authorize(actor, "ack_alarms")
    ctx = line_context(line, store)
    comment = require(comment, "comment")
    ctx.characteristic(characteristic)
    with store.transaction(sync_full=True):
        top = repo.last_alarm(store, characteristic)
        if top is None:
            raise OperatorInputError(f"characteristic: {characteristic!r} has no alarms to acknowledge")
        repo.add_ack(store, characteristic, top, by=actor.who, comment=comment, ts=time.time())
        store.audit(
            who=actor.who,
            action="spc.acknowledge",
            entity=characteristic,
            new={"upto_alarm": top},
            why=comment,
            meaning="reviewed",
        )
    return top


def request_limits(line: Line, store: Store, actor: Actor, characteristic: str, *, reason: str) -> int:
    """Request new control limits from a new baseline; returns the request's number.
    Nothing changes at the line until another person approves it (:func:`approve_limits`)."""
    authorize(actor, "request_limits")
    ctx = line_context(line, store)
    reason = require(reason, "reason")
    ctx.characteristic(characteristic)
    if actor.badge is None:
        raise Refused(f"refused: new limits are requested by a person, not the {actor.name}")
    with store.transaction(sync_full=True):
        rid = repo.add_limit_request(
            store, characteristic, reason=reason, by=actor.who, badge=actor.badge, ts=time.time()
        )
        store.audit(
            who=actor.who,
            action="spc.limits_requested",
            entity=characteristic,
            old=repo.frozen_spec_text(store, characteristic),
            new={"request": rid},
            why=reason,
            meaning="performed",
        )
    return rid


def _pending(store: Store, request: int) -> repo.LimitRequest:
    req = repo.limit_request(store, request)
    if req is None:
        raise OperatorInputError(f"request: no request for new limits numbered {request}")
    if req.status != "pending":
        raise OperatorInputError(f"request: {request} was {req.status} by {req.decided_by} already")
    return req


def approve_limits(line: Line, store: Store, actor: Actor, request: int, *, comment: str = "") -> str:
    """Approve a request for new limits, signed with the approver's PIN (meaning
    ``approved``); the approver must not be the requester. Then the agent collects a new
    baseline and freezes new limits. Returns the characteristic."""
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
        repo.add_recalculation(
            store,
            req.characteristic,
            by=actor.who,
            reason=f"{req.reason} (requested by {req.requested_by}, request {request})",
            ts=now,
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
    line: Line, store: Store, actor: Actor, characteristic: str, value: str | float
) -> None:
    """An operator's measurement of a manual characteristic; the agent charts it."""
    authorize(actor, "inspect")
    ctx = line_context(line, store)
    c = ctx.characteristic(characteristic)
    if not c.manual:
        raise OperatorInputError(
            f"characteristic: {characteristic!r} is read from tag {c.tag!r}, not entered by hand"
        )
    x = number(value, "value")
    spec = c.spec
    if spec.lsl is not None and spec.usl is not None:
        width = spec.usl - spec.lsl
        if not spec.lsl - 5 * width <= x <= spec.usl + 5 * width:
            raise OperatorInputError(
                f"value: {x:g} is far outside the specification {spec.lsl:g}..{spec.usl:g} (typing error?)"
            )
    with store.transaction(sync_full=True):
        repo.add_measurement(store, characteristic, x, by=actor.who, ts=time.time())
        store.audit(
            who=actor.who, action="spc.measurement", entity=characteristic, new=x, meaning="performed"
        )


# ----------------------------------------------------------------------------- what a chart shows


@dataclass
class SpcView:
    """A characteristic's chart: its last points against the limits in force."""

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


def _limits(
    store: Store, c: CharacteristicCfg
) -> tuple[float | None, float | None, float | None, float | None]:
    """(center, ucl, lcl, sigma within) of the limits frozen at the line or known from config."""
    spec = repo.frozen_spec(store, c.name)
    if spec is not None:
        p = spec.primary
        return float(p.center), _last(p.ucl), _last(p.lcl), spec.sigma_within
    if c.limits is not None:
        from edge.logic.quality.live import fixed_spec

        fixed = fixed_spec(c.chart, c.subgroup_size, c.limits.center, c.limits.sigma)
        return float(fixed.primary.center), float(fixed.primary.ucl), float(fixed.primary.lcl), c.limits.sigma
    return None, None, None, None


def _last(x: Any) -> float:
    """A limit, or the last of limits that vary per point (p and u charts)."""
    return float(x[-1]) if hasattr(x, "__len__") else float(x)


def spc_view(line: Line, store: Store, characteristic: str, *, limit: int = 60) -> SpcView:
    """The last ``limit`` points of a characteristic with its limits and alarm points."""
    ctx = line_context(line, store)
    c = ctx.characteristic(characteristic)
    pts = repo.recent_points(store, c.name, limit)
    center, ucl, lcl, sigma = _limits(store, c)
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
        violations=repo.alarm_times(store, c.name, pts[0][0] if pts else 0.0),
        frozen=center is not None,
        sigma_within=sigma,
        manual=c.manual,
    )


def capability(line: Line, store: Store, characteristic: str, since: float) -> dict[str, Any] | None:
    """Cp/Cpk (within sigma of the frozen limits) and Pp/Ppk (overall) from the individual
    values since ``since``: the tag's samples or the manual measurements."""
    from edge.logic.quality.capability import capability as compute

    ctx: LineContext = line_context(line, store)
    c = next((c for c in ctx.config.characteristics if c.name == characteristic), None)
    if c is None:
        return None
    if c.manual or not c.tag:
        xs = repo.measurement_values(store, characteristic, since)
    else:
        try:
            xs = [
                r["value"]
                for r in store.history(c.tag, since=since)
                if r["quality"] == "good" and isinstance(r["value"], (int, float))
            ][-5000:]
        except StoreError:  # the tag has never been recorded in this store
            return None
    if len(xs) < 2 or (c.spec.lsl is None and c.spec.usl is None):
        return None
    sigma = _limits(store, c)[3]
    try:
        return compute(xs, lsl=c.spec.lsl, usl=c.spec.usl, sigma_within=sigma, target=c.spec.target)
    except ValueError:
        return None
