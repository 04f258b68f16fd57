"""`lineside aggregator ...` commands on a plant store: order import (idempotent, bad
rows named), commands, status and report from the plant tables."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import yaml

from edge.cli import main
from sync.aggregator.store import AggregatorStore
from sync.protocol import LineRef, LineStatus
from tests.plant_users import password_on_stdin, web_users

LINE = {"enterprise": "acme", "site": "hamburg", "area": "filling", "line": "line1"}
KEY = "acme/hamburg/filling/line1"


@pytest.fixture
def agg_cfg(tmp_path: Path) -> Path:
    p = tmp_path / "agg.yaml"
    p.write_text(yaml.safe_dump({"store": {"path": "plant.db"}, "lines": [LINE], "web": web_users()}))
    return p


def test_order_import_is_idempotent_and_names_bad_rows(
    agg_cfg: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    password_on_stdin(monkeypatch, times=4)
    csv = agg_cfg.parent / "erp.csv"
    csv.write_text(
        "line,order_id,product,quantity,due\nline1,WO-1,COLA-500,100,2036-12-01T06:00\nline1,WO-2,COLA-500,abc,\n"
    )
    assert main(["aggregator", "order", "import", "-c", str(agg_cfg), str(csv), "--user", "paula"]) == 2
    err = capsys.readouterr().err
    assert "erp.csv: row 3: quantity: 'abc' is not a whole number" in err and "Traceback" not in err
    csv.write_text(
        "line,order_id,product,quantity,due\nline1,WO-1,COLA-500,100,2036-12-01T06:00\nline1,WO-2,WATER-1L,,\n"
    )
    for _ in range(2):
        assert main(["aggregator", "order", "import", "-c", str(agg_cfg), str(csv), "--user", "paula"]) == 0
    assert main(["aggregator", "commands", "-c", str(agg_cfg), "--json"]) == 0
    out = capsys.readouterr().out
    cmds = json.loads(out[out.index("[") :])
    assert sorted((c["body"]["order_id"], c["state"]) for c in cmds) == [
        ("WO-1", "pending"),
        ("WO-2", "pending"),
    ]
    wo1 = next(c for c in cmds if c["body"]["order_id"] == "WO-1")
    assert wo1["body"]["quantity"] == 100 and wo1["body"]["due"] > time.time()
    assert (
        main(
            [
                "aggregator",
                "order",
                "add",
                "-c",
                str(agg_cfg),
                "--line",
                "nope",
                "--order",
                "X",
                "--product",
                "P",
                "--user",
                "paula",
            ]
        )
        == 2
    )
    assert "line: 'nope' is not configured" in capsys.readouterr().err


def test_status_and_report_from_plant_tables(agg_cfg: Path, capsys: pytest.CaptureFixture[str]) -> None:
    st = AggregatorStore(agg_cfg.parent / "plant.db")
    now = time.time()
    with st.tx():
        st.set_status(
            KEY,
            LineStatus(
                line=LineRef(**LINE),
                online=True,
                ts=now,
                state="down",
                order="WO-1",
                last_data=now - 2,
                backlog=17,
            ),
            now,
        )
        st.set_state(
            KEY,
            "shift_kpi",
            {
                "v": 1,
                "shift": "2026-11-21/early",
                "start": now - 3600,
                "end": now,
                "ts": now,
                "kpi": {
                    "oee": 0.61,
                    "availability": 0.8,
                    "performance": 0.8,
                    "quality": 0.95,
                    "mtbf_s": 900.0,
                    "mttr_s": 120.0,
                    "failures": 3,
                },
                "pareto": [{"reason": "JAM", "loss": "availability", "count": 3, "duration_s": 360.0}],
            },
            now,
        )
    st.close()
    assert main(["aggregator", "status", "-c", str(agg_cfg), "--json"]) == 0
    s = json.loads(capsys.readouterr().out)[0]
    assert (s["line"], s["online"], s["state"], s["order"], s["backlog"]) == (KEY, True, "down", "WO-1", 17)
    assert main(["aggregator", "report", "-c", str(agg_cfg)]) == 0
    out = capsys.readouterr().out
    assert "OEE  61.0%" in out and "MTBF" in out and "JAM (availability)" in out
    assert main(["aggregator", "acl", "-c", str(agg_cfg), "--users"]) == 0
    assert "user line-acme.hamburg.filling.line1" in capsys.readouterr().out


def test_a_damaged_plant_store_exits_2_naming_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Like the line's (issue 13, finding 12): exit 2, which the unit does not restart on,
    with what to do; not "unexpected error"."""
    import os

    from tests.conftest import REPO

    data = yaml.safe_load((REPO / "config" / "aggregator.yaml").read_text())
    data["store"] = {"path": str(tmp_path / "plant.db")}
    cfg = tmp_path / "agg.yaml"
    cfg.write_text(yaml.safe_dump(data))
    (tmp_path / "plant.db").write_bytes(os.urandom(8192))
    assert main(["aggregator", "status", "-c", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert (
        f"{tmp_path / 'plant.db'}: the store is damaged (file is not a database). Stop the aggregator" in err
    )


def test_inspections_lists_misses_and_what_is_due(agg_cfg: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from sync.protocol import Batch, InspectionsDue, decode
    from sync.uplink.state import inspections_payload

    st = AggregatorStore(agg_cfg.parent / "plant.db")
    now = time.time()
    miss = {
        "seq": 1,
        "ts": now - 600,
        "plan": "first_off",
        "order_id": "WO-1",
        "product": "COLA-500",
        "due_at": now - 1600,
        "reason": "grace passed (order start)",
    }
    old = miss | {"seq": 2, "ts": now - 3 * 86400, "order_id": "WO-0"}
    st.ingest(
        Batch(line=LineRef(**LINE), stream="inspection_misses", after_seq=0, first_seq=1, last_seq=2, sent_at=now,
              records=[miss, old])
    )  # fmt: skip
    due = [
        {"plan": "hourly_torque", "order": "WO-1", "product": None, "due_at": now - 900, "reason": "every 60 min",
         "overdue": True},
    ]  # fmt: skip
    with st.tx():
        st.set_state(
            KEY, "inspections", decode(InspectionsDue, inspections_payload(due, now)).model_dump(), now
        )
    st.close()
    assert main(["aggregator", "inspections", "-c", str(agg_cfg), "--json"]) == 0
    rep = json.loads(capsys.readouterr().out)
    assert [(m["line"], m["plan"], m["order_id"]) for m in rep["missed"]] == [(KEY, "first_off", "WO-1")]
    assert [(d["line"], d["count"], d["due"][0]["plan"], d["due"][0]["overdue"]) for d in rep["due"]] == [
        (KEY, 1, "hourly_torque", True)
    ]
    assert main(["aggregator", "inspections", "-c", str(agg_cfg), "--hours", "100", "--line", "line1"]) == 0
    out = capsys.readouterr().out
    assert "missed in the last 100 h: 2" in out and "WO-0" in out
    assert "OVERDUE  hourly_torque" in out and "(every 60 min)" in out
    assert main(["aggregator", "inspections", "-c", str(agg_cfg), "--line", "nope"]) == 2
    assert "line: 'nope' is not configured" in capsys.readouterr().err
