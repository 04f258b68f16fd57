"""Machine state from tag values (pure): a state-code map, ordered rules, or a counter
that must advance; ``no_data`` when the signals it depends on are bad.

Time comes in with each update. Transitions that happen because time passed (the
cycle counter stopped advancing) are stamped at the moment they became true
(last advance + window), not when somebody noticed, so durations add up exactly.

Time never runs backwards here: a timestamp earlier than the current state's start (a
PLC's source clock stepped back, samples out of order) counts as that start, so no
state lasts a negative time. A step of the agent's own clock is cut explicitly
(:meth:`StateTracker.cut`).

A counter's first value says nothing about whether it advances: until it advances (the
machine ran from that first value on) or its window runs out without an advance (it stood
from that first value on), the state is undetermined and no change is emitted. The
decision is stamped at the first value, so an agent start records no idle micro-stop.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class State(StrEnum):
    RUNNING = "running"
    IDLE = "idle"
    STARVED = "starved"
    BLOCKED = "blocked"
    DOWN = "down"
    PLANNED_STOP = "planned_stop"
    NO_DATA = "no_data"


#: States in which the machine is stopped though production was planned.
UNPLANNED_STOPS = frozenset({State.IDLE, State.STARVED, State.BLOCKED, State.DOWN})

_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "eq": operator.eq,
    "ne": operator.ne,
    "gt": operator.gt,
    "ge": operator.ge,
    "lt": operator.lt,
    "le": operator.le,
}


@dataclass(frozen=True)
class Rule:
    """``state`` applies while ``tag <op> value``; rules are tried in order."""

    state: State
    tag: str
    op: str = "eq"
    value: Any = True

    def matches(self, v: Any) -> bool:
        if v is None:
            return False
        try:
            return bool(_OPS[self.op](v, self.value))
        except TypeError:
            return False


@dataclass(frozen=True)
class StateModel:
    machine: str
    code_tag: str | None = None
    codes: dict[int, State] = field(default_factory=dict)
    rules: tuple[Rule, ...] = ()
    counter_tag: str | None = None
    running_window_s: float = 10.0
    default: State = State.IDLE

    @property
    def tags(self) -> set[str]:
        out = {r.tag for r in self.rules}
        if self.code_tag:
            out.add(self.code_tag)
        if self.counter_tag:
            out.add(self.counter_tag)
        return out


@dataclass(frozen=True)
class StateChange:
    ts: float
    machine: str
    old: State | None
    new: State
    cause: str = ""


class StateTracker:
    def __init__(self, model: StateModel) -> None:
        self.model = model
        self.values: dict[str, Any] = {}
        self.good: dict[str, bool] = {}
        self.state: State | None = None
        self.since: float | None = None
        self.last_advance: float | None = None
        self._last_count: Any = None
        #: When the counter's first good value came, while it is unknown whether it advances.
        self._pending: float | None = None
        self._decided_at: float | None = None
        self.planned: str | None = None  # reason of an operator/order planned stop

    def _evaluate(self, now: float) -> tuple[State, str] | None:
        m = self.model
        needed = m.tags
        if any(not self.good.get(t, False) for t in needed):
            bad = sorted(t for t in needed if not self.good.get(t, False))
            return State.NO_DATA, f"no good value for {', '.join(bad)}"
        machine = self._machine_state(now)
        if self.planned is not None and (machine is None or machine[0] != State.RUNNING):
            return State.PLANNED_STOP, self.planned
        return machine

    def _machine_state(self, now: float) -> tuple[State, str] | None:
        """What the signals say. A machine that runs during a planned stop (a pause or
        changeover it did not take) is running: its parts were made in run time."""
        m = self.model
        for r in m.rules:
            if r.matches(self.values.get(r.tag)):
                return r.state, f"{r.tag} {r.op} {r.value!r}"
        if m.code_tag is not None:
            code = self.values.get(m.code_tag)
            try:
                st = m.codes.get(int(code)) if code is not None else None
            except (TypeError, ValueError):
                st = None
            if st is not None:
                return st, f"{m.code_tag} = {code}"
        if m.counter_tag is not None:
            if self.last_advance is not None and now - self.last_advance < m.running_window_s:
                self._decide()
                return State.RUNNING, f"{m.counter_tag} advancing"
            if self._pending is not None and now - self._pending < m.running_window_s:
                return None  # one value so far: not yet known whether it advances
            self._decide()
            return m.default, f"{m.counter_tag} not advancing for {m.running_window_s:g} s"
        return m.default, "no rule matched"

    def _decide(self) -> None:
        """The counter's first value is judged: the state is stamped at that value unless
        another state began after it."""
        if self._pending is not None and (self.since is None or self.since <= self._pending):
            self._decided_at = self._pending
        self._pending = None

    def _transition(self, ts: float, cause_state: tuple[State, str] | None) -> StateChange | None:
        at, self._decided_at = self._decided_at, None
        if cause_state is None:
            return None
        new, cause = cause_state
        if new == self.state:
            return None
        if at is not None:
            ts = at
        change = StateChange(ts, self.model.machine, self.state, new, cause)
        self.state, self.since = new, ts
        return change

    def _not_before(self, ts: float) -> float:
        return ts if self.since is None or ts >= self.since else self.since

    def cut(self, before: float, after: float) -> StateChange | None:
        """The clock stepped from ``before`` to ``after``: the current state goes on from
        ``after`` (re-stated there, so its duration counts from there) and a running
        counter keeps the time it has left in its window."""
        if self.state is None:
            return None
        if self.last_advance is not None:
            self.last_advance += after - before
        if self._pending is not None:
            self._pending += after - before
        self.since = after
        return StateChange(
            after, self.model.machine, self.state, self.state, f"clock stepped by {after - before:+.0f} s"
        )

    def tick(self, now: float) -> list[StateChange]:
        """Let time pass: a counter that stopped advancing turns the state at the exact
        moment the window ran out."""
        now = self._not_before(now)
        out: list[StateChange] = []
        m = self.model
        if m.counter_tag is not None and self.last_advance is not None and self.state == State.RUNNING:
            expiry = self.last_advance + m.running_window_s
            if expiry <= now:
                expiry = self._not_before(expiry)
                ch = self._transition(expiry, self._evaluate(expiry))
                if ch:
                    out.append(ch)
        if m.counter_tag is not None and self._pending is not None:
            expiry = self._pending + m.running_window_s
            if expiry <= now:
                ch = self._transition(self._not_before(expiry), self._evaluate(expiry))
                if ch:
                    out.append(ch)
        return out

    def update(self, ts: float, tag: str, value: Any, good: bool) -> list[StateChange]:
        if tag not in self.model.tags:
            return []
        ts = self._not_before(ts)
        out = self.tick(ts)
        self.values[tag] = value if good else None
        self.good[tag] = good
        if tag == self.model.counter_tag and good:
            if self._last_count is not None and value != self._last_count:
                self.last_advance = ts
            elif self._last_count is None and self.last_advance is None:
                self._pending = ts
            self._last_count = value
        elif tag == self.model.counter_tag:
            self._pending = None
        ch = self._transition(ts, self._evaluate(ts))
        if ch:
            out.append(ch)
        return out

    def set_planned(self, ts: float, reason: str | None) -> list[StateChange]:
        """Operator or order logic starts (reason) or ends (None) a planned stop."""
        ts = self._not_before(ts)
        out = self.tick(ts)
        self.planned = reason
        ch = self._transition(ts, self._evaluate(ts))
        if ch:
            out.append(ch)
        return out
