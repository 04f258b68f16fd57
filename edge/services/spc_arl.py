"""What the configured SPC charts promise: the in-control average run length (how often
a false alarm comes) and the run length after a mean shift (how fast a real change is
seen), in points and in false alarms a day at full speed (``lineside spc arl``)."""

from __future__ import annotations

from typing import Any

from edge.config.line import LineConfig
from edge.config.quality import CharacteristicCfg


def points_per_day(cfg: LineConfig, c: CharacteristicCfg) -> float | None:
    """Subgroups a day when the line runs all day at the ideal rate of the default
    product (an upper bound: stops take none). None when triggered or entered by hand."""
    if c.sampling is None:
        return None
    if c.sampling.every_s is not None:
        return 86_400 / c.sampling.every_s
    if c.sampling.every_parts is not None:
        product = next((p for p in cfg.products if p.id == cfg.default_product), None)
        if product is None and cfg.products:
            product = cfg.products[0]
        if product is None or product.ideal_rate_per_min is None:
            return None
        return product.ideal_rate_per_min * 1440 / c.sampling.every_parts
    return None


def run_lengths(cfg: LineConfig, *, shift: float = 1.5, runs: int = 4000) -> list[dict[str, Any]]:
    """ARL0 and the ARL after a ``shift``-sigma mean shift of each characteristic."""
    from edge.logic.quality.arl import chart_arl

    out: list[dict[str, Any]] = []
    for c in cfg.characteristics:
        # Attribute charts: a shift of the plotted statistic in its own sigmas.
        n = 1 if c.chart in ("p", "np", "c", "u") else c.values_per_point

        def arl(d: float, c: CharacteristicCfg = c, n: int = n) -> tuple[float, str]:
            return chart_arl(
                c.chart,
                c.rules,
                d,
                n,
                ewma_lambda=c.ewma_lambda,
                ewma_L=c.ewma_L,
                cusum_k=c.cusum_k,
                cusum_h=c.cusum_h,
                runs=runs,
            )

        arl0, method = arl(0.0)
        arl1, _m = arl(shift)
        per_day = points_per_day(cfg, c)
        out.append(
            {
                "characteristic": c.name,
                "chart": c.chart,
                "n": n,
                "rules": c.rules if c.chart not in ("ewma", "cusum") else c.chart,
                "method": method,
                "arl0": arl0,
                "shift": shift,
                "arl1": arl1,
                "points_per_day": per_day,
                "false_alarms_per_day": per_day / arl0 if per_day is not None else None,
                "allowed": c.expected_false_alarms_per_day,
            }
        )
    return out
