"""The OPC UA driver against node-opcua, a server of another implementation than the
agent's client library (issue 13, finding 14). One server serves the whole module."""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path
from typing import Any

import pytest
from asyncua import Client

from edge.core.errors import DriverError
from edge.drivers import Reading, create_driver
from edge.drivers.certs import create_app_certificate
from edge.logic.model import Quality
from edge.runtime.agent import Agent
from edge.runtime.device_runner import DeviceRunner
from edge.services.status import gather_status
from tests.conftest import make_config, wait_for
from tests.edge.drivers.node_opcua import NodeOpcUaServer, node_opcua, start_early

__all__ = ["node_opcua"]  # the module-scoped fixture

start_early()  # boots while the tests collected before this module run


def current_quality(agent: Agent, tag: str) -> str | None:
    return next((v["quality"] for v in agent.store.current_values() if v["tag"] == tag), None)


def config(tmp_path: Path, server: NodeOpcUaServer, tags: list[dict[str, Any]], **dev: Any) -> Any:
    device = {
        "name": "ua",
        "protocol": "opcua",
        "endpoint": server.endpoint,
        "timeout_s": 2,
        "reconnect": {"initial_s": 0.1, "max_s": 0.5},
    } | dev
    return make_config([device], [t | {"device": "ua"} for t in tags], tmp_path)


async def test_two_tags_on_one_node_both_get_values(tmp_path: Path, node_opcua: NodeOpcUaServer) -> None:
    """Two tags on the same node (one in °C for the line logic, one for the historian):
    both get the node's value, subscribed and polled."""
    tags = [
        {"name": "speed_a", "address": "ns=1;s=Speed", "type": "float64", "mode": "subscribe"},
        {"name": "speed_b", "address": "ns=1;s=Speed", "type": "float64", "mode": "subscribe", "scale": 2.0},
        {"name": "count_a", "address": "ns=1;s=Count", "type": "uint32"},
        {"name": "count_b", "address": "/Objects/1:Line/1:Count", "type": "uint32"},
    ]
    cfg = config(tmp_path, node_opcua, tags)
    drv = create_driver(cfg.devices[0], cfg.tags)
    got: dict[str, Any] = {}
    try:
        await drv.connect()
        polled = await drv.subscribe(cfg.tags[:2], lambda rs: got.update((r.tag, r.value) for r in rs))
        assert polled == []
        await wait_for(lambda: {"speed_a", "speed_b"} <= got.keys(), timeout=5)
        assert got["speed_a"] == 12.5 and got["speed_b"] == 25.0
        assert {r.tag: r.value for r in await drv.read(cfg.tags[2:])} == {"count_a": 4711, "count_b": 4711}
    finally:
        await drv.close()


async def test_unknown_nodes_and_wrong_types_fail_their_tags_with_the_reason(
    tmp_path: Path, node_opcua: NodeOpcUaServer
) -> None:
    tags = [
        {"name": "nope", "address": "ns=1;s=Nope", "type": "float64"},
        {"name": "lost", "address": "/Objects/1:Line/1:Lost", "type": "float64"},
        {"name": "product_f", "address": "ns=1;s=Product", "type": "float64"},
        {"name": "count_i16", "address": "ns=1;s=Count", "type": "int16", "mode": "subscribe"},
        {"name": "speed", "address": "/Objects/1:Line/1:Speed", "type": "float64"},
        {"name": "product", "address": "ns=1;s=Product", "type": "string"},
    ]
    cfg = config(tmp_path, node_opcua, tags)
    drv = create_driver(cfg.devices[0], cfg.tags)
    try:
        await drv.connect()
        polled = await drv.subscribe([cfg.tag("count_i16")], lambda rs: None)
        assert [t.name for t in polled] == ["count_i16"]  # a failed tag is not subscribed
        got = {r.tag: r for r in await drv.read(cfg.tags)}
    finally:
        await drv.close()
    assert (got["speed"].value, got["product"].value) == (12.5, "WIDGET-A")
    bad = {n: got[n].error for n in ("nope", "lost", "product_f", "count_i16")}
    assert all(got[n].quality == Quality.BAD and got[n].value is None for n in bad)
    assert "node ns=1;s=Nope not found on the server (BadNodeIdUnknown)" in bad["nope"]
    assert "browse path /Objects/1:Line/1:Lost not found" in bad["lost"]
    assert bad["product_f"] == "declared float64, but the server's node ns=1;s=Product holds String"
    assert bad["count_i16"] == "declared int16, but the server's node ns=1;s=Count holds UInt32"


