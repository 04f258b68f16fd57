"""Modbus TCP and RTU driver (pymodbus 3.x asyncio client).

A poll group is read with the fewest requests the planner allows; decoding is the pure
codec. Transport faults raise DriverError (device fault); a Modbus exception response
(e.g. illegal address) marks only the tags of that request bad.

Besides ``read`` (every tag, every time) the driver is a ``ChangeReader``: ``fetch``
does the I/O and ``changes`` reports only the tags whose registers changed since the
last poll. Register answers keep their bytes, so an unchanged block costs one bytes
comparison and no per-tag objects.
"""

from __future__ import annotations

import asyncio
import logging
import struct
from collections.abc import Awaitable, Callable, Sequence
from itertools import starmap
from typing import Any

from pymodbus import FramerType
from pymodbus.client import AsyncModbusSerialClient, AsyncModbusTcpClient
from pymodbus.exceptions import ModbusException, ModbusIOException
from pymodbus.pdu.register_message import ReadHoldingRegistersResponse, ReadInputRegistersResponse

from edge.config.devices import ModbusRtuDevice, ModbusTcpDevice, Tag
from edge.core.errors import DriverError
from edge.drivers.base import OnUpdate, Reading
from edge.drivers.modbus_codec import encode_value, parse_address, register_bytes
from edge.drivers.modbus_plan import ReadBlock, plan_reads
from edge.logic.model import Quality

logging.getLogger("pymodbus").setLevel(logging.CRITICAL)  # we log faults once ourselves


class _Registers:
    """Register answers that keep their bytes (``raw``) and unpack ``registers`` only when
    asked: pymodbus unpacks every register with its own struct call, while the driver
    compares and decodes the bytes and never needs the list."""

    function_code: int
    dev_id: int
    transaction_id: int
    raw: bytes = b""
    _registers: Sequence[int] | None = None

    @property
    def registers(self) -> Sequence[int]:
        if self._registers is None:
            self._registers = list(struct.unpack(f">{len(self.raw) // 2}H", self.raw))
        return self._registers

    @registers.setter
    def registers(self, value: Sequence[int]) -> None:
        self._registers = value

    def decode(self, data: bytes) -> None:
        n = data[0]
        if n >= len(data):
            raise ModbusIOException(
                f"byte_count {n} > length of packet {len(data)}", function_code=self.function_code
            )
        self.raw = data[1 : 1 + n - n % 2]
        self._registers = None

    def __str__(self) -> str:
        # pymodbus formats every answer it decodes for a debug line, logged or not: its
        # text with all the registers cost more than decoding them. (With pymodbus debug
        # logging on, the frames themselves are logged.)
        return type(self).__name__


class HoldingRegisters(_Registers, ReadHoldingRegistersResponse):  # type: ignore[misc]
    """The answer to a holding-register read (function 3); registered on each client."""


class InputRegisters(_Registers, ReadInputRegistersResponse):  # type: ignore[misc]
    """The answer to an input-register read (function 4); registered on each client."""


#: Modbus exception codes (Modbus Application Protocol V1.1b3, section 7).
EXCEPTIONS = {
    1: "illegal function",
    2: "illegal data address",
    3: "illegal data value",
    4: "server device failure",
    5: "acknowledge",
    6: "server device busy",
    8: "memory parity error",
    10: "gateway path unavailable",
    11: "gateway target device failed to respond",
}


def refusal(rsp: Any) -> str:
    """A device's error answer in words, the same on every poll (the tag's reason is
    logged and recorded once, and again only when it changes)."""
    code = getattr(rsp, "exception_code", None)
    if isinstance(code, int):
        return f"exception {code} ({EXCEPTIONS.get(code, 'unknown')})"
    return type(rsp).__name__


