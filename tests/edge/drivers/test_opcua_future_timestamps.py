"""A server whose clock runs ahead: OPC UA source timestamps more than the device's
``future_tolerance_s`` ahead of the agent's clock are replaced by the agent's clock
(a sample is never stamped in the agent's future) and recorded once per tag as a
``source_time_ahead`` event, again only after the tag's timestamps were right in
between. Against a real asyncua server on loopback and the real agent."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from asyncua import ua

from edge.runtime.agent import Agent
from edge.simulate.opcua_server import OpcUaSimServer
from tests.conftest import wait_for
from tests.edge.drivers.test_opcua import ua_config


async def test_source_timestamps_ahead_of_the_agent_are_clamped_and_recorded(
    tmp_path: Path, port: int
) -> None:
    tags = [
        {
            "name": "count",
            "address": "ns=2;s=Count",
            "type": "uint32",
            "mode": "subscribe",
            "poll_ms": 50,
            "sim": "cycle_count",
        }
    ]
    cfg = ua_config(tmp_path, port, tags, future_tolerance_s=5)
    srv = OpcUaSimServer(cfg.devices[0], cfg.tags)
    await srv.start()
    node = srv.points[0][1]

    async def write(value: int, ahead_s: float) -> None:
        stamp = datetime.now(UTC) + timedelta(seconds=ahead_s)
        dv = ua.DataValue(
            ua.Variant(value, ua.VariantType.UInt32), SourceTimestamp=stamp, ServerTimestamp=stamp
        )
        await node.write_value(dv)

    def stored(value: int) -> list[float]:
        return [r["ts"] for r in agent.store.history("count", since=0) if r["value"] == value]

    def ahead_events() -> list[dict]:  # type: ignore[type-arg]
        return [e for e in agent.store.events() if e["kind"] == "source_time_ahead"]

    agent = Agent(cfg)
    await agent.start()
    try:
        await wait_for(lambda: list(agent.store.history("count", since=0)), timeout=10)
        before = time.time()
        await write(7, 3600)  # an hour ahead
        await wait_for(lambda: stored(7) and ahead_events(), timeout=10)
        after = time.time()
        [ts7] = stored(7)
        assert before - 1 <= ts7 <= after + 1  # the agent's clock, not the server's
        [ev] = ahead_events()
        assert ev["source"] == "count" and "ahead of the agent's clock (tolerance 5 s)" in ev["message"]
        assert 3590 < ev["data"]["ahead_s"] < 3610 and ev["data"]["device"] == "ua"
        await write(8, 1800)  # still ahead: clamped, not recorded again
        await wait_for(lambda: stored(8), timeout=10)
        assert stored(8)[0] <= time.time() + 1 and len(ahead_events()) == 1
        t9 = time.time()
        await write(9, 3)  # within the tolerance: the server's own timestamp is kept
        await wait_for(lambda: stored(9), timeout=10)
        assert stored(9)[0] >= t9 + 2.5 and len(ahead_events()) == 1
        await write(10, 600)  # ahead again after good timestamps: recorded again
        await wait_for(lambda: stored(10) and len(ahead_events()) == 2, timeout=10)
    finally:
        await agent.stop()
        await srv.stop()
