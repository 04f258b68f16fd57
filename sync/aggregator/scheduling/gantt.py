"""A plan as text (pure): one row per resource across the plan's span, a letter per
product (the legend says which), ``~`` for the changeover before an operation, ``·``
for idle time, and a time axis in the plant's zone."""

from __future__ import annotations

import string
from datetime import datetime
from zoneinfo import ZoneInfo

from sync.aggregator.scheduling.model import Plan

SYMBOLS = string.ascii_uppercase + string.ascii_lowercase + string.digits


def gantt(plan: Plan, timezone: str = "UTC", width: int = 96, *, axis: bool = True) -> list[str]:
    if not plan.ops:
        return ["(no operations)"]
    tz = ZoneInfo(timezone)
    t0 = min(o.start - o.setup_min * 60 for o in plan.ops)
    t1 = max(o.end for o in plan.ops)
    span = max(t1 - t0, 60.0)
    products = sorted({o.product for o in plan.ops})
    sym = {p: SYMBOLS[i % len(SYMBOLS)] for i, p in enumerate(products)}
    rows = plan.by_resource()
    name_w = max(len(r) for r in rows)

    def col(t: float) -> int:
        return min(width - 1, max(0, int((t - t0) / span * width)))

    out = []
    # Time axis: a tick at each day (or each hour on short plans) that fits.
    ticks = [" "] * width
    labels = [" "] * width
    step = 86400 if span > 2 * 86400 else 3600
    start = datetime.fromtimestamp(t0, tz)
    first = start.replace(minute=0, second=0, microsecond=0)
    if step == 86400:
        first = first.replace(hour=0)
    t = first.timestamp()
    fmt = "%d.%m." if step == 86400 else "%H:%M"
    while t <= t1:
        if t >= t0:
            c = col(t)
            ticks[c] = "|"
            text = datetime.fromtimestamp(t, tz).strftime(fmt)
            if all(ch == " " for ch in labels[max(0, c - 1) : c + len(text) + 1]) and c + len(text) <= width:
                labels[c : c + len(text)] = list(text)
        t += step
    if axis:
        out.append(" " * (name_w + 2) + "".join(labels).rstrip())
        out.append(" " * (name_w + 2) + "".join(ticks).rstrip())
    for res, ops in rows.items():
        line = ["·"] * width
        for o in ops:
            if o.setup_min:
                for c in range(col(o.start - o.setup_min * 60), col(o.start)):
                    line[c] = "~"
            a = col(o.start)
            b = max(a + 1, min(width, round((o.end - t0) / span * width)))
            for c in range(a, b):
                line[c] = sym[o.product]
        out.append(f"{res:<{name_w}}  {''.join(line)}")
    out.append("")
    out.append("  ".join(f"{sym[p]} {p}" for p in products) + "   ~ changeover   · idle")
    return out
