"""Devices (one per PLC, discriminated on ``protocol``) and tags (each bound to a device
by name, with a protocol-specific address); the address checks per protocol."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, model_validator

from edge.config.base import NAME_RE, Model

DataType = Literal[
    "bool",
    "int8",
    "uint8",
    "int16",
    "uint16",
    "int32",
    "uint32",
    "int64",
    "uint64",
    "float32",
    "float64",
    "string",
]

#: Registers (16-bit words) one value of each type occupies on Modbus.
MODBUS_WORDS: dict[str, int] = {
    "int16": 1,
    "uint16": 1,
    "int32": 2,
    "uint32": 2,
    "int64": 4,
    "uint64": 4,
    "float32": 2,
    "float64": 4,
}


# --------------------------------------------------------------------------- devices


class Reconnect(Model):
    """Capped exponential backoff with jitter between reconnect attempts."""

    initial_s: Annotated[float, Field(gt=0, le=60)] = 1.0
    """First wait after a fault, in seconds."""
    max_s: Annotated[float, Field(gt=0, le=3600)] = 30.0
    """Upper bound of the wait, in seconds."""
    jitter: Annotated[float, Field(ge=0, le=1)] = 0.2
    """Fraction of random spread applied to each wait (0.2 = ±20%)."""


class DeviceBase(Model):
    name: Annotated[str, Field(pattern=NAME_RE)]
    """Unique device name; tags refer to it."""
    timeout_s: Annotated[float, Field(gt=0, le=60)] = 2.0
    """Time allowed for one request before the device counts as not answering."""
    reconnect: Reconnect = Reconnect()
    """Backoff between reconnect attempts."""
    enabled: bool = True
    """A disabled device is not polled; its tags stay bad."""


class OpcUaSecurity(Model):
    """OPC UA secure channel. Server certificates are always validated when secure."""

    policy: Literal["None", "Basic256Sha256"] = "None"
    """Security policy; ``Basic256Sha256`` for signed or encrypted channels."""
    mode: Literal["None", "Sign", "SignAndEncrypt"] = "None"
    """Message security mode."""
    certificate: Path | None = None
    """Client application certificate (DER or PEM)."""
    private_key: Path | None = None
    """Client private key (PEM)."""
    server_certificate: Path | None = None
    """The server certificate the client trusts (pinned); the channel is refused if the
    server presents any other."""

    @model_validator(mode="after")
    def _consistent(self) -> OpcUaSecurity:
        if (self.policy == "None") != (self.mode == "None"):
            raise ValueError("policy and mode must both be 'None' or both be set")
        if self.policy != "None":
            missing = [
                f for f in ("certificate", "private_key", "server_certificate") if getattr(self, f) is None
            ]
            if missing:
                raise ValueError(f"a secure channel needs {', '.join(missing)}")
        return self


class OpcUaDevice(DeviceBase):
    """A PLC or gateway that speaks OPC UA (client side via asyncua)."""

    protocol: Literal["opcua"]
    endpoint: Annotated[str, Field(pattern=r"^opc\.tcp://")]
    """Server endpoint, e.g. ``opc.tcp://10.0.0.5:4840``."""
    security: OpcUaSecurity = OpcUaSecurity()
    """Security policy and certificates."""
    username: str | None = None
    """User name for username/password login (optional)."""
    password_env: str | None = None
    """Name of the environment variable that holds the password (never in this file)."""
    password_file: Path | None = None
    """File that holds the password (alternative to ``password_env``)."""
    watchdog_interval_s: Annotated[float, Field(ge=2, le=3600)] = 5.0
    """Client keep-alive check interval; a busy server drops sessions at asyncua's 1 s."""
    session_timeout_s: Annotated[float, Field(ge=5, le=86400)] = 60.0
    """Requested session timeout."""
    publishing_interval_ms: Annotated[int, Field(ge=10, le=60000)] = 100
    """Subscription publishing interval."""
    future_tolerance_s: Annotated[float, Field(ge=0, le=3600)] = 2.0
    """A source timestamp further ahead of the agent's clock than this (the server's
    clock runs ahead) is replaced by the agent's clock, and recorded once per tag."""

    def password(self) -> str | None:
        if self.password_env:
            return os.environ.get(self.password_env)
        if self.password_file:
            return self.password_file.read_text().strip()
        return None


class ModbusCommon(DeviceBase):
    unit: Annotated[int, Field(ge=0, le=255)] = 1
    """Default unit (slave/device) id; a tag may override it."""
    max_registers: Annotated[int, Field(ge=1, le=125)] = 125
    """Largest register block one read may request (the protocol allows 125)."""
    max_bits: Annotated[int, Field(ge=1, le=2000)] = 2000
    """Largest coil/discrete-input block one read may request."""
    max_gap: Annotated[int, Field(ge=0, le=124)] = 10
    """Unused registers the read planner may read to merge two tags into one request."""


