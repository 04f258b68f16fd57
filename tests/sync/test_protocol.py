"""The MQTT protocol's topics and payloads (pure): layout, round trips, and errors that
name the field."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edge.cli import main
from sync.protocol import (
    ROOT,
    Ack,
    Batch,
    Command,
    LineRef,
    PayloadError,
    Topics,
    aggregator_subscriptions,
    decode,
    encode,
    parse_topic,
)
from tests.conftest import REPO

T = Topics("acme", "hamburg", "filling", "line1")
REF = LineRef(enterprise="acme", site="hamburg", area="filling", line="line1")


def test_topic_layout() -> None:
    assert T.stream("samples") == "lineside/v1/acme/hamburg/filling/line1/samples"
    assert T.state("status") == "lineside/v1/acme/hamburg/filling/line1/state/status"
    assert T.ack("counts") == "lineside/v1/acme/hamburg/filling/line1/ack/counts"
    assert T.cmd("work_order") == "lineside/v1/acme/hamburg/filling/line1/cmd/work_order"
    assert T.cmd_ack == "lineside/v1/acme/hamburg/filling/line1/cmd-ack"
    assert parse_topic(T.ack("counts")) == (T, "ack/counts")
    with pytest.raises(ValueError, match="is not under lineside/v1"):
        parse_topic("plant/x/y")
    subs = aggregator_subscriptions()
    assert f"$share/lineside-aggregator/{ROOT}/+/+/+/+/+" in subs


@given(first=st.integers(1, 10**9), n=st.integers(1, 50))
def test_batch_round_trip(first: int, n: int) -> None:
    b = Batch(
        line=REF,
        stream="samples",
        after_seq=first - 1,
        first_seq=first,
        last_seq=first + n - 1,
        sent_at=1.5,
        records=[{"seq": first + i, "v": i} for i in range(n)],
    )
    assert decode(Batch, encode(b)) == b


@pytest.mark.parametrize(
    ("raw", "kind", "message"),
    [
        (b"{not json", "not_json", "Batch: (payload): Invalid JSON"),
        (b'{"v": 2}', "schema", "Batch: v: Input should be 1"),
        (
            b'{"v":1,"line":{"enterprise":"a","site":"b","area":"c","line":"d"},"stream":"s","after_seq":0,"first_seq":5,"last_seq":4,"sent_at":0,"records":[{"seq":5}]}',
            "schema",
            "last_seq is below first_seq",
        ),
        (
            b'{"v":1,"line":{"enterprise":"a","site":"b","area":"c","line":"d"},"stream":"s","after_seq":0,"first_seq":1,"last_seq":2,"sent_at":0,"records":[{"seq":2},{"seq":1}]}',
            "schema",
            "record seqs must rise strictly",
        ),
        (
            b'{"v":1,"line":{"enterprise":"a","site":"b","area":"c","line":"d"},"stream":"s","after_seq":0,"first_seq":1,"last_seq":1,"sent_at":0,"records":[{"seq":1}],"extra":1}',
            "schema",
            "extra: Extra inputs are not permitted",
        ),
    ],
)
def test_bad_payloads_name_the_problem(raw: bytes, kind: str, message: str) -> None:
    with pytest.raises(PayloadError) as e:
        decode(Batch, raw)
    assert e.value.kind == kind and message in str(e.value)


@given(st.binary(max_size=300))
def test_fuzzed_bytes_never_escape_as_other_errors(raw: bytes) -> None:
    """Any input either decodes to the model or raises PayloadError with a known kind."""
    for model in (Batch, Ack, Command):
        try:
            result = decode(model, raw)
        except PayloadError as e:
            assert e.kind in ("not_json", "schema") and str(e).startswith(model.__name__)
        else:
            assert isinstance(result, model)


def test_topics_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["topics", "-c", str(REPO / "config" / "line1.yaml")]) == 0
    out = capsys.readouterr().out
    assert "lineside/v1/acme/hamburg/filling/line1/state/status" in out and "confined to" in out
