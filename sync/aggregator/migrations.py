"""Versioned schema of the plant store: a named set of migrations in order, each applied
in one transaction together with its record in ``_migrations`` (as sqlite-utils'
migration sets, and ``edge.store.migrations`` at the line). Opening a store applies
what it lacks, on SQLite and PostgreSQL alike (DDL in portable SQL, the words that
differ as ``{NAME}``, see ``db.DDL_TYPES``).

A released migration is never edited: add a new one. The first is the schema of the
release before migrations, written ``IF NOT EXISTS`` so that a store created by that
release upgrades in place (it is then recorded as applied and the rest follow).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from sync.aggregator.db import Database

RECORD_TABLE = "_migrations"

Step = Callable[[Database], None]


@dataclass(frozen=True)
class Migration:
    name: str
    step: Step


@dataclass
class MigrationSet:
    """Migrations applied in order and recorded under this set's name."""

    name: str
    migrations: list[Migration] = field(default_factory=list)

    def __call__(self, step: Step) -> Step:
        """Register ``step`` (a decorator); its function name is the migration's name."""
        if any(m.name == step.__name__ for m in self.migrations):
            raise ValueError(f"migration {step.__name__} is registered twice")
        self.migrations.append(Migration(step.__name__, step))
        return step

    def applied(self, db: Database) -> list[str]:
        _record_table(db)
        rows = db.query(
            f"SELECT name FROM {RECORD_TABLE} WHERE migration_set = ? ORDER BY applied_at, name", (self.name,)
        )
        return [r[0] for r in rows]

    def apply(self, db: Database) -> list[str]:
        """Apply what is missing, each migration in its own transaction; returns the
        names applied now."""
        done = []
        with db.migration_lock():
            _record_table(db)
            for m in self.migrations:
                with db.tx():
                    # Another instance may have applied it while we waited for the lock.
                    if db.execute(
                        f"SELECT 1 FROM {RECORD_TABLE} WHERE migration_set = ? AND name = ?",
                        (self.name, m.name),
                    ).fetchone():
                        continue
                    m.step(db)
                    db.execute(
                        f"INSERT INTO {RECORD_TABLE} (migration_set, name, applied_at) VALUES (?, ?, ?)",
                        (self.name, m.name, time.time()),
                    )
                done.append(m.name)
        return done


def _record_table(db: Database) -> None:
    db.execute(
        f"CREATE TABLE IF NOT EXISTS {RECORD_TABLE} (migration_set TEXT NOT NULL, name TEXT NOT NULL, "
        "applied_at DOUBLE PRECISION NOT NULL, PRIMARY KEY (migration_set, name))"
    )


def run_ddl(db: Database, script: str) -> None:
    """Statements separated by ``;`` (no ``;`` inside a statement)."""
    for stmt in (s.strip() for s in db.ddl(script).split(";")):
        if stmt:
            db.execute(stmt)


AGGREGATOR = MigrationSet("aggregator")


@AGGREGATOR
def m001_initial(db: Database) -> None:
    """Ingest (records, progress, pending ranges), dead letters, line state, the plant
    tables kept from the streams and the command outbox."""
    run_ddl(
        db,
        """
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
        CREATE INDEX IF NOT EXISTS commands_pending ON commands (state, line)
        """,
    )


@AGGREGATOR
def m002_report_indexes(db: Database) -> None:
    """The plant report reads a line's SPC alarms by time and its latest shift: index
    both instead of scanning every line's rows."""
    run_ddl(
        db,
        """
        CREATE INDEX spc_alarms_by_time ON spc_alarms (line, ts);
        CREATE INDEX shift_kpis_by_end ON shift_kpis (line, end_ts)
        """,
    )


