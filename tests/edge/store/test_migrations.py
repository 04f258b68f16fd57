"""Store migrations under concurrency."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

from edge.store import migrations


def test_connections_migrating_a_new_store_at_once_all_succeed(tmp_path: Path) -> None:
    """The agent and the terminal (or the CLI) start together on a store that does not
    exist yet: each sees the migrations pending, one applies them, the others wait for
    the write lock and then skip what was applied meanwhile instead of failing on it."""
    for i in range(5):
        path = tmp_path / f"s{i}.db"
        init = sqlite3.connect(path, isolation_level=None)
        init.execute("PRAGMA journal_mode=WAL")
        init.close()
        barrier = threading.Barrier(3)
        errors: list[BaseException] = []

        def migrate(
            path: Path = path, barrier: threading.Barrier = barrier, errors: list[BaseException] = errors
        ) -> None:
            db = sqlite3.connect(path, isolation_level=None, timeout=30, check_same_thread=False)
            try:
                barrier.wait()
                migrations.apply(db)
            except BaseException as e:
                errors.append(e)
            finally:
                db.close()

        threads = [threading.Thread(target=migrate) for _ in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert errors == []
        db = sqlite3.connect(path)
        names = [r[0] for r in db.execute("SELECT name FROM _migrations ORDER BY id")]
        db.close()
        assert names == [name for name, _fn in migrations.MIGRATIONS]
