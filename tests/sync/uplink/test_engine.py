"""The uplink's cursor engine without a broker: a fake client and broker carry its
batches (NullModem-style) to a receiver that dedupes on sequence as the aggregator
does. Under any interleaving of publish, PUBACK, end-to-end ack, disconnect, broker
restart, agent restart and ack timeouts, the receiver ends with every record once,
nothing is acknowledged that the receiver lacks, and no cursor moves backwards."""

from __future__ import annotations

import bisect
import json
from collections import deque

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from sync.protocol import LineRef, decode_batch
from sync.uplink.engine import Engine, Limits

REF = LineRef(enterprise="acme", site="s", area="a", line="l1")
STREAMS = ("samples", "events")
LIMITS = Limits(inflight=3, unacked_records=25, batch_max_bytes=400 + 120, ack_timeout_s=5.0, fetch=4)


def text(stream: str, seq: int) -> str:
    return json.dumps({"seq": seq, "x": f"{stream}-{seq}"}, separators=(",", ":"))


class Source:
    """The line's streams; sequences may skip numbers (rows that never committed)."""

    def __init__(self) -> None:
        self.seqs: dict[str, list[int]] = {s: [] for s in STREAMS}

    def produce(self, stream: str, n: int, skip: int) -> None:
        seqs = self.seqs[stream]
        nxt = (seqs[-1] if seqs else 0) + 1 + skip
        seqs.extend(range(nxt, nxt + n))

    def last(self, stream: str) -> int:
        seqs = self.seqs[stream]
        return seqs[-1] if seqs else 0

    def read(self, stream: str, after: int, limit: int) -> list[tuple[int, str]]:
        seqs = self.seqs[stream]
        i = bisect.bisect_right(seqs, after)
        return [(s, text(stream, s)) for s in seqs[i : i + limit]]


class Receiver:
    """The aggregator's ingest rule: unique on seq, contiguous ack through after_seq."""

    def __init__(self) -> None:
        self.records: dict[str, dict[int, str]] = {s: {} for s in STREAMS}
        self.contiguous = dict.fromkeys(STREAMS, 0)
        self.pending: dict[str, list[tuple[int, int]]] = {s: [] for s in STREAMS}

    def ingest(self, payload: bytes) -> tuple[str, int]:
        b, texts = decode_batch(payload)
        s = b.stream
        recs = self.records[s]
        for r, t in zip(b.records, texts, strict=True):
            if r["seq"] in recs:
                assert recs[r["seq"]] == t, "a record arrived twice with different content"
            else:
                recs[r["seq"]] = t
        if b.after_seq <= self.contiguous[s]:
            c = max(self.contiguous[s], b.last_seq)
            while True:
                ready = [p for p in self.pending[s] if p[0] <= c]
                if not ready:
                    break
                self.pending[s] = [p for p in self.pending[s] if p[0] > c]
                c = max(c, *(p[1] for p in ready))
            self.contiguous[s] = c
        else:
            self.pending[s].append((b.after_seq, b.last_seq))
        return s, self.contiguous[s]


class Broker:
    """A fake client and broker: what is published travels until the broker takes it;
    the broker PUBACKs and queues it for the receiver; acks travel back retained."""

    def __init__(self) -> None:
        self.mid = 0
        self.wire: deque[tuple[int, bytes]] = deque()  # client -> broker, not yet received
        self.pubacks: deque[int] = deque()  # broker -> client
        self.queued: deque[bytes] = deque()  # broker -> receiver (its persistent session)
        self.acks: deque[tuple[str, int]] = deque()  # receiver -> client
        self.retained: dict[str, int] = {}

    def publish(self, stream: str, payload: bytes) -> int:
        self.mid += 1
        self.wire.append((self.mid, payload))
        return self.mid

    def link_down(self, broker_restart: bool) -> None:
        self.wire.clear()
        self.pubacks.clear()
        self.acks.clear()
        if broker_restart:  # no persistence: sessions, queues and retained acks are gone
            self.queued.clear()
            self.retained.clear()


class EngineMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.source = Source()
        self.broker = Broker()
        self.receiver = Receiver()
        self.durable = {s: (0, 0) for s in STREAMS}
        self.now = 0.0
        self.session_lost = False
        self.engine = self._new_engine()
        self._connect()
        self.seen_acked = dict.fromkeys(STREAMS, 0)

    def _new_engine(self) -> Engine:
        e = Engine(REF, STREAMS, LIMITS)
        e.load(self.durable)
        return e

    def _connect(self) -> None:
        self.engine.on_connect(not self.session_lost, self.now)
        if not self.session_lost:
            self.broker.acks.extend(self.broker.retained.items())  # retained acks on subscribe
        self.session_lost = False

    # ------------------------------------------------------------------ the line

    @rule(stream=st.sampled_from(STREAMS), n=st.integers(1, 12), skip=st.sampled_from([0, 0, 0, 1, 5]))
    def produce(self, stream: str, n: int, skip: int) -> None:
        self.source.produce(stream, n, skip)

    @rule()
    def pump(self) -> None:
        self.engine.pump(self.source, self.broker, now=self.now, wall=1.7e9 + self.now)

    @rule(dt=st.sampled_from([0.5, 3.0, 6.0, 40.0]))
    def time_passes(self, dt: float) -> None:
        self.now += dt
        if self.engine.connected:
            self.engine.check_timeouts(self.now)

    @rule()
    def save_cursors(self) -> None:
        changes = self.engine.cursor_changes()
        for s, (sent, acked) in changes.items():
            old = self.durable[s]
            assert sent >= old[0] and acked >= old[1], f"{s}: cursor moved back from {old} to {(sent, acked)}"
            self.durable[s] = (sent, acked)
        self.engine.cursors_saved(changes)

    # ------------------------------------------------------------------ the broker and the plant

    @rule(k=st.integers(1, 4))
    def broker_receives(self, k: int) -> None:
        for _ in range(min(k, len(self.broker.wire))):
            mid, payload = self.broker.wire.popleft()
            self.broker.queued.append(payload)
            self.broker.pubacks.append(mid)

    @rule(k=st.integers(1, 4))
    def pubacks_arrive(self, k: int) -> None:
        for _ in range(min(k, len(self.broker.pubacks))):
            self.engine.on_puback(self.broker.pubacks.popleft())

    @rule(k=st.integers(1, 4))
    def receiver_commits(self, k: int) -> None:
        for _ in range(min(k, len(self.broker.queued))):
            stream, acked = self.receiver.ingest(self.broker.queued.popleft())
            self.broker.retained[stream] = acked
            self.broker.acks.append((stream, acked))

    @rule(k=st.integers(1, 4))
    def acks_arrive(self, k: int) -> None:
        for _ in range(min(k, len(self.broker.acks))):
            stream, acked = self.broker.acks.popleft()
            self.engine.on_ack(stream, min(acked, self.source.last(stream)), self.now)

    @precondition(lambda self: self.engine.connected)
    @rule(broker_restart=st.booleans())
    def link_down(self, broker_restart: bool) -> None:
        self.broker.link_down(broker_restart)
        self.session_lost = self.session_lost or broker_restart
        self.engine.on_disconnect()

    @precondition(lambda self: not self.engine.connected)
    @rule()
    def reconnect(self) -> None:
        self._connect()

    @rule(flushed=st.booleans())
    def agent_restart(self, flushed: bool) -> None:
        """The agent is killed: what it had not made durable is forgotten; what it had
        written to the socket may or may not reach the broker."""
        if flushed:
            self.broker_receives(len(self.broker.wire))
        self.broker.wire.clear()
        self.broker.pubacks.clear()  # PUBACKs for the old process's messages
        self.broker.acks.clear()
        self.engine = self._new_engine()
        self.seen_acked = {s: self.durable[s][1] for s in STREAMS}  # a new process starts from disk
        self._connect()

    # ------------------------------------------------------------------ invariants

    @invariant()
    def nothing_acknowledged_is_missing(self) -> None:
        for s in STREAMS:
            c = self.receiver.contiguous[s]
            assert c <= self.source.last(s)
            missing = [q for q in self.source.seqs[s] if q <= c and q not in self.receiver.records[s]]
            assert not missing, f"{s}: acknowledged up to {c} but {missing[:5]} never arrived"

    @invariant()
    def positions_are_ordered_and_acks_only_grow(self) -> None:
        assert self.engine.outstanding <= LIMITS.inflight
        for s, st_ in self.engine.streams.items():
            assert st_.acked <= st_.pos and st_.confirmed <= st_.pos, (s, st_.acked, st_.confirmed, st_.pos)
            assert st_.acked >= self.seen_acked[s], f"{s}: ack moved back"
            self.seen_acked[s] = st_.acked

    def teardown(self) -> None:
        """The network heals and time passes: everything arrives, exactly once."""
        if not self.engine.connected:
            self._connect()
        for _ in range(3000):
            if all(
                self.engine.streams[s].acked == self.source.last(s)
                and self.receiver.contiguous[s] == self.source.last(s)
                for s in STREAMS
            ):
                break
            self.pump()
            self.broker_receives(10**6)
            self.pubacks_arrive(10**6)
            self.receiver_commits(10**6)
            self.acks_arrive(10**6)
            self.save_cursors()
            self.time_passes(40.0)
        for s in STREAMS:
            assert self.engine.streams[s].acked == self.source.last(s), s
            assert sorted(self.receiver.records[s]) == self.source.seqs[s], f"{s}: lost or unknown records"
            assert all(t == text(s, q) for q, t in self.receiver.records[s].items())


