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

#: A Sparkplug id (group, edge node, host): one topic level without MQTT wildcards, and
#: without dots: NATS's MQTT drops a publisher whose topic level holds a dot (NATS subjects
#: are dot-separated), RabbitMQ's turns the dot into a level separator.
SPARKPLUG_ID_RE = r"^[A-Za-z0-9][A-Za-z0-9_\-]*$"
#: A topic prefix of one or more levels, without wildcards or dots (as above).
TOPIC_PREFIX_RE = r"^[A-Za-z0-9][A-Za-z0-9_\-]*(/[A-Za-z0-9][A-Za-z0-9_\-]*)*$"


def uns_device_levels(device: str) -> tuple[str, ...]:
    """The topic levels of a device (or machine) under the line in the unified namespace:
    its name split at the dots (``filler`` → ``filler``; ``cell.2`` → ``cell/2``)."""
    return tuple(device.split("."))


def uns_tag_levels(device: str, tag: str) -> tuple[str, ...]:
    """The topic levels of a tag under its device in the unified namespace: the tag's name
    without a leading ``{device}.``, split at the dots (``filler.temperature`` on device
    ``filler`` → ``temperature``; ``labeller.speed`` on ``capper`` → ``labeller/speed``).
    No level holds a dot, which NATS's MQTT refuses and RabbitMQ's turns into a level."""
    prefix = device + "."
    return tuple((tag[len(prefix) :] if tag.startswith(prefix) else tag).split("."))


def _level_problem(levels: tuple[str, ...]) -> str | None:
    """Why ``levels`` (from names the config's patterns allow: letters, digits, ``_``,
    ``-``, ``.``, so never ``+``, ``#``, ``$`` or ``/``) cannot be UNS topic levels."""
    if any(not lv for lv in levels):
        return "gives an empty UNS topic level (two dots in a row, or a dot at the end)"
    reserved = [lv for lv in levels if lv.startswith("_")]
    if reserved:
        return (
            f"gives the UNS topic level {reserved[0]!r}: levels starting with '_' are the "
            "namespace's own (_state, _order, _kpi, _historian)"
        )
    return None


class UnsConfig(Model):
    """The unified namespace: per tag a retained topic
    ``{root}/{enterprise}/{site}/{area}/{line}/{device}/{tag}`` with value, unit, quality
    and time (the tag's name without a leading ``{device}.``, dots as levels:
    ``…/line1/filler/temperature`` for ``filler.temperature``), published when the stored value changes (so the tag's deadband applies),
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
    (``umh/v1/{enterprise}/{site}/{area}/{line}/{device}/_historian/{tag groups}``, payload
    ``{"timestamp_ms": …, "{tag}": value}``: the tag's levels but the last are UMH tag
    groups, the last is the payload key), not retained, for UMH's historian."""


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
    uns: UnsConfig | None = cfg.uns
    if uns is not None and uns.enabled:
        errors += _check_uns_names(cfg)
    sp: SparkplugConfig | None = cfg.sparkplug
    if sp is not None and sp.enabled:
        used = {t.device for t in cfg.tags}
        for i, d in enumerate(cfg.devices):
            if "." in d.name and d.name in used:
                errors.append(
                    f"devices[{i}].name: device {d.name!r} is a Sparkplug device id, one topic level, "
                    "which must not hold a dot (NATS's MQTT refuses it, RabbitMQ's splits it into "
                    f"levels): rename the device, e.g. {d.name.replace('.', '-')!r}"
                )
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


def _check_uns_names(cfg: Any) -> list[str]:
    """Every device, tag and machine name gives valid UNS topic levels, and no two tags
    of the line share a topic."""
    errors: list[str] = []
    for i, d in enumerate(cfg.devices):
        if (why := _level_problem(uns_device_levels(d.name))) is not None:
            errors.append(f"devices[{i}].name: device {d.name!r} {why}")
    for i, m in enumerate(cfg.machines):
        if (why := _level_problem(uns_device_levels(m.name))) is not None:
            errors.append(f"machines[{i}].name: machine {m.name!r} {why}")
    topics: dict[tuple[str, ...], tuple[int, str]] = {}
    for i, t in enumerate(cfg.tags):
        levels = uns_tag_levels(t.device, t.name)
        if (why := _level_problem(levels)) is not None:
            errors.append(f"tags[{i}].name: tag {t.name!r} {why}")
            continue
        full = (*uns_device_levels(t.device), *levels)
        first = topics.setdefault(full, (i, t.name))
        if first[0] != i and first[1] != t.name:  # (a duplicate name is reported as such)
            errors.append(
                f"tags[{i}].name: tag {t.name!r} has the same UNS topic …/{'/'.join(full)} as "
                f"tags[{first[0]}] {first[1]!r} (a leading '{{device}}.' is dropped and dots become "
                "levels): rename one"
            )
    return errors
