"""Audit trail: append-only entries (who, when, what with old and new value, why, and
the meaning of a signature), each signed with Ed25519 over its content and the previous
entry's signature (``edge.core.auditsig``), so the entries form a chain.

Keys: the private key in ``<store>.audit-signing-key`` (mode 600: only the agent's user
reads it; the operator terminal runs as another user and acts through the agent's
channel, so it can neither read the key nor sign), the public key in
``<store>.audit-key.pub`` (anyone may check the chain with it, the plant's aggregator
included). A store from before Ed25519 keeps its HMAC key in ``<store>.audit-key`` for
its older entries.

The chain's head is also kept outside the store: after each commit that added entries,
a line with the new head (incarnation, seq, signature), itself signed, is appended to
``<store>.audit-heads``. Deleting entries at the end of the chain, or all of them, even
with SQLite's ``sqlite_sequence`` reset so that the numbers carry on as if nothing was
missing, leaves heads there that the chain no longer reaches or no longer matches:
``verify`` reports them. The plant keeps its own anchor (the aggregator verifies each
line's chain as it arrives).
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    load_pem_private_key,
)

from edge.core import auditsig
from edge.core.auditsig import GENESIS

__all__ = ["GENESIS", "MEANINGS", "AuditKeys", "Problem", "append", "entries", "load_key", "verify"]

MEANINGS = ("performed", "reviewed", "approved")


def key_path(store_path: Path) -> Path:
    """The private signing key (mode 600, the agent's user only)."""
    return Path(str(store_path) + ".audit-signing-key")


def public_key_path(store_path: Path) -> Path:
    return Path(str(store_path) + ".audit-key.pub")


def legacy_key_path(store_path: Path) -> Path:
    """The HMAC key of entries signed before Ed25519."""
    return Path(str(store_path) + ".audit-key")


def heads_path(store_path: Path) -> Path:
    return Path(str(store_path) + ".audit-heads")


@dataclass
class AuditKeys:
    """The keys of one store's audit trail: ``private`` only where the agent signs."""

    store_path: Path
    public: Ed25519PublicKey | None
    private: Ed25519PrivateKey | None = None
    legacy: bytes | None = None
    #: Heads committed but not yet appended to the heads file (see :func:`record_heads`).
    pending: list[tuple[str, int, str]] = field(default_factory=list)

    @property
    def public_hex(self) -> str:
        return auditsig.public_hex(self.public) if self.public is not None else ""


def _legacy(store_path: Path) -> bytes | None:
    try:
        return bytes.fromhex(legacy_key_path(store_path).read_text().strip())
    except (OSError, ValueError):
        return None


def load_key(store_path: Path, *, create: bool = True) -> AuditKeys:
    """The signing keys (the agent's): the key pair is created with the first entry."""
    p = key_path(store_path)
    if p.exists():
        private = load_pem_private_key(p.read_bytes(), None)
        if not isinstance(private, Ed25519PrivateKey):
            raise ValueError(f"{p}: not an Ed25519 private key")
    elif not create:
        raise FileNotFoundError(
            f"{p}: audit signing key not found (it is created with the store's first audit entry)"
        )
    else:
        private = Ed25519PrivateKey.generate()
        pem = private.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
        fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(pem)
    keys = AuditKeys(store_path, private.public_key(), private, _legacy(store_path))
    pub = public_key_path(store_path)
    if not pub.exists():
        fd = os.open(pub, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        with os.fdopen(fd, "w") as f:
            f.write(keys.public_hex + "\n")
    return keys


def load_public(store_path: Path) -> AuditKeys:
    """The keys to check a chain with (no private key needed): the public key file, else
    the private key where this user may read it."""
    pub = public_key_path(store_path)
    if pub.exists():
        return AuditKeys(store_path, auditsig.public_key(pub.read_text()), legacy=_legacy(store_path))
    try:
        keys = load_key(store_path, create=False)
    except FileNotFoundError:
        return AuditKeys(store_path, None, legacy=_legacy(store_path))
    keys.private = None
    return keys


def append(
    db: sqlite3.Connection,
    key: AuditKeys,
    *,
    who: str,
    action: str,
    entity: str,
    old: Any = None,
    new: Any = None,
    why: str = "",
    meaning: str | None = None,
    ts: float | None = None,
    incarnation: str = "",
) -> int:
    """Append one entry; call inside the caller's transaction so the audited change and
    its entry commit together. The new head waits in ``key.pending`` for
    :func:`record_heads` after the commit."""
    if meaning is not None and meaning not in MEANINGS:
        raise ValueError(f"signature meaning must be one of {', '.join(MEANINGS)}")
    if key.private is None:
        raise ValueError("no private audit key: only the agent signs audit entries")
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
    mac = auditsig.sign(key.private, prev, seq, row)
    db.execute(
        "INSERT INTO audit (seq, ts, who, action, entity, old, new, why, meaning, prev, mac) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (seq, row["ts"], who, action, entity, row["old"], row["new"], why, meaning, prev, mac),
    )
    key.pending.append((incarnation, int(seq), mac))
    return int(seq)


def record_heads(key: AuditKeys) -> None:
    """After a commit: append the chain's new head, signed, to the heads file outside
    the store (only the last head of the commit: it vouches for the ones before it)."""
    if not key.pending or key.private is None:
        key.pending.clear()
        return
    inc, seq, mac = key.pending[-1]
    key.pending.clear()
    sig = key.private.sign(auditsig.head_body(inc, seq, mac)).hex()
    line = json.dumps({"incarnation": inc, "seq": seq, "mac": mac, "sig": sig}, separators=(",", ":"))
    fd = os.open(heads_path(key.store_path), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o640)
    try:
        os.write(fd, (line + "\n").encode())
    finally:
        os.close(fd)


@dataclass(frozen=True)
class Problem:
    seq: int
    kind: str  # "edited or inserted" | "inserted" | "deleted" | "replaced" | "wiped" | "unverifiable"
    detail: str


def _signed(key: AuditKeys, row: dict[str, Any], after_ed25519: bool) -> bool | None:
    """Whether an entry carries a good signature (None: no key here to tell). An HMAC
    entry after the first Ed25519 one is not taken (the chain switched once, for good)."""
    if auditsig.is_legacy(row["mac"]):
        if after_ed25519:
            return False
        if key.legacy is None:
            return None
        return bool(auditsig.legacy_mac(key.legacy, row["prev"], row["seq"], row) == row["mac"])
    if key.public is None:
        return None
    return auditsig.signed_by(key.public, row["prev"], row["seq"], row, row["mac"])


def verify(db: sqlite3.Connection, key: AuditKeys) -> tuple[int, list[Problem]]:
    """Check the whole chain and the heads kept outside the store; returns (entries
    checked, problems)."""
    problems: list[Problem] = []
    prev, expect_seq, n = GENESIS, 1, 0
    chain: dict[int, str] = {}
    unverifiable = 0
    ed25519 = False
    cols = ("seq", "ts", "who", "action", "entity", "old", "new", "why", "meaning", "prev", "mac")
    for r in db.execute(f"SELECT {', '.join(cols)} FROM audit ORDER BY seq"):
        row = dict(zip(cols, r, strict=True))
        n += 1
        seq = row["seq"]
        chain[seq] = row["mac"]
        if seq > expect_seq:
            problems.append(Problem(expect_seq, "deleted", f"entries {expect_seq}..{seq - 1} are missing"))
        link_ok = row["prev"] == prev
        mac_ok = _signed(key, row, ed25519)
        ed25519 = ed25519 or not auditsig.is_legacy(row["mac"])
        if mac_ok is None:
            unverifiable += 1
            mac_ok = True  # the link is still checked
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
    if unverifiable:
        problems.append(
            Problem(
                0,
                "unverifiable",
                f"{unverifiable} entries could not be checked: their key is not here "
                f"({public_key_path(key.store_path).name} or, for entries from before Ed25519, "
                f"{legacy_key_path(key.store_path).name})",
            )
        )
    top = db.execute("SELECT seq FROM sqlite_sequence WHERE name = 'audit'").fetchone()
    if top and top[0] >= expect_seq:
        problems.append(
            Problem(expect_seq, "deleted", f"entries {expect_seq}..{top[0]} at the end are missing")
        )
    problems += _check_heads(db, key, chain, expect_seq - 1)
    return n, problems


def _incarnation(db: sqlite3.Connection) -> str:
    try:
        row = db.execute("SELECT value FROM meta WHERE key = 'incarnation'").fetchone()
    except sqlite3.OperationalError:
        return ""
    return str(row[0]) if row else ""


def _check_heads(db: sqlite3.Connection, key: AuditKeys, chain: dict[int, str], last: int) -> list[Problem]:
    """Every head recorded outside the store must still be in the chain, unchanged."""
    path = heads_path(key.store_path)
    signed = any(not auditsig.is_legacy(m) for m in chain.values())
    try:
        lines = path.read_text().splitlines()
    except FileNotFoundError:
        if signed:
            return [
                Problem(last, "deleted", f"{path.name}: the chain's heads kept outside the store are missing")
            ]
        return []
    except OSError as e:
        return [Problem(0, "unverifiable", f"{path.name}: cannot read the chain's heads ({e.strerror})")]
    inc = _incarnation(db)
    out: list[Problem] = []
    reached, other = 0, 0
    for i, text in enumerate(lines, 1):
        try:
            h = json.loads(text)
            h_inc, seq, mac, sig = str(h["incarnation"]), int(h["seq"]), str(h["mac"]), str(h["sig"])
        except (ValueError, KeyError, TypeError):
            out.append(Problem(0, "edited or inserted", f"{path.name} line {i}: not a chain head"))
            continue
        if key.public is None or not auditsig.head_signed_by(key.public, h_inc, seq, mac, sig):
            if key.public is not None:
                out.append(
                    Problem(seq, "edited or inserted", f"{path.name} line {i}: head not signed with this key")
                )
            continue
        if h_inc != inc:
            other = max(other, seq)
            continue
        reached = max(reached, seq)
        if seq in chain and chain[seq] != mac:
            out.append(
                Problem(seq, "replaced", "differs from the entry the signed head outside the store recorded")
            )
    if reached > last:
        kind = "wiped" if not chain else "deleted"
        out.append(
            Problem(
                last + 1,
                kind,
                f"entries {last + 1}..{reached} at the end are missing: the signed head outside the store "
                f"says the chain reached {reached}",
            )
        )
    if other:
        out.append(
            Problem(
                0,
                "wiped",
                f"the store was recreated: the chain of the store before it reached {other} "
                f"(move {path.name} aside once that is accounted for)",
            )
        )
    return out


def head(db: sqlite3.Connection) -> tuple[int, str]:
    """(seq, signature) of the chain's last entry; (0, "") for an empty chain."""
    row = db.execute("SELECT seq, mac FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
    return (int(row[0]), str(row[1])) if row else (0, "")


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
