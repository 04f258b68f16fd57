"""Store faults (issue 13, finding 12): a damaged or unreadable store exits 2 with a
message naming the file and what to do (systemd does not restart on 2); a store on a
read-only file system is read cleanly; the agent finds latent page damage with a
periodic ``quick_check``; the WAL does not keep growing after a long reader ends."""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from edge.cli import main
from edge.config.line import load_config
from edge.core.errors import StoreUnusable
from edge.logic.model import Quality, Sample
from edge.runtime.agent import Agent
from edge.store import Store
from tests.conftest import example_on_free_ports, make_config, pin_on_stdin, wait_for


def lineside(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "edge.cli", *args], capture_output=True, text=True, timeout=60, cwd=cwd
    )


def filled(path: Path, n: int = 20_000) -> None:
    st = Store(path)
    st.register_tags([("t", "d", "float64", "")])
    st.append_samples([Sample("t", float(i), Quality.GOOD, i, i) for i in range(n)])
    st.checkpoint()
    st.close()


def damage_page(path: Path, table: str) -> None:
    """Overwrite the cell area of ``table``'s root page: reading other tables still works,
    only a check of the pages (or a query of that table) notices."""
    con = sqlite3.connect(path)
    root, page_size = (
        con.execute("SELECT rootpage FROM sqlite_master WHERE name=?", (table,)).fetchone()[0],
        con.execute("PRAGMA page_size").fetchone()[0],
    )
    con.close()
    with open(path, "r+b") as f:
        f.seek((root - 1) * page_size + 100)
        f.write(os.urandom(400))


def test_a_damaged_store_exits_2_naming_the_file_and_what_to_do(tmp_path: Path) -> None:
    cfg = example_on_free_ports(tmp_path)
    store = load_config(cfg).store.path
    store.write_bytes(os.urandom(8192))
    for args in (("status",), ("kpi",), ("order", "list"), ("run", "--duration", "1")):
        r = lineside(args[0], "-c", str(cfg), *args[1:])
        assert r.returncode == 2, (args, r.stderr)
        assert f"{store}: the store is damaged (file is not a database)" in r.stderr, r.stderr
        assert "move the file aside" in r.stderr and "unexpected error" not in r.stderr


