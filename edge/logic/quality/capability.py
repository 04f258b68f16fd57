"""Process capability (pure): Cp, Cpk from the within-subgroup sigma (R̄/d2, S̄/c4 or
MR̄/d2), Pp, Ppk from the overall sample standard deviation; one-sided specs give only
the one-sided index."""

from __future__ import annotations

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
