"""Inspections: due at order start / every N parts / every T minutes, overdue after the
grace period; results judged, refused with the item named, stored and audited."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import yaml

from edge.cli import main
from edge.config.line import load_config
from edge.logic.quality.inspections import due_inspections
from edge.services.inspections import due, record
from edge.services.production import OperatorInputError
from edge.store import Store
from tests.conftest import REPO, as_operator, pin_on_stdin


def plans():  # type: ignore[no-untyped-def]
    return load_config(REPO / "config" / "line1.yaml").inspections


def test_due_logic() -> None:
    p = plans()
    start = 1000.0
    d = due_inspections(
        p, now=start + 60, order="WO", product="COLA-500", order_start=start, parts=10, done={}
    )
    assert [(x.plan, x.overdue) for x in d] == [("first_off", False)]
    d = due_inspections(
        p, now=start + 16 * 60, order="WO", product="COLA-500", order_start=start, parts=10, done={}
    )
    assert [(x.plan, x.overdue) for x in d] == [("first_off", True)]
    done = {"first_off": (start + 100, 50)}
    assert (
        due_inspections(
            p, now=start + 30 * 60, order="WO", product="COLA-500", order_start=start, parts=100, done=done
        )
        == []
    )
    d = due_inspections(
        p, now=start + 61 * 60, order="WO", product="COLA-500", order_start=start, parts=100, done=done
    )
    assert [(x.plan, x.reason) for x in d] == [("hourly_torque", "every 60 min")]
    d = due_inspections(
        p, now=start + 20 * 60, order="WO", product="COLA-500", order_start=start, parts=5001, done=done
    )
    assert [(x.plan, x.reason) for x in d] == [("hourly_torque", "every 5000 parts")]
    assert due_inspections(p, now=start, order=None, product=None, order_start=None, parts=0, done={}) == []


def test_record_and_due_from_the_store(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    data = yaml.safe_load((REPO / "config" / "line1.yaml").read_text())
    data["store"]["path"] = str(tmp_path / "l.db")
    (tmp_path / "l.yaml").write_text(yaml.safe_dump(data, allow_unicode=True))
    cfg = load_config(tmp_path / "l.yaml")
    st = Store(cfg.store.path)
    with st.transaction():
        st.db.execute(
            "INSERT INTO orders (ts, order_id, product, action) VALUES (?, 'WO-3', 'COLA-500', 'start')",
            (time.time() - 60,),
        )
    assert [d["plan"] for d in due(cfg, st)] == ["first_off"]
    qa = as_operator(cfg, "1003")  # Clara Quality, signing with her PIN
    with pytest.raises(OperatorInputError, match="item 'fill_height': 'x' is not a number"):
        record(cfg, st, qa, "first_off", {"fill_height": "x", "cap_seal": "pass", "label_position": "pass"})
    with pytest.raises(OperatorInputError, match=r"outside the plausible range 150\.\.220"):
        record(
            cfg, st, qa, "first_off", {"fill_height": "1820", "cap_seal": "pass", "label_position": "pass"}
        )
    with pytest.raises(OperatorInputError, match="item 'label_position': required"):
        record(cfg, st, qa, "first_off", {"fill_height": "182", "cap_seal": "pass"})
    assert st.db.execute("SELECT count(*) FROM inspections").fetchone()[0] == 0  # nothing half-written
    failing = {"fill_height": "185", "cap_seal": "pass", "label_position": "pass"}
    with pytest.raises(OperatorInputError, match="comment: required when an inspection fails"):
        record(cfg, st, qa, "first_off", failing)
    assert record(cfg, st, qa, "first_off", failing, comment="filler head 3 overfills; adjusted") is False
    assert due(cfg, st) == []
    cfgfile = str(tmp_path / "l.yaml")
    pin_on_stdin(monkeypatch, "3333")
    rc = main(
        ["inspect", "record", "-c", cfgfile, "hourly_torque", "--item", "cap_torque=2.0", "--badge", "1003"]
    )
    assert rc == 0 and "PASS" in capsys.readouterr().out
    rows = st.db.execute("SELECT plan, passed, by FROM inspections ORDER BY seq").fetchall()
    clara = "Clara Quality (1003)"
    assert rows == [("first_off", 0, clara), ("hourly_torque", 1, clara)]
    assert [r[0] for r in st.db.execute("SELECT action FROM audit")] == [
        "inspection.record",
        "order.hold",  # a failed first-off holds its order
        "inspection.record",
    ]
    assert main(["inspect", "due", "-c", cfgfile]) == 0


def test_cli_refuses_a_failed_inspection_without_a_comment(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The rule the terminal had alone now holds on every path: `lineside inspect record`
    of a failing result without --comment exits 2 naming the field and writes nothing;
    with a comment it is recorded as failed (exit 4)."""
    data = yaml.safe_load((REPO / "config" / "line1.yaml").read_text())
    data["store"]["path"] = str(tmp_path / "l.db")
    (tmp_path / "l.yaml").write_text(yaml.safe_dump(data, allow_unicode=True))
    cfgfile = str(tmp_path / "l.yaml")
    args = [
        "inspect",
        "record",
        "-c",
        cfgfile,
        "hourly_torque",
        "--item",
        "cap_torque=4.9",
        "--badge",
        "1003",
    ]
    pin_on_stdin(monkeypatch, "3333")
    assert main(args) == 2
    assert "comment: required when an inspection fails" in capsys.readouterr().err
    cfg = load_config(cfgfile)
    with Store(cfg.store.path, readonly=True) as st:
        assert st.count("inspections") == 0 and st.count("audit") == 0
    pin_on_stdin(monkeypatch, "3333")
    assert main([*args, "--comment", "torque head 2 worn; replaced"]) == 4
    with Store(cfg.store.path, readonly=True) as st:
        assert st.db.execute("SELECT passed, comment FROM inspections").fetchall() == [
            (0, "torque head 2 worn; replaced")
        ]
