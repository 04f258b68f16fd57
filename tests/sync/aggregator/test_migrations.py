"""Versioned migrations of the plant store, on SQLite and PostgreSQL: a fresh store gets
every migration recorded, a store created by the release before migrations (its
``CREATE TABLE IF NOT EXISTS`` schema, kept below verbatim) upgrades in place with its
data, and a migration that fails leaves neither its changes nor its record."""

from __future__ import annotations

import pytest

from sync.aggregator import migrations
from sync.aggregator.db import Database
from sync.aggregator.migrations import AGGREGATOR, RECORD_TABLE, MigrationSet
from sync.aggregator.store import AggregatorStore
from sync.protocol import Batch, LineRef

REF = LineRef(enterprise="acme", site="s", area="a", line="l1")
LINE = "acme/s/a/l1"

#: The plant store's schema as the release before migrations created it.
OLD_SCHEMA = """
CREATE TABLE IF NOT EXISTS records (
    line TEXT NOT NULL,
    stream TEXT NOT NULL,
    seq BIGINT NOT NULL,
    received DOUBLE PRECISION NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (line, stream, seq)
) {WITHOUT_ROWID};
CREATE TABLE IF NOT EXISTS progress (
    line TEXT NOT NULL,
    stream TEXT NOT NULL,
    contiguous BIGINT NOT NULL DEFAULT 0,
    highest BIGINT NOT NULL DEFAULT 0,
    updated DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (line, stream)
);
CREATE TABLE IF NOT EXISTS pending (
    line TEXT NOT NULL,
    stream TEXT NOT NULL,
    after_seq BIGINT NOT NULL,
    last_seq BIGINT NOT NULL,
    PRIMARY KEY (line, stream, after_seq, last_seq)
);
CREATE TABLE IF NOT EXISTS dead_letters (
    id {SERIAL},
    received DOUBLE PRECISION NOT NULL,
    topic TEXT NOT NULL,
    kind TEXT NOT NULL,
    error TEXT NOT NULL,
    payload {BLOB}
);
CREATE TABLE IF NOT EXISTS line_status (
    line TEXT PRIMARY KEY,
    online INTEGER NOT NULL,
    ts DOUBLE PRECISION NOT NULL,
    agent TEXT NOT NULL DEFAULT '',
    state TEXT,
    order_id TEXT,
    last_data DOUBLE PRECISION,
    backlog BIGINT NOT NULL DEFAULT 0,
    devices TEXT NOT NULL DEFAULT '{}',
    received DOUBLE PRECISION NOT NULL
);
CREATE TABLE IF NOT EXISTS line_state (
    line TEXT NOT NULL,
    name TEXT NOT NULL,
    data TEXT NOT NULL,
    received DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (line, name)
);
CREATE TABLE IF NOT EXISTS shift_kpis (
    line TEXT NOT NULL,
    shift TEXT NOT NULL,
    start_ts DOUBLE PRECISION NOT NULL,
    end_ts DOUBLE PRECISION NOT NULL,
    data TEXT NOT NULL,
    received DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (line, shift)
);
CREATE TABLE IF NOT EXISTS downtime (
    line TEXT NOT NULL,
    event_id TEXT NOT NULL,
    machine TEXT NOT NULL,
    start_ts DOUBLE PRECISION NOT NULL,
    end_ts DOUBLE PRECISION,
    state TEXT NOT NULL,
    auto_reason TEXT,
    micro INTEGER NOT NULL DEFAULT 0,
    seq BIGINT NOT NULL,
    PRIMARY KEY (line, event_id)
);
CREATE TABLE IF NOT EXISTS downtime_reasons (
    line TEXT NOT NULL,
    event_id TEXT NOT NULL,
    reason TEXT,
    comment TEXT NOT NULL DEFAULT '',
    by_who TEXT NOT NULL,
    seq BIGINT NOT NULL,
    PRIMARY KEY (line, event_id)
);
CREATE TABLE IF NOT EXISTS spc_alarms (
    line TEXT NOT NULL,
    seq BIGINT NOT NULL,
    ts DOUBLE PRECISION NOT NULL,
    characteristic TEXT NOT NULL,
    kind TEXT NOT NULL,
    rule TEXT NOT NULL,
    detail TEXT NOT NULL,
    value DOUBLE PRECISION,
    PRIMARY KEY (line, seq)
);
CREATE TABLE IF NOT EXISTS inspections (
    line TEXT NOT NULL,
    seq BIGINT NOT NULL,
    ts DOUBLE PRECISION NOT NULL,
    plan TEXT NOT NULL,
    order_id TEXT,
    passed INTEGER NOT NULL,
    by_who TEXT NOT NULL,
    comment TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (line, seq)
);
CREATE TABLE IF NOT EXISTS commands (
    id TEXT PRIMARY KEY,
    line TEXT NOT NULL,
    kind TEXT NOT NULL,
    body TEXT NOT NULL,
    issued_at DOUBLE PRECISION NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending',
    reason TEXT NOT NULL DEFAULT '',
    sent_count INTEGER NOT NULL DEFAULT 0,
    last_sent DOUBLE PRECISION,
    acked_at DOUBLE PRECISION
);
CREATE INDEX IF NOT EXISTS commands_pending ON commands (state, line);
"""