@AGGREGATOR
def m003_scheduling(db: Database) -> None:
    """Finite-capacity scheduling: the orders and routings to plan, plans (proposed,
    approved, released) with their diff, the events that trigger replans, maintenance
    windows and material notices entered at the plant, and what the lines report about
    their own resequencing."""
    run_ddl(
        db,
        """
        CREATE TABLE plan_orders (
            order_id TEXT PRIMARY KEY,
            product TEXT NOT NULL,
            quantity BIGINT NOT NULL,
            release_ts DOUBLE PRECISION,
            due DOUBLE PRECISION,
            deadline DOUBLE PRECISION,
            priority INTEGER NOT NULL DEFAULT 0,
            materials TEXT NOT NULL DEFAULT '[]',
            status TEXT NOT NULL DEFAULT 'open',
            updated DOUBLE PRECISION NOT NULL
        );
        CREATE TABLE plan_routings (
            product TEXT PRIMARY KEY,
            body TEXT NOT NULL,
            updated DOUBLE PRECISION NOT NULL
        );
        CREATE TABLE plans (
            id {SERIAL},
            created DOUBLE PRECISION NOT NULL,
            origin DOUBLE PRECISION NOT NULL,
            status TEXT NOT NULL,
            trigger_kind TEXT NOT NULL,
            objective DOUBLE PRECISION,
            bound DOUBLE PRECISION,
            gap DOUBLE PRECISION,
            body TEXT NOT NULL,
            diff TEXT NOT NULL DEFAULT '{}',
            decided_by TEXT NOT NULL DEFAULT '',
            decided_at DOUBLE PRECISION,
            released_at DOUBLE PRECISION
        );
        CREATE INDEX plans_by_status ON plans (status, id);
        CREATE TABLE plan_events (
            id {SERIAL},
            ts DOUBLE PRECISION NOT NULL,
            kind TEXT NOT NULL,
            line TEXT NOT NULL DEFAULT '',
            ref TEXT NOT NULL DEFAULT '',
            detail TEXT NOT NULL DEFAULT '',
            plan_id BIGINT
        );
        CREATE INDEX plan_events_open ON plan_events (plan_id, id);
        CREATE TABLE plan_maintenance (
            id {SERIAL},
            resource TEXT NOT NULL,
            start_ts DOUBLE PRECISION NOT NULL,
            end_ts DOUBLE PRECISION NOT NULL,
            reason TEXT NOT NULL DEFAULT '',
            added DOUBLE PRECISION NOT NULL
        );
        CREATE TABLE plan_materials (
            material TEXT PRIMARY KEY,
            available_at DOUBLE PRECISION,
            orders TEXT NOT NULL DEFAULT '[]',
            updated DOUBLE PRECISION NOT NULL
        );
        CREATE TABLE plan_deviations (
            line TEXT NOT NULL,
            seq BIGINT NOT NULL,
            ts DOUBLE PRECISION NOT NULL,
            kind TEXT NOT NULL,
            plan_id TEXT NOT NULL DEFAULT '',
            planned TEXT NOT NULL DEFAULT '',
            chosen TEXT NOT NULL DEFAULT '',
            reason TEXT NOT NULL DEFAULT '',
            message TEXT NOT NULL DEFAULT '',
            handled INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (line, seq)
        )
        """,
    )


