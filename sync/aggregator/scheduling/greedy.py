"""A feasible plan built greedily (pure, no solver): the solver's warm start.

Operations are placed one at a time, earliest due date first (an order's operations in
routing order; frozen and running work first, where it is), each on the alternative
where it ends soonest, at the earliest start its resource, crew pools and tools allow:
the resource's sequence with changeovers before and after it, maintenance and down
time, rostered head counts, tool copies, their maintenance and remaining life. Working
units on the resources' axes, as the solver sees them. The result is feasible for the
CP-SAT model by construction (the solver checks it anyway), so the solver starts from
a plan instead of searching for its first one, which on a plant-sized problem can take
longer than a planner waits.
"""

from __future__ import annotations

import bisect
import heapq
import math
from dataclasses import dataclass, field

from sync.aggregator.scheduling.prepare import Alt, Prepared, Task

INF = math.inf


@dataclass
class _Timeline:
    """A resource's placed operations (start, end, product) in order."""

    first_after: int
    first_product: str | None
    items: list[tuple[int, int, str]] = field(default_factory=list)
    blocked: list[tuple[int, int]] = field(default_factory=list)


def _peak(usages: list[tuple[int, int, int]], s: int, e: int) -> tuple[int, int]:
    """(highest concurrent use in [s, e), earliest end after s of a use overlapping it)."""
    events = []
    nxt = INF
    for a, b, n in usages:
        if a < e and b > s:
            events.append((max(a, s), n))
            events.append((b, -n))
            nxt = min(nxt, b)
    events.sort(key=lambda x: (x[0], x[1]))
    cur = peak = 0
    for _t, d in events:
        cur += d
        peak = max(peak, cur)
    return peak, int(nxt) if nxt != INF else e


