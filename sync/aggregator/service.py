"""The aggregator process: MQTT in, plant store, acks and commands out.

Messages arrive through a shared subscription (several instances may split the load)
with manual acknowledgement: the broker's PUBACK for a message goes out only after the
transaction holding it has committed, so a crash loses nothing the broker gave us.
Messages are committed in groups (one transaction, a savepoint each): a message that
cannot be used goes to the dead-letter table with its reason and never stops the rest.
End-to-end acks are coalesced per (line, stream) and published retained, so a line that
reconnects learns at once how far the plant has its data.

A lost PostgreSQL connection (the server restarted, the backend terminated, the network
gone) is a normal operating condition: the group in flight is rolled back, a new
connection is opened with backoff (the fault logged once, its recovery once) and the same
group is committed again — never dead-lettered, never acknowledged before it commits.
While the store is down the systemd watchdog is still pinged from the retry loop: the
process is healthy and retrying, and a restart would meet the same database. The watchdog
still catches what it is there for, an ingest thread stuck in a call that never returns.
"""

from __future__ import annotations

import json
import logging
import queue
import random
import threading
import time
from typing import Any

from edge.core import sdnotify
from edge.core.faultlog import FaultLog
from sync import mqtt as m
from sync.aggregator.config import AggregatorConfig
from sync.aggregator.db import redact, transient
from sync.aggregator.store import AggregatorStore, AuditBroken, FutureBatch, line_key, open_store
from sync.protocol import (
    RECORDS,
    Ack,
    Command,
    CommandAck,
    CurrentOrder,
    InspectionsDue,
    LineRef,
    LineStatus,
    PayloadError,
    ShiftKpi,
    Topics,
    aggregator_subscriptions,
    decode,
    decode_batch,
    encode,
    parse_topic,
)

log = logging.getLogger("lineside.aggregator")

GROUP_MAX = 500  # messages per transaction
RECONNECT_MIN_S = 0.2  # first pause before opening a lost store connection again
RECONNECT_MAX_S = 10.0  # longest pause between attempts (doubling from the first)
STATE_MODELS: dict[str, Any] = {
    "status": LineStatus,
    "shift_kpi": ShiftKpi,
    "current_order": CurrentOrder,
    "inspections": InspectionsDue,
}


