"""The simulated line's material signals: the lot at the preform feeder changes every N
bottles, and the palletiser's label printer prints a new serial per full pallet."""

from __future__ import annotations

from edge.simulate.model import LineModel, parse_sim


def test_feeder_lot_and_pallet_label_follow_the_bottles() -> None:
    m = LineModel(
        seed=3, mtbf_s=1e12, micro_stop_every_s=1e12, scrap_rate=0.0, lot_every_parts=50, pallet_parts=20
    )
    m.step(0.0)
    assert m.signals()["feeder_lot"] == "PF-0000" and m.signals()["pallet_label"] == ""
    t = 0.0
    while m.cycle_count < 120:
        t += 1.0
        m.step(t)
    s = m.signals()
    assert s["feeder_lot"] == f"PF-{m.cycle_count // 50:04d}" and m.cycle_count // 50 == 2
    assert s["pallet_label"] == f"PAL-{m.good_count // 20:05d}"
    assert parse_sim("pallet_label", "string") == ("pallet_label", "")