async def test_agent_logs_records_and_reports_why_a_tag_is_bad(
    tmp_path: Path, node_opcua: NodeOpcUaServer, caplog: pytest.LogCaptureFixture
) -> None:
    tags = [
        {"name": "nope", "address": "ns=1;s=Nope", "type": "float64", "poll_ms": 100},
        {"name": "speed", "address": "ns=1;s=Speed", "type": "float64", "poll_ms": 100},
    ]
    cfg = config(tmp_path, node_opcua, tags)
    agent = Agent(cfg)
    caplog.set_level(logging.WARNING, logger="lineside")
    await agent.start()
    try:
        await wait_for(lambda: any(e["kind"] == "tag_bad" for e in agent.store.events()), timeout=10)
        agent._write_status()
        # `lineside status` shows the reason beside the tag
        await wait_for(lambda: current_quality(agent, "nope") == "bad")
        tags = {t["tag"]: t for t in gather_status(cfg, time.time())["tags"]}
    finally:
        await agent.stop()
    why = "node ns=1;s=Nope not found on the server (BadNodeIdUnknown)"
    lines = [r.getMessage() for r in caplog.records if "nope" in r.getMessage()]
    assert len(lines) == 1 and why in lines[0], lines
    (event,) = [e for e in agent.store.events() if e["kind"] == "tag_bad"]
    assert event["source"] == "nope" and why in event["message"]
    devices = agent.store.agent_status()["devices"]["value"]
    assert devices["ua"]["bad_tags"] == {"nope": why}
    assert tags["nope"]["why"] == why and tags["speed"]["why"] is None


async def test_a_security_mode_the_server_does_not_offer_is_named(
    tmp_path: Path, node_opcua: NodeOpcUaServer, caplog: pytest.LogCaptureFixture
) -> None:
    probe = Client(node_opcua.endpoint)
    endpoints = await probe.connect_and_get_server_endpoints()
    server_cert = tmp_path / "server.der"
    server_cert.write_bytes(next(bytes(e.ServerCertificate) for e in endpoints if e.ServerCertificate))
    cert, key = create_app_certificate(tmp_path / "pki", "client", "urn:lineside:test:client")
    security = {
        "policy": "Basic256Sha256",
        "mode": "Sign",
        "certificate": str(cert),
        "private_key": str(key),
        "server_certificate": str(server_cert),
    }
    cfg = config(tmp_path, node_opcua, [{"name": "speed", "address": "ns=1;s=Speed"}], security=security)
    caplog.set_level(logging.DEBUG)
    drv = create_driver(cfg.devices[0], cfg.tags)
    try:
        for _ in range(2):  # the agent retries: nothing may shout on the way
            with pytest.raises(DriverError) as exc:
                await drv.connect()
    finally:
        await drv.close()
    assert exc.value.retryable is False
    assert exc.value.message == (
        "the server does not offer security policy Basic256Sha256 with mode Sign "
        "(it offers None/None, Basic256Sha256/SignAndEncrypt)"
    )
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []


async def test_first_sample_after_a_reconnect_is_not_stamped_before_it(
    tmp_path: Path, node_opcua: NodeOpcUaServer
) -> None:
    """The server keeps the value (and its SourceTimestamp, from the server's start) across
    the reconnect: the sample must not be stamped before the fault the agent recorded."""
    tags = [
        {"name": "speed", "address": "ns=1;s=Speed", "type": "float64", "mode": "subscribe", "poll_ms": 100},
        {"name": "count", "address": "ns=1;s=Count", "type": "uint32", "poll_ms": 100},
    ]
    cfg = config(tmp_path, node_opcua, tags)
    seen: list[tuple[str, Reading, float]] = []
    states: list[tuple[str, float]] = []
    runner: DeviceRunner

    def on_state(device: str, state: str, error: str | None) -> None:
        states.append((state, runner.clock()))

    runner = DeviceRunner(
        cfg.devices[0],
        cfg.tags,
        create_driver(cfg.devices[0], cfg.tags),
        lambda rs, now: seen.extend((r.tag, r, now) for r in rs),
        on_state,
    )
    task = asyncio.create_task(runner.run())
    try:
        await wait_for(lambda: {"speed", "count"} <= {t for t, _r, _n in seen}, timeout=10)
        runner.driver.client.uaclient.protocol.transport.close()  # type: ignore[attr-defined]
        await wait_for(lambda: [s for s, _ in states][-2:] == ["fault", "connected"], timeout=10)
        fault_at = next(t for s, t in states if s == "fault")
        await wait_for(lambda: sum(t == "speed" for t, _r, _n in seen) >= 2, timeout=10)
    finally:
        runner.stop()
        await asyncio.wait_for(task, 10)
    after = [(t, r.ts) for t, r, now in seen if now >= fault_at]
    assert {t for t, _ in after} == {"speed", "count"}
    assert all(ts is not None and ts >= fault_at for _t, ts in after), after