@AGGREGATOR
def m007_web(db: Database) -> None:
    """The plant web view: the streams it draws kept as tables (state changes, counts,
    SPC points and limits, what each order did), hourly rollups kept as data arrives
    (state seconds, counts and ideal time, downtime seconds per event and hour, scrap
    by reason) so that a year's report never scans raw records, and the audit of what
    plant users did in the browser."""
    run_ddl(
        db,
        """
        CREATE TABLE state_changes (
            line TEXT NOT NULL,
            seq BIGINT NOT NULL,
            ts DOUBLE PRECISION NOT NULL,
            machine TEXT NOT NULL,
            old TEXT,
            new TEXT NOT NULL,
            cause TEXT NOT NULL DEFAULT '',
            PRIMARY KEY (line, seq)
        );
        CREATE INDEX state_changes_by_time ON state_changes (line, machine, ts);
        CREATE TABLE counts (
            line TEXT NOT NULL,
            seq BIGINT NOT NULL,
            ts DOUBLE PRECISION NOT NULL,
            machine TEXT NOT NULL,
            good BIGINT NOT NULL,
            scrap BIGINT NOT NULL,
            ideal_cycle_s DOUBLE PRECISION,
            startup INTEGER NOT NULL DEFAULT 0,
            order_id TEXT,
            scrap_reason TEXT,
            PRIMARY KEY (line, seq)
        );
        CREATE INDEX counts_by_time ON counts (line, machine, ts);
        CREATE INDEX counts_by_order ON counts (line, order_id);
        CREATE TABLE spc_points (
            line TEXT NOT NULL,
            seq BIGINT NOT NULL,
            ts DOUBLE PRECISION NOT NULL,
            characteristic TEXT NOT NULL,
            value DOUBLE PRECISION NOT NULL,
            dispersion DOUBLE PRECISION,
            PRIMARY KEY (line, seq)
        );
        CREATE INDEX spc_points_by_time ON spc_points (line, characteristic, ts);
        CREATE TABLE spc_limits (
            line TEXT NOT NULL,
            seq BIGINT NOT NULL,
            ts DOUBLE PRECISION NOT NULL,
            characteristic TEXT NOT NULL,
            action TEXT NOT NULL,
            spec TEXT,
            PRIMARY KEY (line, seq)
        );
        CREATE TABLE order_runs (
            line TEXT NOT NULL,
            order_id TEXT NOT NULL,
            product TEXT,
            first_ts DOUBLE PRECISION NOT NULL,
            last_ts DOUBLE PRECISION NOT NULL,
            last_action TEXT NOT NULL,
            seq BIGINT NOT NULL,
            PRIMARY KEY (line, order_id)
        );
        CREATE TABLE rollup_state (
            line TEXT NOT NULL,
            machine TEXT NOT NULL,
            hour DOUBLE PRECISION NOT NULL,
            state TEXT NOT NULL,
            seconds DOUBLE PRECISION NOT NULL,
            PRIMARY KEY (line, machine, hour, state)
        );
        CREATE INDEX rollup_state_by_hour ON rollup_state (hour);
        CREATE TABLE rollup_counts (
            line TEXT NOT NULL,
            machine TEXT NOT NULL,
            hour DOUBLE PRECISION NOT NULL,
            good BIGINT NOT NULL,
            scrap BIGINT NOT NULL,
            ideal_s DOUBLE PRECISION NOT NULL,
            good_ideal_s DOUBLE PRECISION NOT NULL,
            startup_scrap_ideal_s DOUBLE PRECISION NOT NULL,
            PRIMARY KEY (line, machine, hour)
        );
        CREATE INDEX rollup_counts_by_hour ON rollup_counts (hour);
        CREATE TABLE rollup_scrap (
            line TEXT NOT NULL,
            hour DOUBLE PRECISION NOT NULL,
            reason TEXT NOT NULL,
            scrap BIGINT NOT NULL,
            PRIMARY KEY (line, hour, reason)
        );
        CREATE TABLE downtime_hours (
            line TEXT NOT NULL,
            event_id TEXT NOT NULL,
            hour DOUBLE PRECISION NOT NULL,
            seconds DOUBLE PRECISION NOT NULL,
            PRIMARY KEY (line, event_id, hour)
        );
        CREATE INDEX downtime_hours_by_hour ON downtime_hours (line, hour);
        CREATE INDEX downtime_open ON downtime (line, end_ts);
        CREATE TABLE web_audit (
            id {SERIAL},
            ts DOUBLE PRECISION NOT NULL,
            who TEXT NOT NULL,
            role TEXT NOT NULL,
            action TEXT NOT NULL,
            entity TEXT NOT NULL DEFAULT '',
            detail TEXT NOT NULL DEFAULT '',
            meaning TEXT NOT NULL DEFAULT 'performed',
            address TEXT NOT NULL DEFAULT ''
        )
        """,
    )