class ModbusDriver:
    def __init__(self, device: ModbusTcpDevice | ModbusRtuDevice, tags: list[Tag]) -> None:
        self.device = device
        self.name = device.name
        self.client: AsyncModbusTcpClient | AsyncModbusSerialClient | None = None
        self._plans: dict[tuple[str, ...], list[ReadBlock]] = {}
        self._plan_of: dict[int, tuple[Sequence[Tag], list[ReadBlock]]] = {}
        self._requests: dict[str, Callable[..., Awaitable[Any]]] = {}
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
        # A new session starts from nothing: the first poll reports every tag.
        for blocks in self._plans.values():
            for b in blocks:
                if b.decoder is not None:
                    b.decoder.forget()
        self.client = c = self._make_client()
        c.register(HoldingRegisters)
        c.register(InputRegisters)
        self._requests = {
            "hr": c.read_holding_registers,
            "ir": c.read_input_registers,
            "co": c.read_coils,
            "di": c.read_discrete_inputs,
        }
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
        # The device runner passes the same list on every poll: find its plan by identity
        # first (no per-poll key to build), by tag names otherwise.
        hit = self._plan_of.get(id(tags))
        if hit is not None and hit[0] is tags:
            return hit[1]
        key = tuple(t.name for t in tags)
        if key not in self._plans:
            d = self.device
            self._plans[key] = plan_reads(
                list(tags), d.unit, max_registers=d.max_registers, max_bits=d.max_bits, max_gap=d.max_gap
            )
        if len(self._plan_of) >= 64:  # callers that pass a new list each time
            self._plan_of.clear()
        self._plan_of[id(tags)] = (tags, self._plans[key])
        return self._plans[key]

    async def fetch(self, tags: Sequence[Tag]) -> list[Any]:
        """The answers to a poll group's requests, in plan order (I/O only).

        pymodbus keeps one request in flight per connection, so the requests go one
        after another from this coroutine: no task per request, no waiting on the
        client's lock. pymodbus enforces ``timeout_s`` per request; the device runner
        bounds the whole poll.
        """
        blocks = self.plan(tags)
        c = self.client
        if c is None or not c.connected:
            raise DriverError(self.name, "not connected")
        request = self._requests
        out = []
        try:
            for b in blocks:
                self.requests += 1
                out.append(await request[b.table](b.start, count=b.count, device_id=b.unit))
        except ModbusException as e:
            raise DriverError(self.name, f"communication failed: {e}") from None
        except OSError as e:
            raise DriverError(self.name, f"connection lost: {e}") from None
        return out

    def changes(self, tags: Sequence[Tag], answers: list[Any], full: bool = False) -> list[Reading]:
        """Readings of the tags whose registers or bits changed since the last call for
        this poll group (all tags when ``full``, and after a reconnect or an error
        answer); tags of a refused or undecodable block come back BAD on every call."""
        return self._readings(self.plan(tags), answers, full, remember=True)

    async def read(self, tags: Sequence[Tag]) -> list[Reading]:
        blocks = self.plan(tags)
        return self._readings(blocks, await self.fetch(tags), True, remember=False)

    def _readings(
        self, blocks: list[ReadBlock], answers: list[Any], full: bool, remember: bool
    ) -> list[Reading]:
        out: list[Reading] = []
        for block, rsp in zip(blocks, answers, strict=True):
            dec = block.decoder
            assert dec is not None
            raw = getattr(rsp, "raw", None)
            if raw is not None and raw == dec.last and remember and not full:
                continue  # the common case: a register block exactly as last time
            if rsp.isError():
                err = f"device refused {block.table}:{block.start}+{block.count} (unit {block.unit}): {refusal(rsp)}"
            else:
                # Coils come as bits, registers as their bytes (kept by HoldingRegisters /
                # InputRegisters; packed again only for an answer pymodbus decoded itself).
                data: Any = rsp.bits if block.bits else raw or register_bytes(rsp.registers)
                if not block.bits and len(data) < 2 * block.count:
                    err = f"short answer: {len(data) // 2} of {block.count} registers"
                else:
                    try:
                        pairs = dec.changes(data, full) if remember else dec.decode(data)
                    except (ValueError, UnicodeDecodeError, struct.error) as e:
                        err = f"cannot decode: {e}"
                    else:
                        out.extend(starmap(Reading, pairs))
                        continue
            if remember:
                dec.forget()
            out.extend(Reading(t.name, None, Quality.BAD, error=err) for t, _a in block.members)
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
            raise DriverError(
                self.name, f"device refused the write to {tag.address}: {refusal(rsp)}", retryable=False
            )

    async def subscribe(self, tags: Sequence[Tag], on_update: OnUpdate) -> list[Tag]:
        return list(tags)

    async def check(self) -> None:
        if self.client is None or not self.client.connected:
            raise DriverError(self.name, "not connected")
