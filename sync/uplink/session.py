"""Edge side of the MQTT link: the line's streams → batches → broker, end-to-end acks and
commands back. Runs in its own thread inside the agent, with its own store connection.

Nothing is copied into an outbox. Each stream is read from its position; a batch is
published at QoS 1; ``sent_seq`` moves when the broker acknowledges (PUBACK) and
``acked_seq`` when the aggregator acknowledges having committed everything up to a
sequence. Retention removes only acknowledged rows. Whatever the uplink loses sight of
(a broker restarted without persistence, a connection that died silently, a batch the
aggregator never saw) is resent from the last end-to-end ack: on a reconnect without
session and when acks stop progressing. The aggregator ignores what it already has, so
the effect is exactly once.

Streams are served round-robin, one batch each per round, so fresh events and state
changes go out between the batches of a samples backlog; retained state (status,
current order, shift KPIs, alarms) is published outside the batch window.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from edge.config.line import LineConfig
from edge.config.uplink import UplinkConfig
from edge.store import STREAMS, Store
from edge.store.db import LOCAL_COLUMNS
from sync import mqtt as m
from sync.protocol import (
    Ack,
    Command,
    CommandAck,
    CurrentOrder,
    LineRef,
    LineStatus,
    PayloadError,
    ShiftKpi,
    Topics,
    decode,
    encode,
    encode_batch,
)

log = logging.getLogger("lineside.uplink")

QUALITY_NAMES = {0: "good", 1: "uncertain", 2: "bad"}
_COMPACT = json.JSONEncoder(separators=(",", ":")).encode
FETCH = 2000  # rows read per query into a stream's buffer


@dataclass
class StreamState:
    name: str
    acked: int = 0
    """Highest sequence the aggregator has committed contiguously."""
    confirmed: int = 0
    """Highest sequence the broker has acknowledged contiguously (PUBACK)."""
    pos: int = 0
    """Last sequence handed to the client."""
    inflight: deque[list[int]] = field(default_factory=deque)
    """[mid, last_seq, done] per published batch, in order."""
    buf: deque[tuple[int, str]] = field(default_factory=deque)
    """Encoded records after ``pos``, read ahead."""
    buf_end: int = 0
    """Sequence the buffer reaches (``pos`` when empty)."""
    ack_wait_since: float | None = None
    timeout_factor: float = 1.0
    saved: tuple[int, int] = (0, 0)


class Uplink:
    def __init__(self, cfg: LineConfig, *, agent_name: str = "") -> None:
        assert cfg.uplink is not None
        self.cfg = cfg
        self.ucfg: UplinkConfig = cfg.uplink
        self.topics = Topics.of(cfg.line)
        self.ref = LineRef.of(cfg.line)
        self.client_id = (
            self.ucfg.mqtt.client_id or f"lineside-edge-{'-'.join(self.topics.base.split('/')[2:])}"
        )
        self.agent_name = agent_name or self.client_id
        self.streams = {s: StreamState(s) for s in STREAMS}
        self._events: queue.SimpleQueue[tuple[str, Any]] = queue.SimpleQueue()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._client: Any = None
        self._version = m.V311 if self.ucfg.mqtt.protocol == "3.1.1" else m.V5
        self._v5_refusals = 0
        self.connected = False
        self._answered = False  # a CONNACK came on the current client
        self._outstanding: dict[int, StreamState] = {}
        self._tags: dict[int, tuple[str, str]] = {}
        """tag id → (name as JSON, type), for encoding samples."""
        self._drain_until = 0.0
        self._logged: set[str] = set()
        self.stats: dict[str, Any] = {
            "batches": 0,
            "records": 0,
            "bytes": 0,
            "resends": 0,
            "connects": 0,
            "last_ack": None,
            "commands": 0,
        }
        self._store: Store | None = None
        self._last_kpi_shift: str | None = None

    # ------------------------------------------------------------------ lifecycle

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
            self._store = Store(self.cfg.store.path)
        except Exception as e:
            log.error("uplink cannot open the store: %s", e)
            return
        st = self._store
        for s in self.streams.values():
            cur = st.cursor(s.name)
            s.acked = cur["acked_seq"]
            s.confirmed = s.pos = s.buf_end = max(cur["sent_seq"], cur["acked_seq"])
            s.saved = (cur["sent_seq"], cur["acked_seq"])
        self._new_client()
        tick = self.ucfg.batch_max_ms / 1000
        next_save = next_status = 0.0
        try:
            while True:
                self._wake.wait(tick)
                self._wake.clear()
                self._handle_events()
                now = time.monotonic()
                if self.connected:
                    self._pump()
                    if now >= next_status:
                        next_status = now + self.ucfg.status_interval_s
                        self._publish_state()
                    self._check_ack_timeouts(now)
                if now >= next_save:
                    next_save = now + 0.25
                    self._save_cursors()
                if self._stop.is_set() and (
                    now >= self._drain_until or not self.connected or self._drained()
                ):
                    break
        except Exception:
            log.exception("uplink stopped by an unexpected error")
        finally:
            self._shutdown()

    def _drained(self) -> bool:
        return all(s.pos == s.confirmed and s.pos >= st_last for s, st_last in self._lasts())

    def _lasts(self) -> list[tuple[StreamState, int]]:
        assert self._store is not None
        return [(s, self._store.last_seq(s.name)) for s in self.streams.values()]

    def _shutdown(self) -> None:
        self._handle_events()
        self._save_cursors()
        c = self._client
        if c is not None:
            if self.connected:
                info = c.publish(self.topics.state("status"), self._status(online=False), qos=1, retain=True)
                try:
                    info.wait_for_publish(2)
                except (RuntimeError, ValueError):
                    pass
            c.disconnect()
            c.loop_stop()
        if self._store is not None:
            self._write_agent_status()
            self._store.close()

    def _new_client(self) -> None:
        if self._client is not None:
            self._client.disconnect()
            self._client.loop_stop()
        self._answered = False
        c = m.make_client(
            self.ucfg.mqtt,
            self.client_id,
            version=self._version,
            will=(self.topics.state("status"), self._status(online=False)),
        )
        c.on_connect = self._on_connect
        c.on_disconnect = self._on_disconnect
        c.on_publish = self._on_publish
        c.on_message = self._on_message
        c.max_inflight_messages_set(max(self.ucfg.inflight + 10, 20))
        self._client = c
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
                    self._puback(mid)
            elif kind == "message":
                self._message(*data)
            elif kind == "connect":
                self._connected(*data)
            elif kind == "disconnect":
                client, rc = data
                if client is self._client and self.connected:
                    self.connected = False
                    self._outstanding.clear()
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
                self._log_once(f"connack-{rc}", f"broker refused the connection: reason {rc}")
            return
        self.connected = True
        self._answered = True
        self.stats["connects"] += 1
        self._logged.discard("connack")
        log.info("uplink connected (%s session)", "resumed" if session_present else "new")
        # What the broker acknowledged survives with a resumed session; without one,
        # anything not acknowledged end to end may be gone: resend from the last ack.
        for s in self.streams.values():
            self._rewind(s, s.confirmed if session_present else s.acked)
        self._outstanding.clear()
        client.subscribe([(self.topics.ack("+"), 1), (self.topics.cmd("+"), 1)])
        self._publish_state()

    def _rewind(self, s: StreamState, to: int) -> None:
        to = max(to, s.acked)
        if s.pos != to:
            if s.pos > to:
                self.stats["resends"] += 1
            s.pos = s.buf_end = to
            s.buf.clear()
        s.confirmed = max(min(s.confirmed, s.pos), s.acked)
        s.inflight.clear()
        s.ack_wait_since = time.monotonic() if s.pos > s.acked else None

    def _puback(self, mid: int) -> None:
        s = self._outstanding.pop(mid, None)
        if s is None:
            return
        for entry in s.inflight:
            if entry[0] == mid:
                entry[2] = 1
                break
        while s.inflight and s.inflight[0][2]:
            s.confirmed = max(s.confirmed, s.inflight.popleft()[1])

    def _message(self, topic: str, payload: bytes) -> None:
        if topic.startswith(self.topics.base + "/ack/"):
            try:
                ack = decode(Ack, payload)
            except PayloadError as e:
                self._log_once("bad-ack", f"ignoring a malformed ack on {topic}: {e}")
                return
            s = self.streams.get(ack.stream)
            if s is None or ack.line != self.ref:
                self._log_once("foreign-ack", f"ignoring an ack for another line or stream on {topic}")
                return
            assert self._store is not None
            last = self._store.last_seq(s.name)
            if ack.acked_seq > last:
                self._log_once(
                    f"ack-ahead-{s.name}",
                    f"the aggregator acknowledges {s.name} up to {ack.acked_seq} but this store ends at {last}: "
                    "was the line's store replaced? Not pruning beyond what exists here.",
                )
            acked = min(ack.acked_seq, last)
            if acked > s.acked:
                s.acked = acked
                s.timeout_factor = 1.0
                s.ack_wait_since = time.monotonic() if s.pos > s.acked else None
                self.stats["last_ack"] = time.time()
                if s.pos < s.acked:
                    self._rewind(s, s.acked)
        elif topic.startswith(self.topics.base + "/cmd/"):
            self._command(topic, payload)

    def _command(self, topic: str, payload: bytes) -> None:
        from edge.services.commands import PlantCommand, apply_command

        assert self._store is not None
        try:
            cmd = decode(Command, payload)
        except PayloadError as e:
            cmd_id = _id_of(payload)
            log.warning("rejected a malformed command on %s: %s", topic, e)
            if cmd_id:
                ack = CommandAck(id=cmd_id, accepted=False, reason=str(e), ts=time.time())
                self._client.publish(self.topics.cmd_ack, encode(ack), qos=1)
            return
        try:
            res = apply_command(
                self.cfg, self._store, PlantCommand(cmd.id, cmd.kind, cmd.issued_at, cmd.body)
            )
            ack = CommandAck(id=res.id, accepted=res.accepted, reason=res.reason, ts=res.ts)
        except Exception as e:  # the store refused (disk): no ack, the plant resends
            log.error("cannot store command %s: %s", cmd.id, e)
            return
        self.stats["commands"] += 1
        log.info(
            "command %s (%s) %s%s",
            cmd.id,
            cmd.kind,
            "accepted" if ack.accepted else "rejected",
            f": {ack.reason}" if ack.reason else "",
        )
        self._client.publish(self.topics.cmd_ack, encode(ack), qos=1)

    # ------------------------------------------------------------------ sending

    def _pump(self) -> None:
        window = self.ucfg.inflight
        active = list(self.streams.values())
        while active and len(self._outstanding) < window:
            still = []
            for s in active:
                if len(self._outstanding) >= window:
                    still.append(s)
                    continue
                if s.pos - s.acked >= self.ucfg.unacked_records:
                    continue
                if self._send_one(s):
                    still.append(s)
            active = still

    def _fill(self, s: StreamState) -> None:
        assert self._store is not None
        cols, rows = self._store.stream_rows(s.name, s.buf_end, FETCH)
        if not rows:
            return
        if s.name == "samples":
            enc = self._encode_samples(rows)
        else:
            keep = [i for i, c in enumerate(cols) if c not in LOCAL_COLUMNS.get(s.name, ())]
            names = [cols[i] for i in keep]
            dumps = _COMPACT
            enc = [(r[0], dumps(dict(zip(names, (r[i] for i in keep), strict=True)))) for r in rows]
        s.buf.extend(enc)
        s.buf_end = rows[-1][0]

    def _encode_samples(self, rows: list[tuple[Any, ...]]) -> list[tuple[int, str]]:
        assert self._store is not None
        tags = self._tags
        out = []
        for seq, tag_id, ts, ts_recv, value, quality in rows:
            tag = tags.get(tag_id)
            if tag is None:  # a tag registered since the last look
                tags.update((i, (json.dumps(n), t)) for i, n, t in self._store.tags())
                tag = tags.setdefault(tag_id, (json.dumps(f"#{tag_id}"), ""))
            tj, type_ = tag
            out.append(
                (
                    seq,
                    f'{{"seq":{seq},"tag":{tj},"ts":{ts!r},"ts_recv":{ts_recv!r},"value":{_value_json(value, type_)},'
                    f'"quality":"{QUALITY_NAMES.get(quality, quality)}"}}',
                )
            )
        return out

    def _send_one(self, s: StreamState) -> bool:
        if not s.buf:
            self._fill(s)
            if not s.buf:
                return False
        budget = self.ucfg.batch_max_bytes - 400
        recs: list[str] = []
        size = 0
        buf = s.buf
        while buf and (not recs or size + len(buf[0][1]) + 1 <= budget):
            seq, r = buf.popleft()
            recs.append(r)
            size += len(r) + 1
            last = seq
            if not buf and size < budget // 2:
                self._fill(s)
        first_seq = _seq_of(recs[0])
        payload = encode_batch(self.ref, s.name, s.pos, recs, (first_seq, last), time.time())
        info = self._client.publish(self.topics.stream(s.name), payload, qos=1)
        if s.pos == s.acked:
            s.ack_wait_since = time.monotonic()
        s.inflight.append([info.mid, last, 0])
        self._outstanding[info.mid] = s
        s.pos = last
        self.stats["batches"] += 1
        self.stats["records"] += len(recs)
        self.stats["bytes"] += len(payload)
        return True

    def _check_ack_timeouts(self, now: float) -> None:
        for s in self.streams.values():
            if s.ack_wait_since is None or s.pos <= s.acked:
                continue
            limit = self.ucfg.ack_timeout_s * s.timeout_factor
            if now - s.ack_wait_since > limit:
                log.warning(
                    "no end-to-end ack for %s beyond %d for %.0f s; resending from there",
                    s.name,
                    s.acked,
                    now - s.ack_wait_since,
                )
                s.timeout_factor = min(s.timeout_factor * 2, 16)
                self._rewind(s, s.acked)
                s.ack_wait_since = now

    def _save_cursors(self) -> None:
        if self._store is None:
            return
        changed = {
            s.name: (s.confirmed, s.acked) for s in self.streams.values() if (s.confirmed, s.acked) != s.saved
        }
        if not changed:
            return
        try:
            self._store.advance_cursors(changed)
        except Exception as e:
            self._log_once("cursor", f"cannot save uplink cursors: {e}")
            return
        for name, v in changed.items():
            self.streams[name].saved = v

    # ------------------------------------------------------------------ retained state

    def _status(self, *, online: bool) -> bytes:
        extra: dict[str, Any] = {}
        if online and self._store is not None:
            extra = self._status_details()
        return encode(
            LineStatus(line=self.ref, online=online, ts=time.time(), agent=self.agent_name, **extra)
        )

    def _status_details(self) -> dict[str, Any]:
        from edge.config.production import line_machine
        from edge.services.production import current_order, machine_state
        from edge.services.status import last_data as last_data_of

        assert self._store is not None
        lm = line_machine(self.cfg)
        state = machine_state(self._store, lm) if lm is not None else None
        order = current_order(self._store)[0]
        last_data = last_data_of(self._store)
        backlog = sum(max(0, last - s.acked) for s, last in self._lasts())
        devices = {d: v["state"] for d, v in self._store.device_status().items()}
        return {
            "state": state,
            "order": order,
            "last_data": last_data,
            "backlog": backlog,
            "devices": devices,
        }

    def _publish_state(self) -> None:
        if not self.connected or self._store is None:
            return
        c = self._client
        try:
            c.publish(self.topics.state("status"), self._status(online=True), qos=1, retain=True)
            c.publish(self.topics.state("current_order"), self._current_order(), qos=1, retain=True)
            for kpi in self._shift_kpis():
                c.publish(self.topics.state("shift_kpi"), kpi, qos=1, retain=True)
            alarms = self._alarms()
            if alarms is not None:
                c.publish(self.topics.state("alarms"), alarms, qos=1, retain=True)
        except Exception as e:  # a report that cannot be computed must not stop the data
            self._log_once("state", f"cannot publish line state: {e}")
        self._write_agent_status()

    def _current_order(self) -> bytes:
        from edge.services.commands import dispatch_list
        from edge.services.production import current_order

        assert self._store is not None
        order, product, since = current_order(self._store)
        return encode(
            CurrentOrder(
                order=order, product=product, since=since, ts=time.time(), dispatch=dispatch_list(self._store)
            )
        )

    def _shift_kpis(self) -> list[bytes]:
        """The current shift's KPIs; after a shift change, the finished shift once more
        with its final figures."""
        from edge.config.production import build_calendar
        from edge.services.commands import effective_config
        from edge.services.production import kpi_report

        if not self.cfg.machines:
            return []
        assert self._store is not None
        cfg = effective_config(self.cfg, self._store)
        now = time.time()
        out = []
        if cfg.shifts.patterns:
            cal = build_calendar(cfg.shifts, cfg.line.timezone)
            cur = cal.shift_at(now)
            keys = []
            if self._last_kpi_shift and (cur is None or cur.key != self._last_kpi_shift):
                keys.append(self._last_kpi_shift)
            if cur is not None:
                keys.append(cur.key)
            self._last_kpi_shift = cur.key if cur is not None else None
            for key in keys:
                rep = kpi_report(cfg, self._store, shift=key, now=now)
                out.append(_kpi_payload(key, rep, now))
        else:
            rep = kpi_report(cfg, self._store, since=now - 86400, now=now)
            out.append(_kpi_payload(None, rep, now))
        return out

    def _alarms(self) -> bytes | None:
        from edge.services.production import spc_alarms

        if not self.cfg.characteristics:
            return None
        assert self._store is not None
        active = spc_alarms(self.cfg, self._store)
        return json.dumps({"v": 1, "ts": time.time(), "active": active[:50], "count": len(active)}).encode()

    def _write_agent_status(self) -> None:
        if self._store is None:
            return
        backlog = {s.name: max(0, last - s.acked) for s, last in self._lasts()}
        try:
            self._store.set_agent_status(
                {
                    "uplink": {
                        "broker": m.describe(self.ucfg.mqtt),
                        "connected": self.connected,
                        "protocol": "5" if self._version == m.V5 else "3.1.1",
                        "last_ack": self.stats["last_ack"],
                        "backlog": {k: v for k, v in backlog.items() if v},
                        "batches": self.stats["batches"],
                        "records": self.stats["records"],
                        "resends": self.stats["resends"],
                    }
                }
            )
        except Exception as e:
            self._log_once("agent-status", f"cannot record uplink status: {e}")

    def _log_once(self, key: str, msg: str) -> None:
        if key not in self._logged:
            self._logged.add(key)
            log.warning(msg)


def _value_json(v: Any, type_: str) -> str:
    """A stored value as JSON: arrays as stored, NaN and infinities as the strings
    "nan"/"inf" (JSON has no such numbers), booleans as booleans."""
    if v is None:
        return "null"
    if type_ == "bool" and isinstance(v, int):
        return "true" if v else "false"
    if isinstance(v, str) and type_ != "string" and v.startswith("["):
        return v
    return json.dumps(v)


def _seq_of(record: str) -> int:
    # Records are encoded with "seq" first: {"seq":123,...}
    return int(record[7 : record.index(",", 7)])


def _id_of(payload: bytes) -> str | None:
    try:
        d = json.loads(payload)
    except (ValueError, UnicodeDecodeError):
        return None
    v = d.get("id") if isinstance(d, dict) else None
    return v if isinstance(v, str) and 0 < len(v) <= 100 else None


def _kpi_payload(shift: str | None, rep: dict[str, Any], now: float) -> bytes:
    pareto: dict[tuple[str, str], dict[str, Any]] = {}
    for d in rep.get("downtime", []):
        key = (d["reason"] or "unexplained", d["loss"])
        p = pareto.setdefault(key, {"reason": key[0], "loss": key[1], "count": 0, "duration_s": 0.0})
        p["count"] += 1
        p["duration_s"] += d["duration_s"] or 0.0
    rows = sorted(pareto.values(), key=lambda p: -p["duration_s"])
    return encode(
        ShiftKpi(shift=shift, start=rep["start"], end=rep["end"], ts=now, kpi=rep["total"], pareto=rows)
    )
