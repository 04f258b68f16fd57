"""Line logic: tag samples in, facts out (pure). The same object runs live in the agent,
in ``lineside replay`` over recorded history, and in tests.

Facts: ``StateChange``, ``DowntimeEvent`` (opened, then again when closed),
``CountRecord`` (per machine, with the ideal cycle time of what is being made) and
``OrderChange``. No clock is read: every call carries its timestamp.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
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


@dataclass(frozen=True)
class Changeover:
    """A changeover started, ran past its standard length (``overrun``: from then on its
    stops are the "setup & adjustments" loss) or ended."""

    ts: float
    action: str  # start | overrun | end
    from_product: str | None
    to_product: str | None
    order: str | None
    standard_s: float


@dataclass(frozen=True)
class OrderNotice:
    """Something the line tells its operators about the running order."""

    ts: float
    order: str
    kind: str  # quantity_reached
    message: str


Fact = StateChange | DowntimeEvent | MachineCount | OrderChange | ReasonImposed | Changeover | OrderNotice

#: The source under which a changeover's overrun imposes the setup reason.
CHANGEOVER_SOURCE = "changeover"


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
        changeover_s: dict[tuple[str, str], float] | None = None,
        setup_reason: str | None = None,
        line_machine: str | None = None,
        end_changeover_at_first_good: bool = True,
    ) -> None:
        """``changeover_s``: standard seconds per (from, to) product pair, ``("", to)`` for
        a changeover onto ``to`` from an unknown product; ``setup_reason``: the reason a
        changeover's overrun imposes on every machine's stops."""
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
        self.held = False  # on hold (a failed first-off): not planned time
        self.quantity: int | None = None
        self.order_good = 0  # good parts of the running order on the line machine
        self._noticed = False
        self.changeover_s = changeover_s or {}
        self.setup_reason = setup_reason
        self.line_machine = line_machine or (machines[0].state.machine if machines else None)
        self.end_changeover_at_first_good = end_changeover_at_first_good
        self.last_product: str | None = None  # product of the last order run
        self.co: Changeover | None = None  # the running changeover (its start)
        self.co_overrun = False
        self._changed_over_to: str | None = None  # a changeover ended onto this product

    # --------------------------------------------------------------------- samples

    def on_sample(self, ts: float, tag: str, value: Any, good: bool) -> list[Fact]:
        targets = self.by_tag.get(tag)
        if not targets:
            return []
        out: list[Fact] = self._overrun_due(ts) if self.co is not None else []
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
                        if g and ml.name == self.line_machine:
                            out.extend(self._good_parts(ts, g))
            for ch in ml.state.update(ts, tag, value, good):
                out.append(ch)
                out.extend(ml.downtime.on_state(ch))
        return out

    def tick(self, ts: float) -> list[Fact]:
        out: list[Fact] = self._overrun_due(ts) if self.co is not None else []
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
        self,
        ts: float,
        action: str,
        order: str | None = None,
        product: str | None = None,
        *,
        quantity: int | None = None,
    ) -> list[Fact]:
        """Start, pause, hold, resume or complete a work order.

        A pause is a planned stop; a hold (a failed first-off) is not: its time is lost.
        Starting an order while another runs completes that one first (the service asks
        the operator to confirm), and starting one for another product than the last
        order's begins a changeover (unless one ran onto that product already)."""
        out: list[Fact] = []
        if action == "start":
            if order is None or product is None:
                raise ValueError("start needs an order id and a product")
            if product not in self.ideal_cycle:
                raise KeyError(f"unknown product {product!r}")
            if self.order is not None:
                out += self.order_action(ts, "complete")
            prev = self.last_product
            self.order, self.product, self.order_started = order, product, ts
            self.paused = self.held = False
            self.quantity, self.order_good, self._noticed = quantity, 0, False
            out.append(OrderChange(ts, order, product, action))
            if self.co is not None:
                if self.co.to_product is None:
                    self.co = replace(self.co, to_product=product, order=order)
            elif prev is not None and prev != product and self._changed_over_to != product:
                out += self._changeover_start(ts, prev, product)
            self.last_product, self._changed_over_to = product, None
        elif self.order is None:
            raise ValueError(f"no work order is running to {action}")
        elif action in ("pause", "hold", "resume", "complete"):
            if action == "resume":
                self.paused = self.held = False
            elif action == "pause":
                self.paused = True
            elif action == "hold":
                self.held = True
            assert self.product is not None
            out.append(OrderChange(ts, self.order, self.product, action))
        else:
            raise ValueError(f"unknown order action {action!r}")
        out += self._apply_planned(ts)
        if action == "complete":
            self.order, self.product, self.order_started = None, self.default_product, None
            self.paused = self.held = False
            self.quantity = None
        return out

    def _planned_reason(self) -> str | None:
        if self.co is not None and not self.co_overrun:
            return "changeover"
        return "order paused" if self.paused else None

    def _apply_planned(self, ts: float) -> list[Fact]:
        out: list[Fact] = []
        planned = self._planned_reason()
        for ml in self.machines.values():
            if ml.state.planned == planned:
                continue
            for ch in ml.state.set_planned(ts, planned):
                out.append(ch)
                out.extend(ml.downtime.on_state(ch))
        return out

    def _good_parts(self, ts: float, good: int) -> list[Fact]:
        """Good parts of the line machine: they end a changeover, and may fill the order."""
        out: list[Fact] = []
        if self.co is not None and self.end_changeover_at_first_good:
            out += self.changeover(ts, False)
        if self.order is not None:
            self.order_good += good
            if self.quantity and not self._noticed and self.order_good >= self.quantity:
                self._noticed = True
                out.append(
                    OrderNotice(
                        ts,
                        self.order,
                        "quantity_reached",
                        f"order {self.order}: quantity reached ({self.order_good} of {self.quantity} good)",
                    )
                )
        return out

    def standard_changeover_s(self, from_product: str | None, to_product: str | None) -> float:
        """The standard (planned) length of a changeover between two products."""
        if to_product is None or from_product == to_product:
            return 0.0
        return self.changeover_s.get(
            (from_product or "", to_product), self.changeover_s.get(("", to_product), 0.0)
        )

    def changeover(
        self, ts: float, active: bool, to_product: str | None = None, order: str | None = None
    ) -> list[Fact]:
        """An operator starts a changeover (onto ``to_product``) or ends it.

        Its standard length (the changeover matrix) is a planned stop; from then on it
        overruns: the planned stop ends and the machines' stops carry the setup reason
        (an availability loss, "setup & adjustments"). It ends here, or with the line
        machine's first good part."""
        if active:
            if self.co is not None:
                raise ValueError("a changeover is running already (end it first)")
            if to_product is not None and to_product not in self.ideal_cycle:
                raise KeyError(f"unknown product {to_product!r}")
            frm = self.product if self.order is not None else self.last_product
            return self._changeover_start(ts, frm, to_product, order)
        if self.co is None:
            raise ValueError("no changeover is running")
        co, self.co, self.co_overrun = self.co, None, False
        self._changed_over_to = co.to_product
        out: list[Fact] = [Changeover(ts, "end", co.from_product, co.to_product, co.order, co.standard_s)]
        for m, ml in self.machines.items():
            if CHANGEOVER_SOURCE in ml.downtime.imposed:
                out += self.impose_reason(ts, m, None, source=CHANGEOVER_SOURCE)
        return out + self._apply_planned(ts)

    def _changeover_start(
        self, ts: float, frm: str | None, to: str | None, order: str | None = None
    ) -> list[Fact]:
        std = self.standard_changeover_s(frm, to)
        self.co = Changeover(ts, "start", frm, to, order if order is not None else self.order, std)
        self.co_overrun = False
        out: list[Fact] = [self.co]
        if std <= 0:
            return out + self._overrun(ts)
        return out + self._apply_planned(ts)

    def _overrun_due(self, ts: float) -> list[Fact]:
        co = self.co
        if co is None or self.co_overrun or ts < co.ts + co.standard_s:
            return []
        return self._overrun(co.ts + co.standard_s)

    def _overrun(self, at: float) -> list[Fact]:
        co = self.co
        assert co is not None
        self.co_overrun = True
        out: list[Fact] = [Changeover(at, "overrun", co.from_product, co.to_product, co.order, co.standard_s)]
        out += self._apply_planned(at)
        if self.setup_reason is not None:
            detail = f"changeover {co.from_product or '?'} → {co.to_product or '?'} beyond {co.standard_s / 60:g} min"
            for m in self.machines:
                out += self.impose_reason(at, m, self.setup_reason, source=CHANGEOVER_SOURCE, detail=detail)
        return out

    def restore(
        self,
        *,
        order: str | None,
        product: str | None,
        started: float | None,
        last_action: str | None,
        quantity: int | None,
        good: int,
        last_product: str | None,
        changeover: Changeover | None,
        overrun: bool,
        now: float,
    ) -> list[Fact]:
        """Continue after a restart where the store says the line was: the running
        order (paused or held), its good count and a changeover under way."""
        self.last_product = last_product
        if order is not None and product in self.ideal_cycle:
            self.order, self.product, self.order_started = order, product, started
            self.paused, self.held = last_action == "pause", last_action == "hold"
            self.quantity, self.order_good = quantity, good
            self._noticed = bool(quantity) and good >= (quantity or 0)
        self.co, self.co_overrun = changeover, overrun
        return self._apply_planned(now)
