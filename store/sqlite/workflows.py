"""The workflow store on the SQLite file of a :class:`SQLiteStore`.

It shares the store's connections and write lock, so workflow writes and
record writes of one process are serialized together, and each method is
one transaction.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import aiosqlite

from blocks.errors import ConflictError, NotFoundError
from store.base import new_id
from store.models import EventKind
from store.sqlite.backend import (
    SQLiteStore,
    _dump_json,
    _event,
    _fetch,
    _is_unique_violation,
    _now,
    _optional_time,
    _text,
    _time,
)
from store.workflows import (
    OPEN_RUN_STATUSES,
    RECORD_WRITTEN_EVENT,
    ApprovalDecision,
    ApprovalStatus,
    Decision,
    NewNotification,
    NewRun,
    Notification,
    RecordState,
    RunStatus,
    StepExecution,
    StepStatus,
    StoredApproval,
    TriggerEvent,
    Workflow,
    WorkflowRun,
    WorkflowStore,
    WorkflowVersion,
)

_RECORD_KINDS = (
    str(EventKind.RECORD_CREATED),
    str(EventKind.RECORD_UPDATED),
    str(EventKind.RECORD_DELETED),
)
_FINISHED = (RunStatus.COMPLETED, RunStatus.FAILED)


class SQLiteWorkflowStore(WorkflowStore):
    """A :class:`~store.workflows.WorkflowStore` beside a :class:`SQLiteStore`.

    Args:
        store: The open (or later opened) store whose file holds the tables.
    """

    def __init__(self, store: SQLiteStore) -> None:
        self.store = store

    # Definitions -----------------------------------------------------------

    async def create_workflow(
        self,
        workspace_id: str,
        app_id: str,
        name: str,
        definition: dict[str, Any],
        author: str,
        note: str = "",
    ) -> tuple[Workflow, WorkflowVersion]:
        """Create a workflow of an app with version 1 of its definition."""
        now = _now()
        async with self.store._write() as db:
            rows = await _fetch(
                db,
                "SELECT 1 FROM apps WHERE id = ? AND workspace_id = ?",
                (app_id, workspace_id),
            )
            if not rows:
                raise NotFoundError(
                    f"App {app_id!r} was not found in workspace {workspace_id!r}. "
                    f"Check the app id."
                )
            start_seq = await _max_seq(db)
            workflow = Workflow(
                id=new_id(),
                workspace_id=workspace_id,
                app_id=app_id,
                name=name,
                current_version=1,
                start_seq=start_seq,
                created_at=now,
                updated_at=now,
            )
            await db.execute(
                "INSERT INTO workflows (id, workspace_id, app_id, name, "
                "current_version, start_seq, created_at, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    workflow.id,
                    workspace_id,
                    app_id,
                    name,
                    1,
                    start_seq,
                    _text(now),
                    _text(now),
                ),
            )
            version = WorkflowVersion(workflow.id, 1, definition, author, note, now)
            await _insert_version(db, version)
        return workflow, version

    async def save_workflow_version(
        self,
        workflow_id: str,
        name: str,
        definition: dict[str, Any],
        author: str,
        note: str = "",
        expected_current: int | None = None,
    ) -> WorkflowVersion:
        """Save version n + 1 of a workflow and make it current."""
        now = _now()
        async with self.store._write() as db:
            rows = await _fetch(
                db, "SELECT current_version FROM workflows WHERE id = ?", (workflow_id,)
            )
            if not rows:
                raise _workflow_not_found(workflow_id)
            current = int(rows[0]["current_version"])
            if expected_current is not None and expected_current != current:
                raise ConflictError(
                    f"Workflow {workflow_id!r} is at version {current}, but the "
                    f"change was based on version {expected_current}. Reload the "
                    f"workflow and apply the change again."
                )
            version = WorkflowVersion(
                workflow_id, current + 1, definition, author, note, now
            )
            await _insert_version(db, version)
            await db.execute(
                "UPDATE workflows SET current_version = ?, name = ?, updated_at = ? "
                "WHERE id = ?",
                (version.number, name, _text(now), workflow_id),
            )
        return version

    async def get_workflow(self, workflow_id: str) -> Workflow | None:
        """Return the workflow with ``workflow_id``, or None."""
        row = await self.store._fetch_one(
            "SELECT * FROM workflows WHERE id = ?", (workflow_id,)
        )
        return None if row is None else _workflow(row)

    async def list_workflows(
        self, workspace_id: str, app_id: str | None = None
    ) -> list[Workflow]:
        """Return the workflows of a workspace or app, oldest first."""
        sql = "SELECT * FROM workflows WHERE workspace_id = ?"
        params: list[object] = [workspace_id]
        if app_id is not None:
            sql += " AND app_id = ?"
            params.append(app_id)
        rows = await self.store._fetch_all(sql + " ORDER BY id", params)
        return [_workflow(row) for row in rows]

    async def get_workflow_version(
        self, workflow_id: str, number: int
    ) -> WorkflowVersion | None:
        """Return version ``number`` of a workflow, or None."""
        row = await self.store._fetch_one(
            "SELECT * FROM workflow_versions WHERE workflow_id = ? AND number = ?",
            (workflow_id, number),
        )
        return None if row is None else _version(row)

    async def list_workflow_versions(self, workflow_id: str) -> list[WorkflowVersion]:
        """Return every version of a workflow, oldest first."""
        rows = await self.store._fetch_all(
            "SELECT * FROM workflow_versions WHERE workflow_id = ? ORDER BY number",
            (workflow_id,),
        )
        return [_version(row) for row in rows]

    async def list_current_workflows(
        self, app_ids: Sequence[str] | None = None
    ) -> list[tuple[Workflow, WorkflowVersion]]:
        """Return workflows with their current versions."""
        sql = (
            "SELECT w.*, v.definition, v.author, v.note, "
            "v.created_at AS version_created_at FROM workflows AS w "
            "JOIN workflow_versions AS v "
            "ON v.workflow_id = w.id AND v.number = w.current_version"
        )
        params: list[object] = []
        if app_ids is not None:
            sql += " WHERE w.app_id IN (SELECT value FROM json_each(?))"
            params.append(json.dumps(list(app_ids)))
        rows = await self.store._fetch_all(sql + " ORDER BY w.id", params)
        result = []
        for row in rows:
            version = WorkflowVersion(
                workflow_id=row["id"],
                number=row["current_version"],
                definition=json.loads(row["definition"]),
                author=row["author"],
                note=row["note"],
                created_at=_time(row["version_created_at"]),
            )
            result.append((_workflow(row), version))
        return result

    # Runs ------------------------------------------------------------------

    async def insert_run(self, new: NewRun) -> tuple[WorkflowRun, bool]:
        """Create a run unless the workflow has one for the event or due time."""
        now = _now()
        run_id = new_id()
        finished = new.status in _FINISHED
        async with self.store._write() as db:
            try:
                await db.execute(
                    "INSERT INTO workflow_runs (id, workspace_id, workflow_id, "
                    "workflow_version, status, trigger, depth, event_seq, "
                    "scheduled_for, created_at, updated_at, finished_at, error) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        run_id,
                        new.workspace_id,
                        new.workflow_id,
                        new.workflow_version,
                        str(new.status),
                        _dump_json(new.trigger, "trigger payload"),
                        new.depth,
                        new.event_seq,
                        _optional_text(new.scheduled_for),
                        _text(now),
                        _text(now),
                        _text(now) if finished else None,
                        new.error,
                    ),
                )
            except sqlite3.IntegrityError as error:
                if not (
                    _is_unique_violation(error, "workflow_runs.event_seq")
                    or _is_unique_violation(error, "workflow_runs.scheduled_for")
                ):
                    raise
                rows = await _fetch(
                    db,
                    "SELECT * FROM workflow_runs WHERE workflow_id = ? "
                    "AND (event_seq = ? OR scheduled_for = ?)",
                    (
                        new.workflow_id,
                        new.event_seq,
                        _optional_text(new.scheduled_for),
                    ),
                )
                return _run(rows[0]), False
            rows = await _fetch(
                db, "SELECT * FROM workflow_runs WHERE id = ?", (run_id,)
            )
        return _run(rows[0]), True

    async def get_run(self, run_id: str) -> WorkflowRun | None:
        """Return the run with ``run_id``, or None."""
        row = await self.store._fetch_one(
            "SELECT * FROM workflow_runs WHERE id = ?", (run_id,)
        )
        return None if row is None else _run(row)

    async def list_runs(
        self,
        workflow_id: str,
        *,
        status: RunStatus | None = None,
        limit: int = 50,
    ) -> list[WorkflowRun]:
        """Return the latest runs of a workflow, newest first."""
        sql = "SELECT * FROM workflow_runs WHERE workflow_id = ?"
        params: list[object] = [workflow_id]
        if status is not None:
            sql += " AND status = ?"
            params.append(str(status))
        rows = await self.store._fetch_all(
            sql + " ORDER BY id DESC LIMIT ?", [*params, limit]
        )
        return [_run(row) for row in rows]

    async def claim_run(
        self, run_id: str, now: datetime, lease_until: datetime
    ) -> WorkflowRun | None:
        """Take the lease of an open run unless another worker holds it."""
        async with self.store._write() as db:
            rows = await _fetch(
                db,
                "UPDATE workflow_runs SET status = 'running', lease_until = ?, "
                "updated_at = ?, started_at = coalesce(started_at, ?), "
                "wake_requested_at = NULL "
                "WHERE id = ? AND status IN (SELECT value FROM json_each(?)) "
                "AND (lease_until IS NULL OR lease_until < ?) RETURNING *",
                (
                    _text(lease_until),
                    _text(now),
                    _text(now),
                    run_id,
                    json.dumps([str(s) for s in OPEN_RUN_STATUSES]),
                    _text(now),
                ),
            )
        return _run(rows[0]) if rows else None

    async def release_run(
        self,
        run_id: str,
        now: datetime,
        status: RunStatus,
        *,
        next_attempt_at: datetime | None = None,
        error: str | None = None,
        error_step: str | None = None,
    ) -> WorkflowRun:
        """Drop the lease and store the run's new status."""
        finished = _text(now) if status in _FINISHED else None
        # A wake-up requested while the lease was held makes a waiting run
        # due at once instead of at ``next_attempt_at``.
        async with self.store._write() as db:
            rows = await _fetch(
                db,
                "UPDATE workflow_runs SET status = ?, lease_until = NULL, "
                "next_attempt_at = CASE WHEN ? = 'waiting' "
                "AND wake_requested_at IS NOT NULL THEN wake_requested_at "
                "ELSE ? END, wake_requested_at = NULL, "
                "error = ?, error_step = ?, updated_at = ?, "
                "finished_at = ?, enqueued_at = coalesce(?, enqueued_at) "
                "WHERE id = ? RETURNING *",
                (
                    str(status),
                    str(status),
                    _optional_text(next_attempt_at),
                    error,
                    error_step,
                    _text(now),
                    finished,
                    None if finished else _text(now),
                    run_id,
                ),
            )
        if not rows:
            raise _run_not_found(run_id)
        return _run(rows[0])

    async def restart_run(self, run_id: str, now: datetime) -> WorkflowRun:
        """Queue a failed run again from its failed step."""
        async with self.store._write() as db:
            rows = await _fetch(
                db, "SELECT status FROM workflow_runs WHERE id = ?", (run_id,)
            )
            if not rows:
                raise _run_not_found(run_id)
            if rows[0]["status"] != RunStatus.FAILED:
                raise ConflictError(
                    f"Run {run_id!r} is {rows[0]['status']}, not failed. Only a "
                    f"failed run can be retried."
                )
            await db.execute(
                "UPDATE workflow_step_executions SET status = ?, attempts = 0, "
                "error = NULL WHERE run_id = ? AND status = ?",
                (str(StepStatus.RETRYING), run_id, str(StepStatus.FAILED)),
            )
            rows = await _fetch(
                db,
                "UPDATE workflow_runs SET status = ?, error = NULL, "
                "error_step = NULL, finished_at = NULL, next_attempt_at = NULL, "
                "lease_until = NULL, enqueued_at = NULL, updated_at = ? "
                "WHERE id = ? RETURNING *",
                (str(RunStatus.QUEUED), _text(now), run_id),
            )
        return _run(rows[0])

    async def list_due_runs(
        self, now: datetime, enqueued_before: datetime, limit: int
    ) -> list[str]:
        """Return ids of open runs that need a message now."""
        rows = await self.store._fetch_all(
            "SELECT id FROM workflow_runs WHERE "
            "(status IN ('queued', 'waiting') "
            " AND (next_attempt_at IS NULL OR next_attempt_at <= ?) "
            " AND (enqueued_at IS NULL OR enqueued_at < ?) "
            " AND (lease_until IS NULL OR lease_until < ?)) "
            "OR (status = 'running' AND (lease_until IS NULL OR lease_until < ?)"
            " AND (enqueued_at IS NULL OR enqueued_at < ?)) "
            "ORDER BY id LIMIT ?",
            (
                _text(now),
                _text(enqueued_before),
                _text(now),
                _text(now),
                _text(enqueued_before),
                limit,
            ),
        )
        return [row["id"] for row in rows]

    async def last_scheduled_for(self, workflow_id: str) -> datetime | None:
        """Return the latest due time of the workflow's schedule runs, or None."""
        row = await self.store._fetch_one(
            "SELECT max(scheduled_for) FROM workflow_runs WHERE workflow_id = ?",
            (workflow_id,),
        )
        return None if row is None else _optional_time(row[0])

    async def list_open_runs(self, limit: int) -> list[str]:
        """Return ids of every queued, running or waiting run, oldest first."""
        rows = await self.store._fetch_all(
            "SELECT id FROM workflow_runs WHERE status IN "
            "('queued', 'running', 'waiting') ORDER BY id LIMIT ?",
            (limit,),
        )
        return [row["id"] for row in rows]

    async def mark_enqueued(self, run_ids: Sequence[str], now: datetime) -> None:
        """Store that a message was sent for each run."""
        if not run_ids:
            return
        async with self.store._write() as db:
            await db.execute(
                "UPDATE workflow_runs SET enqueued_at = ? "
                "WHERE id IN (SELECT value FROM json_each(?))",
                (_text(now), json.dumps(list(run_ids))),
            )

    # Step executions -------------------------------------------------------

    async def list_step_executions(self, run_id: str) -> list[StepExecution]:
        """Return the step executions of a run in the order they started."""
        rows = await self.store._fetch_all(
            "SELECT * FROM workflow_step_executions WHERE run_id = ? ORDER BY position",
            (run_id,),
        )
        return [_step(row) for row in rows]

    async def start_step(
        self,
        run_id: str,
        step_key: str,
        step_id: str,
        step_type: str,
        now: datetime,
        input: dict[str, Any],
        *,
        count_attempt: bool = True,
    ) -> StepExecution:
        """Mark a step running, counting a new attempt if ``count_attempt``."""
        async with self.store._write() as db:
            rows = await _fetch(
                db,
                "INSERT INTO workflow_step_executions (run_id, step_key, step_id, "
                "step_type, status, attempts, position, started_at, input, output) "
                "VALUES (?, ?, ?, ?, 'running', 1, (SELECT count(*) FROM "
                "workflow_step_executions WHERE run_id = ?), ?, ?, '{}') "
                "ON CONFLICT (run_id, step_key) DO UPDATE SET status = 'running', "
                "attempts = attempts + ?, started_at = excluded.started_at, "
                "finished_at = NULL, input = excluded.input RETURNING *",
                (
                    run_id,
                    step_key,
                    step_id,
                    step_type,
                    run_id,
                    _text(now),
                    _dump_json(input, "step input"),
                    int(count_attempt),
                ),
            )
        return _step(rows[0])

    async def finish_step(
        self,
        run_id: str,
        step_key: str,
        now: datetime,
        status: StepStatus,
        *,
        output: dict[str, Any] | None = None,
        branch: str | None = None,
        error: str | None = None,
        resume_at: datetime | None = None,
    ) -> None:
        """Store the outcome of the current attempt of a step."""
        async with self.store._write() as db:
            cursor = await db.execute(
                "UPDATE workflow_step_executions SET status = ?, output = ?, "
                "branch = ?, error = ?, resume_at = ?, finished_at = ? "
                "WHERE run_id = ? AND step_key = ?",
                (
                    str(status),
                    _dump_json(output or {}, "step output"),
                    branch,
                    error,
                    _optional_text(resume_at),
                    _text(now) if status != StepStatus.WAITING else None,
                    run_id,
                    step_key,
                ),
            )
            if cursor.rowcount == 0:
                raise NotFoundError(
                    f"Run {run_id!r} has no execution of step {step_key!r}. Start "
                    f"the step before finishing it."
                )

    async def find_step_write(self, idempotency_key: str, after_seq: int) -> str | None:
        """Return the record id a step wrote, or None."""
        row = await self.store._fetch_one(
            "SELECT subject_id FROM outbox WHERE seq > ? AND kind = ? "
            "AND json_extract(payload, '$.idempotency_key') = ? ORDER BY seq LIMIT 1",
            (after_seq, RECORD_WRITTEN_EVENT, idempotency_key),
        )
        return None if row is None else str(row["subject_id"])

    # Trigger consumption ---------------------------------------------------

    async def get_consumer_offset(self, name: str) -> int | None:
        """Return the last outbox seq the consumer handled, or None."""
        row = await self.store._fetch_one(
            "SELECT last_seq FROM workflow_consumers WHERE name = ?", (name,)
        )
        return None if row is None else int(row["last_seq"])

    async def set_consumer_offset(self, name: str, seq: int) -> None:
        """Move the consumer's offset forward to ``seq``, never back."""
        async with self.store._write() as db:
            await db.execute(
                "INSERT INTO workflow_consumers (name, last_seq, updated_at) "
                "VALUES (?, ?, ?) ON CONFLICT (name) DO UPDATE SET "
                "last_seq = max(last_seq, excluded.last_seq), "
                "updated_at = excluded.updated_at",
                (name, seq, _text(_now())),
            )

    async def fetch_trigger_events(
        self, after_seq: int, limit: int
    ) -> list[TriggerEvent]:
        """Return record events after ``after_seq`` with their chain depth."""
        # A step's write adds its RECORD_WRITTEN_EVENT right after the record
        # event in the same transaction, and SQLite has one writer, so the
        # companion event has the next seq.
        rows = await self.store._fetch_all(
            "SELECT o.*, json_extract(c.payload, '$.chain_depth') AS chain_depth "
            "FROM outbox AS o LEFT JOIN outbox AS c ON c.seq = o.seq + 1 "
            "AND c.kind = ? AND c.subject_id = o.subject_id "
            "WHERE o.seq > ? AND o.kind IN (SELECT value FROM json_each(?)) "
            "ORDER BY o.seq LIMIT ?",
            (RECORD_WRITTEN_EVENT, after_seq, json.dumps(_RECORD_KINDS), limit),
        )
        return [TriggerEvent(_event(row), int(row["chain_depth"] or 0)) for row in rows]

    async def max_event_seq(self) -> int:
        """Return the greatest outbox seq, or 0."""
        row = await self.store._fetch_one("SELECT max(seq) FROM outbox")
        return 0 if row is None or row[0] is None else int(row[0])

    async def get_record_state(self, record_id: str) -> RecordState | None:
        """Return a record's data and revision, deleted or not."""
        row = await self.store._fetch_one(
            "SELECT id, revision, data, deleted_at FROM records WHERE id = ?",
            (record_id,),
        )
        if row is None:
            return None
        return RecordState(
            row["id"],
            row["revision"],
            json.loads(row["data"]),
            row["deleted_at"] is not None,
        )

    async def get_record_snapshot(self, record_id: str) -> RecordState | None:
        """Return the record data the trigger dispatcher saw last, or None."""
        row = await self.store._fetch_one(
            "SELECT * FROM workflow_record_snapshots WHERE record_id = ?",
            (record_id,),
        )
        if row is None:
            return None
        return RecordState(
            row["record_id"],
            row["revision"],
            json.loads(row["data"]),
            bool(row["deleted"]),
        )

    async def put_record_snapshot(self, state: RecordState) -> None:
        """Keep ``state`` unless a later revision is kept already."""
        async with self.store._write() as db:
            await db.execute(
                "INSERT INTO workflow_record_snapshots (record_id, revision, data, "
                "deleted) VALUES (?, ?, ?, ?) ON CONFLICT (record_id) DO UPDATE SET "
                "revision = excluded.revision, data = excluded.data, "
                "deleted = excluded.deleted "
                "WHERE excluded.revision >= workflow_record_snapshots.revision",
                (
                    state.record_id,
                    state.revision,
                    _dump_json(state.data, "record data"),
                    int(state.deleted),
                ),
            )

    # Wake-ups and approvals ------------------------------------------------

    async def wake_run(self, run_id: str, now: datetime) -> None:
        """Make a waiting run due now, or once its worker releases it."""
        async with self.store._write() as db:
            await _wake(db, run_id, now)

    async def get_approval(self, run_id: str, step_key: str) -> StoredApproval | None:
        """Return the approval state of a step of a run, or None."""
        row = await self.store._fetch_one(
            "SELECT * FROM workflow_approvals WHERE run_id = ? AND step_key = ?",
            (run_id, step_key),
        )
        return None if row is None else _approval(row)

    async def save_approval(self, approval: StoredApproval) -> None:
        """Create or replace the approval state of a step of a run."""
        async with self.store._write() as db:
            await db.execute(
                "INSERT INTO workflow_approvals (run_id, step_key, workspace_id, "
                "workflow_id, record_id, submitter, level, level_count, escalated, "
                "status, approvers, approver_roles, level_started_at, deadline, "
                "reason, created_at, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (run_id, step_key) DO UPDATE SET level = excluded.level, "
                "escalated = excluded.escalated, status = excluded.status, "
                "approvers = excluded.approvers, "
                "approver_roles = excluded.approver_roles, "
                "level_started_at = excluded.level_started_at, "
                "deadline = excluded.deadline, reason = excluded.reason, "
                "updated_at = excluded.updated_at",
                (
                    approval.run_id,
                    approval.step_key,
                    approval.workspace_id,
                    approval.workflow_id,
                    approval.record_id,
                    approval.submitter,
                    approval.level,
                    approval.level_count,
                    int(approval.escalated),
                    str(approval.status),
                    json.dumps(list(approval.approvers)),
                    json.dumps(list(approval.approver_roles)),
                    _text(approval.level_started_at),
                    _optional_text(approval.deadline),
                    approval.reason,
                    _text(approval.created_at),
                    _text(approval.updated_at),
                ),
            )

    async def record_approval_decision(
        self, decision: ApprovalDecision, now: datetime
    ) -> tuple[ApprovalDecision, bool] | None:
        """Store a decision at a pending level and wake the run."""
        async with self.store._write() as db:
            rows = await _fetch(
                db,
                "SELECT 1 FROM workflow_approvals WHERE run_id = ? AND step_key = ? "
                "AND level = ? AND status = 'pending'",
                (decision.run_id, decision.step_key, decision.level),
            )
            if not rows:
                return None
            cursor = await db.execute(
                "INSERT INTO workflow_approval_decisions (run_id, step_key, level, "
                "user_id, decision, comment, decided_at) VALUES (?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT DO NOTHING",
                (
                    decision.run_id,
                    decision.step_key,
                    decision.level,
                    decision.user_id,
                    str(decision.decision),
                    decision.comment,
                    _text(decision.decided_at),
                ),
            )
            if cursor.rowcount == 1:
                await _wake(db, decision.run_id, now)
                return decision, True
            rows = await _fetch(
                db,
                "SELECT * FROM workflow_approval_decisions WHERE run_id = ? "
                "AND step_key = ? AND level = ? AND user_id = ?",
                (decision.run_id, decision.step_key, decision.level, decision.user_id),
            )
        return _decision(rows[0]), False

    async def list_approval_decisions(
        self, run_id: str, step_key: str
    ) -> list[ApprovalDecision]:
        """Return every decision of an approval step, oldest first."""
        rows = await self.store._fetch_all(
            "SELECT * FROM workflow_approval_decisions WHERE run_id = ? "
            "AND step_key = ? ORDER BY decided_at, level, user_id",
            (run_id, step_key),
        )
        return [_decision(row) for row in rows]

    async def list_pending_approvals(
        self, workspace_id: str, user_id: str, role: str, limit: int = 100
    ) -> list[StoredApproval]:
        """Return pending approvals the user may decide and has not decided."""
        rows = await self.store._fetch_all(
            "SELECT a.* FROM workflow_approvals AS a "
            "JOIN workflow_runs AS r ON r.id = a.run_id "
            "WHERE a.workspace_id = ? AND a.status = 'pending' "
            "AND r.status IN ('queued', 'running', 'waiting') "
            "AND (EXISTS (SELECT 1 FROM json_each(a.approvers) WHERE value = ?) "
            " OR EXISTS (SELECT 1 FROM json_each(a.approver_roles) WHERE value = ?)) "
            "AND NOT EXISTS (SELECT 1 FROM workflow_approval_decisions AS d "
            " WHERE d.run_id = a.run_id AND d.step_key = a.step_key "
            " AND d.level = a.level AND d.user_id = ?) "
            "ORDER BY a.created_at, a.run_id LIMIT ?",
            (workspace_id, user_id, role, user_id, limit),
        )
        return [_approval(row) for row in rows]

    # Notifications ---------------------------------------------------------

    async def add_notification(self, new: NewNotification) -> tuple[Notification, bool]:
        """Store a notification unless one with its key exists."""
        async with self.store._write() as db:
            cursor = await db.execute(
                "INSERT INTO workflow_notifications (id, key, workspace_id, user_id, "
                "kind, subject, text, data, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (key) DO NOTHING",
                (
                    new_id(),
                    new.key,
                    new.workspace_id,
                    new.user_id,
                    new.kind,
                    new.subject,
                    new.text,
                    _dump_json(new.data, "notification data"),
                    _text(_now()),
                ),
            )
            created = cursor.rowcount == 1
            rows = await _fetch(
                db, "SELECT * FROM workflow_notifications WHERE key = ?", (new.key,)
            )
        return _notification(rows[0]), created

    async def mark_notification_emailed(
        self, notification_id: str, now: datetime
    ) -> None:
        """Store that the notification's email was sent."""
        async with self.store._write() as db:
            await db.execute(
                "UPDATE workflow_notifications SET emailed_at = ? WHERE id = ?",
                (_text(now), notification_id),
            )

    async def list_notifications(
        self, workspace_id: str, user_id: str, limit: int = 50
    ) -> list[Notification]:
        """Return a user's notifications in a workspace, newest first."""
        rows = await self.store._fetch_all(
            "SELECT * FROM workflow_notifications WHERE workspace_id = ? "
            "AND user_id = ? ORDER BY id DESC LIMIT ?",
            (workspace_id, user_id, limit),
        )
        return [_notification(row) for row in rows]

    # User attributes -------------------------------------------------------

    async def set_user_attribute(
        self, workspace_id: str, user_id: str, name: str, value: str | None
    ) -> None:
        """Set or remove a user's attribute in a workspace."""
        async with self.store._write() as db:
            if value is None:
                await db.execute(
                    "DELETE FROM workflow_user_attributes WHERE workspace_id = ? "
                    "AND user_id = ? AND name = ?",
                    (workspace_id, user_id, name),
                )
                return
            rows = await _fetch(
                db, "SELECT 1 FROM workspaces WHERE id = ?", (workspace_id,)
            )
            if not rows:
                raise NotFoundError(
                    f"Workspace {workspace_id!r} was not found. Check the id."
                )
            await db.execute(
                "INSERT INTO workflow_user_attributes (workspace_id, user_id, name, "
                "value, updated_at) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT (workspace_id, user_id, name) DO UPDATE SET "
                "value = excluded.value, updated_at = excluded.updated_at",
                (workspace_id, user_id, name, value, _text(_now())),
            )

    async def get_user_attribute(
        self, workspace_id: str, user_id: str, name: str
    ) -> str | None:
        """Return a user's attribute in a workspace, or None."""
        row = await self.store._fetch_one(
            "SELECT value FROM workflow_user_attributes WHERE workspace_id = ? "
            "AND user_id = ? AND name = ?",
            (workspace_id, user_id, name),
        )
        return None if row is None else str(row["value"])

    async def list_user_attributes(
        self, workspace_id: str, user_id: str
    ) -> dict[str, str]:
        """Return every attribute of a user in a workspace by name."""
        rows = await self.store._fetch_all(
            "SELECT name, value FROM workflow_user_attributes WHERE workspace_id = ? "
            "AND user_id = ? ORDER BY name",
            (workspace_id, user_id),
        )
        return {row["name"]: row["value"] for row in rows}


