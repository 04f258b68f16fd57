"""The plan's next order at the line (pure): the first released order of the sequence,
or the first after it that is not blocked; nothing while one runs; start adherence."""

from __future__ import annotations

from edge.logic.production.sequence import Candidate, adherence, next_order


def test_the_next_order_is_the_first_released_one() -> None:
    seq = [Candidate("a", "complete"), Candidate("b", "released"), Candidate("c", "released")]
    n = next_order(seq)
    assert (n.planned, n.chosen, n.skipped, n.resequenced) == ("b", "b", (), False)


def test_blocked_orders_are_passed_over_in_sequence() -> None:
    seq = [
        Candidate("b", "released", "material"),
        Candidate("c", "released", "tool"),
        Candidate("d", "released"),
    ]
    n = next_order(seq)
    assert (n.planned, n.chosen, n.skipped, n.resequenced) == (
        "b",
        "d",
        (("b", "material"), ("c", "tool")),
        True,
    )
    none = next_order(seq[:2])
    assert none.chosen is None and none.resequenced


def test_nothing_is_chosen_while_an_order_runs() -> None:
    assert next_order([Candidate("a", "running"), Candidate("b", "released")]).planned is None
    assert next_order([Candidate("a", "paused"), Candidate("b", "released")]).planned is None
    assert next_order([]).planned is None


def test_adherence_against_the_actual_start_or_now() -> None:
    assert adherence(1000.0, 1120.0, 5000.0) == (2.0, "on time")
    assert adherence(1000.0, 1000.0 + 1800, 5000.0) == (30.0, "started late 30 min")
    assert adherence(1000.0, 400.0, 5000.0) == (-10.0, "started early 10 min")
    assert adherence(1000.0, None, 1000.0 + 3600) == (60.0, "waiting, 60 min behind")
    assert adherence(1000.0, None, 900.0) == (None, "planned")
