"""Read planner: merge a poll group's Modbus tags into as few contiguous requests as possible.

Tags are grouped by (unit, table), sorted by address, and merged while the merged block
stays within the request limit (125 registers / 2000 bits) and the hole between two tags
is at most ``max_gap`` unused registers. Reading a few unused registers is cheaper than
another round trip.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from edge.config.devices import Tag
from edge.drivers.modbus_codec import BitDecoder, BlockDecoder, ModbusAddress, parse_address


@dataclass
class ReadBlock:
    unit: int
    table: str
    start: int
    count: int
    members: list[tuple[Tag, ModbusAddress]] = field(default_factory=list)
    decoder: BlockDecoder | BitDecoder | None = None  # set by plan_reads

    @property
    def bits(self) -> bool:
        return self.table in ("co", "di")

    @property
    def end(self) -> int:
        return self.start + self.count


def plan_reads(
    tags: list[Tag], default_unit: int, *, max_registers: int = 125, max_bits: int = 2000, max_gap: int = 10
) -> list[ReadBlock]:
    groups: dict[tuple[int, str], list[tuple[Tag, ModbusAddress]]] = {}
    for t in tags:
        a = parse_address(t)
        unit = t.unit if t.unit is not None else default_unit
        groups.setdefault((unit, a.table), []).append((t, a))
    blocks: list[ReadBlock] = []
    for (unit, table), items in sorted(groups.items()):
        items.sort(key=lambda ta: ta[1].address)
        limit = max_bits if table in ("co", "di") else max_registers
        cur: ReadBlock | None = None
        for t, a in items:
            size = max(a.words, 1)
            if cur is not None:
                new_end = max(cur.end, a.address + size)
                gap = a.address - cur.end
                if gap <= max_gap and new_end - cur.start <= limit:
                    cur.count = new_end - cur.start
                    cur.members.append((t, a))
                    continue
            cur = ReadBlock(unit, table, a.address, size, [(t, a)])
            blocks.append(cur)
    for b in blocks:
        b.decoder = BitDecoder(b.start, b.members) if b.bits else BlockDecoder(b.start, b.members)
    return blocks
