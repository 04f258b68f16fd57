"""Scheduling at the plant through its use cases, on a real plant store (SQLite and
PostgreSQL): orders imported all or nothing with row numbers, a plan proposed with its
diff and released as ``plan`` commands the line's own model accepts, a line that stays
down past the threshold triggering a replan that moves its work, and a line's report
that it resequenced answered by a replan from the real state."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from edge.config.plant import PlanBody
from edge.core.errors import ConfigError
from sync.aggregator.config import AggregatorConfig
from sync.aggregator.scheduling import service
from sync.aggregator.scheduling import store as repo
from sync.aggregator.store import AggregatorStore
from sync.protocol import Batch, LineRef
from tests.conftest import LINE
from tests.sync.conftest import LINE_KEY, agg_config

NOW = 1795496400.0  # Monday 2026-11-23 06:00 Europe/Berlin
REF = LineRef(**{k: LINE[k] for k in ("enterprise", "site", "area", "line")})


def scheduling(**extra: Any) -> dict[str, Any]:
    return {
        "timezone": "Europe/Berlin",
        "horizon_h": 72,
        "release_h": 24,
        "frozen_h": 0,
        "time_limit_s": 3,
        "workers": 1,
        "resources": [{"id": "L1", "line": "l1"}, {"id": "W2"}],
        "products": [{"id": "COLA", "changeover_min": 20}, {"id": "WATER", "changeover_min": 30}],
        "routings": [
            {
                "product": p,
                "operations": [
                    {
                        "alternatives": [
                            {"resource": "L1", "rate_per_min": 2},
                            {"resource": "W2", "rate_per_min": 1},
                        ]
                    }
                ],
            }
            for p in ("COLA", "WATER")
        ],
        "objectives": {"weights": {"tardiness": 10, "setup": 1, "stability": 1}},
        "replan": {
            "line_down_min": 10,
            "down_states": ["down", "idle"],
            "assume_down_min": 480,
            "time_limit_s": 3,
        },
    } | extra


def config(target: str, **extra: Any) -> AggregatorConfig:
    return agg_config(1, target, scheduling=scheduling(**extra))


def orders_csv(tmp_path: Path, rows: list[str]) -> Path:
    p = tmp_path / "orders.csv"
    p.write_text("order_id,product,quantity,due,priority\n" + "\n".join(rows) + "\n")
    return p


GOOD = [
    "WO-1,COLA,240,2026-11-23T10:00:00+01:00,0",
    "WO-2,WATER,240,2026-11-23T14:00:00+01:00,0",
    "WO-3,COLA,120,2026-11-23T16:00:00+01:00,5",
]


def test_an_import_with_a_bad_row_imports_nothing_and_names_each_row(agg_target: str, tmp_path: Path) -> None:
    cfg = config(agg_target)
    bad = orders_csv(tmp_path, [GOOD[0], "WO-9,JUICE,10,,0", "WO-8,COLA,many,,0", "WO-7,COLA,5,tomorrow,0"])
    with pytest.raises(ConfigError) as e:
        service.import_plan_file(cfg, bad, now=NOW)
    text = "\n".join(e.value.messages)
    assert "row 3: product: 'JUICE' has no routing" in text
    assert "row 4: quantity: a whole number is required (got 'many')" in text
    assert "row 5: due: cannot read time 'tomorrow'" in text
    st = AggregatorStore(agg_target)
    try:
        assert repo.orders(st) == []
    finally:
        st.close()
    assert service.import_plan_file(cfg, orders_csv(tmp_path, GOOD), now=NOW) == (3, 0)


def test_routings_import_from_csv_and_json(agg_target: str, tmp_path: Path) -> None:
    cfg = config(agg_target)
    r = tmp_path / "routings.csv"
    r.write_text("product,op,resource,rate_per_min,crew\nJUICE,1,L1,3,\nJUICE,1,W2,1,\nJUICE,2,W2,5,\n")
    assert service.import_plan_file(cfg, r, now=NOW) == (0, 1)
    j = tmp_path / "orders.json"
    j.write_text(
        json.dumps({"orders": [{"order_id": "J-1", "product": "JUICE", "quantity": 30, "due": NOW + 7200}]})
    )
    assert service.import_plan_file(cfg, j, now=NOW) == (1, 0)
    row = service.solve_plan(cfg, now=NOW)
    ops = row["body"]["ops"]
    assert [o["op"] for o in sorted(ops, key=lambda o: o["start"])] == [0, 1]


def _solved_and_released(cfg: AggregatorConfig, tmp_path: Path) -> dict[str, Any]:
    service.import_plan_file(cfg, orders_csv(tmp_path, GOOD), now=NOW)
    row = service.solve_plan(cfg, now=NOW)
    assert row["status"] == "proposed"
    assert row["diff"]["added"] == ["WO-1", "WO-2", "WO-3"]
    return service.release_plan(cfg, row["id"], by="pia", now=NOW)


def test_a_released_plan_goes_down_as_plan_commands_the_line_accepts(agg_target: str, tmp_path: Path) -> None:
    cfg = config(agg_target)
    out = _solved_and_released(cfg, tmp_path)
    assert list(out["commands"]) == [LINE_KEY]
    assert out["plan"]["status"] == "released" and out["plan"]["decided_by"] == "pia"
    st = AggregatorStore(agg_target)
    try:
        (cmd,) = [c for c in st.commands(LINE_KEY) if c["kind"] == "plan"]
    finally:
        st.close()
    body = PlanBody.model_validate(cmd["body"])
    assert body.plan_id == str(out["plan"]["id"])
    assert [e.start for e in body.sequence] == sorted(e.start for e in body.sequence)
    assert all(e.resource == "L1" for e in body.sequence) and body.sequence


def test_a_line_down_past_the_threshold_triggers_a_replan_that_moves_its_work(
    agg_target: str, tmp_path: Path
) -> None:
    """The line reports an open stop; after 10 minutes the planner records a trigger
    and proposes a replan: L1's work moves to W2 and the diff says so."""
    cfg = config(agg_target)
    released = _solved_and_released(cfg, tmp_path)["plan"]
    st = AggregatorStore(agg_target)
    try:
        st.ingest(
            Batch(
                line=REF,
                stream="downtime",
                after_seq=0,
                first_seq=1,
                last_seq=1,
                sent_at=NOW,
                records=[
                    {
                        "seq": 1,
                        "event_id": "dt-1",
                        "machine": "filler",
                        "start": NOW + 60,
                        "end": None,
                        "state": "down",
                        "auto_reason": None,
                        "micro": 0,
                    }
                ],
            ),
            now=NOW + 120,
        )
        planner = service.Planner(cfg)
        assert planner.tick(st, NOW + 300) is None  # down for 4 minutes: not yet
        row = planner.tick(st, NOW + 900)
        assert row is not None and row["status"] == "proposed" and "line_down" in row["trigger"]
        assert planner.tick(st, NOW + 960) is None  # the same stop triggers once
        moved = row["diff"]["moved"]
        assert moved and all(m["to_resource"] == "W2" for m in moved if m["from_resource"] == "L1")
        ev = repo.events(st)
        assert [e["kind"] for e in ev if e["plan_id"] == row["id"]] == ["line_down"]
        assert service.get_plan(cfg, None, store=st)["id"] == row["id"]  # the proposal is what shows
        assert repo.plan(st, released["id"])["status"] == "released"  # until approved
    finally:
        st.close()
    out = service.release_plan(cfg, row["id"], by="pia", now=NOW + 1000)
    assert out["plan"]["status"] == "released"


