"""Audit trail: append-only entries (who, when, what with old and new value, why, and
the meaning of a signature), each chained to the previous one with HMAC-SHA256.

The key lives in a file beside the store (``<store>.audit-key``, mode 600), so someone
who can edit the database but not read the key cannot forge a consistent chain.
``verify`` reports every edited, inserted or deleted entry, including deletions at the
end (SQLite's AUTOINCREMENT counter remembers the highest sequence ever issued).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

GENESIS = "0" * 64
MEANINGS = ("performed", "reviewed", "approved")


def key_path(store_path: Path) -> Path:
    return Path(str(store_path) + ".audit-key")


def load_key(store_path: Path, *, create: bool = True) -> bytes:
    p = key_path(store_path)
    if p.exists():
        return bytes.fromhex(p.read_text().strip())
    if not create:
        raise FileNotFoundError(
            f"{p}: audit key not found (it is created with the store's first audit entry)"
        )
    key = secrets.token_bytes(32)
    fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(key.hex())
    return key


def _mac(key: bytes, prev: str, seq: int, row: dict[str, Any]) -> str:
    body = json.dumps(
        [
            prev,
            seq,
            row["ts"],
            row["who"],
            row["action"],
            row["entity"],
            row["old"],
            row["new"],
            row["why"],
            row["meaning"],
        ],
        separators=(",", ":"),
        sort_keys=True,
    )
    return hmac.new(key, body.encode(), hashlib.sha256).hexdigest()


def append(
    db: sqlite3.Connection,
    key: bytes,
    *,
    who: str,
    action: str,
    entity: str,
    old: Any = None,
    new: Any = None,
    why: str = "",
    meaning: str | None = None,
    ts: float | None = None,
) -> int:
    """Append one entry; call inside the caller's transaction so the audited change and
    its entry commit together."""
    if meaning is not None and meaning not in MEANINGS:
        raise ValueError(f"signature meaning must be one of {', '.join(MEANINGS)}")
    last = db.execute("SELECT seq, mac FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
    prev = last[1] if last else GENESIS
    seq = (
        db.execute(
            "SELECT coalesce(max(seq), 0) FROM (SELECT seq FROM sqlite_sequence WHERE name = 'audit' UNION ALL SELECT max(seq) FROM audit)"
        ).fetchone()[0]
        + 1
    )
    row = {
        "ts": ts if ts is not None else time.time(),
        "who": who,
        "action": action,
        "entity": entity,
        "old": json.dumps(old, sort_keys=True, default=str) if old is not None else None,
        "new": json.dumps(new, sort_keys=True, default=str) if new is not None else None,
        "why": why,
        "meaning": meaning,
    }
    db.execute(
        "INSERT INTO audit (seq, ts, who, action, entity, old, new, why, meaning, prev, mac) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            seq,
            row["ts"],
            who,
            action,
            entity,
            row["old"],
            row["new"],
            why,
            meaning,
            prev,
            _mac(key, prev, seq, row),
        ),
    )
    return int(seq)


@dataclass(frozen=True)
class Problem:
    seq: int
    kind: str  # "edited or inserted" | "inserted" | "deleted"
    detail: str


def verify(db: sqlite3.Connection, key: bytes) -> tuple[int, list[Problem]]:
    """Check the whole chain; returns (entries checked, problems)."""
    problems: list[Problem] = []
    prev, expect_seq, n = GENESIS, 1, 0
    cols = ("seq", "ts", "who", "action", "entity", "old", "new", "why", "meaning", "prev", "mac")
    for r in db.execute(f"SELECT {', '.join(cols)} FROM audit ORDER BY seq"):
        row = dict(zip(cols, r, strict=True))
        n += 1
        seq = row["seq"]
        if seq > expect_seq:
            problems.append(Problem(expect_seq, "deleted", f"entries {expect_seq}..{seq - 1} are missing"))
        link_ok = row["prev"] == prev
        mac_ok = hmac.compare_digest(row["mac"], _mac(key, row["prev"], seq, row))
        if not mac_ok and link_ok:
            # Content and signature disagree: changed after signing, or added by someone
            # without the key; the evidence cannot tell which.
            problems.append(Problem(seq, "edited or inserted", "content does not match its signature"))
        elif not mac_ok:
            problems.append(
                Problem(
                    seq, "inserted", "not signed with this store's key and not linked to the previous entry"
                )
            )
        elif not link_ok and seq == expect_seq:
            problems.append(Problem(seq, "deleted", "the entry before it was removed or replaced"))
        prev, expect_seq = row["mac"], seq + 1
    top = db.execute("SELECT seq FROM sqlite_sequence WHERE name = 'audit'").fetchone()
    if top and top[0] >= expect_seq:
        problems.append(
            Problem(expect_seq, "deleted", f"entries {expect_seq}..{top[0]} at the end are missing")
        )
    return n, problems


def entries(db: sqlite3.Connection, limit: int = 100) -> list[dict[str, Any]]:
    cols = ("seq", "ts", "who", "action", "entity", "old", "new", "why", "meaning")
    rows = db.execute(f"SELECT {', '.join(cols)} FROM audit ORDER BY seq DESC LIMIT ?", (limit,)).fetchall()
    return [dict(zip(cols, r, strict=True)) for r in reversed(rows)]


def session_events(db: sqlite3.Connection, entity: str, actions: tuple[str, ...]) -> list[tuple[float, str]]:
    """(ts, action) of the entries about ``entity`` with one of ``actions`` since the last
    successful login to it, oldest first (what the login lockout is derived from)."""
    marks = ", ".join("?" for _ in actions)
    rows = db.execute(
        f"SELECT ts, action FROM audit WHERE entity = ? AND action IN ({marks}) "
        "AND seq > (SELECT coalesce(max(seq), 0) FROM audit WHERE entity = ? AND action = 'operator.login') "
        "ORDER BY seq",
        (entity, *actions, entity),
    ).fetchall()
    return [(float(t), str(a)) for t, a in rows]
