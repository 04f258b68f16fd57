"""Run the line model and serve it on every device of a line config (``lineside simulate``)."""

from __future__ import annotations

import asyncio
import logging
import os
import time
from pathlib import Path
from typing import Any

from edge.config.devices import EthernetIpDevice, ModbusRtuDevice, ModbusTcpDevice, OpcUaDevice
from edge.config.line import LineConfig
from edge.drivers.logix_types import LOGIX_TYPE
from edge.simulate.enip_server import EnipSimServer
from edge.simulate.model import LineModel, parse_sim
from edge.simulate.ptybridge import PtyBridge

log = logging.getLogger("lineside.simulate")


class Simulator:
    def __init__(
        self,
        cfg: LineConfig,
        *,
        seed: int = 1,
        period: float = 0.1,
        opcua_security: dict[str, dict[str, Any]] | None = None,
    ) -> None:
        self.cfg = cfg
        self.model = LineModel(seed=seed)
        self.period = period
        self.servers: list[Any] = []
        self.bridges: list[PtyBridge] = []
        self.enip: list[tuple[EnipSimServer, list[tuple[str, str | None, Any]]]] = []
        self.opcua_security = opcua_security or {}
        self._links: list[Path] = []

    async def start(self) -> None:
        for dev in self.cfg.devices:
            tags = self.cfg.tags_of(dev.name)
            if isinstance(dev, OpcUaDevice):
                from edge.simulate.opcua_server import OpcUaSimServer

                sec = self.opcua_security.get(dev.name, {})
                srv: Any = OpcUaSimServer(dev, tags, **sec)
            elif isinstance(dev, ModbusTcpDevice):
                from edge.simulate.modbus_server import ModbusSimServer

                srv = ModbusSimServer(dev, tags)
            elif isinstance(dev, ModbusRtuDevice):
                from edge.simulate.modbus_server import ModbusSimServer

                bridge = PtyBridge().start()
                self.bridges.append(bridge)
                link = Path(dev.serial_port)
                if link.is_symlink() or not link.exists():
                    link.unlink(missing_ok=True)
                    link.parent.mkdir(parents=True, exist_ok=True)
                    os.symlink(bridge.port_b, link)
                    self._links.append(link)
                    log.info("%s: Modbus RTU on %s (agent side %s)", dev.name, bridge.port_a, link)
                else:
                    log.warning(
                        "%s: %s is a real device; serving RTU on %s instead", dev.name, link, bridge.port_a
                    )
                srv = ModbusSimServer(dev, tags, serial_port=bridge.port_a)
            elif isinstance(dev, EthernetIpDevice):
                srv = EnipSimServer(dev.host, dev.port)
                points = []
                for t in tags:
                    from edge.drivers.ethernetip import base_name

                    signal, const = parse_sim(t.sim, t.type)
                    name = base_name(t.address)
                    if name not in srv.tags:
                        initial = self.model.signals().get(signal, const) if signal else const
                        if isinstance(initial, list) and t.elements == 1:
                            initial = initial[0]
                        srv.add_tag(name, LOGIX_TYPE[t.type], initial, t.elements)
                    points.append((name, signal, t))
                self.enip.append((srv, points))
            else:  # pragma: no cover - the config union is closed
                continue
            if isinstance(srv, EnipSimServer):
                await srv.start()
            else:
                await srv.start(self.model.signals())
            self.servers.append(srv)
            log.info("serving %s (%s) with %d tags", dev.name, dev.protocol, len(tags))
        self.model.step(time.time())

    async def tick(self, now: float) -> None:
        m = self.model
        for srv in self.servers:
            if hasattr(srv, "read_writes"):
                for signal, value in (await srv.read_writes()).items():
                    m.apply_write(signal, value)
        for srv, points in self.enip:
            for name, signal, t in points:
                if signal and t.writable:
                    m.apply_write(signal, srv.get(name))
        m.step(now)
        sig = m.signals()
        for srv in self.servers:
            if hasattr(srv, "update"):
                await srv.update(sig)
        for srv, points in self.enip:
            for name, signal, t in points:
                if signal and not t.writable:
                    v = sig[signal]
                    if t.elements == 1 and isinstance(v, list):
                        v = v[0]
                    srv.set(
                        name, int(v) if LOGIX_TYPE[t.type] in ("SINT", "INT", "DINT", "LINT", "USINT") else v
                    )

    async def run(self, duration: float | None = None) -> None:
        await self.start()
        end = None if duration is None else time.monotonic() + duration
        try:
            while end is None or time.monotonic() < end:
                await self.tick(time.time())
                await asyncio.sleep(self.period)
        finally:
            await self.stop()

    async def stop(self) -> None:
        for srv in self.servers:
            try:
                await srv.stop()
            except Exception as e:
                log.debug("stopping server: %s", e)
        for b in self.bridges:
            b.close()
        for link in self._links:
            link.unlink(missing_ok=True)
