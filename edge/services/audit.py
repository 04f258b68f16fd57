"""The audit trail as people read it: check the signed chain, list the latest entries."""

from __future__ import annotations

from typing import Any

from edge.core.errors import LinesideError
from edge.services.context import Line, config_of
from edge.store import Store
from edge.store import audit as repo

Problem = repo.Problem


def verify(line: Line, store: Store) -> tuple[int, list[Problem]]:
    """(entries checked, problems: edited, inserted, deleted entries, a cut-off end or a
    wipe against the signed heads kept outside the store). Needs the public key only."""
    keys = repo.load_public(config_of(line).store.path)
    with store.snapshot():
        n, problems = repo.verify(store.db, keys)
    if keys.public is None and n and not problems:
        raise LinesideError(
            f"{repo.public_key_path(config_of(line).store.path)}: the audit trail's public key is not here"
        )
    return n, problems


def public_key(line: Line) -> str:
    """The audit trail's public key (64 hex digits): give it to the plant's aggregator
    (``lines[].audit_key``) and to anyone who checks the chain."""
    path = config_of(line).store.path
    keys = repo.load_public(path)
    if keys.public is None:
        raise LinesideError(
            f"{repo.public_key_path(path)}: no audit key yet (the agent creates it with the first audit entry)"
        )
    return keys.public_hex


def entries(store: Store, limit: int = 100) -> list[dict[str, Any]]:
    """The latest ``limit`` entries, oldest first."""
    with store.snapshot():
        return repo.entries(store.db, limit)
