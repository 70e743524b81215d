"""Tables of the SQLite store and the migrations that create them.

Each migration is a list of statements applied in one transaction, and the
``schema_version`` table records the migrations applied. JSON is stored as
TEXT and times as ISO 8601 text in UTC, which sorts in time order.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import aiosqlite

from blocks.errors import StorageError

logger = logging.getLogger(__name__)

_SCHEMA_VERSION_TABLE = """
CREATE TABLE IF NOT EXISTS schema_version (
    version INTEGER PRIMARY KEY,
    applied_at TEXT NOT NULL
)
"""

_INITIAL = [
    """
    CREATE TABLE workspaces (
        id TEXT PRIMARY KEY,
        slug TEXT NOT NULL UNIQUE,
        name TEXT NOT NULL,
        created_at TEXT NOT NULL
    )
    """,
    """
    CREATE TABLE api_tokens (
        id TEXT PRIMARY KEY,
        workspace_id TEXT NOT NULL REFERENCES workspaces (id),
        user_id TEXT NOT NULL,
        role TEXT NOT NULL CHECK (role IN ('admin', 'member')),
        label TEXT NOT NULL,
        token_hash TEXT NOT NULL UNIQUE,
        created_at TEXT NOT NULL,
        revoked_at TEXT
    )
    """,
    "CREATE INDEX api_tokens_workspace ON api_tokens (workspace_id, id)",
    """
    CREATE TABLE apps (
        id TEXT PRIMARY KEY,
        workspace_id TEXT NOT NULL REFERENCES workspaces (id),
        slug TEXT NOT NULL,
        name TEXT NOT NULL,
        description TEXT NOT NULL,
        current_version INTEGER NOT NULL,
        shared_with_members INTEGER NOT NULL,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        UNIQUE (workspace_id, slug)
    )
    """,
    """
    CREATE TABLE app_versions (
        app_id TEXT NOT NULL REFERENCES apps (id),
        number INTEGER NOT NULL,
        definition TEXT NOT NULL,
        author TEXT NOT NULL,
        note TEXT NOT NULL,
        created_at TEXT NOT NULL,
        PRIMARY KEY (app_id, number)
    )
    """,
    """
    CREATE TRIGGER app_versions_immutable BEFORE UPDATE ON app_versions
    BEGIN
        SELECT RAISE(ABORT, 'app versions are immutable, so save a new version');
    END
    """,
    """
    CREATE TABLE records (
        id TEXT PRIMARY KEY,
        workspace_id TEXT NOT NULL REFERENCES workspaces (id),
        app_id TEXT NOT NULL REFERENCES apps (id),
        version INTEGER NOT NULL,
        data TEXT NOT NULL,
        created_by TEXT NOT NULL,
        created_at TEXT NOT NULL,
        updated_by TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        revision INTEGER NOT NULL,
        idempotency_key TEXT,
        deleted_at TEXT,
        deleted_by TEXT,
        FOREIGN KEY (app_id, version) REFERENCES app_versions (app_id, number)
    )
    """,
    # NULL keys never collide in a SQLite unique index, so records without
    # an idempotency key are not constrained.
    """
    CREATE UNIQUE INDEX records_idempotency
    ON records (app_id, created_by, idempotency_key)
    """,
    "CREATE INDEX records_app ON records (app_id, id) WHERE deleted_at IS NULL",
    """
    CREATE INDEX records_app_creator ON records (app_id, created_by, id)
    WHERE deleted_at IS NULL
    """,
    """
    CREATE TABLE files (
        id TEXT PRIMARY KEY,
        workspace_id TEXT NOT NULL REFERENCES workspaces (id),
        filename TEXT NOT NULL,
        content_type TEXT NOT NULL,
        size INTEGER NOT NULL,
        sha256 TEXT NOT NULL,
        created_by TEXT NOT NULL,
        created_at TEXT NOT NULL
    )
    """,
    """
    CREATE TABLE sequences (
        app_id TEXT NOT NULL REFERENCES apps (id),
        block_id TEXT NOT NULL,
        last_value INTEGER NOT NULL,
        PRIMARY KEY (app_id, block_id)
    )
    """,
    # AUTOINCREMENT keeps a seq from being reused after the newest rows are
    # deleted, because clients keep seqs as catch-up positions.
    """
    CREATE TABLE outbox (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        workspace_id TEXT NOT NULL REFERENCES workspaces (id),
        app_id TEXT NOT NULL,
        kind TEXT NOT NULL,
        subject_id TEXT NOT NULL,
        payload TEXT NOT NULL,
        owner TEXT,
        created_at TEXT NOT NULL,
        dispatched_at TEXT
    )
    """,
    "CREATE INDEX outbox_workspace ON outbox (workspace_id, seq)",
    "CREATE INDEX outbox_undispatched ON outbox (seq) WHERE dispatched_at IS NULL",
]

# Workflows, their runs and step executions. Run and step rows are the
# durable state of the engine: a lost queue message is re-sent from them.
_WORKFLOWS = [
    """
    CREATE TABLE workflows (
        id TEXT PRIMARY KEY,
        workspace_id TEXT NOT NULL REFERENCES workspaces (id),
        app_id TEXT NOT NULL REFERENCES apps (id),
        name TEXT NOT NULL,
        current_version INTEGER NOT NULL,
        start_seq INTEGER NOT NULL,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    )
    """,
    "CREATE INDEX workflows_workspace ON workflows (workspace_id, app_id, id)",
    """
    CREATE TABLE workflow_versions (
        workflow_id TEXT NOT NULL REFERENCES workflows (id),
        number INTEGER NOT NULL,
        definition TEXT NOT NULL,
        author TEXT NOT NULL,
        note TEXT NOT NULL,
        created_at TEXT NOT NULL,
        PRIMARY KEY (workflow_id, number)
    )
    """,
    """
    CREATE TRIGGER workflow_versions_immutable BEFORE UPDATE ON workflow_versions
    BEGIN
        SELECT RAISE(ABORT, 'workflow versions are immutable, so save a new version');
    END
    """,
    """
    CREATE TABLE workflow_runs (
        id TEXT PRIMARY KEY,
        workspace_id TEXT NOT NULL REFERENCES workspaces (id),
        workflow_id TEXT NOT NULL REFERENCES workflows (id),
        workflow_version INTEGER NOT NULL,
        status TEXT NOT NULL CHECK (
            status IN ('queued', 'running', 'waiting', 'completed', 'failed')
        ),
        trigger TEXT NOT NULL,
        depth INTEGER NOT NULL,
        event_seq INTEGER,
        scheduled_for TEXT,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        started_at TEXT,
        finished_at TEXT,
        next_attempt_at TEXT,
        lease_until TEXT,
        enqueued_at TEXT,
        error TEXT,
        error_step TEXT
    )
    """,
    # NULLs never collide in a SQLite unique index, so each index constrains
    # only the runs of its trigger kind: one run per (workflow, event) and
    # one per (workflow, due time), whichever process creates it first.
    "CREATE UNIQUE INDEX workflow_runs_event ON workflow_runs (workflow_id, event_seq)",
    """
    CREATE UNIQUE INDEX workflow_runs_schedule
    ON workflow_runs (workflow_id, scheduled_for)
    """,
    "CREATE INDEX workflow_runs_workflow ON workflow_runs (workflow_id, created_at)",
    """
    CREATE INDEX workflow_runs_open ON workflow_runs (status, next_attempt_at)
    WHERE status IN ('queued', 'running', 'waiting')
    """,
    """
    CREATE TABLE workflow_step_executions (
        run_id TEXT NOT NULL REFERENCES workflow_runs (id),
        step_key TEXT NOT NULL,
        step_id TEXT NOT NULL,
        step_type TEXT NOT NULL,
        status TEXT NOT NULL CHECK (
            status IN ('running', 'retrying', 'waiting', 'done', 'failed')
        ),
        attempts INTEGER NOT NULL,
        position INTEGER NOT NULL,
        started_at TEXT,
        finished_at TEXT,
        resume_at TEXT,
        input TEXT NOT NULL,
        output TEXT NOT NULL,
        branch TEXT,
        error TEXT,
        PRIMARY KEY (run_id, step_key)
    )
    """,
    """
    CREATE TABLE workflow_consumers (
        name TEXT PRIMARY KEY,
        last_seq INTEGER NOT NULL,
        updated_at TEXT NOT NULL
    )
    """,
    """
    CREATE TABLE workflow_record_snapshots (
        record_id TEXT PRIMARY KEY,
        revision INTEGER NOT NULL,
        data TEXT NOT NULL,
        deleted INTEGER NOT NULL
    )
    """,
]

# Approval steps, user notifications and per-workspace user attributes. A
# run waiting for a decision is a waiting run with its deadline as
# ``next_attempt_at``; ``wake_requested_at`` keeps a decision's wake-up
# that arrives while a worker has the run's lease.
_APPROVALS = [
    "ALTER TABLE workflow_runs ADD COLUMN wake_requested_at TEXT",
    """
    CREATE TABLE workflow_approvals (
        run_id TEXT NOT NULL REFERENCES workflow_runs (id),
        step_key TEXT NOT NULL,
        workspace_id TEXT NOT NULL REFERENCES workspaces (id),
        workflow_id TEXT NOT NULL,
        record_id TEXT,
        submitter TEXT,
        level INTEGER NOT NULL,
        level_count INTEGER NOT NULL,
        escalated INTEGER NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('pending', 'approved', 'rejected')),
        approvers TEXT NOT NULL,
        approver_roles TEXT NOT NULL,
        level_started_at TEXT NOT NULL,
        deadline TEXT,
        reason TEXT,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        PRIMARY KEY (run_id, step_key)
    )
    """,
    """
    CREATE INDEX workflow_approvals_pending ON workflow_approvals (workspace_id)
    WHERE status = 'pending'
    """,
    """
    CREATE TABLE workflow_approval_decisions (
        run_id TEXT NOT NULL,
        step_key TEXT NOT NULL,
        level INTEGER NOT NULL,
        user_id TEXT NOT NULL,
        decision TEXT NOT NULL CHECK (decision IN ('approve', 'reject')),
        comment TEXT,
        decided_at TEXT NOT NULL,
        PRIMARY KEY (run_id, step_key, level, user_id),
        FOREIGN KEY (run_id, step_key)
            REFERENCES workflow_approvals (run_id, step_key)
    )
    """,
    """
    CREATE TABLE workflow_notifications (
        id TEXT PRIMARY KEY,
        key TEXT NOT NULL UNIQUE,
        workspace_id TEXT NOT NULL REFERENCES workspaces (id),
        user_id TEXT NOT NULL,
        kind TEXT NOT NULL,
        subject TEXT NOT NULL,
        text TEXT NOT NULL,
        data TEXT NOT NULL,
        created_at TEXT NOT NULL,
        emailed_at TEXT
    )
    """,
    """
    CREATE INDEX workflow_notifications_user
    ON workflow_notifications (workspace_id, user_id, id)
    """,
    """
    CREATE TABLE workflow_user_attributes (
        workspace_id TEXT NOT NULL REFERENCES workspaces (id),
        user_id TEXT NOT NULL,
        name TEXT NOT NULL,
        value TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        PRIMARY KEY (workspace_id, user_id, name)
    )
    """,
]

# The fingerprint of the request that first used a record's idempotency key,
# so that a repeat of the key with a different request can be rejected.
# Records stored before this migration keep NULL, which matches any request.
_IDEMPOTENCY_FINGERPRINTS = [
    "ALTER TABLE records ADD COLUMN idempotency_fingerprint TEXT",
]

_RUN_COLUMNS = (
    "id, workspace_id, workflow_id, workflow_version, status, trigger, depth, "
    "event_seq, scheduled_for, created_at, updated_at, started_at, finished_at, "
    "next_attempt_at, lease_until, enqueued_at, error, error_step, "
    "wake_requested_at"
)

# The 'cancelled' run status, with who cancelled a run and why. SQLite cannot
# change a CHECK constraint in place, so the runs table is rebuilt: a new
# table is filled, the old one dropped, the new one renamed. ``migrate``
# runs migrations with foreign keys off, because dropping the old table
# would otherwise fail on the step executions and approvals that refer to it.
_RUN_CANCELLATION = [
    """
    CREATE TABLE workflow_runs_new (
        id TEXT PRIMARY KEY,
        workspace_id TEXT NOT NULL REFERENCES workspaces (id),
        workflow_id TEXT NOT NULL REFERENCES workflows (id),
        workflow_version INTEGER NOT NULL,
        status TEXT NOT NULL CHECK (
            status IN (
                'queued', 'running', 'waiting', 'completed', 'failed', 'cancelled'
            )
        ),
        trigger TEXT NOT NULL,
        depth INTEGER NOT NULL,
        event_seq INTEGER,
        scheduled_for TEXT,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        started_at TEXT,
        finished_at TEXT,
        next_attempt_at TEXT,
        lease_until TEXT,
        enqueued_at TEXT,
        error TEXT,
        error_step TEXT,
        wake_requested_at TEXT,
        cancelled_by TEXT,
        cancel_reason TEXT
    )
    """,
    f"INSERT INTO workflow_runs_new ({_RUN_COLUMNS}) "
    f"SELECT {_RUN_COLUMNS} FROM workflow_runs",
    "DROP TABLE workflow_runs",
    "ALTER TABLE workflow_runs_new RENAME TO workflow_runs",
    "CREATE UNIQUE INDEX workflow_runs_event ON workflow_runs (workflow_id, event_seq)",
    """
    CREATE UNIQUE INDEX workflow_runs_schedule
    ON workflow_runs (workflow_id, scheduled_for)
    """,
    "CREATE INDEX workflow_runs_workflow ON workflow_runs (workflow_id, created_at)",
    """
    CREATE INDEX workflow_runs_open ON workflow_runs (status, next_attempt_at)
    WHERE status IN ('queued', 'running', 'waiting')
    """,
]

MIGRATIONS: list[list[str]] = [
    _INITIAL,
    _WORKFLOWS,
    _APPROVALS,
    _IDEMPOTENCY_FINGERPRINTS,
    _RUN_CANCELLATION,
]
"""Migration ``n`` (from 1) brings the schema from version ``n - 1`` to ``n``."""

SCHEMA_VERSION = len(MIGRATIONS)


async def migrate(db: aiosqlite.Connection) -> int:
    """Apply the migrations the database lacks and return its schema version.

    Each migration runs in its own ``BEGIN IMMEDIATE`` transaction, which
    also keeps two processes opening the same file from applying it twice.
    Foreign keys are off meanwhile, as SQLite's procedure for rebuilding a
    table requires, and each migration is checked with ``PRAGMA
    foreign_key_check`` before it commits.

    Raises:
        StorageError: the database has a newer schema than this code knows,
            or a migration left a row whose foreign key refers to nothing.
    """
    await db.execute(_SCHEMA_VERSION_TABLE)
    # SQLite ignores this pragma inside a transaction, so it is set before.
    await db.execute("PRAGMA foreign_keys = OFF")
    try:
        return await _apply_migrations(db)
    finally:
        await db.execute("PRAGMA foreign_keys = ON")


async def _apply_migrations(db: aiosqlite.Connection) -> int:
    while True:
        await db.execute("BEGIN IMMEDIATE")
        try:
            current = await _current_version(db)
            if current > SCHEMA_VERSION:
                raise StorageError(
                    f"The database schema is version {current}, but this appgraph "
                    f"supports versions up to {SCHEMA_VERSION}. Upgrade appgraph "
                    f"or open a different database file."
                )
            if current == SCHEMA_VERSION:
                await db.execute("COMMIT")
                return current
            for statement in MIGRATIONS[current]:
                await db.execute(statement)
            async with db.execute("PRAGMA foreign_key_check") as cursor:
                broken = list(await cursor.fetchall())
            if broken:
                raise StorageError(
                    f"Migration {current + 1} of the SQLite store left rows whose "
                    f"foreign keys refer to no row, such as {tuple(broken[0])}. "
                    f"It was rolled back, so the database is unchanged."
                )
            await db.execute(
                "INSERT INTO schema_version (version, applied_at) VALUES (?, ?)",
                (current + 1, datetime.now(UTC).isoformat()),
            )
            await db.execute("COMMIT")
            logger.info("Migrated the SQLite store schema to version %d", current + 1)
        except BaseException:
            if db.in_transaction:
                await db.execute("ROLLBACK")
            raise


async def _current_version(db: aiosqlite.Connection) -> int:
    async with db.execute("SELECT max(version) FROM schema_version") as cursor:
        row = await cursor.fetchone()
    if row is None or row[0] is None:
        return 0
    return int(row[0])
