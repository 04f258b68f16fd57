"""The unified namespace (UNS) for plant IT: topics and payloads any MQTT consumer can
read without a Lineside decoder (pure: no I/O).

Layout under ``{root}/{enterprise}/{site}/{area}/{line}/`` (ISA-95; root ``uns/v1``)::

    {device}/{tag}        retained  TagValue: value, unit, quality, ISO 8601 time (ms), epoch ms
    _state                retained  LineState: online (last will: offline), state, order, devices
    {machine}/_state      retained  MachineState
    _order                retained  OrderState: the running work order
    _kpi                  retained  KpiState: the shift's (or last 24 h's) OEE and counts

No topic level holds a dot: NATS's MQTT drops a publisher whose topic level has one (its
subjects are dot-separated) and RabbitMQ's turns it into a level separator, and both are
brokers a plant clusters. So names are given here as their levels
(``edge.config.uns.uns_tag_levels``: the tag ``filler.temperature`` of the device
``filler`` is ``…/line1/filler/temperature``; a dotted device or machine name is several
levels), and every payload keeps the full names. Tag, machine and device levels never
start with ``_`` (the config insists), so the ``_``-levels never collide with them.
Every payload is JSON with ``"v": 1``; :func:`json_schemas` is what ``lineside topics
--schema`` prints.

The optional UMH mapping (United Manufacturing Hub, data model v1): ``umh/v1/{enterprise}/
{site}/{area}/{line}/{device}/_historian/{tag groups}`` with ``{"timestamp_ms": …,
"{tag}": value}``: the tag's levels but the last are UMH tag groups in the topic, the
last is the payload key (``filler.head.pos`` → ``…/filler/_historian/head`` with
``{"pos": …}``, UMH's ``head$pos``).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from sync.protocol.payloads import LineRef

Quality = Literal["good", "bad", "stale"]
JsonValue = bool | int | float | str | list[Any] | None


def iso_ms(ts: float) -> str:
    """``2026-12-01T08:15:02.123Z``: ISO 8601, UTC, milliseconds (the instant of
    :func:`epoch_ms`, rounded the same way)."""
    ms = epoch_ms(ts)
    return f"{time.strftime('%Y-%m-%dT%H:%M:%S', time.gmtime(ms // 1000))}.{ms % 1000:03d}Z"


def epoch_ms(ts: float) -> int:
    return round(ts * 1000)


class UnsPayload(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    v: Literal[1] = 1
    """Schema version."""


class Stamped(UnsPayload):
    timestamp: str = Field(description="ISO 8601 UTC with milliseconds, e.g. 2026-12-01T08:15:02.123Z")
    ts_ms: int = Field(description="the same instant in milliseconds since the Unix epoch")


class TagValue(Stamped):
    """Retained on ``{device}/{tag}`` (as levels: ``filler/temperature`` for the tag
    ``filler.temperature``): the tag's current value as the line recorded it (after its
    deadband); ``timestamp`` is the source time of the value."""

    tag: str = Field(description="the tag's full name, e.g. filler.temperature")
    device: str = Field(description="the device's full name")
    value: JsonValue = Field(description="number, boolean, string, array; null when quality is not good")
    unit: str = Field(description="engineering unit ('' when the tag has none)")
    quality: Quality
    type: str = Field(description="the tag's data type at the device (float32, int16, bool, string …)")


class LineState(Stamped):
    """Retained on ``_state``; the last will publishes it with ``online: false``."""

    line: LineRef
    online: bool
    state: str | None = Field(
        default=None, description="the line machine's state: running, idle, down, starved …"
    )
    order: str | None = None
    product: str | None = None
    devices: dict[str, str] = Field(default={}, description="PLC connection state per device")


class MachineState(Stamped):
    """Retained on ``{machine}/_state`` (a dotted machine name as levels)."""

    machine: str = Field(description="the machine's full name")
    state: str | None


class OrderState(Stamped):
    """Retained on ``_order``: the work order running now (nulls: none)."""

    order: str | None
    product: str | None
    since: str | None = Field(description="when the order started (ISO 8601 UTC, ms)")


class KpiState(Stamped):
    """Retained on ``_kpi``: the KPIs of the shift running now (``shift`` is
    ``YYYY-MM-DD/NAME``), or of the last 24 h on a line without a shift calendar."""

    shift: str | None
    start: str
    end: str
    oee: float | None = None
    availability: float | None = None
    performance: float | None = None
    quality: float | None = None
    good: int | None = None
    scrap: int | None = None
    kpi: dict[str, Any] = Field(
        default={}, description="the line's whole KPI report (run and down time, MTBF …)"
    )


class UmhHistorian(BaseModel):
    """UMH ``_historian`` payload: ``timestamp_ms`` and one ``{tag}: value``."""

    model_config = ConfigDict(extra="allow", frozen=True)

    timestamp_ms: int


#: Every UNS payload by the name ``lineside topics --schema`` gives it.
UNS_PAYLOADS: dict[str, type[BaseModel]] = {
    "tag_value": TagValue,
    "line_state": LineState,
    "machine_state": MachineState,
    "order_state": OrderState,
    "kpi_state": KpiState,
    "umh_historian": UmhHistorian,
}


def json_schemas() -> dict[str, Any]:
    """The JSON schema of each UNS payload, by name."""
    return {name: model.model_json_schema(mode="serialization") for name, model in UNS_PAYLOADS.items()}


#: Characters no UNS topic level may hold: the MQTT level separator and wildcards, ``$``
#: (broker-internal topics), and the dot (NATS subjects' separator).
UNSAFE_LEVEL_CHARS = frozenset("/+#$.\0")


def join_levels(levels: Sequence[str]) -> str:
    """``levels`` as a topic path; ValueError for an empty level or one that is not safe
    on every broker (:data:`UNSAFE_LEVEL_CHARS`)."""
    if not levels:
        raise ValueError("no topic levels")
    for lv in levels:
        if not lv or not UNSAFE_LEVEL_CHARS.isdisjoint(lv):
            raise ValueError(f"not a broker-safe UNS topic level: {lv!r}")
    return "/".join(levels)


@dataclass(frozen=True)
class UnsTopics:
    root: str
    enterprise: str
    site: str
    area: str
    line: str

    @classmethod
    def of(cls, root: str, identity: Any) -> UnsTopics:
        return cls(root, identity.enterprise, identity.site, identity.area, identity.line)

    @property
    def base(self) -> str:
        return f"{self.root}/{self.enterprise}/{self.site}/{self.area}/{self.line}"

    def tag(self, device: Sequence[str], tag: Sequence[str]) -> str:
        """``{base}/{device levels}/{tag levels}``."""
        return f"{self.base}/{join_levels(device)}/{join_levels(tag)}"

    @property
    def line_state(self) -> str:
        return f"{self.base}/_state"

    def machine_state(self, machine: Sequence[str]) -> str:
        """``{base}/{machine levels}/_state``."""
        return f"{self.base}/{join_levels(machine)}/_state"

    @property
    def order(self) -> str:
        return f"{self.base}/_order"

    @property
    def kpi(self) -> str:
        return f"{self.base}/_kpi"

    def umh_historian(self, device: Sequence[str], tag: Sequence[str]) -> str:
        """``umh/v1/{enterprise}/{site}/{area}/{line}/{device}/_historian[/{tag groups}]``:
        every tag level but the last is a UMH tag group; the last is the payload key
        (:func:`umh_payload`)."""
        groups = f"/{join_levels(tag[:-1])}" if len(tag) > 1 else ""
        where = f"{self.enterprise}/{self.site}/{self.area}/{self.line}"
        return f"umh/v1/{where}/{join_levels(device)}/_historian{groups}"

    @property
    def subtree(self) -> str:
        return f"{self.base}/#"


def tag_value(tag: str, device: str, type_: str, unit: str, value: Any, quality: str, ts: float) -> TagValue:
    """The UNS payload of one recorded value (a value whose quality is not good is null).
    Built without validation (``model_construct``: every field is made here, from the
    line's own typed values), so a busy line's values are not validated twice."""
    q: Any = quality if quality in ("good", "bad", "stale") else "bad"
    return TagValue.model_construct(
        tag=tag,
        device=device,
        type=type_,
        unit=unit,
        value=_jsonable(value) if q == "good" else None,
        quality=q,
        timestamp=iso_ms(ts),
        ts_ms=epoch_ms(ts),
    )


def umh_payload(tag: Sequence[str], value: Any, ts: float) -> UmhHistorian:
    """UMH's ``_historian`` payload of one value of the tag whose levels are ``tag``: its
    last level is the key (the others are tag groups in the topic)."""
    return UmhHistorian(timestamp_ms=epoch_ms(ts), **{join_levels(tag[-1:]): _jsonable(value)})


def _jsonable(v: Any) -> Any:
    """NaN and infinities as the strings ``nan``/``inf`` (JSON has no such numbers)."""
    if isinstance(v, float) and v != v:
        return "nan"
    if isinstance(v, float) and v in (float("inf"), float("-inf")):
        return "inf" if v > 0 else "-inf"
    return v


def kpi_state(shift: str | None, report: dict[str, Any], now: float) -> KpiState:
    """The UNS KPI payload of a line KPI report (``edge.services.production.kpi_report``)."""
    total = report.get("total", {})

    def num(key: str) -> Any:
        v = total.get(key)
        return v if isinstance(v, int | float) and not isinstance(v, bool) else None

    return KpiState(
        shift=shift,
        start=iso_ms(report["start"]),
        end=iso_ms(report["end"]),
        oee=num("oee"),
        availability=num("availability"),
        performance=num("performance"),
        quality=num("quality"),
        good=int(g) if (g := num("good")) is not None else None,
        scrap=int(s) if (s := num("scrap")) is not None else None,
        kpi=total,
        timestamp=iso_ms(now),
        ts_ms=epoch_ms(now),
    )
