"""One line's configuration file: identity (ISA-95 enterprise/site/area/line), devices,
tags, the store, and every domain section, plus the loader that reports errors.

Unknown keys are errors everywhere (``extra="forbid"``) so a typo never silently
disables something. ``load_config(path)`` returns a validated :class:`LineConfig` or
raises :class:`ConfigError`, whose ``messages`` are ``FILE: path.to.field: what is wrong``.
"""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationError, field_validator, model_validator

from edge.config.base import TOPIC_SAFE_RE, CrossCheckError, Model, format_validation_error
from edge.config.devices import Device, OpcUaDevice, Tag, check_address
from edge.config.maintenance import MaintenanceCfg, check_maintenance_section
from edge.config.materials import BomCfg, MaterialMasterCfg, StockCfg, check_materials_sections
from edge.config.operators import OperatorCfg, TuiCfg, check_operator_sections
from edge.config.paths import store_file
from edge.config.production import (
    CalendarCfg,
    ChangeoverCfg,
    MachineCfg,
    OrderCfg,
    ProductCfg,
    ReasonCfg,
    ScrapReasonCfg,
    check_line_sections,
)
from edge.config.quality import (
    CharacteristicCfg,
    InspectionPlanCfg,
    MaterialCfg,
    SpcCfg,
    check_quality_sections,
)
from edge.config.uns import SparkplugConfig, UnsConfig, check_plant_it_sections
from edge.config.uplink import UplinkConfig
from edge.core.errors import ConfigError
from edge.core.yamlio import read_yaml

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
    commissioned: datetime | None = None
    """When the line went into production (plant local time if no offset). Time before
    it is no loss: it is outside planned production time. Default: the agent's first
    start on this store."""

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, v: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown IANA time zone {v!r} (e.g. 'Europe/Berlin')") from None
        return v


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
    """SQLite database file. A relative path is relative to the config file, or, in a
    systemd unit with ``StateDirectory=`` (``$STATE_DIRECTORY`` set), the file of that
    name in the state directory (``/var/lib/lineside/line1.db``)."""
    batch_max_rows: Annotated[int, Field(ge=1, le=100_000)] = 5000
    """Largest number of samples committed in one transaction."""
    batch_max_latency_ms: Annotated[int, Field(ge=1, le=10_000)] = 200
    """Longest a sample waits before being committed."""
    retention: Retention = Retention()
    """Retention policy for raw samples."""
    wal_limit_mb: Annotated[float, Field(ge=1, le=4096)] = 64.0
    """The write-ahead log (``<store>-wal``) is cut back to this size whenever it has been
    emptied (SQLite's ``journal_size_limit``)."""
    checkpoint_s: Annotated[float, Field(gt=0, le=86400)] = 60.0
    """How often the agent copies the WAL into the store and truncates it to zero
    (skipped, without waiting, while a reader still needs it)."""
    quick_check_s: Annotated[float, Field(ge=0, le=30 * 86400)] = 21600.0
    """How often the agent checks the store's pages (``PRAGMA quick_check``, on a
    connection of its own); a failure is an event and one log line. 0: never."""


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
    socket: Path | None = None
    """Unix socket of the operator channel, on which the terminal and ``lineside write``
    hand actions to the agent. Default: ``STORE.sock`` in ``$RUNTIME_DIRECTORY`` under
    systemd, else beside the store file. A relative path is relative to the config file."""


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
    changeovers: ChangeoverCfg = ChangeoverCfg()
    """Changeover matrix (standard minutes product → product) and how overruns are booked."""
    scrap_reasons: list[ScrapReasonCfg] = []
    """Scrap reason tree (category → reason); scrap is booked with one of its codes."""
    characteristics: list[CharacteristicCfg] = []
    """Quality characteristics under SPC."""
    spc: SpcCfg = SpcCfg()
    """Around SPC alarms: acknowledgement cause/action codes, the quality-hold reason."""
    inspections: list[InspectionPlanCfg] = []
    """Inspection plans (first-off, periodic checks) with their items."""
    materials: list[MaterialCfg] = []
    """Materials whose lot numbers are read from tags (traceability)."""
    material_master: list[MaterialMasterCfg] = []
    """Materials the line uses: unit, lot control, shelf life, backflush or issue."""
    boms: list[BomCfg] = []
    """Bills of materials: per product, its components, quantity per unit, scrap
    allowance and the feeder each is loaded at."""
    stock: StockCfg = StockCfg()
    """Lineside stock: locations, shortage notices, produced lots."""
    uplink: UplinkConfig | None = None
    """Store-and-forward to the plant aggregator over MQTT (absent: local only)."""
    uns: UnsConfig | None = None
    """Unified namespace for plant IT: retained current value per tag, line state, KPIs."""
    sparkplug: SparkplugConfig | None = None
    """Sparkplug B edge node (Ignition and other Sparkplug host applications)."""
    operators: list[OperatorCfg] = []
    """Who may log in at the operator terminal (badge, name, role, PIN hash)."""
    tui: TuiCfg = TuiCfg()
    """Operator terminal: idle logout, theme, roles and their permissions."""
    maintenance: MaintenanceCfg = MaintenanceCfg()
    """Assets, maintenance plans, failure codes and spare parts."""

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
            for field, msg in check_address(t, dev):
                errors.append(f"{where}.{field}: tag {t.name!r}: {msg}")
        errors += check_line_sections(self)
        errors += check_quality_sections(self)
        errors += check_materials_sections(self)
        errors += check_operator_sections(self)
        errors += check_maintenance_section(self)
        errors += check_plant_it_sections(self)
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


def parse_config(data: Any, path: str = "<config>") -> LineConfig:
    """Validate already-parsed YAML data; raises ConfigError with one message per problem."""
    if not isinstance(data, dict):
        raise ConfigError([f"{path}: (top level): expected a mapping of sections, got {type(data).__name__}"])
    try:
        return LineConfig.model_validate(data)
    except ValidationError as e:
        raise ConfigError(format_validation_error(path, e, data)) from None


def load_config(path: str | os.PathLike[str]) -> LineConfig:
    """Read, validate and resolve one line config file."""
    p = Path(path)
    cfg = parse_config(read_yaml(p), str(p))
    return resolve_paths(cfg, p.parent)


def resolve_paths(cfg: LineConfig, base: Path) -> LineConfig:
    """Make relative file paths relative to the config file's folder (the store: or to
    the systemd unit's state directory, see ``edge.config.paths``)."""
    store = cfg.store.model_copy(update={"path": store_file(cfg.store.path, base)})
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
    extra: dict[str, Any] = {}
    for name in ("uns", "sparkplug"):
        sec = getattr(cfg, name)
        if sec is not None and sec.mqtt is not None:
            extra[name] = sec.model_copy(update={"mqtt": sec.mqtt.resolved(base)})
    agent = cfg.agent
    if agent.socket is not None and not agent.socket.is_absolute():
        agent = agent.model_copy(update={"socket": base / agent.socket})
    return cfg.model_copy(
        update={
            "store": store,
            "devices": devices,
            "uplink": uplink,
            "agent": agent,
            "source": base,
            **extra,
        }
    )


def json_schema() -> dict[str, Any]:
    return LineConfig.model_json_schema(mode="validation")
