"""EtherNet/IP driver for Logix controllers (pycomm3 LogixDriver, blocking, in one worker thread).

Tag definitions come from the config by default: many controllers and simulators do
not answer the tag-list upload. pycomm3's single-tag write builds its message twice
and so sends the payload twice; ``_Logix`` corrects that (see the method's comment).

Every read answer carries the controller's data type. pycomm3 decodes the bytes as the
definition says (from the config: a REAL read as DINT gives 1101791232), so ``_Logix``
compares the answer's type with the declared one and fails the tag with the reason
when they differ; so does a tag the controller does not know.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from pycomm3 import LogixDriver
from pycomm3.cip import DataTypes
from pycomm3.cip.data_types import Array
from pycomm3.exceptions import PycommError
from pycomm3.packets import (
    ReadTagFragmentedResponsePacket,
    ReadTagResponsePacket,
    WriteTagFragmentedRequestPacket,
    WriteTagRequestPacket,
)

from edge.config.devices import EthernetIpDevice, Tag
from edge.core.errors import DriverError
from edge.drivers.base import OnUpdate, Reading
from edge.drivers.logix_types import CODE_TO_TYPE, LOGIX_TYPE
from edge.logic.model import Quality

for _noisy in ("pycomm3",):
    logging.getLogger(_noisy).setLevel(logging.CRITICAL)


#: Integer types a BOOL tag may address a bit of (``Flags.3``).
_BIT_HOSTS = frozenset({"SINT", "USINT", "INT", "DINT", "LINT"})


def type_mismatch(resp: Any) -> str | None:
    """Why a read answer's data type is not the one its tag definition declares, or None."""
    if not isinstance(resp, ReadTagResponsePacket) or not resp:
        return None
    data: Any = resp._data_type if isinstance(resp, ReadTagFragmentedResponsePacket) else resp.data
    head = data[:2] if isinstance(data, bytes) else None
    if not isinstance(head, bytes) or len(head) != 2 or head == b"\xa0\x02":  # a structure
        return None
    got = CODE_TO_TYPE.get(int.from_bytes(head, "little"))
    declared = (resp.tag_info or {}).get("data_type_name")
    if got is None or declared is None or got == declared:
        return None
    if declared == "BOOL" and got in _BIT_HOSTS:
        return None
    return f"declared {declared}, but the controller's tag {base_name(resp.tag)} is {got}"


class _Logix(LogixDriver):
    def send(self, request: Any) -> Any:
        # Refuse to decode an answer as another type than the controller says it is.
        response = super().send(request)
        for resp in getattr(response, "responses", None) or [response]:
            why = type_mismatch(resp)
            if why is not None:
                resp._error, resp.value = why, None
        return response

    def _write_build_single_request(self, parsed_tag: dict[str, Any]) -> Any:
        # pycomm3 1.2.x calls build_message() and then resets ``_msg_setup``; sending
        # calls build_message() again, which appends the sequence and tag payload a
        # second time. Mark the already-built message as set up so it is sent once.
        request = super()._write_build_single_request(parsed_tag)
        if isinstance(request, WriteTagRequestPacket) and not isinstance(
            request, WriteTagFragmentedRequestPacket
        ):
            request._msg_setup = True
        return request


def base_name(address: str) -> str:
    """``Program:Main.Temps[3]`` -> ``Program:Main.Temps`` (the key pycomm3 looks up)."""
    base, *attrs = address.split(".")
    if base.startswith("Program:") and attrs:
        base = f"{base}.{attrs.pop(0)}"
    return base.split("[", 1)[0]


def tag_definition(tag: Tag, instance_id: int) -> dict[str, Any]:
    """A pycomm3 tag definition built from config instead of the controller's tag list."""
    logix = LOGIX_TYPE[tag.type]
    type_class = DataTypes.get(logix)
    return {
        "tag_name": base_name(tag.address),
        "dim": 1 if tag.elements > 1 else 0,
        "dimensions": [tag.elements if tag.elements > 1 else 0, 0, 0],
        "alias": False,
        "instance_id": instance_id,
        "symbol_address": 0,
        "symbol_object_address": 0,
        "software_control": 0,
        "external_access": "Read/Write",
        "data_type": logix,
        "data_type_name": logix,
        "tag_type": "atomic",
        "type_class": Array(length_=tag.elements, element_type_=type_class)
        if tag.elements > 1
        else type_class,
    }