class ModbusTcpDevice(ModbusCommon):
    """Modbus TCP device (pymodbus)."""

    protocol: Literal["modbus_tcp"]
    host: str
    """IP address or host name."""
    port: Annotated[int, Field(ge=1, le=65535)] = 502
    """TCP port."""


class ModbusRtuDevice(ModbusCommon):
    """Modbus RTU device on a serial line (pymodbus + pyserial)."""

    protocol: Literal["modbus_rtu"]
    serial_port: str
    """Serial device, e.g. ``/dev/ttyUSB0``."""
    baudrate: Literal[1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200] = 19200
    """Line speed."""
    parity: Literal["N", "E", "O"] = "E"
    """Parity (Modbus default is even)."""
    stopbits: Literal[1, 2] = 1
    """Stop bits."""
    bytesize: Literal[7, 8] = 8
    """Data bits."""


class EthernetIpDevice(DeviceBase):
    """Allen-Bradley Logix controller over EtherNet/IP (pycomm3 LogixDriver)."""

    protocol: Literal["ethernetip"]
    host: str
    """IP address or host name."""
    port: Annotated[int, Field(ge=1, le=65535)] = 44818
    """TCP port (44818 is the EtherNet/IP default)."""
    slot: Annotated[int, Field(ge=0, le=31)] = 0
    """Backplane slot of the controller."""
    tag_list: Literal["config", "upload"] = "config"
    """``config`` builds tag definitions from this file (many controllers and simulators
    do not answer the tag-list upload); ``upload`` asks the controller."""


Device = Annotated[
    OpcUaDevice | ModbusTcpDevice | ModbusRtuDevice | EthernetIpDevice,
    Field(discriminator="protocol"),
]

# --------------------------------------------------------------------------- tags


class Deadband(Model):
    """A new value is recorded only when it moves more than the deadband."""

    absolute: Annotated[float, Field(ge=0)] | None = None
    """Minimum absolute change (engineering units)."""
    percent: Annotated[float, Field(ge=0, le=100)] | None = None
    """Minimum change in percent of ``span`` (or of the last value if no span)."""
    span: Annotated[float, Field(gt=0)] | None = None
    """Engineering range the percent applies to (e.g. 0–200 °C → 200)."""
    max_interval_s: Annotated[float, Field(gt=0)] | None = 60.0
    """Record the value at least this often even when unchanged (historian heartbeat)."""

    @model_validator(mode="after")
    def _one(self) -> Deadband:
        if self.absolute is not None and self.percent is not None:
            raise ValueError("give either absolute or percent, not both")
        return self


MODBUS_ADDR_RE = re.compile(r"^(hr|ir|co|di):(\d+)(?:\.(\d+))?$")
OPCUA_NODE_RE = re.compile(r"^(ns=\d+;)?(i=\d+|s=.+|g=[0-9a-fA-F-]{36}|b=.+)$")
LOGIX_TAG_RE = re.compile(
    r"^(Program:[A-Za-z_][A-Za-z0-9_]*\.)?[A-Za-z_][A-Za-z0-9_]*(\[\d+(,\d+){0,2}\])?"
    r"(\.[A-Za-z_][A-Za-z0-9_]*(\[\d+\])?)*(\.\d{1,2})?$"
)


class Tag(Model):
    """One value read from a device."""

    name: Annotated[str, Field(pattern=NAME_RE)]
    """Unique tag name used by line logic, history and the UI (e.g. ``filler.speed``)."""
    device: str
    """Name of the device the tag lives on."""
    address: str
    """Protocol address. Modbus: ``hr:100`` / ``ir:7`` / ``co:3`` / ``di:0`` (zero-based),
    ``hr:12.5`` for bit 5 of a register. OPC UA: ``ns=2;s=Filler.Speed`` or a browse path
    ``/Objects/2:Filler/2:Speed``. EtherNet/IP: the Logix tag, e.g. ``Counter`` or
    ``Temps[0]``."""
    type: DataType = "float32"
    """Data type as the device holds it."""
    elements: Annotated[int, Field(ge=1, le=1000)] = 1
    """Array length (EtherNet/IP arrays); 1 for scalars."""
    length: Annotated[int, Field(ge=1, le=250)] | None = None
    """String length in characters (Modbus strings: two per register)."""
    unit: Annotated[int, Field(ge=0, le=255)] | None = None
    """Modbus unit id, if not the device's."""
    word_order: Literal["big", "little"] = "big"
    """Modbus: order of 16-bit words in multi-register values (``little`` = low word first)."""
    byte_order: Literal["big", "little"] = "big"
    """Modbus: order of bytes inside each register."""
    scale: float = 1.0
    """Engineering value = raw × scale + offset (numeric types only)."""
    offset: float = 0.0
    """Added after scaling."""
    eng_unit: str = ""
    """Engineering unit shown to people (``°C``, ``bar``, ``pcs``)."""
    mode: Literal["poll", "subscribe"] = "poll"
    """``subscribe`` uses OPC UA monitored items (falls back to polling when the server
    refuses); other protocols always poll."""
    poll_ms: Annotated[int, Field(ge=1, le=3_600_000)] = 1000
    """Poll period (also the sampling interval of an OPC UA subscription); tags with the
    same period on one device form one poll group, read together."""
    deadband: Deadband | None = None
    """Change filter; without one every read that differs from the last is recorded."""
    writable: bool = False
    """Only tags marked writable accept writes (andon lights, stop-line); all else is refused."""
    description: str = ""
    """Free text."""
    sim: str | None = None
    """Test rigs only: what ``lineside simulate`` serves at this address, either a line
    model signal (see ``edge.simulate.model.SIGNALS``) or a constant written ``=VALUE``."""

    @model_validator(mode="after")
    def _shape(self) -> Tag:
        if self.type == "string" and (self.scale != 1.0 or self.offset != 0.0):
            raise ValueError("scale/offset apply to numeric types only")
        return self

    @property
    def numeric(self) -> bool:
        return self.type not in ("string", "bool") and self.elements == 1


