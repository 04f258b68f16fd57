"""Pydantic models of one line's configuration file, and the loader that reports errors.

A line is described by one YAML file: identity (ISA-95 enterprise/site/area/line),
devices (one per PLC, discriminated on ``protocol``), tags (each bound to a device by
name, with a protocol-specific address), and the store.  Later features (machine
states, shifts, products, SPC, sync) get their own sections; unknown keys are errors
everywhere (``extra="forbid"``) so a typo never silently disables something.

``load_config(path)`` returns a validated :class:`LineConfig` or raises
:class:`ConfigError`, whose ``messages`` are ``FILE: path.to.field: what is wrong``.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from edge.config_line import CalendarCfg, MachineCfg, OrderCfg, ProductCfg, ReasonCfg, check_line_sections
from edge.config_operators import OperatorCfg, TuiCfg, check_operator_sections
from edge.config_quality import CharacteristicCfg, InspectionPlanCfg, MaterialCfg, check_quality_sections
from edge.errors import ConfigError
from sync.config import UplinkConfig

NAME_RE = r"^[A-Za-z][A-Za-z0-9_.\-]*$"
TOPIC_SAFE_RE = r"^[A-Za-z0-9][A-Za-z0-9_\-]*$"

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


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)


# --------------------------------------------------------------------------- identity


class LineIdentity(Model):
    """Where the line sits in the ISA-95 equipment hierarchy; used in MQTT topics."""

    enterprise: Annotated[str, Field(pattern=TOPIC_SAFE_RE)]
    """Company name as used in topics (letters, digits, ``_`` and ``-``)."""
    site: Annotated[str, Field(pattern=TOPIC_SAFE_RE)]
    """Plant or site."""
    area: Annotated[str, Field(pattern=TOPIC_SAFE_RE)]
    """Area or department within the site."""
    line: Annotated[str, Field(pattern=TOPIC_SAFE_RE)]
    """Production line; one edge agent runs per line."""
    timezone: str = "UTC"
    """IANA time zone of the plant (shift calendars are in local time)."""
    description: str = ""
    """Free text shown in the operator UI and plant view."""

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, v: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown IANA time zone {v!r} (e.g. 'Europe/Berlin')") from None
        return v


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


# --------------------------------------------------------------------------- store


class Retention(Model):
    """Removes old raw samples, but only rows the uplink has had acknowledged."""

    max_age_days: Annotated[float, Field(gt=0)] = 30.0
    """Acknowledged samples older than this are removed."""
    max_size_mb: Annotated[float, Field(gt=0)] = 2048.0
    """Above this size the oldest acknowledged samples are removed first."""
    interval_s: Annotated[float, Field(gt=0)] = 300.0
    """How often retention runs."""


class StoreConfig(Model):
    path: Path = Path("lineside.db")
    """SQLite database file (relative paths are relative to the config file)."""
    batch_max_rows: Annotated[int, Field(ge=1, le=100_000)] = 5000
    """Largest number of samples committed in one transaction."""
    batch_max_latency_ms: Annotated[int, Field(ge=1, le=10_000)] = 200
    """Longest a sample waits before being committed."""
    retention: Retention = Retention()
    """Retention policy for raw samples."""


class MetricsConfig(Model):
    port: Annotated[int, Field(ge=1, le=65535)] = 9464
    """Port of the Prometheus metrics endpoint (``/metrics``)."""
    host: str = "127.0.0.1"
    """Address to listen on: loopback by default (scrape through a local agent or a tunnel)."""


class AgentConfig(Model):
    heartbeat_s: Annotated[float, Field(gt=0, le=60)] = 2.0
    """How often the agent records that it is alive (read by ``lineside status``)."""
    metrics: MetricsConfig | None = None
    """Optional Prometheus metrics endpoint (needs prometheus-client); off when absent."""


# --------------------------------------------------------------------------- line


class LineConfig(Model):
    """One production line: what the edge agent reads and where it keeps it."""

    version: Literal[1] = 1
    """Config format version."""
    line: LineIdentity
    """ISA-95 identity of the line."""
    devices: list[Device] = []
    """PLCs and gateways the agent talks to."""
    tags: list[Tag] = []
    """Values read from the devices."""
    store: StoreConfig = StoreConfig()
    """Local SQLite store."""
    agent: AgentConfig = AgentConfig()
    """Agent runtime settings."""
    machines: list[MachineCfg] = []
    """Machines of the line: how their state and counts are derived from tags."""
    line_machine: str | None = None
    """Machine whose state and counts stand for the line's OEE (usually the bottleneck);
    defaults to the first machine."""
    reasons: list[ReasonCfg] = []
    """Hierarchical downtime reason tree (category → reason → finer reason)."""
    fault_codes: dict[int, str] = {}
    """PLC fault code → reason code (automatic reason of a stop). Codes -1 and -2 stand
    for starved and blocked."""
    shifts: CalendarCfg = CalendarCfg()
    """Shift calendar in the line's time zone."""
    products: list[ProductCfg] = []
    """Products with ideal cycle times."""
    default_product: str | None = None
    """Product assumed when no work order is running (for performance)."""
    orders: list[OrderCfg] = []
    """Work orders known in advance (replay and tests)."""
    characteristics: list[CharacteristicCfg] = []
    """Quality characteristics under SPC."""
    inspections: list[InspectionPlanCfg] = []
    """Inspection plans (first-off, periodic checks) with their items."""
    materials: list[MaterialCfg] = []
    """Materials whose lot numbers are read from tags (traceability)."""
    uplink: UplinkConfig | None = None
    """Store-and-forward to the plant aggregator over MQTT (absent: local only)."""
    operators: list[OperatorCfg] = []
    """Who may log in at the operator terminal (badge, name, role, PIN hash)."""
    tui: TuiCfg = TuiCfg()
    """Operator terminal: idle logout, theme, roles and their permissions."""

    # Set by the loader, not part of the file.
    source: Annotated[Path | None, Field(exclude=True)] = None

    @model_validator(mode="after")
    def _cross_checks(self) -> LineConfig:
        errors: list[str] = []
        devices: dict[str, Any] = {}
        for i, d in enumerate(self.devices):
            if d.name in devices:
                errors.append(f"devices[{i}].name: duplicate device name {d.name!r}")
            devices[d.name] = d
        seen: set[str] = set()
        for i, t in enumerate(self.tags):
            where = f"tags[{i}]"
            if t.name in seen:
                errors.append(f"{where}.name: duplicate tag name {t.name!r}")
            seen.add(t.name)
            dev = devices.get(t.device)
            if dev is None:
                known = ", ".join(sorted(devices)) or "none defined"
                errors.append(
                    f"{where}.device: tag {t.name!r} names unknown device {t.device!r} (known: {known})"
                )
                continue
            for field, msg in _check_address(t, dev):
                errors.append(f"{where}.{field}: tag {t.name!r}: {msg}")
        errors += check_line_sections(self)
        errors += check_quality_sections(self)
        errors += check_operator_sections(self)
        if errors:
            raise CrossCheckError(errors)
        return self

    def device(self, name: str) -> Any:
        for d in self.devices:
            if d.name == name:
                return d
        raise KeyError(name)

    def tag(self, name: str) -> Tag:
        for t in self.tags:
            if t.name == name:
                return t
        raise KeyError(name)

    def tags_of(self, device: str) -> list[Tag]:
        return [t for t in self.tags if t.device == device]


