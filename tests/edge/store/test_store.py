"""The SQLite store: migrations, append-only samples, current values, cursors, retention,
and crash safety under SIGKILL."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from edge.core.errors import StoreError
from edge.logic.model import Quality, Sample
from edge.store import Store
from edge.store.migrations import MIGRATIONS


def make(tmp_path: Path) -> Store:
    st = Store(tmp_path / "s.db")
    st.register_tags([("a", "d", "float32", "g"), ("b", "d", "string", ""), ("c", "d", "int64", "")])
    return st


def test_wal_mode_and_migrations_recorded_once(tmp_path: Path) -> None:
    st = make(tmp_path)
    assert st.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    st.close()
    st = Store(tmp_path / "s.db")  # reopening applies nothing new
    names = [r[0] for r in st.db.execute("SELECT name FROM _migrations")]
    # Each once (the table's order is its key's; the file's order is the landing order).
    assert sorted(names) == sorted(n for n, _ in MIGRATIONS) and len(set(names)) == len(names)


def test_one_per_tag_index_on_samples(tmp_path: Path) -> None:
    """The hot table's indexes append, but for the trace's (``m019_trace_index``): a
    per-tag index costs every insert (measured in bench/sync.py, README Benchmarks), so
    there is that one, covering what the trace reads, and no other."""
    st = make(tmp_path)
    cols = {
        name: [r[2] for r in st.db.execute(f"PRAGMA index_info({name!r})")]
        for (name,) in st.db.execute(
            "SELECT name FROM sqlite_master WHERE type='index' AND tbl_name='samples'"
        )
    }
    assert cols.pop("samples_trace") == ["tag_id", "ts", "seq", "value", "quality"]
    assert all("tag_id" not in c for c in cols.values())


def test_append_keeps_types_and_updates_current_values(tmp_path: Path) -> None:
    st = make(tmp_path)
    big = 2**62 + 1  # not representable as a double
    last = st.append_samples(
        [
            Sample("a", 1.5, Quality.GOOD, 10.0, 10.1),
            Sample("a", 2.5, Quality.GOOD, 11.0, 11.1),
            Sample("b", "COLA", Quality.GOOD, 10.0, 10.1),
            Sample("c", big, Quality.GOOD, 10.0, 10.1),
        ]
    )
    assert last == 4
    cur = {v["tag"]: v for v in st.current_values()}
    assert cur["a"]["value"] == 2.5 and cur["a"]["seq"] == 2 and cur["a"]["quality"] == "good"
    assert cur["b"]["value"] == "COLA"
    assert cur["c"]["value"] == big
    hist = list(st.history("a", since=10.5))
    assert [h["value"] for h in hist] == [2.5]


def test_bad_quality_and_arrays_round_trip(tmp_path: Path) -> None:
    st = make(tmp_path)
    st.register_tags([("arr", "d", "float32", "")])
    st.append_samples([Sample("arr", [1.0, 2.5], Quality.GOOD, 1, 1), Sample("a", None, Quality.BAD, 2, 2)])
    cur = {v["tag"]: v for v in st.current_values()}
    assert cur["arr"]["value"] == [1.0, 2.5]
    assert cur["a"]["value"] is None and cur["a"]["quality"] == "bad"


def test_sequences_never_reused_after_retention_empties_table(tmp_path: Path) -> None:
    st = make(tmp_path)
    st.append_samples([Sample("a", i, Quality.GOOD, 1.0, 1.0) for i in range(10)])
    st.advance_cursor("samples", sent_seq=10, acked_seq=10)
    st.apply_retention(max_age_s=0, max_bytes=10**12, now=100.0)
    assert st.count("samples") == 0
    assert st.append_samples([Sample("a", 1, Quality.GOOD, 2.0, 2.0)]) == 11


def test_retention_removes_only_acknowledged_rows(tmp_path: Path) -> None:
    st = make(tmp_path)
    st.append_samples([Sample("a", i, Quality.GOOD, float(i), float(i)) for i in range(100)])
    # Nothing acknowledged: nothing removed, however old and however large.
    assert st.apply_retention(max_age_s=0, max_bytes=0, now=1e9) == {}
    assert st.count("samples") == 100
    st.advance_cursor("samples", sent_seq=60, acked_seq=40)
    st.apply_retention(max_age_s=0, max_bytes=0, now=1e9)
    remaining = [r[0] for r in st.db.execute("SELECT seq FROM samples ORDER BY seq")]
    assert remaining == list(range(41, 101))


def test_retention_by_age_keeps_recent_acknowledged_rows(tmp_path: Path) -> None:
    st = make(tmp_path)
    st.append_samples([Sample("a", i, Quality.GOOD, float(i), float(i)) for i in range(100)])
    st.advance_cursor("samples", acked_seq=100)
    st.apply_retention(max_age_s=30, max_bytes=10**12, now=100.0)
    assert st.db.execute("SELECT min(seq) FROM samples").fetchone()[0] == 71


def test_cursor_never_moves_backwards(tmp_path: Path) -> None:
    st = make(tmp_path)
    st.advance_cursor("samples", sent_seq=10, acked_seq=5)
    st.advance_cursor("samples", sent_seq=3, acked_seq=2)
    assert st.cursor("samples") == {"sent_seq": 10, "acked_seq": 5}
    with pytest.raises(StoreError, match="unknown stream"):
        st.cursor("nope")


def test_writes_are_recorded_durably(tmp_path: Path) -> None:
    st = make(tmp_path)
    seq = st.record_write("a", 3.0, "op:17", "requested", reason="andon")
    st.record_write("a", 3.0, "op:17", "ok", ref_seq=seq)
    assert [w["outcome"] for w in st.writes()] == ["requested", "ok"]
    assert st.writes()[1]["ref_seq"] == seq


def test_readonly_store_refuses_missing_file(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="no store here yet"):
        Store(tmp_path / "missing.db", readonly=True)


WRITER = textwrap.dedent(
    """
    import asyncio, sys, time
    from edge.logic.model import Quality, Sample
    from edge.store import Store
    from edge.store.writer import SampleWriter

    async def main(path, batch):
        st = Store(path)
        st.register_tags([("t%d" % i, "d", "int32", "") for i in range(50)])
        start = st.db.execute("SELECT coalesce(max(CAST(value AS INTEGER)), -1) FROM samples").fetchone()[0] + 1
        w = SampleWriter(st, max_rows=batch, max_latency=10)
        w.start()
        n = start
        print("ready", flush=True)
        while True:
            # one batch = `batch` rows whose value is the batch number
            w.put_many([Sample("t%d" % (i % 50), n, Quality.GOOD, time.time(), time.time()) for i in range(batch)])
            await w.flush()
            n += 1

    asyncio.run(main(sys.argv[1], int(sys.argv[2])))
    """
)


def test_sigkill_mid_batch_leaves_whole_batches_and_intact_db(tmp_path: Path) -> None:
    """Kill a writing process at arbitrary moments: integrity_check is ok and every batch
    in the file is complete (a batch is one transaction)."""
    db = tmp_path / "crash.db"
    batch = 3000
    kills = 0
    for delay in (0.35, 0.6, 0.9, 0.45):
        proc = subprocess.Popen(
            [sys.executable, "-c", WRITER, str(db), str(batch)],
            stdout=subprocess.PIPE,
            cwd=Path(__file__).parents[3],
        )
        assert proc.stdout is not None and proc.stdout.readline().strip() == b"ready"
        time.sleep(delay)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        kills += 1
    con = sqlite3.connect(db)
    assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    counts = con.execute("SELECT value, count(*) FROM samples GROUP BY value").fetchall()
    assert counts, "the writer committed some batches before being killed"
    assert all(c == batch for _v, c in counts), [c for c in counts if c[1] != batch][:5]
    # Sequences are dense: no hole left by a half-written batch.
    lo, hi, n = con.execute("SELECT min(seq), max(seq), count(*) FROM samples").fetchone()
    assert hi - lo + 1 == n
    assert kills == 4


async def test_writer_keeps_samples_while_the_disk_refuses_and_recovers(tmp_path: Path) -> None:
    """A failing commit keeps the batch in memory (bounded) and the next flush stores it."""
    from edge.store.writer import SampleWriter

    st = make(tmp_path)
    w = SampleWriter(st, max_rows=10, max_latency=0.01, max_pending=25)
    real = st.append_samples
    calls = {"n": 0}

    def failing(batch, facts=()):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        raise sqlite3.OperationalError("database or disk is full")

    st.append_samples = failing  # type: ignore[method-assign]
    w.put_many([Sample("a", i, Quality.GOOD, float(i), float(i)) for i in range(30)])
    await w.flush()
    assert calls["n"] == 1 and w.pending == 25 and w.dropped == 5
    st.append_samples = real  # type: ignore[method-assign]
    await w.flush()
    assert w.pending == 0 and st.count("samples") == 25
    assert [h["value"] for h in st.history("a")] == list(range(5, 30))


def test_failed_commit_does_not_leave_a_transaction_open(tmp_path: Path) -> None:
    """SQLite's error leaves the store as its own StoreError, after the rollback."""
    st = make(tmp_path)
    st.db.execute("CREATE TRIGGER boom BEFORE INSERT ON events BEGIN SELECT RAISE(ABORT, 'disk full'); END")
    with pytest.raises(StoreError, match="disk full"):
        st.append_event("x", "y", "z")
    assert not st.db.in_transaction
    st.db.execute("DROP TRIGGER boom")
    assert st.append_event("x", "y", "z") > 0