def missing_files(devices: list[Any]) -> list[str]:
    """Files the devices name that do not exist (certificates, keys, password files),
    one message each naming the field. ``config check`` reports them; loading does not,
    so a config can be read on a machine without the agent's secrets."""
    out: list[str] = []
    for i, d in enumerate(devices):
        if not isinstance(d, OpcUaDevice):
            continue
        fields: list[tuple[str, Path | None]] = [
            (f"security.{f}", getattr(d.security, f))
            for f in ("certificate", "private_key", "server_certificate")
        ]
        fields.append(("password_file", d.password_file))
        for field, path in fields:
            if path is not None and not path.is_file():
                what = "is not a file" if path.exists() else "does not exist"
                out.append(f"devices[{i}].{field}: device {d.name!r}: {path} {what}")
    return out


def check_address(t: Tag, dev: Any) -> list[tuple[str, str]]:
    """Protocol-specific checks of a tag's address and type; returns (field, message)."""
    out: list[tuple[str, str]] = []
    proto = dev.protocol
    if proto in ("modbus_tcp", "modbus_rtu"):
        m = MODBUS_ADDR_RE.match(t.address)
        if not m:
            return [("address", f"{t.address!r} is not a Modbus address (hr:N, ir:N, co:N, di:N, hr:N.BIT)")]
        table, addr, bit = m.group(1), int(m.group(2)), m.group(3)
        if t.elements != 1:
            out.append(("elements", "Modbus tags are scalars (use one tag per value)"))
        if table in ("co", "di"):
            if t.type != "bool":
                out.append(("type", f"{table} holds bits: type must be bool, not {t.type}"))
            if bit is not None:
                out.append(("address", "a bit index applies to registers only (hr/ir)"))
            words = 0
        elif bit is not None:
            if int(bit) > 15:
                out.append(("address", f"bit {bit} is out of range 0..15"))
            if t.type != "bool":
                out.append(("type", "a bit in a register must have type bool"))
            words = 1
        elif t.type == "bool":
            out.append(("type", "bool in a register needs a bit index (e.g. hr:12.0)"))
            words = 1
        elif t.type == "string":
            if t.length is None:
                out.append(("length", "a Modbus string needs length (characters)"))
            words = ((t.length or 2) + 1) // 2
        elif t.type in ("int8", "uint8"):
            out.append(("type", "Modbus has no 8-bit registers; use int16/uint16"))
            words = 1
        else:
            words = MODBUS_WORDS[t.type]
        if addr + max(words, 1) - 1 > 65535:
            out.append(("address", f"address {addr} (+{words} registers) is out of range 0..65535"))
        if t.mode == "subscribe":
            out.append(("mode", "Modbus tags are polled; subscribe is for OPC UA"))
    elif proto == "opcua":
        if not (OPCUA_NODE_RE.match(t.address) or t.address.startswith("/")):
            out.append(
                ("address", f"{t.address!r} is not a node id (ns=2;s=Name) or browse path (/Objects/2:Name)")
            )
    elif proto == "ethernetip":
        if not LOGIX_TAG_RE.match(t.address):
            out.append(("address", f"{t.address!r} is not a Logix tag name"))
        if t.type in ("uint16", "uint32", "uint64"):
            out.append(("type", f"Logix has no {t.type}; use the signed type"))
        elif t.type == "string":
            out.append(
                ("type", "Logix STRING is a structure; string tags are not supported on EtherNet/IP yet")
            )
        elif t.type == "bool" and t.elements > 1:
            out.append(("elements", "Logix BOOL arrays are packed in DINTs; read them as int32 elements"))
        if t.mode == "subscribe":
            out.append(("mode", "EtherNet/IP tags are polled; subscribe is for OPC UA"))
    return out
