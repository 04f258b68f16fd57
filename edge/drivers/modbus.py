"""Modbus TCP and RTU driver (pymodbus 3.x asyncio client).

A poll group is read with the fewest requests the planner allows; decoding is the pure
codec. Transport faults raise DriverError (device fault); a Modbus exception response
(e.g. illegal address) marks only the tags of that request bad.
"""

from __future__ import annotations

import asyncio
import logging
import struct
from collections.abc import Sequence
from typing import Any

from pymodbus import FramerType
from pymodbus.client import AsyncModbusSerialClient, AsyncModbusTcpClient
from pymodbus.exceptions import ModbusException

from edge.config.devices import ModbusRtuDevice, ModbusTcpDevice, Tag
from edge.core.errors import DriverError
from edge.drivers.base import OnUpdate, Reading
from edge.drivers.modbus_codec import encode_value, parse_address
from edge.drivers.modbus_plan import ReadBlock, plan_reads
from edge.logic.model import Quality

logging.getLogger("pymodbus").setLevel(logging.CRITICAL)  # we log faults once ourselves


class ModbusDriver:
    def __init__(self, device: ModbusTcpDevice | ModbusRtuDevice, tags: list[Tag]) -> None:
        self.device = device
        self.name = device.name
        self.client: AsyncModbusTcpClient | AsyncModbusSerialClient | None = None
        self._plans: dict[tuple[str, ...], list[ReadBlock]] = {}
        self.requests = 0  # for benchmarks and tests: round trips made

    def _make_client(self) -> AsyncModbusTcpClient | AsyncModbusSerialClient:
        d = self.device
        # reconnect_delay=0: the agent owns reconnects (capped backoff with jitter).
        if isinstance(d, ModbusTcpDevice):
            return AsyncModbusTcpClient(
                d.host, port=d.port, timeout=d.timeout_s, retries=0, reconnect_delay=0
            )
        return AsyncModbusSerialClient(
            d.serial_port,
            framer=FramerType.RTU,
            baudrate=d.baudrate,
            parity=d.parity,
            stopbits=d.stopbits,
            bytesize=d.bytesize,
            timeout=d.timeout_s,
            retries=0,
            reconnect_delay=0,
        )

    async def connect(self) -> None:
        await self.close()
        self.client = self._make_client()
        try:
            ok = await asyncio.wait_for(self.client.connect(), self.device.timeout_s + 1)
        except (TimeoutError, OSError, ModbusException) as e:
            ok = False
            err = str(e) or type(e).__name__
        else:
            err = "connection refused or port not available"
        if not ok:
            await self.close()
            raise DriverError(self.name, f"cannot connect: {err}")

    async def close(self) -> None:
        if self.client is not None:
            try:
                self.client.close()
            except Exception:
                pass
            self.client = None

    def plan(self, tags: Sequence[Tag]) -> list[ReadBlock]:
        key = tuple(t.name for t in tags)
        if key not in self._plans:
            d = self.device
            self._plans[key] = plan_reads(
                list(tags), d.unit, max_registers=d.max_registers, max_bits=d.max_bits, max_gap=d.max_gap
            )
        return self._plans[key]

    async def _request(self, table: str, start: int, count: int, unit: int) -> Any:
        c = self.client
        if c is None or not c.connected:
            raise DriverError(self.name, "not connected")
        fn = {
            "hr": c.read_holding_registers,
            "ir": c.read_input_registers,
            "co": c.read_coils,
            "di": c.read_discrete_inputs,
        }[table]
        self.requests += 1
        # pymodbus enforces timeout_s per request; the device runner bounds the whole poll.
        try:
            return await fn(start, count=count, device_id=unit)
        except ModbusException as e:
            raise DriverError(self.name, f"communication failed: {e}") from None
        except OSError as e:
            raise DriverError(self.name, f"connection lost: {e}") from None

    async def read(self, tags: Sequence[Tag]) -> list[Reading]:
        blocks = self.plan(tags)
        # pymodbus keeps one request in flight per connection; queuing all blocks at once
        # sends each as soon as the previous answer is in, and decoding waits until the
        # round trips are done instead of sitting between them.
        responses = await asyncio.gather(*(self._request(b.table, b.start, b.count, b.unit) for b in blocks))
        out: list[Reading] = []
        add = out.append
        for block, rsp in zip(blocks, responses, strict=True):
            if rsp.isError():
                err = f"device refused {block.table}:{block.start}+{block.count} (unit {block.unit}): {rsp}"
                out.extend(Reading(t.name, None, Quality.BAD, error=err) for t, _a in block.members)
                continue
            if block.decoder is None:
                bits = rsp.bits
                out.extend(Reading(t.name, bool(bits[a.address - block.start])) for t, a in block.members)
                continue
            regs = rsp.registers
            if len(regs) < block.count:
                err = f"short answer: {len(regs)} of {block.count} registers"
                out.extend(Reading(t.name, None, Quality.BAD, error=err) for t, _a in block.members)
                continue
            try:
                decoded = block.decoder.decode(regs)
            except (ValueError, UnicodeDecodeError, struct.error) as e:
                out.extend(
                    Reading(t.name, None, Quality.BAD, error=f"cannot decode: {e}") for t, _a in block.members
                )
                continue
            for name, value in decoded:
                add(Reading(name, value))
        return out

    async def write(self, tag: Tag, value: Any) -> None:
        c = self.client
        if c is None or not c.connected:
            raise DriverError(self.name, "not connected")
        a = parse_address(tag)
        unit = tag.unit if tag.unit is not None else self.device.unit
        try:
            if a.table == "co":
                rsp = await c.write_coil(a.address, bool(value), device_id=unit)
            elif a.table == "hr" and a.bit is not None:
                cur = await c.read_holding_registers(a.address, count=1, device_id=unit)
                if cur.isError():
                    raise DriverError(self.name, f"read-modify-write of {tag.address} refused: {cur}")
                reg = cur.registers[0]
                reg = (reg | (1 << a.bit)) if value else (reg & ~(1 << a.bit))
                rsp = await c.write_register(a.address, reg, device_id=unit)
            elif a.table == "hr":
                regs = encode_value(tag, value)
                rsp = await c.write_registers(a.address, regs, device_id=unit)
            else:
                raise DriverError(
                    self.name, f"{tag.address}: {a.table} is read-only in Modbus", retryable=False
                )
        except ModbusException as e:
            raise DriverError(self.name, f"write failed: {e}") from None
        if rsp.isError():
            raise DriverError(self.name, f"device refused the write to {tag.address}: {rsp}", retryable=False)

    async def subscribe(self, tags: Sequence[Tag], on_update: OnUpdate) -> list[Tag]:
        return list(tags)

    async def check(self) -> None:
        if self.client is None or not self.client.connected:
            raise DriverError(self.name, "not connected")
