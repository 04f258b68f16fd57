"""Retained state the uplink publishes beside the streams: the line's status (online,
machine state, running order, last data, backlog, devices; the last will says
offline), the running order with the dispatch list, the shift KPIs with their downtime
Pareto, the active SPC alarms and the inspections due for the running order. Read through ``edge.services``, encoded with the
protocol's payload models."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

from edge.services.uplink import UplinkFeed
from sync.protocol import (
    CurrentOrder,
    DueInspection,
    InspectionsDue,
    LineRef,
    LineStatus,
    ShiftKpi,
    Topics,
    encode,
)
from sync.protocol.payloads import MAX_DUE_INSPECTIONS

MAX_ALARMS = 50


class StatePublisher:
    def __init__(self, topics: Topics, ref: LineRef, agent_name: str) -> None:
        self.topics = topics
        self.ref = ref
        self.agent_name = agent_name
        self._last_shift: str | None = None

    def offline(self, wall: float) -> tuple[str, bytes]:
        """The status saying the line is offline (the last will, and a clean stop)."""
        return self.topics.state("status"), encode(
            LineStatus(line=self.ref, online=False, ts=wall, agent=self.agent_name)
        )

    def messages(
        self, feed: UplinkFeed, acked: Mapping[str, int], wall: float
    ) -> Iterator[tuple[str, bytes]]:
        """(topic, payload) of every retained state message, computed one at a time so
        that a report that cannot be computed does not hold back the ones before it."""
        details = feed.status_details(acked)
        yield (
            self.topics.state("status"),
            encode(LineStatus(line=self.ref, online=True, ts=wall, agent=self.agent_name, **details)),
        )
        yield self.topics.state("current_order"), encode(CurrentOrder(ts=wall, **feed.current_order()))
        reports, self._last_shift = feed.shift_kpis(wall, previous=self._last_shift)
        for key, rep in reports:
            yield self.topics.state("shift_kpi"), kpi_payload(key, rep, wall)
        alarms = feed.active_alarms()
        if alarms is not None:
            body = {"v": 1, "ts": wall, "active": alarms[:MAX_ALARMS], "count": len(alarms)}
            yield self.topics.state("alarms"), json.dumps(body).encode()
        due = feed.inspections_due(wall)
        if due is not None:
            yield self.topics.state("inspections"), inspections_payload(due, wall)


def kpi_payload(shift: str | None, rep: dict[str, Any], now: float) -> bytes:
    """A shift's KPIs with the downtime Pareto (by reason and loss, longest first)."""
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


def inspections_payload(due: list[dict[str, Any]], now: float) -> bytes:
    """The inspections due now (as ``edge.services.inspections.due`` lists them, overdue
    first), the first :data:`MAX_DUE_INSPECTIONS` of them, and how many in all."""
    items = [
        DueInspection(
            plan=d["plan"],
            order_id=d["order"],
            product=d["product"],
            due_at=d["due_at"],
            reason=d["reason"],
            overdue=d["overdue"],
        )
        for d in due[:MAX_DUE_INSPECTIONS]
    ]
    return encode(InspectionsDue(ts=now, due=items, count=len(due)))
