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
