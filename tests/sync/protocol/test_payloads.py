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


# --------------------------------------------------------------------- decode_batch


def _slow(payload: bytes) -> tuple[str, object]:
    from sync.protocol import Batch, PayloadError, decode

    try:
        b = decode(Batch, payload)
    except PayloadError as e:
        return "refused:" + e.kind, None
    return "ok", b


def _fast(payload: bytes) -> tuple[str, object, list[str] | None]:
    from sync.protocol import PayloadError, decode_batch

    try:
        b, texts = decode_batch(payload)
    except PayloadError as e:
        return "refused:" + e.kind, None, None
    return "ok", b, texts


LINE_JSON = '{"enterprise":"acme","site":"s","area":"a","line":"l"}'
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**40), 2**40)
    | st.floats()  # NaN and infinities too: both paths refuse them
    | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3)
        # Nested keys, ``records`` among them: the fast path must not take one for the batch's.
        | st.dictionaries(st.sampled_from(["records", "seq", "x"]) | st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)


@given(
    seqs=st.one_of(
        st.lists(st.integers(1, 50), max_size=6),
        st.lists(st.integers(1, 50), max_size=6).map(lambda xs: sorted(set(xs))),  # mostly valid
    ),
    extra=st.dictionaries(st.sampled_from(["tag", "value", "records", "x y", 'q"']), json_values, max_size=3),
    spaces=st.booleans(),
    records_first=st.booleans(),
    junk=st.sampled_from(["", ',"records":[]', ',"oops":1', "x", ',"x":{"records":[{"seq":1}]}']),
    nested_line=st.booleans(),
)
def test_decode_batch_agrees_with_decode(
    seqs: list[int], extra: dict, spaces: bool, records_first: bool, junk: str, nested_line: bool
) -> None:  # type: ignore[type-arg]
    """The fast path (records scanned once, kept as text) accepts and refuses exactly what
    the plain pydantic path does, yields the same batch, and each text is its record."""
    import json

    sep = ", " if spaces else ","
    recs = [json.dumps({"seq": s, **extra}, separators=(sep, ": " if spaces else ":")) for s in seqs]
    records = f'"records":{" " if spaces else ""}[{sep.join(recs)}]'
    head = [
        '"line":' + (LINE_JSON[:-1] + ',"records":[{"seq":1}]}' if nested_line else LINE_JSON),
        '"stream":"samples"',
        f'"after_seq":{min(seqs, default=1) - 1}',
        f'"first_seq":{seqs[0] if seqs else 1}',
        f'"last_seq":{seqs[-1] if seqs else 1}',
        '"sent_at":1.5',
    ]
    fields = [records, *head] if records_first else [*head, records]
    payload = ("{" + sep.join(fields) + junk + "}").encode()
    slow, fast = _slow(payload), _fast(payload)
    assert slow[0] == fast[0], (payload, slow, fast)
    if slow[0] == "ok":
        assert fast[1] == slow[1]
        assert [json.loads(t) for t in fast[2]] == slow[1].records  # type: ignore[union-attr]


def test_decode_batch_refuses_like_decode() -> None:
    for bad in (b"", b"\xff\xfe", b"[]", b'{"records":[1]}', b'{"records":[{"seq":1}', b"{}"):
        assert _slow(bad)[0] == _fast(bad)[0] != "ok", bad
