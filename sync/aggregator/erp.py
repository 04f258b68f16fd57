"""ERP confirmations up: what each completed order did — good, scrap by reason, start,
end, run and down time, material consumed per lot, lots produced — and, where the ERP
wants it, what each line and each order active in it did per shift or per clock hour,
sent to the ERP exactly once.

A period (shift or hour) is queued once it has ended *and* the plant holds the line's
data up to its end (:meth:`ErpExporter.covered_to`): a line offline at the period's end
gets no short confirmation; its periods wait until it has sent what it recorded.

Exactly once is built from two halves. *Queued once*: a completed order's confirmation
gets an idempotency key derived from the line and the order (``uuid5``), and the outbox
row is inserted with that key as primary key, so however often the exporter looks —
several aggregator instances, a restart after SIGKILL — it is queued once. *Written
once*: the row is marked sent only after the ERP acknowledged it (a 2xx answer; for the
file outbox, the file renamed into place), so nothing is lost; a crash between the
acknowledgement and the mark sends it again with the same ``Idempotency-Key`` header
(and the same file name), which the ERP uses to write it once. Failures are retried
with exponential backoff (``retry_min_s`` doubling up to ``retry_max_s``).
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from edge.config.production import build_calendar
from edge.logic.production.shifts import ShiftCalendar
from sync.aggregator import erp_store as repo
from sync.aggregator.config import AggregatorConfig, ErpCfg
from sync.aggregator.store import AggregatorStore

log = logging.getLogger("lineside.aggregator.erp")

#: Namespace of the confirmations' idempotency keys.
KEYS = uuid.UUID("6f1c1c9e-5a53-4c39-9a55-3b7f3f2d1e19")


def confirmation_key(line: str, order_id: str, kind: str = "order", period: str = "") -> str:
    """The idempotency key of a confirmation: the same for the same line, order (empty
    for a line's period confirmation), kind and period."""
    name = f"{kind}\n{line}\n{order_id}" + (f"\n{period}" if period else "")
    return "conf-" + uuid.uuid5(KEYS, name).hex


#: At most this many periods of a line are queued per step (a long outage catches up over steps).
MAX_PERIODS_PER_STEP = 200


def hour_name(start: float) -> str:
    return datetime.fromtimestamp(start, UTC).strftime("%Y-%m-%dT%H:00Z")


def periods(
    kind: str, after: float, until: float, calendar: ShiftCalendar | None = None
) -> list[tuple[str, float, float]]:
    """(name, start, end) of the periods of ``kind`` ending in (after, until], oldest
    first: whole UTC hours (``2026-12-01T06:00Z``), or the calendar's shift instances
    (``2026-12-01/early``)."""
    out: list[tuple[str, float, float]] = []
    if kind == "hour":
        s = (after // 3600) * 3600
        while s + 3600 <= until and len(out) < MAX_PERIODS_PER_STEP:
            out.append((hour_name(s), s, s + 3600))
            s += 3600
    elif kind == "shift" and calendar is not None:
        for inst in sorted(calendar.instances_between(after, until), key=lambda i: (i.end, i.start)):
            if after < inst.end <= until:
                out.append((inst.key, inst.start, inst.end))
        out = out[:MAX_PERIODS_PER_STEP]
    return out


def time_in_states(changes: list[tuple[float, str]], start: float, end: float) -> dict[str, float]:
    """Seconds per state of a machine in [start, end], from its (ts, new state) changes
    (the state at ``start`` is the last change before it)."""
    out: dict[str, float] = {}
    state: str | None = None
    t = start
    for ts, new in changes:
        if ts <= start:
            state = new
            continue
        if ts >= end:
            break
        if state is not None:
            out[state] = out.get(state, 0.0) + ts - t
        state, t = new, ts
    if state is not None and end > t:
        out[state] = out.get(state, 0.0) + end - t
    return {k: round(v, 3) for k, v in out.items()}


def _split(counts: list[tuple[Any, ...]]) -> tuple[dict[str, int], dict[str, int]]:
    good_by: dict[str, int] = {}
    scrap_by: dict[str, int] = {}
    for machine, reason, g, s in counts:
        good_by[machine] = good_by.get(machine, 0) + int(g or 0)
        if s:
            scrap_by[reason or "unspecified"] = scrap_by.get(reason or "unspecified", 0) + int(s)
    return good_by, scrap_by


def _output(good_by: dict[str, int], configured: str | None) -> str | None:
    """The line's output machine: ``lines[].machine`` when configured, else the machine
    that counted the most good parts."""
    if configured:
        return configured
    return max(good_by, key=lambda m: (good_by[m], m)) if good_by else None


def _figures(
    store: AggregatorStore,
    line: str,
    facts: dict[str, Any],
    machine: str | None,
    start: float,
    end: float,
) -> dict[str, Any]:
    """Good, scrap by reason, run and down time, lots consumed and produced."""
    good_by, scrap_by = _split(facts["counts"])
    states = time_in_states(repo.state_changes(store, line, machine, end), start, end) if machine else {}
    return {
        "machine": machine,
        "good": good_by.get(machine, 0) if machine else 0,
        "scrap": sum(scrap_by.values()),
        "scrap_by_reason": dict(sorted(scrap_by.items())),
        "run_s": states.get("running", 0.0),
        "down_s": round(sum(v for k, v in states.items() if k != "running"), 3),
        "time_by_state_s": dict(sorted(states.items())),
        "consumed": [
            {"material": mat, "lot": lot, "quantity": abs(float(q))} for mat, lot, q in facts["consumed"]
        ],
        # (PostgreSQL sums a BIGINT column as a numeric: back to a JSON number.)
        "lots_produced": [{"lot": lot, "kind": k, "quantity": int(q)} for lot, k, q in facts["produced"]],
    }


def build(
    store: AggregatorStore,
    line: str,
    order_id: str,
    product: str | None,
    start: float,
    end: float,
    machine: str | None = None,
) -> dict[str, Any]:
    """The confirmation of one completed order, from what the plant store holds. Good
    parts are the output machine's (``machine``, else the one that counted the most);
    scrap is every machine's (a part scrapped anywhere is lost)."""
    facts = repo.order_facts(store, line, order_id)
    out = _output(_split(facts["counts"])[0], machine)
    return {
        "confirmation_id": confirmation_key(line, order_id),
        "kind": "order",
        "line": line,
        "order_id": order_id,
        "product": product,
        "start": start,
        "end": end,
    } | _figures(store, line, facts, out, start, end)


def build_period(
    store: AggregatorStore,
    line: str,
    kind: str,
    period: str,
    start: float,
    end: float,
    machine: str | None = None,
) -> list[dict[str, Any]]:
    """The confirmations of one period of a line: the line's (``order_id`` null), then
    one per order active in it (its good, scrap, lots with ``start <= ts < end``; its run
    and down time within ``active_start``..``active_end``, the part of the period the
    order ran). Nothing when the line did nothing the plant knows of in the period."""
    facts = repo.facts(store, line, start=start, end=end)
    out = _output(_split(facts["counts"])[0], machine)
    fig = _figures(store, line, facts, out, start, end)
    orders = repo.active_orders(store, line, start, end)
    if not (facts["counts"] or facts["consumed"] or facts["produced"] or fig["time_by_state_s"] or orders):
        return []
    head = {"kind": kind, "period": period, "line": line, "start": start, "end": end}
    bodies = [
        {"confirmation_id": confirmation_key(line, "", kind, period), "order_id": None, "product": None}
        | head
        | fig
        | {"orders": [o[0] for o in orders]}
    ]
    for order_id, product, first, last, completed in orders:
        ofacts = repo.facts(store, line, order_id=order_id, start=start, end=end)
        omachine = _output(repo.good_by_machine(store, line, order_id, end), machine) or out
        a = max(start, first) if first is not None else start
        b = min(end, last) if completed and last is not None else end
        b = max(a, b)
        bodies.append(
            {"confirmation_id": confirmation_key(line, order_id, kind, period)}
            | head
            | {"order_id": order_id, "product": product, "active_start": a, "active_end": b}
            | _figures(store, line, ofacts, omachine, a, b)
        )
    return bodies


class Delivery(Exception):
    """The ERP did not acknowledge a confirmation (retried later)."""


class ErpExporter:
    """Queues confirmations of completed orders (and closed periods) and sends what is due; call
    :meth:`step` periodically (the aggregator does, every ``erp.interval_s``)."""

    def __init__(self, cfg: AggregatorConfig, store: AggregatorStore) -> None:
        assert cfg.erp is not None
        self.erp: ErpCfg = cfg.erp
        self.cfg = cfg
        self.store = store
        self.calendar = (
            build_calendar(self.erp.calendar, self.erp.timezone) if self.erp.calendar is not None else None
        )
        self.sent = 0
        self.failed = 0

    def queue(self, now: float) -> int:
        n = 0
        if "order" in self.erp.periods:
            machines = {ln.key: ln.machine for ln in self.cfg.lines}
            rows = []
            # Sent confirmations are pruned after retention.erp_sent_days: an order completed
            # before that would be queued again (its confirmation gone), so it is not looked at.
            ret = self.cfg.retention
            after = now - ret.erp_sent_days * 86400 if ret is not None else None
            for line, order_id, product, first, last in repo.unconfirmed_orders(self.store, after):
                body = build(self.store, line, order_id, product, first, last, machines.get(line))
                rows.append((body["confirmation_id"], line, order_id, "order", body))
            if rows:
                repo.add(self.store, rows, now)
            n += len(rows)
        for kind in ("shift", "hour"):
            if kind in self.erp.periods:
                n += self.queue_periods(kind, now)
        return n

    def queue_periods(self, kind: str, now: float) -> int:
        """Queue every period of ``kind`` that has ended and whose line's data the plant
        holds up to its end, each line's in order, each period's rows and the line's
        cursor in one transaction (two instances queue the same rows under the same keys)."""
        n = 0
        start_at = self.erp.periods_from.timestamp() if self.erp.periods_from is not None else now
        for ln in self.cfg.lines:
            after = repo.period_cursor(self.store, ln.key, kind, start_at, now)
            due = periods(kind, after, now, self.calendar)
            if not due:
                continue
            covered = self.covered_to(ln.key, now)
            for name, s, e in due:
                if covered is None or covered < e:
                    log.debug(
                        "ERP %s %s of %s waits: the plant holds its data up to %s",
                        kind,
                        name,
                        ln.key,
                        covered,
                    )
                    break
                bodies = build_period(self.store, ln.key, kind, name, s, e, ln.machine)
                rows = [(b["confirmation_id"], ln.key, b["order_id"] or "", kind, b) for b in bodies]
                repo.add(self.store, rows, now, period=(ln.key, kind, e))
                n += len(rows)
        return n

    def covered_to(self, line: str, now: float) -> float | None:
        """How far the plant holds the line's data (line clock, epoch s), never going back:

        * every stream of the line's current store incarnation has, at its contiguous
          point (nothing missing before it), a record at or after that time; or
        * the line, online, last reported at that time that nothing it had recorded
          was unacknowledged (``backlog`` 0 in its status: the aggregator had committed
          everything), which covers streams that were quiet.
        """
        cands = []
        heads = repo.stream_heads(self.store, line)
        if heads and all(ts is not None for _, ts in heads):
            cands.append(min(float(ts) for _, ts in heads if ts is not None))
        st = repo.line_status(self.store, line)
        if st is not None and st[0] and st[2] == 0:
            cands.append(st[1])
        known = repo.coverage(self.store, line)
        best = max(cands) if cands else None
        if best is not None and (known is None or best > known):
            repo.set_coverage(self.store, line, best, now)
            return best
        return known

    def send_due(self, now: float) -> int:
        """Send what is due, in order, if this instance is the sender (several instances
        on one PostgreSQL store queue the same rows, but only one sends them, so an ERP
        never gets the same confirmation from two at once)."""
        n = 0
        if not repo.hold_sender(self.store):
            return 0
        for cid, body, attempts in repo.due(self.store, now):
            try:
                self.deliver(cid, body)
            except Delivery as e:
                self.failed += 1
                wait = min(self.erp.retry_max_s, self.erp.retry_min_s * 2**attempts)
                repo.mark_failed(self.store, cid, now + wait, str(e))
                log.warning("ERP confirmation %s not delivered (%s); retry in %.1f s", cid, e, wait)
                break  # the endpoint is down: the rest waits for the next step, in order
            repo.mark_sent(self.store, cid, time.time())
            self.sent += 1
            n += 1
        return n

    def step(self, now: float | None = None) -> tuple[int, int]:
        now = now if now is not None else time.time()
        return self.queue(now), self.send_due(now)

    def deliver(self, cid: str, body: dict[str, Any]) -> None:
        data = json.dumps(body, sort_keys=True).encode()
        if self.erp.outbox_dir is not None:
            self._write_file(cid, data)
        if self.erp.url is not None:
            self._post(cid, data)

    def _write_file(self, cid: str, data: bytes) -> None:
        d = Path(self.erp.outbox_dir or ".")
        try:
            d.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=d, prefix=".tmp-", suffix=".json")
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, d / f"{cid}.json")
        except OSError as e:
            raise Delivery(f"outbox {d}: {e}") from None

    def _post(self, cid: str, data: bytes) -> None:
        headers = {"Content-Type": "application/json", "Idempotency-Key": cid}
        if self.erp.token_env and os.environ.get(self.erp.token_env):
            headers["Authorization"] = f"Bearer {os.environ[self.erp.token_env]}"
        req = urllib.request.Request(str(self.erp.url), data=data, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(req, timeout=self.erp.timeout_s) as resp:
                status = resp.status
        except urllib.error.HTTPError as e:
            raise Delivery(f"HTTP {e.code} {e.reason}") from None
        except (urllib.error.URLError, OSError) as e:
            raise Delivery(str(getattr(e, "reason", e))) from None
        if not 200 <= status < 300:
            raise Delivery(f"HTTP {status}")
