"""Signatures of the audit trail (pure, no I/O): what an entry's signature covers, and
signing and checking it with Ed25519.

Each entry is signed over (previous entry's signature, seq, ts, who, action, entity,
old, new, why, meaning), so the entries form a chain. Ed25519 (RFC 8032) rather than a
shared HMAC key: whoever holds the public key (``lineside audit key``) can check the
chain, the plant's aggregator included, and only the holder of the private key (the
agent's user) can extend it. Entries written before signatures were Ed25519 carry a
64-hex-digit HMAC-SHA256 instead (:func:`is_legacy`), checked with the old key when it
is still at hand.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

GENESIS = "0" * 64
#: The fields an entry's signature covers, after ``prev`` and ``seq``.
FIELDS = ("ts", "who", "action", "entity", "old", "new", "why", "meaning")


def entry_body(prev: str, seq: int, row: dict[str, Any]) -> bytes:
    """The bytes an entry's signature covers."""
    return json.dumps([prev, seq, *(row[f] for f in FIELDS)], separators=(",", ":"), sort_keys=True).encode()


def is_legacy(mac: str) -> bool:
    """An entry signed with the old HMAC-SHA256 (64 hex digits; Ed25519's are 128)."""
    return len(mac) == 64


def sign(key: Ed25519PrivateKey, prev: str, seq: int, row: dict[str, Any]) -> str:
    return key.sign(entry_body(prev, seq, row)).hex()


def legacy_mac(key: bytes, prev: str, seq: int, row: dict[str, Any]) -> str:
    return hmac.new(key, entry_body(prev, seq, row), hashlib.sha256).hexdigest()


def public_key(raw_hex: str) -> Ed25519PublicKey:
    """A public key from its 64 hex digits (``lineside audit key``); ValueError if not one."""
    try:
        raw = bytes.fromhex(raw_hex.strip())
    except ValueError:
        raise ValueError("an audit public key is 64 hex digits") from None
    if len(raw) != 32:
        raise ValueError("an audit public key is 64 hex digits")
    return Ed25519PublicKey.from_public_bytes(raw)


def public_hex(key: Ed25519PublicKey) -> str:
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    return key.public_bytes(Encoding.Raw, PublicFormat.Raw).hex()


def signed_by(key: Ed25519PublicKey, prev: str, seq: int, row: dict[str, Any], sig: str) -> bool:
    """Whether ``sig`` is ``key``'s signature of the entry."""
    try:
        key.verify(bytes.fromhex(sig), entry_body(prev, seq, row))
    except (InvalidSignature, ValueError):
        return False
    return True


def head_body(incarnation: str, seq: int, mac: str) -> bytes:
    """What a chain head kept outside the store signs: the chain reached ``seq`` with
    the entry signed ``mac``."""
    return f"lineside-audit-head|{incarnation}|{seq}|{mac}".encode()


def head_signed_by(key: Ed25519PublicKey, incarnation: str, seq: int, mac: str, sig: str) -> bool:
    try:
        key.verify(bytes.fromhex(sig), head_body(incarnation, seq, mac))
    except (InvalidSignature, ValueError):
        return False
    return True
