"""Serve simulated values over a real asyncua server.

Nodes are created at exactly the addresses the config's tags name: string/numeric node
ids in the simulator's namespace (index 2), or browse paths as folders under Objects.
Optional security (Basic256Sha256 Sign / SignAndEncrypt with the server's certificate)
and username login, so the client's secure paths are tested against a real server.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from asyncua import Node, Server, ua
from asyncua.crypto.permission_rules import User, UserRole
from asyncua.server.user_managers import UserManager

from edge.config.devices import OpcUaDevice, Tag
from edge.drivers.opcua import VARIANT
from edge.simulate.model import parse_sim

log = logging.getLogger("lineside.simulate.opcua")
NAMESPACE = "urn:lineside:simulator"
for _noisy in ("asyncua",):
    logging.getLogger(_noisy).setLevel(logging.ERROR)


class _Users(UserManager):
    def __init__(self, users: dict[str, str]) -> None:
        self.users = users

    def get_user(
        self, iserver: Any, username: str | None = None, password: str | None = None, certificate: Any = None
    ) -> User | None:
        if username is None:
            return User(role=UserRole.User) if not self.users else None
        if self.users.get(username) == password:
            return User(role=UserRole.User)
        return None


class OpcUaSimServer:
    def __init__(
        self,
        device: OpcUaDevice,
        tags: list[Tag],
        *,
        certificate: Path | None = None,
        private_key: Path | None = None,
        users: dict[str, str] | None = None,
        allow_insecure: bool = True,
    ) -> None:
        self.device = device
        self.tags = tags
        self.certificate = certificate
        self.private_key = private_key
        self.users = users or {}
        self.allow_insecure = allow_insecure
        self.server = Server(user_manager=_Users(self.users) if self.users else None)
        self.points: list[tuple[Tag, Node, str | None, Any]] = []

    async def start(self, signals: dict[str, Any] | None = None) -> None:
        signals = signals or {}
        s = self.server
        await s.init()
        s.set_endpoint(self.device.endpoint)
        s.set_server_name("Lineside line simulator")
        policies = []
        if self.allow_insecure:
            policies.append(ua.SecurityPolicyType.NoSecurity)
        if self.certificate and self.private_key:
            await s.load_certificate(str(self.certificate))
            await s.load_private_key(str(self.private_key))
            policies += [
                ua.SecurityPolicyType.Basic256Sha256_Sign,
                ua.SecurityPolicyType.Basic256Sha256_SignAndEncrypt,
            ]
        s.set_security_policy(policies)
        if self.users:
            s.set_identity_tokens([ua.UserNameIdentityToken])
        idx = await s.register_namespace(NAMESPACE)
        objects = s.nodes.objects
        folders: dict[str, Node] = {}
        for t in self.tags:
            signal, const = parse_sim(t.sim, t.type)
            initial = signals.get(signal, const) if signal else const
            if isinstance(initial, list) and t.elements == 1:
                initial = initial[0]
            if t.type.startswith(("int", "uint")):
                initial = [int(v) for v in initial] if isinstance(initial, list) else int(initial)
            if t.elements > 1 and not isinstance(initial, list):
                initial = [initial] * t.elements
            variant = ua.Variant(initial, VARIANT[t.type])
            if t.address.startswith("/"):
                parts = [p for p in t.address.split("/") if p]
                if parts and parts[0] in ("Objects", "0:Objects"):
                    parts = parts[1:]
                parent = objects
                for depth, p in enumerate(parts[:-1]):
                    key = "/".join(parts[: depth + 1])
                    if key not in folders:
                        ns, name = p.split(":", 1) if ":" in p else (str(idx), p)
                        folders[key] = await parent.add_folder(
                            ua.NodeId(key, int(ns)),  # type: ignore[arg-type]  # asyncua's NewType aliases
                            ua.QualifiedName(name, int(ns)),
                        )
                    parent = folders[key]
                ns, name = parts[-1].split(":", 1) if ":" in parts[-1] else (str(idx), parts[-1])
                node = await parent.add_variable(
                    ua.NodeId("/".join(parts), int(ns)),  # type: ignore[arg-type]  # asyncua's NewType aliases
                    ua.QualifiedName(name, int(ns)),
                    variant,
                )
            else:
                nodeid = ua.NodeId.from_string(t.address)
                name = t.address.split("=", 2)[-1]
                node = await objects.add_variable(
                    nodeid, ua.QualifiedName(name, nodeid.NamespaceIndex), variant
                )
            if t.writable:
                await node.set_writable()
            self.points.append((t, node, signal, const))
        await s.start()

    async def stop(self) -> None:
        await self.server.stop()

    async def update(self, signals: dict[str, Any]) -> None:
        for t, node, signal, _c in self.points:
            if signal is None or t.writable or signal not in signals:
                continue
            value = signals[signal]
            if t.elements == 1 and isinstance(value, list):
                value = value[0]
            elif t.elements > 1 and not isinstance(value, list):
                value = [value] * t.elements
            if t.type.startswith(("int", "uint")):
                value = [int(v) for v in value] if isinstance(value, list) else int(value)
            await node.write_value(ua.Variant(value, VARIANT[t.type]))

    async def read_writes(self) -> dict[str, Any]:
        out = {}
        for t, node, signal, _c in self.points:
            if t.writable and signal is not None:
                out[signal] = await node.read_value()
        return out
