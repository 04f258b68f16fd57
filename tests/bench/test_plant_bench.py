"""Smoke test of ``bench/plant.py --quick``: the plant benchmark runs end to end (real
mosquitto, two `lineside aggregator run` instances on a fresh PostgreSQL database, real
line stores and uplinks) and its zero-loss check across an aggregator SIGKILL holds."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import psycopg
import pytest

from tests.conftest import REPO
from tests.sync.conftest import PG_ADMIN


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_plant_bench_quick_runs_and_loses_nothing_across_a_kill() -> None:
    try:  # as the other PostgreSQL tests (tests/sync/conftest.py)
        psycopg.connect(PG_ADMIN, connect_timeout=3).close()
    except psycopg.OperationalError as e:
        pytest.skip(f"PostgreSQL not reachable at {PG_ADMIN} ({e}); set LINESIDE_TEST_PG")
    p = subprocess.run(
        [sys.executable, "-m", "bench.plant", "--quick", "--json"],
        env={**os.environ, "LINESIDE_BENCH_PG": PG_ADMIN},
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=280,
    )
    assert p.returncode == 0, p.stdout + p.stderr
    r = json.loads(p.stdout.strip().splitlines()[-1])
    assert r["lost_lines"] == [] and r["tracebacks"] == 0, r
    # Every sample the 4 lines committed (3 s window and more) reached the plant once.
    assert r["records_in"] == r["records_out"] >= 4 * 50 * 3, r
    assert r["steady2"]["ingest_per_s"] > 0 and r["raw_pg_insert_per_s"] > 0, r
    assert "lines losing records across a kill" in p.stdout
