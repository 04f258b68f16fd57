"""Serve simulated values over a real pymodbus server (TCP, or RTU on a serial device).

Each unit id used by the config's tags becomes one ``SimDevice`` with separate coil,
discrete-input, holding and input register blocks. Values are encoded with the same
codec the driver decodes with; writes by clients to writable tags are read back each
step and handed to the model.
"""

from __future__ import annotations

import logging
from typing import Any

from pymodbus import FramerType
from pymodbus.server import ModbusSerialServer, ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

from edge.config.devices import ModbusRtuDevice, ModbusTcpDevice, Tag
from edge.drivers.modbus_codec import ModbusAddress, encode_value, parse_address
from edge.simulate.model import parse_sim

log = logging.getLogger("lineside.simulate.modbus")
logging.getLogger("pymodbus").setLevel(logging.WARNING)
_FC_WRITE = {"co": 5, "di": 2, "hr": 16, "ir": 4}
_FC_READ = {"co": 1, "di": 2, "hr": 3, "ir": 4}


class ModbusSimServer:
    def __init__(
        self, device: ModbusTcpDevice | ModbusRtuDevice, tags: list[Tag], *, serial_port: str | None = None
    ) -> None:
        self.device = device
        self.points: list[tuple[Tag, ModbusAddress, int, str | None, Any]] = []
        sizes: dict[int, dict[str, int]] = {}
        for t in tags:
            a = parse_address(t)
            unit = t.unit if t.unit is not None else device.unit
            signal, const = parse_sim(t.sim, t.type)
            self.points.append((t, a, unit, signal, const))
            top = a.address + max(a.words, 1)
            s = sizes.setdefault(unit, {"co": 16, "di": 16, "hr": 16, "ir": 16})
            s[a.table] = max(s[a.table], top + 16)
        devices = []
        for unit, s in sorted(sizes.items()):
            devices.append(
                SimDevice(
                    unit,
                    simdata=(
                        [SimData(0, count=s["co"], values=False, datatype=DataType.BITS)],
                        [SimData(0, count=s["di"], values=False, datatype=DataType.BITS)],
                        [SimData(0, count=s["hr"], values=0, datatype=DataType.REGISTERS)],
                        [SimData(0, count=s["ir"], values=0, datatype=DataType.REGISTERS)],
                    ),
                )
            )
        if isinstance(device, ModbusTcpDevice):
            self.server: ModbusTcpServer | ModbusSerialServer = ModbusTcpServer(
                devices, address=(device.host, device.port)
            )
        else:
            self.server = ModbusSerialServer(
                devices,
                framer=FramerType.RTU,
                port=serial_port or device.serial_port,
                baudrate=device.baudrate,
                parity=device.parity,
                stopbits=device.stopbits,
                bytesize=device.bytesize,
            )
        self._written: dict[str, Any] = {}

    async def start(self, signals: dict[str, Any] | None = None) -> None:
        await self.update(signals or {}, first=True)
        await self.server.serve_forever(background=True)

    async def stop(self) -> None:
        await self.server.shutdown()

    async def _set(self, unit: int, a: ModbusAddress, t: Tag, value: Any) -> None:
        if a.is_bits:
            await self.server.async_setValues(unit, _FC_WRITE[a.table], a.address, [bool(value)])
        elif a.bit is not None:
            reg = (await self.server.async_getValues(unit, 3 if a.table == "hr" else 4, a.address, 1))[0]
            reg = (reg | (1 << a.bit)) if value else (reg & ~(1 << a.bit))
            await self.server.async_setValues(unit, _FC_WRITE[a.table], a.address, [reg])
        else:
            await self.server.async_setValues(unit, _FC_WRITE[a.table], a.address, encode_value(t, value))

    async def update(self, signals: dict[str, Any], *, first: bool = False) -> None:
        """Publish model signals; constants are written once."""
        for t, a, unit, signal, const in self.points:
            if t.writable and not first:
                continue  # owned by clients after start; read back in ``read_writes``
            if signal is None or (first and signal not in signals):
                if first:
                    await self._set(unit, a, t, const)
            elif signal in signals:
                value = signals[signal]
                if isinstance(value, list):
                    value = value[0]
                await self._set(unit, a, t, value)

    async def read_writes(self) -> dict[str, Any]:
        """Current values of writable tags bound to a signal (what clients wrote)."""
        from edge.drivers.modbus_codec import decode_registers

        out = {}
        for t, a, unit, signal, _c in self.points:
            if not t.writable or signal is None:
                continue
            data = await self.server.async_getValues(unit, _FC_READ[a.table], a.address, max(a.words, 1))
            out[signal] = bool(data[0]) if a.is_bits else decode_registers(t, a, list(data))
        return out
