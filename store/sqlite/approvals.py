"""Approvals, notifications and user attributes of the SQLite workflow store.

Each method is one transaction, and each write method runs its transaction
as one synchronous function on the writer connection's thread.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime
from functools import partial

import aiosqlite

from blocks.errors import NotFoundError
from store.base import new_id
from store.sqlite.backend import (
    SQLiteStore,
    _dump_json,
    _now,
    _optional_time,
    _text,
    _time,
)
from store.sqlite.workflow_runs import _fetch_rows, _optional_text, _wake
from store.workflows import (
    ApprovalDecision,
    ApprovalStatus,
    Decision,
    NewNotification,
    Notification,
    StoredApproval,
)


class SQLiteApprovalQueries:
    """Approval, notification and user-attribute methods of the workflow store."""

    store: SQLiteStore

    # Wake-ups and approvals ------------------------------------------------

    async def wake_run(self, run_id: str, now: datetime) -> None:
        """Make a waiting run due now, or once its worker releases it."""
        await self.store._run_in_write_transaction(
            partial(_wake, run_id=run_id, now=now)
        )

    async def get_approval(self, run_id: str, step_key: str) -> StoredApproval | None:
        """Return the approval state of a step of a run, or None."""
        row = await self.store._fetch_one(
            "SELECT * FROM workflow_approvals WHERE run_id = ? AND step_key = ?",
            (run_id, step_key),
        )
        return None if row is None else _approval(row)

    async def save_approval(self, approval: StoredApproval) -> None:
        """Create or replace the approval state of a step of a run."""
        await self.store._run_in_write_transaction(
            partial(_save_approval, approval=approval)
        )

    async def record_approval_decision(
        self, decision: ApprovalDecision, now: datetime
    ) -> tuple[ApprovalDecision, bool] | None:
        """Store a decision at a pending level and wake the run."""

        def record(db: sqlite3.Connection) -> tuple[ApprovalDecision, bool] | None:
            rows = _fetch_rows(
                db,
                "SELECT 1 FROM workflow_approvals WHERE run_id = ? AND step_key = ? "
                "AND level = ? AND status = 'pending'",
                (decision.run_id, decision.step_key, decision.level),
            )
            if not rows:
                return None
            cursor = db.execute(
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
                _wake(db, decision.run_id, now)
                return decision, True
            rows = _fetch_rows(
                db,
                "SELECT * FROM workflow_approval_decisions WHERE run_id = ? "
                "AND step_key = ? AND level = ? AND user_id = ?",
                (decision.run_id, decision.step_key, decision.level, decision.user_id),
            )
            return _decision(rows[0]), False

        return await self.store._run_in_write_transaction(record)

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

        def add(db: sqlite3.Connection) -> tuple[list[sqlite3.Row], bool]:
            cursor = db.execute(
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
            rows = _fetch_rows(
                db, "SELECT * FROM workflow_notifications WHERE key = ?", (new.key,)
            )
            return rows, created

        rows, created = await self.store._run_in_write_transaction(add)
        return _notification(rows[0]), created

    async def mark_notification_emailed(
        self, notification_id: str, now: datetime
    ) -> None:
        """Store that the notification's email was sent."""
        params = (_text(now), notification_id)

        def mark(db: sqlite3.Connection) -> None:
            db.execute(
                "UPDATE workflow_notifications SET emailed_at = ? WHERE id = ?",
                params,
            )

        await self.store._run_in_write_transaction(mark)

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

        def set_attribute(db: sqlite3.Connection) -> None:
            if value is None:
                db.execute(
                    "DELETE FROM workflow_user_attributes WHERE workspace_id = ? "
                    "AND user_id = ? AND name = ?",
                    (workspace_id, user_id, name),
                )
                return
            rows = _fetch_rows(
                db, "SELECT 1 FROM workspaces WHERE id = ?", (workspace_id,)
            )
            if not rows:
                raise NotFoundError(
                    f"Workspace {workspace_id!r} was not found. Check the id."
                )
            db.execute(
                "INSERT INTO workflow_user_attributes (workspace_id, user_id, name, "
                "value, updated_at) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT (workspace_id, user_id, name) DO UPDATE SET "
                "value = excluded.value, updated_at = excluded.updated_at",
                (workspace_id, user_id, name, value, _text(_now())),
            )

        await self.store._run_in_write_transaction(set_attribute)

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


def _save_approval(db: sqlite3.Connection, approval: StoredApproval) -> None:
    db.execute(
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
