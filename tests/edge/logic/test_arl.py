"""Average run lengths against published figures.

* Montgomery, Introduction to Statistical Quality Control, 6th ed.: §6.2.3 (Shewhart
  3σ: ARL0 = 370.4; an individuals chart after a 1.5σ shift: ARL ≈ 15 — 14.97),
  Table 9.3 (tabular CUSUM k = ½, h = 5: 465, 10.4 at 1σ, 5.75 at 1.5σ; h = 4: 168),
  Table 9.11 (EWMA λ = 0.2, L = 2.962: 500, 5.5 at 1.5σ; λ = 0.1, L = 2.814: 500, 10.3 at 1σ).
* Champ & Woodall, Technometrics 29 (1987): the four Western Electric rules ARL0 = 91.75.
"""

from __future__ import annotations

import numpy as np
import pytest

from edge.logic.quality.arl import cusum_arl, ewma_arl, first_signal, rules_arl, run_lengths_of, shewhart_arl
from edge.logic.quality.rules import resolve_rules


def test_shewhart_exact() -> None:
    assert shewhart_arl(0.0) == pytest.approx(370.4, abs=0.05)
    assert shewhart_arl(1.5) == pytest.approx(14.97, abs=0.01)
    assert shewhart_arl(1.5, n=5) == pytest.approx(1.57, abs=0.01)  # the shipped X̄ chart, n = 5


@pytest.mark.parametrize(
    ("h", "shift", "published"), [(5, 0, 465), (5, 1, 10.4), (5, 1.5, 5.75), (4, 0, 168), (4, 1, 8.38)]
)
def test_cusum_markov_chain(h: float, shift: float, published: float) -> None:
    assert cusum_arl(0.5, h, shift) == pytest.approx(published, rel=0.01)


@pytest.mark.parametrize(
    ("lam", "L", "shift", "published"),
    [(0.2, 2.962, 0, 500), (0.2, 2.962, 1.5, 5.5), (0.1, 2.814, 0, 500), (0.1, 2.814, 1.0, 10.3)],
)
def test_ewma_markov_chain(lam: float, L: float, shift: float, published: float) -> None:
    assert ewma_arl(lam, L, shift) == pytest.approx(published, rel=0.02)


def test_western_electric_rules_by_simulation() -> None:
    sim = rules_arl("we", 0.0, runs=1500, seed=3)
    assert abs(sim.arl - 91.75) < 3.5 * sim.standard_error  # Champ & Woodall 1987
    one = rules_arl("we1", 1.5, runs=1500, seed=4)
    assert abs(one.arl - 14.97) < 3.5 * one.standard_error


def test_the_simulation_restarts_like_the_live_rules() -> None:
    """The batch shortcut of ``rules_arl`` gives the run lengths the incremental rules give
    when restarted after every signal."""
    ids = resolve_rules("we")
    rng = np.random.default_rng(8)
    z = rng.normal(0.5, 1.0, 3000)
    lengths, s = [], 0
    while True:
        i = first_signal(list(z[s:]), ids)
        if i is None:
            break
        lengths.append(i + 1)
        s += i + 1
    assert len(lengths) > 30
    got, rest = run_lengths_of(z, ids)
    assert got == lengths and rest == sum(lengths)
