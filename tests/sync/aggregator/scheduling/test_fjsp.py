"""Flexible job-shop files: machines numbered from 0 or from 1 (the published sets), bad
lines named, and Brandimarte's mk01 solved to its proven optimum of 40 through our model
as through the plain CP-SAT model."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge.core.errors import ConfigError
from sync.aggregator.scheduling.fjsp import makespan, parse_fjsp, plain_cpsat, read_fjsp, to_problem
from sync.aggregator.scheduling.model import SolveParams
from sync.aggregator.scheduling.solver import solve
from tests.conftest import REPO

TINY_FROM_0 = "2 2\n2 2 0 3 1 5 1 1 2\n1 1 0 4\n"
TINY_FROM_1 = "2 2 1.5\n2 2 1 3 2 5 1 2 2\n1 1 1 4\n"


def test_machines_from_zero_and_from_one_read_alike() -> None:
    zero, one = parse_fjsp(TINY_FROM_0), parse_fjsp(TINY_FROM_1)
    assert zero.numbering == 0 and one.numbering == 1
    assert zero.jobs == one.jobs == [[[(0, 3), (1, 5)], [(1, 2)]], [[(0, 4)]]]
    assert zero.operations == 3 and not zero.note


def test_ambiguous_numbering_is_read_from_one_and_said() -> None:
    inst = parse_fjsp("1 3\n1 1 2 7\n")
    assert inst.numbering == 1 and inst.jobs == [[[(1, 7)]]] and "read from 1" in inst.note
    assert parse_fjsp("1 3\n1 1 2 7\n", numbering=0).jobs == [[[(2, 7)]]]


def test_bad_files_name_the_line() -> None:
    with pytest.raises(ConfigError, match=r"fjsp:2: the line ends inside an operation"):
        parse_fjsp("1 2\n2 1 1 5 2\n")
    with pytest.raises(ConfigError, match=r"fjsp:2: 2 numbers left after 1 operations"):
        parse_fjsp("1 2\n1 1 1 5 9 9\n")
    with pytest.raises(ConfigError, match=r"machine 3 is outside 1..2"):
        parse_fjsp("1 2\n1 1 3 5\n")
    with pytest.raises(ConfigError, match=r"fjsp:1: expected 'jobs machines"):
        parse_fjsp("ten six\n")
    with pytest.raises(ConfigError, match=r"2 jobs announced, 1 job lines found"):
        parse_fjsp("2 2\n1 1 1 5\n")


def test_a_small_instance_is_solved_to_its_optimum() -> None:
    """Job 0: 3 on m0 or 5 on m1, then 2 on m1; job 1: 4 on m0. Every order of the
    three operations ends at 7 at best (m0 carries 3 + 4, or m1 carries 5 + 2)."""
    plan = solve(to_problem(parse_fjsp(TINY_FROM_0)), SolveParams(time_limit_s=5, workers=1))
    assert plan.status == "optimal" and makespan(plan.ops) == 7 and plan.bound == 7


@pytest.mark.slow
def test_brandimarte_mk01_reaches_its_proven_optimum() -> None:
    inst = read_fjsp(REPO / "bench" / "fjsp" / "mk01.fjs")
    assert (len(inst.jobs), inst.machines, inst.operations, inst.numbering) == (10, 6, 55, 1)
    params = SolveParams(time_limit_s=20, workers=2, seed=1)
    plan = solve(to_problem(inst), params)
    assert makespan(plan.ops) == 40 and plan.bound == 40
    mk, bound, _status = plain_cpsat(inst, params)
    assert mk == 40 and bound == 40


def test_import_fjsp_on_the_command_line(tmp_path: Path) -> None:
    import subprocess
    import sys

    f = tmp_path / "tiny.fjs"
    f.write_text(TINY_FROM_1)
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "edge.cli",
            "aggregator",
            "plan",
            "import-fjsp",
            str(f),
            "--time-limit",
            "3",
            "--json",
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    import json

    out = json.loads(r.stdout)
    assert (out["makespan"], out["machines_numbered_from"], out["status"]) == (7, 1, "optimal")
    bad = tmp_path / "bad.fjs"
    bad.write_text("1 2\n1 1 3 5\n")
    r = subprocess.run(
        [sys.executable, "-m", "edge.cli", "aggregator", "plan", "import-fjsp", str(bad)],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )
    assert r.returncode == 2 and "machine 3 is outside 1..2" in r.stderr and "Traceback" not in r.stderr
