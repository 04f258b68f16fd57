"""Process values of a trace window (``genealogy.process_values``) against the
sample-and-hold definition computed naively from every sample: the value in force at
the window's start (the last sample before it) holds until the first sample in the
window, every value until the next one; min, max and the time-weighted mean over the
time with a good number; samples in the window; changes of value or quality. Equal
times keep write order. The store reads each tag through ``m019_trace_index``."""

from __future__ import annotations

import itertools
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edge.logic.model import Quality, Sample
from edge.store import Store
from edge.store.db import decode_value
from edge.store.genealogy import process_values

TAGS = [("a", "float64"), ("b", "int32"), ("s", "string"), ("f", "bool")]

values = {
    "a": st.floats(-1e6, 1e6) | st.integers(-1000, 1000).map(float) | st.just(float("nan")),
    "b": st.integers(-1000, 1000),
    "s": st.sampled_from(["x", "y", "[1, 2]"]),
    "f": st.booleans(),
}
samples = st.lists(
    st.sampled_from([t for t, _ in TAGS]).flatmap(
        lambda tag: st.tuples(
            st.just(tag),
            values[tag],
            st.sampled_from([Quality.GOOD, Quality.GOOD, Quality.GOOD, Quality.BAD, Quality.STALE]),
            st.integers(0, 40).map(float),  # few distinct times: ties within a tag
        )
    ),
    max_size=40,
)


def reference(rows: list[tuple[str, Any, Quality, float]], start: float, end: float) -> dict[str, Any]:
    """The definition, sample by sample, from every sample in write order."""
    types = dict(TAGS)
    out = {}
    for tag, type_ in TAGS:
        mine = sorted(
            ((ts, i, v, int(q)) for i, (t, v, q, ts) in enumerate(rows) if t == tag), key=lambda r: r[:2]
        )
        stored = [(ts, _stored(v), q) for ts, _, v, q in mine]
        before = [r for r in stored if r[0] < start]
        inside = [r for r in stored if start <= r[0] <= end]
        if not before and not inside:
            continue
        steps = ([(start, before[-1][1], before[-1][2])] if before else []) + inside
        good = [
            (ts, v)
            for ts, v, q in steps
            if q == 0 and isinstance(v, (int, float)) and not isinstance(v, bool)
        ]
        wsum = wdur = 0.0
        for (ts, v, q), nxt in zip(steps, [*(s[0] for s in steps[1:]), end], strict=True):
            if q == 0 and isinstance(v, (int, float)):
                wsum += v * (nxt - ts)
                wdur += nxt - ts
        lo = min((v for _, v in good), default=None)
        hi = max((v for _, v in good), default=None)
        numeric = types[tag] not in ("string", "bool")
        mean = wsum / wdur if wdur > 0 else (lo if lo is not None and lo == hi else None)
        last_v, last_q = steps[-1][1], steps[-1][2]
        out[tag] = {
            "tag": tag,
            "unit": "",
            "samples": len(inside),
            "changes": sum((a[1], a[2]) != (b[1], b[2]) for a, b in itertools.pairwise(steps)),
            "at_start": decode_value(before[-1][1], type_) if before and before[-1][2] == 0 else None,
            "min": decode_value(lo, type_) if numeric else None,
            "mean": mean if numeric and lo is not None else None,
            "max": decode_value(hi, type_) if numeric else None,
            "last": decode_value(last_v, type_) if last_q == 0 else None,
        }
    return out


def _nan_as_text(d: dict[str, Any]) -> dict[str, Any]:
    return {k: "NaN" if isinstance(v, float) and v != v else v for k, v in d.items()}


def _stored(v: Any) -> Any:
    """A value as the store keeps it (booleans as 0/1, NaN as the text 'nan')."""
    if isinstance(v, bool):
        return int(v)
    if isinstance(v, float) and v != v:
        return "nan"
    return v


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=samples, start=st.integers(0, 40).map(float), length=st.integers(0, 40).map(float))
def test_process_values_follow_sample_and_hold(
    rows: list[tuple[str, Any, Quality, float]], start: float, length: float
) -> None:
    with tempfile.TemporaryDirectory() as d:
        store = Store(Path(d) / "s.db")
        store.register_tags((t, "d", type_, "") for t, type_ in TAGS)
        # In two commits: the current value of a tag then comes from the later one.
        half = len(rows) // 2
        for part in (rows[:half], rows[half:]):
            store.append_samples([Sample(t, v, q, ts, ts) for t, v, q, ts in part])
        got = {v["tag"]: v for v in process_values(store, start, start + length)}
        store.close()
    want = reference(rows, start, start + length)
    assert got.keys() == want.keys()
    for tag, w in want.items():
        g = got[tag]
        assert _nan_as_text(g | {"mean": None}) == _nan_as_text(w | {"mean": None}), tag
        assert g["mean"] == (pytest.approx(w["mean"]) if w["mean"] is not None else None), tag


def test_the_trace_reads_samples_through_its_index(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db")
    plan = store.db.execute(
        "EXPLAIN QUERY PLAN SELECT ts, value, quality FROM samples WHERE tag_id = ? AND ts >= ? AND ts <= ? "
        "ORDER BY ts, seq",
        (1, 0.0, 1.0),
    ).fetchall()
    store.close()
    assert any("COVERING INDEX samples_trace" in str(r[-1]) for r in plan), plan
