"""When inspections are due (pure): at order start, every N parts, every T minutes,
overdue after a grace period; and whether a set of results passes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Due:
    plan: str
    due_at: float
    reason: str
    overdue: bool


def due_inspections(
    plans: list[Any],
    *,
    now: float,
    order: str | None,
    product: str | None,
    order_start: float | None,
    parts: int,
    done: dict[str, tuple[float, int]],
) -> list[Due]:
    """Plans due for the running order. ``parts`` counts the order's parts so far;
    ``done`` maps plan → (time, parts) of its last result in this order."""
    if order is None or order_start is None:
        return []
    out = []
    for p in plans:
        if p.product is not None and p.product != product:
            continue
        last_ts, last_parts = done.get(p.name, (None, None))
        candidates: list[tuple[float, str]] = []
        if p.at_order_start and last_ts is None:
            candidates.append((order_start, "order start"))
        if p.every_minutes:
            base = last_ts if last_ts is not None else order_start
            due_at = base + p.every_minutes * 60
            if now >= due_at:
                candidates.append((due_at, f"every {p.every_minutes:g} min"))
        if p.every_parts:
            base_parts = last_parts if last_parts is not None else 0
            if parts - base_parts >= p.every_parts:
                candidates.append(
                    (now if last_ts is None else max(last_ts, order_start), f"every {p.every_parts} parts")
                )
        if candidates:
            due_at, reason = min(candidates)
            out.append(Due(p.name, due_at, reason, now > due_at + p.grace_minutes * 60))
    return sorted(out, key=lambda d: (not d.overdue, d.due_at))


def judge(plan: Any, values: dict[str, Any]) -> tuple[bool, list[dict[str, Any]], list[str]]:
    """Check results against the plan: (passed, item results, input errors naming items)."""
    errors: list[str] = []
    items = []
    names = {i.name for i in plan.items}
    for extra in sorted(set(values) - names):
        errors.append(f"item {extra!r}: not in plan {plan.name!r}")
    ok = True
    for it in plan.items:
        if it.name not in values or values[it.name] in (None, ""):
            errors.append(f"item {it.name!r}: required")
            continue
        v = values[it.name]
        if it.kind == "measure":
            try:
                x = float(v)
            except (TypeError, ValueError):
                errors.append(f"item {it.name!r}: {v!r} is not a number")
                continue
            if x != x:
                errors.append(f"item {it.name!r}: not a number")
                continue
            if it.plausible and not it.plausible[0] <= x <= it.plausible[1]:
                errors.append(
                    f"item {it.name!r}: {x:g} is outside the plausible range {it.plausible[0]:g}..{it.plausible[1]:g} (typing error?)"
                )
                continue
            passed = (it.lsl is None or x >= it.lsl) and (it.usl is None or x <= it.usl)
            items.append({"item": it.name, "value": x, "unit": it.unit, "pass": passed})
        else:
            s = str(v).strip().lower()
            if s in ("pass", "ok", "yes", "true", "1"):
                passed = True
            elif s in ("fail", "nok", "no", "false", "0"):
                passed = False
            else:
                errors.append(f"item {it.name!r}: {v!r} is not pass/fail")
                continue
            items.append({"item": it.name, "value": "pass" if passed else "fail", "pass": passed})
        ok &= passed
    return ok, items, errors
