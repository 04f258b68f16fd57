"""Pure Modbus codec and read planner (no sockets)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edge.config.devices import Tag
from edge.drivers.modbus_codec import decode_registers, encode_value, parse_address
from edge.drivers.modbus_plan import plan_reads

RANGES = {
    "int16": (-(2**15), 2**15 - 1),
    "uint16": (0, 2**16 - 1),
    "int32": (-(2**31), 2**31 - 1),
    "uint32": (0, 2**32 - 1),
    "int64": (-(2**63), 2**63 - 1),
    "uint64": (0, 2**64 - 1),
}


def tag(**kw: object) -> Tag:
    base = {"name": "t", "device": "d", "address": "hr:0", "type": "int16"}
    return Tag.model_validate(base | kw)


@pytest.mark.parametrize("type_", list(RANGES))
@given(data=st.data(), word=st.sampled_from(["big", "little"]), byte=st.sampled_from(["big", "little"]))
def test_integer_round_trip(type_: str, data: st.DataObject, word: str, byte: str) -> None:
    lo, hi = RANGES[type_]
    v = data.draw(st.integers(lo, hi))
    t = tag(type=type_, word_order=word, byte_order=byte)
    regs = encode_value(t, v)
    assert all(0 <= r <= 0xFFFF for r in regs)
    assert decode_registers(t, parse_address(t), regs) == v


@given(v=st.floats(allow_nan=False, allow_infinity=False, width=32), word=st.sampled_from(["big", "little"]))
def test_float32_round_trip(v: float, word: str) -> None:
    t = tag(type="float32", word_order=word)
    assert decode_registers(t, parse_address(t), encode_value(t, v)) == v


def test_known_word_orders() -> None:
    """0x12345678 big-endian words = [0x1234, 0x5678]; little word order swaps them."""
    assert encode_value(tag(type="uint32"), 0x12345678) == [0x1234, 0x5678]
    assert encode_value(tag(type="uint32", word_order="little"), 0x12345678) == [0x5678, 0x1234]
    assert encode_value(tag(type="uint32", byte_order="little"), 0x12345678) == [0x3412, 0x7856]
    # 1.0f = 0x3F800000
    assert encode_value(tag(type="float32"), 1.0) == [0x3F80, 0x0000]
    assert (
        decode_registers(
            tag(type="float64"), parse_address(tag(type="float64")), [0x4009, 0x21FB, 0x5444, 0x2D18]
        )
        == math.pi
    )


def test_scale_offset_and_bits_and_strings() -> None:
    t = tag(type="int16", scale=0.1, offset=-40)
    assert decode_registers(t, parse_address(t), [650]) == pytest.approx(25.0)
    assert encode_value(t, 25.0) == [650]
    b = tag(type="bool", address="hr:3.5")
    assert decode_registers(b, parse_address(b), [0b100000]) is True
    assert decode_registers(b, parse_address(b), [0b011111]) is False
    s = tag(type="string", length=5)
    regs = encode_value(s, "AB12Z")
    assert len(regs) == 3 and decode_registers(s, parse_address(s), regs) == "AB12Z"


def test_out_of_range_write_is_refused() -> None:
    with pytest.raises(ValueError, match="out of range for int16"):
        encode_value(tag(type="int16"), 40000)


def test_planner_merges_within_gap_and_limit() -> None:
    tags = [
        tag(name="a", address="hr:0", type="float32"),
        tag(name="b", address="hr:2", type="int16"),
        tag(name="c", address="hr:10", type="int16"),  # gap 7 <= 10: merged
        tag(name="d", address="hr:40", type="int16"),  # gap 29: new block
        tag(name="e", address="ir:0", type="int16"),  # other table
        tag(name="f", address="hr:0", type="int16", unit=2),  # other unit
        tag(name="g", address="co:3", type="bool"),
        tag(name="h", address="co:100", type="bool"),  # bits merge across small gaps only
    ]
    blocks = plan_reads(tags, 1, max_gap=10)
    summary = sorted((b.unit, b.table, b.start, b.count, tuple(t.name for t, _ in b.members)) for b in blocks)
    assert summary == [
        (1, "co", 3, 1, ("g",)),
        (1, "co", 100, 1, ("h",)),
        (1, "hr", 0, 11, ("a", "b", "c")),
        (1, "hr", 40, 1, ("d",)),
        (1, "ir", 0, 1, ("e",)),
        (2, "hr", 0, 1, ("f",)),
    ]


@given(addrs=st.lists(st.integers(0, 3000), min_size=1, max_size=80, unique=True), gap=st.integers(0, 20))
def test_planner_blocks_cover_every_tag_within_125(addrs: list[int], gap: int) -> None:
    tags = [tag(name=f"t{i}", address=f"hr:{a}", type="int32") for i, a in enumerate(addrs)]
    blocks = plan_reads(tags, 1, max_gap=gap)
    assert sum(len(b.members) for b in blocks) == len(tags)
    for b in blocks:
        assert b.count <= 125
        for _t, a in b.members:
            assert b.start <= a.address and a.address + a.words <= b.end
