"""The uplink's way into a line's store: everything the MQTT uplink reads and writes at
the line, as use cases over the store's repositories. ``sync.uplink`` reaches the store
only through this module.

One :class:`UplinkFeed` per uplink thread, with its own store connection: stream rows
after a sequence (in the order of ``edge.store.streams``), the tag table, last
sequences, the durable cursors, what the retained state reports (status details, the
running order and dispatch list, shift KPIs, active SPC alarms, inspections due), the
uplink's own
status for ``lineside status``, and commands from the plant.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from edge.config.line import LineConfig
from edge.config.production import build_calendar, line_machine
from edge.services import commands, inspections, production, status
from edge.services.commands import PlantCommand
from edge.services.context import effective_config
from edge.store import STREAMS, Store, streams
from edge.store import audit as audit_repo
from edge.store.streams import SCHEMAS

__all__ = ["STREAMS", "CommandIn", "UplinkFeed"]


class CommandIn(Protocol):
    """A command from the plant as the uplink decoded it."""

    @property
    def id(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def issued_at(self) -> float: ...
    @property
    def body(self) -> dict[str, Any]: ...


class UplinkFeed:
    """A line's store as the uplink sees it (not thread-safe: one per uplink thread)."""

    def __init__(self, cfg: LineConfig) -> None:
        self.cfg = cfg
        self.store = Store(cfg.store.path)
        self._machine = line_machine(cfg)

    def close(self) -> None:
        self.store.close()

    # ------------------------------------------------------------------ streams and cursors

    @property
    def streams(self) -> tuple[str, ...]:
        return STREAMS

    def wire_fields(self, stream: str) -> tuple[str, ...]:
        """Wire field names of a stream's rows, in the order :meth:`rows` returns them."""
        return streams.schema(stream).fields

    def vias(self, stream: str) -> tuple[str, ...]:
        """How each field's stored value becomes its wire value ("" for as stored)."""
        return tuple(c.via for c in SCHEMAS[stream].columns)

    def rows(self, stream: str, after: int, limit: int) -> list[tuple[Any, ...]]:
        return streams.read_after(self.store, stream, after, limit)

    def tags(self) -> dict[int, tuple[str, str]]:
        """Tag id → (name, type): how the samples' ``tag_id`` and ``value`` go on the wire."""
        return {i: (n, t) for i, n, t in self.store.tags()}

    def last_seqs(self) -> dict[str, int]:
        return streams.last_seqs(self.store)

    def incarnation(self) -> str:
        """The store's incarnation id: batches carry it, acks must name it."""
        return self.store.incarnation()

    def cursors(self) -> dict[str, tuple[int, int]]:
        """(sent_seq, acked_seq) per stream as last made durable."""
        out = {}
        for s in STREAMS:
            c = self.store.cursor(s)
            out[s] = (c["sent_seq"], c["acked_seq"])
        return out

    def advance_cursors(self, cursors: Mapping[str, tuple[int, int]]) -> None:
        """Make (sent_seq, acked_seq) durable; a cursor never moves backwards."""
        self.store.advance_cursors(dict(cursors))

    # ------------------------------------------------------------------ retained state

    def status_details(self, acked: Mapping[str, int]) -> dict[str, Any]:
        """State of the line's OEE machine, running order, last data, backlog against
        ``acked`` (the aggregator's acks per stream), PLC connection states."""
        lasts = self.last_seqs()
        with self.store.snapshot():
            audit_seq, audit_mac = audit_repo.head(self.store.db)
        return {
            "incarnation": self.store.incarnation(),
            "audit_seq": audit_seq,
            "audit_mac": audit_mac,
            "state": production.machine_state(self.store, self._machine) if self._machine else None,
            "order": production.current_order(self.store)[0],
            "last_data": status.last_data(self.store),
            "backlog": sum(max(0, last - acked.get(s, 0)) for s, last in lasts.items()),
            "devices": {d: v["state"] for d, v in self.store.device_status().items()},
        }

    def line_state(self) -> str | None:
        """State of the line's OEE machine (None without one, or before any): cheap
        enough to ask after every commit."""
        return production.machine_state(self.store, self._machine) if self._machine else None

    def current_order(self) -> dict[str, Any]:
        """The running order (order, product, since) and the dispatch list."""
        order, product, since = production.current_order(self.store)
        return {
            "order": order,
            "product": product,
            "since": since,
            "dispatch": production.dispatch_list(self.store),
        }

    def shift_kpis(
        self, now: float, *, previous: str | None
    ) -> tuple[list[tuple[str | None, dict[str, Any]]], str | None]:
        """KPI reports to publish, as (shift key, report): the current shift's and, after
        a shift change, the finished shift ``previous`` once more with its final figures;
        the last 24 h for a line without a shift calendar. Also returns the current
        shift's key (pass it back as ``previous``). Nothing for a line without machines."""
        if not self.cfg.machines:
            return [], previous
        cfg = effective_config(self.cfg, self.store)
        if not cfg.shifts.patterns:
            return [(None, production.kpi_report(cfg, self.store, since=now - 86400, now=now))], None
        cur = build_calendar(cfg.shifts, cfg.line.timezone).shift_at(now)
        keys: list[str | None] = []
        if previous and (cur is None or cur.key != previous):
            keys.append(previous)
        if cur is not None:
            keys.append(cur.key)
        reports = [(k, production.kpi_report(cfg, self.store, shift=k, now=now)) for k in keys]
        return reports, cur.key if cur is not None else None

    def active_alarms(self) -> list[dict[str, Any]] | None:
        """Unacknowledged SPC alarms, newest first; None for a line without SPC."""
        if not self.cfg.characteristics:
            return None
        return production.spc_alarms(self.cfg, self.store)

    def inspections_due(self, now: float) -> list[dict[str, Any]] | None:
        """Inspections due for the running order now, overdue ones first (each: plan,
        order, product, due_at, reason, overdue); None for a line without inspection
        plans."""
        if not self.cfg.inspections:
            return None
        return inspections.due(self.cfg, self.store, now)

    def write_agent_status(self, uplink: dict[str, Any]) -> None:
        """The uplink's state for ``lineside status`` and the terminal."""
        self.store.set_agent_status({"uplink": uplink})

    # ------------------------------------------------------------------ commands in

    def apply_command(self, cmd: CommandIn, *, now: float | None = None) -> tuple[bool, str]:
        """Apply a command from the plant (idempotent on its id): (accepted, reason)."""
        res = commands.apply_command(
            self.cfg, self.store, PlantCommand(cmd.id, cmd.kind, cmd.issued_at, cmd.body), now=now
        )
        return res.accepted, res.reason
