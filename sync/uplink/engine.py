"""The uplink's cursor engine, sans I/O: per-stream positions, the in-flight window,
PUBACKs, end-to-end acks, rewinds and round-robin batching, driven by plain events.

No threads, sockets or clock reads: time comes in as arguments, records come from a
:class:`RecordSource`, batches go out through a :class:`Client` that only returns the
message id. The paho session (``session.py``) feeds it the broker's events; the tests
feed it a fake client and broker and check, under any interleaving of publish, PUBACK,
ack, disconnect and reconnect, that the receiver ends with every record once and that
no cursor moves backwards.

Per stream, in sequence order: ``acked`` ≤ ``confirmed`` ≤ ``pos``.

* ``pos``: last sequence handed to the client.
* ``confirmed``: highest sequence the broker acknowledged contiguously (PUBACK).
* ``acked``: highest sequence the aggregator committed contiguously (end-to-end ack).

Nothing is trusted until acknowledged end to end: after a reconnect without a resumed
session, and when acks stop progressing for ``ack_timeout_s`` (doubling up to 16× while
it keeps failing), the stream is resent from ``acked``. With a resumed session, what
the broker acknowledged survives, so sending resumes after ``confirmed``.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from sync.protocol import LineRef, encode_batch

MAX_TIMEOUT_FACTOR = 16.0
#: Room kept in a batch for its envelope (line, stream, sequences).
ENVELOPE_BYTES = 400


class RecordSource(Protocol):
    def read(self, stream: str, after: int, limit: int) -> list[tuple[int, str]]:
        """Up to ``limit`` records of ``stream`` after sequence ``after``, in order, as
        (seq, the record's JSON text)."""
        ...


class Client(Protocol):
    def publish(self, stream: str, payload: bytes) -> int:
        """Publish a batch of ``stream`` at QoS 1; returns its message id."""
        ...


@dataclass(frozen=True)
class Limits:
    inflight: int = 8
    """Batches waiting for PUBACK, all streams."""
    unacked_records: int = 200_000
    """Records of one stream waiting for the end-to-end ack."""
    batch_max_bytes: int = 256_000
    ack_timeout_s: float = 30.0
    fetch: int = 2000
    """Rows read from the source at a time."""


@dataclass
class StreamState:
    name: str
    acked: int = 0
    confirmed: int = 0
    pos: int = 0
    inflight: deque[list[int]] = field(default_factory=deque)
    """[mid, last_seq, done] per published batch, in order."""
    buf: deque[tuple[int, str]] = field(default_factory=deque)
    """Records after ``pos``, read ahead."""
    buf_end: int = 0
    """Sequence the buffer reaches (``pos`` when empty)."""
    ack_wait_since: float | None = None
    timeout_factor: float = 1.0
    saved: tuple[int, int] = (0, 0)
    """(sent_seq, acked_seq) as last made durable."""


@dataclass(frozen=True)
class Timeout:
    """A stream rewound because its end-to-end ack did not progress."""

    stream: str
    acked: int
    waited_s: float


class Engine:
    def __init__(self, ref: LineRef, streams: Iterable[str], limits: Limits, incarnation: str = "") -> None:
        self.ref = ref
        self.limits = limits
        #: The store's incarnation, carried in every batch (set before the first pump).
        self.incarnation = incarnation
        self.streams = {s: StreamState(s) for s in streams}
        self.connected = False
        self._outstanding: dict[int, StreamState] = {}
        self.stats: dict[str, Any] = {"batches": 0, "records": 0, "bytes": 0, "resends": 0}

    # ------------------------------------------------------------------ state

    def load(self, cursors: Mapping[str, tuple[int, int]]) -> None:
        """Start from the durable cursors, (sent_seq, acked_seq) per stream."""
        for name, (sent, acked) in cursors.items():
            s = self.streams.get(name)
            if s is None:
                continue
            s.acked = acked
            s.confirmed = s.pos = s.buf_end = max(sent, acked)
            s.buf.clear()
            s.inflight.clear()
            s.saved = (sent, acked)

    @property
    def outstanding(self) -> int:
        """Batches waiting for their PUBACK."""
        return len(self._outstanding)

    def acked(self) -> dict[str, int]:
        return {n: s.acked for n, s in self.streams.items()}

    def backlog(self, lasts: Mapping[str, int]) -> dict[str, int]:
        """Records not yet acknowledged end to end, given each stream's last sequence."""
        return {n: max(0, lasts.get(n, 0) - s.acked) for n, s in self.streams.items()}

    def drained(self, lasts: Mapping[str, int]) -> bool:
        """Everything up to ``lasts`` is sent and acknowledged by the broker."""
        return all(s.pos == s.confirmed and s.pos >= lasts.get(n, 0) for n, s in self.streams.items())

    def cursor_changes(self) -> dict[str, tuple[int, int]]:
        """Cursors to make durable: (sent_seq, acked_seq) per stream that moved. They
        never move backwards, even when the engine rewinds to resend."""
        out = {}
        for n, s in self.streams.items():
            durable = (max(s.saved[0], s.confirmed), max(s.saved[1], s.acked))
            if durable != s.saved:
                out[n] = durable
        return out

    def cursors_saved(self, saved: Mapping[str, tuple[int, int]]) -> None:
        for n, v in saved.items():
            self.streams[n].saved = v

    # ------------------------------------------------------------------ events

    def on_connect(self, session_present: bool, now: float) -> None:
        """The broker accepted the connection. What it acknowledged survives with a
        resumed session; without one, anything not acknowledged end to end may be gone."""
        self.connected = True
        for s in self.streams.values():
            self._rewind(s, s.confirmed if session_present else s.acked, now)
        self._outstanding.clear()

    def on_disconnect(self) -> None:
        """The connection is gone: PUBACKs for what was in flight will not come."""
        self.connected = False
        self._outstanding.clear()

    def on_puback(self, mid: int) -> None:
        s = self._outstanding.pop(mid, None)
        if s is None:
            return
        for entry in s.inflight:
            if entry[0] == mid:
                entry[2] = 1
                break
        while s.inflight and s.inflight[0][2]:
            s.confirmed = max(s.confirmed, s.inflight.popleft()[1])

    def on_ack(self, stream: str, acked_seq: int, now: float) -> bool:
        """The aggregator committed ``stream`` up to ``acked_seq`` (clamped by the caller
        to what exists at the line). True when that is news."""
        s = self.streams.get(stream)
        if s is None or acked_seq <= s.acked:
            return False
        s.acked = acked_seq
        s.timeout_factor = 1.0
        s.ack_wait_since = now if s.pos > s.acked else None
        if s.pos < s.acked:
            self._rewind(s, s.acked, now)
        return True

    def check_timeouts(self, now: float) -> list[Timeout]:
        """Rewind streams whose end-to-end ack has not progressed for the timeout (which
        doubles, up to 16×, while it keeps failing)."""
        out = []
        for s in self.streams.values():
            if s.ack_wait_since is None or s.pos <= s.acked:
                continue
            waited = now - s.ack_wait_since
            if waited > self.limits.ack_timeout_s * s.timeout_factor:
                out.append(Timeout(s.name, s.acked, waited))
                s.timeout_factor = min(s.timeout_factor * 2, MAX_TIMEOUT_FACTOR)
                self._rewind(s, s.acked, now)
                s.ack_wait_since = now
        return out

    def _rewind(self, s: StreamState, to: int, now: float) -> None:
        to = max(to, s.acked)
        if s.pos != to:
            if s.pos > to:
                self.stats["resends"] += 1
            s.pos = s.buf_end = to
            s.buf.clear()
        s.confirmed = max(min(s.confirmed, s.pos), s.acked)
        s.inflight.clear()
        s.ack_wait_since = now if s.pos > s.acked else None

    # ------------------------------------------------------------------ sending

    def pump(self, source: RecordSource, client: Client, *, now: float, wall: float) -> int:
        """Publish batches while the window has room: streams in turn, one batch each per
        round, so fresh events go out between the batches of a samples backlog. ``now``
        is monotonic time, ``wall`` the time stamped on batches. Returns batches sent."""
        if not self.connected:
            return 0
        window = self.limits.inflight
        sent = 0
        active = list(self.streams.values())
        while active and len(self._outstanding) < window:
            still = []
            for s in active:
                if len(self._outstanding) >= window:
                    still.append(s)
                    continue
                if s.pos - s.acked >= self.limits.unacked_records:
                    continue
                if self._send_one(s, source, client, now, wall):
                    sent += 1
                    still.append(s)
            active = still
        return sent

    def _fill(self, s: StreamState, source: RecordSource) -> None:
        recs = source.read(s.name, s.buf_end, self.limits.fetch)
        if recs:
            s.buf.extend(recs)
            s.buf_end = recs[-1][0]

    def _send_one(
        self, s: StreamState, source: RecordSource, client: Client, now: float, wall: float
    ) -> bool:
        if not s.buf:
            self._fill(s, source)
            if not s.buf:
                return False
        budget = self.limits.batch_max_bytes - ENVELOPE_BYTES
        buf = s.buf
        first = last = buf[0][0]
        recs: list[str] = []
        size = 0
        while buf and (not recs or size + len(buf[0][1]) + 1 <= budget):
            last, r = buf.popleft()
            recs.append(r)
            size += len(r) + 1
            if not buf and size < budget // 2:
                self._fill(s, source)
        payload = encode_batch(self.ref, s.name, s.pos, recs, (first, last), wall, self.incarnation)
        mid = client.publish(s.name, payload)
        if s.pos == s.acked:
            s.ack_wait_since = now
        s.inflight.append([mid, last, 0])
        self._outstanding[mid] = s
        s.pos = last
        self.stats["batches"] += 1
        self.stats["records"] += len(recs)
        self.stats["bytes"] += len(payload)
        return True
