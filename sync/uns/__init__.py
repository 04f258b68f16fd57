"""The unified namespace publisher: a retained current value per tag and the line's
state, order and KPIs under the line's ISA-95 path (``sync.protocol.uns``), for any MQTT
consumer. An agent companion, beside the uplink's exactly-once batch streams, which it
does not touch.

Values come from the line's store (what the agent committed, so each tag's deadband has
already applied): at every (re)connect the current value of every tag, then each new
sample, the latest per tag when several arrived since the last look. Nothing here is
durable or needs to be: a retained topic holds the current value, and a reconnect
publishes them all again (a broker restarted without persistence has lost them).
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from typing import Any

from edge.config.line import LineConfig
from edge.config.uns import UnsConfig, uns_device_levels, uns_tag_levels
from edge.services.uns import PlantItFeed, TagInfo, TagSample
from sync.companion import MqttCompanion
from sync.protocol import LineRef
from sync.protocol.uns import (
    LineState,
    MachineState,
    OrderState,
    UnsTopics,
    epoch_ms,
    iso_ms,
    kpi_state,
    tag_value,
    umh_payload,
)

log = logging.getLogger("lineside.uns")


@dataclass(frozen=True)
class _Route:
    """Where one tag's values go: its namespace topic, and its UMH topic and key."""

    topic: str
    umh_topic: str
    levels: tuple[str, ...]

    @classmethod
    def of(cls, topics: UnsTopics, device: str, tag: str) -> _Route:
        dev, levels = uns_device_levels(device), uns_tag_levels(device, tag)
        return cls(topics.tag(dev, levels), topics.umh_historian(dev, levels), levels)


#: Samples read per look (a backlog after a reconnect is collapsed to the latest per tag).
READ_LIMIT = 20_000


