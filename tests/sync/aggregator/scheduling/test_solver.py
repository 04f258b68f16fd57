"""The scheduler on small problems whose best plan is known: work pauses over breaks and
weekends, a changeover matrix makes grouping products the better plan, a crew limit keeps
two lines from running at once, one mould copy is shared by two machines, flexible work
moves to the cheap tariff, the frozen horizon holds, determinism for a seed, and an
infeasible problem explained in words."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from edge.config.production import CalendarCfg
from sync.aggregator.scheduling.model import (
    Alternative,
    Material,
    Objectives,
    Operation,
    Operator,
    Order,
    PlannedOp,
    Problem,
    Product,
    Qualification,
    Resource,
    Routing,
    SolveParams,
    Tariff,
    TariffWindow,
    Tool,
)
from sync.aggregator.scheduling.solver import solve

TZ = "Europe/Berlin"
ZONE = ZoneInfo(TZ)
FAST = SolveParams(time_limit_s=5, workers=1)


def at(day: int, hour: int, minute: int = 0, month: int = 11) -> float:
    """A moment in November 2026 (the 23rd and 30th are Mondays), plant time."""
    return datetime(2026, month, day, hour, minute, tzinfo=ZONE).timestamp()


def local(t: float) -> str:
    return datetime.fromtimestamp(t, ZONE).strftime("%a %d %H:%M")


ONE_SHIFT = CalendarCfg.model_validate(
    {
        "patterns": [
            {"name": "day", "start": "06:00", "end": "14:00", "breaks": [{"start": "10:00", "minutes": 30}]}
        ],
        "non_working": ["2026-12-01"],
    }
)


def routing(product: str, *alts: dict[str, Any]) -> Routing:
    return Routing(product=product, operations=[Operation(alternatives=[Alternative(**a) for a in alts])])


def problem(**kw: Any) -> Problem:
    base: dict[str, Any] = {"origin": at(23, 8), "horizon_h": 24 * 7, "timezone": TZ}
    return Problem(**(base | kw))


def test_work_pauses_over_breaks_and_the_weekend() -> None:
    """400 working minutes from Friday 12:00 on a 06:00–14:00 Monday–Friday shift with a
    break at 10:00: two hours on Friday, then Monday 06:00–10:00, the break, and 40
    minutes more — ending Monday 11:10, not Saturday."""
    p = problem(
        origin=at(27, 12),
        calendars={"day": ONE_SHIFT},
        resources=[Resource(id="l1", calendar="day")],
        routings=[routing("A", {"resource": "l1", "minutes": 400})],
        orders=[Order(id="o1", product="A", quantity=1)],
    )
    plan = solve(p, FAST)
    assert plan.status == "optimal"
    (op,) = plan.ops
    assert (local(op.start), local(op.end), op.work_min) == ("Fri 27 12:00", "Mon 30 11:10", 400)


def test_a_non_working_day_is_skipped() -> None:
    """Tuesday 1 December is a holiday: work left on Monday goes on on Wednesday."""
    p = problem(
        origin=at(30, 12),
        calendars={"day": ONE_SHIFT},
        resources=[Resource(id="l1", calendar="day")],
        routings=[routing("A", {"resource": "l1", "minutes": 180})],
        orders=[Order(id="o1", product="A", quantity=1)],
    )
    (op,) = solve(p, FAST).ops
    assert (local(op.start), local(op.end)) == ("Mon 30 12:00", "Wed 02 07:00")


def _changeover_problem(minutes: float) -> Problem:
    return problem(
        products=[Product(id="A"), Product(id="B")],
        changeovers={"A": {"B": minutes}, "B": {"A": minutes}},
        resources=[Resource(id="l1", current_product="A")],
        routings=[routing(x, {"resource": "l1", "rate_per_min": 1}) for x in "AB"],
        orders=[
            Order(id="o1", product="A", quantity=60, due=at(23, 10)),
            Order(id="o2", product="B", quantity=60, due=at(23, 12)),
            Order(id="o3", product="A", quantity=60, due=at(23, 14)),
            Order(id="o4", product="B", quantity=60, due=at(23, 16)),
        ],
        objectives=Objectives(weights={"tardiness": 10, "setup": 1}),
    )


def test_a_changeover_matrix_makes_grouping_products_the_better_plan() -> None:
    """A↔B costs an hour: A, A, B, B (one changeover, nobody late) beats the due-date
    order A, B, A, B (three). Without changeovers nothing pushes the products together."""
    plan = solve(_changeover_problem(60), FAST)
    seq = [o.product for o in sorted(plan.ops, key=lambda o: o.start)]
    assert seq == ["A", "A", "B", "B"]
    assert plan.figures.setup_min == 60 and plan.figures.late_orders == 0
    free = solve(_changeover_problem(0), FAST)
    assert free.figures.setup_min == 0 and free.figures.late_orders == 0


def _crew_problem(people: int) -> Problem:
    quals = [Qualification(resource="l1"), Qualification(resource="l2")]
    return problem(
        resources=[Resource(id="l1"), Resource(id="l2")],
        operators=[Operator(id=f"op{i}", qualified=quals) for i in range(people)],
        routings=[
            routing("A", {"resource": "l1", "minutes": 120, "crew": 2}),
            routing("B", {"resource": "l2", "minutes": 120, "crew": 2}),
        ],
        orders=[
            Order(id="a", product="A", quantity=1, due=at(23, 10)),
            Order(id="b", product="B", quantity=1, due=at(23, 10)),
        ],
    )


def test_a_crew_limit_keeps_two_lines_from_running_at_once() -> None:
    """Both lines need two operators; with three qualified people one line waits, with
    four both run. Nobody is on two lines at the same time."""
    short = solve(_crew_problem(3), FAST)
    a, b = sorted(short.ops, key=lambda o: o.start)
    assert b.start >= a.end
    assert len(a.crew) == 2 and len(b.crew) == 2
    full = solve(_crew_problem(4), FAST)
    a, b = full.ops
    assert a.start == b.start == at(23, 8)
    assert not set(a.crew) & set(b.crew)


def test_a_crew_works_only_its_rostered_shift() -> None:
    """The only qualified operator works the early shift: work is planned inside it."""
    early = CalendarCfg.model_validate(
        {
            "patterns": [
                {"name": "early", "start": "06:00", "end": "14:00"},
                {"name": "late", "start": "14:00", "end": "22:00"},
            ]
        }
    )
    p = problem(
        origin=at(23, 13),
        calendars={"two": early},
        resources=[Resource(id="l1", calendar="two")],
        operators=[Operator(id="anna", qualified=[Qualification(resource="l1")], roster=["early"])],
        routings=[routing("A", {"resource": "l1", "minutes": 120, "crew": 1})],
        orders=[Order(id="o1", product="A", quantity=1, due=at(23, 15))],
    )
    (op,) = solve(p, FAST).ops
    assert local(op.start) == "Tue 24 06:00" and op.crew == ["anna"]


def _tool_problem(copies: int) -> Problem:
    return problem(
        resources=[Resource(id="m1"), Resource(id="m2")],
        tools=[Tool(id="MOLD-7", count=copies, fits=["m1", "m2"])],
        routings=[
            routing(
                x,
                {"resource": "m1", "minutes": 90, "tools": ["MOLD-7"]},
                {"resource": "m2", "minutes": 90, "tools": ["MOLD-7"]},
            )
            for x in "AB"
        ],
        orders=[
            Order(id="a", product="A", quantity=1, due=at(23, 9)),
            Order(id="b", product="B", quantity=1, due=at(23, 9)),
        ],
    )


def test_one_mould_copy_is_shared_by_two_machines() -> None:
    """Two machines, one copy of the mould both orders need: they run one after the other
    (on either machine); with two copies they run side by side."""
    one = solve(_tool_problem(1), FAST)
    a, b = sorted(one.ops, key=lambda o: o.start)
    assert b.start >= a.end and a.tools == b.tools == ["MOLD-7"]
    two = solve(_tool_problem(2), FAST)
    a, b = two.ops
    assert a.start == b.start and {a.resource, b.resource} == {"m1", "m2"}
    assert sorted(a.tools + b.tools) == ["MOLD-7#1", "MOLD-7#2"]


def test_a_tool_that_does_not_fit_removes_the_alternative_and_life_caps_cycles() -> None:
    """The mould fits only m2, so the order runs there; a second order that would exceed
    the mould's remaining life cannot be planned (and the explanation names the tool)."""
    p = problem(
        resources=[Resource(id="m1"), Resource(id="m2")],
        tools=[Tool(id="MOLD-7", fits=["m2"], life_cycles=150)],
        routings=[
            routing(
                "A",
                {"resource": "m1", "minutes": 60, "tools": ["MOLD-7"]},
                {"resource": "m2", "minutes": 60, "tools": ["MOLD-7"]},
            )
        ],
        orders=[Order(id="a", product="A", quantity=100)],
    )
    (op,) = solve(p, FAST).ops
    assert op.resource == "m2"
    worn = solve(p.model_copy(update={"orders": [*p.orders, Order(id="b", product="A", quantity=100)]}), FAST)
    assert worn.status == "infeasible"
    assert "MOLD-7" in worn.conflicts[0].text and "150 cycles of life" in worn.conflicts[0].text


