"""Control chart constants for subgroup sizes 2–25 (pure).

d2 = E[R]/σ and d3 = sd(R)/σ for the range of n normal observations, computed by
numerical integration of the range distribution (E[R^k] = k∫ r^(k-1) P(R > r) dr, step
0.004 over ±9σ); c4 = E[s]/σ from its closed form. They agree with Montgomery's
Appendix VI to the table's printed precision. Every other constant follows from its
definition:

A2 = 3/(d2 √n), A3 = 3/(c4 √n), D3 = max(0, 1 − 3 d3/d2), D4 = 1 + 3 d3/d2,
B3 = max(0, 1 − 3 √(1 − c4²)/c4), B4 = 1 + 3 √(1 − c4²)/c4, E2 = 3/d2.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

# n: (d2, d3, c4)
_D2_D3_C4: dict[int, tuple[float, float, float]] = {
    2: (1.12838, 0.85250, 0.79788),
    3: (1.69257, 0.88837, 0.88623),
    4: (2.05875, 0.87981, 0.92132),
    5: (2.32593, 0.86408, 0.93999),
    6: (2.53441, 0.84804, 0.95153),
    7: (2.70436, 0.83320, 0.95937),
    8: (2.84720, 0.81983, 0.96503),
    9: (2.97003, 0.80783, 0.96931),
    10: (3.07751, 0.79705, 0.97266),
    11: (3.17287, 0.78731, 0.97535),
    12: (3.25846, 0.77848, 0.97756),
    13: (3.33598, 0.77041, 0.97941),
    14: (3.40676, 0.76302, 0.98097),
    15: (3.47183, 0.75621, 0.98232),
    16: (3.53198, 0.74991, 0.98348),
    17: (3.58788, 0.74405, 0.98451),
    18: (3.64006, 0.73859, 0.98541),
    19: (3.68896, 0.73348, 0.98621),
    20: (3.73495, 0.72868, 0.98693),
    21: (3.77834, 0.72417, 0.98758),
    22: (3.81938, 0.71991, 0.98817),
    23: (3.85832, 0.71588, 0.98870),
    24: (3.89535, 0.71207, 0.98919),
    25: (3.93063, 0.70844, 0.98964),
}


@dataclass(frozen=True)
class Constants:
    n: int
    d2: float
    d3: float
    c4: float

    @property
    def A2(self) -> float:
        return 3 / (self.d2 * math.sqrt(self.n))

    @property
    def A3(self) -> float:
        return 3 / (self.c4 * math.sqrt(self.n))

    @property
    def D3(self) -> float:
        return max(0.0, 1 - 3 * self.d3 / self.d2)

    @property
    def D4(self) -> float:
        return 1 + 3 * self.d3 / self.d2

    @property
    def B3(self) -> float:
        return max(0.0, 1 - 3 * math.sqrt(1 - self.c4**2) / self.c4)

    @property
    def B4(self) -> float:
        return 1 + 3 * math.sqrt(1 - self.c4**2) / self.c4

    @property
    def E2(self) -> float:
        return 3 / self.d2


def constants(n: int) -> Constants:
    """Constants for subgroup size ``n`` (2–25); ValueError names the allowed range."""
    if isinstance(n, bool) or not isinstance(n, int) or n not in _D2_D3_C4:
        raise ValueError(f"subgroup size must be a whole number from 2 to 25, got {n!r}")
    d2, d3, c4 = _D2_D3_C4[n]
    return Constants(n, d2, d3, c4)
