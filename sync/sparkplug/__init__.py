"""The line as a Sparkplug B edge node (an agent companion, ``sparkplug:`` in the config).

* The line is the edge node (``spBv1.0/{group}/…/{edge_node_id}``); each device of the
  config is a Sparkplug device whose metrics are its tags (named as in the config,
  aliases 1…n in config order). The node's own metrics are ``bdSeq``, ``Node
  Control/Rebirth``, ``Line/State``, ``Line/Order``, ``Line/Product`` and
  ``Machines/{machine}/State``.
* Each MQTT connection is a session with a new ``bdSeq`` (durable in the store, 0–255),
  carried by the NDEATH last will and the NBIRTH. NBIRTH has ``seq`` 0; every later
  message +1 modulo 256. A lost connection is answered with a new connection (a new
  bdSeq), never by paho's silent reconnect, which would reuse the old will.
* Births carry every metric with name, alias, datatype, properties (``engUnit``,
  ``Documentation``, ``readOnly``, ``Quality``) and the current value. NDATA and DDATA
  report by exception: each new stored sample (after the tag's deadband), by alias.
* With ``primary_host`` set, the node is born only while that host's STATE says online.
  When it goes offline the node publishes NDEATH and reconnects to wait. Samples are
  read from the store after a durable cursor (the last one the broker took), so what
  the host missed — host offline, broker away, agent stopped — goes out after the next
  birth as DDATA flagged ``is_historical``.
* A device whose PLC connection is down (``fault``) gets DDEATH and no DDATA; when it is
  back, a DBIRTH with its current values.
* NCMD ``Node Control/Rebirth`` = true: NBIRTH and DBIRTHs again (same bdSeq).
* DCMD: a write of a tag in ``sparkplug.writable`` on the addressed device goes through
  the agent's allow-listed write and the audit trail (actor ``sparkplug host``); any
  other is refused, recorded in the ``writes`` stream and audited.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from edge.config.line import LineConfig
from edge.config.uns import SparkplugConfig
from edge.core.errors import LinesideError
from edge.services.identity import SPARKPLUG_HOST
from edge.services.uns import SPARKPLUG_BD_SEQ, SPARKPLUG_CURSOR, PlantItFeed, TagSample
from sync.companion import MqttCompanion
from sync.protocol.sparkplug import (
    REBIRTH,
    DataType,
    EdgeSession,
    MetricDef,
    Point,
    SparkplugTopics,
    datatype_of,
    decode_payload,
    get_value,
    legacy_state_topic,
    parse_state,
    state_timestamp,
    state_topic,
)

log = logging.getLogger("lineside.sparkplug")

CURSOR = SPARKPLUG_CURSOR
BD_SEQ = SPARKPLUG_BD_SEQ
#: How often the cursor is made durable while data flows.
SAVE_EVERY_S = 0.5

WriteFn = Callable[[str, Any, str, str], None]


class SparkplugNode(MqttCompanion):
    """The line's Sparkplug B edge node."""

    name = "sparkplug"

    def __init__(self, cfg: LineConfig) -> None:
        scfg = cfg.sparkplug
        if scfg is None:
            raise ValueError("the line config has no sparkplug section")
        self.cfg = cfg
        self.scfg: SparkplugConfig = scfg
        self.topics = SparkplugTopics(scfg.group(cfg.line), scfg.node(cfg.line))
        mqtt = scfg.mqtt
        if mqtt is None:
            if cfg.uplink is None:
                raise ValueError("sparkplug.mqtt: required without an uplink")
            mqtt = cfg.uplink.mqtt.model_copy(update={"client_id": None})
        client_id = mqtt.client_id or f"lineside-spb-{self.topics.group}-{self.topics.node}"
        super().__init__(mqtt, client_id, log)
        self._write: WriteFn | None = None
        self._feed: PlantItFeed | None = None
        self.session: EdgeSession | None = None
        self._host_online = scfg.primary_host is None
        self._state_ts: int | None = None
        """Timestamp of the last STATE taken: an older one is stale."""
        self._tag_metrics: dict[str, MetricDef] = {}
        self._device_of: dict[str, str] = {}
        self._devices: dict[str, list[MetricDef]] = {}
        self._node_metrics: dict[str, MetricDef] = {}
        self._node_values: dict[str, Any] = {}
        self._dead: set[str] = set()
        """Devices whose PLC connection is down: DDEATH sent, no DDATA until their DBIRTH."""
        self._writable = set(scfg.writable)
        self._cursor = 0
        """Last sample handed to paho in this session."""
        self._confirmed = 0
        """Last sample whose message left for the broker: what is made durable."""
        self._saved = 0
        self._inflight: dict[int, int] = {}
        self._birth_seq = 0
        """Samples up to here, not yet sent, are history: the births carried newer values."""
        self._next_save = 0.0
        self._next_node = 0.0
        self.stats: dict[str, int] = {"births": 0, "data": 0, "historical": 0, "writes": 0, "refused": 0}

    # ------------------------------------------------------------------ agent wiring

    def use_writes(self, write: WriteFn) -> None:
        """The agent's allow-listed write (``Agent.write_blocking``), for DCMD."""
        self._write = write

    # ------------------------------------------------------------------ hooks

    def _open(self) -> None:
        self._feed = PlantItFeed(self.cfg)
        alias = 0
        for t in self._feed.tags():
            alias += 1
            d = MetricDef(
                t.name,
                alias,
                datatype_of(t.type, t.elements),
                t.unit,
                t.name in self._writable,
                t.description,
            )
            self._tag_metrics[t.name] = d
            self._device_of[t.name] = t.device
            self._devices.setdefault(t.device, []).append(d)
        names = ["Line/State", "Line/Order", "Line/Product"] + [
            f"Machines/{m.name}/State" for m in self.cfg.machines
        ]
        for n in names:
            alias += 1
            self._node_metrics[n] = MetricDef(n, alias, DataType.String)
        c = self._feed.mark(CURSOR)
        self._cursor = self._confirmed = self._saved = c if c is not None else -1

    def _close(self) -> None:
        if self._feed is not None:
            self._save(force=True)
            self._feed.close()

    def _status(self) -> dict[str, Any]:
        s = self.session
        return {
            "node": f"{self.topics.group}/{self.topics.node}",
            "born": bool(s and s.born and self.connected),
            "bd_seq": s.bd_seq if s else None,
            "primary_host": self.scfg.primary_host,
            "host_online": self._host_online,
            "sent_upto": self._confirmed,
            "dead_devices": sorted(self._dead),
        } | self.stats

    def _write_status(self, status: dict[str, Any]) -> None:
        if self._feed is not None:
            self._feed.write_status("sparkplug", status)

    def _will(self) -> tuple[str, bytes, bool]:
        assert self._feed is not None
        last = self._feed.mark(BD_SEQ)
        bd = 0 if last is None else (last + 1) % 256
        self._feed.save_marks({BD_SEQ: bd})
        self.session = EdgeSession(bd_seq=bd)
        return self.topics.node_topic("NDEATH"), self.session.ndeath(time.time()), False

    def _connected(self) -> None:
        subs = [(self.topics.node_topic("NCMD"), 0), (self.topics.dcmd_all, 0)]
        if self.scfg.primary_host is not None:
            self._host_online = False  # until its (retained) STATE says otherwise
            subs.append((state_topic(self.scfg.primary_host), 1))
            subs.append((legacy_state_topic(self.scfg.primary_host), 1))
        self.subscribe(subs)
        if self._host_online:
            self._birth()

    def _lost(self) -> None:
        # A new connection, with a new bdSeq in its will: paho's own reconnect would
        # reuse the old one. What was handed over but never left is sent again.
        self._rewind()
        self.reconnect()

    def _published(self, mid: int) -> None:
        seq = self._inflight.pop(mid, None)
        if seq is not None and seq > self._confirmed:
            self._confirmed = seq

    def _closing(self) -> None:
        assert self.session is not None
        if self.session.born:
            info = self.publish(self.topics.node_topic("NDEATH"), self.session.ndeath(time.time()), qos=1)
            try:
                info.wait_for_publish(2)
            except (RuntimeError, ValueError):
                pass
        self._handle_published()

    def _handle_published(self) -> None:
        """Take the confirmations already queued (before a last save)."""
        while True:
            try:
                kind, data = self._events.get_nowait()
            except Exception:
                return
            if kind == "published" and data[0] is self._client:
                self._published(data[1])

    # ------------------------------------------------------------------ births and death

    def _rewind(self) -> None:
        self._inflight.clear()
        self._cursor = self._confirmed

    def _birth(self) -> None:
        """NBIRTH and a DBIRTH per device, with current values; what the host has not
        seen yet and is older than these values follows as history."""
        assert self._feed is not None and self.session is not None
        now = time.time()
        self._rewind()
        last = self._feed.last_sample_seq()
        if self._cursor < 0:  # the first birth on this store: history starts now
            self._cursor = self._confirmed = last
            self._save(force=True)
        self._birth_seq = last
        current = self._feed.current()
        self._node_values, devices = self._node_state()
        node_points = [Point(self._node_metrics[n], v, "good", now) for n, v in self._node_values.items()]
        self.publish(self.topics.node_topic("NBIRTH"), self.session.nbirth(node_points, now), qos=0)
        self._dead = {d for d in self._devices if devices.get(d) == "fault"}
        for device in self._devices:
            if device not in self._dead:
                self._dbirth(device, current, now)
        self.stats["births"] += 1
        log.info(
            "sparkplug node %s/%s born (bdSeq %d)%s",
            self.topics.group,
            self.topics.node,
            self.session.bd_seq,
            f"; {last - self._cursor} samples follow as history" if last > self._cursor else "",
        )

    def _dbirth(self, device: str, current: dict[str, TagSample], now: float) -> None:
        assert self.session is not None
        points = []
        for d in self._devices[device]:
            s = current.get(d.name)
            points.append(Point(d, s.value, s.quality, s.ts) if s else Point(d, None, "bad", now))
        self.publish(self.topics.device_topic("DBIRTH", device), self.session.dbirth(points, now), qos=0)

    def _host_offline(self) -> None:
        """The primary host went offline: NDEATH now, and a new connection that waits
        for it to come back (the store keeps what it misses)."""
        assert self.session is not None
        if self.session.born:
            self.publish(self.topics.node_topic("NDEATH"), self.session.ndeath(time.time()), qos=1)
            log.warning(
                "sparkplug primary host %s is offline: node dead until it is back", self.scfg.primary_host
            )
        self._rewind()
        self._save(force=True)
        self.reconnect()

    # ------------------------------------------------------------------ messages in

    def _message(self, topic: str, payload: bytes) -> None:
        host = self.scfg.primary_host
        if host is not None and topic in (state_topic(host), legacy_state_topic(host)):
            online = parse_state(payload)
            if online is None:
                log.warning(
                    "ignoring a STATE message that is neither Sparkplug 3.0 JSON nor 2.2 text on %s", topic
                )
                return
            ts = state_timestamp(payload)
            if ts is not None and self._state_ts is not None and ts < self._state_ts:
                log.info("ignoring a stale STATE of %s (older than the last one)", host)
                return
            if ts is not None:
                self._state_ts = ts
            was, self._host_online = self._host_online, online
            if online and not was:
                log.info("sparkplug primary host %s is online", self.scfg.primary_host)
                self._birth()
            elif not online and was:
                self._host_offline()
            return
        try:
            msg = decode_payload(payload)
        except Exception:
            log.warning("ignoring a payload on %s that is not Sparkplug B", topic)
            return
        if topic == self.topics.node_topic("NCMD"):
            for mt in msg.metrics:
                if mt.name == REBIRTH and get_value(mt, DataType.Boolean) is True and self._host_online:
                    log.info("sparkplug rebirth requested")
                    self._birth()
        elif topic.startswith(self.topics.device_topic("DCMD", "")):
            self._dcmd(topic.rsplit("/", 1)[1], msg)

    def _dcmd(self, device: str, msg: Any) -> None:
        assert self._feed is not None
        by_alias = {d.alias: d for d in self._tag_metrics.values()}
        for mt in msg.metrics:
            d = self._tag_metrics.get(mt.name) if mt.name else by_alias.get(mt.alias)
            name = mt.name or (d.name if d else f"alias {mt.alias}")
            value = get_value(mt, d.datatype if d else None)
            why = None
            if d is None or self._device_of.get(d.name) != device:
                why = f"device {device!r} has no metric {name!r}"
            elif d.name not in self._writable:
                why = f"tag {name!r} is not writable by Sparkplug (not in sparkplug.writable)"
            elif self._write is None:
                why = "this process has no PLC access (the agent serves writes)"
            reason = f"Sparkplug DCMD to {device}"
            if why is not None:
                self.stats["refused"] += 1
                log.warning("DCMD refused: %s", why)
                self._feed.refuse(SPARKPLUG_HOST, name, value, why, reason=reason)
                continue
            assert self._write is not None and d is not None
            try:
                self._feed.write(SPARKPLUG_HOST, d.name, value, self._write, reason=reason)
                self.stats["writes"] += 1
            except LinesideError as e:
                self.stats["refused"] += 1
                log.warning("DCMD write of %s failed: %s", d.name, e)

    # ------------------------------------------------------------------ data out

    def _tick(self, now: float) -> bool:
        if self.session is None or not self.session.born:
            return False
        assert self._feed is not None
        limit = self.scfg.max_metrics * 20
        rows = self._feed.samples_after(self._cursor, limit)
        if rows or now >= self._next_node:  # a state change goes out with the commit that made it
            self._next_node = now + self.scfg.node_interval_s
            self._node_data()
        if rows:
            history = [r for r in rows if r.seq <= self._birth_seq]
            live = [r for r in rows if r.seq > self._birth_seq]
            self._send(history, historical=True)
            self._send(live, historical=False)
        if now >= self._next_save:
            self._next_save = now + SAVE_EVERY_S
            self._save()
        return len(rows) == limit

    def _send(self, rows: list[TagSample], *, historical: bool) -> None:
        assert self.session is not None
        if not rows:
            return
        by_device: dict[str, list[TagSample]] = {}
        dead = self._dead
        for r in rows:
            if r.tag in self._tag_metrics and (device := self._device_of[r.tag]) not in dead:
                by_device.setdefault(device, []).append(r)
        now = time.time()
        n = self.scfg.max_metrics
        for device, samples in by_device.items():
            for i in range(0, len(samples), n):
                chunk = samples[i : i + n]
                points = [Point(self._tag_metrics[s.tag], s.value, s.quality, s.ts) for s in chunk]
                info = self.publish(
                    self.topics.device_topic("DDATA", device),
                    self.session.data(points, now, historical=historical),
                    qos=0,
                )
                self._inflight[info.mid] = max(s.seq for s in chunk)
                self.stats["historical" if historical else "data"] += 1
        # Every row read is handed over (rows of tags no longer configured are skipped).
        last = rows[-1].seq
        self._cursor = last
        if not by_device:
            self._confirmed = max(self._confirmed, last)

    def _node_state(self) -> tuple[dict[str, Any], dict[str, str]]:
        """The node metrics' values, and each device's connection state."""
        assert self._feed is not None
        st = self._feed.line_state()
        values: dict[str, Any] = {
            "Line/State": st["state"],
            "Line/Order": st["order"],
            "Line/Product": st["product"],
        }
        for m, state in st["machines"].items():
            values[f"Machines/{m}/State"] = state
        return values, st["devices"]

    def _node_data(self) -> None:
        assert self.session is not None
        now = time.time()
        values, devices = self._node_state()
        changed = [n for n, v in values.items() if self._node_values.get(n) != v and n in self._node_metrics]
        if changed:
            self._node_values.update(values)
            points = [Point(self._node_metrics[n], values[n], "good", now) for n in changed]
            self.publish(self.topics.node_topic("NDATA"), self.session.data(points, now), qos=0)
        # A device whose PLC connection is lost dies (DDEATH), and is born again with its
        # current values when it is back (its values meanwhile were bad anyway).
        current: dict[str, TagSample] | None = None
        for device in self._devices:
            down = devices.get(device) == "fault"
            if down and device not in self._dead:
                self._dead.add(device)
                self.publish(self.topics.device_topic("DDEATH", device), self.session.ddeath(now), qos=0)
                log.info("sparkplug device %s dead (its PLC connection is down)", device)
            elif not down and device in self._dead:
                self._dead.discard(device)
                current = current if current is not None else self._feed.current() if self._feed else {}
                self._dbirth(device, current, now)

    def _save(self, *, force: bool = False) -> None:
        if self._feed is None or self._confirmed < 0 or (self._confirmed == self._saved and not force):
            return
        try:
            self._feed.save_marks({CURSOR: self._confirmed})
        except Exception as e:
            self.faults.fault("cursor", str(e), what="cannot save the Sparkplug cursor")
            return
        self.faults.recovered("cursor", "saving the Sparkplug cursor")
        self._saved = self._confirmed


