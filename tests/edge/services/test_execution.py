"""Line execution use cases (issue 14): the imposed-reason hook other domains use,
changeovers, holds on a failed first-off, missed inspections, scrap reasons."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from edge.config.line import load_config
from edge.services.context import open_store
from edge.services.production import impose_reason
from edge.services.validate import OperatorInputError
from edge.store import production as repo
from tests.conftest import as_operator, example_on_free_ports


def test_another_domain_imposes_a_reason_the_agent_applies_and_keeps(tmp_path: Path) -> None:
    from edge.runtime.agent import Agent

    cfg = load_config(example_on_free_ports(tmp_path))
    dirk = as_operator(cfg, "1004")
    with open_store(cfg) as st:
        with pytest.raises(OperatorInputError, match="reason"):
            impose_reason(cfg, st, dirk, "filler", "NOPE", source="maintenance:WO-1")
        with pytest.raises(OperatorInputError, match="machine"):
            impose_reason(cfg, st, dirk, "nope", "PLANNED.PM", source="maintenance:WO-1")
        impose_reason(cfg, st, dirk, "filler", "PLANNED.PM", source="maintenance:WO-1", detail="PM")
    agent = Agent(cfg)
    assert agent.logic is not None
    facts = asyncio.run(agent._apply_reason_requests())
    assert agent.logic.imposed() == {"filler": {"maintenance:WO-1": "PLANNED.PM"}}
    agent.store.append_samples([], facts)
    assert [a[1:4] for a in repo.active_impositions(agent.store)] == [
        ("filler", "maintenance:WO-1", "PLANNED.PM")
    ]
    assert repo.pending_reason_requests(agent.store) == []
    # A restarted agent holds the imposition again.
    agent.store.close()
    again = Agent(cfg)
    assert again.logic is not None
    again._resume_logic()
    assert again.logic.imposed() == {"filler": {"maintenance:WO-1": "PLANNED.PM"}}
    again.store.close()


def _day(h: int, m: int = 0) -> float:
    from datetime import datetime
    from zoneinfo import ZoneInfo

    return datetime(2026, 11, 30, h, m, tzinfo=ZoneInfo("Europe/Berlin")).timestamp()


def test_first_shift_with_a_break_worked_through_kpi_and_shift_kpi(tmp_path: Path) -> None:
    """The line went into production at 09:00 in the early shift (06:00–14:00, break
    09:30–09:45) and ran through the break at ideal speed (120/min). The hours before
    commissioning are no loss (found: availability 0 %), the break worked through is run
    time (found: "reduced speed −22 s" in kpi, −14.5 in shift_kpi)."""
    from edge.config.production import build_line_logic
    from edge.services.production import kpi_report
    from edge.services.uplink import UplinkFeed

    cfg = load_config(example_on_free_ports(tmp_path))
    logic = build_line_logic(cfg)
    t0 = _day(9)
    facts = []
    for tag, v in (
        ("filler.state", 1),
        ("filler.fault_code", 0),
        ("filler.cycle_count", 0),
        ("capper.scrap_count", 0),
    ):
        facts += logic.on_sample(t0, tag, v, True)
    for i in range(1, 361):  # an hour, every 10 s: 20 bottles at 0.5 s
        facts += logic.on_sample(t0 + 10 * i, "filler.cycle_count", 20 * i, True)
    now = t0 + 3600
    with open_store(cfg) as st:
        st.append_samples([], facts)
        rep = kpi_report(cfg, st, shift="2026-11-30/early", now=now)
    feed = UplinkFeed(cfg)
    shift = feed.shift_kpis(now, previous=None)[0]
    feed.close()
    for k in (rep["total"], rep["shifts"][0], shift[0][1]["total"]):
        assert k["availability"] == pytest.approx(1.0)  # 06:00–09:00: before commissioning
        assert k["performance"] == pytest.approx(359 / 360)  # the count at `now` is the end
        assert k["run_s"] == pytest.approx(3600)  # the break (09:30–09:45) was worked
        assert all(v >= 0 for v in k["six_big_losses_s"].values()), k["six_big_losses_s"]
