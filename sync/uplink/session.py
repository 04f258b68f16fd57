"""The uplink: the line's streams → batches → broker, end-to-end acks and commands back,
as a paho session around the sans-I/O :class:`~sync.uplink.engine.Engine`. Runs in its
own thread inside the agent (the agent gets it injected as a companion by the CLI),
with its own store connection through ``edge.services.uplink``.

Nothing is copied into an outbox: each stream is read from its position and published
at QoS 1; the engine moves ``sent_seq`` on PUBACK and ``acked_seq`` on the aggregator's
end-to-end ack, and resends from the last ack whatever it may have lost sight of (a
broker restarted without persistence, a connection that died silently). Retained state
(status, current order, shift KPIs, alarms) is published outside the batch window.

paho calls back on its network thread; the callbacks only queue events, and this
thread applies them to the engine, so the engine needs no lock.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from typing import Any

from edge.config.line import LineConfig
from edge.config.uplink import UplinkConfig
from edge.core.faultlog import FaultLog
from edge.services.uplink import STREAMS, UplinkFeed
from sync import mqtt as m
from sync.protocol import Ack, LineRef, PayloadError, Topics, decode
from sync.uplink.commands import handle_command
from sync.uplink.engine import Engine, Limits
from sync.uplink.source import StoreSource
from sync.uplink.state import StatePublisher

log = logging.getLogger("lineside.uplink")

SAVE_EVERY_S = 0.25


class _Publisher:
    """The engine's ``Client``: a batch of a stream onto its topic, QoS 1."""

    def __init__(self, client: Any, topics: Topics) -> None:
        self.client = client
        self.topics = topics

    def publish(self, stream: str, payload: bytes) -> int:
        return int(self.client.publish(self.topics.stream(stream), payload, qos=1).mid)


