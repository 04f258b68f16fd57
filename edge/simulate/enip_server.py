"""A small EtherNet/IP (CIP) server that a Logix client such as pycomm3's LogixDriver can
read and write: enough of a ControlLogix to test the driver against real wire bytes.

Implemented: encapsulation (ListIdentity, RegisterSession, UnRegisterSession,
SendRRData, SendUnitData); Unconnected Send; (Large) Forward Open / Forward Close;
Get Attributes All on the Identity and program-name objects; Read Tag, Write Tag,
Read/Write Tag Fragmented and Multiple Service Packet on atomic tags and arrays.

The server is strict on purpose: a Write Tag request carrying more bytes than its type
and element count need is refused with CIP status 0x15 (too much data), as a controller
would, and every applied write is logged, so a client that sends a payload twice is
caught by tests.
"""

from __future__ import annotations

import asyncio
import logging
import struct
from dataclasses import dataclass, field
from typing import Any

from edge.drivers.logix_types import CIP_TYPES, CODE_TO_TYPE

log = logging.getLogger("lineside.simulate.enip")

SUCCESS, PATH_SEGMENT_ERROR, PATH_UNKNOWN, PARTIAL, NOT_SUPPORTED = 0x00, 0x04, 0x05, 0x06, 0x08
TOO_MUCH_DATA, NOT_ENOUGH_DATA, EMBEDDED_ERROR, TYPE_MISMATCH = 0x15, 0x13, 0x1E, 0xFF
MAX_REPLY = 3900  # bytes of tag data per fragment (fits a 4000-byte large connection)


@dataclass
class LogixTag:
    name: str
    type: str  # Logix type name
    values: list[Any]

    @property
    def fmt(self) -> str:
        return "<" + CIP_TYPES[self.type][1]

    @property
    def size(self) -> int:
        return struct.calcsize(self.fmt)

    def pack(self, start: int, count: int) -> bytes:
        fmt = self.fmt
        out = []
        for v in self.values[start : start + count]:
            out.append(struct.pack(fmt, (0xFF if v else 0) if self.type == "BOOL" else v))
        return b"".join(out)


@dataclass
class WriteRecord:
    tag: str
    index: int
    values: list[Any]


@dataclass
class _Conn:
    session: int = 0
    o_t_cid: int = 0
    frag_writes: dict[str, bytearray] = field(default_factory=dict)


