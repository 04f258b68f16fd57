"""Limit versions: recalculation from a chosen baseline window or typed limits, approved
by a second person; the active version and its history per product. Acknowledgement
with the out-of-control action plan's cause and action codes.

Finding: ``spc recalc`` could only re-baseline from "now"."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edge.config.line import LineConfig, load_config
from edge.logic.quality.charts import xbar_r_limits
from edge.logic.quality.live import SpcAlarm, SpcPoint
from edge.services import quality
from edge.services.context import open_store
from edge.services.validate import OperatorInputError
from tests.conftest import as_operator, example_on_free_ports


@pytest.fixture
def cfg(tmp_path: Path) -> LineConfig:
    return load_config(example_on_free_ports(tmp_path))


def test_limits_from_a_baseline_window_become_the_active_version_once_approved(cfg: LineConfig) -> None:
    ben, clara = as_operator(cfg, "1002"), as_operator(cfg, "1003")
    rng = np.random.default_rng(2)
    data = rng.normal(500, 0.8, (40, 5))
    with open_store(cfg) as st:
        facts = [
            SpcPoint(1000.0 + i, "fill_weight", float(g.mean()), float(np.ptp(g)), None, "COLA-500")
            for i, g in enumerate(data)
        ]
        st.append_samples([], facts)
        with pytest.raises(OperatorInputError, match="to: the end of the baseline window must be after"):
            quality.request_limits(cfg, st, ben, "fill_weight", reason="r", start=1039, end=1000)
        with pytest.raises(OperatorInputError, match="from: 1 points in the window"):
            quality.request_limits(cfg, st, ben, "fill_weight", reason="r", start=1000, end=1000.5)
        with pytest.raises(OperatorInputError, match="give a baseline window or typed limits, not both"):
            quality.request_limits(
                cfg, st, ben, "fill_weight", reason="r", start=1, end=2, center=500, sigma=1
            )
        # Points 10..34 are the baseline (the process after the new nozzle).
        rid = quality.request_limits(cfg, st, ben, "fill_weight", reason="new nozzle", start=1010, end=1034)
        assert quality.limit_versions(cfg, st, "fill_weight") == []  # nothing until approved
        quality.approve_limits(cfg, st, clara, rid)
        [v] = quality.limit_versions(cfg, st, "fill_weight")
        ref = xbar_r_limits(data[10:35], 5)
        assert v["active"] and v["product"] == "COLA-500" and v["by"] == "Clara Quality (1003)"
        assert v["ucl"] == pytest.approx(ref.primary.ucl) and v["lcl"] == pytest.approx(ref.primary.lcl)
        # Typed limits: another version; the window one stays in the history.
        rid = quality.request_limits(cfg, st, ben, "fill_weight", reason="study", center=500.2, sigma=0.75)
        quality.approve_limits(cfg, st, clara, rid)
        new, old = quality.limit_versions(cfg, st, "fill_weight")
        assert (new["active"], new["center"], new["sigma"]) == (True, 500.2, 0.75)
        assert not old["active"]
        view = quality.spc_view(cfg, st, "fill_weight")
        assert view.center == 500.2 and view.dispersion_label == "R" and len(view.dispersion) == 40


def test_acknowledgement_takes_cause_and_action_from_the_config(cfg: LineConfig) -> None:
    ben = as_operator(cfg, "1002")
    with open_store(cfg) as st:
        st.append_samples([], [SpcAlarm(1.0, "fill_weight", "out_of_control", "we1", "beyond", 503.0)])
        with pytest.raises(OperatorInputError, match="cause: required \\(one of no_cause_found"):
            quality.ack_alarms(cfg, st, ben, "fill_weight", comment="c", action="adjusted")
        with pytest.raises(OperatorInputError, match="action: 'pray' is not one of none, adjusted"):
            quality.ack_alarms(cfg, st, ben, "fill_weight", comment="c", cause="nozzle", action="pray")
        quality.ack_alarms(
            cfg, st, ben, "fill_weight", comment="nozzle 2 blocked", cause="nozzle", action="repaired"
        )
        assert st.db.execute("SELECT cause, action, comment FROM spc_acks").fetchall() == [
            ("nozzle", "repaired", "nozzle 2 blocked")
        ]
        audit = st.db.execute("SELECT new, why FROM audit WHERE action = 'spc.acknowledge'").fetchone()
        assert '"cause": "nozzle"' in audit[0] and audit[1] == "nozzle 2 blocked"
