"""The LineContext: built once per line, rebuilt only when the plant sends new master
data; the shift-calendar guard and the other checks every use case shares."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge.config.line import LineConfig, load_config
from edge.services.commands import PlantCommand, apply_command
from edge.services.context import LineContext, effective_config, line_context, open_store
from edge.services.production import kpi_report
from edge.services.validate import OperatorInputError
from tests.conftest import example_on_free_ports, make_config


@pytest.fixture
def cfg(tmp_path: Path) -> LineConfig:
    return load_config(example_on_free_ports(tmp_path))


def test_built_once_and_again_only_for_new_master_data(cfg: LineConfig) -> None:
    with open_store(cfg) as st:
        ctx = line_context(cfg, st)
        assert line_context(cfg, st) is ctx and line_context(ctx, st) is ctx
        assert ctx.machine == "filler" and ctx.calendar is not None
        assert "MECH.JAM" in ctx.reasons.reasons and "COLA-500" in ctx.products
        reasons = [{"code": "MECH", "name": "Mechanical", "loss": "availability"}]
        # The config's fault codes name reasons the new tree lacks: refused, nothing changes.
        res = apply_command(cfg, st, PlantCommand("c-1", "reasons", 0.0, {"reasons": reasons}))
        assert not res.accepted and "fault_codes" in res.reason
        assert line_context(ctx, st) is ctx
        products = [p.model_dump() for p in cfg.products] + [
            {"id": "TEA-1", "name": "Tea", "ideal_cycle_s": 0.5}
        ]
        assert apply_command(cfg, st, PlantCommand("c-2", "products", 0.0, {"products": products})).accepted
        new = line_context(ctx, st)
        assert new is not ctx and "TEA-1" in new.products and "TEA-1" not in ctx.products
        assert new.file_config is cfg and new.config.products[-1].id == "TEA-1"
        assert line_context(cfg, st) is new  # the config object finds the same context
    assert effective_config(cfg).products[-1].id == "TEA-1"  # from the store on disk


def test_effective_config_without_a_store_is_the_files(tmp_path: Path) -> None:
    cfg = make_config([], [], tmp_path)
    assert not Path(cfg.store.path).exists()
    assert effective_config(cfg) is cfg


def test_a_line_without_shifts_refuses_a_shift_and_names_the_field(tmp_path: Path) -> None:
    cfg = load_config(example_on_free_ports(tmp_path, data_changes=lambda d: d.pop("shifts")))
    ctx = LineContext.build(cfg)
    assert ctx.calendar is None
    with pytest.raises(OperatorInputError, match="shift: this line has no shift calendar"):
        ctx.require_calendar()
    with (
        open_store(cfg) as st,
        pytest.raises(OperatorInputError, match="shift: this line has no shift calendar"),
    ):
        kpi_report(ctx, st, shift="current")


def test_checks_that_name_the_field(cfg: LineConfig) -> None:
    ctx = LineContext.build(cfg)
    with pytest.raises(OperatorInputError, match="characteristic: 'nope' is not a characteristic"):
        ctx.characteristic("nope")
    with pytest.raises(OperatorInputError, match="machine: 'plc1' is not a machine"):
        ctx.require_machine("plc1")
    assert ctx.require_machine(cfg.devices[0].name, devices_too=True) == cfg.devices[0].name
