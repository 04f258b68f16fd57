"""Maintenance windows offered to the plant's scheduler: the planned preventive and
condition-based work of each line (its scheduled start, else its due time, and its
estimated duration) becomes a maintenance window of the scheduling resource that is that
line, so the next plan slots orders around it. Each order is offered once (the window's
reason starts with the order's id); offering records a replan trigger like any window
entered at the plant."""

from __future__ import annotations

from typing import Any

from sync.aggregator.config import AggregatorConfig
from sync.aggregator.queries import plant_maintenance
from sync.aggregator.store import open_store


def offer_windows(cfg: AggregatorConfig, *, now: float, since: float) -> list[dict[str, Any]]:
    """Offer every line's open windows not offered yet; returns what was offered."""
    from sync.aggregator.scheduling import store as plan_repo
    from sync.aggregator.scheduling.service import add_maintenance, scheduling

    sc = scheduling(cfg)
    resources = {}
    for r in sc.resources:
        if r.line is not None:
            resources[cfg.line(r.line).key] = r.id
    st = open_store(cfg)
    try:
        offered_before = {
            why.split(":", 1)[0] + "@" + res for res, _a, _b, why in plan_repo.maintenance(st, 0.0)
        }
    finally:
        st.close()
    out = []
    for line in plant_maintenance(cfg, since=since, until=now):
        res = resources.get(line["line"])
        if res is None:
            continue
        for w in line["windows"]:
            if w["end"] <= now or f"{w['order']}@{res}" in offered_before:
                continue
            start = max(w["start"], now)
            end = start + max(w["duration_h"], 0.05) * 3600
            add_maintenance(cfg, res, start, end, f"{w['order']}: {w['title']}"[:200], now=now)
            out.append({"line": line["line"], "resource": res, **w, "start": start, "end": end})
    return out
