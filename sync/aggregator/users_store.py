"""SQL of the plant users' lockout (``sync.aggregator.users``): failed logins are audit
entries of ``web_audit`` (action ``login.failed``), so the lockout state is the audit log
itself — one record for the web view and the command line, across processes."""

from __future__ import annotations

from sync.aggregator.store import AggregatorStore

FAILED = "login.failed"
"""A wrong password or credential (counted)."""
LOCKED = "login.locked"
"""An attempt while the user was locked (not counted, the password not even checked)."""


def last_success(store: AggregatorStore, who: str) -> float | None:
    """When ``who`` last did something (logged in, or acted) that was not a failed or
    refused login."""
    rows = store.query(
        "SELECT max(ts) FROM web_audit WHERE who = ? AND action NOT IN (?, ?)", (who, FAILED, LOCKED)
    )
    return float(rows[0][0]) if rows and rows[0][0] is not None else None


def failures(store: AggregatorStore, who: str, since: float) -> list[float]:
    """Times of the failed logins of ``who`` after ``since``, oldest first."""
    rows = store.query(
        "SELECT ts FROM web_audit WHERE who = ? AND action = ? AND ts > ? ORDER BY ts", (who, FAILED, since)
    )
    return [float(r[0]) for r in rows]
