"""The plant-IT repository: samples after a sequence with their tag's name, durable
marks, and age retention waiting for the Sparkplug node's cursor."""

from __future__ import annotations

from pathlib import Path

from edge.logic.model import Quality, Sample
from edge.store import Store
from edge.store import uns as repo


def test_samples_marks_and_retention_hold(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db")
    store.register_tags([("a", "plc", "float32", "°C"), ("b", "plc", "bool", "")])
    store.append_samples(
        [Sample("a", 1.5, Quality.GOOD, 10.0, 10.0), Sample("b", True, Quality.GOOD, 11.0, 11.0)]
        + [Sample("a", None, Quality.BAD, 12.0 + i, 12.0 + i) for i in range(3)]
    )
    rows = repo.samples_after(store, 0, 100)
    assert [(r.seq, r.tag, r.value, r.quality) for r in rows[:3]] == [
        (1, "a", 1.5, "good"),
        (2, "b", True, "good"),
        (3, "a", None, "bad"),
    ]
    assert [r.seq for r in repo.samples_after(store, 1, 2)] == [2, 3]
    assert [r.seq for r in repo.samples_after(store, 1, 10, upto=2)] == [2]
    assert repo.last_sample_seq(store) == 5
    assert repo.mark(store, repo.SPARKPLUG_CURSOR) is None
    repo.set_marks(store, {repo.SPARKPLUG_CURSOR: 2, repo.SPARKPLUG_BD_SEQ: 255})
    repo.set_marks(store, {repo.SPARKPLUG_BD_SEQ: 0})
    assert (repo.mark(store, repo.SPARKPLUG_CURSOR), repo.mark(store, repo.SPARKPLUG_BD_SEQ)) == (2, 0)
    # Every sample is old and acknowledged (no uplink); the node has sent up to 2 only.
    removed = store.apply_retention(
        max_age_s=1, max_bytes=10**9, now=1000.0, require_ack=False, samples_held_after=2
    )
    assert removed["samples"] == 2
    assert [r.seq for r in repo.samples_after(store, 0, 100)] == [3, 4, 5]
    store.close()
