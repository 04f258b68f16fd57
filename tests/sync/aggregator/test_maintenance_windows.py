"""Planned preventive work of a line is offered to the plant's scheduler as a maintenance
window of the line's resource, once per order; corrective work and finished orders are not."""

from __future__ import annotations

import json
from pathlib import Path

from sync.aggregator.maintenance import offer_windows
from sync.aggregator.projections import project
from sync.aggregator.scheduling import store as plan_repo
from sync.aggregator.store import open_store
from tests.sync.aggregator.scheduling.test_service import NOW, config


def test_preventive_orders_become_windows_of_the_lines_resource_once(tmp_path: Path) -> None:
    cfg = config(str(tmp_path / "agg.db"))
    key = cfg.lines[0].key

    def created(seq: int, wo: str, type_: str, due: float) -> dict[str, object]:
        data = {
            "type": type_,
            "asset": "filler",
            "title": f"{type_} work",
            "state": "approved",
            "due": due,
            "estimate_h": 2.0,
        }
        return {
            "seq": seq,
            "ts": NOW - 60,
            "wo": wo,
            "kind": "created",
            "data": json.dumps(data),
            "by": "line",
        }

    st = open_store(cfg)
    try:
        with st.tx():
            project(
                st.db,
                key,
                "maint_events",
                [
                    created(1, "WO-1", "preventive", NOW + 3600),
                    created(2, "WO-2", "corrective", NOW + 3600),
                    created(3, "WO-3", "condition", NOW - 7200),
                    {"seq": 4, "ts": NOW - 30, "wo": "WO-3", "kind": "cancel", "data": "{}", "by": "Dirk"},
                ],
            )
    finally:
        st.close()
    offered = offer_windows(cfg, now=NOW, since=NOW - 86400)
    assert [(w["order"], w["resource"], w["start"], w["end"]) for w in offered] == [
        ("WO-1", "L1", NOW + 3600, NOW + 3600 + 7200)
    ]
    assert offer_windows(cfg, now=NOW + 1, since=NOW - 86400) == []  # once
    st = open_store(cfg)
    try:
        assert [(r, why) for r, _a, _b, why in plan_repo.maintenance(st, 0.0)] == [
            ("L1", "WO-1: preventive work")
        ]
    finally:
        st.close()