class Greedy:
    def __init__(self, prep: Prepared) -> None:
        self.prep = prep
        p = prep.problem
        self.lines: dict[str, _Timeline] = {}
        for rid, res in prep.resources.items():
            down = max((b for a, b, _ in prep.blocked[rid] if a == 0), default=0)
            self.lines[rid] = _Timeline(
                down, res.current_product, [], sorted((a, b) for a, b, _ in prep.blocked[rid])
            )
        self.pool_use: dict[int, list[tuple[int, int, int]]] = {pl.index: [] for pl in prep.pools}
        self.tool_use: dict[str, list[tuple[int, int, int]]] = {t.id: [] for t in p.tools}
        self.tools = {t.id: t for t in p.tools}
        self.life: dict[str, int] = {t.id: t.life_cycles for t in p.tools if t.life_cycles is not None}
        self.placed: dict[tuple[str, int], tuple[int, int, int]] = {}
        """(order, op) → (alternative index in the task, start, end)."""

    # ------------------------------------------------------------------ capacity checks

    def _slot(self, rid: str, product: str, t: int, dur: int) -> int:
        """Earliest start ≥ t on the resource's sequence, with the changeovers from the
        operation before and to the one after, clear of blocked spans."""
        line = self.lines[rid]
        prep = self.prep
        starts = [a for a, _, _ in line.items]
        s = t
        while True:
            i = bisect.bisect_right(starts, s)
            if i > 0:
                _pa, pe, pp = line.items[i - 1]
                s = max(s, pe + prep.setup_units(rid, pp, product))
            else:
                s = max(s, line.first_after + prep.setup_units(rid, line.first_product, product))
            if bisect.bisect_right(starts, s) != i:
                continue  # moved past an operation: it is the one before now
            if i < len(line.items):
                na, ne, np_ = line.items[i]
                if s + dur + prep.setup_units(rid, product, np_) > na:
                    s = ne
                    continue
            clash = next((b for a, b in line.blocked if a < s + dur and b > s), None)
            if clash is not None:
                s = clash
                continue
            return s

    def _room(self, pi: int, s: int, e: int) -> tuple[int, int]:
        """(people of pool ``pi`` free over all of [s, e), a later start worth trying)."""
        room, nxt = INF, INF
        for a, b, count in self.prep.pools[pi].profile:
            if a >= e or b <= s:
                continue
            lo, hi = max(a, s), min(b, e)
            peak, n2 = _peak(self.pool_use[pi], lo, hi)
            r = count - peak
            if r < room:
                room = r
                nxt = b if count == 0 else min(n2, b)
        return (int(room) if room != INF else 0), (int(nxt) if nxt != INF else e)

    def _resources_ok(self, alt: Alt, product: str, s: int, e: int) -> tuple[bool, int]:
        """Crew and tools free over [s, e); else (False, a later start worth trying)."""
        prep = self.prep
        retry = INF
        if alt.crew:
            free = 0
            for pi in alt.pools:
                room, nxt = self._room(pi, s, e)
                if room <= 0:
                    retry = min(retry, nxt)
                free += max(0, room)
            if free < alt.crew:
                return False, int(retry) if retry != INF else e
        for tid in alt.tools:
            tool = self.tools[tid]
            off = [(a, b) for a, b in prep.tool_blocked[tid] if a < e and b > s]
            if off:
                return False, max(b for _, b in off)
            peak, nxt = _peak(self.tool_use[tid], s, e)
            if peak >= tool.count:
                return False, nxt
        return True, s

    # ------------------------------------------------------------------ placing

    def _earliest(self, task: Task, alt: Alt, t: int) -> tuple[int, int] | None:
        prep = self.prep
        axis_end = prep.axes[alt.cls].work_at(prep.horizon)
        for tid in alt.tools:
            if tid in self.life and alt.cycles.get(tid, 0) > self.life[tid]:
                return None
        for _ in range(10_000):
            s = self._slot(alt.resource, task.order.product, t, alt.dur)
            e = s + alt.dur
            if e > axis_end:
                return None
            ok, retry = self._resources_ok(alt, task.order.product, s, e)
            if ok:
                return s, e
            t = max(retry, s + 1)
        return None

    def _put(self, task: Task, k: int, s: int, e: int) -> None:
        alt = task.alts[k]
        line = self.lines[alt.resource]
        bisect.insort(line.items, (s, e, task.order.product))
        need = alt.crew
        for pi in sorted(alt.pools, key=lambda i: -self.prep.pools[i].size):
            if need <= 0:
                break
            take = min(need, self._room(pi, s, e)[0])
            if take > 0:
                self.pool_use[pi].append((s, e, take))
                need -= take
        for tid in alt.tools:
            self.tool_use[tid].append((s, e, 1))
            if tid in self.life:
                self.life[tid] -= alt.cycles.get(tid, 0)
        self.placed[(task.order.id, task.op)] = (k, s, e)

    def run(self) -> dict[tuple[str, int], tuple[int, int, int]] | None:
        prep = self.prep
        by_order: dict[str, list[Task]] = {}
        for t in prep.tasks:
            by_order.setdefault(t.order.id, []).append(t)
        # Frozen and running work first, where it is.
        for t in prep.tasks:
            if t.fixed is None:
                continue
            ks = [k for k, a in enumerate(t.alts) if a.resource == t.fixed.resource]
            if not ks:
                continue
            a = t.alts[ks[0]]
            axis = prep.axes[a.cls]
            s = 0 if t.running else axis.work_at(prep.unit(t.fixed.start))
            dur = max(1, axis.work_at(prep.unit_ceil(t.fixed.end))) if t.running else a.dur
            self._put(t, ks[0], s, s + dur)
        heap: list[tuple[float, int, str]] = []
        oid: str
        for oid, ts in by_order.items():
            o = ts[0].order
            # Released work keeps its place in the sequence; the rest by due date.
            rel = ts[0].released
            key = rel.start if rel is not None else (o.due if o.due is not None else INF)
            heapq.heappush(heap, (key, -o.priority, oid))
        move = round(prep.problem.objectives.move_penalty_min * 60 / prep.problem.unit_s)
        while heap:
            _due, _prio, oid = heapq.heappop(heap)
            prev_end = 0
            for t in by_order[oid]:
                done = self.placed.get((oid, t.op))
                if done is not None:
                    prev_end = done[2]
                    continue
                best: tuple[int, int, int] | None = None
                score = INF
                for k, a in enumerate(t.alts):
                    gate = prep.axes[a.cls].work_at(t.gate) if t.gate else 0
                    if t.released is not None and a.resource == t.released.resource:
                        # Released work keeps its start where it still can (stability).
                        gate = max(gate, prep.axes[a.cls].work_at(prep.unit(t.released.start)))
                    got = self._earliest(t, a, max(gate, prev_end))
                    if got is None:
                        continue
                    moved = t.released is not None and a.resource != t.released.resource
                    if got[1] + (move if moved else 0) < score:
                        best, score = (k, *got), got[1] + (move if moved else 0)
                if best is None:
                    return None
                self._put(t, *best)
                prev_end = best[2]
        return self.placed


def greedy_plan(prep: Prepared) -> dict[tuple[str, int], tuple[int, int, int]] | None:
    """(order, op) → (alternative index, start, end) in working units, or None when the
    greedy pass could not place everything within the horizon."""
    return Greedy(prep).run()
