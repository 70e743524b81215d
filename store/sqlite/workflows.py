"""The workflow store on the SQLite file of a :class:`SQLiteStore`.

It shares the store's connections and write lock, so workflow writes and
record writes of one process are serialized together, and each method is
one transaction. Each write method runs its transaction as one synchronous
function on the writer connection's thread, so it costs one round trip
from the event loop. This module has the definitions and the trigger
consumption; runs and step executions are in
:mod:`store.sqlite.workflow_runs`, approvals, notifications and user
attributes in :mod:`store.sqlite.approvals`.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from functools import partial
from typing import Any

import aiosqlite

from blocks.errors import ConflictError, NotFoundError
from store.base import new_id
from store.models import EventKind
from store.sqlite.approvals import SQLiteApprovalQueries
from store.sqlite.backend import (
    SQLiteStore,
    _dump_json,
    _event,
    _now,
    _text,
    _time,
)
from store.sqlite.workflow_runs import (
    SQLiteRunQueries,
    _fetch_rows,
    _put_record_snapshot,
    _set_consumer_offset,
)
from store.workflows import (
    RECORD_WRITTEN_EVENT,
    RecordState,
    TriggerEvent,
    Workflow,
    WorkflowStore,
    WorkflowVersion,
)

_RECORD_KINDS = (
    str(EventKind.RECORD_CREATED),
    str(EventKind.RECORD_UPDATED),
    str(EventKind.RECORD_DELETED),
)


class SQLiteWorkflowStore(SQLiteRunQueries, SQLiteApprovalQueries, WorkflowStore):
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

        def create(db: sqlite3.Connection) -> tuple[Workflow, WorkflowVersion]:
            rows = _fetch_rows(
                db,
                "SELECT 1 FROM apps WHERE id = ? AND workspace_id = ?",
                (app_id, workspace_id),
            )
            if not rows:
                raise NotFoundError(
                    f"App {app_id!r} was not found in workspace {workspace_id!r}. "
                    f"Check the app id."
                )
            start_seq = _max_seq(db)
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
            db.execute(
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
            _insert_version(db, version)
            return workflow, version

        return await self.store._run_in_write_transaction(create)

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

        def save(db: sqlite3.Connection) -> WorkflowVersion:
            rows = _fetch_rows(
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
            _insert_version(db, version)
            db.execute(
                "UPDATE workflows SET current_version = ?, name = ?, updated_at = ? "
                "WHERE id = ?",
                (version.number, name, _text(now), workflow_id),
            )
            return version

        return await self.store._run_in_write_transaction(save)

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

    # Trigger consumption ---------------------------------------------------

    async def get_consumer_offset(self, name: str) -> int | None:
        """Return the last outbox seq the consumer handled, or None."""
        row = await self.store._fetch_one(
            "SELECT last_seq FROM workflow_consumers WHERE name = ?", (name,)
        )
        return None if row is None else int(row["last_seq"])

    async def set_consumer_offset(self, name: str, seq: int) -> None:
        """Move the consumer's offset forward to ``seq``, never back."""
        await self.store._run_in_write_transaction(
            partial(_set_consumer_offset, name=name, seq=seq, now=_now())
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
        await self.store._run_in_write_transaction(
            partial(_put_record_snapshot, state=state)
        )


# Statements and rows ---------------------------------------------------------


def _max_seq(db: sqlite3.Connection) -> int:
    rows = _fetch_rows(db, "SELECT max(seq) FROM outbox")
    return 0 if not rows or rows[0][0] is None else int(rows[0][0])


def _insert_version(db: sqlite3.Connection, version: WorkflowVersion) -> None:
    db.execute(
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


def _workflow_not_found(workflow_id: str) -> NotFoundError:
    return NotFoundError(f"Workflow {workflow_id!r} was not found. Check the id.")


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
