"""Two aggregator instances on one PostgreSQL store can deadlock each other (each
commits a group of messages locking several streams' progress rows). The deadlock is
PostgreSQL's, real: a second connection plays the other instance. The victim's group is
committed again, whole: no message becomes a dead letter, none is acknowledged to the
broker before its records are committed."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from sync.aggregator.db import transient
from sync.aggregator.service import Aggregator
from sync.aggregator.store import AggregatorStore
from tests.sync.conftest import agg_config, wait

REFS = [{"enterprise": "acme", "site": "test", "area": "a1", "line": n} for n in ("l1", "l2")]
KEYS = ["acme/test/a1/l1", "acme/test/a1/l2"]


def events(ref: dict[str, str], after: int, seq: int) -> bytes:
    return json.dumps(
        {
            "v": 1,
            "line": ref,
            "stream": "events",
            "after_seq": after,
            "first_seq": seq,
            "last_seq": seq,
            "sent_at": 0.0,
            "records": [
                {"seq": seq, "ts": 1.0, "kind": "k", "source": "s", "message": f"m{seq}", "data": None}
            ],
        }
    ).encode()


class Acks:
    """Where the aggregator's PUBACKs go (the paho client's ``ack``), with what the
    plant store held for each line when each went out."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.sent: list[tuple[int, list[int]]] = []

    def ack(self, mid: int, qos: int) -> None:
        with psycopg.connect(self.url, autocommit=True) as c:
            held = [
                int(c.execute("SELECT count(*) FROM records WHERE line = %s", (k,)).fetchone()[0])  # type: ignore[index]
                for k in KEYS
            ]
        self.sent.append((mid, held))


@pytest.fixture
def store_url(pg_database: str) -> Iterator[str]:
    st = AggregatorStore(pg_database)
    st.reset()
    st.close()
    yield pg_database


def test_a_deadlock_between_instances_is_retried_and_never_dead_lettered(store_url: str) -> None:
    cfg = agg_config(1, store_url, lines=REFS)
    agg = Aggregator(cfg)
    acks = Acks(store_url)
    topics = [f"lineside/v1/{k}/events" for k in KEYS]
    # seq 1 of both lines first: their progress rows exist.
    agg._process(
        [(acks, 1, 1, topics[0], events(REFS[0], 0, 1)), (acks, 2, 1, topics[1], events(REFS[1], 0, 1))]
    )
    other = psycopg.connect(store_url)
    other.execute(
        "SET deadlock_timeout = '30s'"
    )  # this side waits; the aggregator detects, and is the victim
    lock = "SELECT contiguous FROM progress WHERE line = %s AND stream = 'events' FOR UPDATE"
    other.execute(lock, (KEYS[1],))  # the other instance holds line 2
    group: list[Any] = [
        (acks, 4, 1, topics[1], events(REFS[1], 1, 2)),
        (acks, 3, 1, topics[0], events(REFS[0], 1, 2)),
    ]
    worker = threading.Thread(target=agg._process, args=(group,))
    worker.start()  # locks line 1 (topic order), then waits for line 2

    pid = agg.store.db.conn.info.backend_pid

    def waiting() -> bool:
        with psycopg.connect(store_url, autocommit=True) as c:
            row = c.execute("SELECT count(*) FROM pg_locks WHERE pid = %s AND NOT granted", (pid,)).fetchone()
        return bool(row and row[0])

    wait(waiting, 30)
    failed: list[BaseException] = []

    def other_takes_line_1() -> None:
        try:
            other.execute(lock, (KEYS[0],))  # the cycle: PostgreSQL aborts the aggregator's transaction
            other.commit()
        except BaseException as e:
            failed.append(e)

    t = threading.Thread(target=other_takes_line_1)
    t.start()
    t.join(60)
    worker.join(60)
    other.close()
    assert not failed, failed
    assert agg.counts["retries"] >= 1  # it was the victim, and committed the group again
    st = AggregatorStore(store_url)
    try:
        assert st.dead_letter_counts() == {}
        assert [st.ack(k, "events") for k in KEYS] == [2, 2]
    finally:
        st.close()
    # PUBACKs in arrival order, each after its group was committed (both lines at seq 2).
    assert [m for m, _ in acks.sent] == [1, 2, 4, 3]
    assert [h for _, h in acks.sent[2:]] == [[2, 2], [2, 2]]
    agg.store.close()


def test_transient_says_which_database_errors_mean_run_it_again(store_url: str) -> None:
    with psycopg.connect(store_url, autocommit=True) as c:
        with pytest.raises(psycopg.Error) as bad:
            c.execute("SELECT 1/0")
        assert not transient(bad.value)  # a data error: the message's own fault
        c.execute("SET lock_timeout = '10ms'")
        with psycopg.connect(store_url) as holder:
            holder.execute("LOCK TABLE progress IN EXCLUSIVE MODE")
            with pytest.raises(psycopg.Error) as locked:
                c.execute(
                    "INSERT INTO progress (line, stream, incarnation, contiguous, highest, updated) VALUES ('x', 'y', '', 0, 0, 0)"
                )
            assert transient(locked.value)  # 55P03 lock not available
