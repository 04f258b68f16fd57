"""Traceability: produced lots and serials, consumed material lots, `lineside trace`
backward and forward, with the process values of the lot's window."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from edge.cli import main
from edge.config.line import load_config
from edge.logic.model import Quality, Sample
from edge.services.production import OperatorInputError
from edge.services.trace import register_consumed, register_produced, trace
from edge.store import Store
from tests.conftest import REPO, as_operator, pin_on_stdin


def example_without_materials() -> dict[str, Any]:
    """The example line without its material master: these tests record consumption by
    hand with materials of their own (with a master, a lot must be the plant's)."""
    data: dict[str, Any] = yaml.safe_load((REPO / "config" / "line1.yaml").read_text())
    for section in ("material_master", "boms", "stock"):
        data.pop(section, None)
    return data


@pytest.fixture
def line(tmp_path: Path):  # type: ignore[no-untyped-def]
    data = example_without_materials()
    data["store"]["path"] = str(tmp_path / "l.db")
    (tmp_path / "l.yaml").write_text(yaml.safe_dump(data, allow_unicode=True))
    cfg = load_config(tmp_path / "l.yaml")
    st = Store(cfg.store.path)
    st.register_tags((t.name, t.device, t.type, t.eng_unit) for t in cfg.tags)
    t0 = time.time() - 3600
    # The line ran order WO-7 for an hour; fill weights and temperatures were recorded.
    with st.transaction():
        st.db.execute(
            "INSERT INTO orders (ts, order_id, product, action) VALUES (?, 'WO-7', 'COLA-500', 'start')",
            (t0,),
        )
    st.append_samples(
        [
            Sample("filler.fill_weight", 500.0 + (i % 5) * 0.5, Quality.GOOD, t0 + i, t0 + i)
            for i in range(3600)
        ]
        + [Sample("filler.temperature", 62.0, Quality.GOOD, t0 + i, t0 + i) for i in range(0, 3600, 60)]
    )
    return tmp_path / "l.yaml", cfg, st, t0


def test_backward_and_forward(line) -> None:  # type: ignore[no-untyped-def]
    cfgfile, cfg, st, t0 = line
    anna = as_operator(cfg, "1001")
    register_consumed(cfg, st, anna, "PRE-2211", "preforms", quantity=4000, unit="pcs")
    register_consumed(cfg, st, anna, "CAP-0912", "caps")
    register_produced(cfg, st, anna, "L-001", start=t0, end=t0 + 1800, quantity=3600)
    register_produced(cfg, st, anna, "SN-77", kind="serial", start=t0 + 1800, end=t0 + 1801)
    back = trace(cfg, st, "L-001")
    [p] = back["produced"]
    assert p["order"] == "WO-7" and p["product"] == "COLA-500" and p["machine"] == "filler"
    assert {m["material_lot"] for m in p["materials"]} == {"PRE-2211", "CAP-0912"}
    pv = {v["tag"]: v for v in p["process_values"]}
    assert pv["filler.fill_weight"]["samples"] == 1801 and pv["filler.fill_weight"]["min"] == 500.0
    assert pv["filler.fill_weight"]["max"] == 502.0
    fwd = trace(cfg, st, "PRE-2211")
    assert fwd["direction"] == "forward"
    assert [x["lot"] for x in fwd["used_in"][0]["produced"]] == ["L-001", "SN-77"]
    assert main(["trace", "-c", str(cfgfile), "SN-77", "--json"]) == 0
    assert main(["trace", "-c", str(cfgfile), "L-001"]) == 0
    audit = [r[0] for r in st.db.execute("SELECT action FROM audit ORDER BY seq")]
    assert audit == ["trace.consumed", "trace.consumed", "trace.produced_lot", "trace.produced_serial"]


def test_unknown_id_and_bad_input(line, capsys: pytest.CaptureFixture[str]) -> None:  # type: ignore[no-untyped-def]
    cfgfile, cfg, st, t0 = line
    with pytest.raises(OperatorInputError, match="neither a produced lot/serial nor a consumed material lot"):
        trace(cfg, st, "NOPE")
    with pytest.raises(OperatorInputError, match="end: must not be before start"):
        register_produced(cfg, st, as_operator(cfg, "1001"), "L-2", start=t0 + 10, end=t0)
    with pytest.raises(OperatorInputError, match="role 'maintenance' may not record lots"):
        register_consumed(cfg, st, as_operator(cfg, "1004"), "X", "caps")
    assert main(["trace", "-c", str(cfgfile), "NOPE"]) == 2
    assert "neither a produced" in capsys.readouterr().err


def test_cli_records_lots(line, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    cfgfile = line[0]
    pin_on_stdin(monkeypatch, "1111")
    assert (
        main(
            [
                "lot",
                "consumed",
                "-c",
                str(cfgfile),
                "LBL-5",
                "labels",
                "--badge",
                "1001",
                "--quantity",
                "2",
                "--unit",
                "rolls",
            ]
        )
        == 0
    )
    pin_on_stdin(monkeypatch, "1111")
    assert main(["lot", "produced", "-c", str(cfgfile), "L-9", "--badge", "1001", "--quantity", "100"]) == 0
    capsys.readouterr()
    assert main(["trace", "-c", str(cfgfile), "LBL-5", "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["used_in"][0]["order"] == "WO-7" and res["used_in"][0]["produced"][0]["lot"] == "L-9"


def test_lot_tag_changes_are_committed_with_the_samples(tmp_path: Path) -> None:
    """A new lot number on a lot tag while an order runs is a fact: committed in the same
    transaction as the sample that carried it, attached to the order the line runs, audited."""
    from edge.logic.materials.lots import LotConsumed, LotTagWatcher
    from edge.logic.production.line import OrderChange

    data = example_without_materials()
    data["store"]["path"] = str(tmp_path / "w.db")
    data["materials"] = [{"material": "preforms", "lot_tag": "filler.recipe"}]
    (tmp_path / "w.yaml").write_text(yaml.safe_dump(data, allow_unicode=True))
    cfg = load_config(tmp_path / "w.yaml")
    st = Store(cfg.store.path)
    st.register_tags((t.name, t.device, t.type, t.eng_unit) for t in cfg.tags)
    w = LotTagWatcher({m.lot_tag: m.material for m in cfg.materials})
    t0 = time.time()
    assert w.on_sample(t0, "filler.recipe", "PRE-1", True) == []  # no order running: nothing to attach to
    w.follow([OrderChange(t0 + 1, "WO-5", "COLA-500", "start")])
    assert w.on_sample(t0 + 2, "filler.recipe", "PRE-1", True) == []  # unchanged
    assert w.on_sample(t0 + 3, "filler.recipe", "PRE-2", False) == []  # bad quality
    sample = Sample("filler.recipe", "PRE-2", Quality.GOOD, t0 + 4, t0 + 4)
    facts = w.on_sample(sample.ts, sample.tag, sample.value, True)
    assert facts == [LotConsumed(t0 + 4, "PRE-2", "preforms", "WO-5")]
    st.append_samples([sample], facts)
    assert st.db.execute("SELECT ts, material_lot, order_id, source FROM consumed").fetchall() == [
        (t0 + 4, "PRE-2", "WO-5", "tag")
    ]
    assert [r[0] for r in st.db.execute("SELECT action FROM audit")] == ["trace.consumed"]
    assert trace(cfg, st, "PRE-2")["used_in"][0]["order"] == "WO-5"
    w.follow([OrderChange(t0 + 5, "WO-5", "COLA-500", "complete")])
    assert w.on_sample(t0 + 6, "filler.recipe", "PRE-3", True) == []  # the order is done


def test_a_failed_fact_batch_commits_neither_samples_nor_lots(tmp_path: Path) -> None:
    """The consumed lot and its sample commit together or not at all."""
    from edge.core.errors import StoreError
    from edge.logic.materials.lots import LotConsumed

    data = example_without_materials()
    data["store"]["path"] = str(tmp_path / "f.db")
    (tmp_path / "f.yaml").write_text(yaml.safe_dump(data, allow_unicode=True))
    cfg = load_config(tmp_path / "f.yaml")
    st = Store(cfg.store.path)
    st.register_tags((t.name, t.device, t.type, t.eng_unit) for t in cfg.tags)
    t0 = time.time()
    sample = Sample("filler.recipe", "PRE-9", Quality.GOOD, t0, t0)
    bad = LotConsumed(t0, "PRE-9", "preforms", None)  # type: ignore[arg-type]  # order_id is NOT NULL
    with pytest.raises(StoreError):
        st.append_samples([sample], [bad])
    assert st.count("samples") == 0 and st.count("consumed") == 0


def test_a_tag_that_did_not_change_in_the_window_counts_with_its_value_in_force(tmp_path: Path) -> None:
    """Found: process values used only the samples inside the window, so a tag that did
    not change showed 1 sample or none. Sample-and-hold: the value in force at the start
    counts; min, mean and max are time-weighted, with the number of changes."""
    from edge.store.genealogy import process_values

    st = Store(tmp_path / "s.db")
    st.register_tags(
        [("temp", "d", "float32", "°C"), ("speed", "d", "float32", "bpm"), ("mode", "d", "string", "")]
    )
    t0 = 1_000_000.0
    st.append_samples(
        [
            Sample("speed", 300.0, Quality.GOOD, t0 - 5000, t0 - 5000),  # no change for hours
            Sample("temp", 60.0, Quality.GOOD, t0 - 100, t0 - 100),
            Sample("mode", "auto", Quality.GOOD, t0 - 100, t0 - 100),
            Sample("temp", 70.0, Quality.GOOD, t0 + 15, t0 + 15),
            Sample("temp", 70.0, Quality.GOOD, t0 + 30, t0 + 30),  # a heartbeat row: no change
        ]
    )
    pv = {v["tag"]: v for v in process_values(st, t0, t0 + 60)}
    assert pv["speed"] | {"unit": None} == {
        "tag": "speed",
        "unit": None,
        "samples": 0,
        "changes": 0,
        "at_start": 300.0,
        "min": 300.0,
        "mean": 300.0,
        "max": 300.0,
        "last": 300.0,
    }
    t = pv["temp"]
    assert (t["samples"], t["changes"], t["at_start"], t["min"], t["max"]) == (2, 1, 60.0, 60.0, 70.0)
    assert t["mean"] == pytest.approx((60 * 15 + 70 * 45) / 60)  # not (70 + 70) / 2
    assert pv["mode"]["last"] == "auto" and pv["mode"]["mean"] is None
    st.close()


def test_forward_trace_names_the_product_and_consumption_needs_a_known_order(line) -> None:  # type: ignore[no-untyped-def]
    """Found: forward trace labelled orders with the material id; consumption was
    accepted for orders the line never knew."""
    _cfgfile, cfg, st, _t0 = line
    anna = as_operator(cfg, "1001")
    with pytest.raises(OperatorInputError, match="order: 'WO-NOPE' is not an order of this line"):
        register_consumed(cfg, st, anna, "PRE-1", "preforms", order="WO-NOPE")
    register_consumed(cfg, st, anna, "PRE-1", "preforms", order="WO-7")
    [use] = trace(cfg, st, "PRE-1")["used_in"]
    assert (use["order"], use["product"], use["material"]) == ("WO-7", "COLA-500", "preforms")