TABLES = [
    "commands", "dead_letters", "downtime", "downtime_reasons", "inspections", "line_state", "line_status",
    "pending", "progress", "records", "shift_kpis", "spc_alarms",
    "plan_orders", "plan_routings", "plans", "plan_events", "plan_maintenance", "plan_materials",
    "plan_deviations", "incarnations", "audit_heads",
    "state_changes", "counts", "spc_points", "spc_limits", "order_runs", "rollup_state", "rollup_counts",
    "rollup_scrap", "downtime_hours", "web_audit",
    "rollup_state_days", "rollup_counts_days", "rollup_scrap_days", "rollup_stops_days",
    "plant_materials", "plant_boms", "plant_lots", "lot_status_history", "genealogy", "produced_lots",
    "plant_holds", "lot_moves", "maint_events", "maint_stock", "erp_outbox", "erp_periods", "erp_coverage",
    "web_sessions", "inspection_misses",
]  # fmt: skip


def _drop_all(db: Database) -> None:
    for t in db.tables():
        db.execute(f"DROP TABLE {t}")


def _old_store(target: str) -> None:
    db = Database(target)
    _drop_all(db)
    for stmt in (s.strip() for s in db.ddl(OLD_SCHEMA).split(";")):
        if stmt:
            db.execute(stmt)
    db.execute(
        "INSERT INTO records (line, stream, seq, received, data) VALUES (?, 'events', 1, 1.0, '{\"seq\":1}')",
        (LINE,),
    )
    db.execute(
        "INSERT INTO progress (line, stream, contiguous, highest, updated) VALUES (?, 'events', 1, 1, 1.0)",
        (LINE,),
    )
    db.close()


def test_a_fresh_store_records_every_migration(agg_target: str) -> None:
    db = Database(agg_target)
    _drop_all(db)
    db.close()
    st = AggregatorStore(agg_target)
    assert AGGREGATOR.applied(st.db) == [m.name for m in AGGREGATOR.migrations]
    assert set(TABLES) | {RECORD_TABLE} == set(st.db.tables())
    assert migrations.apply(st.db) == []  # nothing twice
    st.close()


def test_a_store_from_before_migrations_upgrades_in_place(agg_target: str) -> None:
    _old_store(agg_target)
    st = AggregatorStore(agg_target)
    assert AGGREGATOR.applied(st.db) == [m.name for m in AGGREGATOR.migrations]
    assert "spc_alarms_by_time" in st.db.indexes("spc_alarms")
    assert "shift_kpis_by_end" in st.db.indexes("shift_kpis")
    # The data stays, and ingest goes on from where the old store was.
    assert st.ack(LINE, "events") == 1
    b = Batch(
        line=REF, stream="events", after_seq=1, first_seq=2, last_seq=2, sent_at=0, records=[{"seq": 2}]
    )
    assert st.ingest(b) == 2
    assert [r["seq"] for r in st.records(LINE, "events")] == [1, 2]
    st.close()


def test_a_failing_migration_leaves_nothing_behind(agg_target: str) -> None:
    db = Database(agg_target)
    _drop_all(db)
    trial = MigrationSet("trial")

    @trial
    def t001_table(db: Database) -> None:
        db.execute("CREATE TABLE trial_a (x INTEGER)")

    @trial
    def t002_broken(db: Database) -> None:
        db.execute("CREATE TABLE trial_b (x INTEGER)")
        db.execute("INSERT INTO trial_b (x) VALUES (1)")
        db.execute("SELECT no_such_column FROM trial_b")

    with pytest.raises(Exception, match="no_such_column"):
        trial.apply(db)
    assert trial.applied(db) == ["t001_table"]
    assert "trial_a" in db.tables() and "trial_b" not in db.tables()
    # Fixed, it applies from where it stopped.
    trial.migrations[1] = migrations.Migration(
        "t002_broken", lambda db: db.execute("CREATE TABLE trial_b (x INTEGER)")
    )
    assert trial.apply(db) == ["t002_broken"]
    assert trial.applied(db) == ["t001_table", "t002_broken"]
    _drop_all(db)
    db.close()
