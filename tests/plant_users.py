"""Plant users for tests of `lineside aggregator …` commands: one per role, a web:
section to put in an aggregator config, and the password on stdin as a script pipes it."""

from __future__ import annotations

import io
from typing import Any

import pytest

from sync.aggregator.users import hash_password

PASSWORD = "plant-pass-1"
#: Few iterations: the tests check who may do what, not the hash's cost.
PASSWORD_HASH = hash_password(PASSWORD, salt=b"s" * 16, iterations=1000)
USERS = {
    "paula": "planner",
    "quinn": "quality",
    "mia": "maintenance",
    "vic": "viewer",
    "max": "manager",
    "ada": "admin",
}


def web_users(**extra: Any) -> dict[str, Any]:
    """An aggregator config's ``web:`` section with a user of every role (password :data:`PASSWORD`)."""
    users = [{"name": n, "role": r, "password_hash": PASSWORD_HASH} for n, r in USERS.items()]
    return {"users": users, **extra}


def password_on_stdin(monkeypatch: pytest.MonkeyPatch, password: str = PASSWORD, times: int = 1) -> None:
    """What a script pipes into `lineside aggregator … --user NAME`: the password."""
    monkeypatch.setattr("sys.stdin", io.StringIO((password + "\n") * times))