EngineMachine.TestCase.settings = settings(
    max_examples=300, stateful_step_count=60, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
test_no_record_is_lost_or_duplicated_and_cursors_never_move_back = EngineMachine.TestCase


# ---------------------------------------------------------------------- single behaviours


def _rig() -> tuple[Engine, Source, Broker]:
    src, broker = Source(), Broker()
    e = Engine(REF, STREAMS, LIMITS)
    e.on_connect(False, 0.0)
    return e, src, broker


def _batches(broker: Broker) -> list[tuple[str, int, int, int]]:
    out = []
    for _mid, p in broker.wire:
        b, _ = decode_batch(p)
        out.append((b.stream, b.after_seq, b.first_seq, b.last_seq))
    return out


def test_streams_take_turns_so_fresh_events_pass_a_backlog() -> None:
    e, src, broker = _rig()
    src.produce("samples", 20, 0)
    src.produce("events", 2, 0)
    e.pump(src, broker, now=0, wall=0)
    assert [b[0] for b in _batches(broker)] == ["samples", "events", "samples"]


def test_the_window_bounds_batches_waiting_for_puback() -> None:
    e, src, broker = _rig()
    src.produce("samples", 20, 0)
    assert e.pump(src, broker, now=0, wall=0) == LIMITS.inflight
    assert e.pump(src, broker, now=0, wall=0) == 0
    e.on_puback(broker.wire[0][0])
    assert e.pump(src, broker, now=0, wall=0) == 1


def test_a_resumed_session_resends_after_the_broker_ack_a_new_one_after_the_end_to_end_ack() -> None:
    e, src, broker = _rig()
    src.produce("samples", 12, 0)
    e.pump(src, broker, now=0, wall=0)
    b0, b1, _b2 = _batches(broker)
    e.on_puback(broker.wire[0][0])
    e.on_puback(broker.wire[1][0])
    e.on_ack("samples", b0[3], 0)
    e.on_disconnect()
    broker.wire.clear()
    e.on_connect(True, 1.0)
    e.pump(src, broker, now=1, wall=0)
    assert _batches(broker)[0][:3] == ("samples", b1[3], b1[3] + 1)
    e.on_disconnect()
    broker.wire.clear()
    e.on_connect(False, 2.0)
    e.pump(src, broker, now=2, wall=0)
    assert _batches(broker)[0][:3] == ("samples", b0[3], b0[3] + 1)
    assert e.stats["resends"] == 2


def test_the_ack_timeout_resends_and_doubles_while_acks_stay_away() -> None:
    e, src, broker = _rig()
    src.produce("events", 2, 0)
    e.pump(src, broker, now=0, wall=0)
    e.on_puback(broker.wire[0][0])
    assert e.check_timeouts(5.0) == []
    (t,) = e.check_timeouts(5.1)
    assert (t.stream, t.acked) == ("events", 0)
    e.pump(src, broker, now=5.1, wall=0)
    assert _batches(broker)[-1] == ("events", 0, 1, 2)
    assert e.check_timeouts(5.1 + 9.9) == []  # now 10 s
    assert len(e.check_timeouts(5.1 + 10.1)) == 1
    e.on_ack("events", 2, 16.0)
    assert e.check_timeouts(1000.0) == []


def test_cursors_to_save_never_move_back_though_the_engine_rewinds() -> None:
    e, src, broker = _rig()
    src.produce("samples", 6, 0)
    e.pump(src, broker, now=0, wall=0)
    for mid, _ in list(broker.wire):
        e.on_puback(mid)
    changes = e.cursor_changes()
    assert changes["samples"] == (6, 0)
    e.cursors_saved(changes)
    e.on_disconnect()
    e.on_connect(False, 1.0)  # rewound to 0 in memory
    assert e.streams["samples"].pos == 0
    assert e.cursor_changes() == {}