def test_flexible_work_moves_to_the_cheap_tariff() -> None:
    """Power costs 0.30/kWh from 06:00 to 22:00 and 0.10 at night; a 2-hour, 100 kW order
    due in two days runs at night when energy counts, for 20.00 instead of 60.00."""
    tariff = Tariff(default_price=0.10, windows=[TariffWindow(start="06:00", end="22:00", price=0.30)])
    base = problem(
        resources=[Resource(id="l1")],
        routings=[routing("A", {"resource": "l1", "minutes": 120, "kw": 100})],
        orders=[Order(id="o1", product="A", quantity=1, due=at(25, 8))],
        tariff=tariff,
    )
    cheap = solve(
        base.model_copy(update={"objectives": Objectives(weights={"tardiness": 10, "energy": 1})}), FAST
    )
    (op,) = cheap.ops
    hour = datetime.fromtimestamp(op.start, ZONE).hour
    end_hour = datetime.fromtimestamp(op.end, ZONE).hour
    assert (hour >= 22 or hour < 6) and (end_hour >= 22 or end_hour <= 6)
    assert op.energy_cost == pytest.approx(20.0)
    assert cheap.figures.energy_cost == pytest.approx(20.0)


def test_the_frozen_horizon_keeps_released_work_in_place() -> None:
    """A rush order arrives; o1 was released for 10:00, within the 4-hour frozen horizon,
    so it stays there and the rush order goes after it. Without the frozen horizon the
    rush order would go first."""
    released = [
        PlannedOp(order="o1", op=0, product="A", quantity=60, resource="l1", start=at(23, 10), end=at(23, 11))
    ]
    p = problem(
        resources=[Resource(id="l1")],
        routings=[routing(x, {"resource": "l1", "rate_per_min": 1}) for x in "AR"],
        orders=[
            Order(id="o1", product="A", quantity=60, due=at(23, 18)),
            Order(id="rush", product="R", quantity=150, due=at(23, 10, 30), priority=10),
        ],
        released=released,
        frozen_h=4,
    )
    plan = solve(p, FAST)
    ops = {o.order: o for o in plan.ops}
    assert ops["o1"].start == at(23, 10) and ops["o1"].frozen
    assert ops["rush"].start >= at(23, 11)
    loose = solve(p.model_copy(update={"frozen_h": 0.0}), FAST)
    ops = {o.order: o for o in loose.ops}
    assert ops["rush"].start == at(23, 8) and ops["o1"].start >= ops["rush"].end


