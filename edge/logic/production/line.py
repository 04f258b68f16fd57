"""Line logic: tag samples in, facts out (pure). The same object runs live in the agent,
in ``lineside replay`` over recorded history, and in tests.

Facts: ``StateChange``, ``DowntimeEvent`` (opened, then again when closed),
``CountRecord`` (per machine, with the ideal cycle time of what is being made) and
``OrderChange``. No clock is read: every call carries its timestamp.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from edge.logic.production.counters import CounterTracker
from edge.logic.production.downtime import DowntimeEvent, DowntimeTracker
from edge.logic.production.oee import CountRecord
from edge.logic.production.state import StateChange, StateModel, StateTracker


@dataclass(frozen=True)
class MachineCount(CountRecord):
    machine: str = ""
    order: str | None = None
    product: str | None = None


@dataclass(frozen=True)
class OrderChange:
    ts: float
    order: str
    product: str
    action: str  # start | pause | resume | complete


@dataclass(frozen=True)
class ReasonImposed:
    """Another domain imposed (``reason``) or lifted (None) the reason of a machine's stops
    (see :meth:`LineLogic.impose_reason`)."""

    ts: float
    machine: str
    source: str
    reason: str | None
    detail: str = ""


Fact = StateChange | DowntimeEvent | MachineCount | OrderChange | ReasonImposed


@dataclass
class MachineSpec:
    state: StateModel
    fault_code_tag: str | None = None
    micro_stop_s: float = 30.0
    counters: dict[str, tuple[str, int]] = field(default_factory=dict)  # kind -> (tag, bits)
    max_step: int = 10_000


class MachineLogic:
    def __init__(self, spec: MachineSpec, fault_reasons: dict[int, str]) -> None:
        self.name = spec.state.machine
        self.spec = spec
        self.state = StateTracker(spec.state)
        self.downtime = DowntimeTracker(
            self.name, micro_stop_s=spec.micro_stop_s, fault_reasons=fault_reasons
        )
        self.counters = {
            kind: CounterTracker(bits=bits, max_step=spec.max_step)
            for kind, (_tag, bits) in spec.counters.items()
        }
        self.counter_kind = {tag: kind for kind, (tag, _bits) in spec.counters.items()}
        self.pending = 0  # parts counted once by one counter, to subtract from the other
        #: Counter tag → since when it had no good value (its next increase caught up).
        self.unobserved: dict[str, float] = {}
        self.tags = (
            spec.state.tags
            | set(self.counter_kind)
            | ({spec.fault_code_tag} if spec.fault_code_tag else set())
        )

    def book(self, kind: str, delta: int) -> tuple[int, int]:
        """Counter delta → (good, scrap), never negative, never counted twice.

        With good and scrap counters both are taken as they are (a total counter only
        cross-checks). With total and scrap, good = total − scrap: scrap parts also show
        up in the total, so they are subtracted from the next total increase.
        """
        if kind == "scrap":
            if "good" not in self.counters:
                self.pending += delta
            return 0, delta
        if kind == "good":
            return delta, 0
        if "good" in self.counters:  # total with explicit good/scrap: cross-check only
            return 0, 0
        take = min(self.pending, delta)
        self.pending -= take
        return delta - take, 0


class LineLogic:
    def __init__(
        self,
        machines: list[MachineSpec],
        *,
        fault_reasons: dict[int, str],
        ideal_cycle: dict[str, float],
        default_product: str | None = None,
        startup_window_s: float = 0.0,
    ) -> None:
        self.machines = {m.state.machine: MachineLogic(m, fault_reasons) for m in machines}
        self.by_tag: dict[str, list[MachineLogic]] = {}
        for ml in self.machines.values():
            for t in ml.tags:
                self.by_tag.setdefault(t, []).append(ml)
        self.ideal_cycle = ideal_cycle
        self.default_product = default_product
        self.startup_window_s = startup_window_s
        self.order: str | None = None
        self.product: str | None = default_product
        self.order_started: float | None = None
        self.paused = False

    # --------------------------------------------------------------------- samples

    def on_sample(self, ts: float, tag: str, value: Any, good: bool) -> list[Fact]:
        targets = self.by_tag.get(tag)
        if not targets:
            return []
        out: list[Fact] = []
        for ml in targets:
            if tag == ml.spec.fault_code_tag:
                updated = ml.downtime.set_fault_code(value if good else None)
                if updated is not None:
                    out.append(updated)
            kind = ml.counter_kind.get(tag)
            if kind is not None and not good:
                ml.unobserved.setdefault(tag, ts)
            elif kind is not None:
                delta = ml.counters[kind].update(value)
                since = ml.unobserved.pop(tag, None)
                if delta:
                    g, sc = ml.book(kind, delta)
                    if g or sc:
                        # Caught up after a time without data: produced while not observed,
                        # booked at the start of the gap (see ``oee``).
                        out.append(
                            self._record(since, ml.name, g, sc, unobserved=True)
                            if since is not None and since < ts
                            else self._record(ts, ml.name, g, sc)
                        )
            for ch in ml.state.update(ts, tag, value, good):
                out.append(ch)
                out.extend(ml.downtime.on_state(ch))
        return out

    def tick(self, ts: float) -> list[Fact]:
        out: list[Fact] = []
        for ml in self.machines.values():
            for ch in ml.state.tick(ts):
                out.append(ch)
                out.extend(ml.downtime.on_state(ch))
        return out

    def clock_step(self, before: float, after: float) -> list[Fact]:
        """The agent's clock stepped from ``before`` to ``after`` (the wall clock was set
        back or forward): each machine's state is re-stated at ``after`` and an open stop
        is cut into the part before the step and the part after it. No duration spans
        the step, so none is negative and none grows by the step."""
        out: list[Fact] = []
        for ml in self.machines.values():
            ch = ml.state.cut(before, after)
            if ch is not None:
                out.append(ch)
            out.extend(ml.downtime.cut(before, after))
        if self.order_started is not None:
            self.order_started += after - before  # the start-up window keeps its length
        return out

    # --------------------------------------------------------------------- imposed reasons

    def impose_reason(
        self, ts: float, machine: str, reason: str | None, *, source: str, detail: str = ""
    ) -> list[Fact]:
        """The hook by which another domain books a machine's stops with its own reason.

        ``source`` names the domain and the thing that holds (``"maintenance:WO-17"``,
        ``"spc"``); ``reason`` is a code of the reason tree, so its ``loss`` decides how
        the time counts (a corrective work order's reason with ``loss: availability``, a
        preventive one's with ``loss: planned``, SPC's "quality hold"). ``None`` lifts that
        source's imposition. While an imposition holds, every stop of ``machine`` carries
        the reason (the latest active imposition wins over older ones and over the PLC's
        fault code); a stop already open is cut at ``ts`` so the time before keeps its own
        reason. The machine's state is not changed: the imposition explains a stop, it
        does not make one (stop the machine through its PLC for that).

        Replayable: the returned :class:`ReasonImposed` fact is stored (table
        ``imposed_reasons``) and the agent re-applies active impositions on restart.
        From another process, queue a request with
        ``edge.services.production.impose_reason`` (the agent applies it within a second);
        inside the agent (SPC runtime) call this method and hand the facts to the writer.
        """
        ml = self.machines.get(machine)
        if ml is None:
            raise KeyError(f"unknown machine {machine!r}")
        if not source:
            raise ValueError("an imposed reason needs a source")
        out: list[Fact] = [ReasonImposed(ts, machine, source, reason, detail)]
        out.extend(ml.downtime.impose(ts, source, reason))
        return out

    def imposed(self) -> dict[str, dict[str, str]]:
        """Active impositions: machine → source → reason."""
        return {m: dict(ml.downtime.imposed) for m, ml in self.machines.items() if ml.downtime.imposed}

    def resume(self, since: float) -> None:
        """The agent was not running since ``since``: every counter's next increase was
        produced while not observed (booked at ``since``)."""
        for ml in self.machines.values():
            for tag in ml.counter_kind:
                ml.unobserved.setdefault(tag, since)

    def _record(
        self, ts: float, machine: str, good: int, scrap: int, *, unobserved: bool = False
    ) -> MachineCount:
        ideal = self.ideal_cycle.get(self.product) if self.product else None
        startup = self.order_started is not None and ts - self.order_started < self.startup_window_s
        return MachineCount(
            ts,
            good,
            scrap,
            ideal,
            startup,
            unobserved,
            machine=machine,
            order=self.order,
            product=self.product,
        )

    # --------------------------------------------------------------------- orders

    def order_action(
        self, ts: float, action: str, order: str | None = None, product: str | None = None
    ) -> list[Fact]:
        """Start, pause, resume or complete a work order; pause and changeover are planned stops."""
        out: list[Fact] = []
        if action == "start":
            if order is None or product is None:
                raise ValueError("start needs an order id and a product")
            if product not in self.ideal_cycle:
                raise KeyError(f"unknown product {product!r}")
            if self.order is not None:
                out += self.order_action(ts, "complete")
            self.order, self.product, self.order_started, self.paused = order, product, ts, False
        elif self.order is None:
            raise ValueError(f"no work order is running to {action}")
        elif action == "pause":
            self.paused = True
        elif action == "resume":
            self.paused = False
        elif action == "complete":
            pass
        else:
            raise ValueError(f"unknown order action {action!r}")
        assert self.order is not None and self.product is not None
        out.append(OrderChange(ts, self.order, self.product, action))
        planned = "order paused" if self.paused else None
        for ml in self.machines.values():
            for ch in ml.state.set_planned(ts, planned):
                out.append(ch)
                out.extend(ml.downtime.on_state(ch))
        if action == "complete":
            self.order, self.product, self.order_started, self.paused = (
                None,
                self.default_product,
                None,
                False,
            )
        return out

    def changeover(self, ts: float, active: bool) -> list[Fact]:
        """An operator starts or ends a changeover (a planned stop)."""
        out: list[Fact] = []
        for ml in self.machines.values():
            for ch in ml.state.set_planned(ts, "changeover" if active else None):
                out.append(ch)
                out.extend(ml.downtime.on_state(ch))
        return out
