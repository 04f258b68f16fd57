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


def _running(st: object, order: str, product: str, ts: float) -> None:
    from edge.logic.production.line import OrderChange

    st.append_samples([], [OrderChange(ts, order, product, "start")])  # type: ignore[attr-defined]


def _actions(st: object) -> list[tuple[str, str]]:
    return [
        (r.action, r.order)
        for r in repo.pending_order_requests(st)  # type: ignore[arg-type]
    ]


def test_starting_an_order_over_a_running_one_needs_the_switch(tmp_path: Path) -> None:
    from edge.services.production import order_command

    cfg = load_config(example_on_free_ports(tmp_path))
    anna = as_operator(cfg, "1001")
    with open_store(cfg) as st:
        _running(st, "WO-1", "COLA-500", 1000.0)
        with pytest.raises(OperatorInputError, match=r"WO-1 is running .*--switch"):
            order_command(cfg, st, anna, "start", "WO-2", product="WATER-1000")
        assert _actions(st) == []
        order_command(cfg, st, anna, "start", "WO-2", product="WATER-1000", quantity=100, switch=True)
        assert _actions(st) == [("start", "WO-2")]


def test_a_failed_first_off_holds_the_order_until_a_passing_recheck(tmp_path: Path) -> None:
    """Found: a failed first-off cleared the due item and held nothing. Now the order is
    held (the agent refuses to resume it) until a passing re-check of the plan."""
    from edge.runtime.agent import Agent
    from edge.services.inspections import holds, record
    from edge.services.production import order_command

    cfg = load_config(example_on_free_ports(tmp_path))
    anna, clara = as_operator(cfg, "1001"), as_operator(cfg, "1003")
    ok = {"fill_height": 182, "cap_seal": "pass", "label_position": "pass"}
    with open_store(cfg) as st:
        _running(st, "WO-1", "COLA-500", 1000.0)
        with pytest.raises(OperatorInputError, match="comment"):
            record(cfg, st, clara, "first_off", ok | {"fill_height": 190})
        assert not record(cfg, st, clara, "first_off", ok | {"fill_height": 190}, comment="overfilled")
        assert "WO-1" in holds(st) and _actions(st) == [("hold", "WO-1")]
        with pytest.raises(OperatorInputError, match="on hold"):
            order_command(cfg, st, anna, "resume", "WO-1")
        from edge.services.plan import unblock_order

        with pytest.raises(OperatorInputError, match="first-off hold"):
            unblock_order(cfg, st, anna, "WO-1")  # not a way around the re-check
    # The agent applies the hold, and refuses a resume that reached the store anyway.
    agent = Agent(cfg)
    assert agent.logic is not None
    agent.logic.order_action(1000.0, "start", "WO-1", "COLA-500")
    asyncio.run(agent._apply_order_commands())
    assert agent.logic.held
    with agent.store.transaction():
        repo.add_order_request(
            agent.store, "resume", "WO-1", product=None, quantity=None, due=None, by="x", ts=1.0
        )
    asyncio.run(agent._apply_order_commands())
    assert agent.logic.held
    assert any(e["kind"] == "order_refused" and "on hold" in e["message"] for e in agent.store.events())
    # A passing re-check releases it.
    assert record(cfg, agent.store, clara, "first_off", ok)
    assert holds(agent.store) == {}
    order_command(cfg, agent.store, anna, "resume", "WO-1")
    asyncio.run(agent._apply_order_commands())
    assert not agent.logic.held
    agent.store.close()


def test_a_supervisor_releases_a_hold_with_a_reason_signed_and_audited(tmp_path: Path) -> None:
    from edge.services.identity import Refused
    from edge.services.inspections import holds, record, release_hold

    cfg = load_config(example_on_free_ports(tmp_path))
    clara, ben, eva = as_operator(cfg, "1003"), as_operator(cfg, "1002"), as_operator(cfg, "1005")
    with open_store(cfg) as st:
        _running(st, "WO-1", "COLA-500", 1000.0)
        bad = {"fill_height": 182, "cap_seal": "fail", "label_position": "pass"}
        record(cfg, st, clara, "first_off", bad, comment="seal leaks")
        with pytest.raises(Refused):
            release_hold(cfg, st, ben, "WO-1", reason="ok")  # a team lead may not
        with pytest.raises(Refused):
            release_hold(cfg, st, as_operator(cfg, "1005", signed=None), "WO-1", reason="ok")  # unsigned
        with pytest.raises(OperatorInputError, match="reason"):
            release_hold(cfg, st, eva, "WO-1", reason=" ")
        release_hold(cfg, st, eva, "WO-1", reason="seal tester faulty; 20 bottles checked by hand")
        assert holds(st) == {}
        row = st.db.execute(
            "SELECT who, meaning, why FROM audit WHERE action = 'order.release' ORDER BY seq DESC LIMIT 1"
        ).fetchone()
        assert row[1] == "approved" and "checked by hand" in row[2] and "Eva" in row[0]
        with pytest.raises(OperatorInputError, match="not on hold"):
            release_hold(cfg, st, eva, "WO-1", reason="again")