class CrossCheckError(ValueError):
    """Errors found across sections; each item already carries its field path."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("; ".join(errors))
        self.errors = errors


def _check_address(t: Tag, dev: Any) -> list[tuple[str, str]]:
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


# --------------------------------------------------------------------------- loading


def _loc(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            # Discriminated-union branches show up as the tag value; they are noise here.
            if part in ("opcua", "modbus_tcp", "modbus_rtu", "ethernetip") and out.startswith("devices"):
                continue
            out += ("." if out else "") + str(part)
    return out or "(top level)"


def _named(data: Any, loc: tuple[Any, ...]) -> str:
    """`` (tag 'x')`` for an error under a named list item, so the message names the entity."""
    if len(loc) >= 2 and loc[0] in ("tags", "devices") and isinstance(loc[1], int):
        try:
            name = data[loc[0]][loc[1]].get("name")
        except (KeyError, IndexError, TypeError, AttributeError):
            return ""
        if name:
            return f" ({loc[0][:-1]} {name!r})"
    return ""


def format_validation_error(path: str, err: ValidationError, data: Any) -> list[str]:
    msgs: list[str] = []
    for e in err.errors():
        ctx = e.get("ctx") or {}
        inner = ctx.get("error")
        if isinstance(inner, CrossCheckError):
            msgs.extend(f"{path}: {m}" for m in inner.errors)
            continue
        msg = e["msg"]
        if e["type"] == "extra_forbidden":
            msg = "unknown key (check spelling; see `lineside config schema`)"
        elif e["type"] == "missing":
            msg = "required field is missing"
        elif msg.startswith("Value error, "):
            msg = msg[len("Value error, ") :]
        if (
            e["type"] not in ("missing", "extra_forbidden")
            and "input" in e
            and not isinstance(e["input"], dict | list)
        ):
            msg += f" (got {e['input']!r})"
        msgs.append(f"{path}: {_loc(e['loc'])}: {msg}{_named(data, e['loc'])}")
    return msgs


def parse_config(data: Any, path: str = "<config>") -> LineConfig:
    """Validate already-parsed YAML data; raises ConfigError with one message per problem."""
    if not isinstance(data, dict):
        raise ConfigError([f"{path}: (top level): expected a mapping of sections, got {type(data).__name__}"])
    try:
        return LineConfig.model_validate(data)
    except ValidationError as e:
        raise ConfigError(format_validation_error(path, e, data)) from None


def read_yaml(path: str | os.PathLike[str]) -> Any:
    """Read a YAML file; ConfigError names the file, and line and column of a syntax error."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([f"{p}: file not found"]) from None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError([f"{p}: cannot read: {e}"]) from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"line {mark.line + 1} column {mark.column + 1}" if mark else "(yaml)"
        problem = getattr(e, "problem", None) or str(e)
        raise ConfigError([f"{p}: {where}: invalid YAML: {problem}"]) from None