@AGGREGATOR
def m004_guards(db: Database) -> None:
    """Store identity, dead-letter bounds and the lines' audit anchors.

    Records, progress and pending ranges are kept per store incarnation (a line whose
    store is recreated starts its sequences at 1 again, under a new incarnation): the
    tables are rebuilt with ``incarnation`` in their keys, existing rows under "" (the
    first incarnation a line then names adopts them). ``incarnations`` numbers each
    line's incarnations (``epoch``) in the order they appeared. Dead letters keep the
    original length of a payload stored truncated. ``audit_heads`` is the last verified
    head of each line's audit chain and what the line last reported as its head."""
    run_ddl(
        db,
        """
        CREATE TABLE records_v2 (
            line TEXT NOT NULL,
            stream TEXT NOT NULL,
            incarnation TEXT NOT NULL DEFAULT '',
            seq BIGINT NOT NULL,
            received DOUBLE PRECISION NOT NULL,
            data TEXT NOT NULL,
            PRIMARY KEY (line, stream, incarnation, seq)
        ) {WITHOUT_ROWID};
        INSERT INTO records_v2 (line, stream, incarnation, seq, received, data)
            SELECT line, stream, '', seq, received, data FROM records;
        DROP TABLE records;
        ALTER TABLE records_v2 RENAME TO records;
        CREATE TABLE progress_v2 (
            line TEXT NOT NULL,
            stream TEXT NOT NULL,
            incarnation TEXT NOT NULL DEFAULT '',
            contiguous BIGINT NOT NULL DEFAULT 0,
            highest BIGINT NOT NULL DEFAULT 0,
            updated DOUBLE PRECISION NOT NULL,
            PRIMARY KEY (line, stream, incarnation)
        );
        INSERT INTO progress_v2 (line, stream, incarnation, contiguous, highest, updated)
            SELECT line, stream, '', contiguous, highest, updated FROM progress;
        DROP TABLE progress;
        ALTER TABLE progress_v2 RENAME TO progress;
        CREATE TABLE pending_v2 (
            line TEXT NOT NULL,
            stream TEXT NOT NULL,
            incarnation TEXT NOT NULL DEFAULT '',
            after_seq BIGINT NOT NULL,
            last_seq BIGINT NOT NULL,
            PRIMARY KEY (line, stream, incarnation, after_seq, last_seq)
        );
        INSERT INTO pending_v2 (line, stream, incarnation, after_seq, last_seq)
            SELECT line, stream, '', after_seq, last_seq FROM pending;
        DROP TABLE pending;
        ALTER TABLE pending_v2 RENAME TO pending;
        CREATE TABLE incarnations (
            line TEXT NOT NULL,
            incarnation TEXT NOT NULL,
            epoch INTEGER NOT NULL,
            first_seen DOUBLE PRECISION NOT NULL,
            PRIMARY KEY (line, incarnation)
        );
        INSERT INTO incarnations (line, incarnation, epoch, first_seen)
            SELECT line, '', 0, min(updated) FROM progress GROUP BY line;
        ALTER TABLE dead_letters ADD COLUMN payload_len BIGINT;
        CREATE INDEX dead_letters_by_time ON dead_letters (received);
        CREATE TABLE audit_heads (
            line TEXT NOT NULL,
            incarnation TEXT NOT NULL,
            seq BIGINT NOT NULL DEFAULT 0,
            mac TEXT NOT NULL DEFAULT '',
            verified DOUBLE PRECISION,
            problem TEXT,
            reported_seq BIGINT,
            reported_mac TEXT,
            reported DOUBLE PRECISION,
            PRIMARY KEY (line, incarnation)
        )
        """,
    )


