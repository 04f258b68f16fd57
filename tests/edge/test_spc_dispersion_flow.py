"""An R-chart alarm at the line goes the whole way an X̄ alarm goes: the shipped line
replayed (the simulator's model through the line logic and the SPC runtime), the
bottle-to-bottle spread of the fill weight triples while its mean stays at 500 g; the R
chart signals (rule ``r1``), SPC holds the line (quality hold on the filler's stop),
the alarm is listed by the service and ``lineside spc alarms``, marked on the terminal's
R panel (not on X̄), goes upstream in the ``spc_alarms`` stream, and is acknowledged
with a cause, an action and a comment (audited), which releases the line."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge.cli import main
from edge.config.line import load_config
from edge.logic.production.line import ReasonImposed
from edge.logic.quality.live import SpcAlarm, SpcPoint
from edge.runtime.spc import QualityRuntime
from edge.services import quality
from edge.simulate.model import LineModel
from edge.store import Store
from edge.store.streams import read_after
from tests.conftest import as_operator, example_on_free_ports
from tests.edge.test_spc_replay import T0, Host, day


async def test_a_tripled_spread_raises_an_r_alarm_that_holds_the_line_until_acknowledged(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = example_on_free_ports(tmp_path)
    cfg = load_config(path)
    host = Host(cfg, Store(cfg.store.path))
    rt = QualityRuntime(host)
    state = {"widened_at": 0.0}
    widened_after: list[SpcPoint] = []
    facts: list[object] = []

    def on_step(ts: float, m: LineModel) -> None:
        if not state["widened_at"] and ts >= T0 + 4 * 3600:
            m.fill_sigma, state["widened_at"] = 3 * 0.8, ts  # a worn valve: spread ×3, mean 500 g

    r_alarm: SpcAlarm | None = None
    for f in day(cfg, host, rt, LineModel(seed=1), 6 * 3600, on_step):
        facts.append(f)
        if state["widened_at"] and isinstance(f, SpcPoint) and r_alarm is None:
            widened_after.append(f)
        if isinstance(f, SpcAlarm) and f.rule == "r1" and r_alarm is None:
            r_alarm = f
        if r_alarm is not None and isinstance(f, ReasonImposed):
            break  # what the alarm did: the filler's stop is a quality hold
    host.store.append_samples([], facts)
    assert r_alarm is not None and r_alarm.ts >= state["widened_at"]
    assert not [f for f in facts if isinstance(f, SpcAlarm) and f.ts < state["widened_at"]]
    # P(R > D4·R̄) is about 0.9 a subgroup once σ tripled: seen within a few subgroups
    assert 1 <= len(widened_after) <= 4
    spec = rt.tracker("fill_weight", r_alarm.product).spec
    assert spec is not None and spec.secondary is not None
    assert r_alarm.value > float(spec.secondary.ucl) and r_alarm.detail.startswith("R ")
    assert "above UCL" in r_alarm.detail and "(D4·R̄)" in r_alarm.detail
    # SPC holds the line: the filler's stop is booked as a quality hold
    assert rt.holding == {"fill_weight": r_alarm.ts}
    assert any(isinstance(f, ReasonImposed) and f.reason == "QUAL.HOLD" for f in facts)

    [listed] = [a for a in quality.spc_alarms(cfg, host.store) if a["rule"] == "r1"]
    assert listed["kind"] == "out_of_control" and not listed["acknowledged"]
    view = quality.spc_view(cfg, host.store, "fill_weight")
    assert view.dispersion_label == "R" and r_alarm.ts in view.d_violations
    assert r_alarm.ts not in view.violations  # marked on the R panel, not on X̄
    assert view.d_ucl == pytest.approx(float(spec.secondary.ucl))
    upstream = read_after(host.store, "spc_alarms", 0, 1000)
    assert any("r1" in row and r_alarm.detail in row for row in upstream)
    host.store.close()

    assert main(["spc", "alarms", "-c", str(path)]) == 0
    out = capsys.readouterr().out
    assert "r1" in out and "ACTIVE" in out and r_alarm.detail in out

    store = Store(cfg.store.path)
    host.store = store
    clara = as_operator(cfg, "1003")
    quality.ack_alarms(
        cfg,
        store,
        clara,
        "fill_weight",
        comment="valve 3 worn, replaced",
        cause="filler_valve",
        action="repaired",
    )
    await rt.tick(r_alarm.ts + 60)
    assert rt.holding == {}
    assert sorted(host.writes) == [("capper.andon", False), ("palletiser.stop_line", False)]
    assert not [a for a in quality.spc_alarms(cfg, store) if a["rule"] == "r1"]
    audit = store.db.execute(
        "SELECT who, action, new, why, meaning FROM audit WHERE action = 'spc.acknowledge'"
    )
    [(who, _action, new, why, meaning)] = audit.fetchall()
    assert (who, why, meaning) == ("Clara Quality (1003)", "valve 3 worn, replaced", "reviewed")
    assert '"cause": "filler_valve"' in new and '"action": "repaired"' in new
    store.close()