# Statements and rows ---------------------------------------------------------


async def _max_seq(db: aiosqlite.Connection) -> int:
    rows = await _fetch(db, "SELECT max(seq) FROM outbox")
    return 0 if not rows or rows[0][0] is None else int(rows[0][0])


async def _insert_version(db: aiosqlite.Connection, version: WorkflowVersion) -> None:
    await db.execute(
        "INSERT INTO workflow_versions (workflow_id, number, definition, author, "
        "note, created_at) VALUES (?, ?, ?, ?, ?, ?)",
        (
            version.workflow_id,
            version.number,
            _dump_json(version.definition, "workflow definition"),
            version.author,
            version.note,
            _text(version.created_at),
        ),
    )


def _optional_text(moment: datetime | None) -> str | None:
    return None if moment is None else _text(moment)


def _workflow_not_found(workflow_id: str) -> NotFoundError:
    return NotFoundError(f"Workflow {workflow_id!r} was not found. Check the id.")


def _run_not_found(run_id: str) -> NotFoundError:
    return NotFoundError(f"Workflow run {run_id!r} was not found. Check the id.")


def _workflow(row: aiosqlite.Row) -> Workflow:
    return Workflow(
        id=row["id"],
        workspace_id=row["workspace_id"],
        app_id=row["app_id"],
        name=row["name"],
        current_version=row["current_version"],
        start_seq=row["start_seq"],
        created_at=_time(row["created_at"]),
        updated_at=_time(row["updated_at"]),
    )