def test_a_due_inspection_not_done_is_recorded_missed_once_and_shown_for_the_shift(tmp_path: Path) -> None:
    """Found: a first-off due for one order vanished when the next order started."""
    from edge.services.inspections import record_missed
    from edge.services.production import kpi_report

    cfg = load_config(example_on_free_ports(tmp_path))
    t0 = _day(8)
    with open_store(cfg) as st:
        _running(st, "WO-1", "COLA-500", t0)
        assert record_missed(cfg, st, now=t0 + 60) == 0  # due, within its grace
        assert record_missed(cfg, st, now=t0 + 16 * 60) == 1  # first_off: grace of 15 min passed
        assert record_missed(cfg, st, now=t0 + 17 * 60) == 0  # once
        assert record_missed(cfg, st, now=t0 + 70 * 60, order_ends=True) == 1  # hourly_torque at the end
        rep = kpi_report(cfg, st, shift="2026-11-30/early", now=t0 + 71 * 60)
    assert [(m["plan"], m["order"]) for m in rep["inspections_missed"]] == [
        ("first_off", "WO-1"),
        ("hourly_torque", "WO-1"),
    ]


def test_scrap_reasons_come_from_the_tree_and_move_counted_parts_from_good(tmp_path: Path) -> None:
    """Found: the reason was free text, and scrap booked after the counters counted the
    part as good stayed in good too."""
    from edge.logic.production.line import MachineCount
    from edge.services.production import adjust_count

    cfg = load_config(example_on_free_ports(tmp_path))
    anna = as_operator(cfg, "1001")
    with open_store(cfg) as st:
        st.append_samples(
            [], [MachineCount(1.0, 40, 0, 0.5, machine="filler", order="WO-1", product="COLA-500")]
        )
        with pytest.raises(OperatorInputError, match=r"scrap_reason: 'underfilled' is not .* FILL.UNDER"):
            adjust_count(cfg, st, anna, "filler", scrap=3, scrap_reason="underfilled")
        adjust_count(cfg, st, anna, "filler", scrap=3, scrap_reason="FILL.UNDER")
        assert repo.order_counts(st, "filler", "WO-1") == (37, 3)


def test_a_configured_commissioning_date_keeps_the_time_before_it_out_of_the_figures(tmp_path: Path) -> None:
    from edge.logic.production.line import MachineCount
    from edge.logic.production.state import State, StateChange
    from edge.services.production import kpi_report

    def commissioned(data: dict) -> None:  # type: ignore[type-arg]
        data["line"]["commissioned"] = "2026-11-30T10:00:00"  # plant local time

    cfg = load_config(example_on_free_ports(tmp_path, data_changes=commissioned))
    with open_store(cfg) as st:
        # A test run at 08:00 (before commissioning) left a state behind.
        st.append_samples([], [StateChange(_day(8), "filler", None, State.RUNNING, "test run")])
        st.append_samples([], [MachineCount(_day(10, 30), 3600, 0, 0.5, machine="filler")])
        rep = kpi_report(cfg, st, shift="2026-11-30/early", now=_day(11))
    t = rep["total"]
    assert t["planned_production_s"] == pytest.approx(3600)  # 10:00–11:00 only
    assert t["availability"] == pytest.approx(1.0) and t["performance"] == pytest.approx(0.5)


def test_a_restarted_agent_continues_the_running_order_and_its_changeover(tmp_path: Path) -> None:
    from edge.logic.production.line import Changeover, MachineCount, OrderChange
    from edge.runtime.agent import Agent

    cfg = load_config(example_on_free_ports(tmp_path))
    with open_store(cfg) as st:
        st.append_samples(
            [],
            [
                OrderChange(100.0, "WO-1", "COLA-500", "start"),
                MachineCount(150.0, 40, 0, 0.5, machine="filler", order="WO-1", product="COLA-500"),
                OrderChange(200.0, "WO-1", "COLA-500", "complete"),
                OrderChange(200.0, "WO-2", "WATER-1000", "start"),
                Changeover(200.0, "start", "COLA-500", "WATER-1000", "WO-2", 2100.0),
            ],
        )
    agent = Agent(cfg)
    assert agent.logic is not None
    agent._resume_logic()
    lg = agent.logic
    assert (lg.order, lg.product, lg.order_started, lg.last_product) == (
        "WO-2",
        "WATER-1000",
        200.0,
        "WATER-1000",
    )
    assert lg.co is not None and lg.co.standard_s == 2100.0 and not lg.co_overrun
    agent.store.close()