class UnsPublisher(MqttCompanion):
    """The line's unified namespace (an agent companion)."""

    name = "uns"

    def __init__(self, cfg: LineConfig, *, agent_name: str = "") -> None:
        ucfg = cfg.uns
        if ucfg is None:
            raise ValueError("the line config has no uns section")
        self.cfg = cfg
        self.ucfg: UnsConfig = ucfg
        mqtt = ucfg.mqtt
        if mqtt is None:
            if cfg.uplink is None:
                raise ValueError("uns.mqtt: required without an uplink")
            base = (
                cfg.uplink.mqtt.client_id
                or f"lineside-edge-{cfg.line.enterprise}-{cfg.line.site}-{cfg.line.area}-{cfg.line.line}"
            )
            mqtt = cfg.uplink.mqtt.model_copy(update={"client_id": f"{base}-uns"})
        client_id = mqtt.client_id or (
            f"lineside-uns-{cfg.line.enterprise}-{cfg.line.site}-{cfg.line.area}-{cfg.line.line}"
        )
        super().__init__(mqtt, client_id, log)
        self.topics = UnsTopics.of(ucfg.root, cfg.line)
        self.ref = LineRef.of(cfg.line)
        self.agent_name = agent_name or client_id
        self._feed: PlantItFeed | None = None
        self._tags: dict[str, TagInfo] = {}
        self._routes: dict[str, _Route] = {}
        """tag → its topics (built once: the config's names never change in a run)."""
        self._cursor = 0
        self._sent: dict[str, str] = {}
        """topic → payload last published without its time: state goes out on change only."""
        self._next_state = 0.0
        self._next_kpi = 0.0
        self.published = 0
        """Tag values published (counted for tests and status)."""
        self.states = 0
        """State messages (line, machines, order, KPIs) published."""

    # ------------------------------------------------------------------ hooks

    def _open(self) -> None:
        self._feed = PlantItFeed(self.cfg)
        self._tags = {t.name: t for t in self._feed.tags()}
        self._routes = {t.name: _Route.of(self.topics, t.device, t.name) for t in self._tags.values()}

    def _close(self) -> None:
        if self._feed is not None:
            self._feed.close()

    def _status(self) -> dict[str, Any]:
        return {"root": self.topics.base, "values": self.published, "states": self.states}

    def _write_status(self, status: dict[str, Any]) -> None:
        if self._feed is not None:
            self._feed.write_status("uns", status)

    def _will(self) -> tuple[str, bytes, bool]:
        return self.topics.line_state, self._offline(), True

    def _offline(self) -> bytes:
        now = time.time()
        return (
            LineState(line=self.ref, online=False, timestamp=iso_ms(now), ts_ms=epoch_ms(now))
            .model_dump_json()
            .encode()
        )

    def _connected(self) -> None:
        assert self._feed is not None
        self._sent.clear()
        self._next_state = self._next_kpi = 0.0
        self._cursor = self._feed.last_sample_seq()
        self._publish_values(list(self._feed.current().values()))

    def _closing(self) -> None:
        info = self.publish(self.topics.line_state, self._offline(), retain=True)
        try:
            info.wait_for_publish(2)
        except (RuntimeError, ValueError):
            pass

    def _tick(self, now: float) -> bool:
        assert self._feed is not None
        rows = self._feed.samples_after(self._cursor, READ_LIMIT)
        if rows:
            self._cursor = rows[-1].seq
            latest: dict[str, TagSample] = {}
            for r in rows:
                latest[r.tag] = r
            self._publish_values(list(latest.values()))
        # New rows committed: a changed state is published now, not at the next look
        # (as the uplink does since the plant's web board promised 2 s).
        if rows or now >= self._next_state:
            self._next_state = now + self.ucfg.state_interval_s
            self._publish_state()
        if now >= self._next_kpi:
            self._next_kpi = now + self.ucfg.kpi_interval_s
            self._publish_kpi()
        return len(rows) == READ_LIMIT

    # ------------------------------------------------------------------ publishing

    def _publish_values(self, samples: list[TagSample]) -> None:
        for s in samples:
            t = self._tags.get(s.tag)
            if t is None:  # a tag no longer in the config
                continue
            route = self._routes[s.tag]
            body = tag_value(t.name, t.device, t.type, t.unit, s.value, s.quality, s.ts)
            self.publish(route.topic, body.model_dump_json().encode(), retain=True)
            if self.ucfg.umh and s.quality == "good":
                self.publish(
                    route.umh_topic,
                    json.dumps(umh_payload(route.levels, s.value, s.ts).model_dump()).encode(),
                )
            self.published += 1

    def _on_change(self, topic: str, body: dict[str, Any], model: Any, now: float) -> None:
        key = json.dumps(body, sort_keys=True, default=str)
        if self._sent.get(topic) == key:
            return
        self._sent[topic] = key
        payload = model(**body, timestamp=iso_ms(now), ts_ms=epoch_ms(now))
        self.publish(topic, payload.model_dump_json().encode(), retain=True)
        self.states += 1

    def _publish_state(self) -> None:
        assert self._feed is not None
        now = time.time()
        st = self._feed.line_state()
        self._on_change(
            self.topics.line_state,
            {
                "line": self.ref,
                "online": True,
                "state": st["state"],
                "order": st["order"],
                "product": st["product"],
                "devices": st["devices"],
            },
            LineState,
            now,
        )
        for machine, state in st["machines"].items():
            self._on_change(
                self.topics.machine_state(uns_device_levels(machine)),
                {"machine": machine, "state": state},
                MachineState,
                now,
            )
        since = st["order_since"]
        self._on_change(
            self.topics.order,
            {"order": st["order"], "product": st["product"], "since": iso_ms(since) if since else None},
            OrderState,
            now,
        )

    def _publish_kpi(self) -> None:
        assert self._feed is not None
        now = time.time()
        got = self._feed.kpis(now)
        if got is None:
            return
        shift, report = got
        body = kpi_state(shift, report, now)
        key = json.dumps(body.model_dump(exclude={"timestamp", "ts_ms", "end"}), sort_keys=True, default=str)
        if self._sent.get(self.topics.kpi) == key:
            return
        self._sent[self.topics.kpi] = key
        self.publish(self.topics.kpi, body.model_dump_json().encode(), retain=True)
        self.states += 1


def topic_rows(cfg: LineConfig) -> list[tuple[str, str, str, str]]:
    """(direction, delivery, topic, meaning) of the line's unified namespace, for
    ``lineside topics`` (nothing without an enabled ``uns:`` section)."""
    if cfg.uns is None or not cfg.uns.enabled:
        return []
    t = UnsTopics.of(cfg.uns.root, cfg.line)
    routes = [(tag.name, _Route.of(t, tag.device, tag.name)) for tag in cfg.tags]
    rows = [("up", "retained", r.topic, f"TagValue of {name}") for name, r in routes]
    rows += [("up", "retained", t.line_state, "LineState (last will: online false)")]
    rows += [
        ("up", "retained", t.machine_state(uns_device_levels(m.name)), f"MachineState of {m.name}")
        for m in cfg.machines
    ]
    rows += [("up", "retained", t.order, "OrderState"), ("up", "retained", t.kpi, "KpiState")]
    if cfg.uns.umh:
        rows += [
            ("up", "QoS 1", r.umh_topic, f"UMH _historian value of {name} (key {r.levels[-1]!r})")
            for name, r in routes
        ]
    return rows


def uns_companions(cfg: LineConfig, *, agent_name: str = "") -> list[UnsPublisher]:
    if cfg.uns is None or not cfg.uns.enabled:
        return []
    return [UnsPublisher(cfg, agent_name=agent_name)]


__all__ = ["UnsPublisher", "topic_rows", "uns_companions"]
