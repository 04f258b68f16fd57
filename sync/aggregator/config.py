"""The aggregator's own configuration file: the broker, the plant store, and the lines
it accepts data from."""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, ValidationError, field_validator, model_validator

from edge.config.base import TOPIC_SAFE_RE, Model, format_validation_error
from edge.config.paths import store_file
from edge.config.production import CalendarCfg
from edge.config.uplink import MqttConfig
from edge.core.errors import ConfigError
from edge.core.yamlio import read_yaml
from sync.aggregator.scheduling.config import SchedulingCfg
from sync.aggregator.web.config import WebCfg


class AggregatorLine(Model):
    enterprise: Annotated[str, Field(pattern=TOPIC_SAFE_RE)]
    site: Annotated[str, Field(pattern=TOPIC_SAFE_RE)]
    area: Annotated[str, Field(pattern=TOPIC_SAFE_RE)]
    line: Annotated[str, Field(pattern=TOPIC_SAFE_RE)]
    description: str = ""
    audit_key: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")] | None = None
    """The line's audit public key (``lineside audit key -c LINE.yaml``): the aggregator
    checks every audit entry's signature as it arrives and dead-letters what it cannot.
    Without it only the chain's links are checked."""
    machine: str | None = None
    """The line's OEE machine (``line_machine`` in the line config): its state is the
    line's state on the web board and its counts the line's OEE in plant reports.
    Default: the first machine by name that has counts."""

    @property
    def key(self) -> str:
        from sync.protocol import Topics

        return Topics.of(self).key


class AggregatorStoreCfg(Model):
    path: Path | None = Path("aggregator.db")
    """SQLite file (used when no ``url`` is given). A relative path is relative to the
    config file, or, in a systemd unit with ``StateDirectory=``, the file of that name in
    the state directory (``/var/lib/lineside-aggregator/plant.db``)."""
    url: Annotated[str, Field(pattern=r"^postgres(ql)?://")] | None = None
    """PostgreSQL connection URL (``postgresql://user@host/db``); a password belongs in
    ``PGPASSWORD`` or ``~/.pgpass``, not here."""


class DeadLettersCfg(Model):
    """Bounds of the dead-letter table: a flood of large or poisoned messages must not
    fill the plant's disk."""

    max_payload_bytes: Annotated[int, Field(ge=256, le=16_777_216)] = 65_536
    """A payload is kept up to this many bytes (its original length is kept beside it)."""
    keep: Annotated[int, Field(ge=10, le=10_000_000)] = 10_000
    """The newest this many dead letters are kept."""
    keep_days: Annotated[float, Field(gt=0, le=3650)] = 30.0
    """Dead letters older than this are removed."""


class ErpCfg(Model):
    """ERP confirmations (``sync.aggregator.erp``): what each completed order did, sent
    exactly once per confirmation as an HTTP POST and/or a JSON file in an outbox
    directory, with an idempotency key."""

    url: Annotated[str, Field(pattern=r"^https?://")] | None = None
    """Endpoint the confirmations are POSTed to (JSON; header ``Idempotency-Key``). A
    2xx answer acknowledges one; anything else is retried with backoff."""
    outbox_dir: Path | None = None
    """Directory an ERP connector picks files up from: ``{key}.json`` per confirmation,
    written atomically (relative: to the config file)."""
    token_env: Annotated[str, Field(pattern=r"^[A-Z_][A-Z0-9_]*$")] | None = None
    """Name of an environment variable holding a bearer token for the endpoint."""
    timeout_s: Annotated[float, Field(gt=0, le=300)] = 10.0
    """Per request."""
    retry_min_s: Annotated[float, Field(gt=0, le=3600)] = 1.0
    """First retry after a failure; doubled per failure of the same confirmation …"""
    retry_max_s: Annotated[float, Field(gt=0, le=86400)] = 300.0
    """… up to this."""
    interval_s: Annotated[float, Field(gt=0, le=3600)] = 5.0
    """How often completed orders are looked for and due confirmations sent."""
    periods: list[Literal["order", "shift", "hour"]] = ["order"]
    """What is confirmed: ``order`` (each completed order), ``shift`` (each line and each
    order active in a shift of ``calendar``), ``hour`` (the same per clock hour); one or several."""
    calendar: CalendarCfg | None = None
    """The shifts the ERP confirms by (``patterns``, ``non_working``; as the line config's
    ``calendar``); needed for ``shift``."""
    timezone: str = "UTC"
    """Time zone of ``calendar``'s shift times."""
    periods_from: datetime | None = None
    """Confirm shifts and hours ending after this moment (ISO 8601 with offset); absent:
    from the period in progress when the aggregator first looked."""

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{v!r} is not an IANA time zone (e.g. Europe/Berlin)") from None
        return v

    @field_validator("periods_from")
    @classmethod
    def _aware(cls, v: datetime | None) -> datetime | None:
        if v is not None and v.tzinfo is None:
            raise ValueError("give the time zone offset (2026-12-01T06:00:00+01:00)")
        return v

    @model_validator(mode="after")
    def _somewhere(self) -> ErpCfg:
        if self.url is None and self.outbox_dir is None:
            raise ValueError("erp: give url, outbox_dir or both")
        if not self.periods:
            raise ValueError("periods: name at least one of order, shift, hour")
        if len(set(self.periods)) != len(self.periods):
            raise ValueError("periods: each of order, shift, hour at most once")
        if "shift" in self.periods and (self.calendar is None or not self.calendar.patterns):
            raise ValueError("calendar: the shift periods need the shifts (calendar.patterns)")
        return self