def test_a_store_that_cannot_be_opened_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = example_on_free_ports(tmp_path)
    load_config(cfg).store.path.mkdir()  # a directory where the file should be
    assert main(["status", "-c", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert "line1.db: not a file (a store is one SQLite file)" in err and "unexpected" not in err
    with pytest.raises(StoreUnusable, match="not a file"):
        Store(load_config(cfg).store.path)


def _can_mount_read_only() -> bool:
    if shutil.which("unshare") is None or os.geteuid() != 0:
        return False
    r = subprocess.run(["unshare", "-m", "mount", "-t", "tmpfs", "none", "/mnt"], capture_output=True)
    return r.returncode == 0


@pytest.mark.skipif(not _can_mount_read_only(), reason="needs root and mount namespaces (unshare -m)")
def test_a_store_on_a_read_only_file_system_is_read_cleanly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """status, kpi and the dispatch list read it (as immutable: nobody can write there);
    a write is refused with exit 2 saying why."""
    cfg = example_on_free_ports(tmp_path)
    pin_on_stdin(monkeypatch, "1111")  # Anna, badge 1001
    assert main(["order", "start", "-c", str(cfg), "WO-1", "--badge", "1001", "--product", "COLA-500"]) == 0
    d = tmp_path
    script = (
        f"mount --bind -o ro {d} {d} && cd {d} && "
        f"for c in status kpi 'order list'; do {sys.executable} -m edge.cli $c -c {cfg} || exit $?; done; "
        f"echo 1111 | {sys.executable} -m edge.cli order start -c {cfg} WO-2 --badge 1001 --product COLA-500; "
        "echo rc=$?"
    )
    r = subprocess.run(["unshare", "-m", "sh", "-c", script], capture_output=True, text=True, timeout=120)
    assert "mounted read-only" in r.stdout and "DOWNTIME" in r.stdout, r.stdout + r.stderr
    assert r.stdout.rstrip().endswith("rc=2"), r.stdout
    assert "cannot open the store" in r.stderr and "mounted read-only" in r.stderr, r.stderr


def test_quick_check_finds_latent_damage(tmp_path: Path) -> None:
    path = tmp_path / "line.db"
    filled(path)
    st = Store(path)
    assert st.quick_check() == []
    st.close()
    damage_page(path, "samples")
    st = Store(path)  # opens, and current values still read: the damage is latent
    assert st.current_values()[0]["value"] == 19_999.0
    problems = st.quick_check()
    assert problems and "tree page" in problems[0]
    st.close()


async def test_the_agent_checks_the_store_and_reports_damage_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="lineside")
    cfg = make_config([], [], tmp_path, store={"path": str(tmp_path / "line.db"), "quick_check_s": 0.2})
    filled(cfg.store.path)
    damage_page(cfg.store.path, "samples")
    agent = Agent(cfg)
    await agent.start()
    try:
        await wait_for(lambda: any(e["kind"] == "store_damaged" for e in agent.store.events()), timeout=10)
        await asyncio.sleep(1.0)  # several more checks at 0.2 s: still one log line, one event
    finally:
        await agent.stop()
    assert sum("quick_check found damage" in r.getMessage() for r in caplog.records) == 1
    assert [e["kind"] for e in agent.store.events()].count("store_damaged") == 1
    status = agent.store.agent_status()["store_check"]["value"]
    assert status["ok"] is False and "tree page" in status["problems"][0]


def test_the_wal_is_bounded_after_a_long_reader_ends(tmp_path: Path) -> None:
    """While a reader holds its snapshot the WAL must grow (SQLite cannot overwrite what
    it reads); the checkpoint does not wait for it, and once it ends the WAL is cut back
    to nothing, and never above ``journal_size_limit`` after a reset."""
    path = tmp_path / "line.db"
    st = Store(path, wal_limit_bytes=1_000_000)
    assert st.db.execute("PRAGMA journal_size_limit").fetchone()[0] == 1_000_000
    st.register_tags([("t", "d", "string", "")])
    reader = sqlite3.connect(path, isolation_level=None)
    reader.execute("BEGIN")
    reader.execute("SELECT count(*) FROM samples").fetchone()
    blob = "x" * 4000
    for i in range(20):
        st.append_samples([Sample("t", blob, Quality.GOOD, i, i) for _ in range(200)])
    wal = Path(f"{path}-wal")
    grown = wal.stat().st_size
    assert grown > 10_000_000
    done = threading.Event()

    def check() -> None:
        assert st.checkpoint() is False  # the reader still needs the log: skipped, not waited for
        done.set()

    t = threading.Thread(target=check)
    t.start()
    t.join(timeout=2)
    assert done.is_set()
    reader.execute("COMMIT")
    reader.close()
    assert st.checkpoint() is True and wal.stat().st_size == 0
    for i in range(5):  # writing on after an emptied log: it stays below the limit
        st.append_samples([Sample("t", blob, Quality.GOOD, i, i) for _ in range(200)])
        st.db.execute("PRAGMA wal_checkpoint(PASSIVE)")
    assert wal.stat().st_size <= 5_000_000
    st.close()


async def test_the_agent_truncates_the_wal_once_the_reader_is_gone(tmp_path: Path) -> None:
    cfg = make_config([], [], tmp_path, store={"path": str(tmp_path / "line.db"), "checkpoint_s": 0.1})
    agent = Agent(cfg)
    agent.store.register_tags([("t", "d", "string", "")])
    await agent.start()
    try:
        reader = sqlite3.connect(cfg.store.path, isolation_level=None)
        reader.execute("BEGIN")
        reader.execute("SELECT count(*) FROM samples").fetchone()
        for i in range(10):
            agent.store.append_samples([Sample("t", "y" * 4000, Quality.GOOD, i, i) for _ in range(200)])
        wal = Path(f"{cfg.store.path}-wal")
        assert wal.stat().st_size > 5_000_000
        reader.execute("COMMIT")
        reader.close()
        await wait_for(lambda: wal.stat().st_size == 0, timeout=5)
    finally:
        await agent.stop()
