"""Hourly rollups kept at ingest: exact on a known history, the same whatever the order
and duplication of batches, and the plant-side OEE of an hour by the textbook formulas
(Nakajima: A = run time / planned production time, P = ideal time of all parts / run
time, Q = good / total; micro-stops stay in run time)."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from sync.aggregator.plantview import PlantView, category, loss_class
from sync.aggregator.store import AggregatorStore
from tests.sync.web.plant import H0, KEY, cfg, fill, history, ingest


def rollups(st: AggregatorStore) -> dict[str, list[tuple[object, ...]]]:
    return {
        "state": st.query(
            "SELECT machine, hour, state, seconds FROM rollup_state ORDER BY machine, hour, state"
        ),
        "counts": st.query("SELECT * FROM rollup_counts ORDER BY machine, hour"),
        "downtime": st.query("SELECT event_id, hour, seconds FROM downtime_hours ORDER BY event_id, hour"),
        "scrap": st.query("SELECT hour, reason, scrap FROM rollup_scrap ORDER BY hour, reason"),
        "state_days": st.query("SELECT * FROM rollup_state_days ORDER BY machine, day, state"),
        "counts_days": st.query("SELECT * FROM rollup_counts_days ORDER BY machine, day"),
        "scrap_days": st.query("SELECT * FROM rollup_scrap_days ORDER BY day, reason"),
        "stops_days": st.query("SELECT * FROM rollup_stops_days ORDER BY day, machine, reason, micro, state"),
    }


def test_known_history_gives_exact_hours(tmp_path: Path) -> None:
    st = AggregatorStore(tmp_path / "p.db")
    fill(st)
    r = rollups(st)
    assert r["state"] == [
        ("filler", H0, "down", 600.0),
        ("filler", H0, "running", 3000.0),
        ("filler", H0 + 3600, "planned_stop", 900.0),
        ("filler", H0 + 3600, "running", 2680.0),
        ("filler", H0 + 3600, "starved", 20.0),
    ]  # from 2:00 the filler runs still: the open interval is not stored
    assert r["downtime"] == [("e1", H0, 600.0), ("e2", H0 + 3600, 20.0), ("e3", H0 + 3600, 900.0)]
    assert r["scrap"] == [(H0, "underfill", 30), (H0 + 3600, "underfill", 30)]
    k = PlantView(cfg(str(tmp_path / "p.db")), st).hourly(
        [cfg(str(tmp_path / "p.db")).lines[0]], H0, H0 + 3600
    )[H0]
    assert k.availability == pytest.approx(3000 / 3600)
    assert k.performance == pytest.approx(1530 / 3000)
    assert k.quality == pytest.approx(1500 / 1530)
    assert k.oee == pytest.approx(1500 / 3600)  # = ideal time of good parts / PPT
    assert k.failures == 1 and k.mttr_s == 600
    h1 = PlantView(cfg(str(tmp_path / "p.db")), st).hourly(
        [cfg(str(tmp_path / "p.db")).lines[0]], H0 + 3600, H0 + 7200
    )[H0 + 3600]
    # The meeting (planned) is outside PPT; the 20 s micro-stop stays in run time.
    assert h1.planned_production_s == pytest.approx(2700) and h1.run_s == pytest.approx(2700)
    assert h1.six_big_losses()["small_stops"] == pytest.approx(20)
    st.close()


def test_any_order_and_duplication_gives_the_same_rollups(tmp_path: Path) -> None:
    ref = AggregatorStore(tmp_path / "ref.db")
    fill(ref)
    want = rollups(ref)
    ref.close()
    rnd = random.Random(7)
    st = AggregatorStore(tmp_path / "shuffled.db")
    for stream, recs in history().items():
        singles = [[r] for r in recs] + [[rnd.choice(recs)] for _ in range(3)]
        rnd.shuffle(singles)
        for b in singles:
            ingest(st, stream, b, after=b[0]["seq"] - 1)
    assert rollups(st) == want
    st.close()


def test_reason_categories_and_losses() -> None:
    assert category("MECH.JAM") == "MECH" and category(None) == "unexplained"
    planned, setup = {"PLANNED"}, {"SETUP"}
    assert loss_class("PLANNED.PM", False, planned, setup) == "planned"
    assert loss_class("SETUP.CHANGEOVER", False, planned, setup) == "setup"
    assert loss_class("MECH.JAM", True, planned, setup) == "small_stop"
    assert loss_class(None, False, planned, setup) == "breakdown"
    assert KEY.endswith("line1")


def test_a_store_from_before_the_web_view_is_filled_from_its_records(tmp_path: Path) -> None:
    st = AggregatorStore(tmp_path / "p.db")
    fill(st)
    want = rollups(st)
    with st.tx():
        for t in (
            "state_changes",
            "counts",
            "spc_points",
            "spc_limits",
            "order_runs",
            "rollup_state",
            "rollup_counts",
            "rollup_scrap",
            "downtime_hours",
            "web_audit",
        ):
            st.db.execute(f"DROP TABLE {t}")
        st.db.execute("DROP INDEX downtime_open")
        st.db.execute("DELETE FROM _migrations WHERE name = 'm007_web'")
    st.close()
    st = AggregatorStore(tmp_path / "p.db")  # applies m007_web, then replays the records
    assert rollups(st) == want
    st.close()


def test_a_period_summed_in_the_database_matches_its_hours(tmp_path: Path) -> None:
    st = AggregatorStore(tmp_path / "p.db")
    fill(st)
    c = cfg(str(tmp_path / "p.db"))
    v = PlantView(c, st)
    whole = v.period_kpis([c.lines[0]], H0, H0 + 7200)[KEY]
    hours = list(v.hourly([c.lines[0]], H0, H0 + 7200).values())
    assert whole.run_s == pytest.approx(sum(k.run_s for k in hours))
    assert whole.downtime_s == pytest.approx(sum(k.downtime_s for k in hours))
    assert whole.planned_stop_s == pytest.approx(900)
    assert (whole.good, whole.scrap, whole.failures) == (3000, 60, 1)
    # PPT: 2 h less the 15 min meeting (in planned_stop: not subtracted twice).
    assert whole.planned_production_s == pytest.approx(7200 - 900)
    assert whole.oee == pytest.approx(3000 / (7200 - 900))  # ideal time of good parts / PPT
    st.close()


def test_days_sum_their_hours_and_are_rebuilt_for_a_store_that_had_only_hours(tmp_path: Path) -> None:
    st = AggregatorStore(tmp_path / "p.db")
    fill(st)
    want = rollups(st)
    day = H0 - H0 % 86400
    assert want["state_days"] == [
        (KEY, "filler", day, "down", 600.0),
        (KEY, "filler", day, "planned_stop", 900.0),
        (KEY, "filler", day, "running", 5680.0),
        (KEY, "filler", day, "starved", 20.0),
    ]
    assert [(r[3], r[4], r[5], r[6], r[7]) for r in want["stops_days"]] == [
        ("MATL.STARVED", 1, "starved", 20.0, 1),
        ("MECH.JAM", 0, "down", 600.0, 1),
        ("PLANNED.MEETING", 0, "planned_stop", 900.0, 1),
    ]
    with st.tx():
        for t in ("rollup_state_days", "rollup_counts_days", "rollup_scrap_days", "rollup_stops_days"):
            st.db.execute(f"DROP TABLE {t}")
        st.db.execute("DELETE FROM _migrations WHERE name = 'm007_web_days'")
    st.close()
    st = AggregatorStore(tmp_path / "p.db")
    assert rollups(st) == want
    st.close()


def test_a_report_over_days_and_edge_hours_matches_the_hours(tmp_path: Path) -> None:
    """Whole days come from the day rollups, the edges from the hours: the same figures."""
    st = AggregatorStore(tmp_path / "p.db")
    fill(st)
    c = cfg(str(tmp_path / "p.db"))
    v = PlantView(c, st)
    day = H0 - H0 % 86400
    for a, b in ((day - 3 * 3600, day + 86400 + 7200), (H0, H0 + 7200), (day, day + 86400)):
        rep = v.report("plant", a, b)
        hours = list(v.hourly([c.lines[0]], a, b).values())  # the open interval (running still) too
        assert rep["lines"][0]["run_s"] == pytest.approx(sum(k.run_s for k in hours)), (a, b)
        assert rep["lines"][0]["good"] == 3000 and rep["lines"][0]["failures"] == 1
        assert rep["scrap"] == [{"reason": "underfill", "scrap": 60}]
        assert {c["category"] for c in rep["pareto"]} == {"MECH", "MATL", "PLANNED"}
    st.close()