def _version(row: aiosqlite.Row) -> WorkflowVersion:
    return WorkflowVersion(
        workflow_id=row["workflow_id"],
        number=row["number"],
        definition=json.loads(row["definition"]),
        author=row["author"],
        note=row["note"],
        created_at=_time(row["created_at"]),
    )


def _run(row: aiosqlite.Row) -> WorkflowRun:
    return WorkflowRun(
        id=row["id"],
        workspace_id=row["workspace_id"],
        workflow_id=row["workflow_id"],
        workflow_version=row["workflow_version"],
        status=RunStatus(row["status"]),
        trigger=json.loads(row["trigger"]),
        depth=row["depth"],
        event_seq=row["event_seq"],
        scheduled_for=_optional_time(row["scheduled_for"]),
        created_at=_time(row["created_at"]),
        updated_at=_time(row["updated_at"]),
        started_at=_optional_time(row["started_at"]),
        finished_at=_optional_time(row["finished_at"]),
        next_attempt_at=_optional_time(row["next_attempt_at"]),
        lease_until=_optional_time(row["lease_until"]),
        enqueued_at=_optional_time(row["enqueued_at"]),
        error=row["error"],
        error_step=row["error_step"],
    )


def _step(row: aiosqlite.Row) -> StepExecution:
    return StepExecution(
        run_id=row["run_id"],
        step_key=row["step_key"],
        step_id=row["step_id"],
        step_type=row["step_type"],
        status=StepStatus(row["status"]),
        attempts=row["attempts"],
        started_at=_optional_time(row["started_at"]),
        finished_at=_optional_time(row["finished_at"]),
        resume_at=_optional_time(row["resume_at"]),
        input=json.loads(row["input"]),
        output=json.loads(row["output"]),
        branch=row["branch"],
        error=row["error"],
    )


