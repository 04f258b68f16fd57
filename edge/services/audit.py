"""The audit trail as people read it: check the signed chain, list the latest entries."""

from __future__ import annotations

from typing import Any

from edge.core.errors import LinesideError
from edge.services.context import Line, config_of
from edge.store import Store
from edge.store import audit as repo

Problem = repo.Problem


def verify(line: Line, store: Store) -> tuple[int, list[Problem]]:
    """(entries checked, problems: edited, inserted or deleted entries)."""
    try:
        key = repo.load_key(config_of(line).store.path, create=False)
    except FileNotFoundError as e:
        raise LinesideError(str(e)) from None
    with store.snapshot():
        return repo.verify(store.db, key)


def entries(store: Store, limit: int = 100) -> list[dict[str, Any]]:
    """The latest ``limit`` entries, oldest first."""
    with store.snapshot():
        return repo.entries(store.db, limit)
