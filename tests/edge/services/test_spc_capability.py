"""Capability at the line: Cp/Cpk from the within sigma (R̄/d2, S̄/c4, MR̄/d2) of the
rational subgroups charted under the limit version in force, Pp/Ppk from the overall
standard deviation of their values.

Against qcc's worked example on Montgomery's piston rings (``process.capability`` of the
25 Phase I subgroups, specification 73.95–74.05: Cp 1.703, Cpk 1.663).

Finding: the terminal's Cp/Cpk took every stored reading of the tag since the shift
began (the 100 ms polls, not the sampled subgroups) with the sigma of whatever limits
were frozen, so a new limit version or a sampling plan changed nothing in them."""

from __future__ import annotations

import itertools
import statistics
from pathlib import Path
from typing import Any

import pytest

from edge.cli import main
from edge.config.line import load_config
from edge.logic.quality.capability import subgroup_capability, within_sigma
from edge.logic.quality.live import CharacteristicTracker, fixed_spec
from edge.services import quality
from edge.services.context import open_store
from edge.store import quality as repo
from edge.store.facts import spec_to_json
from tests.conftest import example_on_free_ports
from tests.edge.logic.piston_rings import PHASE_I, PHASE_II

LSL, USL = 73.95, 74.05


def overall(groups: Any) -> tuple[float, float, float]:
    """Pp, Ppk and the mean by their definitions (statistics module, not numpy)."""
    xs = [v for g in groups for v in g]
    m, s = statistics.fmean(xs), statistics.stdev(xs)
    return (USL - LSL) / (6 * s), min(USL - m, m - LSL) / (3 * s), m


def test_piston_rings_capability_is_qccs() -> None:
    groups = [list(g) for g in PHASE_I]
    cap = subgroup_capability("xbar-r", groups, lsl=LSL, usl=USL, target=74.0)
    assert cap["sigma_within"] == pytest.approx(0.009785, abs=5e-7) and cap["sigma_within_method"] == "R̄/d2"
    assert (round(cap["cp"], 3), round(cap["cpk"], 3)) == (1.703, 1.663)  # qcc process.capability
    pp, ppk, mean = overall(groups)
    assert (cap["pp"], cap["ppk"], cap["mean"]) == (
        pytest.approx(pp),
        pytest.approx(ppk),
        pytest.approx(mean),
    )
    assert (cap["n"], cap["subgroups"], cap["subgroup_size"]) == (125, 25, 5)
    assert cap["pp"] < cap["cp"]  # the overall spread includes the drift between subgroups
    s_sigma, method = within_sigma("xbar-s", groups)
    assert method == "S̄/c4"
    assert s_sigma == pytest.approx(statistics.fmean(statistics.stdev(g) for g in groups) / 0.93999)
    mr_sigma, method = within_sigma("imr", [[g[0]] for g in groups])
    firsts = [g[0] for g in groups]
    assert method == "MR̄/d2"
    assert mr_sigma == pytest.approx(
        statistics.fmean(abs(b - a) for a, b in itertools.pairwise(firsts)) / 1.12838
    )


def _rings(data: dict[str, Any]) -> None:
    data["characteristics"][0]["spec"] = {"lsl": LSL, "usl": USL, "target": 74.0}


def test_capability_takes_the_subgroups_of_the_limits_in_force(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = example_on_free_ports(tmp_path, data_changes=_rings)
    cfg = load_config(path)
    t = CharacteristicTracker("fill_weight", "xbar-r", 5, "we1", 25, product="COLA-500")
    with open_store(cfg) as st:
        # Phase I: the line freezes limits from its 25-subgroup baseline
        st.append_samples([], [f for i, g in enumerate(PHASE_I) for f in t.add_subgroup(1000.0 + i, list(g))])
        cap = quality.capability(cfg, st, "fill_weight")
        assert cap is not None and cap["subgroups"] == 25 and cap["product"] == "COLA-500"
        assert (round(cap["cp"], 3), round(cap["cpk"], 3)) == (1.703, 1.663)
        assert cap["limits"]["by"] == "line" and cap["since"] == 1000.0
        # more subgroups against those limits count too
        st.append_samples(
            [], [f for i, g in enumerate(PHASE_II[:7]) for f in t.add_subgroup(1100.0 + i, list(g))]
        )
        cap = quality.capability(cfg, st, "fill_weight")
        ref = subgroup_capability("xbar-r", [list(g) for g in PHASE_I + PHASE_II[:7]], lsl=LSL, usl=USL)
        assert cap is not None and cap["subgroups"] == 32 and cap["cp"] == pytest.approx(ref["cp"])
        # people approve typed limits: from then on only the subgroups charted under them
        with st.transaction():
            repo.add_frozen(
                st,
                "fill_weight",
                spec_to_json(fixed_spec("xbar-r", 5, 74.01, 0.01)),
                by="Clara",
                reason="new rings",
                ts=1500.0,
                product="COLA-500",
            )
        assert quality.capability(cfg, st, "fill_weight") is None  # none yet
        later = [list(g) for g in PHASE_II[7:]]
        st.append_samples([], [f for i, g in enumerate(later) for f in t.add_subgroup(2000.0 + i, g)])
        cap = quality.capability(cfg, st, "fill_weight")
        ref = subgroup_capability("xbar-r", later, lsl=LSL, usl=USL, target=74.0)
        pp, ppk, _m = overall(later)
        assert cap is not None and cap["subgroups"] == 8 and cap["since"] == 2000.0
        assert (cap["cp"], cap["cpk"]) == (pytest.approx(ref["cp"]), pytest.approx(ref["cpk"]))
        assert (cap["pp"], cap["ppk"]) == (pytest.approx(pp), pytest.approx(ppk))
        assert cap["limits"]["by"] == "Clara"

    assert main(["spc", "capability", "fill_weight", "-c", str(path)]) == 0
    out = capsys.readouterr().out
    assert "8 subgroups of 5" in out and f"Cp {ref['cp']:.3f}  Cpk {ref['cpk']:.3f}" in out
    assert f"Pp {pp:.3f}  Ppk {ppk:.3f}" in out and "(R̄/d2)" in out
