"""OPC UA client driver (asyncua): subscriptions with polling fallback, secure channels.

Node ids come as strings (``ns=2;s=Filler.Speed``) or browse paths
(``/Objects/2:Filler/2:Speed``). At connect every tag's node is resolved and its DataType
attribute read: a node the server does not know, a browse path that leads nowhere or a
declared type other than the server's fails that tag (BAD, with the reason) for the
session instead of passing a misread value as good. Several tags may name one node.

With a security policy the server certificate is pinned: a server presenting any other
certificate is refused, and so is a server that does not offer the configured policy and
mode (named in the fault). The client watchdog runs every few seconds (asyncua's 1 s
default drops sessions on busy servers).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from asyncua import Client, Node, ua
from asyncua.common.subscription import DataChangeEvent, OverflowPolicy
from asyncua.common.ua_utils import data_type_to_variant_type
from asyncua.crypto.security_policies import SecurityPolicyBasic256Sha256

from edge.config.devices import OpcUaDevice, Tag
from edge.core.aio import bounded
from edge.core.errors import DriverError
from edge.drivers.base import OnUpdate, Reading
from edge.drivers.certs import certificate_uri, load_der, thumbprint
from edge.logic.model import Quality

log = logging.getLogger("lineside.drivers.opcua")
# asyncua logs every refused handshake and lost socket itself, some at CRITICAL and again
# on every retry; the device runner logs each fault once with its reason and recovery.
for _noisy in ("asyncua", "asyncua.client.ua_client", "asyncua.client.client", "asyncua.common.subscription"):
    logging.getLogger(_noisy).setLevel(logging.CRITICAL + 1)

VARIANT = {
    "bool": ua.VariantType.Boolean,
    "int8": ua.VariantType.SByte,
    "uint8": ua.VariantType.Byte,
    "int16": ua.VariantType.Int16,
    "uint16": ua.VariantType.UInt16,
    "int32": ua.VariantType.Int32,
    "uint32": ua.VariantType.UInt32,
    "int64": ua.VariantType.Int64,
    "uint64": ua.VariantType.UInt64,
    "float32": ua.VariantType.Float,
    "float64": ua.VariantType.Double,
    "string": ua.VariantType.String,
}


#: Built-in DataType node ids of namespace 0 (Boolean = 1 … DiagnosticInfo = 25).
_BUILTIN_TYPES = range(1, 26)


def convert(tag: Tag, value: Any) -> Any:
    """OPC UA value → Lineside value (scaling applied to numbers)."""
    if isinstance(value, list):
        return [convert(tag, v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return value
    if tag.scale == 1.0 and tag.offset == 0.0:
        return value
    return value * tag.scale + tag.offset


def _ts(dv: ua.DataValue) -> float | None:
    t = dv.SourceTimestamp or dv.ServerTimestamp
    return t.timestamp() if t else None


def to_reading(tag: Tag, dv: ua.DataValue) -> Reading:
    status = dv.StatusCode_ if hasattr(dv, "StatusCode_") else dv.StatusCode
    if status is not None and not status.is_good():
        return Reading(tag.name, None, Quality.BAD, _ts(dv), error=f"server status {status.name}")
    return Reading(tag.name, convert(tag, dv.Value.Value if dv.Value else None), Quality.GOOD, _ts(dv))


class OpcUaDriver:
    #: Readings carry the server's SourceTimestamp (the device runner keeps them in the session).
    source_timestamps = True

    def __init__(self, device: OpcUaDevice, tags: list[Tag]) -> None:
        self.device = device
        self.name = device.name
        self.client: Client | None = None
        self.tags = tags
        self.nodes: dict[str, Node] = {}
        #: Tags that failed at connect (unknown node, wrong type) and why: BAD all session.
        self.failed: dict[str, str] = {}
        self._variant_of: dict[str, ua.VariantType | None] = {}
        self._subs: list[Any] = []
        self._consumers: list[asyncio.Task[None]] = []
        self.overflowed = False

    async def connect(self) -> None:
        await self.close()
        d = self.device
        c = Client(d.endpoint, timeout=d.timeout_s, watchdog_intervall=d.watchdog_interval_s)
        c.session_timeout = int(d.session_timeout_s * 1000)
        c.name = c.description = "Lineside edge agent"
        if d.username:
            c.set_user(d.username)
            pw = d.password()
            if pw is not None:
                c.set_password(pw)
        sec = d.security
        if sec.policy != "None":
            await self._check_server_certificate()
        try:
            if sec.policy != "None":
                assert sec.certificate and sec.private_key and sec.server_certificate
                uri = certificate_uri(sec.certificate)
                if uri:
                    c.application_uri = uri
                mode = (
                    ua.MessageSecurityMode.SignAndEncrypt
                    if sec.mode == "SignAndEncrypt"
                    else ua.MessageSecurityMode.Sign
                )
                await c.set_security(
                    SecurityPolicyBasic256Sha256,
                    certificate=str(sec.certificate),
                    private_key=str(sec.private_key),
                    server_certificate=str(sec.server_certificate),
                    mode=mode,
                )
        except (OSError, ValueError) as e:
            raise DriverError(self.name, f"security set-up failed: {e}", retryable=False) from None
        try:
            await asyncio.wait_for(c.connect(), d.timeout_s * 3)
        except ua.UaError as e:
            await self._disconnect(c)
            msg = str(e)
            fatal = "certificate" in msg.lower() or "BadUserAccessDenied" in msg or "BadIdentityToken" in msg
            raise DriverError(self.name, f"session refused: {msg}", retryable=not fatal) from None
        except (TimeoutError, OSError, ConnectionError, asyncio.CancelledError) as e:
            await self._disconnect(c)
            if isinstance(e, asyncio.CancelledError) and asyncio.current_task().cancelling():  # type: ignore[union-attr]
                raise
            raise DriverError(self.name, f"cannot connect to {d.endpoint}: {e or type(e).__name__}") from None
        except Exception as e:  # asyncua raises assorted errors on handshake failures
            await self._disconnect(c)
            raise DriverError(self.name, f"cannot connect to {d.endpoint}: {type(e).__name__}: {e}") from None
        self.client = c
        self.nodes = {}
        self.failed = {}
        try:
            await self._resolve(self.tags)
        except DriverError:
            await self.close()
            raise

    async def _resolve(self, tags: Sequence[Tag]) -> None:
        """Find every tag's node and check the server's DataType against the declared
        type; a tag that fails is kept in ``failed`` with the reason."""
        assert self.client is not None
        for t in tags:
            try:
                await self._node(t)
            except _TagError as e:
                self.failed[t.name] = str(e)
            except (TimeoutError, OSError, ConnectionError, ua.UaError) as e:
                raise DriverError(self.name, f"browse failed: {e or type(e).__name__}") from None
        resolved = [t for t in tags if t.name in self.nodes]
        unique: dict[str, Node] = {}
        for t in resolved:
            unique.setdefault(self.nodes[t.name].nodeid.to_string(), self.nodes[t.name])
        keys = list(unique)
        types: dict[str, ua.DataValue] = {}
        try:
            for i in range(0, len(keys), 500):  # servers bound the nodes per request
                chunk = keys[i : i + 500]
                dvs = await self.client.read_attributes([unique[k] for k in chunk], ua.AttributeIds.DataType)
                types.update(zip(chunk, dvs, strict=True))
        except (TimeoutError, OSError, ConnectionError, ua.UaError) as e:
            raise DriverError(
                self.name, f"cannot read the nodes' data types: {e or type(e).__name__}"
            ) from None
        for t in resolved:
            dv = types[self.nodes[t.name].nodeid.to_string()]
            why = await self._type_problem(t, dv)
            if why is not None:
                self.failed[t.name] = why

    async def _type_problem(self, tag: Tag, dv: ua.DataValue) -> str | None:
        """Why the node cannot serve ``tag`` (unknown node, other type), or None."""
        status = dv.StatusCode_ if hasattr(dv, "StatusCode_") else dv.StatusCode
        if status is not None and not status.is_good():
            if status.value in (ua.StatusCodes.BadNodeIdUnknown, ua.StatusCodes.BadNodeIdInvalid):
                return f"node {tag.address} not found on the server ({status.name})"
            if status.value == ua.StatusCodes.BadAttributeIdInvalid:
                return f"node {tag.address} is not a variable ({status.name})"
            return None  # e.g. the DataType not readable for this user: cannot tell, accept
        dtype = dv.Value.Value if dv.Value is not None else None
        if not isinstance(dtype, ua.NodeId):
            return None
        variant = await self._variant(dtype)
        if variant is None or variant in (ua.VariantType.Variant, VARIANT[tag.type]):
            return None
        return f"declared {tag.type}, but the server's node {tag.address} holds {variant.name}"

    async def _variant(self, dtype: ua.NodeId) -> ua.VariantType | None:
        """The built-in type a DataType encodes as (None: cannot tell, accept)."""
        if (
            dtype.NamespaceIndex == 0
            and isinstance(dtype.Identifier, int)
            and dtype.Identifier in _BUILTIN_TYPES
        ):
            return ua.VariantType(dtype.Identifier)
        key = dtype.to_string()
        if key not in self._variant_of:
            assert self.client is not None
            try:
                self._variant_of[key] = await data_type_to_variant_type(self.client.get_node(dtype))
            except (ua.UaError, ValueError):
                self._variant_of[key] = None  # a structure or an unknown type: cannot compare
        return self._variant_of[key]

    async def _check_server_certificate(self) -> None:
        """Check that the server offers the configured policy and mode, and compare the
        certificate it advertises with the pinned one, so either mismatch is reported as
        such instead of as a failed handshake."""
        sec = self.device.security
        assert sec.server_certificate is not None
        try:
            trusted = load_der(sec.server_certificate)
        except (OSError, ValueError) as e:
            raise DriverError(
                self.name, f"cannot read server_certificate {sec.server_certificate}: {e}", retryable=False
            ) from None
        probe = Client(self.device.endpoint, timeout=self.device.timeout_s)
        try:
            endpoints = await asyncio.wait_for(
                probe.connect_and_get_server_endpoints(), self.device.timeout_s * 2
            )
        except Exception as e:
            raise DriverError(
                self.name, f"cannot connect to {self.device.endpoint}: {e or type(e).__name__}"
            ) from None
        modes = list(
            dict.fromkeys(
                f"{ep.SecurityPolicyUri.rsplit('#', 1)[-1]}/{ep.SecurityMode.name.rstrip('_')}"
                for ep in endpoints
            )
        )
        if modes and f"{sec.policy}/{sec.mode}" not in modes:
            raise DriverError(
                self.name,
                f"the server does not offer security policy {sec.policy} with mode {sec.mode} "
                f"(it offers {', '.join(modes)})",
                retryable=False,
            )
        offered = {bytes(ep.ServerCertificate) for ep in endpoints if ep.ServerCertificate}
        if offered and not any(o.startswith(trusted) for o in offered):
            got = ", ".join(sorted(thumbprint(o) for o in offered))
            raise DriverError(
                self.name,
                f"untrusted server certificate: server presents thumbprint {got}, "
                f"trusted is {thumbprint(trusted)} ({sec.server_certificate})",
                retryable=False,
            )

    @staticmethod
    async def _disconnect(c: Client) -> None:
        # If the polite disconnect fails or overruns, close the socket under it.
        if not await bounded(c.disconnect(), 2.0, "OPC UA disconnect", level=logging.DEBUG):
            try:
                c.disconnect_socket()
            except Exception:
                pass

    async def close(self) -> None:
        c, self.client = self.client, None
        self._subs = []
        for t in self._consumers:
            t.cancel()
        if self._consumers:
            await asyncio.wait(self._consumers, timeout=2)
        self._consumers = []
        if c is not None:
            await self._disconnect(c)

    async def _node(self, tag: Tag) -> Node:
        node = self.nodes.get(tag.name)
        if node is not None:
            return node
        assert self.client is not None
        if tag.address.startswith("/"):
            parts = [p for p in tag.address.split("/") if p]
            path = [p if ":" in p else f"0:{p}" for p in parts]
            try:
                node = await self.client.nodes.root.get_child(path)
            except ua.UaError as e:
                raise _TagError(f"browse path {tag.address} not found: {e}") from None
        else:
            node = self.client.get_node(tag.address)
        self.nodes[tag.name] = node
        return node

    async def read(self, tags: Sequence[Tag]) -> list[Reading]:
        if self.client is None:
            raise DriverError(self.name, "not connected")
        out: list[Reading | None] = [None] * len(tags)
        nodes: list[Node] = []
        idx: list[int] = []
        failed = self.failed
        for i, t in enumerate(tags):
            if failed and t.name in failed:
                out[i] = Reading(t.name, None, Quality.BAD, error=failed[t.name])
                continue
            try:
                nodes.append(await self._node(t))
                idx.append(i)
            except _TagError as e:
                out[i] = Reading(t.name, None, Quality.BAD, error=str(e))
            except (TimeoutError, OSError, ConnectionError) as e:
                raise DriverError(self.name, f"browse failed: {e or type(e).__name__}") from None
        if nodes:
            try:
                dvs = await self.client.read_attributes(nodes, ua.AttributeIds.Value)
            except (TimeoutError, OSError, ConnectionError, ua.UaError) as e:
                raise DriverError(self.name, f"read failed: {e or type(e).__name__}") from None
            except Exception as e:
                raise DriverError(self.name, f"read failed: {type(e).__name__}: {e}") from None
            for i, dv in zip(idx, dvs, strict=True):
                out[i] = to_reading(tags[i], dv)
        return [r for r in out if r is not None]

    async def subscribe(self, tags: Sequence[Tag], on_update: OnUpdate) -> list[Tag]:
        """Monitored items per sampling interval; tags the server refuses are polled."""
        if self.client is None:
            raise DriverError(self.name, "not connected")
        fallback: list[Tag] = []
        by_interval: dict[int, list[Tag]] = {}
        for t in tags:
            if t.name in self.failed:
                fallback.append(t)  # polled: comes back BAD with the reason
            else:
                by_interval.setdefault(t.poll_ms, []).append(t)
        for interval, group in by_interval.items():
            # One monitored item per node; every tag on that node gets its notifications.
            nodes: list[Node] = []
            mapping: dict[str, list[Tag]] = {}
            for t in group:
                try:
                    n = await self._node(t)
                except _TagError:
                    fallback.append(t)
                    continue
                key = n.nodeid.to_string()
                if key not in mapping:
                    nodes.append(n)
                    mapping[key] = []
                mapping[key].append(t)
            if not nodes:
                continue
            try:
                # Iterator mode: notifications queue up and are drained in batches (the
                # handler mode runs one task per notification). A full queue forces a
                # reconnect instead of silently dropping values.
                sub = await self.client.create_subscription(
                    ua.CreateSubscriptionParameters(
                        RequestedPublishingInterval=min(self.device.publishing_interval_ms, interval),
                        RequestedLifetimeCount=10000,
                        RequestedMaxKeepAliveCount=3000,
                        MaxNotificationsPerPublish=0,
                        Priority=0,
                    ),
                    None,
                    queue_maxsize=200_000,
                    overflow=OverflowPolicy.DISCONNECT,
                )
                results = await sub.subscribe_data_change(  # type: ignore[call-overload]  # Double is a NewType
                    nodes, sampling_interval=float(interval), queuesize=10
                )
                self._subs.append(sub)
                self._consumers.append(
                    asyncio.create_task(self._consume(sub, mapping, on_update), name=f"opcua-sub-{self.name}")
                )
            except Exception as e:
                log.warning(
                    "%s: subscription refused (%s); polling %d tags instead", self.name, e, len(nodes)
                )
                fallback.extend(t for ts in mapping.values() for t in ts)
                continue
            for n, r in zip(nodes, results if isinstance(results, list) else [results], strict=True):
                if isinstance(r, ua.StatusCode) and not r.is_good():
                    fallback.extend(mapping[n.nodeid.to_string()])
        return fallback

    async def _consume(self, sub: Any, mapping: dict[str, list[Tag]], on_update: OnUpdate) -> None:
        """Drain the subscription's queue: everything waiting is handed over as one batch."""
        queue = sub._event_queue  # asyncua exposes only one-at-a-time iteration
        async for first in sub:
            batch = [first]
            while queue is not None and not queue.empty():
                ev = queue.get_nowait()
                if ev is None:
                    break
                batch.append(ev)
            readings = []
            for ev in batch:
                if isinstance(ev, DataChangeEvent):
                    for tag in mapping.get(ev.node.nodeid.to_string(), ()):
                        readings.append(to_reading(tag, ev.data.monitored_item.Value))
            if readings:
                on_update(readings)

    async def check(self) -> None:
        if self.client is None:
            raise DriverError(self.name, "not connected")
        dead = next((t for t in self._consumers if t.done()), None)
        if dead is not None:
            err = None if dead.cancelled() else dead.exception()
            raise DriverError(self.name, f"subscription stopped: {err or 'closed'}")
        try:
            await self.client.get_node(ua.ObjectIds.Server_ServerStatus_State).read_value()
        except Exception as e:
            raise DriverError(self.name, f"server not answering: {e or type(e).__name__}") from None

    async def write(self, tag: Tag, value: Any) -> None:
        if self.client is None:
            raise DriverError(self.name, "not connected")
        if tag.name in self.failed:
            raise ValueError(self.failed[tag.name])  # refused: it would write the wrong thing
        try:
            node = await self._node(tag)
        except _TagError as e:
            raise ValueError(str(e)) from None
        raw = value
        if tag.numeric and (tag.scale != 1.0 or tag.offset != 0.0):
            raw = (float(value) - tag.offset) / tag.scale
        if tag.type.startswith(("int", "uint")) and not isinstance(raw, (bool, int)):
            raw = round(float(raw))  # whole numbers stay exact (64-bit beyond a float's 2**53)
        elif tag.type.startswith("float"):
            raw = float(raw)
        elif tag.type == "bool":
            raw = bool(raw)
        try:
            await node.write_value(ua.DataValue(ua.Variant(raw, VARIANT[tag.type])))
        except ua.UaStatusCodeError as e:
            raise DriverError(
                self.name, f"server refused the write to {tag.address}: {e}", retryable=False
            ) from None
        except Exception as e:
            raise DriverError(self.name, f"write failed: {type(e).__name__}: {e}") from None


class _TagError(Exception):
    pass
