"""Schema migrations: an ordered list of functions, each applied in its own transaction.

A migration is never edited once released; add a new one instead. ``_migrations``
records what has been applied, so opening an old store upgrades it in place.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable

Migration = Callable[[sqlite3.Connection], None]
MIGRATIONS: list[tuple[str, Migration]] = []


def migration(fn: Migration) -> Migration:
    MIGRATIONS.append((fn.__name__, fn))
    return fn


@migration
def m001_foundation(db: sqlite3.Connection) -> None:
    db.executescript(
        """
        CREATE TABLE tags (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL UNIQUE,
            device TEXT NOT NULL,
            type TEXT NOT NULL,
            eng_unit TEXT NOT NULL DEFAULT ''
        );
        -- Hot append-only stream. No per-tag composite index here: it makes inserts
        -- many times slower. `ts` grows almost monotonically, so its index only appends.
        -- `value` has no declared type so integers stay exact and strings stay strings.
        CREATE TABLE samples (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            tag_id INTEGER NOT NULL,
            ts REAL NOT NULL,
            ts_recv REAL NOT NULL,
            value,
            quality INTEGER NOT NULL
        );
        CREATE INDEX samples_ts ON samples (ts);
        CREATE TABLE current_values (
            tag_id INTEGER PRIMARY KEY,
            value,
            quality INTEGER NOT NULL,
            ts REAL NOT NULL,
            ts_recv REAL NOT NULL,
            seq INTEGER
        );
        CREATE TABLE events (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            ts REAL NOT NULL,
            kind TEXT NOT NULL,
            source TEXT NOT NULL,
            message TEXT NOT NULL,
            data TEXT
        );
        CREATE TABLE writes (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            ts REAL NOT NULL,
            tag TEXT NOT NULL,
            value TEXT,
            requested_by TEXT NOT NULL,
            reason TEXT NOT NULL DEFAULT '',
            outcome TEXT NOT NULL CHECK (outcome IN ('requested', 'ok', 'failed', 'refused')),
            ref_seq INTEGER,
            error TEXT
        );
        CREATE TABLE stream_cursors (
            stream TEXT PRIMARY KEY,
            sent_seq INTEGER NOT NULL DEFAULT 0,
            acked_seq INTEGER NOT NULL DEFAULT 0,
            updated_at REAL
        );
        CREATE TABLE device_status (
            device TEXT PRIMARY KEY,
            state TEXT NOT NULL,
            since REAL NOT NULL,
            last_error TEXT,
            updated_at REAL NOT NULL
        );
        CREATE TABLE agent_status (
            key TEXT PRIMARY KEY,
            value TEXT,
            updated_at REAL NOT NULL
        );
        """
    )


def apply(db: sqlite3.Connection) -> list[str]:
    """Apply pending migrations; returns the names applied."""
    db.execute(
        "CREATE TABLE IF NOT EXISTS _migrations (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, applied_at REAL NOT NULL)"
    )
    done = {r[0] for r in db.execute("SELECT name FROM _migrations")}
    applied = []
    for name, fn in MIGRATIONS:
        if name in done:
            continue
        # executescript commits implicitly, so run the migration's DDL inside an explicit
        # transaction by hand.
        db.execute("BEGIN IMMEDIATE")
        try:
            # Another process (the terminal, the CLI, an agent starting at the same time)
            # may have applied it while we waited for the write lock.
            if db.execute("SELECT 1 FROM _migrations WHERE name = ?", (name,)).fetchone():
                db.execute("COMMIT")
                continue
            for stmt in _statements(fn):
                db.execute(stmt)
            db.execute("INSERT INTO _migrations (name, applied_at) VALUES (?, ?)", (name, time.time()))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        applied.append(name)
    return applied


class _Recorder:
    """Captures the SQL a migration would run so it can be replayed in one transaction."""

    def __init__(self) -> None:
        self.sql: list[str] = []

    def executescript(self, script: str) -> None:
        for stmt in _split(script):
            self.sql.append(stmt)

    def execute(self, stmt: str, *args: object) -> None:
        if args:
            raise ValueError("migrations run parameterless SQL")
        self.sql.append(stmt)


def _split(script: str) -> list[str]:
    out, buf = [], []
    for line in script.splitlines():
        stripped = line.strip()
        if stripped.startswith("--"):
            continue
        buf.append(line)
        if stripped.endswith(";") and sqlite3.complete_statement("\n".join(buf)):
            out.append("\n".join(buf).strip())
            buf = []
    if "".join(buf).strip():
        out.append("\n".join(buf).strip())
    return out


def _statements(fn: Migration) -> list[str]:
    rec = _Recorder()
    fn(rec)  # type: ignore[arg-type]
    return rec.sql


@migration
def m002_line_logic(db: sqlite3.Connection) -> None:
    db.executescript(
        """
        CREATE TABLE state_changes (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            ts REAL NOT NULL,
            machine TEXT NOT NULL,
            old TEXT,
            new TEXT NOT NULL,
            cause TEXT NOT NULL DEFAULT ''
        );
        -- Each row is a version of a downtime event (opened, reason learnt, closed);
        -- the latest version per event_id is the event.
        CREATE TABLE downtime (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            event_id TEXT NOT NULL,
            machine TEXT NOT NULL,
            start REAL NOT NULL,
            end REAL,
            state TEXT NOT NULL,
            auto_reason TEXT,
            micro INTEGER NOT NULL DEFAULT 0
        );
        CREATE INDEX downtime_event ON downtime (event_id);
        CREATE TABLE counts (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            ts REAL NOT NULL,
            machine TEXT NOT NULL,
            good INTEGER NOT NULL,
            scrap INTEGER NOT NULL,
            ideal_cycle_s REAL,
            startup INTEGER NOT NULL DEFAULT 0,
            order_id TEXT,
            product TEXT,
            source TEXT NOT NULL DEFAULT 'plc',
            scrap_reason TEXT,
            by TEXT,
            comment TEXT
        );
        CREATE TABLE orders (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            ts REAL NOT NULL,
            order_id TEXT NOT NULL,
            product TEXT,
            action TEXT NOT NULL,
            quantity INTEGER,
            due REAL,
            by TEXT NOT NULL DEFAULT '',
            applied INTEGER NOT NULL DEFAULT 0
        );
        CREATE TABLE downtime_edits (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            ts REAL NOT NULL,
            kind TEXT NOT NULL CHECK (kind IN ('assign', 'split')),
            event_id TEXT NOT NULL,
            reason TEXT,
            at REAL,
            comment TEXT NOT NULL DEFAULT '',
            by TEXT NOT NULL
        );
        """
    )


@migration
def m003_audit(db: sqlite3.Connection) -> None:
    db.executescript(
        """
        CREATE TABLE audit (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            ts REAL NOT NULL,
            who TEXT NOT NULL,
            action TEXT NOT NULL,
            entity TEXT NOT NULL,
            old TEXT,
            new TEXT,
            why TEXT NOT NULL DEFAULT '',
            meaning TEXT CHECK (meaning IS NULL OR meaning IN ('performed', 'reviewed', 'approved')),
            prev TEXT NOT NULL,
            mac TEXT NOT NULL
        );
        """
    )


@migration
def m004_spc(db: sqlite3.Connection) -> None:
    db.executescript(
        """
        CREATE TABLE spc_points (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            ts REAL NOT NULL,
            characteristic TEXT NOT NULL,
            value REAL NOT NULL,
            dispersion REAL,
            z REAL
        );
        CREATE TABLE spc_alarms (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            ts REAL NOT NULL,
            characteristic TEXT NOT NULL,
            kind TEXT NOT NULL CHECK (kind IN ('out_of_control', 'out_of_spec')),
            rule TEXT NOT NULL,
            detail TEXT NOT NULL,
            value REAL
        );
        CREATE INDEX spc_alarms_char ON spc_alarms (characteristic, seq);
        CREATE TABLE spc_acks (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            ts REAL NOT NULL,
            characteristic TEXT NOT NULL,
            upto_alarm INTEGER NOT NULL,
            by TEXT NOT NULL,
            comment TEXT NOT NULL
        );
        CREATE TABLE spc_limits (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            ts REAL NOT NULL,
            characteristic TEXT NOT NULL,
            action TEXT NOT NULL CHECK (action IN ('frozen', 'recalculate')),
            spec TEXT,
            by TEXT NOT NULL,
            reason TEXT NOT NULL
        );
        """
    )


@migration
def m005_genealogy(db: sqlite3.Connection) -> None:
    db.executescript(
        """
        -- A lot or serial produced on the line, with the order, machine and time window.
        CREATE TABLE produced (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            ts REAL NOT NULL,
            lot TEXT NOT NULL,
            kind TEXT NOT NULL CHECK (kind IN ('lot', 'serial')),
            order_id TEXT,
            product TEXT,
            machine TEXT,
            start REAL NOT NULL,
            end REAL NOT NULL,
            quantity INTEGER,
            by TEXT NOT NULL
        );
        CREATE INDEX produced_lot ON produced (lot);
        CREATE INDEX produced_order ON produced (order_id);
        -- A material lot consumed, for a work order (and so for every lot made in it).
        CREATE TABLE consumed (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            ts REAL NOT NULL,
            material_lot TEXT NOT NULL,
            material TEXT NOT NULL,
            order_id TEXT NOT NULL,
            quantity REAL,
            unit TEXT NOT NULL DEFAULT '',
            source TEXT NOT NULL DEFAULT 'operator',
            by TEXT NOT NULL
        );
        CREATE INDEX consumed_lot ON consumed (material_lot);
        CREATE INDEX consumed_order ON consumed (order_id);
        """
    )


@migration
def m006_inspections(db: sqlite3.Connection) -> None:
    db.executescript(
        """
        CREATE TABLE inspections (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            ts REAL NOT NULL,
            plan TEXT NOT NULL,
            order_id TEXT,
            product TEXT,
            parts_at INTEGER NOT NULL DEFAULT 0,
            passed INTEGER NOT NULL,
            items TEXT NOT NULL,
            by TEXT NOT NULL,
            comment TEXT NOT NULL DEFAULT ''
        );
        CREATE INDEX inspections_order ON inspections (order_id, plan);
        """
    )


@migration
def m007_manual_measurements(db: sqlite3.Connection) -> None:
    db.executescript(
        """
        CREATE TABLE measurements (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            ts REAL NOT NULL,
            characteristic TEXT NOT NULL,
            value REAL NOT NULL,
            by TEXT NOT NULL
        );
        """
    )


@migration
def m008_commands(db: sqlite3.Connection) -> None:
    db.executescript(
        """
        -- Commands received from the aggregator, by id: a replay finds its first result.
        CREATE TABLE commands (
            id TEXT PRIMARY KEY,
            kind TEXT NOT NULL,
            issued_at REAL,
            received REAL NOT NULL,
            body TEXT NOT NULL,
            accepted INTEGER NOT NULL,
            reason TEXT NOT NULL DEFAULT ''
        );
        -- The dispatch list: work orders released to this line (started and completed
        -- through the orders stream).
        CREATE TABLE work_orders (
            order_id TEXT PRIMARY KEY,
            product TEXT NOT NULL,
            quantity INTEGER,
            due REAL,
            priority INTEGER NOT NULL DEFAULT 0,
            description TEXT NOT NULL DEFAULT '',
            status TEXT NOT NULL DEFAULT 'released' CHECK (status IN ('released', 'cancelled')),
            command_id TEXT,
            updated REAL NOT NULL
        );
        -- Reason tree and products sent down by the plant; they replace the config's.
        CREATE TABLE master_data (
            kind TEXT PRIMARY KEY,
            body TEXT NOT NULL,
            command_id TEXT NOT NULL,
            updated REAL NOT NULL
        );
        """
    )


@migration
def m009_maintenance_requests(db: sqlite3.Connection) -> None:
    db.executescript(
        """
        -- Maintenance requests raised at the line (machine, what is wrong, who).
        CREATE TABLE maintenance_requests (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            ts REAL NOT NULL,
            machine TEXT NOT NULL,
            priority TEXT NOT NULL CHECK (priority IN ('low', 'normal', 'urgent')),
            text TEXT NOT NULL,
            by TEXT NOT NULL
        );
        """
    )


@migration
def m010_order_requests(db: sqlite3.Connection) -> None:
    # Operators' and the plant's work-order commands were rows of `orders` beside the
    # line's own facts (`by = 'line'`). Requests get their own stream; `orders` keeps the
    # facts. Moved rows keep their sequence numbers, and `orders` keeps its AUTOINCREMENT
    # counter, so a sequence the aggregator has seen is never issued again.
    db.executescript(
        """
        -- Work-order commands queued by operators or the plant; the agent applies each
        -- (applied: 0 pending, 1 applied, -1 refused) and records the facts in `orders`.
        CREATE TABLE order_requests (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            ts REAL NOT NULL,
            order_id TEXT NOT NULL,
            product TEXT,
            action TEXT NOT NULL,
            quantity INTEGER,
            due REAL,
            by TEXT NOT NULL,
            applied INTEGER NOT NULL DEFAULT 0
        );
        CREATE INDEX order_requests_pending ON order_requests (applied) WHERE applied = 0;
        INSERT INTO order_requests (seq, ts, order_id, product, action, quantity, due, by, applied)
            SELECT seq, ts, order_id, product, action, quantity, due, by, applied FROM orders WHERE by != 'line';
        DELETE FROM orders WHERE by != 'line';
        ALTER TABLE orders DROP COLUMN applied;
        ALTER TABLE orders DROP COLUMN by;
        ALTER TABLE orders DROP COLUMN quantity;
        ALTER TABLE orders DROP COLUMN due;
        """
    )


@migration
def m011_limit_requests(db: sqlite3.Connection) -> None:
    db.executescript(
        """
        -- Requests for new SPC limits: one person requests, another approves (then the
        -- 'recalculate' row in spc_limits tells the agent to collect a new baseline) or
        -- rejects. Local bookkeeping: the audit stream carries both signatures up.
        -- Not a stream (no AUTOINCREMENT): rows are never deleted, so ids are never reused.
        CREATE TABLE spc_limit_requests (
            id INTEGER PRIMARY KEY,
            ts REAL NOT NULL,
            characteristic TEXT NOT NULL,
            reason TEXT NOT NULL,
            requested_by TEXT NOT NULL,
            requested_badge TEXT NOT NULL,
            status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'approved', 'rejected')),
            decided_by TEXT,
            decided_ts REAL,
            comment TEXT NOT NULL DEFAULT ''
        );
        CREATE INDEX spc_limit_requests_pending ON spc_limit_requests (status) WHERE status = 'pending';
        """
    )


@migration
def m012_plan(db: sqlite3.Connection) -> None:
    db.executescript(
        """
        -- The released part of the plant's plan for this line, in sequence (replaced
        -- whole by each plan command).
        CREATE TABLE line_plan (
            position INTEGER PRIMARY KEY,
            plan_id TEXT NOT NULL,
            order_id TEXT NOT NULL,
            product TEXT NOT NULL,
            planned_start REAL NOT NULL,
            planned_end REAL NOT NULL,
            setup_min REAL NOT NULL DEFAULT 0,
            crew TEXT NOT NULL DEFAULT '[]',
            tools TEXT NOT NULL DEFAULT '[]',
            materials TEXT NOT NULL DEFAULT '[]',
            received REAL NOT NULL
        );
        -- Why an order cannot start now (material not staged, tool in maintenance, a
        -- first-off hold), declared at the line until cleared.
        CREATE TABLE order_blocks (
            order_id TEXT PRIMARY KEY,
            reason TEXT NOT NULL CHECK (reason IN ('material', 'tool', 'first_off')),
            detail TEXT NOT NULL DEFAULT '',
            by TEXT NOT NULL,
            ts REAL NOT NULL
        );
        -- The line's own decisions about its sequence (once each): a blocked planned
        -- order, and the order it picked instead while the plant was unreachable.
        CREATE TABLE plan_decisions (
            plan_id TEXT NOT NULL,
            planned TEXT NOT NULL,
            kind TEXT NOT NULL,
            chosen TEXT NOT NULL DEFAULT '',
            ts REAL NOT NULL,
            PRIMARY KEY (plan_id, planned, kind)
        );
        """
    )


@migration
def m014_execution(db: sqlite3.Connection) -> None:
    db.executescript(
        """
        -- Local bookkeeping of line execution, not streams (no AUTOINCREMENT; rows are
        -- never deleted, so a seq is never reused): the downtime, counts and orders
        -- streams carry their effect on the figures up.
        -- Reasons another domain imposed on a machine's stops (maintenance work orders,
        -- SPC quality hold, changeover overrun); reason NULL lifts the source's imposition.
        -- Facts of the line logic: the agent re-applies the active ones on restart.
        CREATE TABLE imposed_reasons (
            seq INTEGER PRIMARY KEY,
            ts REAL NOT NULL,
            machine TEXT NOT NULL,
            source TEXT NOT NULL,
            reason TEXT,
            detail TEXT NOT NULL DEFAULT ''
        );
        -- Requests to impose or lift a reason, queued by another process for the agent
        -- (applied: 0 pending, 1 applied, -1 refused).
        CREATE TABLE reason_requests (
            seq INTEGER PRIMARY KEY,
            ts REAL NOT NULL,
            machine TEXT NOT NULL,
            source TEXT NOT NULL,
            reason TEXT,
            detail TEXT NOT NULL DEFAULT '',
            by TEXT NOT NULL,
            applied INTEGER NOT NULL DEFAULT 0
        );
        CREATE INDEX reason_requests_pending ON reason_requests (applied) WHERE applied = 0;
        -- Inspections that were due and not done by the end of their order (or grace).
        CREATE TABLE inspection_misses (
            seq INTEGER PRIMARY KEY,
            ts REAL NOT NULL,
            plan TEXT NOT NULL,
            order_id TEXT NOT NULL,
            product TEXT,
            due_at REAL NOT NULL,
            reason TEXT NOT NULL DEFAULT '',
            UNIQUE (plan, order_id, due_at)
        );
        -- Changeovers the line went through: from one product to another, the standard
        -- (planned) length from the changeover matrix, and when it ended.
        CREATE TABLE changeovers (
            seq INTEGER PRIMARY KEY,
            ts REAL NOT NULL,
            action TEXT NOT NULL CHECK (action IN ('start', 'end', 'overrun')),
            from_product TEXT,
            to_product TEXT,
            order_id TEXT,
            standard_s REAL NOT NULL DEFAULT 0
        );
        """
    )


@migration
def m015_spc(db: sqlite3.Connection) -> None:
    db.executescript(
        """
        -- Limits are kept per product (NULL: the limits of a line without products),
        -- and points and alarms say which product they were charted for.
        ALTER TABLE spc_points ADD COLUMN product TEXT;
        -- n: the sample size of an attribute point.
        ALTER TABLE spc_points ADD COLUMN n REAL;
        ALTER TABLE spc_alarms ADD COLUMN product TEXT;
        ALTER TABLE spc_limits ADD COLUMN product TEXT;
        CREATE INDEX spc_points_char ON spc_points (characteristic, seq);
        CREATE INDEX spc_limits_char ON spc_limits (characteristic, seq);
        -- The out-of-control action plan: an acknowledgement names a cause and an action
        -- from the config's lists, besides its comment.
        ALTER TABLE spc_acks ADD COLUMN cause TEXT NOT NULL DEFAULT '';
        ALTER TABLE spc_acks ADD COLUMN action TEXT NOT NULL DEFAULT '';
        -- Manual attribute samples: the count in value, the units inspected in size.
        ALTER TABLE measurements ADD COLUMN size REAL;
        -- What a request for new limits asks for: a new baseline at the line (neither
        -- given), limits from the points of a baseline window, or typed centre/sigma.
        ALTER TABLE spc_limit_requests ADD COLUMN product TEXT;
        ALTER TABLE spc_limit_requests ADD COLUMN window_start REAL;
        ALTER TABLE spc_limit_requests ADD COLUMN window_end REAL;
        ALTER TABLE spc_limit_requests ADD COLUMN typed TEXT;
        """
    )


@migration
def m016_maintenance(db: sqlite3.Connection) -> None:
    db.executescript(
        """
        -- Every step of every maintenance work order (created, approve, schedule, start,
        -- pause, resume, finish, cancel, labour, parts, failure, comment): append-only,
        -- with who and when; an order's state is folded from its steps.
        CREATE TABLE maint_events (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            ts REAL NOT NULL,
            wo TEXT NOT NULL,
            kind TEXT NOT NULL,
            data TEXT NOT NULL DEFAULT '{}',
            by TEXT NOT NULL
        );
        CREATE INDEX maint_events_wo ON maint_events (wo, seq);
        -- Spare-parts movements at the line's store room: append-only and audited.
        CREATE TABLE maint_stock (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            ts REAL NOT NULL,
            part TEXT NOT NULL,
            kind TEXT NOT NULL CHECK (kind IN ('receipt', 'count', 'issue', 'reserve', 'release')),
            qty REAL NOT NULL,
            wo TEXT,
            by TEXT NOT NULL,
            why TEXT NOT NULL DEFAULT ''
        );
        -- Work-order numbers, and the due point (plan occurrence, long stop) each order was
        -- raised for: one order per due point, across restarts.
        CREATE TABLE maint_orders (
            n INTEGER PRIMARY KEY,
            key TEXT UNIQUE,
            ts REAL NOT NULL
        );
        -- Where each plan's meters stand (run hours, cycles, next due point), for a restart.
        CREATE TABLE maint_plan_state (
            plan TEXT PRIMARY KEY,
            state TEXT NOT NULL,
            ts REAL NOT NULL
        );
        """
    )


@migration
def m017_materials(db: sqlite3.Connection) -> None:
    db.executescript(
        """
        -- The plant's lot list as last sent down (one row per lot: its latest status).
        CREATE TABLE material_lots (
            lot TEXT PRIMARY KEY,
            material TEXT NOT NULL,
            status TEXT NOT NULL CHECK (status IN ('released', 'quarantine', 'blocked', 'expired')),
            expiry REAL,
            supplier_lot TEXT NOT NULL DEFAULT '',
            quantity REAL,
            reason TEXT NOT NULL DEFAULT '',
            command_id TEXT NOT NULL,
            updated REAL NOT NULL
        );
        -- Every stock movement at the line, append-only: quantity is signed (+ into the
        -- location, - out of it), so on hand is a sum. A count is the difference found.
        CREATE TABLE stock_moves (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            ts REAL NOT NULL,
            kind TEXT NOT NULL CHECK (kind IN ('in', 'out', 'count', 'backflush', 'issue')),
            location TEXT NOT NULL,
            material TEXT NOT NULL,
            lot TEXT NOT NULL,
            quantity REAL NOT NULL,
            order_id TEXT,
            reason TEXT NOT NULL DEFAULT '',
            by TEXT NOT NULL
        );
        CREATE INDEX stock_moves_location ON stock_moves (location, lot);
        CREATE INDEX stock_moves_lot ON stock_moves (lot);
        CREATE INDEX stock_moves_order ON stock_moves (order_id, ts);
        -- Genealogy: the produced lot or serial `child` consumed the lot `parent`.
        CREATE TABLE lot_links (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            ts REAL NOT NULL,
            parent TEXT NOT NULL,
            child TEXT NOT NULL,
            material TEXT NOT NULL,
            location TEXT NOT NULL DEFAULT '',
            quantity REAL,
            order_id TEXT
        );
        CREATE INDEX lot_links_parent ON lot_links (parent);
        CREATE INDEX lot_links_child ON lot_links (child);
        -- Holds and their dispositions, append-only: the latest row of a hold_id is its state.
        CREATE TABLE holds (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            ts REAL NOT NULL,
            hold_id TEXT NOT NULL,
            target_kind TEXT NOT NULL CHECK (target_kind IN ('lot', 'order', 'window')),
            target TEXT NOT NULL,
            start REAL,
            end REAL,
            action TEXT NOT NULL CHECK (action IN ('hold', 'release', 'scrap', 'rework')),
            reason TEXT NOT NULL,
            source TEXT NOT NULL DEFAULT 'operator',
            corrective_action TEXT NOT NULL DEFAULT '',
            by TEXT NOT NULL
        );
        CREATE INDEX holds_id ON holds (hold_id, seq);
        CREATE INDEX holds_target ON holds (target);
        -- The materials pass's own marks (cursors over counts, inspections, SPC alarms;
        -- shortage notices given). Local bookkeeping, not a stream.
        CREATE TABLE materials_marks (
            name TEXT PRIMARY KEY,
            value
        );
        -- The pass starts after what the line recorded before materials existed.
        INSERT INTO materials_marks (name, value) SELECT 'backflush.counts', coalesce(max(seq), 0) FROM counts;
        INSERT INTO materials_marks (name, value) SELECT 'holds.inspections', coalesce(max(seq), 0) FROM inspections;
        INSERT INTO materials_marks (name, value) SELECT 'holds.spc', coalesce(max(seq), 0) FROM spc_alarms;
        """
    )


@migration
def m018_uns(db: sqlite3.Connection) -> None:
    db.executescript(
        """
        -- Durable positions of the plant-IT publishers (the Sparkplug node's last sample
        -- handed to the broker, its birth-death sequence), so what a host missed while
        -- it was offline, or the agent was down, is sent later from the store.
        CREATE TABLE plant_it_marks (
            name TEXT PRIMARY KEY,
            value INTEGER NOT NULL,
            updated_at REAL NOT NULL
        );
        """
    )


@migration
def m013_store_identity(db: sqlite3.Connection) -> None:
    db.executescript(
        """
        -- The store's identity: a random incarnation id chosen when the store is created
        -- (or first opened by this version). Every batch carries it, so a store deleted
        -- and created anew (sequences from 1 again) is never taken for the old one, and
        -- an ack about another incarnation is ignored.
        CREATE TABLE meta (
            key TEXT PRIMARY KEY,
            value TEXT NOT NULL
        );
        INSERT INTO meta (key, value) VALUES ('incarnation', lower(hex(randomblob(16))));
        INSERT INTO meta (key, value) VALUES ('created_at', CAST((julianday('now') - 2440587.5) * 86400.0 AS TEXT));
        """
    )


@migration
def m020_spc_rs(db: sqlite3.Connection) -> None:
    db.executescript(
        """
        -- The measured values of an X̄-R or X̄-S subgroup (a JSON array), so capability
        -- takes its within sigma (R̄/d2, s̄/c4) and its overall sigma from the subgroups
        -- the chart sampled, not from every stored reading of the tag.
        ALTER TABLE spc_points ADD COLUMN subgroup TEXT;
        """
    )


@migration
def m021_inspection_stream(db: sqlite3.Connection) -> None:
    db.executescript(
        """
        -- Missed inspections become an uplink stream: a stream's sequence is AUTOINCREMENT
        -- (never reused, its highest kept in sqlite_sequence, where the uplink reads it).
        -- The table is rebuilt with its rows, their sequences kept.
        CREATE TABLE inspection_misses_stream (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            ts REAL NOT NULL,
            plan TEXT NOT NULL,
            order_id TEXT NOT NULL,
            product TEXT,
            due_at REAL NOT NULL,
            reason TEXT NOT NULL DEFAULT '',
            UNIQUE (plan, order_id, due_at)
        );
        INSERT INTO inspection_misses_stream (seq, ts, plan, order_id, product, due_at, reason)
            SELECT seq, ts, plan, order_id, product, due_at, reason FROM inspection_misses ORDER BY seq;
        DROP TABLE inspection_misses;
        ALTER TABLE inspection_misses_stream RENAME TO inspection_misses;
        CREATE INDEX inspection_misses_ts ON inspection_misses (ts);
        """
    )


@migration
def m019_trace_index(db: sqlite3.Connection) -> None:
    db.executescript(
        """
        -- A lot's process values (trace) tag by tag: each tag's window is one range of
        -- this index, in time order (write order among equal times), and it holds the
        -- value and quality too, so the trace never reads the table: without them, a
        -- tag's rows are spread over every page of it. The cost is on every sample
        -- insert (README, Benchmarks: bench/sync.py --work insert).
        CREATE INDEX samples_trace ON samples (tag_id, ts, seq, value, quality);
        """
    )
