"""Process capability (pure): Cp, Cpk from the within-subgroup sigma (R̄/d2, S̄/c4 or
MR̄/d2), Pp, Ppk from the overall sample standard deviation; one-sided specs give only
the one-sided index. ``subgroup_capability`` takes the within sigma from the subgroups
themselves (the rational subgroups a chart sampled)."""

from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np
import numpy.typing as npt


def capability(
    values: npt.ArrayLike,
    *,
    lsl: float | None,
    usl: float | None,
    sigma_within: float | None,
    target: float | None = None,
) -> dict[str, Any]:
    x = np.asarray(values, float).ravel()
    if lsl is not None and usl is not None and lsl >= usl:
        raise ValueError("LSL must be below USL")
    if len(x) < 2:
        raise ValueError("need at least 2 values for capability")
    mean = float(x.mean())
    s_all = float(x.std(ddof=1))

    def idx(sig: float | None) -> tuple[float | None, float | None]:
        if sig is None or sig <= 0:
            return None, None
        cp = (usl - lsl) / (6 * sig) if lsl is not None and usl is not None else None
        sides = []
        if usl is not None:
            sides.append((usl - mean) / (3 * sig))
        if lsl is not None:
            sides.append((mean - lsl) / (3 * sig))
        return cp, (min(sides) if sides else None)

    cp, cpk = idx(sigma_within)
    pp, ppk = idx(s_all)
    out: dict[str, Any] = {
        "n": len(x),
        "mean": mean,
        "sigma_within": sigma_within,
        "sigma_overall": s_all,
        "cp": cp,
        "cpk": cpk,
        "pp": pp,
        "ppk": ppk,
        "out_of_spec": int(
            ((x < lsl) if lsl is not None else np.zeros(len(x), bool)).sum()
            + ((x > usl) if usl is not None else np.zeros(len(x), bool)).sum()
        ),
    }
    if target is not None and lsl is not None and usl is not None and sigma_within:
        out["cpm"] = (usl - lsl) / (6 * math.sqrt(s_all**2 + (mean - target) ** 2))
    return out


def within_sigma(chart: str, groups: list[list[float]]) -> tuple[float, str]:
    """The within-subgroup sigma of equal-size subgroups and how it was estimated: R̄/d2
    (X̄-R, and EWMA/CUSUM of subgroup means), S̄/c4 (X̄-S), or for individuals (groups of
    one) MR̄/d2 with d2 of n = 2."""
    from edge.logic.quality.constants import constants

    n = len(groups[0])
    if any(len(g) != n for g in groups):
        raise ValueError("subgroups of different sizes")
    if n == 1:
        x = [g[0] for g in groups]
        if len(x) < 2:
            raise ValueError("need at least 2 values for a moving range")
        mr = sum(abs(b - a) for a, b in itertools.pairwise(x)) / (len(x) - 1)
        return mr / constants(2).d2, "MR̄/d2"
    c = constants(n)
    if chart == "xbar-s":
        sbar = sum(float(np.std(g, ddof=1)) for g in groups) / len(groups)
        return sbar / c.c4, "S̄/c4"
    rbar = sum(max(g) - min(g) for g in groups) / len(groups)
    return rbar / c.d2, "R̄/d2"


def subgroup_capability(
    chart: str,
    groups: list[list[float]],
    *,
    lsl: float | None,
    usl: float | None,
    target: float | None = None,
) -> dict[str, Any]:
    """Cp/Cpk from the within sigma of ``groups`` (:func:`within_sigma`), Pp/Ppk from the
    overall standard deviation of all their values."""
    if not groups:
        raise ValueError("no subgroups")
    sigma, method = within_sigma(chart, groups)
    out = capability([v for g in groups for v in g], lsl=lsl, usl=usl, sigma_within=sigma, target=target)
    out["subgroups"] = len(groups)
    out["subgroup_size"] = len(groups[0])
    out["sigma_within_method"] = method
    return out
