"""The Driver protocol every PLC driver implements, its reading type, and the registry."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple, Protocol, runtime_checkable

from edge.config.devices import Tag
from edge.logic.model import Quality


class Reading(NamedTuple):
    """One value from a device. ``ts`` is the device's timestamp when it sends one.

    A NamedTuple because the hot path creates one per tag per poll."""

    tag: str
    value: Any
    quality: Quality = Quality.GOOD
    ts: float | None = None
    error: str | None = None


OnUpdate = Callable[[list[Reading]], None]  # a batch of subscription updates


class Driver(Protocol):
    """What the agent needs from a protocol driver.

    Every failure to talk to the device is raised as ``edge.core.errors.DriverError``; a tag
    the device answers for with an error comes back as a ``Reading`` with quality BAD and
    the reason in ``error``. A driver whose readings carry the device's time says so with
    a class attribute ``source_timestamps = True``.
    """

    name: str

    async def connect(self) -> None:
        """Open the connection; raise DriverError if the device cannot be reached."""

    async def close(self) -> None:
        """Close quietly (never raises)."""

    async def read(self, tags: Sequence[Tag]) -> list[Reading]:
        """Read a poll group; one Reading per tag (in any order)."""

    async def write(self, tag: Tag, value: Any) -> None:
        """Write one value (the agent has already checked the allow-list)."""

    async def subscribe(self, tags: Sequence[Tag], on_update: OnUpdate) -> list[Tag]:
        """Subscribe to changes where the protocol can; return the tags that must be polled."""

    async def check(self) -> None:
        """Cheap liveness probe used while a device only has subscriptions."""


@runtime_checkable
class ChangeReader(Protocol):
    """A driver that can report only what changed (Modbus): the device runner fetches,
    stamps the time, then asks for the changes, so a poll of unchanged values makes no
    per-tag objects at all."""

    async def fetch(self, tags: Sequence[Tag]) -> Any:
        """Read a poll group's raw answers (I/O only); raise DriverError like ``read``."""

    def changes(self, tags: Sequence[Tag], answers: Any, full: bool = False) -> list[Reading]:
        """Readings of the tags whose raw value changed since the last call for this poll
        group, every tag when ``full``; after a reconnect the first call reports all."""


_REGISTRY: dict[str, str] = {
    "opcua": "edge.drivers.opcua:OpcUaDriver",
    "modbus_tcp": "edge.drivers.modbus:ModbusDriver",
    "modbus_rtu": "edge.drivers.modbus:ModbusDriver",
    "ethernetip": "edge.drivers.ethernetip:EthernetIpDriver",
}


def create_driver(device: Any, tags: Sequence[Tag]) -> Driver:
    """Instantiate the driver for ``device.protocol``, importing its module only now."""
    module_name, cls_name = _REGISTRY[device.protocol].split(":")
    cls = getattr(importlib.import_module(module_name), cls_name)
    return cls(device, list(tags))  # type: ignore[no-any-return]
