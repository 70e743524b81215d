"""Runs and step executions of the SQLite workflow store.

The engine's reads and writes: creating and leasing runs, and storing the
attempts and outcomes of their steps. Each method is one transaction. The
write methods run each transaction as one synchronous function on the
writer connection's thread (:meth:`SQLiteStore._run_in_write_transaction`),
so a transaction costs one round trip from the event loop, whatever its
number of statements.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any

import aiosqlite

from blocks.errors import ConflictError, NotFoundError
from store.base import new_id
from store.sqlite.backend import (
    SQLiteStore,
    _dump_json,
    _is_unique_violation,
    _now,
    _optional_time,
    _text,
    _time,
)
from store.workflows import (
    OPEN_RUN_STATUSES,
    RECORD_WRITTEN_EVENT,
    NewRun,
    RecordState,
    RunRelease,
    RunStatus,
    StepExecution,
    StepStart,
    StepStatus,
    WorkflowRun,
)

_FINISHED = (RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.CANCELLED)

_CANCELLABLE = (*OPEN_RUN_STATUSES, RunStatus.FAILED)


class SQLiteRunQueries:
    """The run and step-execution methods of :class:`SQLiteWorkflowStore`."""

    store: SQLiteStore

    # Runs ------------------------------------------------------------------

    async def insert_run(self, new: NewRun) -> tuple[WorkflowRun, bool]:
        """Create a run unless the workflow has one for the event or due time."""
        return await self.store._run_in_write_transaction(partial(_insert_run, new=new))

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
        params = (
            _text(lease_until),
            _text(now),
            _text(now),
            run_id,
            json.dumps([str(s) for s in OPEN_RUN_STATUSES]),
            _text(now),
        )

        def claim(db: sqlite3.Connection) -> list[sqlite3.Row]:
            return _fetch_rows(
                db,
                "UPDATE workflow_runs SET status = 'running', lease_until = ?, "
                "updated_at = ?, started_at = coalesce(started_at, ?), "
                "wake_requested_at = NULL "
                "WHERE id = ? AND status IN (SELECT value FROM json_each(?)) "
                "AND (lease_until IS NULL OR lease_until < ?) RETURNING *",
                params,
            )

        rows = await self.store._run_in_write_transaction(claim)
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
        release = RunRelease(status, next_attempt_at, error, error_step)
        return await self.store._run_in_write_transaction(
            partial(_release_run, run_id=run_id, now=now, release=release)
        )

    async def restart_run(self, run_id: str, now: datetime) -> WorkflowRun:
        """Queue a failed run again from its failed step."""

        def restart(db: sqlite3.Connection) -> list[sqlite3.Row]:
            rows = _fetch_rows(
                db, "SELECT status FROM workflow_runs WHERE id = ?", (run_id,)
            )
            if not rows:
                raise _run_not_found(run_id)
            if rows[0]["status"] != RunStatus.FAILED:
                raise ConflictError(
                    f"Run {run_id!r} is {rows[0]['status']}, not failed. Only a "
                    f"failed run can be retried."
                )
            db.execute(
                "UPDATE workflow_step_executions SET status = ?, attempts = 0, "
                "error = NULL WHERE run_id = ? AND status = ?",
                (str(StepStatus.RETRYING), run_id, str(StepStatus.FAILED)),
            )
            return _fetch_rows(
                db,
                "UPDATE workflow_runs SET status = ?, error = NULL, "
                "error_step = NULL, finished_at = NULL, next_attempt_at = NULL, "
                "lease_until = NULL, enqueued_at = NULL, updated_at = ? "
                "WHERE id = ? RETURNING *",
                (str(RunStatus.QUEUED), _text(now), run_id),
            )

        rows = await self.store._run_in_write_transaction(restart)
        return _run(rows[0])

    async def cancel_run(
        self,
        run_id: str,
        now: datetime,
        *,
        workspace_id: str,
        user_id: str,
        reason: str | None,
    ) -> WorkflowRun:
        """Cancel an open or failed run and store who cancelled it and why."""

        def cancel(db: sqlite3.Connection) -> list[sqlite3.Row]:
            rows = _fetch_rows(
                db,
                "SELECT status FROM workflow_runs WHERE id = ? AND workspace_id = ?",
                (run_id, workspace_id),
            )
            if not rows:
                raise _run_not_found(run_id)
            status = RunStatus(rows[0]["status"])
            if status not in _CANCELLABLE:
                raise ConflictError(
                    f"Run {run_id!r} is {status}. Only a queued, running, waiting "
                    f"or failed run can be cancelled."
                )
            return _fetch_rows(
                db,
                "UPDATE workflow_runs SET status = ?, cancelled_by = ?, "
                "cancel_reason = ?, lease_until = NULL, next_attempt_at = NULL, "
                "wake_requested_at = NULL, finished_at = ?, updated_at = ? "
                "WHERE id = ? RETURNING *",
                (
                    str(RunStatus.CANCELLED),
                    user_id,
                    reason,
                    _text(now),
                    _text(now),
                    run_id,
                ),
            )

        rows = await self.store._run_in_write_transaction(cancel)
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

    async def mark_enqueued(self, run_ids: Sequence[str], now: datetime | None) -> None:
        """Store that a message was sent for each run, or with None that none was."""
        if not run_ids:
            return
        params = (_optional_text(now), json.dumps(list(run_ids)))

        def mark(db: sqlite3.Connection) -> None:
            db.execute(
                "UPDATE workflow_runs SET enqueued_at = ? "
                "WHERE id IN (SELECT value FROM json_each(?))",
                params,
            )

        await self.store._run_in_write_transaction(mark)

    async def insert_trigger_runs(
        self,
        runs: Sequence[NewRun],
        snapshots: Sequence[RecordState],
        consumer: str,
        last_seq: int,
        now: datetime,
    ) -> list[tuple[WorkflowRun, bool]]:
        """Store a batch's runs, snapshots, enqueue marks and offset at once."""

        def insert(db: sqlite3.Connection) -> list[tuple[WorkflowRun, bool]]:
            inserted = [_insert_run(db, new) for new in runs]
            to_send = [
                run.id
                for run, _ in inserted
                if run.status is RunStatus.QUEUED and run.enqueued_at is None
            ]
            if to_send:
                db.execute(
                    "UPDATE workflow_runs SET enqueued_at = ? "
                    "WHERE id IN (SELECT value FROM json_each(?))",
                    (_text(now), json.dumps(to_send)),
                )
            for state in snapshots:
                _put_record_snapshot(db, state)
            _set_consumer_offset(db, consumer, last_seq, now)
            return inserted

        return await self.store._run_in_write_transaction(insert)

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
        start = StepStart(step_key, step_id, step_type, input, count_attempt)
        return await self.store._run_in_write_transaction(
            partial(_start_step, run_id=run_id, now=now, start=start)
        )

    async def claim_run_and_start_step(
        self,
        run_id: str,
        now: datetime,
        lease_until: datetime,
        seen_updated_at: datetime,
        done_steps: int,
        start: StepStart,
    ) -> tuple[WorkflowRun, StepExecution] | None:
        """Take the lease of an unchanged run and mark a step running."""
        params = (
            _text(lease_until),
            _text(now),
            _text(now),
            run_id,
            _text(now),
            _text(seen_updated_at),
            run_id,
            done_steps,
        )

        def claim_and_start(
            db: sqlite3.Connection,
        ) -> tuple[WorkflowRun, StepExecution] | None:
            rows = _fetch_rows(
                db,
                "UPDATE workflow_runs SET status = 'running', lease_until = ?, "
                "updated_at = ?, started_at = coalesce(started_at, ?), "
                "wake_requested_at = NULL "
                "WHERE id = ? AND status IN ('queued', 'running', 'waiting') "
                "AND (lease_until IS NULL OR lease_until < ?) AND updated_at = ? "
                "AND (SELECT count(*) FROM workflow_step_executions "
                " WHERE run_id = ? AND status = 'done') = ? RETURNING *",
                params,
            )
            if not rows:
                return None
            return _run(rows[0]), _start_step(db, run_id, now, start)

        return await self.store._run_in_write_transaction(claim_and_start)

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
        outcome = _Outcome(status, output, branch, error, resume_at)
        await self.store._run_in_write_transaction(
            partial(
                _finish_step, run_id=run_id, step_key=step_key, now=now, outcome=outcome
            )
        )

    async def finish_step_and_release(
        self,
        run_id: str,
        step_key: str,
        now: datetime,
        status: StepStatus,
        release: RunRelease,
        *,
        output: dict[str, Any] | None = None,
        branch: str | None = None,
        error: str | None = None,
        resume_at: datetime | None = None,
    ) -> WorkflowRun:
        """Store a step's outcome and release the run in one transaction."""
        outcome = _Outcome(status, output, branch, error, resume_at)

        def finish_and_release(db: sqlite3.Connection) -> WorkflowRun:
            _finish_step(db, run_id, step_key, now, outcome)
            return _release_run(db, run_id, now, release)

        return await self.store._run_in_write_transaction(finish_and_release)

    async def find_step_write(self, idempotency_key: str, after_seq: int) -> str | None:
        """Return the record id a step wrote, or None."""
        row = await self.store._fetch_one(
            "SELECT subject_id FROM outbox WHERE seq > ? AND kind = ? "
            "AND json_extract(payload, '$.idempotency_key') = ? ORDER BY seq LIMIT 1",
            (after_seq, RECORD_WRITTEN_EVENT, idempotency_key),
        )
        return None if row is None else str(row["subject_id"])