def topic_rows(cfg: LineConfig) -> list[tuple[str, str, str, str]]:
    """(direction, delivery, topic, meaning) of the line's Sparkplug B edge node, for
    ``lineside topics`` (nothing without an enabled ``sparkplug:`` section)."""
    sp = cfg.sparkplug
    if sp is None or not sp.enabled:
        return []
    t = SparkplugTopics(sp.group(cfg.line), sp.node(cfg.line))
    rows = [
        ("up", "QoS 0", t.node_topic("NBIRTH"), "node birth: bdSeq, Node Control/Rebirth, line state"),
        ("up", "will", t.node_topic("NDEATH"), "node death (MQTT last will, QoS 1) with bdSeq"),
        ("up", "QoS 0", t.node_topic("NDATA"), "line state, order, machine states on change"),
        ("down", "QoS 0", t.node_topic("NCMD"), "Node Control/Rebirth"),
    ]
    for device in dict.fromkeys(tag.device for tag in cfg.tags):
        rows += [
            (
                "up",
                "QoS 0",
                t.device_topic("DBIRTH", device),
                f"birth of {device}: every tag with type, unit, alias",
            ),
            ("up", "QoS 0", t.device_topic("DDATA", device), f"changed tags of {device} (by alias)"),
            ("down", "QoS 0", t.device_topic("DCMD", device), "writes of the tags in sparkplug.writable"),
        ]
    if sp.primary_host:
        rows.append(("down", "retained", state_topic(sp.primary_host), "the primary host's STATE"))
    return rows


def sparkplug_companions(cfg: LineConfig) -> list[SparkplugNode]:
    if cfg.sparkplug is None or not cfg.sparkplug.enabled:
        return []
    return [SparkplugNode(cfg)]


__all__ = ["SparkplugNode", "sparkplug_companions", "topic_rows"]