class Uplink:
    """The MQTT uplink of one line (``start``/``notify``/``stop``: an agent companion)."""

    def __init__(self, cfg: LineConfig, *, agent_name: str = "") -> None:
        if cfg.uplink is None:
            raise ValueError("the line config has no uplink section")
        self.cfg = cfg
        self.ucfg: UplinkConfig = cfg.uplink
        self.topics = Topics.of(cfg.line)
        self.ref = LineRef.of(cfg.line)
        self.client_id = (
            self.ucfg.mqtt.client_id or f"lineside-edge-{'-'.join(self.topics.base.split('/')[2:])}"
        )
        self.agent_name = agent_name or self.client_id
        self.engine = Engine(
            self.ref,
            STREAMS,
            Limits(
                inflight=self.ucfg.inflight,
                unacked_records=self.ucfg.unacked_records,
                batch_max_bytes=self.ucfg.batch_max_bytes,
                ack_timeout_s=self.ucfg.ack_timeout_s,
            ),
        )
        self.state = StatePublisher(self.topics, self.ref, self.agent_name)
        self._events: queue.SimpleQueue[tuple[str, Any]] = queue.SimpleQueue()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._client: Any = None
        self._publisher = _Publisher(None, self.topics)
        self._version = m.V311 if self.ucfg.mqtt.protocol == "3.1.1" else m.V5
        self._answered = False  # a CONNACK came on the current client
        self._drain_until = 0.0
        self._logged: set[str] = set()
        #: Repeating faults (connecting, saving cursors, state) logged once, with recovery.
        self.faults = FaultLog(log)
        self._counts: dict[str, Any] = {"connects": 0, "last_ack": None, "commands": 0}
        self._feed: UplinkFeed | None = None
        #: Something the retained state reports changed (a command applied): publish now.
        self._state_changed = False
        self._source: StoreSource | None = None

    # ------------------------------------------------------------------ companion

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="uplink", daemon=True)
        self._thread.start()

    def notify(self) -> None:
        """New rows committed: send without waiting for the next tick."""
        self._wake.set()

    def stop(self, timeout: float = 3.0) -> None:
        """Send what is committed for up to ``timeout`` s, publish offline, disconnect."""
        self._drain_until = time.monotonic() + timeout
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout + 5)
            if self._thread.is_alive():
                log.error("uplink thread did not stop within %.0f s", timeout + 5)

    @property
    def connected(self) -> bool:
        return self.engine.connected

    @property
    def last_ack(self) -> float | None:
        """Wall time of the last end-to-end ack that moved a cursor."""
        v = self._counts["last_ack"]
        return float(v) if v is not None else None

    @property
    def stats(self) -> dict[str, Any]:
        return self.engine.stats | self._counts

    # ------------------------------------------------------------------ MQTT callbacks (paho thread)

    def _on_connect(self, client: Any, userdata: Any, flags: Any, rc: Any, props: Any = None) -> None:
        self._events.put(
            ("connect", (client, m.reason_value(rc), bool(getattr(flags, "session_present", False))))
        )
        self._wake.set()

    def _on_disconnect(self, client: Any, userdata: Any, flags: Any, rc: Any, props: Any = None) -> None:
        self._events.put(("disconnect", (client, m.reason_value(rc))))
        self._wake.set()

    def _on_publish(self, client: Any, userdata: Any, mid: int, rc: Any, props: Any = None) -> None:
        self._events.put(("puback", (client, mid)))
        self._wake.set()

    def _on_message(self, client: Any, userdata: Any, msg: Any) -> None:
        self._events.put(("message", (msg.topic, msg.payload)))
        self._wake.set()

    # ------------------------------------------------------------------ the uplink thread

    def _run(self) -> None:
        try:
            self._feed = UplinkFeed(self.cfg)
            self._source = StoreSource(self._feed)
        except Exception as e:
            log.error("uplink cannot start: %s", e)
            if self._feed is not None:
                self._feed.close()
                self._feed = None
            return
        self.engine.incarnation = self._feed.incarnation()
        self.engine.load(self._feed.cursors())
        self._new_client()
        tick = self.ucfg.batch_max_ms / 1000
        next_save = next_status = 0.0
        published_state: str | None = None
        try:
            while True:
                woke = self._wake.wait(tick)
                self._wake.clear()
                self._handle_events()
                now = time.monotonic()
                if self.engine.connected:
                    self.engine.pump(self._source, self._publisher, now=now, wall=time.time())
                    # New rows committed: if the line's state changed, the plant hears it
                    # now, not at the next status interval (the web board's 2 s promise).
                    state = self._line_state() if woke else published_state
                    if now >= next_status or state != published_state or self._state_changed:
                        next_status = now + self.ucfg.status_interval_s
                        published_state = state
                        self._state_changed = False
                        self._publish_state()
                    for t in self.engine.check_timeouts(now):
                        # Once per stream until an ack moves it again (the resends double
                        # their interval meanwhile; each is a DEBUG line).
                        self.faults.fault(
                            f"ack:{t.stream}",
                            "no end-to-end ack from the aggregator; resending from the last ack",
                            what=f"uplink {t.stream}",
                            level=logging.WARNING,
                        )
                        log.debug("%s: no ack beyond %d for %.0f s; resending", t.stream, t.acked, t.waited_s)
                if now >= next_save:
                    next_save = now + SAVE_EVERY_S
                    self._save_cursors()
                if self._stop.is_set() and (
                    now >= self._drain_until
                    or not self.engine.connected
                    or self.engine.drained(self._feed.last_seqs())
                ):
                    break
        except Exception:
            log.exception("uplink stopped by an unexpected error")
        finally:
            self._shutdown()

    def _shutdown(self) -> None:
        self._handle_events()
        self._save_cursors()
        c = self._client
        if c is not None:
            if self.engine.connected:
                topic, payload = self.state.offline(time.time())
                info = c.publish(topic, payload, qos=1, retain=True)
                try:
                    info.wait_for_publish(2)
                except (RuntimeError, ValueError):
                    pass
            c.disconnect()
            c.loop_stop()
        if self._feed is not None:
            self._write_agent_status()
            self._feed.close()

    def _new_client(self) -> None:
        if self._client is not None:
            self._client.disconnect()
            self._client.loop_stop()
        self._answered = False

        def failed(reason: str) -> None:  # paho's thread: hand it to ours
            self._events.put(("connect_fail", (c, reason)))
            self._wake.set()

        c = m.make_client(
            self.ucfg.mqtt,
            self.client_id,
            version=self._version,
            will=self.state.offline(time.time()),
            on_fail=failed,
        )
        c.on_connect = self._on_connect
        c.on_disconnect = self._on_disconnect
        c.on_publish = self._on_publish
        c.on_message = self._on_message
        c.max_inflight_messages_set(max(self.ucfg.inflight + 10, 20))
        self._client = c
        self._publisher = _Publisher(c, self.topics)
        log.info(
            "uplink connecting to %s as %s (MQTT %s)",
            m.describe(self.ucfg.mqtt),
            self.client_id,
            "5" if self._version == m.V5 else "3.1.1",
        )
        m.connect(c, self.ucfg.mqtt)

    # ------------------------------------------------------------------ events

    def _handle_events(self) -> None:
        while True:
            try:
                kind, data = self._events.get_nowait()
            except queue.Empty:
                return
            if kind == "puback":
                client, mid = data
                if client is self._client:
                    self.engine.on_puback(mid)
            elif kind == "message":
                self._message(*data)
            elif kind == "connect_fail":
                client, reason = data
                if client is self._client:
                    self.faults.fault(
                        "connect", reason, what=f"uplink cannot connect to {m.describe(self.ucfg.mqtt)}"
                    )
            elif kind == "connect":
                self._connected(*data)
            elif kind == "disconnect":
                client, rc = data
                if client is self._client and self.engine.connected:
                    self.engine.on_disconnect()
                    log.warning("uplink lost the broker (reason %s); buffering locally", rc)
                elif client is self._client and m.no_answer_to_v5(
                    self._version, self.ucfg.mqtt, self._answered
                ):
                    log.warning("broker closed an MQTT 5 connection without answering; falling back to 3.1.1")
                    self._version = m.V311
                    self._new_client()

    def _connected(self, client: Any, rc: int, session_present: bool) -> None:
        if client is not self._client:
            return
        if rc != 0:
            if self._version == m.V5 and self.ucfg.mqtt.protocol == "auto" and rc in m.UNSUPPORTED_VERSION:
                log.warning("broker does not speak MQTT 5; falling back to 3.1.1")
                self._version = m.V311
                self._new_client()
            else:
                self.faults.fault(
                    "connect",
                    f"the broker refused the connection: reason {rc}{m.connack_hint(rc)}",
                    what=f"uplink cannot connect to {m.describe(self.ucfg.mqtt)}",
                )
            return
        self._answered = True
        self._counts["connects"] += 1
        self.faults.recovered("connect", "uplink connection")
        log.info("uplink connected (%s session)", "resumed" if session_present else "new")
        self.engine.on_connect(session_present, time.monotonic())
        client.subscribe([(self.topics.ack("+"), 1), (self.topics.cmd("+"), 1)])
        self._publish_state()

    def _message(self, topic: str, payload: bytes) -> None:
        if topic.startswith(self.topics.base + "/ack/"):
            self._ack(topic, payload)
        elif topic.startswith(self.topics.base + "/cmd/"):
            assert self._feed is not None
            answer = handle_command(self._feed, topic, payload, time.time(), self.faults)
            if answer is not None:
                self._counts["commands"] += 1
                self._client.publish(self.topics.cmd_ack, answer, qos=1)
                self._state_changed = True  # the dispatch list changed: the plant sees it now

    def _ack(self, topic: str, payload: bytes) -> None:
        try:
            ack = decode(Ack, payload)
        except PayloadError as e:
            self._log_once("bad-ack", f"ignoring a malformed ack on {topic}: {e}")
            return
        if ack.stream not in self.engine.streams or ack.line != self.ref:
            self._log_once("foreign-ack", f"ignoring an ack for another line or stream on {topic}")
            return
        if ack.incarnation != self.engine.incarnation:
            # About another store (this line's before it was recreated, or a forgery): taking
            # it would mark records acknowledged that the plant never received.
            self._log_once(
                f"other-incarnation-{ack.stream}",
                f"ignoring an ack of {ack.stream} for store incarnation {ack.incarnation or '(none)'}: this "
                f"store is {self.engine.incarnation}",
            )
            return
        assert self._feed is not None
        last = self._feed.last_seqs()[ack.stream]
        if ack.acked_seq > last:
            self._log_once(
                f"ack-ahead-{ack.stream}",
                f"the aggregator acknowledges {ack.stream} up to {ack.acked_seq} but this store ends at {last}: "
                "was the line's store replaced? Not pruning beyond what exists here.",
            )
        if self.engine.on_ack(ack.stream, min(ack.acked_seq, last), time.monotonic()):
            self._counts["last_ack"] = time.time()
            self.faults.recovered(f"ack:{ack.stream}", f"uplink {ack.stream} acks")

    # ------------------------------------------------------------------ durable state

    def _save_cursors(self) -> None:
        if self._feed is None:
            return
        changed = self.engine.cursor_changes()
        if not changed:
            return
        try:
            self._feed.advance_cursors(changed)
        except Exception as e:
            self.faults.fault("cursor", str(e), what="cannot save uplink cursors")
            return
        self.faults.recovered("cursor", "saving uplink cursors")
        self.engine.cursors_saved(changed)

    def _line_state(self) -> str | None:
        """The state of the line's OEE machine as committed (one indexed read)."""
        try:
            return self._feed.line_state() if self._feed is not None else None
        except Exception:  # the store busy for a moment: the interval publishes it
            return None

    def _publish_state(self) -> None:
        if not self.engine.connected or self._feed is None:
            return
        try:
            for topic, payload in self.state.messages(self._feed, self.engine.acked(), time.time()):
                self._client.publish(topic, payload, qos=1, retain=True)
        except Exception as e:  # a report that cannot be computed must not stop the data
            self.faults.fault("state", str(e), what="cannot publish line state")
        else:
            self.faults.recovered("state", "publishing line state")
        self._write_agent_status()

    def _write_agent_status(self) -> None:
        if self._feed is None:
            return
        stats = self.stats
        try:
            backlog = self.engine.backlog(self._feed.last_seqs())
            self._feed.write_agent_status(
                {
                    "broker": m.describe(self.ucfg.mqtt),
                    "connected": self.engine.connected,
                    "protocol": "5" if self._version == m.V5 else "3.1.1",
                    "last_ack": stats["last_ack"],
                    "backlog": {k: v for k, v in backlog.items() if v},
                    "batches": stats["batches"],
                    "records": stats["records"],
                    "resends": stats["resends"],
                }
            )
        except Exception as e:
            self.faults.fault("agent-status", str(e), what="cannot record uplink status")
        else:
            self.faults.recovered("agent-status", "recording uplink status")

    def _log_once(self, key: str, msg: str) -> None:
        if key not in self._logged:
            self._logged.add(key)
            log.warning(msg)