def test_every_append_only_table_is_a_registered_stream(tmp_path: Path) -> None:
    """Tables with an AUTOINCREMENT sequence are the streams the uplink ships; the
    registry and the schema must agree, so a new table is never silently left behind."""
    from edge.store import STREAMS

    st = Store(tmp_path / "s.db")
    tables = {
        name
        for name, sql in st.db.execute("SELECT name, sql FROM sqlite_master WHERE type = 'table'")
        if sql and "AUTOINCREMENT" in sql.upper()
    }
    assert tables == set(STREAMS)


@pytest.mark.parametrize("n", [1, 7, 8, 9, 63, 64, 65, 137, 1000])
def test_batches_of_any_size_keep_order_sequences_and_the_latest_current_value(
    tmp_path: Path, n: int
) -> None:
    """Batches are inserted with multi-row statements of 64 and 8 rows and single rows for
    the rest: every row lands once, in order, with consecutive sequences, and each tag's
    current value is its last row in the batch."""
    st = make(tmp_path)
    st.append_samples([Sample("c", -1, Quality.GOOD, 0.0, 0.0)])
    tags = ("a", "b", "c")
    batch = [
        Sample(
            tags[i % 3], f"v{i}" if i % 3 == 1 else i * 1.5 if i % 3 == 0 else i, Quality(i % 2), i, i + 0.5
        )
        for i in range(n)
    ]
    last = st.append_samples(batch)
    assert last == n + 1
    rows = st.db.execute(
        "SELECT seq, tag_id, ts, ts_recv, value, quality FROM samples WHERE seq > 1 ORDER BY seq"
    ).fetchall()
    ids = {t: st.tag_id(t) for t in tags}
    assert rows == [
        (i + 2, ids[s.tag], s.ts, s.ts_recv, s.value, int(s.quality)) for i, s in enumerate(batch)
    ]
    cur = {v["tag"]: v for v in st.current_values()}
    for t in tags:
        mine = [(i, s) for i, s in enumerate(batch) if s.tag == t]
        if not mine:
            assert t != "c" or cur["c"]["value"] == -1
            continue
        i, s = mine[-1]
        got = cur[t]
        assert (got["value"], got["quality"], got["ts"], got["ts_recv"], got["seq"]) == (
            s.value,
            s.quality.label,
            s.ts,
            s.ts_recv,
            i + 2,
        )
