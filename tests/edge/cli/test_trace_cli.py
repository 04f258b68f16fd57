"""`lineside trace ID` in text: process values of every kind of tag in the lot's window,
arrays (`palletiser.zone_temps`) and text included."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from edge.cli import main
from edge.config.line import load_config
from edge.logic.model import Quality, Sample
from edge.services.trace import register_produced
from edge.store import Store
from tests.conftest import as_operator, example_on_free_ports


def test_trace_text_lists_array_and_text_tags_by_count(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = example_on_free_ports(tmp_path)
    cfg = load_config(path)
    t0 = time.time() - 600
    with Store(cfg.store.path) as st:
        st.register_tags((t.name, t.device, t.type, t.eng_unit) for t in cfg.tags)
        st.append_samples(
            [
                Sample("palletiser.zone_temps", [60.0, 61.5, 62.0, 63.25], Quality.GOOD, t0 + i, t0 + i)
                for i in range(5)
            ]
            + [Sample("filler.fill_weight", 500.0 + i, Quality.GOOD, t0 + i, t0 + i) for i in range(5)]
            + [Sample("filler.recipe", "COLA-500", Quality.GOOD, t0 + i, t0 + i) for i in range(5)]
        )
        register_produced(
            cfg, st, as_operator(cfg, "1001"), "L-42", order="WO-7", start=t0, end=t0 + 10, quantity=100
        )
    assert main(["trace", "-c", str(path), "L-42"]) == 0
    out = {ln.split()[0]: ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("    ")}
    assert out["palletiser.zone_temps"].split()[1:] == ["5", "samples", "0", "changes"]
    assert out["filler.recipe"].split()[1:] == ["5", "samples", "0", "changes"]
    # Time-weighted (sample-and-hold): 504 holds from t0+4 to the lot's end at t0+10.
    assert "min 500  mean 503  max 504" in out["filler.fill_weight"]  # (500+501+502+503+6×504)/10
    assert "4 changes" in out["filler.fill_weight"]
