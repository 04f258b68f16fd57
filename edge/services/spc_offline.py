"""``lineside spc limits|check``: offline SPC on CSV files.

Variables charts read a ``value`` column and optionally a ``subgroup`` column (rows with
the same subgroup label form one subgroup; without it consecutive values are grouped by
``--subgroup-size``). Attribute charts read ``count`` and, for p and u, ``size``.
Errors name the file and row, or the option.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import numpy as np

from edge.core.errors import LinesideError
from edge.core.parse import parse_float
from edge.logic.quality.capability import capability
from edge.logic.quality.charts import CHARTS, baseline, cusum, ewma, plot
from edge.logic.quality.constants import constants
from edge.logic.quality.rules import RULES, evaluate, resolve_rules


class SpcInputError(LinesideError):
    exit_code = 2

    def __init__(self, messages: list[str]) -> None:
        super().__init__("\n".join(messages))
        self.messages = messages


def _num(path: Path, row: int, col: str, text: str, errors: list[str]) -> float | None:
    """A number of the CSV, read with the strict reader (no NaN, Inf, ``1_0``, ``１０``)."""
    try:
        return parse_float(text)
    except ValueError as e:
        errors.append(f"{path}:{row}: {col}: {e}")
        return None


def read_csv(path: Path, chart: str) -> dict[str, Any]:
    try:
        f = path.open(newline="", encoding="utf-8")
    except OSError as e:
        raise SpcInputError([f"{path}: cannot open: {e.strerror or e}"]) from None
    errors: list[str] = []
    attribute = chart in ("p", "np", "c", "u")
    need = (["count", "size"] if chart in ("p", "u") else ["count"]) if attribute else ["value"]
    with f:
        rd = csv.reader(f)
        header = [h.strip().lower() for h in next(rd, [])]
        missing = [c for c in need if c not in header]
        if missing:
            raise SpcInputError(
                [
                    f"{path}:1: header: missing column(s) {', '.join(missing)} for a {chart} chart (have {', '.join(header) or 'none'})"
                ]
            )
        cols = {c: header.index(c) for c in (*need, "subgroup") if c in header}
        out: dict[str, list[Any]] = {c: [] for c in cols}
        for rowno, row in enumerate(rd, start=2):
            if not row or all(not c.strip() for c in row):
                continue
            if len(row) <= max(cols.values()):
                errors.append(f"{path}:{rowno}: expected {len(header)} columns, got {len(row)}")
                continue
            parsed: dict[str, Any] = {}
            for c, i in cols.items():
                parsed[c] = row[i].strip() if c == "subgroup" else _num(path, rowno, c, row[i], errors)
            if all(v is not None for v in parsed.values()):
                for c, v in parsed.items():
                    out[c].append(v)
            if len(errors) >= 20:
                break
    if errors:
        raise SpcInputError(errors)
    if not out[need[0]]:
        raise SpcInputError([f"{path}: no data rows"])
    return out


def analyse(
    path: Path,
    chart: str,
    *,
    subgroup_size: int | None,
    rules: str | None,
    lsl: float | None = None,
    usl: float | None = None,
    target: float | None = None,
    options: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Phase I analysis of a CSV file: limits, points beyond them, rule violations, capability."""
    if chart in ("ewma", "cusum"):
        return _time_weighted(path, chart, **(options or {}))
    if chart not in CHARTS:
        raise SpcInputError([f"--chart: {chart!r} is not one of {', '.join((*CHARTS, 'ewma', 'cusum'))}"])
    if chart in ("xbar-r", "xbar-s", "np") and subgroup_size is None:
        raise SpcInputError([f"--subgroup-size: required for a {chart} chart"])
    if chart in ("xbar-r", "xbar-s") and subgroup_size is not None and not 2 <= subgroup_size <= 25:
        raise SpcInputError([f"--subgroup-size: must be from 2 to 25, got {subgroup_size}"])
    if chart == "np" and subgroup_size is not None and subgroup_size < 1:
        raise SpcInputError([f"--subgroup-size: the np sample size must be positive, got {subgroup_size}"])
    try:
        rule_ids = resolve_rules(rules) if rules else ()
    except ValueError as e:
        raise SpcInputError([f"--rules: {e}"]) from None
    data = read_csv(path, chart)
    values = counts = sizes = None
    n = subgroup_size
    if chart in ("xbar-r", "xbar-s", "imr"):
        v = np.array(data["value"])
        if "subgroup" in data and chart != "imr":
            groups: dict[str, list[float]] = {}
            for lab, x in zip(data["subgroup"], v, strict=True):
                groups.setdefault(lab, []).append(float(x))
            bad = [lab for lab, g in groups.items() if len(g) != n]
            if bad:
                raise SpcInputError(
                    [f"{path}: subgroup {bad[0]!r} has {len(groups[bad[0]])} values, --subgroup-size is {n}"]
                )
            v = np.array(list(groups.values()))
        elif chart != "imr" and n is not None and len(v) % n:
            raise SpcInputError(
                [f"{path}: {len(v)} values do not make whole subgroups of {n} (--subgroup-size)"]
            )
        values = v
    else:
        counts = np.array(data["count"])
        sizes = np.array(data["size"]) if "size" in data else None
        limit = (
            sizes
            if sizes is not None
            else (np.full(len(counts), float(n)) if chart == "np" and n is not None else None)
        )
        if chart in ("p", "np") and limit is not None and np.any(counts > limit):
            i = int(np.argmax(counts > limit))
            raise SpcInputError(
                [f"{path}:{i + 2}: count: more defectives ({counts[i]:g}) than inspected ({limit[i]:g})"]
            )
    try:
        spec = baseline(chart, values=values, n=n, counts=counts, sizes=sizes)
        panels = plot(spec, values=values, counts=counts, sizes=sizes)
    except ValueError as e:
        raise SpcInputError([f"{path}: {e}"]) from None
    out: dict[str, Any] = {"chart": chart, "sigma_within": spec.sigma_within, "panels": []}
    for pnl in panels:
        viol = evaluate(pnl.z, rule_ids) if rule_ids else []
        out["panels"].append(
            pnl.limits.as_dict()
            | {
                "points": len(pnl.points),
                "beyond_limits": [int(i) + 1 for i in np.nonzero(pnl.beyond)[0]],
                "violations": [
                    {
                        "rule": v.rule,
                        "text": RULES[v.rule],
                        "sample": v.point + 1,
                        "samples": [p + 1 for p in v.points],
                    }
                    for v in viol
                ],
            }
        )
    if (lsl is not None or usl is not None) and values is not None:
        try:
            out["capability"] = capability(
                values, lsl=lsl, usl=usl, sigma_within=spec.sigma_within, target=target
            )
        except ValueError as e:
            raise SpcInputError([f"--lsl/--usl: {e}"]) from None
    return out