def load_config(path: str | os.PathLike[str]) -> LineConfig:
    """Read, validate and resolve one line config file."""
    p = Path(path)
    cfg = parse_config(read_yaml(p), str(p))
    return resolve_paths(cfg, p.parent)


def resolve_paths(cfg: LineConfig, base: Path) -> LineConfig:
    """Make relative file paths relative to the config file's folder."""
    store_path = cfg.store.path if cfg.store.path.is_absolute() else (base / cfg.store.path)
    store = cfg.store.model_copy(update={"path": store_path})
    devices = []
    for d in cfg.devices:
        if isinstance(d, OpcUaDevice):
            sec = d.security
            upd = {
                f: (base / v if v is not None and not v.is_absolute() else v)
                for f in ("certificate", "private_key", "server_certificate")
                if (v := getattr(sec, f)) is not None
            }
            pw = d.password_file
            d = d.model_copy(
                update={
                    "security": sec.model_copy(update=upd),
                    "password_file": (base / pw) if pw is not None and not pw.is_absolute() else pw,
                }
            )
        devices.append(d)
    uplink = cfg.uplink
    if uplink is not None:
        uplink = uplink.model_copy(update={"mqtt": uplink.mqtt.resolved(base)})
    return cfg.model_copy(update={"store": store, "devices": devices, "uplink": uplink, "source": base})


def json_schema() -> dict[str, Any]:
    return LineConfig.model_json_schema(mode="validation")
