"""Reliability of assets (pure), with the textbook definitions:

* MTBF = total up time / number of failures, up time = observed period − repair time;
* MTTR = total repair (down) time / number of failures;
* MTTA = mean time from the failure to its acknowledgement (maintenance approving the
  work order raised for it);
* inherent availability A = MTBF / (MTBF + MTTR) = up time / observed period;
* expected next failure = end of the last failure + MTBF (as Odoo Maintenance estimates
  it: the mean interval, assuming a constant failure rate — no Weibull fit);
* mean time between preventive services = mean interval between the completion times
  of consecutive preventive or condition-based orders of an asset.

A failure is a ``down`` stop of a machine that is not a micro-stop (from the PLC's fault
state, so it needs no one to book it), or a corrective order on an asset that has no
such stop (a component, a request without a stop), repaired for the time it was worked
on. Its failure mode is the problem code of the corrective order booked against the stop,
else the stop's reason, else ``uncoded``. The line and the plant build this list from the
same records with :func:`failures`, so their figures agree.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from edge.logic.maintenance.workorders import WorkOrder


@dataclass(frozen=True)
class Failure:
    asset: str
    start: float
    end: float
    mode: str = "uncoded"
    ack: float | None = None

    @property
    def repair_s(self) -> float:
        return max(0.0, self.end - self.start)


@dataclass(frozen=True)
class Stop:
    """A machine stop as the downtime table holds it (latest version)."""

    event_id: str
    machine: str
    start: float
    end: float | None
    state: str
    micro: bool = False
    reason: str | None = None


def failures(stops: Iterable[Stop], orders: Mapping[str, WorkOrder], now: float) -> list[Failure]:
    """The failure list of the module docstring; an open stop counts up to ``now``."""
    by_stop = {wo.stop_event: wo for wo in orders.values() if wo.stop_event and wo.type == "corrective"}
    out: list[Failure] = []
    # A stop cut in parts (a reason imposed while it lasted, a clock step) is one failure:
    # parts of one machine that follow each other without a gap are joined.
    merged: list[tuple[Stop, float, list[str], str | None]] = []
    for s in sorted(stops, key=lambda s: (s.machine, s.start)):
        if s.state != "down" or s.micro:
            continue
        end = s.end if s.end is not None else now
        if end <= s.start:
            continue
        last = merged[-1] if merged else None
        if last is not None and last[0].machine == s.machine and abs(s.start - last[1]) < 0.001:
            merged[-1] = (last[0], end, [*last[2], s.event_id], last[3] or s.reason)
        else:
            merged.append((s, end, [s.event_id], s.reason))
    for s, end, ids, reason in merged:
        wo = next((by_stop[i] for i in ids if i in by_stop), None)
        mode = (wo.problem if wo else None) or reason or "uncoded"
        out.append(Failure(s.machine, s.start, end, mode, wo.approved_at if wo else None))
    for wo in orders.values():
        if wo.type != "corrective" or wo.stop_event or wo.state == "cancelled":
            continue
        worked = sum((e if e is not None else now) - b for b, e in wo.working)
        start = wo.failure_start if wo.failure_start is not None else wo.created
        out.append(Failure(wo.asset, start, start + worked, wo.problem or "uncoded", wo.approved_at))
    return sorted(out, key=lambda f: (f.start, f.asset))


@dataclass(frozen=True)
class Reliability:
    failures: int
    period_s: float
    down_s: float
    mtbf_s: float | None
    mttr_s: float | None
    mtta_s: float | None
    availability: float | None
    next_failure: float | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "failures": self.failures,
            "period_h": self.period_s / 3600,
            "down_h": self.down_s / 3600,
            "mtbf_h": None if self.mtbf_s is None else self.mtbf_s / 3600,
            "mttr_h": None if self.mttr_s is None else self.mttr_s / 3600,
            "mtta_h": None if self.mtta_s is None else self.mtta_s / 3600,
            "availability": self.availability,
            "next_failure": self.next_failure,
        }


def reliability(fails: list[Failure], start: float, end: float) -> Reliability:
    """Figures over the observed period ``[start, end]`` (failures are clipped to it)."""
    period = max(0.0, end - start)
    clipped = [(max(f.start, start), min(f.end, end), f) for f in fails if f.end > start and f.start < end]
    n = len(clipped)
    down = sum(max(0.0, e - b) for b, e, _ in clipped)
    acks = [f.ack - f.start for _, _, f in clipped if f.ack is not None and f.ack >= f.start]
    if n == 0:
        return Reliability(0, period, 0.0, None, None, None, 1.0 if period > 0 else None, None)
    mtbf = (period - down) / n
    mttr = down / n
    avail = mtbf / (mtbf + mttr) if mtbf + mttr > 0 else None
    last_end = max(e for _, e, _ in clipped)
    return Reliability(
        n, period, down, mtbf, mttr, sum(acks) / len(acks) if acks else None, avail, last_end + mtbf
    )


def by_asset(
    fails: list[Failure], start: float, end: float, assets: Iterable[str] = ()
) -> dict[str, Reliability]:
    """Figures per asset (every asset in ``assets`` appears, failed or not)."""
    groups: dict[str, list[Failure]] = {a: [] for a in assets}
    for f in fails:
        groups.setdefault(f.asset, []).append(f)
    return {a: reliability(fs, start, end) for a, fs in sorted(groups.items())}


def by_mode(fails: list[Failure], start: float, end: float) -> dict[tuple[str, str], Reliability]:
    """Figures per (asset, failure mode)."""
    groups: dict[tuple[str, str], list[Failure]] = {}
    for f in fails:
        groups.setdefault((f.asset, f.mode), []).append(f)
    return {k: reliability(fs, start, end) for k, fs in sorted(groups.items())}


def pareto(fails: list[Failure]) -> list[dict[str, Any]]:
    """Failure modes by total repair time, then count, largest first."""
    agg: dict[str, dict[str, Any]] = {}
    for f in fails:
        a = agg.setdefault(f.mode, {"mode": f.mode, "count": 0, "down_h": 0.0})
        a["count"] += 1
        a["down_h"] += f.repair_s / 3600
    return sorted(agg.values(), key=lambda a: (-a["down_h"], -a["count"], a["mode"]))


def between_services(orders: Iterable[WorkOrder]) -> dict[str, float | None]:
    """Mean hours between completed preventive/condition orders, per asset."""
    done: dict[str, list[float]] = {}
    for wo in orders:
        if wo.type in ("preventive", "condition") and wo.state == "done" and wo.finished_at is not None:
            done.setdefault(wo.asset, []).append(wo.finished_at)
    out: dict[str, float | None] = {}
    for asset, ts in sorted(done.items()):
        ts.sort()
        out[asset] = (ts[-1] - ts[0]) / (len(ts) - 1) / 3600 if len(ts) > 1 else None
    return out


def backlog_hours(orders: Iterable[WorkOrder]) -> float:
    """Estimated hours of open work left (estimates less labour booked)."""
    return sum(wo.remaining_h for wo in orders if wo.open)