#: Tables pruned by age and their time column (``sync.aggregator.ops_store``). Rollups
#: (``rollup_*``, ``downtime_hours``) are not here: they are the long-term record.
AGED: dict[str, str] = {
    "state_changes": "ts",
    "counts": "ts",
    "spc_points": "ts",
    "lot_moves": "ts",
    "maint_stock": "ts",
    "maint_events": "ts",
    "downtime": "end_ts",
    "shift_kpis": "received",
}


class RetentionCfg(Model):
    """How long the plant store keeps what, by age (``sync.aggregator.ops``). Hourly and
    daily rollups are never pruned: they are the long-term record."""

    samples_days: Annotated[float, Field(gt=0, le=36500)] = 30.0
    """Raw sample records (the ``samples`` stream), acknowledged ones only; pruned first."""
    records_days: Annotated[float, Field(gt=0, le=36500)] = 365.0
    """Raw records of every other stream (acknowledged ones only)."""
    tables_days: Annotated[float, Field(gt=0, le=36500)] = 730.0
    """Projection tables kept from the streams (state changes, counts, SPC points,
    lot moves, maintenance, downtime, shift KPIs)."""
    tables: dict[str, Annotated[float, Field(gt=0, le=36500)]] = {}
    """Per table, in place of ``tables_days`` (e.g. ``spc_points: 90``)."""
    erp_sent_days: Annotated[float, Field(gt=0, le=36500)] = 90.0
    """ERP confirmations acknowledged by the ERP (pending ones are never pruned)."""
    interval_s: Annotated[float, Field(ge=1, le=86400)] = 3600.0
    """How often the aggregator prunes."""

    @model_validator(mode="after")
    def _known(self) -> RetentionCfg:
        for t in self.tables:
            if t not in AGED:
                raise ValueError(f"tables.{t}: not a table pruned by age (tables: {', '.join(sorted(AGED))})")
        return self


class MetricsCfg(Model):
    """The Prometheus endpoint (``GET /metrics``, text exposition format 0.0.4)."""

    host: str = "127.0.0.1"
    """Address to listen on (``0.0.0.0``: every interface; no authentication, so keep
    it on a management network)."""
    port: Annotated[int, Field(ge=1, le=65535)] = 9464


class LockoutCfg(Model):
    """Failed logins of a plant user, on the web and on the command line alike."""

    max_failures: Annotated[int, Field(ge=1, le=1000)] = 5
    """This many failed logins of one name …"""
    window_s: Annotated[float, Field(gt=0, le=30 * 86400)] = 900.0
    """… within this many seconds (and since the user's last success) lock it …"""
    lock_s: Annotated[float, Field(gt=0, le=30 * 86400)] = 900.0
    """… for this long after the last of them."""