def test_the_same_seed_gives_the_same_plan() -> None:
    """Deterministic mode: two solves of a problem with many equal choices agree exactly."""
    p = problem(
        products=[Product(id=x, changeover_min=15) for x in "ABC"],
        resources=[Resource(id=f"l{i}") for i in range(3)],
        routings=[
            routing(x, *({"resource": f"l{i}", "rate_per_min": 1 + i / 2} for i in range(3))) for x in "ABC"
        ],
        orders=[
            Order(id=f"o{i}", product="ABC"[i % 3], quantity=50 + 10 * i, due=at(23, 10 + i // 2))
            for i in range(12)
        ],
    )
    params = SolveParams(time_limit_s=2, workers=2, seed=7)
    one, two = solve(p, params), solve(p, params)
    assert [(o.order, o.resource, o.start) for o in one.ops] == [
        (o.order, o.resource, o.start) for o in two.ops
    ]
    assert one.objective == two.objective and one.deterministic


def test_infeasibility_is_explained_in_words() -> None:
    """The material arrives at 12:00, the order needs two hours and must end by 13:00:
    the explanation names the order, the material gate and the deadline, with the figures."""
    p = problem(
        resources=[Resource(id="l1"), Resource(id="l2")],
        materials=[Material(id="PREFORM-28", available_at=at(23, 12), orders=["o7"])],
        routings=[routing("A", {"resource": "l1", "minutes": 120}, {"resource": "l2", "minutes": 150})],
        orders=[
            Order(id="o7", product="A", quantity=1, deadline=at(23, 13)),
            Order(id="o8", product="A", quantity=1),
        ],
    )
    plan = solve(p, FAST)
    assert plan.status == "infeasible" and not plan.ops
    (c,) = plan.conflicts
    assert c.orders == ["o7"] and c.groups == ["material", "deadline"]
    assert c.text == (
        "order o7 cannot wait for material PREFORM-28 (2026-11-23 12:00) and end by its deadline "
        "2026-11-23 13:00: it needs 120 min on l1 or 150 min on l2 (working time)"
    )


def test_two_orders_competing_for_one_line_are_named_together() -> None:
    """Each order fits alone before its deadline, not both on the one line."""
    p = problem(
        resources=[Resource(id="l1")],
        routings=[routing("A", {"resource": "l1", "minutes": 90})],
        orders=[
            Order(id="x", product="A", quantity=1, deadline=at(23, 10)),
            Order(id="y", product="A", quantity=1, deadline=at(23, 10)),
        ],
    )
    (c,) = solve(p, FAST).conflicts
    assert sorted(c.orders) == ["x", "y"] and c.groups == ["deadline"]
    assert "they compete for l1" in c.text


def test_orders_that_cannot_be_planned_are_listed_not_fatal() -> None:
    """A material short with no date and a quantity below every minimum batch leave those
    orders out with the reason; the rest is planned."""
    p = problem(
        resources=[Resource(id="l1")],
        materials=[Material(id="CAPS", orders=["late"])],
        routings=[routing("A", {"resource": "l1", "minutes": 30, "min_batch": 10})],
        orders=[
            Order(id="ok", product="A", quantity=20),
            Order(id="late", product="A", quantity=20),
            Order(id="tiny", product="A", quantity=5),
        ],
    )
    plan = solve(p, FAST)
    assert [o.order for o in plan.ops] == ["ok"]
    reasons = {c.orders[0]: c.text for c in plan.unplanned}
    assert "CAPS: short, with no date" in reasons["late"]
    assert "l1 runs at least 10 (order: 5)" in reasons["tiny"]


def test_lexicographic_objectives_keep_the_first_objective_best() -> None:
    """Dues 09:00 A, 11:00 B, 13:00 A, 15:00 B with one-hour changeovers. Setup first:
    A, A, B, B (one changeover, B an hour late); tardiness first: A, B, A, B (nobody
    late, three changeovers)."""
    dues = {"o1": at(23, 9), "o2": at(23, 11), "o3": at(23, 13), "o4": at(23, 15)}
    base = _changeover_problem(60)
    p = base.model_copy(update={"orders": [o.model_copy(update={"due": dues[o.id]}) for o in base.orders]})
    setup_first = solve(
        p.model_copy(update={"objectives": Objectives(lexicographic=["setup", "tardiness"])}), FAST
    )
    late_first = solve(
        p.model_copy(update={"objectives": Objectives(lexicographic=["tardiness", "setup"])}), FAST
    )
    assert (setup_first.figures.setup_min, setup_first.figures.late_min) == (60, 60)
    assert (late_first.figures.setup_min, late_first.figures.late_min) == (180, 0)
    assert [s["objective"] for s in setup_first.stages] == ["setup", "tardiness"]