def apply(db: Database) -> list[str]:
    """Bring a plant store up to date; returns the migrations applied now."""
    return AGGREGATOR.apply(db)


@AGGREGATOR
def m006_materials(db: Database) -> None:
    """Materials at the plant: the material master and BOMs sent to the lines, lots
    received and their status (with its history), and from the lines' streams the
    genealogy links, produced lots, holds and stock movements (the graph the plant
    traces across lines)."""
    run_ddl(
        db,
        """
        CREATE TABLE plant_materials (
            id TEXT PRIMARY KEY,
            body TEXT NOT NULL,
            updated DOUBLE PRECISION NOT NULL
        );
        CREATE TABLE plant_boms (
            product TEXT PRIMARY KEY,
            body TEXT NOT NULL,
            updated DOUBLE PRECISION NOT NULL
        );
        CREATE TABLE plant_lots (
            lot TEXT PRIMARY KEY,
            material TEXT NOT NULL,
            status TEXT NOT NULL,
            expiry DOUBLE PRECISION,
            supplier_lot TEXT NOT NULL DEFAULT '',
            quantity DOUBLE PRECISION,
            reason TEXT NOT NULL DEFAULT '',
            received_at DOUBLE PRECISION NOT NULL,
            updated DOUBLE PRECISION NOT NULL
        );
        CREATE INDEX plant_lots_supplier ON plant_lots (supplier_lot);
        CREATE TABLE lot_status_history (
            id {SERIAL},
            lot TEXT NOT NULL,
            status TEXT NOT NULL,
            reason TEXT NOT NULL DEFAULT '',
            by_who TEXT NOT NULL,
            ts DOUBLE PRECISION NOT NULL
        );
        CREATE INDEX lot_status_history_lot ON lot_status_history (lot, ts);
        CREATE TABLE genealogy (
            line TEXT NOT NULL,
            seq BIGINT NOT NULL,
            ts DOUBLE PRECISION NOT NULL,
            parent TEXT NOT NULL,
            child TEXT NOT NULL,
            material TEXT NOT NULL,
            location TEXT NOT NULL DEFAULT '',
            quantity DOUBLE PRECISION,
            order_id TEXT,
            PRIMARY KEY (line, seq)
        );
        CREATE INDEX genealogy_parent ON genealogy (parent);
        CREATE INDEX genealogy_child ON genealogy (child);
        CREATE TABLE produced_lots (
            line TEXT NOT NULL,
            seq BIGINT NOT NULL,
            ts DOUBLE PRECISION NOT NULL,
            lot TEXT NOT NULL,
            kind TEXT NOT NULL,
            order_id TEXT,
            product TEXT,
            machine TEXT,
            start_ts DOUBLE PRECISION NOT NULL,
            end_ts DOUBLE PRECISION NOT NULL,
            quantity BIGINT,
            PRIMARY KEY (line, seq)
        );
        CREATE INDEX produced_lots_lot ON produced_lots (lot);
        CREATE TABLE plant_holds (
            line TEXT NOT NULL,
            seq BIGINT NOT NULL,
            ts DOUBLE PRECISION NOT NULL,
            hold_id TEXT NOT NULL,
            target_kind TEXT NOT NULL,
            target TEXT NOT NULL,
            start_ts DOUBLE PRECISION,
            end_ts DOUBLE PRECISION,
            action TEXT NOT NULL,
            reason TEXT NOT NULL,
            source TEXT NOT NULL,
            corrective_action TEXT NOT NULL DEFAULT '',
            by_who TEXT NOT NULL,
            PRIMARY KEY (line, seq)
        );
        CREATE INDEX plant_holds_target ON plant_holds (target);
        CREATE INDEX plant_holds_id ON plant_holds (line, hold_id, seq);
        CREATE TABLE lot_moves (
            line TEXT NOT NULL,
            seq BIGINT NOT NULL,
            ts DOUBLE PRECISION NOT NULL,
            kind TEXT NOT NULL,
            location TEXT NOT NULL,
            material TEXT NOT NULL,
            lot TEXT NOT NULL,
            quantity DOUBLE PRECISION NOT NULL,
            order_id TEXT,
            reason TEXT NOT NULL DEFAULT '',
            by_who TEXT NOT NULL,
            PRIMARY KEY (line, seq)
        );
        CREATE INDEX lot_moves_lot ON lot_moves (lot, ts)
        """,
    )