def test_within_the_auto_limits_a_replan_applies_itself(agg_target: str, tmp_path: Path) -> None:
    cfg = config(agg_target, replan={"auto": True, "max_moved": 10, "max_newly_late": 5, "time_limit_s": 2})
    _solved_and_released(cfg, tmp_path)
    service.add_maintenance(cfg, "L1", NOW + 3600, NOW + 4 * 3600, "bearing", now=NOW + 60)
    st = AggregatorStore(agg_target)
    try:
        row = service.Planner(cfg).tick(st, NOW + 120)
        assert row is not None and row["trigger"] == "maintenance"
        assert (
            repo.plan(st, row["id"])["status"] == "released"
            and repo.plan(st, row["id"])["decided_by"] == "auto"
        )
    finally:
        st.close()


def test_a_line_that_resequenced_is_answered_by_a_replan_from_the_real_state(
    agg_target: str, tmp_path: Path
) -> None:
    """The line's ``plan.resequence`` event (sent when its link returned) lands in the
    plan's deviations, triggers a replan, and the blocked order waits for its material."""
    cfg = config(agg_target)
    _solved_and_released(cfg, tmp_path)
    data = {"plan_id": "1", "planned": "WO-1", "chosen": "WO-2", "reason": "material", "detail": "caps"}
    st = AggregatorStore(agg_target)
    try:
        st.ingest(
            Batch(
                line=REF,
                stream="events",
                after_seq=0,
                first_seq=5,
                last_seq=6,
                sent_at=NOW,
                records=[
                    {
                        "seq": 5,
                        "ts": NOW + 30,
                        "kind": "order",
                        "source": "operator",
                        "message": "x",
                        "data": None,
                    },
                    {
                        "seq": 6,
                        "ts": NOW + 60,
                        "kind": "plan.resequence",
                        "source": "plan",
                        "message": "WO-2 instead of WO-1",
                        "data": json.dumps(data),
                    },
                ],
            ),
            now=NOW + 90,
        )
        (dev,) = repo.deviations(st)
        assert (dev["planned"], dev["chosen"], dev["reason"]) == ("WO-1", "WO-2", "material")
        row = service.Planner(cfg).tick(st, NOW + 120)
        assert row is not None and row["trigger"] == "resequenced"
        ops = {o["order"]: o for o in row["body"]["ops"]}
        assert ops["WO-1"]["start"] >= NOW + 60 + 4 * 3600  # the shortage gate (replan.shortage_h)
    finally:
        st.close()


