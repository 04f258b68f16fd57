"""``lineside replay``: recorded samples through the line logic, against hand-computed KPIs."""

from __future__ import annotations

import csv
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from edge.cli import main
from edge.config.line import load_config
from edge.runtime.replay import ReplayError, replay
from tests.conftest import REPO

TZ = ZoneInfo("Europe/Berlin")
T0 = datetime(2026, 11, 23, 8, 0, tzinfo=TZ).timestamp()  # a Monday, early shift 06-14


def at(h: int, m: int, s: int = 0) -> float:
    return datetime(2026, 11, 23, h, m, s, tzinfo=TZ).timestamp()


def make_csv(path: Path) -> dict[str, float]:
    """08:00-10:00: down 08:30-08:40 (fault 101), starved 09:00:00-09:00:10 (micro-stop),
    idle during the 09:30-09:45 break; 2 bottles/s while running; a reject every 20 min."""
    segments = [
        (at(8, 0), at(8, 30), 1),
        (at(8, 30), at(8, 40), 2),
        (at(8, 40), at(9, 0), 1),
        (at(9, 0), at(9, 0, 10), 3),
        (at(9, 0, 10), at(9, 30), 1),
        (at(9, 30), at(9, 45), 0),
        (at(9, 45), at(10, 0), 1),
    ]
    end = at(10, 0)
    rows: list[tuple[str, str, str]] = []
    count = scrap = 1000
    total_made = scraps = 0
    for a, b, code in segments:
        rows.append((datetime.fromtimestamp(a, TZ).isoformat(), "filler.state", str(code)))
        rows.append((str(a), "filler.fault_code", "101" if code == 2 else "0"))
        t = a
        while t < b:
            if code == 1 and t + 1 < end:
                count += 2
                total_made += 2
                rows.append((str(t + 1), "filler.cycle_count", str(count)))
            if int(t - T0) % 1200 == 600 and t + 1 < end:
                scrap += 1
                scraps += 1
                rows.append((str(t + 1), "capper.scrap_count", str(scrap)))
            t += 1
    rows.insert(0, (str(T0), "capper.scrap_count", str(scrap - scraps)))
    rows.insert(0, (str(T0), "filler.cycle_count", "1000"))
    rows.append((str(end), "filler.state", "1"))
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["ts", "tag", "value"])
        w.writerows(rows)
    return {"total": total_made, "scrap": scraps}


@pytest.fixture
def cfg():  # type: ignore[no-untyped-def]
    return load_config(REPO / "config" / "line1.yaml")


def test_replay_kpis_match_hand_computation(tmp_path: Path, cfg) -> None:  # type: ignore[no-untyped-def]
    truth = make_csv(tmp_path / "s.csv")
    rep = replay(cfg, tmp_path / "s.csv")
    k = rep["total"]
    ppt = 7200 - 15 * 60  # the 09:30 break is planned
    run = ppt - 600  # 10 minutes down; the 10 s micro-stop stays in run time
    assert k["planned_production_s"] == pytest.approx(ppt)
    assert k["run_s"] == pytest.approx(run)
    assert k["good"] + k["scrap"] == truth["total"] and k["scrap"] == truth["scrap"]
    assert k["availability"] == pytest.approx(run / ppt)
    assert k["performance"] == pytest.approx(truth["total"] * 0.5 / run)
    assert k["quality"] == pytest.approx((truth["total"] - truth["scrap"]) / truth["total"])
    assert k["oee"] == pytest.approx(k["availability"] * k["performance"] * k["quality"])
    assert rep["machines"]["filler"]["failures"] == 1
    assert rep["machines"]["filler"]["mttr_s"] == pytest.approx(600)
    assert rep["machines"]["filler"]["mtbf_s"] == pytest.approx(run)
    down = [e for e in rep["downtime"] if e["state"] == "down"]
    assert len(down) == 1 and down[0]["duration_s"] == pytest.approx(600)
    assert (
        down[0]["reason"] == "MECH.JAM"
        and down[0]["reason_source"] == "plc"
        and down[0]["loss"] == "availability"
    )
    micro = [e for e in rep["downtime"] if e["micro"]]
    assert len(micro) == 1 and micro[0]["loss"] == "performance" and micro[0]["reason"] == "MATL.STARVED"
    brk = [e for e in rep["downtime"] if e["state"] == "idle"]
    assert len(brk) == 1 and brk[0]["loss"] == "planned" and brk[0]["explained"]  # idle during the break
    [shift] = rep["shifts"]
    assert shift["shift"] == "2026-11-23/early" and shift["partial"]
    assert shift["oee"] == pytest.approx(k["oee"])