class AggregatorConfig(Model):
    """The plant aggregator: which lines it accepts and where it keeps their data."""

    version: Literal[1] = 1
    mqtt: MqttConfig = MqttConfig(client_id="lineside-aggregator")
    """Broker connection (its client id names the aggregator's persistent session)."""
    store: AggregatorStoreCfg = AggregatorStoreCfg()
    """Plant store."""
    lines: list[AggregatorLine] = []
    """Lines this aggregator accepts data from; anything else is a dead letter."""
    ack_interval_ms: Annotated[int, Field(ge=1, le=10_000)] = 50
    """End-to-end acks are coalesced and published at most this often per stream."""
    max_seq_ahead: Annotated[int, Field(ge=1000)] = 100_000_000
    """A batch reaching further than this beyond what was committed (its ``last_seq``)
    is refused as "from the future" (a corrupt or foreign sender)."""
    dead_letters: DeadLettersCfg = DeadLettersCfg()
    """Payload size kept per dead letter and the table's retention."""
    command_resend_s: Annotated[float, Field(gt=0, le=86400)] = 30.0
    """Commands not yet acknowledged by their line are published again this often."""
    scheduling: SchedulingCfg | None = None
    """Finite-capacity scheduling (``lineside aggregator plan …``); none: no planning."""
    web: WebCfg | None = None
    """The plant web view (``lineside aggregator web``; ``aggregator run`` serves it too)."""
    lockout: LockoutCfg = LockoutCfg()
    """Plant users (``web.users``) locked after failed logins, on the web and the command
    line alike (default: 5 within 15 min lock for 15 min)."""
    erp: ErpCfg | None = None
    """ERP confirmations of completed orders, shifts, hours (absent: none are sent)."""
    retention: RetentionCfg | None = None
    """Pruning by age (absent: the store keeps everything)."""
    metrics: MetricsCfg | None = None
    """A Prometheus endpoint (absent: none)."""

    source: Annotated[Path | None, Field(exclude=True)] = None

    @model_validator(mode="after")
    def _unique(self) -> AggregatorConfig:
        if not self.lines:
            raise ValueError("lines: name at least one line (data from lines not listed is refused)")
        keys = [ln.key for ln in self.lines]
        dup = {k for k in keys if keys.count(k) > 1}
        if dup:
            raise ValueError(f"lines: duplicate line {sorted(dup)[0]}")
        if self.scheduling is not None:
            for r in self.scheduling.resources:
                if r.line is not None and not any(r.line in (ln.key, ln.line) for ln in self.lines):
                    raise ValueError(f"scheduling.resources.{r.id}.line: {r.line!r} is not one of the lines")
        return self

    def line(self, name: str) -> AggregatorLine:
        """A line by its key (``e/s/a/l``) or, when unique, its short name."""
        found = [ln for ln in self.lines if name in (ln.key, ln.line)]
        if len(found) != 1:
            known = ", ".join(ln.key for ln in self.lines) or "none configured"
            what = "is ambiguous" if found else "is not configured"
            raise ConfigError([f"line: {name!r} {what} (lines: {known})"])
        return found[0]


def load_aggregator_config(path: str | os.PathLike[str]) -> AggregatorConfig:
    p = Path(path)
    data: Any = read_yaml(p)
    if not isinstance(data, dict):
        raise ConfigError([f"{p}: (top level): expected a mapping of sections"])
    try:
        cfg = AggregatorConfig.model_validate(data)
    except ValidationError as e:
        raise ConfigError(format_validation_error(str(p), e, data)) from None
    store = cfg.store
    if store.url is None and store.path is not None:
        store = store.model_copy(update={"path": store_file(store.path, p.parent)})
    web = cfg.web
    if web is not None and web.tls is not None:
        tls = web.tls.model_copy(
            update={
                "certificate": p.parent / web.tls.certificate,
                "private_key": p.parent / web.tls.private_key,
            }
        )
        web = web.model_copy(update={"tls": tls})
        if problems := tls.problems():
            raise ConfigError([f"{p}: {m}" for m in problems])
    erp = cfg.erp
    if erp is not None and erp.outbox_dir is not None:
        erp = erp.model_copy(update={"outbox_dir": p.parent / erp.outbox_dir})
    return cfg.model_copy(
        update={
            "mqtt": cfg.mqtt.resolved(p.parent),
            "store": store,
            "source": p.parent,
            "web": web,
            "erp": erp,
        }
    )