def _time_weighted(
    path: Path,
    chart: str,
    *,
    mu0: float | None = None,
    sigma: float | None = None,
    lam: float = 0.2,
    L: float = 3.0,
    k: float = 0.5,
    h: float = 5.0,
) -> dict[str, Any]:
    """EWMA or tabular CUSUM of individual values; mu0 and sigma default to the data's
    mean and MR-bar/d2."""
    x = np.array(read_csv(path, "imr")["value"])
    if len(x) < 3:
        raise SpcInputError([f"{path}: need at least 3 values"])
    if mu0 is None:
        mu0 = float(x.mean())
    if sigma is None:
        sigma = float(np.abs(np.diff(x)).mean() / constants(2).d2)
    if sigma <= 0:
        raise SpcInputError(["--sigma: must be positive (the data has no variation)"])
    if chart == "ewma":
        if not 0 < lam <= 1:
            raise SpcInputError([f"--lambda: must be in (0, 1], got {lam:g}"])
        z, ucl, lcl = ewma(x, mu0, sigma, lam, L)
        beyond = [int(i) + 1 for i in np.flatnonzero((z > ucl) | (z < lcl))]
        panel = {
            "chart": "ewma",
            "center": mu0,
            "ucl": float(ucl[-1]),
            "lcl": float(lcl[-1]),
            "n": 1,
            "points": len(x),
            "beyond_limits": beyond,
            "violations": [],
        }
        return {
            "chart": "ewma",
            "sigma_within": sigma,
            "panels": [panel],
            "parameters": {"lambda": lam, "L": L, "mu0": mu0},
        }
    cp, cm, H = cusum(x, mu0, sigma, k, h)
    up = [int(i) + 1 for i in np.flatnonzero(cp > H)]
    down = [int(i) + 1 for i in np.flatnonzero(cm > H)]
    panel = {
        "chart": "cusum",
        "center": 0.0,
        "ucl": H,
        "lcl": 0.0,
        "n": 1,
        "points": len(x),
        "beyond_limits": sorted(set(up) | set(down)),
        "violations": [],
        "upper_signals": up,
        "lower_signals": down,
    }
    return {
        "chart": "cusum",
        "sigma_within": sigma,
        "panels": [panel],
        "parameters": {"k": k, "h": h, "mu0": mu0},
    }


def print_analysis(res: dict[str, Any]) -> None:
    def fmt(v: Any) -> str:
        if isinstance(v, list):
            return f"per point ({min(v):.5g} .. {max(v):.5g})"
        return f"{v:.5g}"

    print(
        f"chart {res['chart']}"
        + (f"   sigma (within) {res['sigma_within']:.5g}" if res["sigma_within"] else "")
    )
    for p in res["panels"]:
        print(
            f"\n{p['chart']:>5}: centre {fmt(p['center'])}   UCL {fmt(p['ucl'])}   LCL {fmt(p['lcl'])}   ({p['points']} points)"
        )
        print(f"       beyond the limits: {', '.join(map(str, p['beyond_limits'])) or 'none'}")
        for v in p["violations"]:
            print(
                f"       {v['rule']:<8} at sample {v['sample']:<5} {v['text']} (samples {', '.join(map(str, v['samples']))})"
            )
    cap = res.get("capability")
    if cap:

        def g(k: str) -> str:
            return "-" if cap.get(k) is None else f"{cap[k]:.3f}"

        print(
            f"\ncapability ({cap['n']} values, mean {cap['mean']:.5g}, "
            f"sigma within {cap['sigma_within'] or 0:.5g}, overall {cap['sigma_overall']:.5g}):"
        )
        print(
            f"  Cp {g('cp')}  Cpk {g('cpk')}  Pp {g('pp')}  Ppk {g('ppk')}   out of spec: {cap['out_of_spec']}"
        )
