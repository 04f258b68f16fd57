"""One place for benchmark figures: each script records rows (figure, measured, target,
ceiling measured in the same run) and prints its own table; ``bench/run.py`` collects
every script's rows and prints them as one table (``make bench``)."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass


@dataclass
class Row:
    script: str
    figure: str
    measured: float
    target: str = ""
    ceiling: float | None = None
    ceiling_is: str = ""
    lower_is_better: bool = False  # times: the ratio is ceiling / measured (1 = as fast as the ceiling)

    @property
    def ratio(self) -> str:
        if not self.ceiling or not self.measured:
            return ""
        r = self.ceiling / self.measured if self.lower_is_better else self.measured / self.ceiling
        return f"{r:.2f}" if r >= 0.01 else f"{r:.1e}"


def fmt(v: float | None) -> str:
    if v is None:
        return ""
    if 0 < abs(v) < 0.01:
        return f"{v:.1e}"
    return f"{v:,.0f}" if abs(v) >= 100 else f"{v:,.2f}"


def print_rows(rows: list[Row], title: str) -> None:
    """Print ``rows`` as a table; with LINESIDE_BENCH_ROWS set, also append them there."""
    w = max(len(r.figure) for r in rows) + 1
    print(f"\n{title}")
    print(f"{'figure':<{w}} {'measured':>12} {'target':>12} {'ceiling':>12} {'ratio':>6}  ceiling is")
    for r in rows:
        print(
            f"{r.figure:<{w}} {fmt(r.measured):>12} {r.target:>12} {fmt(r.ceiling):>12} {r.ratio:>6}  {r.ceiling_is}"
        )
    out = os.environ.get("LINESIDE_BENCH_ROWS")
    if out:
        with open(out, "a") as f:
            for r in rows:
                f.write(json.dumps(asdict(r)) + "\n")