async def _wake(db: aiosqlite.Connection, run_id: str, now: datetime) -> None:
    await db.execute(
        "UPDATE workflow_runs SET wake_requested_at = ?, "
        "next_attempt_at = CASE WHEN status = 'waiting' THEN ? "
        "ELSE next_attempt_at END, updated_at = ? WHERE id = ?",
        (_text(now), _text(now), _text(now), run_id),
    )


def _approval(row: aiosqlite.Row) -> StoredApproval:
    return StoredApproval(
        run_id=row["run_id"],
        step_key=row["step_key"],
        workspace_id=row["workspace_id"],
        workflow_id=row["workflow_id"],
        record_id=row["record_id"],
        submitter=row["submitter"],
        level=row["level"],
        level_count=row["level_count"],
        escalated=bool(row["escalated"]),
        status=ApprovalStatus(row["status"]),
        approvers=tuple(json.loads(row["approvers"])),
        approver_roles=tuple(json.loads(row["approver_roles"])),
        level_started_at=_time(row["level_started_at"]),
        deadline=_optional_time(row["deadline"]),
        reason=row["reason"],
        created_at=_time(row["created_at"]),
        updated_at=_time(row["updated_at"]),
    )


def _decision(row: aiosqlite.Row) -> ApprovalDecision:
    return ApprovalDecision(
        run_id=row["run_id"],
        step_key=row["step_key"],
        level=row["level"],
        user_id=row["user_id"],
        decision=Decision(row["decision"]),
        comment=row["comment"],
        decided_at=_time(row["decided_at"]),
    )


def _notification(row: aiosqlite.Row) -> Notification:
    return Notification(
        id=row["id"],
        key=row["key"],
        workspace_id=row["workspace_id"],
        user_id=row["user_id"],
        kind=row["kind"],
        subject=row["subject"],
        text=row["text"],
        data=json.loads(row["data"]),
        created_at=_time(row["created_at"]),
        emailed_at=_optional_time(row["emailed_at"]),
    )
