"""ERP confirmations up: what each completed order did — good, scrap by reason, start,
end, run and down time, material consumed per lot, lots produced — sent to the ERP
exactly once.

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
from pathlib import Path
from typing import Any

from sync.aggregator import erp_store as repo
from sync.aggregator.config import AggregatorConfig, ErpCfg
from sync.aggregator.store import AggregatorStore

log = logging.getLogger("lineside.aggregator.erp")

#: Namespace of the confirmations' idempotency keys.
KEYS = uuid.UUID("6f1c1c9e-5a53-4c39-9a55-3b7f3f2d1e19")


def confirmation_key(line: str, order_id: str, kind: str = "order") -> str:
    """The idempotency key of a confirmation: the same for the same line, order and kind."""
    return "conf-" + uuid.uuid5(KEYS, f"{kind}\n{line}\n{order_id}").hex


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


def build(
    store: AggregatorStore, line: str, order_id: str, product: str | None, start: float, end: float
) -> dict[str, Any]:
    """The confirmation of one completed order, from what the plant store holds."""
    facts = repo.order_facts(store, line, order_id)
    good_by: dict[str, int] = {}
    scrap_by: dict[str, int] = {}
    for machine, reason, g, s in facts["counts"]:
        good_by[machine] = good_by.get(machine, 0) + int(g or 0)
        if s:
            scrap_by[reason or "unspecified"] = scrap_by.get(reason or "unspecified", 0) + int(s)
    # Good parts are the output machine's (the one that counted the most: the line's
    # end); scrap is every machine's (a part scrapped anywhere is lost).
    machine = max(good_by, key=lambda m: (good_by[m], m)) if good_by else None
    good = good_by.get(machine, 0) if machine else 0
    scrap = sum(scrap_by.values())
    states = time_in_states(repo.state_changes(store, line, machine, end), start, end) if machine else {}
    return {
        "confirmation_id": confirmation_key(line, order_id),
        "kind": "order",
        "line": line,
        "order_id": order_id,
        "product": product,
        "start": start,
        "end": end,
        "machine": machine,
        "good": good,
        "scrap": scrap,
        "scrap_by_reason": dict(sorted(scrap_by.items())),
        "run_s": states.get("running", 0.0),
        "down_s": round(sum(v for k, v in states.items() if k != "running"), 3),
        "time_by_state_s": dict(sorted(states.items())),
        "consumed": [
            {"material": mat, "lot": lot, "quantity": abs(float(q))} for mat, lot, q in facts["consumed"]
        ],
        "lots_produced": [{"lot": lot, "kind": k, "quantity": q} for lot, k, q in facts["produced"]],
    }


class Delivery(Exception):
    """The ERP did not acknowledge a confirmation (retried later)."""


class ErpExporter:
    """Queues confirmations of completed orders and sends what is due; call
    :meth:`step` periodically (the aggregator does, every ``erp.interval_s``)."""

    def __init__(self, cfg: AggregatorConfig, store: AggregatorStore) -> None:
        assert cfg.erp is not None
        self.erp: ErpCfg = cfg.erp
        self.store = store
        self.sent = 0
        self.failed = 0

    def queue(self, now: float) -> int:
        rows = []
        for line, order_id, product, first, last in repo.unconfirmed_orders(self.store):
            body = build(self.store, line, order_id, product, first, last)
            rows.append((body["confirmation_id"], line, order_id, "order", body))
        if rows:
            repo.add(self.store, rows, now)
        return len(rows)

    def send_due(self, now: float) -> int:
        n = 0
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
