"""Downtime events from state changes, reasons from a tree, operator edits (pure).

An event opens when a machine leaves ``running`` for an unplanned stop or ``no_data``
and closes when it runs again (or enters another kind of stop, which opens a new
event). The automatic reason comes from the PLC fault code at the start; an operator
may assign or change the reason and split an event. Edits are facts too: the
effective events are always ``resolve(events, edits)``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from enum import StrEnum

from edge.logic.production.state import UNPLANNED_STOPS, State, StateChange


class Loss(StrEnum):
    AVAILABILITY = "availability"
    PERFORMANCE = "performance"
    QUALITY = "quality"
    PLANNED = "planned"


@dataclass(frozen=True)
class Reason:
    code: str
    name: str
    loss: Loss
    category: str  # top-level node of the tree
    path: tuple[str, ...]  # codes from the root to this reason


@dataclass
class ReasonTree:
    reasons: dict[str, Reason] = field(default_factory=dict)

    def get(self, code: str) -> Reason:
        try:
            return self.reasons[code]
        except KeyError:
            raise KeyError(f"reason code {code!r} is not in the reason tree") from None

    def search(self, text: str) -> list[Reason]:
        t = text.lower()
        return [r for r in self.reasons.values() if t in r.code.lower() or t in r.name.lower()]


@dataclass(frozen=True)
class DowntimeEvent:
    id: str  # machine@start, stable across restarts and replays
    machine: str
    start: float
    end: float | None
    state: State
    auto_reason: str | None = None
    reason: str | None = None  # operator-assigned
    comment: str = ""
    micro: bool = False

    @property
    def duration(self) -> float | None:
        return None if self.end is None else max(0.0, self.end - self.start)

    @property
    def effective_reason(self) -> str | None:
        return self.reason or self.auto_reason

    @property
    def explained(self) -> bool:
        return self.reason is not None or self.auto_reason is not None


def loss_of(ev: DowntimeEvent, tree: ReasonTree) -> Loss:
    """OEE loss category of an event: micro-stops are performance losses; otherwise the
    reason's category; unexplained unplanned stops count against availability."""
    if ev.micro:
        return Loss.PERFORMANCE
    code = ev.effective_reason
    if code is not None and code in tree.reasons:
        return tree.reasons[code].loss
    return Loss.AVAILABILITY


