"""The lean Modbus path records exactly what reading every tag on every poll records:
the block decoder reports only changed tags, the change filter's heartbeat clock asks for
every tag when a heartbeat is due, and the filter keeps the same rows."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from edge.config.devices import Tag
from edge.drivers import Reading
from edge.drivers.modbus_codec import BlockDecoder, parse_address, register_bytes
from edge.logic.model import Quality
from edge.runtime.acquire import ChangeFilter

G, B = Quality.GOOD, Quality.BAD


def tag(name: str, address: str, type_: str = "int16", **kw: object) -> Tag:
    return Tag.model_validate({"name": name, "device": "d", "address": address, "type": type_} | kw)


TAGS = [
    tag("plain", "hr:0"),
    tag("f32", "hr:1", "float32"),
    tag("band", "hr:3", deadband={"absolute": 2, "max_interval_s": None}),
    tag("beat", "hr:4", deadband={"absolute": 2, "max_interval_s": 0.7}),
    tag("pct", "hr:5", "uint16", deadband={"percent": 10, "max_interval_s": 1.3}),
    tag("le", "hr:6", "int32", word_order="little", deadband={"absolute": 5}),  # heartbeat 60 s
    tag("bit", "hr:8.2", "bool"),
    tag("scaled", "hr:9", scale=0.5, offset=1, deadband={"absolute": 0.2, "max_interval_s": 0.4}),
]
COUNT = 10
#: Register values that repeat often and never make a float32 NaN or infinity.
WORDS = [0, 1, 2, 3, 7, 0x3F80, 0x4000, 0x8000, 0xC000]


def full_path(f: ChangeFilter, dec: BlockDecoder, regs: list[int] | None, now: float) -> list[tuple]:
    if regs is None:  # the block was refused: every tag BAD
        readings = [Reading(t.name, None, B) for t in TAGS]
    else:
        readings = [Reading(n, v) for n, v in dec.decode(register_bytes(regs))]
    return [(r.tag, r.value, r.quality) for r in f.accept_many(readings, now)]


def lean_path(f: ChangeFilter, dec: BlockDecoder, due, regs: list[int] | None, now: float) -> list[tuple]:  # type: ignore[no-untyped-def]
    # What ModbusDriver.changes and DeviceRunner._poll do for one block.
    if regs is None:
        dec.forget()
        readings = [Reading(t.name, None, B) for t in TAGS]
    else:
        readings = [Reading(n, v) for n, v in dec.changes(register_bytes(regs), due(now))]
    return [(r.tag, r.value, r.quality) for r in f.accept_many(readings, now)]


@settings(max_examples=300, deadline=None)
@given(seed=st.integers(0, 2**32), steps=st.integers(1, 120), churn=st.floats(0, 1))
def test_lean_path_keeps_the_same_rows_as_reading_every_tag(seed: int, steps: int, churn: float) -> None:
    rng = random.Random(seed)
    members = [(t, parse_address(t)) for t in TAGS]
    dec_full, dec_lean = BlockDecoder(0, members), BlockDecoder(0, members)
    f_full, f_lean = ChangeFilter(TAGS), ChangeFilter(TAGS)
    due = f_lean.heartbeat_check(TAGS)
    regs = [rng.choice(WORDS) for _ in range(COUNT)]
    now = 1000.0
    for _ in range(steps):
        now += rng.choice([0.001, 0.05, 0.1, 0.3, 0.7, 1.3, 2.0])
        if rng.random() < 0.05:
            step: list[int] | None = None
        else:
            for i in range(COUNT):
                if rng.random() < churn * 0.3:
                    regs[i] = rng.choice(WORDS)
            step = list(regs)
        assert lean_path(f_lean, dec_lean, due, step, now) == full_path(f_full, dec_full, step, now)
    assert f_lean.last == f_full.last


def test_heartbeat_clock_is_due_exactly_when_the_filter_would_record_a_heartbeat() -> None:
    t = tag("t", "hr:0", deadband={"absolute": 1, "max_interval_s": 10})
    f = ChangeFilter([t, tag("p", "hr:1")])
    due = f.heartbeat_check([t])
    never = f.heartbeat_check([tag("p", "hr:1")])
    assert not due(0.0)  # nothing recorded yet: nothing to repeat
    assert f.accept("t", 5.0, G, 1.0)
    assert not due(5.0) and not due(10.99)
    assert due(11.0)
    assert not f.accept("t", 5.5, G, 10.99) and f.accept("t", 5.5, G, 11.0)
    assert not due(11.0) and not due(20.9) and due(21.0)
    assert f.accept("t", None, B, 15.0)
    assert not due(30.0)  # a BAD tag has no heartbeat
    assert f.accept("t", 5.0, G, 31.0)
    assert not due(40.5) and due(41.0)
    assert not never(1e12)