def test_replay_cli_text_and_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    make_csv(tmp_path / "s.csv")
    assert main(["replay", "-c", str(REPO / "config" / "line1.yaml"), str(tmp_path / "s.csv")]) == 0
    out = capsys.readouterr().out
    assert "shift 2026-11-23/early" in out and "MECH.JAM" in out and "MTBF" in out
    assert main(["replay", "-c", str(REPO / "config" / "line1.yaml"), str(tmp_path / "s.csv"), "--json"]) == 0


def test_malformed_rows_are_named(tmp_path: Path, cfg, capsys: pytest.CaptureFixture[str]) -> None:  # type: ignore[no-untyped-def]
    p = tmp_path / "bad.csv"
    p.write_text(
        "ts,tag,value\n"
        "2026-11-23T08:00:00,filler.state,1\n"
        "2026-13-01T08:00:00,filler.state,1\n"
        "2026-11-23T08:00:01,filler.nope,1\n"
        "2026-11-23T08:00:02,filler.state,running\n"
        "2026-11-23T08:00:03,filler.state\n"
    )
    with pytest.raises(ReplayError) as e:
        replay(cfg, p)
    assert e.value.messages == [
        f"{p}:3: ts: cannot read '2026-13-01T08:00:00' as ISO 8601 or epoch seconds",
        f"{p}:4: tag: 'filler.nope' is not a tag of this line",
        f"{p}:5: value: tag 'filler.state' (int16): 'running' is not a number",
        f"{p}:6: expected 3 columns, got 2",
    ]
    assert main(["replay", "-c", str(REPO / "config" / "line1.yaml"), str(p)]) == 2
    err = capsys.readouterr().err
    assert f"{p}:3: ts:" in err and "Traceback" not in err


def test_numbers_and_times_are_read_strictly(tmp_path: Path, cfg) -> None:  # type: ignore[no-untyped-def]
    """Issue 13, finding 10: NaN, infinities, ``1_0`` and fullwidth digits are refused
    with their row, in values and in times."""
    p = tmp_path / "strict.csv"
    p.write_text(
        "ts,tag,value\n"
        "2026-11-23T08:00:00,filler.state,1\n"
        "nan,filler.state,1\n"
        "1e400,filler.state,1\n"
        "2026-11-23T08:00:01,filler.state,1_0\n"
        "2026-11-23T08:00:02,filler.fill_weight,nan\n"
        "2026-11-23T08:00:03,filler.fill_weight,\uff15\n",
        encoding="utf-8",
    )
    with pytest.raises(ReplayError) as e:
        replay(cfg, p)
    assert [m.split(": ", 2)[0:2] for m in e.value.messages] == [
        [f"{p}:3", "ts"],
        [f"{p}:4", "ts"],
        [f"{p}:5", "value"],
        [f"{p}:6", "value"],
        [f"{p}:7", "value"],
    ]


def test_bad_header_and_missing_file(tmp_path: Path, cfg) -> None:  # type: ignore[no-untyped-def]
    p = tmp_path / "h.csv"
    p.write_text("time,name,v\n1,2,3\n")
    with pytest.raises(ReplayError, match="header must name the columns ts, tag and value"):
        replay(cfg, p)
    with pytest.raises(ReplayError, match="cannot open"):
        replay(cfg, tmp_path / "missing.csv")
