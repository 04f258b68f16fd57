"""Aggregator storage: idempotent ingest and the contiguous end-to-end ack (hypothesis:
any order and any duplication of batches gives every record exactly once)."""

from __future__ import annotations

import itertools
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from sync.aggregator.store import AggregatorStore
from sync.protocol import Batch, LineRef

REF = LineRef(enterprise="acme", site="s", area="a", line="l1")
LINE = "acme/s/a/l1"


def batch(first: int, last: int) -> Batch:
    return Batch(
        line=REF,
        stream="samples",
        after_seq=first - 1,
        first_seq=first,
        last_seq=last,
        sent_at=0,
        records=[{"seq": s, "value": s * 10} for s in range(first, last + 1)],
    )


def test_duplicates_change_nothing_and_gaps_hold_the_ack(tmp_path: Path) -> None:
    st = AggregatorStore(tmp_path / "agg.db")
    assert st.ingest(batch(1, 10)) == 10
    assert st.ingest(batch(1, 10)) == 10  # redelivered
    assert st.ingest(batch(21, 30)) == 10  # a gap: 11..20 not here yet
    assert st.ingest(batch(11, 20)) == 30  # gap filled: the ack jumps over what was waiting
    assert [r["seq"] for r in st.records(LINE, "samples")] == list(range(1, 31))
    assert st.ack(LINE, "samples") == 30 and st.ack(LINE, "events") == 0


def test_dead_letters_are_counted_by_kind(tmp_path: Path) -> None:
    st = AggregatorStore(tmp_path / "agg.db")
    st.dead_letter("lineside/v1/x", "not_json", "Batch: (payload): Invalid JSON", b"{")
    st.dead_letter("lineside/v1/x", "schema", "Batch: v: Input should be 1", b"{}")
    st.dead_letter("lineside/v1/y", "schema", "...", None)
    assert st.dead_letter_counts() == {"not_json": 1, "schema": 2}


@settings(deadline=None, max_examples=40)
@given(
    cuts=st.lists(st.integers(1, 199), max_size=20, unique=True),
    order=st.randoms(use_true_random=False),
    dups=st.integers(0, 5),
)
def test_any_order_and_duplication_gives_each_record_once(tmp_path_factory, cuts, order, dups) -> None:  # type: ignore[no-untyped-def]
    edges = [0, *sorted(cuts), 200]
    batches = [batch(a + 1, b) for a, b in itertools.pairwise(edges)]
    sent = batches + [order.choice(batches) for _ in range(dups)]
    order.shuffle(sent)
    st = AggregatorStore(tmp_path_factory.mktemp("agg") / "agg.db")
    for b in sent:
        st.ingest(b)
    assert [r["seq"] for r in st.records(LINE, "samples")] == list(range(1, 201))
    assert st.ack(LINE, "samples") == 200