class EthernetIpDriver:
    def __init__(self, device: EthernetIpDevice, tags: list[Tag]) -> None:
        self.device = device
        self.name = device.name
        self.tags = tags
        self.plc: _Logix | None = None
        # pycomm3 is blocking and not thread-safe: one dedicated thread per device.
        self._exec = ThreadPoolExecutor(1, thread_name_prefix=f"enip-{device.name}")

    async def _call(self, fn: Any, *args: Any) -> Any:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._exec, fn, *args)

    def _open(self) -> _Logix:
        d = self.device
        plc = _Logix(f"{d.host}:{d.port}/{d.slot}", init_tags=d.tag_list == "upload", init_program_tags=False)
        plc.socket_timeout = d.timeout_s
        try:
            if not plc.open():
                raise DriverError(self.name, "session refused by the controller")
        except PycommError as e:
            try:
                plc.close()
            except Exception:
                pass
            raise DriverError(self.name, f"cannot connect to {d.host}:{d.port}: {_cause(e)}") from None
        if d.tag_list == "config":
            for i, t in enumerate(self.tags, start=1):
                plc._tags.setdefault(base_name(t.address), tag_definition(t, i))
        return plc

    async def connect(self) -> None:
        await self.close()
        self.plc = await self._call(self._open)

    async def close(self) -> None:
        plc, self.plc = self.plc, None
        if plc is not None:
            try:
                await asyncio.wait_for(self._call(plc.close), self.device.timeout_s + 1)
            except Exception:
                pass

    def _read(self, requests: list[str]) -> list[Any]:
        assert self.plc is not None
        try:
            res = self.plc.read(*requests)
        except PycommError as e:
            raise DriverError(self.name, f"read failed: {_cause(e)}") from None
        return res if isinstance(res, list) else [res]

    async def read(self, tags: Sequence[Tag]) -> list[Reading]:
        if self.plc is None:
            raise DriverError(self.name, "not connected")
        reqs = [t.address + (f"{{{t.elements}}}" if t.elements > 1 else "") for t in tags]
        results = await self._call(self._read, reqs)
        out = []
        comm_errors = 0
        for t, r in zip(tags, results, strict=True):
            if r.error:
                err = r.error.lower()
                comm_errors += "failed to send" in err or "connection" in err
                if "destination unknown" in err or "path segment error" in err:
                    err = f"the controller has no tag {base_name(t.address)} ({r.error})"
                else:
                    err = r.error
                out.append(Reading(t.name, None, Quality.BAD, error=err))
            elif (why := _declared_type_problem(t, r.type)) is not None:
                out.append(Reading(t.name, None, Quality.BAD, error=why))
            else:
                out.append(Reading(t.name, _scale(t, r.value)))
        if tags and comm_errors == len(tags):
            raise DriverError(self.name, f"controller not answering: {results[0].error}")
        return out

    def _write(self, pairs: list[tuple[str, Any]]) -> list[Any]:
        assert self.plc is not None
        try:
            res = self.plc.write(*pairs)
        except PycommError as e:
            raise DriverError(self.name, f"write failed: {_cause(e)}") from None
        return res if isinstance(res, list) else [res]

    async def write_many(self, items: Sequence[tuple[Tag, Any]]) -> None:
        """Write several tags in one Multiple Service Packet."""
        if self.plc is None:
            raise DriverError(self.name, "not connected")
        pairs = [
            (t.address + (f"{{{t.elements}}}" if t.elements > 1 else ""), _unscale(t, v)) for t, v in items
        ]
        results = await self._call(self._write, pairs)
        errors = [f"{p[0]}: {r.error}" for p, r in zip(pairs, results, strict=True) if r.error]
        if errors:
            raise DriverError(
                self.name, "controller refused the write: " + "; ".join(errors), retryable=False
            )

    async def write(self, tag: Tag, value: Any) -> None:
        await self.write_many([(tag, value)])

    async def subscribe(self, tags: Sequence[Tag], on_update: OnUpdate) -> list[Tag]:
        return list(tags)

    async def check(self) -> None:
        if self.plc is None or not self.plc.connected:
            raise DriverError(self.name, "not connected")


def _declared_type_problem(tag: Tag, got: str | None) -> str | None:
    """The read's type (``REAL``, ``DINT[3]``; from the controller's tag list or another
    tag's definition on the same Logix tag) against the tag's declared type."""
    if not got:
        return None
    base = got.split("[", 1)[0]
    want = LOGIX_TYPE.get(tag.type)
    if want is None or base == want or base not in CODE_TO_TYPE.values():
        return None
    if want == "BOOL" and base in _BIT_HOSTS:
        return None
    return f"declared {want}, but the controller's tag {base_name(tag.address)} is {base}"


def _scale(tag: Tag, value: Any) -> Any:
    if isinstance(value, list):
        return [_scale(tag, v) for v in value]
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or (tag.scale == 1.0 and tag.offset == 0.0)
    ):
        return value
    return value * tag.scale + tag.offset


def _unscale(tag: Tag, value: Any) -> Any:
    if isinstance(value, list):
        return [_unscale(tag, v) for v in value]
    if tag.type == "bool":
        return bool(value)
    raw = value if (tag.scale == 1.0 and tag.offset == 0.0) else (float(value) - tag.offset) / tag.scale
    return round(raw) if tag.type.startswith("int") else float(raw)


def _cause(e: BaseException) -> str:
    parts = []
    cur: BaseException | None = e
    while cur is not None:
        parts.append(str(cur) or type(cur).__name__)
        cur = cur.__cause__
    return " / ".join(parts)
