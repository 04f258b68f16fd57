"""Aggregator storage: idempotent ingest and the contiguous end-to-end ack (hypothesis:
any order and any duplication of batches gives every record exactly once)."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import HealthCheck, given, settings
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


def test_duplicates_change_nothing_and_gaps_hold_the_ack(agg_target: str) -> None:
    st = AggregatorStore(agg_target)
    assert st.ingest(batch(1, 10)) == 10
    assert st.ingest(batch(1, 10)) == 10  # redelivered
    assert st.ingest(batch(21, 30)) == 10  # a gap: 11..20 not here yet
    assert st.ingest(batch(11, 20)) == 30  # gap filled: the ack jumps over what was waiting
    assert [r["seq"] for r in st.records(LINE, "samples")] == list(range(1, 31))
    assert st.ack(LINE, "samples") == 30 and st.ack(LINE, "events") == 0


def test_dead_letters_are_counted_by_kind(agg_target: str) -> None:
    st = AggregatorStore(agg_target)
    st.dead_letter("lineside/v1/x", "not_json", "Batch: (payload): Invalid JSON", b"{")
    st.dead_letter("lineside/v1/x", "schema", "Batch: v: Input should be 1", b"{}")
    st.dead_letter("lineside/v1/y", "schema", "...", None)
    assert st.dead_letter_counts() == {"not_json": 1, "schema": 2}


@settings(deadline=None, max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    cuts=st.lists(st.integers(1, 199), max_size=20, unique=True),
    order=st.randoms(use_true_random=False),
    dups=st.integers(0, 5),
)
def test_any_order_and_duplication_gives_each_record_once(agg_target, cuts, order, dups) -> None:  # type: ignore[no-untyped-def]
    edges = [0, *sorted(cuts), 200]
    batches = [batch(a + 1, b) for a, b in itertools.pairwise(edges)]
    sent = batches + [order.choice(batches) for _ in range(dups)]
    order.shuffle(sent)
    st = AggregatorStore(agg_target)
    st.reset()
    for b in sent:
        st.ingest(b)
    assert [r["seq"] for r in st.records(LINE, "samples")] == list(range(1, 201))
    assert st.ack(LINE, "samples") == 200


def test_gaps_in_sequence_numbers_are_closed_by_after_seq(agg_target: str) -> None:
    """A stream whose sequence skips numbers (rows that never existed) still gets a
    contiguous ack: each batch says which sequence it follows."""
    st = AggregatorStore(agg_target)

    def b(after: int, seqs: list[int]) -> Batch:
        return Batch(
            line=REF,
            stream="events",
            after_seq=after,
            first_seq=seqs[0],
            last_seq=seqs[-1],
            sent_at=0,
            records=[{"seq": s} for s in seqs],
        )

    assert st.ingest(b(9, [12, 15])) == 0  # waits for whatever follows 9
    assert st.ingest(b(0, [3, 9])) == 15
    assert [r["seq"] for r in st.records(LINE, "events")] == [3, 9, 12, 15]


def test_plant_tables_follow_the_latest_version(agg_target: str) -> None:
    st = AggregatorStore(agg_target)

    def dt(seq: int, end: float | None) -> dict[str, object]:
        return {
            "seq": seq,
            "event_id": "E1",
            "machine": "filler",
            "start": 100.0,
            "end": end,
            "state": "down",
            "auto_reason": "JAM",
            "micro": 0,
        }

    st.ingest(
        Batch(
            line=REF,
            stream="downtime",
            after_seq=0,
            first_seq=1,
            last_seq=2,
            sent_at=0,
            records=[dt(1, None), dt(2, 160.0)],
        )
    )
    st.ingest(
        Batch(
            line=REF,
            stream="downtime",
            after_seq=0,
            first_seq=1,
            last_seq=1,
            sent_at=0,
            records=[dt(1, None)],
        )
    )
    assert st.query("SELECT event_id, end_ts, seq FROM downtime") == [("E1", 160.0, 2)]


def test_projections_read_records_through_their_schema(agg_target: str) -> None:
    """Plant tables take what the protocol's record schema says; a record it refuses
    fails the whole batch (the service dead-letters it) and nothing is kept."""
    from sync.protocol import RecordError

    st = AggregatorStore(agg_target)

    def edit(seq: int, kind: str) -> dict[str, object]:
        return {
            "seq": seq,
            "ts": 1.0,
            "kind": kind,
            "event_id": "E1",
            "reason": "JAM",
            "at": None,
            "comment": "c",
            "by": "ann",
        }

    st.ingest(
        Batch(line=REF, stream="downtime_edits", after_seq=0, first_seq=1, last_seq=2, sent_at=0,
              records=[edit(1, "assign"), edit(2, "split")])
    )  # fmt: skip
    assert st.query("SELECT event_id, reason, by_who, seq FROM downtime_reasons") == [("E1", "JAM", "ann", 1)]
    alarm = {
        "seq": 1,
        "ts": 1.0,
        "characteristic": "fill",
        "kind": "loud",
        "rule": "r",
        "detail": "d",
        "value": 1.0,
    }
    with pytest.raises(RecordError, match="spc_alarms record 1: kind"):
        st.ingest(
            Batch(
                line=REF,
                stream="spc_alarms",
                after_seq=0,
                first_seq=1,
                last_seq=1,
                sent_at=0,
                records=[alarm],
            )
        )
    assert st.ack(LINE, "spc_alarms") == 0 and st.records(LINE, "spc_alarms") == []
    assert st.query("SELECT count(*) FROM spc_alarms") == [(0,)]


# --------------------------------------------------------------------- guards (issue 13)

INC_A, INC_B = "a" * 32, "b" * 32


def inc_batch(first: int, last: int, inc: str, value: int = 10) -> Batch:
    b = batch(first, last)
    recs = [{"seq": s, "value": s * value} for s in range(first, last + 1)]
    return b.model_copy(update={"incarnation": inc, "records": recs})


def test_a_recreated_store_is_a_new_incarnation_not_old_data(agg_target: str) -> None:
    """Finding 1: a line store recreated starts at seq 1 again. Before, the plant took
    its batches for ones already received (ack 30 ≥ 5) and they were lost."""
    st = AggregatorStore(agg_target)
    assert st.ingest(batch(1, 30)) == 30  # a line from before incarnations
    assert st.ingest(inc_batch(31, 40, INC_A)) == 40  # upgraded: its incarnation adopts them
    assert st.incarnations()[0]["incarnation"] == INC_A
    assert st.ingest(inc_batch(1, 5, INC_B, value=7)) == 5  # the store recreated
    assert st.ack(LINE, "samples", INC_A) == 40 and st.ack(LINE, "samples", INC_B) == 5
    assert st.ack(LINE, "samples") == 5  # the latest incarnation's
    assert [r["value"] for r in st.records(LINE, "samples")] == [7, 14, 21, 28, 35]
    assert len(st.records(LINE, "samples", INC_A)) == 40
    assert [(i["incarnation"], i["epoch"]) for i in st.incarnations()] == [(INC_A, 0), (INC_B, 1)]


def test_dead_letters_are_bounded_in_size_and_number(agg_target: str) -> None:
    """Finding 8: 20 × 6 MB grew the plant store to 126 MB."""
    st = AggregatorStore(agg_target, dead_letter_bytes=1000, dead_letters_keep=10, dead_letters_days=1)
    for i in range(25):
        st.dead_letter("lineside/v1/x", "schema", f"big {i}", b"x" * 6_000_000, now=1000.0 + i)
    st.trim_dead_letters(1100.0)
    kept = st.dead_letters()
    assert len(kept) == 10 and kept[0]["error"] == "big 24"
    assert all(len(d["payload"]) == 1000 and d["payload_len"] == 6_000_000 for d in kept)
    st.trim_dead_letters(1000.0 + 2 * 86400)  # older than a day: gone
    assert st.dead_letters() == []
