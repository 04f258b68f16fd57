"""What a line offers plant IT beside its own batch streams: the ``uns:`` section (a
retained current value per tag and the line's state under an ISA-95 topic path, for any
MQTT consumer) and the ``sparkplug:`` section (a Sparkplug B edge node for Ignition and
other Sparkplug host applications). Both are optional and off when absent.

Neither needs a broker of its own: without an ``mqtt:`` block each uses the uplink's
broker connection settings (with a client id of its own), so a line that already talks
to the plant broker only adds ``uns: {}``.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field

from edge.config.base import Model
from edge.config.uplink import MqttConfig

#: A Sparkplug id (group, edge node, host): no MQTT wildcard or level separator.
SPARKPLUG_ID_RE = r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$"
#: A topic prefix of one or more levels, without wildcards.
TOPIC_PREFIX_RE = r"^[A-Za-z0-9][A-Za-z0-9_.\-]*(/[A-Za-z0-9][A-Za-z0-9_.\-]*)*$"


class UnsConfig(Model):
    """The unified namespace: per tag a retained topic
    ``{root}/{enterprise}/{site}/{area}/{line}/{device}/{tag}`` with value, unit, quality
    and time, published when the stored value changes (so the tag's deadband applies),
    and the line's, machines' and order's state and KPIs on retained ``_state``,
    ``_order`` and ``_kpi`` topics."""

    enabled: bool = True
    """Off: nothing is published (the section may stay in the file)."""
    mqtt: MqttConfig | None = None
    """Broker connection; default: the uplink's (with client id ``{uplink client id}-uns``)."""
    root: Annotated[str, Field(pattern=TOPIC_PREFIX_RE, max_length=100)] = "uns/v1"
    """Topic prefix before the line's ISA-95 path."""
    state_interval_s: Annotated[float, Field(gt=0, le=3600)] = 1.0
    """How often line, machine and order state are looked at besides after every commit
    of new samples (published only on change)."""
    kpi_interval_s: Annotated[float, Field(gt=0, le=86400)] = 30.0
    """How often the KPIs are recomputed (published only on change)."""
    umh: bool = False
    """Also publish each value in the United Manufacturing Hub's ``_historian`` layout
    (``umh/v1/{enterprise}/{site}/{area}/{line}/{device}/_historian/{tag}``, payload
    ``{"timestamp_ms": …, "{tag}": value}``), not retained, for UMH's historian."""


class SparkplugConfig(Model):
    """A Sparkplug B (3.0) edge node: the line is the edge node, each device a Sparkplug
    device whose metrics are its tags."""

    enabled: bool = True
    """Off: no edge node (the section may stay in the file)."""
    mqtt: MqttConfig | None = None
    """Broker connection (Sparkplug uses MQTT 3.1.1 semantics; MQTT 5 works too);
    default: the uplink's, with client id ``lineside-spb-{group_id}-{edge_node_id}``."""
    group_id: Annotated[str, Field(pattern=SPARKPLUG_ID_RE, max_length=100)] | None = None
    """Sparkplug group id; default ``{enterprise}-{site}-{area}``."""
    edge_node_id: Annotated[str, Field(pattern=SPARKPLUG_ID_RE, max_length=100)] | None = None
    """Sparkplug edge node id; default the line's name."""
    primary_host: Annotated[str, Field(pattern=SPARKPLUG_ID_RE, max_length=100)] | None = None
    """Host id of the primary host application (Ignition's MQTT Engine). When set, the
    node is born only while ``spBv1.0/STATE/{primary_host}`` says online; while it is
    offline the node stays dead and the line's store keeps the data, which follows
    flagged ``is_historical`` after the next birth."""
    writable: list[str] = []
    """Tags a host may write with DCMD: each must be ``writable: true`` and name a tag
    of the device the DCMD is addressed to. Everything else is refused and audited."""
    max_metrics: Annotated[int, Field(ge=1, le=10_000)] = 500
    """Most metrics in one DATA message (a backlog goes out in several)."""
    node_interval_s: Annotated[float, Field(gt=0, le=3600)] = 1.0
    """How often the node's own metrics (line state, order) are looked at besides after
    every commit of new samples (sent on change)."""

    def group(self, line: Any) -> str:
        return self.group_id or f"{line.enterprise}-{line.site}-{line.area}"

    def node(self, line: Any) -> str:
        return self.edge_node_id or line.line


def check_plant_it_sections(cfg: Any) -> list[str]:
    """Cross-checks of ``uns:`` and ``sparkplug:`` against the rest of the line config."""
    errors: list[str] = []
    for name in ("uns", "sparkplug"):
        sec = getattr(cfg, name)
        if sec is not None and sec.enabled and sec.mqtt is None and cfg.uplink is None:
            errors.append(f"{name}.mqtt: required (this line has no uplink whose broker it could use)")
        # The plant broker binds client ids to user names (mosquitto's
        # use_username_as_clientid, config/mosquitto): a second connection under the
        # uplink's user would take over the uplink's session, and each would knock the
        # other off every reconnect. So a section beside an uplink that logs in needs a
        # user of its own.
        up_user = cfg.uplink.mqtt.username if cfg.uplink is not None else None
        if sec is not None and sec.enabled and up_user:
            own = sec.mqtt.username if sec.mqtt is not None else None
            if sec.mqtt is None or own == up_user:
                field = f"{name}.mqtt" if sec.mqtt is None else f"{name}.mqtt.username"
                errors.append(
                    f"{field}: needs a broker user of its own, not the uplink's {up_user!r} (the plant "
                    "broker binds client ids to user names, so both would share one session)"
                )
    sp: SparkplugConfig | None = cfg.sparkplug
    if sp is not None:
        tags = {t.name: t for t in cfg.tags}
        seen: set[str] = set()
        for i, name in enumerate(sp.writable):
            where = f"sparkplug.writable[{i}]"
            t = tags.get(name)
            if t is None:
                errors.append(f"{where}: unknown tag {name!r}")
            elif not t.writable:
                errors.append(f"{where}: tag {name!r} is not writable (set writable: true on the tag first)")
            if name in seen:
                errors.append(f"{where}: {name!r} is listed twice")
            seen.add(name)
    return errors