# Statements and rows ---------------------------------------------------------


def _fetch_rows(
    db: sqlite3.Connection, sql: str, params: Iterable[object] = ()
) -> list[sqlite3.Row]:
    rows: list[sqlite3.Row] = db.execute(sql, tuple(params)).fetchall()
    return rows


def _optional_text(moment: datetime | None) -> str | None:
    return None if moment is None else _text(moment)


def _run_not_found(run_id: str) -> NotFoundError:
    return NotFoundError(f"Workflow run {run_id!r} was not found. Check the id.")


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
        cancelled_by=row["cancelled_by"],
        cancel_reason=row["cancel_reason"],
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


def _wake(db: sqlite3.Connection, run_id: str, now: datetime) -> None:
    db.execute(
        "UPDATE workflow_runs SET wake_requested_at = ?, "
        "next_attempt_at = CASE WHEN status = 'waiting' THEN ? "
        "ELSE next_attempt_at END, updated_at = ? WHERE id = ?",
        (_text(now), _text(now), _text(now), run_id),
    )


def _insert_run(db: sqlite3.Connection, new: NewRun) -> tuple[WorkflowRun, bool]:
    now = _now()
    finished = new.status in _FINISHED
    try:
        rows = _fetch_rows(
            db,
            "INSERT INTO workflow_runs (id, workspace_id, workflow_id, "
            "workflow_version, status, trigger, depth, event_seq, "
            "scheduled_for, created_at, updated_at, finished_at, error) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING *",
            (
                new_id(),
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
        rows = _fetch_rows(
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
    return _run(rows[0]), True


def _release_run(
    db: sqlite3.Connection, run_id: str, now: datetime, release: RunRelease
) -> WorkflowRun:
    status = release.status
    finished = _text(now) if status in _FINISHED else None
    # A run cancelled while a worker held its lease keeps its status, error
    # and finish time. The worker's release only clears the lease.
    cancelled = _fetch_rows(
        db,
        "UPDATE workflow_runs SET lease_until = NULL, updated_at = ? "
        "WHERE id = ? AND status = ? RETURNING *",
        (_text(now), run_id, str(RunStatus.CANCELLED)),
    )
    if cancelled:
        return _run(cancelled[0])
    # A wake-up requested while the lease was held makes a waiting run
    # due at once instead of at ``next_attempt_at``.
    rows = _fetch_rows(
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
            _optional_text(release.next_attempt_at),
            release.error,
            release.error_step,
            _text(now),
            finished,
            None if finished else _text(now),
            run_id,
        ),
    )
    if not rows:
        raise _run_not_found(run_id)
    return _run(rows[0])


@dataclass(frozen=True)
class _Outcome:
    status: StepStatus
    output: dict[str, Any] | None
    branch: str | None
    error: str | None
    resume_at: datetime | None


def _finish_step(
    db: sqlite3.Connection,
    run_id: str,
    step_key: str,
    now: datetime,
    outcome: _Outcome,
) -> None:
    cursor = db.execute(
        "UPDATE workflow_step_executions SET status = ?, output = ?, "
        "branch = ?, error = ?, resume_at = ?, finished_at = ? "
        "WHERE run_id = ? AND step_key = ?",
        (
            str(outcome.status),
            _dump_json(outcome.output or {}, "step output"),
            outcome.branch,
            outcome.error,
            _optional_text(outcome.resume_at),
            _text(now) if outcome.status != StepStatus.WAITING else None,
            run_id,
            step_key,
        ),
    )
    if cursor.rowcount == 0:
        raise NotFoundError(
            f"Run {run_id!r} has no execution of step {step_key!r}. Start "
            f"the step before finishing it."
        )


def _put_record_snapshot(db: sqlite3.Connection, state: RecordState) -> None:
    db.execute(
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


def _set_consumer_offset(
    db: sqlite3.Connection, name: str, seq: int, now: datetime
) -> None:
    db.execute(
        "INSERT INTO workflow_consumers (name, last_seq, updated_at) "
        "VALUES (?, ?, ?) ON CONFLICT (name) DO UPDATE SET "
        "last_seq = max(last_seq, excluded.last_seq), "
        "updated_at = excluded.updated_at",
        (name, seq, _text(now)),
    )


def _start_step(
    db: sqlite3.Connection, run_id: str, now: datetime, start: StepStart
) -> StepExecution:
    rows = _fetch_rows(
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
            start.step_key,
            start.step_id,
            start.step_type,
            run_id,
            _text(now),
            _dump_json(start.input, "step input"),
            int(start.count_attempt),
        ),
    )
    return _step(rows[0])
