"""The Modbus fast path, pure: a block decoder that reports only the tags whose registers
changed, bit for bit, with word and byte order, scaling, bits and strings as before."""

from __future__ import annotations

import math
import struct

from hypothesis import given
from hypothesis import strategies as st

from edge.config.devices import Tag
from edge.drivers.modbus_codec import (
    BitDecoder,
    BlockDecoder,
    decode_registers,
    encode_value,
    parse_address,
    register_bytes,
)


def tag(name: str, address: str, type_: str = "float32", **kw: object) -> Tag:
    return Tag.model_validate({"name": name, "device": "d", "address": address, "type": type_} | kw)


def block(tags: list[Tag]) -> tuple[BlockDecoder, int]:
    members = [(t, parse_address(t)) for t in tags]
    start = min(a.address for _, a in members)
    end = max(a.address + max(a.words, 1) for _, a in members)
    return BlockDecoder(start, members), end - start


#: 50 float32 tags fill a 100-register block.
FLOATS = [tag(f"f{i:02d}", f"hr:{2 * i}") for i in range(50)]

#: One of each kind the fast and the slow path decode, with a gap in between.
MIXED = [
    tag("i16", "hr:0", "int16"),
    tag("u32", "hr:1", "uint32"),
    tag("f64", "hr:3", "float64"),
    tag("scaled", "hr:7", "int16", scale=0.1, offset=-40),
    tag("f32le", "hr:8", word_order="little"),
    tag("u32bs", "hr:10", "uint32", word_order="little", byte_order="little"),
    tag("bit", "hr:12.3", "bool"),
    tag("str", "hr:13", "string", length=5),
    tag("i64", "hr:20", "int64"),  # hr:16..19 are a gap the planner read through
]
MIXED_VALUES = {
    "i16": -1234,
    "u32": 4_000_000_000,
    "f64": math.pi,
    "scaled": 25.5,
    "f32le": 1234.5,
    "u32bs": 305419896,
    "bit": True,
    "str": "AB12Z",
    "i64": -(2**62),
}


def registers(tags: list[Tag], values: dict[str, object], count: int) -> list[int]:
    regs = [0] * count
    for t in tags:
        a = parse_address(t)
        if a.bit is not None:
            regs[a.address] = (regs[a.address] & ~(1 << a.bit)) | (int(bool(values[t.name])) << a.bit)
        else:
            words = encode_value(t, values[t.name])  # type: ignore[arg-type]
            regs[a.address : a.address + len(words)] = words
    return regs


def test_an_unchanged_block_yields_nothing_and_forget_or_full_yields_every_tag() -> None:
    dec, count = block(FLOATS)
    raw = register_bytes([(7 * i) & 0xFFFF for i in range(count)])
    assert [n for n, _ in dec.changes(raw)] == [t.name for t in FLOATS]
    assert dec.changes(raw) == []
    assert dec.changes(bytes(raw)) == []  # equal bytes, another object
    assert len(dec.changes(raw, full=True)) == 50
    dec.forget()
    assert len(dec.changes(raw)) == 50


def test_one_register_changed_in_a_100_register_block_yields_exactly_that_tag() -> None:
    dec, count = block(FLOATS)
    values = {t.name: float(i) for i, t in enumerate(FLOATS)}
    regs = registers(FLOATS, values, count)
    dec.changes(register_bytes(regs))
    for reg in (0, 1, 57, 99):  # high and low word of a float
        regs2 = list(regs)
        regs2[reg] ^= 0x0040
        expect = FLOATS[reg // 2]
        a = parse_address(expect)
        want = decode_registers(expect, a, regs2[a.address : a.address + 2])
        assert dec.changes(register_bytes(regs2)) == [(expect.name, want)]
        assert dec.changes(register_bytes(regs)) == [(expect.name, values[expect.name])]


def test_word_and_byte_order_scaling_bits_and_strings_decode_as_before() -> None:
    dec, count = block(MIXED)
    regs = registers(MIXED, MIXED_VALUES, count)
    raw = register_bytes(regs)
    expect = {
        t.name: decode_registers(t, a, regs[a.address : a.address + max(a.words, 1)])
        for t, a in ((t, parse_address(t)) for t in MIXED)
    }
    assert dict(dec.decode(raw)) == expect
    assert dict(dec.changes(raw)) == expect
    assert math.isclose(expect.pop("scaled"), 25.5)  # type: ignore[arg-type]
    assert expect == {k: v for k, v in MIXED_VALUES.items() if k != "scaled"}


@given(
    new=st.fixed_dictionaries(
        {
            "i16": st.integers(-(2**15), 2**15 - 1),
            "u32": st.integers(0, 2**32 - 1),
            "f64": st.floats(allow_nan=False),
            "scaled": st.integers(-300, 300).map(lambda i: i / 10),
            "f32le": st.floats(width=32, allow_nan=False),
            "u32bs": st.integers(0, 2**32 - 1),
            "bit": st.booleans(),
            "str": st.text("ABCXYZ019-", max_size=5),
            "i64": st.integers(-(2**63), 2**63 - 1),
        }
    ),
    which=st.sets(st.sampled_from(sorted(MIXED_VALUES))),
)
def test_changing_any_tags_reports_exactly_those_with_their_values(
    new: dict[str, object], which: set[str]
) -> None:
    """Whatever subset of a mixed block changes, exactly the tags whose registers changed
    are reported, each with the value the per-tag decoder gives."""
    dec, count = block(MIXED)
    regs = registers(MIXED, MIXED_VALUES, count)
    dec.changes(register_bytes(regs))
    values = MIXED_VALUES | {k: new[k] for k in which}
    regs2 = registers(MIXED, values, count)
    got = dict(dec.changes(register_bytes(regs2)))
    changed = set()
    for t in MIXED:
        a = parse_address(t)
        lo, hi = a.address, a.address + max(a.words, 1)
        if regs[lo:hi] != regs2[lo:hi]:  # a bit tag is alone in its register here
            changed.add(t.name)
    assert set(got) == changed
    for name, v in got.items():
        t = next(t for t in MIXED if t.name == name)
        a = parse_address(t)
        assert v == decode_registers(t, a, regs2[a.address : a.address + max(a.words, 1)])


def test_a_nan_that_stays_the_same_nan_is_unchanged_and_another_payload_is_a_change() -> None:
    t = tag("x", "hr:0")
    dec, _ = block([t])
    nan1, nan2 = struct.pack(">I", 0x7FC00000), struct.pack(">I", 0x7FC00001)
    assert math.isnan(dict(dec.changes(nan1))["x"])  # type: ignore[arg-type]
    assert dec.changes(nan1) == []
    assert [n for n, _ in dec.changes(nan2)] == ["x"]


def test_coils_report_changed_bits_only() -> None:
    tags = [tag(f"c{i}", f"co:{10 + 3 * i}", "bool") for i in range(4)]
    dec = BitDecoder(10, [(t, parse_address(t)) for t in tags])
    bits = [False] * 16
    assert dec.changes(bits) == [("c0", False), ("c1", False), ("c2", False), ("c3", False)]
    assert dec.changes(list(bits)) == []
    bits2 = list(bits)
    bits2[3] = True  # co:13 = c1 (offsets count from the block start, co:10)
    bits2[1] = True  # co:11, not a member
    assert dec.changes(bits2) == [("c1", True)]
    assert len(dec.changes(bits2, full=True)) == 4