class EnipSimServer:
    def __init__(
        self, host: str = "127.0.0.1", port: int = 44818, *, product_name: str = "1756-L83E/B Lineside Sim"
    ) -> None:
        self.host = host
        self.port = port
        self.product_name = product_name
        self.tags: dict[str, LogixTag] = {}
        self.writes: list[WriteRecord] = []
        self.refused: list[tuple[str, int]] = []  # (tag, status) of refused writes
        self._server: asyncio.base_events.Server | None = None
        self._next_session = 0x1000
        self._next_cid = 0x2000
        self._writers: set[asyncio.StreamWriter] = set()

    # ------------------------------------------------------------------ tag database

    def add_tag(self, name: str, logix_type: str, value: Any, elements: int = 1) -> None:
        if logix_type not in CIP_TYPES:
            raise ValueError(f"unsupported Logix type {logix_type}")
        values = list(value) if isinstance(value, list) else [value] * elements
        if len(values) < elements:
            values += [values[-1]] * (elements - len(values))
        self.tags[name] = LogixTag(name, logix_type, values)

    def set(self, name: str, value: Any) -> None:
        t = self.tags[name]
        if isinstance(value, list):
            t.values[: len(value)] = value
        else:
            t.values[0] = value

    def get(self, name: str) -> Any:
        t = self.tags[name]
        return t.values if len(t.values) > 1 else t.values[0]

    # ------------------------------------------------------------------ server

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._client, self.host, self.port)
        if self.port == 0:
            self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server:
            self._server.close()
            for w in list(self._writers):
                w.close()
            await self._server.wait_closed()
            self._server = None

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = _Conn()
        self._writers.add(writer)
        try:
            while True:
                header = await reader.readexactly(24)
                command, length, session, _status, context, options = struct.unpack("<HHII8sI", header)
                data = await reader.readexactly(length)
                reply = self._encap(conn, command, session, data)
                if reply is None:
                    if command == 0x66:
                        break
                    continue
                status, payload, session_out = reply
                writer.write(
                    struct.pack("<HHII8sI", command, len(payload), session_out, status, context, options)
                    + payload
                )
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        except Exception:  # a simulator bug must not kill the server; show it
            log.exception("EtherNet/IP simulator: client handler failed")
        finally:
            self._writers.discard(writer)
            writer.close()

    def _encap(self, conn: _Conn, command: int, session: int, data: bytes) -> tuple[int, bytes, int] | None:
        if command == 0x63:  # ListIdentity
            return 0, self._list_identity(), session
        if command == 0x65:  # RegisterSession
            self._next_session += 1
            conn.session = self._next_session
            return 0, data[:4], conn.session
        if command == 0x66:  # UnRegisterSession
            return None
        if session != conn.session or conn.session == 0:
            return 0x64, b"", session  # invalid session handle
        if command == 0x6F:  # SendRRData (unconnected)
            cip = self._cpf_data(data)
            rsp = self._unconnected(conn, cip)
            return 0, self._cpf(b"\x00\x00", b"", 0xB2, rsp), session
        if command == 0x70:  # SendUnitData (connected)
            items = self._cpf_items(data)
            seq = items[1][1][:2]
            rsp = self._service(conn, items[1][1][2:])
            cid = struct.pack("<I", conn.o_t_cid)
            return 0, self._cpf(b"\xa1\x00", cid, 0xB1, seq + rsp), session
        return 0x01, b"", session  # invalid or unsupported command

    def _list_identity(self) -> bytes:
        name = self.product_name.encode()
        body = (
            struct.pack("<H", 1)
            + struct.pack(">hH", 2, self.port)
            + bytes(4)
            + bytes(8)
            + struct.pack("<HHHBBHI", 1, 0x0E, 166, 20, 11, 0x3060, 0x00C0FFEE)
            + bytes([len(name)])
            + name
            + b"\x03"
        )
        return struct.pack("<HHH", 1, 0x0C, len(body)) + body

    @staticmethod
    def _cpf_items(data: bytes) -> list[tuple[int, bytes]]:
        count = struct.unpack_from("<H", data, 6)[0]
        pos, items = 8, []
        for _ in range(count):
            t, n = struct.unpack_from("<HH", data, pos)
            items.append((t, data[pos + 4 : pos + 4 + n]))
            pos += 4 + n
        return items

    def _cpf_data(self, data: bytes) -> bytes:
        return self._cpf_items(data)[1][1]

    @staticmethod
    def _cpf(addr_type: bytes, addr: bytes, data_type: int, payload: bytes) -> bytes:
        return (
            bytes(6)
            + struct.pack("<H", 2)
            + addr_type
            + struct.pack("<H", len(addr))
            + addr
            + struct.pack("<HH", data_type, len(payload))
            + payload
        )

    # ------------------------------------------------------------------ CIP

    @staticmethod
    def _split(req: bytes) -> tuple[int, bytes, bytes]:
        service, words = req[0], req[1]
        return service, req[2 : 2 + 2 * words], req[2 + 2 * words :]

    @staticmethod
    def _reply(service: int, status: int, data: bytes = b"") -> bytes:
        return bytes([service | 0x80, 0, status, 0]) + data

    def _unconnected(self, conn: _Conn, req: bytes) -> bytes:
        service, _path, data = self._split(req)
        if service == 0x52:  # Unconnected Send: unwrap the embedded request
            (size,) = struct.unpack_from("<H", data, 2)
            return self._service(conn, data[4 : 4 + size])
        if service in (0x54, 0x5B):  # Forward Open / Large Forward Open
            self._next_cid += 1
            conn.o_t_cid = self._next_cid
            t_o_cid = data[6:10]
            serial_vendor_orig = data[10:18]
            rpi = data[22:26]
            return self._reply(
                service,
                SUCCESS,
                struct.pack("<I", conn.o_t_cid) + t_o_cid + serial_vendor_orig + rpi + rpi + b"\x00\x00",
            )
        if service == 0x4E:  # Forward Close
            conn.o_t_cid = 0
            return self._reply(service, SUCCESS, data[2:10] + b"\x00\x00")
        return self._service(conn, req)

    def _service(self, conn: _Conn, req: bytes) -> bytes:
        service, path, data = self._split(req)
        try:
            if service == 0x01:  # Get Attributes All
                return self._get_attributes_all(path)
            if service == 0x0A:
                return self._multi(conn, data)
            if service in (0x4C, 0x52):
                return self._read(service, path, data)
            if service in (0x4D, 0x53):
                return self._write(conn, service, path, data)
        except _CipError as e:
            return self._reply(service, e.status)
        return self._reply(service, NOT_SUPPORTED)

    def _get_attributes_all(self, path: bytes) -> bytes:
        cls = _logical(path, 0x20)
        if cls == 0x01:  # Identity
            name = self.product_name.encode()
            return self._reply(
                0x01,
                SUCCESS,
                struct.pack("<HHHBBHI", 1, 0x0E, 166, 20, 11, 0x3060, 0x00C0FFEE) + bytes([len(name)]) + name,
            )
        if cls == 0x64:  # controller program name
            name = b"LinesideSim"
            return self._reply(0x01, SUCCESS, struct.pack("<H", len(name)) + name)
        return self._reply(0x01, PATH_UNKNOWN)

    def _multi(self, conn: _Conn, data: bytes) -> bytes:
        (n,) = struct.unpack_from("<H", data, 0)
        offsets = [*struct.unpack_from(f"<{n}H", data, 2), len(data)]
        replies = [self._service(conn, data[offsets[i] : offsets[i + 1]]) for i in range(n)]
        out_offsets, pos = [], 2 + 2 * n
        for r in replies:
            out_offsets.append(pos)
            pos += len(r)
        status = EMBEDDED_ERROR if any(r[2] not in (SUCCESS, PARTIAL) for r in replies) else SUCCESS
        return self._reply(0x0A, status, struct.pack(f"<H{n}H", n, *out_offsets) + b"".join(replies))

    def _resolve(self, path: bytes) -> tuple[LogixTag, int]:
        names, index, pos = [], 0, 0
        while pos < len(path):
            seg = path[pos]
            if seg == 0x91:
                n = path[pos + 1]
                names.append(path[pos + 2 : pos + 2 + n].decode("ascii"))
                pos += 2 + n + (n % 2)
            elif seg == 0x28:
                index, pos = path[pos + 1], pos + 2
            elif seg == 0x29:
                (index,) = struct.unpack_from("<H", path, pos + 2)
                pos += 4
            elif seg == 0x2A:
                (index,) = struct.unpack_from("<I", path, pos + 2)
                pos += 6
            else:
                raise _CipError(PATH_SEGMENT_ERROR)
        tag = self.tags.get(".".join(names))
        if tag is None:
            raise _CipError(PATH_UNKNOWN)
        if index >= len(tag.values):
            raise _CipError(PATH_UNKNOWN)
        return tag, index

    def _read(self, service: int, path: bytes, data: bytes) -> bytes:
        tag, index = self._resolve(path)
        (elements,) = struct.unpack_from("<H", data, 0)
        if index + elements > len(tag.values):
            raise _CipError(PATH_UNKNOWN)
        payload = tag.pack(index, elements)
        offset = struct.unpack_from("<I", data, 2)[0] if service == 0x52 else 0
        chunk = payload[offset : offset + MAX_REPLY]
        more = offset + len(chunk) < len(payload)
        if service == 0x4C and more:
            chunk, more = payload, False  # unfragmented read: whole value (client sized it)
        type_code = struct.pack("<H", CIP_TYPES[tag.type][0])
        return self._reply(service, PARTIAL if more else SUCCESS, type_code + chunk)

    def _write(self, conn: _Conn, service: int, path: bytes, data: bytes) -> bytes:
        tag, index = self._resolve(path)
        type_code, elements = struct.unpack_from("<HH", data, 0)
        if CODE_TO_TYPE.get(type_code) != tag.type:
            self.refused.append((tag.name, TYPE_MISMATCH))
            raise _CipError(TYPE_MISMATCH)
        if index + elements > len(tag.values):
            self.refused.append((tag.name, PATH_UNKNOWN))
            raise _CipError(PATH_UNKNOWN)
        expected = elements * tag.size
        if service == 0x4D:
            body = data[4:]
            if len(body) != expected:
                status = TOO_MUCH_DATA if len(body) > expected else NOT_ENOUGH_DATA
                self.refused.append((tag.name, status))
                raise _CipError(status)
        else:
            (offset,) = struct.unpack_from("<I", data, 4)
            buf = conn.frag_writes.setdefault(tag.name, bytearray())
            if offset != len(buf):
                conn.frag_writes.pop(tag.name, None)
                raise _CipError(PATH_SEGMENT_ERROR)
            buf += data[8:]
            if len(buf) > expected:
                conn.frag_writes.pop(tag.name, None)
                self.refused.append((tag.name, TOO_MUCH_DATA))
                raise _CipError(TOO_MUCH_DATA)
            if len(buf) < expected:
                return self._reply(service, SUCCESS)
            body = bytes(conn.frag_writes.pop(tag.name))
        fmt = "<" + CIP_TYPES[tag.type][1] * elements
        values = list(struct.unpack(fmt, body))
        if tag.type == "BOOL":
            values = [bool(v) for v in values]
        tag.values[index : index + elements] = values
        self.writes.append(WriteRecord(tag.name, index, values))
        return self._reply(service, SUCCESS)


class _CipError(Exception):
    def __init__(self, status: int) -> None:
        super().__init__(f"CIP status 0x{status:02x}")
        self.status = status


def _logical(path: bytes, kind: int) -> int | None:
    pos = 0
    while pos < len(path):
        seg = path[pos]
        if seg == kind:
            return path[pos + 1]
        if seg == kind | 1:
            return int(struct.unpack_from("<H", path, pos + 2)[0])
        pos += 2 if seg & 0x03 == 0 else 4
    return None
