"""The aggregator's PostgreSQL connection is lost (``pg_terminate_backend``, as when the
server restarts or the network drops it) in the middle of a group's transaction. The
aggregator opens a new connection by itself and commits the same group: nothing becomes
a dead letter, no PUBACK goes out before the commit, the fault is logged once and its
recovery once, without the URL's password."""

from __future__ import annotations

import json
import logging
import os
import threading
import uuid
from collections.abc import Iterator

import psycopg
import pytest

from sync.aggregator.db import Database, redact
from sync.aggregator.service import Aggregator
from sync.aggregator.store import AggregatorStore
from tests.sync.conftest import PG_ADMIN, agg_config, wait

REF = {"enterprise": "acme", "site": "test", "area": "a1", "line": "l1"}
KEY = "acme/test/a1/l1"
TOPIC = f"lineside/v1/{KEY}/events"


def events(after: int, seq: int) -> bytes:
    return json.dumps(
        {
            "v": 1,
            "line": REF,
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


@pytest.fixture
def store_url() -> Iterator[str]:
    """A PostgreSQL database of this test alone, dropped afterwards."""
    name = f"lineside_reconnect_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    try:
        admin = psycopg.connect(PG_ADMIN, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as e:
        pytest.skip(f"PostgreSQL not reachable at {PG_ADMIN} ({e}); set LINESIDE_TEST_PG")
    admin.execute(f"CREATE DATABASE {name}")
    try:
        yield PG_ADMIN.rsplit("/", 1)[0] + f"/{name}"
    finally:
        admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.close()


def terminate(url: str, pid: int) -> None:
    with psycopg.connect(url, autocommit=True) as c:
        c.execute("SELECT pg_terminate_backend(%s)", (pid,))


class Acks:
    """Where the aggregator's PUBACKs go, with the records the store held at each."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.sent: list[tuple[int, int]] = []

    def ack(self, mid: int, qos: int) -> None:
        with psycopg.connect(self.url, autocommit=True) as c:
            row = c.execute("SELECT count(*) FROM records WHERE line = %s", (KEY,)).fetchone()
        self.sent.append((mid, int(row[0]) if row else -1))


def test_a_connection_lost_mid_group_is_reopened_and_the_group_committed_once(
    store_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="lineside.aggregator")
    agg = Aggregator(agg_config(1, store_url, lines=[REF]))
    acks = Acks(store_url)
    agg._process([(acks, 1, 1, TOPIC, events(0, 1))])
    # Another session holds the stream's progress row: the aggregator's next group waits
    # inside its transaction, and its backend is terminated there.
    other = psycopg.connect(store_url)
    other.execute("SELECT contiguous FROM progress WHERE line = %s AND stream = 'events' FOR UPDATE", (KEY,))
    pid = agg.store.db.conn.info.backend_pid
    worker = threading.Thread(target=agg._process, args=([(acks, 2, 1, TOPIC, events(1, 2))],))
    worker.start()

    def waiting() -> bool:
        with psycopg.connect(store_url, autocommit=True) as c:
            row = c.execute("SELECT count(*) FROM pg_locks WHERE pid = %s AND NOT granted", (pid,)).fetchone()
        return bool(row and row[0])

    wait(waiting, 30)
    terminate(store_url, pid)
    wait(lambda: agg.store.db.reconnects >= 1 or not worker.is_alive(), 30)
    assert acks.sent == [(1, 1)], "nothing acknowledged while the group is not committed"
    other.rollback()
    other.close()
    worker.join(30)
    assert not worker.is_alive()
    assert agg.store.db.conn.info.backend_pid != pid
    assert agg.counts["store_reconnects"] == 1 and agg.counts["store_up"] == 1
    assert acks.sent == [(1, 1), (2, 2)], "acknowledged after the commit, once"
    # An idle connection lost between groups: the next group opens a new one.
    terminate(store_url, agg.store.db.conn.info.backend_pid)
    agg._process([(acks, 3, 1, TOPIC, events(2, 3))])
    assert acks.sent[-1] == (3, 3)
    st = AggregatorStore(store_url)
    try:
        assert st.dead_letter_counts() == {}
        assert [r["seq"] for r in st.records(KEY, "events")] == [1, 2, 3]
        assert st.ack(KEY, "events") == 3
    finally:
        st.close()
    msgs = [r.getMessage() for r in caplog.records if r.name == "lineside.aggregator"]
    lost = [m for m in msgs if m.startswith("plant store: connection lost")]
    recovered = [m for m in msgs if "plant store commits recovered" in m]
    assert len(lost) == 2 and len(recovered) == 2, msgs  # once each per outage
    assert "terminating connection due to administrator command" in lost[0]
    agg.store.close()


def test_the_commands_loop_shares_the_connection_and_reopens_it_too(store_url: str) -> None:
    agg = Aggregator(agg_config(1, store_url, lines=[REF]))
    agg.store.add_command("c1", KEY, "order", {}, 1.0)
    terminate(store_url, agg.store.db.conn.info.backend_pid)
    # The first statement after the loss fails (it cannot know); the next one reconnects.
    with pytest.raises(psycopg.OperationalError):
        agg.store.commands_to_send(2.0, 1.0)
    assert [c[0] for c in agg.store.commands_to_send(2.0, 1.0)] == ["c1"]
    agg.store.close()


def test_a_store_closed_on_purpose_is_not_reopened(store_url: str) -> None:
    db = Database(store_url)
    db.close()
    with pytest.raises(psycopg.OperationalError):
        db.query("SELECT 1")
    assert not db.lost(psycopg.OperationalError("the connection is closed"))


def test_logs_name_no_password() -> None:
    url = "postgresql://lineside:s3cr%40t@db.plant:5432/plant"
    text = f"connection to {url} failed: password s3cr@t refused (s3cr%40t)"
    out = redact(text, url)
    assert "s3cr" not in out and "(the plant store URL)" in out
    assert redact("x", "/var/lib/plant.db") == "x"
