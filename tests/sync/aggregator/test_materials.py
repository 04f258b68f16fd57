"""Materials across two lines through the plant: the master and lots go down as
commands, line 1 makes an intermediate from a supplier lot, line 2 makes finished
lots from that intermediate, the plant blocks the supplier lot while both lines are
unreachable; when the commands arrive, line 1 holds its lot at once, its hold reaches
the plant and puts the intermediate in quarantine, and line 2 holds what it made from
it. The plant trace shows the chain across both lines, backward and forward."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from edge.config.line import LineConfig, load_config
from edge.logic.production.line import MachineCount, OrderChange
from edge.services import holds, materials, materials_pass
from edge.services.commands import PlantCommand, apply_command
from edge.services.context import open_store
from edge.services.uplink import UplinkFeed
from edge.store import STREAMS, Store
from sync.aggregator import materials as plant
from sync.aggregator.config import AggregatorConfig
from sync.aggregator.store import AggregatorStore
from sync.aggregator.store import open_store as open_agg
from sync.protocol import LineRef
from sync.protocol.batch import decode_batch, encode_batch
from sync.uplink.source import StoreSource
from tests.conftest import LINE, as_operator, example_on_free_ports
from tests.edge.services.test_materials import MATERIALS

BOTTLE = {"id": "bottle", "unit": "pcs"}


def line_cfg(tmp_path: Path, name: str) -> LineConfig:
    def change(d: dict[str, Any]) -> None:
        m = copy.deepcopy(MATERIALS)
        d["line"]["line"] = name
        if name == "l2":  # line 2 packs line 1's bottles
            m["material_master"].append(BOTTLE)
            m["boms"] = [
                {
                    "product": "COLA-500",
                    "components": [{"material": "bottle", "quantity": 1, "feeder": "F-BOTTLE"}],
                }
            ]
            m["stock"]["locations"].append({"id": "F-BOTTLE", "machine": "filler"})
        d.update(m)

    (tmp_path / name).mkdir()
    return load_config(example_on_free_ports(tmp_path / name, data_changes=change))


def deliver(agg: AggregatorConfig, lines: dict[str, tuple[LineConfig, Store]], now: float) -> list[str]:
    """What the aggregator's command loop and the lines' uplinks do when connected."""
    st = open_agg(agg)
    rejected = []
    try:
        for cid, line, kind, body, ts in st.commands_to_send(now, 0.0):
            cfg, ls = lines[line]
            res = apply_command(cfg, ls, PlantCommand(cid, kind, ts, body), now=now)
            st.command_result(line, cid, res.accepted, res.reason, now)
            if not res.accepted:
                rejected.append(f"{line} {kind}: {res.reason}")
    finally:
        st.close()
    return rejected


def ship(cfg: LineConfig, agg: AggregatorStore, now: float) -> None:
    """What the uplink does: every stream's records after the plant's ack, as batches."""
    feed = UplinkFeed(cfg)
    ref = LineRef.of(cfg.line)
    key = f"{ref.enterprise}/{ref.site}/{ref.area}/{ref.line}"
    try:
        src = StoreSource(feed)
        for stream in STREAMS:
            after = agg.ack(key, stream)
            rows = src.read(stream, after, 10_000)
            if not rows:
                continue
            data = encode_batch(ref, stream, after, [t for _, t in rows], (rows[0][0], rows[-1][0]), now)
            batch, texts = decode_batch(data)
            with agg.tx():
                agg.ingest_in_tx(batch, now=now, texts=texts)
    finally:
        feed.close()


def run(st: Store, cfg: LineConfig, order: str, t0: float, parts: int) -> list[str]:
    st.append_samples([], [OrderChange(t0, order, "COLA-500", "start")])
    materials_pass.materials_pass(cfg, st, now=t0)
    st.append_samples(
        [], [MachineCount(t0 + 60, parts, 0, 0.5, machine="filler", order=order, product="COLA-500")]
    )
    return list(materials_pass.materials_pass(cfg, st, now=t0 + 61)["produced"])


def test_a_block_at_the_plant_while_lines_are_offline_holds_across_two_lines(tmp_path: Path) -> None:
    c1, c2 = line_cfg(tmp_path, "l1"), line_cfg(tmp_path, "l2")
    lines_ = [{k: getattr(c.line, k) for k in ("enterprise", "site", "area", "line")} for c in (c1, c2)]
    agg = AggregatorConfig.model_validate({"store": {"path": str(tmp_path / "agg.db")}, "lines": lines_})
    k1, k2 = (agg.line(n).key for n in ("l1", "l2"))
    with open_store(c1) as s1, open_store(c2) as s2:
        lines = {k1: (c1, s1), k2: (c2, s2)}
        plant.set_materials(agg, [*MATERIALS["material_master"], BOTTLE], now=900)
        plant.receive_lot(agg, material="preform", lot="PF-1", quantity=1000, supplier_lot="SUP-9", now=900)
        plant.receive_lot(agg, material="cap", lot="CAP-1", quantity=1000, now=900)
        assert deliver(agg, lines, 901) == []
        anna1, anna2 = as_operator(c1, "1001"), as_operator(c2, "1001")
        # Line 1 makes an intermediate from PF-1.
        s1.append_samples([], [OrderChange(999, "WO-1", "COLA-500", "start")])
        materials.move_in(c1, s1, anna1, "F-PREFORM", "PF-1", now=1000)
        materials.move_in(c1, s1, anna1, "F-CAP", "CAP-1", now=1000)
        assert run(s1, c1, "WO-1", 1000, 100) == ["WO-1-0001"]
        # The plant takes it in as line 2's material; line 2 packs it.
        plant.receive_lot(agg, material="bottle", lot="WO-1-0001", quantity=100, now=1100)
        assert deliver(agg, lines, 1101) == []
        s2.append_samples([], [OrderChange(1199, "WO-2", "COLA-500", "start")])
        materials.move_in(c2, s2, anna2, "F-BOTTLE", "WO-1-0001", now=1200)
        assert run(s2, c2, "WO-2", 1200, 100) == ["WO-2-0001"]
        a = open_agg(agg)
        try:
            ship(c1, a, 1300)
            ship(c2, a, 1300)
        finally:
            a.close()
        # Line 2 used up its bottles (the pass noticed): a replan trigger at the plant.
        a = open_agg(agg)
        try:
            short = a.query("SELECT line, ref FROM plan_events WHERE kind = 'line_shortage'")
        finally:
            a.close()
        assert set(short) == {(k2, "bottle")}
        # Both lines are unreachable now: the supplier recalls SUP-9.
        res = plant.recall(agg, "SUP-9", "supplier recall 42", now=1400)
        assert {(e["child"], e["level"]) for e in res["affected"]} == {("WO-1-0001", 1), ("WO-2-0001", 2)}
        assert res["lots"] == ["PF-1", "WO-1-0001"]  # the intermediate goes into quarantine too
        assert {r["lot"]: r["not_held"] for r in plant.reconcile(agg)}["PF-1"] == ["WO-1-0001", "WO-2-0001"]
        # While offline, line 1 refuses nothing new (it does not know yet) ...
        assert holds.holds(c1, s1, open_only=True) == []
        # ... the lines come back: the commands apply on arrival and hold what was made.
        assert deliver(agg, lines, 1500) == []
        assert [h["target"] for h in holds.holds(c1, s1, open_only=True)] == ["WO-1-0001"]
        assert [h["target"] for h in holds.holds(c2, s2, open_only=True)] == ["WO-2-0001"]
        a = open_agg(agg)
        try:
            ship(c1, a, 1600)
            ship(c2, a, 1600)
            t = plant.trace(agg, "WO-2-0001", store=a)
            back = {(e["parent"], e["line"], e["level"]) for e in t["backward"]}
            assert ("WO-1-0001", k2, 1) in back and ("PF-1", k1, 2) in back and ("CAP-1", k1, 2) in back
            fwd = plant.trace(agg, "PF-1", store=a)
            assert {(e["child"], e["line"]) for e in fwd["forward"]} == {("WO-1-0001", k1), ("WO-2-0001", k2)}
            assert fwd["lots"]["WO-2-0001"]["holds"][0]["action"] == "hold"
            assert fwd["lots"]["PF-1"]["received"]["status"] == "blocked"
            assert fwd["lots"]["WO-1-0001"]["made"][0]["line"] == k1
        finally:
            a.close()
        assert {r["lot"]: r["not_held"] for r in plant.reconcile(agg)}["PF-1"] == []
        # A blocked lot scanned at the line is refused with the reason.
        s1.append_samples([], [OrderChange(1700, "WO-3", "COLA-500", "start")])
        try:
            materials.move_in(c1, s1, anna1, "F-PREFORM", "PF-1", quantity=5, now=1700)
        except materials.MoveRefused as e:
            assert "'PF-1' is blocked, not released" in str(e)
        else:
            raise AssertionError("a blocked lot was accepted")


def test_plant_input_is_checked_before_anything_is_queued(tmp_path: Path) -> None:
    import pytest

    lines_ = [{k: LINE[k] for k in ("enterprise", "site", "area", "line")}]
    agg = AggregatorConfig.model_validate({"store": {"path": str(tmp_path / "agg.db")}, "lines": lines_})
    with pytest.raises(plant.MaterialInputError, match=r"materials\[0\].shelf_life_days"):
        plant.set_materials(agg, [{"id": "x", "shelf_life_days": -1}])
    with pytest.raises(plant.MaterialInputError, match="not in the plant's material master"):
        plant.receive_lot(agg, material="nope", lot="L1", quantity=1)
    plant.set_materials(agg, [{"id": "resin", "unit": "kg", "shelf_life_days": 10}], now=0)
    with pytest.raises(plant.MaterialInputError, match="not in the plant's material master"):
        plant.set_bom(agg, {"product": "P", "components": [{"material": "glue", "quantity": 1}]})
    e = plant.receive_lot(agg, material="resin", lot="R1", quantity=5, now=100)
    assert e["expiry"] == 100 + 10 * 86400
    with pytest.raises(plant.MaterialInputError, match="received already"):
        plant.receive_lot(agg, material="resin", lot="R1", quantity=5)
    with pytest.raises(plant.MaterialInputError, match="never received"):
        plant.set_lot_status(agg, ["R9"], "blocked", "x")
    st = open_agg(agg)
    try:
        assert [c["kind"] for c in st.commands()] == ["material_master", "lots"]
    finally:
        st.close()
