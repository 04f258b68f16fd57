"""Working time against clock time, the text Gantt and the plan diff (pure)."""

from __future__ import annotations

from sync.aggregator.scheduling.axis import WorkAxis, price_segments
from sync.aggregator.scheduling.diff import diff
from sync.aggregator.scheduling.gantt import gantt
from sync.aggregator.scheduling.model import Plan, PlannedOp


def test_working_time_maps_to_clock_time_and_back() -> None:
    """Windows [10, 20) and [30, 40): a moment in the gap maps to the end of the work
    before it; an operation ending at a window's end ends there, not after the gap."""
    ax = WorkAxis(((10, 20), (30, 40)))
    assert ax.total == 20
    assert [ax.work_at(t) for t in (0, 10, 15, 20, 25, 30, 35, 50)] == [0, 0, 5, 10, 10, 10, 15, 20]
    assert [ax.clock_start(w) for w in (0, 9, 10, 19, 20)] == [10, 19, 30, 39, 40]
    assert [ax.clock_end(w) for w in (1, 10, 11, 20)] == [11, 20, 31, 40]
    assert ax.pieces(5, 15) == [(15, 20), (30, 35)]


def test_tariff_windows_become_priced_segments() -> None:
    """Origin at midnight UTC: 06:00–22:00 costs 0.3, the rest 0.1 (one-hour units)."""
    segs = price_segments(
        [("06:00", "22:00", ["mon", "tue", "wed", "thu", "fri", "sat", "sun"], 0.3)],
        0.1,
        "UTC",
        0.0,
        3600,
        48,
    )
    assert segs == [(0, 6, 0.1), (6, 22, 0.3), (22, 30, 0.1), (30, 46, 0.3), (46, 48, 0.1)]


def op(order: str, resource: str, start: float, end: float, **kw: object) -> PlannedOp:
    return PlannedOp(
        order=order, op=0, product=order[0], quantity=1, resource=resource, start=start, end=end, **kw
    )  # type: ignore[arg-type]


def test_the_gantt_draws_each_resource_with_products_and_changeovers() -> None:
    plan = Plan(
        status="optimal",
        ops=[op("A1", "l1", 0, 3600), op("B1", "l1", 5400, 9000, setup_min=30), op("A2", "l2", 0, 9000)],
    )
    lines = gantt(plan, "UTC", width=10, axis=False)
    assert lines[:2] == ["l1  AAAA~~BBBB", "l2  AAAAAAAAAA"]
    assert lines[-1] == "A A  B B   ~ changeover   · idle"


def test_the_diff_names_moves_newly_late_orders_and_cost_changes() -> None:
    old = [op("A1", "l1", 0, 3600), op("B1", "l1", 3600, 7200, setup_min=30), op("C1", "l2", 0, 60)]
    new = Plan(
        status="optimal",
        ops=[
            op("A1", "l1", 0, 3600),
            op("B1", "l2", 7200, 9000, late_min=15, setup_min=0, energy_cost=2.5),
            op("D1", "l2", 0, 60),
        ],
    )
    d = diff(old, new, since=30)
    assert [(m.order, m.from_resource, m.to_resource, m.shift_min) for m in d.moved] == [
        ("B1", "l1", "l2", 60.0)
    ]
    assert (d.newly_late, d.added, d.dropped) == (["B1"], ["D1"], ["C1"])
    assert (d.setup_change_min, d.energy_change, d.late_change_min) == (-30.0, 2.5, 15.0)