class DowntimeTracker:
    def __init__(self, machine: str, *, micro_stop_s: float, fault_reasons: dict[int, str]) -> None:
        self.machine = machine
        self.micro_stop_s = micro_stop_s
        self.fault_reasons = fault_reasons
        self.fault_code: int | None = None
        self.open: DowntimeEvent | None = None
        #: Reasons another domain imposes on this machine's stops, by source (insertion
        #: order: the latest imposition wins while several are active).
        self.imposed: dict[str, str] = {}
        self._stop_since: float | None = None  # start of the whole stop (parts cut by impositions)

    @property
    def imposed_reason(self) -> str | None:
        """The reason imposed now (the latest active imposition), or None."""
        return next(reversed(self.imposed.values())) if self.imposed else None

    def _auto_reason(self, state: State) -> str | None:
        if self.imposed:
            return self.imposed_reason
        if state == State.DOWN and self.fault_code:
            return self.fault_reasons.get(self.fault_code)
        if state in (State.STARVED, State.BLOCKED):
            return self.fault_reasons.get(-1 if state == State.STARVED else -2)
        return None

    def impose(self, ts: float, source: str, reason: str | None) -> list[DowntimeEvent]:
        """``source`` imposes ``reason`` on this machine's stops (None lifts it).

        A stop open at ``ts`` is cut there when the reason in force changes: the part
        before keeps the reason it had, the part after carries the imposed one (after a
        lift, what the PLC says again). Stops opening while the imposition holds take it
        as their automatic reason, before any fault code. Returns the events changed."""
        before = self.imposed_reason
        self.imposed.pop(source, None)
        if reason is not None:
            self.imposed[source] = reason
        after = self.imposed_reason
        ev = self.open
        if ev is None or after == before:
            return []
        new_auto = self._auto_reason(ev.state)
        if ts - ev.start < 0.0005:  # imposed as the stop opened: it is the stop's reason
            self.open = replace(ev, auto_reason=new_auto)
            return [self.open]
        closed = replace(ev, end=ts, micro=False)
        self.open = DowntimeEvent(f"{self.machine}@{ts:.3f}", self.machine, ts, None, ev.state, new_auto)
        return [closed, self.open]

    def set_fault_code(self, code: object) -> DowntimeEvent | None:
        """Record the PLC fault code. A stop that opened without a reason takes the first
        mapped code that arrives while it is open (PLCs often latch the first-out fault
        just after stopping); returns the updated open event then."""
        try:
            self.fault_code = int(code) if code is not None else None  # type: ignore[call-overload]
        except (TypeError, ValueError):
            self.fault_code = None
        ev = self.open
        if ev is not None and ev.auto_reason is None and ev.state == State.DOWN and self.fault_code:
            # (an imposed reason is never None, so it is never replaced by a fault code)
            reason = self.fault_reasons.get(self.fault_code)
            if reason is not None:
                self.open = replace(ev, auto_reason=reason)
                return self.open
        return None

    def on_state(self, ch: StateChange) -> list[DowntimeEvent]:
        """Returns events that opened or closed with this change (closed ones have end)."""
        out: list[DowntimeEvent] = []
        stopping = ch.new in UNPLANNED_STOPS or ch.new == State.NO_DATA
        if self.open is not None and (ch.new != self.open.state):
            ev = self.open
            end = max(ch.ts, ev.start)  # never a negative stop, whatever the clock did
            dur = end - ev.start
            whole = end - (self._stop_since if self._stop_since is not None else ev.start)
            self.open = None
            # A zero-length stop (several tags of one poll applied one after the other) is
            # recorded closed so its open version does not linger; reports skip it, and a
            # stop opening at the same instant reuses and supersedes its id. A stop cut by
            # an imposed reason is a micro-stop only if the whole stop was short.
            micro = ev.state in UNPLANNED_STOPS and dur > 0 and whole < self.micro_stop_s
            out.append(replace(ev, end=end, micro=micro))
        if stopping and self.open is None:
            auto = self._auto_reason(ch.new)
            self._stop_since = ch.ts
            self.open = DowntimeEvent(f"{self.machine}@{ch.ts:.3f}", self.machine, ch.ts, None, ch.new, auto)
            out.append(self.open)
        return out

    def cut(self, before: float, after: float) -> list[DowntimeEvent]:
        """The clock stepped from ``before`` to ``after``: an open stop ends at ``before``
        and goes on as a new stop from ``after`` (same state and reason), so each part
        lasts what the monotonic clock measured and neither is negative."""
        ev = self.open
        if ev is None:
            return []
        closed = replace(ev, end=max(before, ev.start), micro=False)
        self.open = replace(ev, id=f"{self.machine}@{after:.3f}", start=after, end=None, micro=False)
        return [closed, self.open]


# ---------------------------------------------------------------------------- edits


@dataclass(frozen=True)
class Assign:
    event_id: str
    reason: str
    comment: str = ""
    by: str = ""
    ts: float = 0.0


@dataclass(frozen=True)
class Split:
    event_id: str
    at: float
    by: str = ""
    ts: float = 0.0


def resolve(
    events: list[DowntimeEvent], edits: list[Assign | Split], tree: ReasonTree
) -> list[DowntimeEvent]:
    """Apply operator edits in order. A split at time t turns one event into two
    (``id`` and ``id/t``), each of which can be assigned its own reason."""
    by_id: dict[str, DowntimeEvent] = {e.id: e for e in events}
    order = [e.id for e in events]
    for ed in edits:
        ev = by_id.get(ed.event_id)
        if ev is None:
            raise KeyError(f"no downtime event {ed.event_id!r}")
        if isinstance(ed, Assign):
            tree.get(ed.reason)
            by_id[ev.id] = replace(ev, reason=ed.reason, comment=ed.comment)
        else:
            end = ev.end
            if not (ev.start < ed.at and (end is None or ed.at < end)):
                raise ValueError(f"split time is outside event {ev.id!r}")
            second = replace(ev, id=f"{ev.id}/{ed.at:.3f}", start=ed.at, reason=None, comment="", micro=False)
            by_id[ev.id] = replace(ev, end=ed.at, micro=False)
            by_id[second.id] = second
            order.insert(order.index(ev.id) + 1, second.id)
    return [by_id[i] for i in order]
