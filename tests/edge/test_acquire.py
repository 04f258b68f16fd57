"""Pure acquisition helpers: the change filter and the reconnect backoff."""

from __future__ import annotations

import random

from hypothesis import given
from hypothesis import strategies as st

from edge.config.devices import Reconnect, Tag
from edge.drivers import Reading
from edge.logic.model import Quality
from edge.runtime.acquire import Backoff, ChangeFilter

G, B = Quality.GOOD, Quality.BAD


def tag(**kw: object) -> Tag:
    return Tag.model_validate({"name": "t", "device": "d", "address": "hr:0", "type": "float32"} | kw)


def test_no_deadband_records_every_change_and_quality_flip() -> None:
    f = ChangeFilter([tag()])
    seq = [(1.0, G), (1.0, G), (1.5, G), (1.5, B), (None, B), (1.5, G)]
    assert [f.accept("t", v, q, i) for i, (v, q) in enumerate(seq)] == [True, False, True, True, False, True]


def test_absolute_deadband_and_heartbeat() -> None:
    f = ChangeFilter([tag(deadband={"absolute": 0.5, "max_interval_s": 10})])
    assert f.accept("t", 10.0, G, 0)
    assert not f.accept("t", 10.4, G, 1)  # within the band of the last *recorded* value
    assert not f.accept("t", 10.5, G, 2)  # equal to the band is not beyond it
    assert f.accept("t", 10.6, G, 3)
    assert not f.accept("t", 10.6, G, 12.9)
    assert f.accept("t", 10.6, G, 13.0)  # heartbeat: 10 s since the last row


def test_percent_deadband_of_span_and_of_value() -> None:
    f = ChangeFilter(
        [tag(name="s", deadband={"percent": 1, "span": 200}), tag(name="v", deadband={"percent": 10})]
    )
    assert f.accept("s", 100.0, G, 0) and not f.accept("s", 101.9, G, 1) and f.accept("s", 102.1, G, 2)
    assert f.accept("v", 50.0, G, 0) and not f.accept("v", 54.9, G, 1) and f.accept("v", 44.0, G, 2)


def test_accept_many_matches_accept() -> None:
    tags = [tag(name="a"), tag(name="b", deadband={"absolute": 1, "max_interval_s": 5})]
    fast, slow = ChangeFilter(tags), ChangeFilter(tags)
    rng = random.Random(4)
    for i in range(500):
        bad_spell = (i // 50) % 2 == 1  # long BAD spells so heartbeats fall inside them
        batch = [
            Reading(n, rng.choice([1.0, 1.5, 3.0, None]), B if bad_spell else rng.choice([G, G, G, B]))
            for n in ("a", "b")
        ]
        expect = [r for r in batch if slow.accept(r.tag, r.value, r.quality, i)]
        assert fast.accept_many(batch, i) == expect


@given(initial=st.floats(0.1, 5), cap=st.floats(5, 60), jitter=st.floats(0, 0.5), n=st.integers(1, 30))
def test_backoff_grows_to_the_cap_within_jitter(initial: float, cap: float, jitter: float, n: int) -> None:
    b = Backoff(Reconnect(initial_s=initial, max_s=cap, jitter=jitter), random.Random(1))
    waits = [b.next() for _ in range(n)]
    for i, w in enumerate(waits):
        base = min(cap, initial * 2**i)
        assert base * (1 - jitter) - 1e-9 <= w <= base * (1 + jitter) + 1e-9
    b.reset()
    assert b.next() <= initial * (1 + jitter) + 1e-9