@AGGREGATOR
def m005_maintenance(db: Database) -> None:
    """Maintenance: every step of every line's work orders and every spare-parts movement,
    as the lines recorded them (the plant folds them with the line's own logic)."""
    run_ddl(
        db,
        """
        CREATE TABLE maint_events (
            line TEXT NOT NULL,
            seq BIGINT NOT NULL,
            ts DOUBLE PRECISION NOT NULL,
            wo TEXT NOT NULL,
            kind TEXT NOT NULL,
            data TEXT NOT NULL,
            by_who TEXT NOT NULL,
            PRIMARY KEY (line, seq)
        );
        CREATE TABLE maint_stock (
            line TEXT NOT NULL,
            seq BIGINT NOT NULL,
            ts DOUBLE PRECISION NOT NULL,
            part TEXT NOT NULL,
            kind TEXT NOT NULL,
            qty DOUBLE PRECISION NOT NULL,
            wo TEXT,
            by_who TEXT NOT NULL,
            why TEXT NOT NULL DEFAULT '',
            PRIMARY KEY (line, seq)
        )
        """,
    )


@AGGREGATOR
def m007_web_days(db: Database) -> None:
    """Day rollups beside the hourly ones (state seconds, counts, scrap by reason, and
    stops by machine, reason and state with their seconds and count), so that a plant
    year report sums 365 rows per line instead of 8,760 and joins nothing. Filled from
    the hourly rollups when a store gains them (``store.AggregatorStore``)."""
    run_ddl(
        db,
        """
        CREATE TABLE rollup_state_days (
            line TEXT NOT NULL,
            machine TEXT NOT NULL,
            day DOUBLE PRECISION NOT NULL,
            state TEXT NOT NULL,
            seconds DOUBLE PRECISION NOT NULL,
            PRIMARY KEY (line, machine, day, state)
        );
        CREATE TABLE rollup_counts_days (
            line TEXT NOT NULL,
            machine TEXT NOT NULL,
            day DOUBLE PRECISION NOT NULL,
            good BIGINT NOT NULL,
            scrap BIGINT NOT NULL,
            ideal_s DOUBLE PRECISION NOT NULL,
            good_ideal_s DOUBLE PRECISION NOT NULL,
            startup_scrap_ideal_s DOUBLE PRECISION NOT NULL,
            PRIMARY KEY (line, machine, day)
        );
        CREATE TABLE rollup_scrap_days (
            line TEXT NOT NULL,
            day DOUBLE PRECISION NOT NULL,
            reason TEXT NOT NULL,
            scrap BIGINT NOT NULL,
            PRIMARY KEY (line, day, reason)
        );
        CREATE TABLE rollup_stops_days (
            line TEXT NOT NULL,
            day DOUBLE PRECISION NOT NULL,
            machine TEXT NOT NULL,
            reason TEXT NOT NULL,
            micro INTEGER NOT NULL,
            state TEXT NOT NULL,
            seconds DOUBLE PRECISION NOT NULL,
            stops BIGINT NOT NULL,
            PRIMARY KEY (line, day, machine, reason, micro, state)
        )
        """,
    )


