"""What the agent runs beside itself without knowing what it is: companions (the MQTT
uplink today) are built by the composition root (``edge.cli``) and handed to the
agent, which starts them after itself, tells them when rows are committed and stops
them after its last commit. ``edge`` so never imports ``sync``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable


@runtime_checkable
class Companion(Protocol):
    def start(self) -> None:
        """Start (a companion runs its own thread; this returns at once)."""
        ...

    def notify(self) -> None:
        """New rows are committed (called on the writer's thread: must not block)."""
        ...

    def stop(self, timeout: float) -> None:
        """Finish within about ``timeout`` s (send what is committed, then close)."""
        ...


@runtime_checkable
class UpstreamLink(Protocol):
    """A companion that holds a link upstream; the metrics endpoint reports it."""

    @property
    def connected(self) -> bool: ...

    @property
    def last_ack(self) -> float | None:
        """Wall time of the last end-to-end acknowledgement (None before any)."""
        ...


@runtime_checkable
class TagWriting(Protocol):
    """A companion through which someone outside asks for PLC writes (the Sparkplug
    node's DCMD): the agent hands it its allow-listed write when it is built."""

    def use_writes(self, write: Callable[[str, Any, str, str], None]) -> None:
        """``write(tag, value, who, reason)``: blocks until the outcome, raises
        ``WriteRefused`` or ``LinesideError`` (``Agent.write_blocking``)."""
        ...
