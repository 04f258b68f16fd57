"""An embedded MQTT broker (amqtt, MQTT 3.1.1) for demos and machines without mosquitto.

A plant runs mosquitto (``config/mosquitto/mosquitto.conf``); this is the fallback that
lets ``make demo`` run anywhere Python runs. It listens on loopback only, keeps retained
messages and persistent sessions in memory, and has no authentication: not for a plant.
The uplink and the aggregator notice that it refuses MQTT 5 and fall back to 3.1.1.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
from pathlib import Path

log = logging.getLogger("lineside.broker")


def mosquitto_binary() -> str | None:
    """The system mosquitto, if installed (PATH or /usr/sbin)."""
    found = shutil.which("mosquitto")
    if found:
        return found
    p = Path("/usr/sbin/mosquitto")
    return str(p) if p.exists() else None


async def serve(host: str = "127.0.0.1", port: int = 1883, stop: asyncio.Event | None = None) -> None:
    """Run the embedded broker until ``stop`` is set (or forever)."""
    try:
        from amqtt.broker import Broker
    except ImportError:  # pragma: no cover - depends on the install
        from edge.core.errors import LinesideError

        raise LinesideError(
            "the embedded broker needs amqtt: pip install 'lineside[broker]' (or install mosquitto)"
        ) from None
    for name in ("amqtt", "transitions"):
        logging.getLogger(name).setLevel(logging.WARNING)
    config = {
        "listeners": {"default": {"type": "tcp", "bind": f"{host}:{port}"}},
        "plugins": {"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}},
    }
    broker = Broker(config)
    await broker.start()
    log.info("embedded MQTT 3.1.1 broker (amqtt) listening on %s:%d", host, port)
    try:
        await (stop or asyncio.Event()).wait()
    finally:
        await broker.shutdown()