def test_an_infeasible_problem_is_stored_with_its_explanation(agg_target: str, tmp_path: Path) -> None:
    cfg = config(agg_target)
    p = tmp_path / "o.json"
    p.write_text(json.dumps([{"order_id": "X", "product": "COLA", "quantity": 600, "deadline": NOW + 3600}]))
    service.import_plan_file(cfg, p, now=NOW)
    row = service.solve_plan(cfg, now=NOW)
    assert row["status"] == "infeasible"
    (c,) = row["body"]["conflicts"]
    assert c["orders"] == ["X"] and "deadline" in c["text"]
    with pytest.raises(service.PlanError, match="cannot be released"):
        service.release_plan(cfg, row["id"], by="pia", now=NOW)


def test_a_line_agent_and_the_ingest_never_load_the_solver() -> None:
    """OR-Tools is imported when a model is built: importing the agent, the uplink, the
    aggregator process and even the scheduling service leaves it unloaded."""
    import subprocess
    import sys

    code = (
        "import sys, edge.runtime.agent, sync.uplink.session, sync.aggregator.service, "
        "sync.aggregator.scheduling.service; print('ortools' in sys.modules)"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "False"


def test_an_order_overrunning_its_plan_triggers_a_replan(agg_target: str, tmp_path: Path) -> None:
    """The line still runs an order half an hour past its planned end: one trigger, and
    the replan keeps it on its line until ``overrun_min`` from now."""
    from sync.protocol import LineStatus

    cfg = config(agg_target, replan={"overrun_min": 30, "time_limit_s": 2})
    released = _solved_and_released(cfg, tmp_path)["plan"]
    first = min((o for o in released["body"]["ops"] if o["resource"] == "L1"), key=lambda o: o["start"])
    late = first["end"] + 31 * 60
    st = AggregatorStore(agg_target)
    try:
        st.set_status(LINE_KEY, LineStatus(line=REF, online=True, ts=late, order=first["order"]), late)
        row = service.Planner(cfg).tick(st, late)
        assert row is not None and row["trigger"] == "overrun"
        ops = {o["order"]: o for o in row["body"]["ops"]}
        kept = ops[first["order"]]
        assert (
            kept["resource"] == "L1"
            and kept["frozen"]
            and kept["end"] == pytest.approx(late + 30 * 60, abs=60)
        )
        assert service.Planner(cfg).tick(st, late + 60) is None  # once
    finally:
        st.close()
