"""Pure Modbus value codec: registers ⇄ typed values, with word and byte order and scaling.

No sockets here, so every combination is unit-testable; the driver and the simulator
both use it, which keeps encode and decode in one place.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import compress
from operator import ne

from edge.config.devices import MODBUS_ADDR_RE, MODBUS_WORDS, Tag

_FMT = {
    "int16": "h",
    "uint16": "H",
    "int32": "i",
    "uint32": "I",
    "int64": "q",
    "uint64": "Q",
    "float32": "f",
    "float64": "d",
}


@dataclass(frozen=True, slots=True)
class ModbusAddress:
    table: str  # hr | ir | co | di
    address: int
    bit: int | None
    words: int  # registers occupied (0 for coils/discrete inputs)

    @property
    def is_bits(self) -> bool:
        return self.table in ("co", "di")


def parse_address(tag: Tag) -> ModbusAddress:
    m = MODBUS_ADDR_RE.match(tag.address)
    if not m:  # config validation already rejects this
        raise ValueError(f"bad Modbus address {tag.address!r}")
    table, addr, bit = m.group(1), int(m.group(2)), m.group(3)
    if table in ("co", "di"):
        words = 0
    elif bit is not None or tag.type == "bool":
        words = 1
    elif tag.type == "string":
        words = ((tag.length or 2) + 1) // 2
    else:
        words = MODBUS_WORDS[tag.type]
    return ModbusAddress(table, addr, int(bit) if bit is not None else None, words)


def _to_bytes(regs: list[int], word_order: str, byte_order: str) -> bytes:
    words = regs if word_order == "big" else list(reversed(regs))
    b = b"".join(w.to_bytes(2, "big") for w in words)
    if byte_order == "little":
        b = b"".join(b[i + 1 : i + 2] + b[i : i + 1] for i in range(0, len(b), 2))
    return b


def _from_bytes(b: bytes, word_order: str, byte_order: str) -> list[int]:
    if byte_order == "little":
        b = b"".join(b[i + 1 : i + 2] + b[i : i + 1] for i in range(0, len(b), 2))
    words = [int.from_bytes(b[i : i + 2], "big") for i in range(0, len(b), 2)]
    return words if word_order == "big" else list(reversed(words))


def decode_registers(tag: Tag, addr: ModbusAddress, regs: list[int]) -> bool | int | float | str:
    """Raw registers of one tag → engineering value (scale and offset applied)."""
    if addr.bit is not None:
        return bool((regs[0] >> addr.bit) & 1)
    if tag.type == "string":
        # Strings are byte streams: word order does not apply, byte order may.
        raw = _to_bytes(regs, "big", tag.byte_order)[: tag.length]
        return raw.split(b"\x00", 1)[0].decode("latin-1").rstrip()
    raw_value = struct.unpack(">" + _FMT[tag.type], _to_bytes(regs, tag.word_order, tag.byte_order))[0]
    return scale(tag, raw_value)


def scale(tag: Tag, raw: int | float) -> int | float:
    if tag.scale == 1.0 and tag.offset == 0.0:
        return raw
    return raw * tag.scale + tag.offset


def unscale(tag: Tag, value: float) -> int | float:
    raw = (value - tag.offset) / tag.scale if (tag.scale != 1.0 or tag.offset != 0.0) else value
    if tag.type.startswith(("int", "uint")):
        if isinstance(raw, float):
            if not math.isfinite(raw):
                raise ValueError(f"{value!r} cannot be written to an integer tag")
            raw = round(raw)
        return int(raw)
    return float(raw)


_RANGES = {
    "int16": (-(2**15), 2**15 - 1),
    "uint16": (0, 2**16 - 1),
    "int32": (-(2**31), 2**31 - 1),
    "uint32": (0, 2**32 - 1),
    "int64": (-(2**63), 2**63 - 1),
    "uint64": (0, 2**64 - 1),
}


def encode_value(tag: Tag, value: bool | int | float | str) -> list[int]:
    """Engineering value → registers for a write (inverse of ``decode_registers``)."""
    if tag.type == "string":
        data = str(value).encode("latin-1")
        if len(data) > (tag.length or 0):  # never cut short silently
            raise ValueError(f"{len(data)} characters do not fit its length of {tag.length or 0}")
        n = ((tag.length or 2) + 1) // 2
        data = data.ljust(2 * n, b"\x00")
        return _from_bytes(data, "big", tag.byte_order)
    if isinstance(value, bool):
        raw: int | float = int(value)
    elif isinstance(value, int) and tag.scale == 1.0 and tag.offset == 0.0:
        raw = value if tag.type.startswith(("int", "uint")) else float(value)  # exact for 64-bit
    else:
        raw = unscale(tag, float(value))
    if tag.type in _RANGES:
        lo, hi = _RANGES[tag.type]
        if not lo <= int(raw) <= hi:
            raise ValueError(f"{value!r} is out of range for {tag.type} ({lo}..{hi} raw)")
    return _from_bytes(struct.pack(">" + _FMT[tag.type], raw), tag.word_order, tag.byte_order)


#: The same layout read as unsigned integers: a value's raw bits, compared to see whether
#: it changed (bit-exact, so a NaN that stays the same NaN is unchanged).
_RAW_FMT = {"h": "H", "H": "H", "i": "I", "I": "I", "q": "Q", "Q": "Q", "f": "I", "d": "Q"}

Value = bool | int | float | str


def register_bytes(regs: Sequence[int]) -> bytes:
    """Registers as the big-endian bytes they travelled as."""
    return struct.pack(f">{len(regs)}H", *regs)


def _registers(raw: bytes) -> list[int]:
    return list(struct.unpack(f">{len(raw) // 2}H", raw))


class BlockDecoder:
    """Decodes a read block's register bytes: every tag at once, or only the tags whose
    registers changed since the last call.

    Tags in big word and byte order that do not overlap are unpacked together with one
    precompiled format (gaps become pad bytes); the rest (little-endian orders, bits
    inside registers, strings, overlapping tags) go through ``decode_registers``.
    """

    def __init__(self, start: int, members: list[tuple[Tag, ModbusAddress]]) -> None:
        self.start = start
        fast: list[tuple[Tag, ModbusAddress]] = []
        self.slow: list[tuple[Tag, ModbusAddress]] = []
        pos = start
        fmt = raw_fmt = ">"
        for t, a in sorted(members, key=lambda m: m[1].address):
            simple = t.type in _FMT and a.bit is None and t.word_order == "big" and t.byte_order == "big"
            if simple and a.address >= pos:
                if a.address > pos:
                    fmt += f"{2 * (a.address - pos)}x"
                    raw_fmt += f"{2 * (a.address - pos)}x"
                fmt += _FMT[t.type]
                raw_fmt += _RAW_FMT[_FMT[t.type]]
                pos = a.address + a.words
                fast.append((t, a))
            else:
                self.slow.append((t, a))
        self.struct = struct.Struct(fmt) if fast else None
        self.raw_struct = struct.Struct(raw_fmt) if fast else None
        self.fast_names = [t.name for t, _ in fast]
        self.scaled = {i: t for i, (t, _) in enumerate(fast) if t.scale != 1.0 or t.offset != 0.0}
        #: (tag, address, first byte, end byte) of each slow tag within the block's bytes
        self.slow_spans = [
            (t, a, 2 * (a.address - start), 2 * (a.address - start + max(a.words, 1))) for t, a in self.slow
        ]
        self.forget()

    def forget(self) -> None:
        """Drop what the block last held: the next ``changes`` reports every tag (after a
        reconnect, an error answer, or whenever the reported values may be BAD)."""
        self.last: bytes | None = None
        self.last_bits: tuple[int, ...] = ()
        self.last_slow: list[bytes | None] = [None] * len(self.slow)

    def _values(self, raw: bytes) -> list[Value]:
        assert self.struct is not None
        values: list[Value] = list(self.struct.unpack_from(raw))
        for i, t in self.scaled.items():
            values[i] = values[i] * t.scale + t.offset  # type: ignore[operator]
        return values

    def decode(self, raw: bytes) -> list[tuple[str, Value]]:
        """Every tag of the block (stateless); ``raw`` is the block's register bytes."""
        out: list[tuple[str, Value]] = []
        if self.struct is not None:
            out.extend(zip(self.fast_names, self._values(raw), strict=True))
        for t, a, lo, hi in self.slow_spans:
            out.append((t.name, decode_registers(t, a, _registers(raw[lo:hi]))))
        return out

    def changes(self, raw: bytes, full: bool = False) -> list[tuple[str, Value]]:
        """The tags whose registers differ from the last call's (every tag when ``full``
        or after ``forget``), then remember ``raw``.

        An unchanged block costs one bytes comparison; in a changed block the fast tags
        are compared as raw integers (one ``struct`` call) and only changed ones kept.
        """
        last, self.last = self.last, raw
        if raw == last and not full:
            return []
        out: list[tuple[str, Value]] = []
        if self.raw_struct is not None:
            bits = self.raw_struct.unpack_from(raw)
            old, self.last_bits = self.last_bits, bits
            if last is None or full:
                out.extend(zip(self.fast_names, self._values(raw), strict=True))
            elif bits != old:
                out.extend(compress(zip(self.fast_names, self._values(raw), strict=True), map(ne, bits, old)))
        for i, (t, a, lo, hi) in enumerate(self.slow_spans):
            seg = raw[lo:hi]
            if full or seg != self.last_slow[i]:
                self.last_slow[i] = seg
                out.append((t.name, decode_registers(t, a, _registers(seg))))
        return out


class BitDecoder:
    """A coil or discrete-input block: each member's bit, and what changed since the last call."""

    def __init__(self, start: int, members: list[tuple[Tag, ModbusAddress]]) -> None:
        self.names = [t.name for t, _ in members]
        self.offsets = [a.address - start for _, a in members]
        self.forget()

    def forget(self) -> None:
        """The next ``changes`` reports every member."""
        self.last: Sequence[bool] | None = None

    def decode(self, bits: Sequence[bool]) -> list[tuple[str, Value]]:
        """Every member (stateless)."""
        return [(n, bool(bits[o])) for n, o in zip(self.names, self.offsets, strict=True)]

    def changes(self, bits: Sequence[bool], full: bool = False) -> list[tuple[str, Value]]:
        """The members whose bit differs from the last call's (all when ``full`` or after ``forget``)."""
        last, self.last = self.last, bits
        if last is None or full:
            return self.decode(bits)
        if bits == last:
            return []
        return [
            (n, bool(bits[o])) for n, o in zip(self.names, self.offsets, strict=True) if bits[o] != last[o]
        ]
