"""Run every benchmark under bench/ (``make bench``), each in its own process, then print
all their figures as one table: figure, measured, target, the ceiling measured in the
same run (raw client / raw SQLite / raw MQTT) and the ratio."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from bench.table import Row, fmt  # noqa: E402

SKIP = {"run.py", "table.py", "__init__.py"}


def main() -> int:
    scripts = sorted(p for p in HERE.glob("*.py") if p.name not in SKIP)
    with tempfile.TemporaryDirectory() as d:
        out = Path(d) / "rows.jsonl"
        env = dict(os.environ, LINESIDE_BENCH_ROWS=str(out), PYTHONPATH=str(HERE.parent))
        failed = []
        for script in scripts:
            # As a module from the repository root: run as a file, bench/ would come first on
            # sys.path and bench/sync.py would shadow the sync package.
            p = subprocess.run(
                [sys.executable, "-m", f"bench.{script.stem}", *sys.argv[1:]], env=env, cwd=HERE.parent
            )
            if p.returncode != 0:
                failed.append(script.name)
        rows = [Row(**json.loads(line)) for line in out.read_text().splitlines()] if out.exists() else []
    print(
        f"\n== make bench: {time.strftime('%Y-%m-%d %H:%M')}, {platform.node()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}"
    )
    w = max((len(r.figure) for r in rows), default=10) + 1
    print(
        f"{'script':<10} {'figure':<{w}} {'measured':>12} {'target':>12} {'ceiling':>12} {'ratio':>6}  ceiling is"
    )
    for r in rows:
        print(
            f"{r.script:<10} {r.figure:<{w}} {fmt(r.measured):>12} {r.target:>12} {fmt(r.ceiling):>12} {r.ratio:>6}  {r.ceiling_is}"
        )
    for name in failed:
        print(f"FAILED: bench/{name}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