class Aggregator:
    def __init__(
        self, cfg: AggregatorConfig, store: AggregatorStore | None = None, *, client_id: str | None = None
    ) -> None:
        self.cfg = cfg
        self.store = store or open_store(cfg)
        self.store.audit_keys = {ln.key: ln.audit_key for ln in cfg.lines}
        self.lines = {ln.key: ln for ln in cfg.lines}
        self.client_id = client_id or cfg.mqtt.client_id or "lineside-aggregator"
        self._in: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._client: Any = None
        self._version = m.V311 if cfg.mqtt.protocol == "3.1.1" else m.V5
        self.connected = threading.Event()
        #: (line, stream, incarnation) → ack to publish.
        self._dirty: dict[tuple[str, str, str], int] = {}
        self._ack_sent: dict[tuple[str, str, str], float] = {}
        self._online: dict[str, bool] = {}
        self._logged: set[str] = set()
        #: Repeating faults (the broker, the plant store, commands) logged once, with recovery.
        self.faults = FaultLog(log)
        self.planner: Any = None
        self.erp: Any = None
        self.metrics: Any = None
        self.counts: dict[str, int] = {
            "messages": 0,
            "records": 0,
            "dead_letters": 0,
            "acks": 0,
            "commands_sent": 0,
            "retries": 0,
            "store_up": 1,
        }
        #: monotonic time the ingest's commits started failing (connection lost or any
        #: other store fault but a deadlock), else None.
        self.store_down_since: float | None = None
        self._pinged = 0.0

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        self._connect()
        for target, name in ((self._ingest_loop, "ingest"), (self._command_loop, "commands")):
            t = threading.Thread(target=target, name=f"aggregator-{name}", daemon=True)
            t.start()
            self._threads.append(t)
        if self.cfg.erp is not None:
            t = threading.Thread(target=self._erp_loop, name="aggregator-erp", daemon=True)
            t.start()
            self._threads.append(t)
        if self.cfg.retention is not None:
            t = threading.Thread(target=self._retention_loop, name="aggregator-retention", daemon=True)
            t.start()
            self._threads.append(t)
        if self.cfg.metrics is not None:
            from sync.aggregator.ops import MetricsServer

            self.metrics = MetricsServer(
                self.cfg, lambda: {**self.counts, "store_reconnects": self.store.db.reconnects}
            )
            self.metrics.start()
        if self.cfg.scheduling is not None and self.cfg.scheduling.replan.watch:
            # Its own thread and store connection: a replan never holds up the ingest.
            from sync.aggregator.scheduling.service import Planner

            self.planner = Planner(self.cfg)
            self.planner.start()
        sdnotify.notify("READY=1", "STATUS=connecting to the broker")
        log.info(
            "aggregator started: %d lines, store %s, broker %s",
            len(self.lines),
            self.store.db.name,
            m.describe(self.cfg.mqtt),
        )

    def stop(self) -> None:
        sdnotify.notify("STOPPING=1")
        self._leave_share()
        self._stop.set()
        self._in.put(None)
        if self.planner is not None:
            self.planner.stop()
        if self.metrics is not None:
            self.metrics.stop()
        for t in self._threads:
            t.join(10)
        if self._client is not None:
            self._client.disconnect()
            self._client.loop_stop()
        log.info(
            "aggregator stopped: %d messages, %d records, %d dead letters",
            self.counts["messages"],
            self.counts["records"],
            self.counts["dead_letters"],
        )

    def run(self, duration: float | None = None) -> None:
        self.start()
        try:
            self._stop.wait(duration)
        finally:
            self.stop()

    def request_stop(self) -> None:
        self._stop.set()

    # ------------------------------------------------------------------ MQTT

    def _connect(self) -> None:
        self._answered = False  # a CONNACK came on the current client
        c = m.make_client(
            self.cfg.mqtt,
            self.client_id,
            version=self._version,
            manual_ack=True,
            on_fail=lambda reason: self.faults.fault(
                "connect", reason, what=f"aggregator cannot connect to {m.describe(self.cfg.mqtt)}"
            ),
        )
        c.on_connect = self._on_connect
        c.on_disconnect = self._on_disconnect
        c.on_message = self._on_message
        self._client = c
        m.connect(c, self.cfg.mqtt)

    def _on_connect(self, client: Any, userdata: Any, flags: Any, rc: Any, props: Any = None) -> None:
        self._answered = True
        code = m.reason_value(rc)
        if code != 0:
            if self._version == m.V5 and self.cfg.mqtt.protocol == "auto" and code in m.UNSUPPORTED_VERSION:
                log.warning("broker does not speak MQTT 5; falling back to 3.1.1")
                self._version = m.V311
                threading.Thread(target=self._reconnect_v311, daemon=True).start()
            else:
                self.faults.fault(
                    "connect",
                    f"the broker refused the connection: reason {code}{m.connack_hint(code)}",
                    what=f"aggregator cannot connect to {m.describe(self.cfg.mqtt)}",
                )
            return
        self.faults.recovered("connect", "aggregator connection")
        # Shared subscriptions are MQTT 5 (some 3.1.1 brokers, like amqtt, ignore them).
        shared = self._version == m.V5
        if not shared:
            self._log_once("unshared", "MQTT 3.1.1: plain subscription (run a single aggregator instance)")
        client.subscribe([(t, 1) for t in aggregator_subscriptions(shared)])
        self.connected.set()
        log.info("aggregator connected to %s", m.describe(self.cfg.mqtt))

    def _leave_share(self, timeout: float = 3.0) -> None:
        """On a clean stop, unsubscribe from the shared subscription (waiting briefly for
        the broker's UNSUBACK) before disconnecting: the broker then deals every message to
        the instances still running instead of queueing a share in this instance's
        persistent session until it returns. Messages it already sent here stay in the
        session unacknowledged and come back when this client id reconnects."""
        client = self._client
        if client is None or self._version != m.V5 or not self.connected.is_set():
            return
        done = threading.Event()
        client.on_unsubscribe = lambda *_a: done.set()
        try:
            rc, _mid = client.unsubscribe(aggregator_subscriptions(shared=True)[0])
        except Exception as e:  # the connection is going anyway
            log.debug("unsubscribe on stop: %s", e)
            return
        if rc != 0 or not done.wait(timeout):
            log.warning(
                "broker did not confirm the unsubscribe on stop; it may queue messages for this instance"
            )

    def _reconnect_v311(self) -> None:
        old = self._client
        old.disconnect()
        old.loop_stop()
        self._connect()

    def _on_disconnect(self, client: Any, userdata: Any, flags: Any, rc: Any, props: Any = None) -> None:
        if (
            client is self._client
            and not self._stop.is_set()
            and m.no_answer_to_v5(self._version, self.cfg.mqtt, self._answered)
        ):
            log.warning("broker closed an MQTT 5 connection without answering; falling back to 3.1.1")
            self._version = m.V311
            threading.Thread(target=self._reconnect_v311, daemon=True).start()
            return
        if self.connected.is_set() and not self._stop.is_set():
            log.warning("aggregator lost the broker (reason %s); reconnecting", m.reason_value(rc))
        self.connected.clear()

    def _on_message(self, client: Any, userdata: Any, msg: Any) -> None:
        self._in.put((client, msg.mid, msg.qos, msg.topic, msg.payload))

    # ------------------------------------------------------------------ ingest

    def _ping(self) -> None:
        """The systemd watchdog ping and status line, from the ingest thread only (its loop
        or its store retry loop): an ingest stuck in a call stops the pings."""
        wd = sdnotify.watchdog_interval()
        if not wd or time.monotonic() - self._pinged < wd:
            return
        self._pinged = time.monotonic()
        down = self.store_down_since
        store = "" if down is None else f"plant store down for {time.monotonic() - down:.0f} s, retrying; "
        sdnotify.notify(
            "WATCHDOG=1",
            f"STATUS={store}{'connected' if self.connected.is_set() else 'broker unreachable'}, "
            f"{self.counts['records']} records, {self.counts['dead_letters']} dead letters",
        )

    def _ingest_loop(self) -> None:
        interval = self.cfg.ack_interval_ms / 1000
        while not self._stop.is_set():
            self._ping()
            group: list[Any] = []
            try:
                item = self._in.get(timeout=interval)
                if item is not None:
                    group.append(item)
                while len(group) < GROUP_MAX:
                    item = self._in.get_nowait()
                    if item is not None:
                        group.append(item)
            except queue.Empty:
                pass
            if group:
                self._process(group)
            self._flush_acks()

    def _process(self, group: list[Any]) -> None:
        """Commit ``group`` in one transaction, then PUBACK its messages (in the order they
        arrived, as MQTT wants). A failed commit is retried with the same messages until
        it commits or the aggregator stops: they are never dropped unacknowledged (the
        broker redelivers only on a new connection) nor acknowledged uncommitted. A
        deadlock or serialization failure (another instance on the same PostgreSQL store)
        is retried at once; a lost connection after a new one is opened (:meth:`_reconnect`);
        any other store failure after a pause, logged once."""
        # Committed in topic order (stable: each topic's messages keep theirs), so every
        # instance locks the streams' progress rows in the same order and two instances
        # committing groups of the same streams wait for each other instead of deadlocking.
        ordered = sorted(group, key=lambda item: item[3])
        dirty, records, dead = dict(self._dirty), self.counts["records"], self.counts["dead_letters"]
        while True:
            now = time.time()
            try:
                with self.store.tx():
                    for _client, _mid, _qos, topic, payload in ordered:
                        self._one(topic, payload, now)
                break
            except Exception as e:  # rolled back: nothing of the group is in the store
                self._dirty = dict(dirty)
                self.counts["records"], self.counts["dead_letters"] = records, dead
                self.store.new_incarnations.clear()
                if transient(e):
                    self.counts["retries"] += 1
                    log.debug("plant store: %s; committing the group again", e)
                    time.sleep(random.uniform(0.0, 0.05))
                    continue
                if self.store.db.lost(e):
                    if not self._reconnect(e):
                        return  # stopping, unacknowledged: the broker redelivers them
                    continue
                self._store_down()
                self.faults.fault(
                    "store",
                    f"{redact(str(e), self.store.db.target)}; retrying the messages",
                    what="cannot commit to the plant store",
                )
                self._ping()  # retrying is alive: only a hang stops the pings
                if self._stop.wait(1.0):
                    return  # unacknowledged: the broker redelivers them to this session
        self.faults.recovered("store", "plant store commits")
        self.store_down_since = None
        self.counts["store_up"] = 1
        self._report_incarnations()
        self.counts["messages"] += len(group)
        for client, mid, qos, _topic, _payload in group:
            if qos > 0:
                try:
                    client.ack(mid, qos)
                except Exception as e:  # connection gone: the broker redelivers, we dedupe
                    self._log_once("puback", f"cannot acknowledge to the broker: {e}")

    def _reconnect(self, e: BaseException) -> bool:
        """The plant store's connection was lost (``e``): open a new one, pausing
        ``RECONNECT_MIN_S`` doubling to ``RECONNECT_MAX_S`` between attempts and pinging
        the watchdog meanwhile. True once connected; False if the aggregator stops first.
        The fault is logged once (again only if its reason changes), the recovery once
        after the group commits; no URL or password is logged."""
        db = self.store.db
        self._store_down()
        self.faults.fault(
            "store",
            f"connection lost ({_reason(e, db.target)}); reconnecting, the messages wait",
            what="plant store",
        )
        pause = RECONNECT_MIN_S
        while True:
            self._ping()
            if self._stop.wait(pause * random.uniform(0.8, 1.2)):
                return False
            try:
                db.reconnect()
            except Exception as e2:
                self.faults.fault(
                    "store",
                    f"cannot reconnect ({_reason(e2, db.target)}); retrying, the messages wait",
                    what="plant store",
                )
                pause = min(pause * 2, RECONNECT_MAX_S)
                continue
            return True

    def _store_down(self) -> None:
        if self.store_down_since is None:
            self.store_down_since = time.monotonic()
        self.counts["store_up"] = 0

    def _one(self, topic: str, payload: bytes, now: float) -> None:
        try:
            topics, rest = parse_topic(topic)
        except ValueError as e:
            self._dead(topic, "topic", str(e), payload, now)
            return
        line = topics.key
        if line not in self.lines:
            self._dead(
                topic, "unknown_line", f"line {line} is not configured at this aggregator", payload, now
            )
            return
        registered = len(self.store.new_incarnations)
        try:
            with self.store.savepoint():
                if "/" not in rest and rest != "cmd-ack":
                    self._batch(topic, topics, rest, payload, now)
                elif rest.startswith("state/"):
                    self._state(line, rest.removeprefix("state/"), payload, now)
                elif rest == "cmd-ack":
                    ack = decode(CommandAck, payload)
                    if not self.store.command_result(line, ack.id, ack.accepted, ack.reason, now):
                        log.debug("command ack for %s (unknown or already answered)", ack.id)
                    else:
                        log.info(
                            "line %s %s command %s%s",
                            line,
                            "accepted" if ack.accepted else "rejected",
                            ack.id,
                            f": {ack.reason}" if ack.reason else "",
                        )
                else:
                    raise PayloadError("topic", f"nothing is published on {rest!r} towards the aggregator")
        except Exception as e:
            if transient(e) or self.store.db.lost(e):  # not the message: the group runs again
                raise
            # Rolled back with the savepoint: an incarnation it registered is not there.
            del self.store.new_incarnations[registered:]
            if isinstance(e, PayloadError):
                self._dead(topic, e.kind, str(e), payload, now)
            elif isinstance(e, FutureBatch):
                self._dead(topic, "future", str(e), payload, now)
            elif isinstance(e, AuditBroken):
                self._audit_broken(line, payload, str(e), now)
                self._dead(topic, "audit", str(e), payload, now)
            else:  # a record the plant tables refuse (wrong types): keep it aside
                self._dead(topic, "rejected", f"{type(e).__name__}: {e}", payload, now)

    def _batch(self, topic: str, topics: Topics, stream: str, payload: bytes, now: float) -> None:
        if stream not in RECORDS:
            raise PayloadError(
                "unknown_stream", f"no stream {stream!r} in the protocol (sync.protocol.records)"
            )
        b, texts = decode_batch(payload)
        if b.stream != stream or line_key(b.line) != topics.key:
            raise PayloadError(
                "schema", f"Batch: line/stream ({line_key(b.line)}, {b.stream}) do not match the topic"
            )
        ack = self.store.ingest_in_tx(b, now=now, max_ahead=self.cfg.max_seq_ahead, texts=texts)
        self.counts["records"] += len(b.records)
        key = (line_key(b.line), stream, b.incarnation)
        self._dirty[key] = max(ack, self._dirty.get(key, 0))

    def _audit_broken(self, line: str, payload: bytes, problem: str, now: float) -> None:
        try:
            inc = decode_batch(payload)[0].incarnation
        except PayloadError:
            inc = ""
        self.store.audit_problem(line, inc, problem, now)
        self.faults.fault(f"audit:{line}", problem, what=f"line {line}'s audit chain")

    def _report_incarnations(self) -> None:
        """After a commit: say which store incarnations appeared (a recreated line store
        is reported, and its records are kept apart from the old store's)."""
        for line, inc, epoch, how in self.store.new_incarnations:
            if how == "new":
                log.warning(
                    "line %s: its store was recreated (new incarnation %s, #%d): its records are kept "
                    "apart from the previous store's; what that store had not delivered is missing "
                    "unless it is restored at the line",
                    line,
                    inc,
                    epoch + 1,
                )
            else:
                log.info("line %s: store incarnation %s (%s)", line, inc or "(none)", how)
        self.store.remember_epochs()

    def _state(self, line: str, name: str, payload: bytes, now: float) -> None:
        if not payload:
            return  # a retained message being cleared
        model = STATE_MODELS.get(name)
        if model is None:
            try:
                data = json.loads(payload)
            except (ValueError, UnicodeDecodeError):
                raise PayloadError("not_json", f"state/{name}: not JSON") from None
            if not isinstance(data, dict):
                raise PayloadError("schema", f"state/{name}: expected a JSON object")
            self.store.set_state(line, name, data, now)
            return
        obj = decode(model, payload)
        if isinstance(obj, LineStatus):
            if line_key(obj.line) != line:
                raise PayloadError("schema", "LineStatus: line does not match the topic")
            self.store.set_status(line, obj, now)
            if obj.online and obj.audit_seq is not None:
                self.store.audit_reported(line, obj.incarnation, obj.audit_seq, obj.audit_mac or "", now)
            was = self._online.get(line)
            self._online[line] = obj.online
            if obj.online and was is not True:
                self.store.resend_now(line)  # pending commands go out now
            if obj.online != was:
                log.info("line %s is %s", line, "online" if obj.online else "offline")
        else:
            self.store.set_state(line, name, obj.model_dump(mode="json"), now)

    def _dead(self, topic: str, kind: str, error: str, payload: bytes, now: float) -> None:
        self.store.dead_letter(topic, kind, error, payload, now=now)
        self.counts["dead_letters"] += 1
        self._log_once(
            f"dead-{kind}",
            f"dead letter ({kind}) on {topic}: {error} (further ones of this kind are counted, not logged)",
        )

    def _flush_acks(self) -> None:
        if not self._dirty or self._client is None:
            return
        now = time.monotonic()
        interval = self.cfg.ack_interval_ms / 1000
        for key, acked in list(self._dirty.items()):
            if now - self._ack_sent.get(key, 0.0) < interval:
                continue
            line, stream, inc = key
            ln = self.lines[line]
            self._client.publish(
                Topics.of(ln).ack(stream),
                encode(Ack(line=LineRef.of(ln), stream=stream, acked_seq=acked, incarnation=inc)),
                qos=1,
                retain=True,
            )
            self._ack_sent[key] = now
            self.counts["acks"] += 1
            del self._dirty[key]

    # ------------------------------------------------------------------ ERP confirmations

    def _erp_loop(self) -> None:
        """Its own store connection: an ERP that is slow to answer never holds up the ingest."""
        from sync.aggregator.erp import ErpExporter

        assert self.cfg.erp is not None
        store: AggregatorStore | None = None
        while True:
            try:
                if store is None:
                    store = open_store(self.cfg)
                    self.erp = ErpExporter(self.cfg, store)
                self.erp.step()
            except Exception as e:
                self.faults.fault("erp", str(e), what="cannot export ERP confirmations")
                if store is not None:
                    store.close()
                store = None
            else:
                self.faults.recovered("erp", "exporting ERP confirmations")
            if self._stop.wait(self.cfg.erp.interval_s):
                break
        if store is not None:
            store.close()

    def _retention_loop(self) -> None:
        """Prunes by age (``sync.aggregator.ops``) on its own store connection."""
        from sync.aggregator.ops import prune

        assert self.cfg.retention is not None
        while not self._stop.is_set():
            try:
                store = open_store(self.cfg)
                try:
                    deleted = prune(store, self.cfg.retention, time.time())
                finally:
                    store.close()
            except Exception as e:
                self.faults.fault("retention", str(e), what="cannot prune the plant store")
            else:
                self.faults.recovered("retention", "pruning the plant store")
                if any(deleted.values()):
                    log.info("retention: %s", ", ".join(f"{k} {n}" for k, n in deleted.items() if n))
            if self._stop.wait(self.cfg.retention.interval_s):
                break

    # ------------------------------------------------------------------ commands down

    def _command_loop(self) -> None:
        while not self._stop.wait(1.0):
            if not self.connected.is_set():
                continue
            try:
                self.send_commands()  # on the ingest's connection: opened again if lost
            except Exception as e:
                self.faults.fault("commands", _reason(e, self.store.db.target), what="cannot send commands")
            else:
                self.faults.recovered("commands", "sending commands")

    def send_commands(self) -> int:
        now = time.time()
        due = self.store.commands_to_send(now, self.cfg.command_resend_s)
        sent = []
        for cmd_id, line, kind, body, issued in due:
            ln = self.lines.get(line)
            if ln is None:
                continue
            t = Topics.of(ln)
            cmd = Command(id=cmd_id, kind=kind, issued_at=issued, body=body)  # type: ignore[arg-type]
            self._client.publish(t.cmd(kind), encode(cmd), qos=1)
            sent.append(cmd_id)
        if sent:
            self.store.mark_sent(sent, now)
            self.counts["commands_sent"] += len(sent)
        return len(sent)

    def _log_once(self, key: str, msg: str) -> None:
        if key not in self._logged:
            self._logged.add(key)
            log.warning(msg)


def _reason(e: BaseException, target: str) -> str:
    """A store error for the log: its first line (libpq adds hints on more), without the
    store URL's password."""
    text = str(e).strip()
    return redact(text.splitlines()[0] if text else type(e).__name__, target)


__all__ = ["Aggregator", "open_store"]
