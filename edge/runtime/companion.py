"""What the agent runs beside itself without knowing what it is: companions (the MQTT
uplink today) are built by the composition root (``edge.cli``) and handed to the
agent, which starts them after itself, tells them when rows are committed and stops
them after its last commit. ``edge`` so never imports ``sync``."""

from __future__ import annotations

from typing import Protocol, runtime_checkable


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
