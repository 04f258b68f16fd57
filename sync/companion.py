"""What the plant-IT publishers (the unified namespace, the Sparkplug node) share: an
agent companion (``start``/``notify``/``stop``) with a thread of its own, a paho client
whose callbacks only queue events for that thread, reconnects by paho, a new client
when the last will must change (Sparkplug's bdSeq), and MQTT 5 → 3.1.1 fallback.

Subclasses implement :meth:`_open` (open the store feed), :meth:`_will`,
:meth:`_connected`, :meth:`_message`, :meth:`_tick` and :meth:`_closing`.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from typing import Any

from edge.config.uplink import MqttConfig
from edge.core.faultlog import FaultLog
from sync import mqtt as m

#: How often a publisher records its state for ``lineside status``.
STATUS_EVERY_S = 2.0


class MqttCompanion:
    """Base of a publisher companion (one thread, one paho client at a time)."""

    #: Thread name, and how the logs name it.
    name = "publisher"
    #: Longest wait between two ticks (a commit wakes it earlier).
    tick_s = 0.2

    def __init__(self, mqtt: MqttConfig, client_id: str, log: logging.Logger) -> None:
        self.mqtt = mqtt
        self.client_id = client_id
        self.log = log
        self.faults = FaultLog(log)
        self._events: queue.SimpleQueue[tuple[str, Any]] = queue.SimpleQueue()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._client: Any = None
        self._version = m.V311 if mqtt.protocol == "3.1.1" else m.V5
        self._answered = False
        self.connected = False

    # ------------------------------------------------------------------ companion

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()

    def notify(self) -> None:
        self._wake.set()

    def stop(self, timeout: float = 3.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout + 5)
            if self._thread.is_alive():
                self.log.error("%s thread did not stop within %.0f s", self.name, timeout + 5)

    # ------------------------------------------------------------------ subclass hooks

    def _open(self) -> None:
        """Open what the thread reads (raises: the companion does not run)."""

    def _will(self) -> tuple[str, bytes, bool] | None:
        """(topic, payload, retain) of the last will."""
        return None

    def _connected(self) -> None:
        """A connection is up: subscribe, publish what is retained."""

    def _message(self, topic: str, payload: bytes) -> None:
        """A message on a subscribed topic."""

    def _tick(self, now: float) -> bool:
        """Called every tick and on every commit while connected; True: more is waiting
        (a backlog), call again without waiting."""
        return False

    def _lost(self) -> None:
        """The connection was lost (paho reconnects on its own unless this replaces the client)."""

    def _published(self, mid: int) -> None:
        """The message ``mid`` left (QoS 0: written to the socket; QoS 1: PUBACK)."""

    def _status(self) -> dict[str, Any] | None:
        """What ``lineside status`` shows of this publisher (None: nothing)."""
        return None

    def _write_status(self, status: dict[str, Any]) -> None:
        """Record :meth:`_status` (subclasses write it through their store feed)."""

    def _closing(self) -> None:
        """Stopping while connected: publish what a clean stop says (an offline state)."""

    def _close(self) -> None:
        """Close what :meth:`_open` opened."""

    # ------------------------------------------------------------------ MQTT

    def publish(self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False) -> Any:
        return self._client.publish(topic, payload, qos=qos, retain=retain)

    def subscribe(self, topics: list[tuple[str, int]]) -> None:
        self._client.subscribe(topics)

    def reconnect(self) -> None:
        """Drop the connection and connect anew (a new last will, a new session)."""
        self.connected = False
        self._new_client()

    def _new_client(self) -> None:
        if self._client is not None:
            # A clean DISCONNECT before the next CONNECT under the same client id: were the
            # old connection still open, the broker would end it as a session takeover and
            # publish its last will (a Sparkplug node would die twice).
            old = self._client
            old.disconnect()
            end = time.monotonic() + 2.0
            while old.is_connected() and time.monotonic() < end:
                time.sleep(0.01)
            old.loop_stop()
        self._answered = False

        def failed(reason: str) -> None:
            self._events.put(("connect_fail", (c, reason)))
            self._wake.set()

        c = m.make_client(
            self.mqtt, self.client_id, version=self._version, will=None, on_fail=failed, clean=True
        )
        will = self._will()
        if will is not None:
            c.will_set(will[0], will[1], qos=1, retain=will[2])

        def on_connect(client: Any, userdata: Any, flags: Any, rc: Any, props: Any = None) -> None:
            self._events.put(("connect", (client, m.reason_value(rc))))
            self._wake.set()

        def on_disconnect(client: Any, userdata: Any, flags: Any, rc: Any, props: Any = None) -> None:
            self._events.put(("disconnect", (client, m.reason_value(rc))))
            self._wake.set()

        def on_message(client: Any, userdata: Any, msg: Any) -> None:
            self._events.put(("message", (client, msg.topic, msg.payload)))
            self._wake.set()

        def on_publish(client: Any, userdata: Any, mid: int, rc: Any, props: Any = None) -> None:
            self._events.put(("published", (client, mid)))
            self._wake.set()

        c.on_publish = on_publish
        c.on_connect = on_connect
        c.on_disconnect = on_disconnect
        c.on_message = on_message
        self._client = c
        self.log.info(
            "%s connecting to %s as %s (MQTT %s)",
            self.name,
            m.describe(self.mqtt),
            self.client_id,
            "5" if self._version == m.V5 else "3.1.1",
        )
        m.connect(c, self.mqtt, clean=True)

    # ------------------------------------------------------------------ the thread

    def _run(self) -> None:
        try:
            self._open()
        except Exception as e:
            self.log.error("%s cannot start: %s", self.name, e)
            return
        try:
            self._new_client()
            busy = False
            next_status = 0.0
            while not self._stop.is_set():
                if not busy:
                    self._wake.wait(self.tick_s)
                    self._wake.clear()
                busy = False
                self._handle_events()
                if self.connected:
                    try:
                        busy = self._tick(time.monotonic())
                    except Exception as e:  # a failing read must not end the thread
                        self.faults.fault("tick", str(e), what=f"{self.name} cannot publish")
                    else:
                        self.faults.recovered("tick", f"{self.name} publishing")
                if time.monotonic() >= next_status:
                    next_status = time.monotonic() + STATUS_EVERY_S
                    self._record_status()
            self._handle_events()
            if self.connected:
                try:
                    self._closing()
                except Exception as e:
                    self.log.warning("%s: could not say goodbye: %s", self.name, e)
        except Exception:
            self.log.exception("%s stopped by an unexpected error", self.name)
        finally:
            if self._client is not None:
                self._client.disconnect()
                self._client.loop_stop()
            self.connected = False
            self._record_status()
            self._close()

    def _record_status(self) -> None:
        status = self._status()
        if status is None:
            return
        try:
            self._write_status(status | {"connected": self.connected, "broker": m.describe(self.mqtt)})
        except Exception as e:  # the store busy or failing: the next look tries again
            self.faults.fault("status", str(e), what=f"cannot record {self.name} status")
        else:
            self.faults.recovered("status", f"recording {self.name} status")

    def _handle_events(self) -> None:
        while True:
            try:
                kind, data = self._events.get_nowait()
            except queue.Empty:
                return
            client = data[0]
            if client is not self._client:
                continue  # a client already replaced
            if kind == "message":
                self._message(data[1], data[2])
            elif kind == "published":
                self._published(data[1])
            elif kind == "connect_fail":
                self.faults.fault(
                    "connect", data[1], what=f"{self.name} cannot connect to {m.describe(self.mqtt)}"
                )
            elif kind == "connect":
                rc = data[1]
                if rc != 0:
                    if self._version == m.V5 and self.mqtt.protocol == "auto" and rc in m.UNSUPPORTED_VERSION:
                        self.log.warning("broker does not speak MQTT 5; %s falls back to 3.1.1", self.name)
                        self._version = m.V311
                        self._new_client()
                    else:
                        self.faults.fault(
                            "connect",
                            f"the broker refused the connection: reason {rc}{m.connack_hint(rc)}",
                            what=f"{self.name} cannot connect to {m.describe(self.mqtt)}",
                        )
                    continue
                self._answered = True
                self.connected = True
                self.faults.recovered("connect", f"{self.name} connection")
                self._connected()
            elif kind == "disconnect":
                if self.connected:
                    self.connected = False
                    self.log.warning("%s lost the broker (reason %s)", self.name, data[1])
                    self._lost()
                elif m.no_answer_to_v5(self._version, self.mqtt, self._answered):
                    self._version = m.V311
                    self._new_client()
