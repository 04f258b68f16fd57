"""MQTT fixtures: a private mosquitto per test (tests may kill and restart it), a private
nats-server with its MQTT listener, and aggregator/line configs pointing at them.
Without mosquitto (or nats-server) the tests fail with the install command rather than
skipping silently."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
import pytest

from sync.aggregator.config import AggregatorConfig
from tests.conftest import LINE
from tests.mqtt_rig import MOSQUITTO_HINT, Mosquitto, mosquitto_binary
from tests.nats_rig import NATS_BINARY, NATS_HINT, NatsServer

LINE_KEY = "acme/test/a1/l1"
TAGS = [{"name": f"t{i}", "device": "plc", "address": f"hr:{i * 2}", "type": "float32"} for i in range(5)]
DEVICE = [{"name": "plc", "protocol": "modbus_tcp", "host": "127.0.0.1", "port": 1}]


def wait(pred: Callable[[], object], timeout: float = 20.0) -> None:
    """Poll ``pred`` until it is truthy; fail the test after ``timeout`` s."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return
        time.sleep(0.05)
    raise AssertionError(f"condition not met within {timeout} s")


PG_ADMIN = os.environ.get("LINESIDE_TEST_PG", "postgresql://root@127.0.0.1:5432/postgres")


@pytest.fixture
def mosquitto(tmp_path: Path) -> Iterator[Mosquitto]:
    if mosquitto_binary() is None:
        pytest.fail(MOSQUITTO_HINT)
    b = Mosquitto(tmp_path / "broker")
    b.start()
    try:
        yield b
    finally:
        b.stop()


@pytest.fixture
def nats(tmp_path: Path) -> Iterator[NatsServer]:
    """A private nats-server with its MQTT listener (``nats.mqtt_port``)."""
    if not os.access(NATS_BINARY, os.X_OK):
        pytest.fail(NATS_HINT)
    b = NatsServer(tmp_path / "nats")
    b.start()
    try:
        yield b
    finally:
        b.stop()


def agg_config(port: int, target: str, **extra: Any) -> AggregatorConfig:
    store = {"url": target} if target.startswith("postgres") else {"path": target}
    data = {
        "mqtt": {"port": port, "client_id": "agg-test", "keepalive_s": 5},
        "store": store,
        "lines": [{k: LINE[k] for k in ("enterprise", "site", "area", "line")}],
        "ack_interval_ms": 20,
        "command_resend_s": 1.0,
    }
    data.update(extra)
    return AggregatorConfig.model_validate(data)


def uplink_section(port: int, **extra: Any) -> dict[str, Any]:
    return {
        "mqtt": {"port": port, "keepalive_s": 3, "reconnect_min_s": 0.5, "reconnect_max_s": 2},
        "ack_timeout_s": 3,
        "status_interval_s": 1,
    } | extra


@contextmanager
def private_database(name: str) -> Iterator[str]:
    """The URL of a fresh PostgreSQL database ``name`` (dropped afterwards); the test
    skips, saying why, when PostgreSQL is not reachable."""
    try:
        admin = psycopg.connect(PG_ADMIN, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as e:
        pytest.skip(
            f"PostgreSQL not reachable at {PG_ADMIN} ({e}); set LINESIDE_TEST_PG to run the PostgreSQL tests"
        )
    admin.execute(f"DROP DATABASE IF EXISTS {name}")
    admin.execute(f"CREATE DATABASE {name}")
    try:
        yield PG_ADMIN.rsplit("/", 1)[0] + f"/{name}"
    finally:
        admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.close()


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """A private PostgreSQL database for this test session (dropped afterwards)."""
    with private_database(f"lineside_test_{os.getpid()}") as url:
        yield url


@pytest.fixture(params=["sqlite", "postgres"])
def agg_target(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Where an aggregator store lives: a SQLite file, or the session's PostgreSQL
    database (emptied first)."""
    if request.param == "sqlite":
        return str(tmp_path / "agg.db")
    url = request.getfixturevalue("pg_database")
    from sync.aggregator.store import AggregatorStore

    st = AggregatorStore(url)
    st.reset()
    st.close()
    return str(url)
