"""OPC UA driver against a real asyncua server on loopback."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from asyncua import ua

from edge.core.errors import DriverError
from edge.drivers import Reading, create_driver
from edge.drivers.certs import create_app_certificate
from edge.logic.model import Quality
from edge.simulate.opcua_server import OpcUaSimServer
from tests.conftest import make_config, wait_for

TYPES = [
    ("bool", "=1", True),
    ("int8", "=-5", -5),
    ("uint8", "=250", 250),
    ("int16", "=-30000", -30000),
    ("uint16", "=60000", 60000),
    ("int32", "=-2000000000", -2000000000),
    ("uint32", "=4000000000", 4000000000),
    ("int64", "=-9000000000000000000", -9000000000000000000),
    ("uint64", "=18000000000000000000", 18000000000000000000),
    ("float32", "=3.5", 3.5),
    ("float64", "=2.718281828459045", 2.718281828459045),
    ("string", "=COLA-500", "COLA-500"),
]


def ua_config(tmp_path: Path, port: int, tags: list[dict], **dev: object):  # type: ignore[no-untyped-def]
    device = {
        "name": "ua",
        "protocol": "opcua",
        "endpoint": f"opc.tcp://127.0.0.1:{port}/sim",
        "timeout_s": 2,
    } | dev
    return make_config([device], [t | {"device": "ua"} for t in tags], tmp_path)


async def test_every_type_node_ids_browse_paths_and_scaling(tmp_path: Path, port: int) -> None:
    tags = [{"name": f"t_{ty}", "address": f"ns=2;s=T.{ty}", "type": ty, "sim": sim} for ty, sim, _ in TYPES]
    tags += [
        {"name": "numeric_id", "address": "ns=2;i=5001", "type": "int32", "sim": "=42"},
        {"name": "browsed", "address": "/Objects/2:Filler/2:Weight", "type": "float64", "sim": "=500.25"},
        {"name": "scaled", "address": "ns=2;s=Scaled", "type": "int16", "scale": 0.1, "sim": "=250"},
        {
            "name": "array",
            "address": "ns=2;s=Arr",
            "type": "float32",
            "elements": 3,
            "sim": "=[1.5, 2.5, 3.5]",
        },
    ]
    cfg = ua_config(tmp_path, port, tags)
    srv = OpcUaSimServer(cfg.devices[0], cfg.tags)
    await srv.start()
    drv = create_driver(cfg.devices[0], cfg.tags)
    try:
        await drv.connect()
        got = {r.tag: r.value for r in await drv.read(cfg.tags)}
        for ty, _sim, expected in TYPES:
            assert got[f"t_{ty}"] == expected, ty
        assert got["numeric_id"] == 42 and got["browsed"] == 500.25
        assert got["scaled"] == pytest.approx(25.0)
        assert got["array"] == [1.5, 2.5, 3.5]
    finally:
        await drv.close()
        await srv.stop()


async def test_unknown_node_is_bad_but_others_good(tmp_path: Path, port: int) -> None:
    cfg = ua_config(tmp_path, port, [{"name": "a", "address": "ns=2;s=A", "type": "int32", "sim": "=1"}])
    srv = OpcUaSimServer(cfg.devices[0], cfg.tags)
    await srv.start()
    cfg2 = ua_config(
        tmp_path,
        port,
        [
            {"name": "a", "address": "ns=2;s=A", "type": "int32"},
            {"name": "gone", "address": "ns=2;s=Nope", "type": "int32"},
        ],
    )
    drv = create_driver(cfg2.devices[0], cfg2.tags)
    try:
        await drv.connect()
        a, gone = await drv.read(cfg2.tags)
        assert a.quality == Quality.GOOD and a.value == 1
        assert gone.quality == Quality.BAD and "BadNodeIdUnknown" in (gone.error or "")
    finally:
        await drv.close()
        await srv.stop()


async def test_subscription_updates_arrive_with_source_timestamps(tmp_path: Path, port: int) -> None:
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
    cfg = ua_config(tmp_path, port, tags)
    srv = OpcUaSimServer(cfg.devices[0], cfg.tags)
    await srv.start()
    drv = create_driver(cfg.devices[0], cfg.tags)
    got: list[Reading] = []
    try:
        await drv.connect()
        assert await drv.subscribe(cfg.tags, got.extend) == []
        await wait_for(lambda: len(got) >= 1)
        for n in (1, 2, 3):
            await srv.update({"cycle_count": n})
            await wait_for(lambda n=n: got and got[-1].value == n, timeout=5)
        assert [r.value for r in got][-3:] == [1, 2, 3]
        assert all(r.ts is not None for r in got)
    finally:
        await drv.close()
        await srv.stop()


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("pki")
    scert, skey = create_app_certificate(d, "server", "urn:lineside:simulator", server=True)
    other, other_key = create_app_certificate(d, "impostor", "urn:lineside:simulator", server=True)
    ccert, ckey = create_app_certificate(d, "client", "urn:lineside:edge:test")
    return {
        "scert": scert,
        "skey": skey,
        "other": other,
        "other_key": other_key,
        "ccert": ccert,
        "ckey": ckey,
    }


def secure(pki: dict[str, Path], mode: str = "SignAndEncrypt") -> dict[str, object]:
    return {
        "policy": "Basic256Sha256",
        "mode": mode,
        "certificate": str(pki["ccert"]),
        "private_key": str(pki["ckey"]),
        "server_certificate": str(pki["scert"]),
    }


@pytest.mark.parametrize("mode", ["Sign", "SignAndEncrypt"])
async def test_secure_channel_with_username(
    tmp_path: Path, port: int, pki: dict[str, Path], mode: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("UA_PW", "s3cret")
    tags = [{"name": "a", "address": "ns=2;s=A", "type": "float64", "sim": "=1.25"}]
    cfg = ua_config(tmp_path, port, tags, security=secure(pki, mode), username="edge", password_env="UA_PW")
    srv = OpcUaSimServer(
        cfg.devices[0],
        cfg.tags,
        certificate=pki["scert"],
        private_key=pki["skey"],
        users={"edge": "s3cret"},
        allow_insecure=False,
    )
    await srv.start()
    drv = create_driver(cfg.devices[0], cfg.tags)
    try:
        await drv.connect()
        assert [r.value for r in await drv.read(cfg.tags)] == [1.25]
        policy = drv.client.security_policy  # type: ignore[attr-defined]
        assert policy.Mode == getattr(ua.MessageSecurityMode, mode)
    finally:
        await drv.close()
        await srv.stop()


async def test_untrusted_server_certificate_is_refused(
    tmp_path: Path, port: int, pki: dict[str, Path]
) -> None:
    """The client pins the server certificate; a server presenting another one is refused."""
    tags = [{"name": "a", "address": "ns=2;s=A", "type": "float64", "sim": "=1.25"}]
    cfg = ua_config(tmp_path, port, tags, security=secure(pki))
    srv = OpcUaSimServer(
        cfg.devices[0], cfg.tags, certificate=pki["other"], private_key=pki["other_key"], allow_insecure=False
    )
    await srv.start()
    drv = create_driver(cfg.devices[0], cfg.tags)
    try:
        with pytest.raises(DriverError) as exc:
            await drv.connect()
        assert exc.value.retryable is False
        assert "certificate" in exc.value.message.lower()
    finally:
        await drv.close()
        await srv.stop()


async def test_wrong_password_is_refused(
    tmp_path: Path, port: int, pki: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("UA_PW", "wrong")
    tags = [{"name": "a", "address": "ns=2;s=A", "type": "float64", "sim": "=1.25"}]
    cfg = ua_config(tmp_path, port, tags, security=secure(pki), username="edge", password_env="UA_PW")
    srv = OpcUaSimServer(
        cfg.devices[0],
        cfg.tags,
        certificate=pki["scert"],
        private_key=pki["skey"],
        users={"edge": "s3cret"},
        allow_insecure=False,
    )
    await srv.start()
    drv = create_driver(cfg.devices[0], cfg.tags)
    try:
        with pytest.raises(DriverError) as exc:
            await asyncio.wait_for(drv.connect(), 15)
        assert "wrong" not in str(exc.value)  # the password never appears in messages
    finally:
        await drv.close()
        await srv.stop()


async def test_refused_monitored_item_falls_back_to_polling(tmp_path: Path, port: int) -> None:
    cfg = ua_config(tmp_path, port, [{"name": "a", "address": "ns=2;s=A", "type": "int32", "sim": "=1"}])
    srv = OpcUaSimServer(cfg.devices[0], cfg.tags)
    await srv.start()
    tags = [
        {"name": "a", "address": "ns=2;s=A", "type": "int32", "mode": "subscribe"},
        {"name": "gone", "address": "ns=2;s=Missing", "type": "int32", "mode": "subscribe"},
    ]
    cfg2 = ua_config(tmp_path, port, tags)
    drv = create_driver(cfg2.devices[0], cfg2.tags)
    try:
        await drv.connect()
        fallback = await drv.subscribe(cfg2.tags, lambda rs: None)
        assert [t.name for t in fallback] == ["gone"]
    finally:
        await drv.close()
        await srv.stop()