@AGGREGATOR
def m008_plant_it(db: Database) -> None:
    """ERP confirmations: an outbox of what each completed order did, one row per
    confirmation keyed by its idempotency key (so a confirmation is queued once however
    often the exporter looks), sent until the ERP acknowledges it."""
    run_ddl(
        db,
        """
        CREATE TABLE erp_outbox (
            id TEXT PRIMARY KEY,
            line TEXT NOT NULL,
            order_id TEXT NOT NULL,
            kind TEXT NOT NULL,
            body TEXT NOT NULL,
            created DOUBLE PRECISION NOT NULL,
            state TEXT NOT NULL DEFAULT 'pending',
            attempts INTEGER NOT NULL DEFAULT 0,
            next_try DOUBLE PRECISION NOT NULL,
            last_error TEXT NOT NULL DEFAULT '',
            sent_at DOUBLE PRECISION
        );
        CREATE INDEX erp_outbox_due ON erp_outbox (state, next_try)
        """,
    )


@AGGREGATOR
def m009_erp_periods(db: Database) -> None:
    """ERP confirmations per shift and per hour: the outbox names each confirmation's
    period (empty for an order's), ``erp_periods`` is how far each line's periods of a
    kind are queued (the next one ends after ``after_ts``), and ``erp_coverage`` how far
    the plant holds each line's data (see ``sync.aggregator.erp``)."""
    run_ddl(
        db,
        """
        ALTER TABLE erp_outbox ADD COLUMN period TEXT NOT NULL DEFAULT '';
        CREATE TABLE erp_periods (
            line TEXT NOT NULL,
            kind TEXT NOT NULL,
            after_ts DOUBLE PRECISION NOT NULL,
            updated DOUBLE PRECISION NOT NULL,
            PRIMARY KEY (line, kind)
        );
        CREATE TABLE erp_coverage (
            line TEXT PRIMARY KEY,
            covered_to DOUBLE PRECISION NOT NULL,
            updated DOUBLE PRECISION NOT NULL
        )
        """,
    )


@AGGREGATOR
def m010_web_sessions(db: Database) -> None:
    """Sessions of the plant web view in the plant store, so that a restart of the web
    view logs nobody out and every aggregator instance on one store accepts the same
    session. Only the SHA-256 of the session token is kept (the cookie's value is never
    stored); the idle and absolute expiries, the user, their role and the session's CSRF
    token are (``sync.aggregator.sessions_store``)."""
    run_ddl(
        db,
        """
        CREATE TABLE web_sessions (
            token_hash TEXT PRIMARY KEY,
            user_name TEXT NOT NULL,
            role TEXT NOT NULL,
            csrf TEXT NOT NULL,
            via TEXT NOT NULL,
            created DOUBLE PRECISION NOT NULL,
            last_seen DOUBLE PRECISION NOT NULL,
            expires DOUBLE PRECISION NOT NULL
        );
        CREATE INDEX web_sessions_user ON web_sessions (user_name)
        """,
    )


@AGGREGATOR
def m011_auth_lockout(db: Database) -> None:
    """Plant users' lockout: failed logins are ``web_audit`` entries, counted per name
    within a window; an index finds a name's entries without reading the whole log."""
    run_ddl(db, "CREATE INDEX web_audit_by_who ON web_audit (who, ts)")


@AGGREGATOR
def m014_inspection_misses(db: Database) -> None:
    """Inspections the lines recorded as missed (due and not done by the end of their
    grace or of their order), once each, for the quality page."""
    run_ddl(
        db,
        """
        CREATE TABLE inspection_misses (
            line TEXT NOT NULL,
            seq BIGINT NOT NULL,
            ts DOUBLE PRECISION NOT NULL,
            plan TEXT NOT NULL,
            order_id TEXT NOT NULL,
            product TEXT,
            due_at DOUBLE PRECISION NOT NULL,
            reason TEXT NOT NULL DEFAULT '',
            PRIMARY KEY (line, seq)
        );
        CREATE INDEX inspection_misses_ts ON inspection_misses (ts)
        """,
    )
