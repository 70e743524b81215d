"""The workflow part of the store: definitions, runs, step executions, offsets.

A workflow belongs to an app and keeps every saved definition as an immutable
numbered version, like apps do. A run is one execution of one workflow
version. Its state lives in two tables, runs and step executions, so that any
process can continue a run from what is stored. The outbox consumer of the
workflow engine keeps its own offset here, apart from the ``dispatched_at``
mark that the subscription dispatcher uses.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from store.models import OutboxEvent

RECORD_WRITTEN_EVENT = "workflow.record_written"
"""Kind of the extra outbox event a workflow step writes with each record write.

Its payload has ``run_id``, ``step_key``, ``idempotency_key`` and
``chain_depth``, so the trigger dispatcher can tell how deep in a chain of
workflow writes a record event is, and the engine can see whether a write of
a step was committed before a crash.
"""


class RunStatus(StrEnum):
    """Lifecycle state of a run."""

    QUEUED = "queued"
    """Waiting for a worker to execute its next step."""
    RUNNING = "running"
    """A worker holds the run's lease and is executing a step."""
    WAITING = "waiting"
    """A wait step, an approval step or a retry delay keeps the run waiting
    until ``next_attempt_at``."""
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    """A user cancelled the run, so it executes no further step."""


OPEN_RUN_STATUSES = (RunStatus.QUEUED, RunStatus.RUNNING, RunStatus.WAITING)


class StepStatus(StrEnum):
    """State of one step execution."""

    RUNNING = "running"
    RETRYING = "retrying"
    """An attempt failed and another is due at the run's ``next_attempt_at``."""
    WAITING = "waiting"
    """A wait step waits until ``resume_at``, or an approval step for
    decisions or its deadline."""
    DONE = "done"
    FAILED = "failed"


@dataclass(frozen=True)
class Workflow:
    """A workflow of an app, whose definition lives in numbered versions."""

    id: str
    workspace_id: str
    app_id: str
    name: str
    current_version: int
    start_seq: int
    """Greatest outbox seq when the workflow was created. Older events never
    trigger it."""
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class WorkflowVersion:
    """One immutable version of a workflow definition."""

    workflow_id: str
    number: int
    definition: dict[str, Any]
    author: str
    note: str
    created_at: datetime


@dataclass(frozen=True)
class NewRun:
    """The data of a run to create."""

    workspace_id: str
    workflow_id: str
    workflow_version: int
    trigger: dict[str, Any]
    """Snapshot of what started the run. Retries read this, never the
    record as it is now."""
    depth: int
    """Chain depth: 1 for a run started by a user's write, n + 1 for a run
    started by a write of a run at depth n."""
    event_seq: int | None = None
    """Outbox seq of the triggering event. Unique per workflow."""
    scheduled_for: datetime | None = None
    """Due time of a schedule trigger. Unique per workflow."""
    status: RunStatus = RunStatus.QUEUED
    error: str | None = None


@dataclass(frozen=True)
class WorkflowRun:
    """One execution of a workflow version."""

    id: str
    workspace_id: str
    workflow_id: str
    workflow_version: int
    status: RunStatus
    trigger: dict[str, Any]
    depth: int
    event_seq: int | None
    scheduled_for: datetime | None
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    next_attempt_at: datetime | None
    lease_until: datetime | None
    enqueued_at: datetime | None
    error: str | None
    error_step: str | None
    """Key of the step whose failure failed the run."""
    cancelled_by: str | None = None
    """User who cancelled the run."""
    cancel_reason: str | None = None
    """Reason the user gave for cancelling the run."""


@dataclass(frozen=True)
class RunRelease:
    """The state a worker leaves a run in when it drops the run's lease."""

    status: RunStatus
    next_attempt_at: datetime | None = None
    error: str | None = None
    error_step: str | None = None


@dataclass(frozen=True)
class StepStart:
    """A step that a worker marks running."""

    step_key: str
    step_id: str
    step_type: str
    input: dict[str, Any]
    count_attempt: bool = True
    """False when a waiting step runs again after a wake-up, which is no
    new attempt."""


@dataclass(frozen=True)
class StepExecution:
    """The stored state of one step at one position of a run.

    ``step_key`` is the step's path, with the iteration index of every
    enclosing for-each, such as ``notify`` or ``each_line[2]/update``.
    """

    run_id: str
    step_key: str
    step_id: str
    step_type: str
    status: StepStatus
    attempts: int
    started_at: datetime | None
    finished_at: datetime | None
    resume_at: datetime | None
    input: dict[str, Any] = field(default_factory=dict)
    output: dict[str, Any] = field(default_factory=dict)
    branch: str | None = None
    error: str | None = None


@dataclass(frozen=True)
class TriggerEvent:
    """An outbox event with the chain depth of the write that caused it."""

    event: OutboxEvent
    chain_depth: int
    """0 for a user's write, n for a write by a step of a run at depth n."""


@dataclass(frozen=True)
class RecordState:
    """Data of a record at a revision, kept to detect field changes."""

    record_id: str
    revision: int
    data: dict[str, Any]
    deleted: bool = False


class ApprovalStatus(StrEnum):
    """Status of an approval step or of one of its levels."""

    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"


class Decision(StrEnum):
    """An approver's decision."""

    APPROVE = "approve"
    REJECT = "reject"


@dataclass(frozen=True)
class StoredApproval:
    """The current level of an approval step of a run, kept between wake-ups.

    The approval step writes it under the run's lease; decisions are stored
    beside it, one per (run, step key, level, user).
    """

    run_id: str
    step_key: str
    workspace_id: str
    workflow_id: str
    record_id: str | None
    submitter: str | None
    level: int
    """Index of the current level, from 0."""
    level_count: int
    escalated: bool
    """Whether the current level was handed to its ``escalate_to`` approvers."""
    status: ApprovalStatus
    approvers: tuple[str, ...]
    """User ids that may decide at the current level, resolved when it began."""
    approver_roles: tuple[str, ...]
    """Workspace roles (``admin``, ``member``) whose users may also decide."""
    level_started_at: datetime
    """When the current level began, or was escalated. After an escalation
    only decisions made since count."""
    deadline: datetime | None
    reason: str | None
    """Cause that ended the approval: ``decision`` or ``deadline``."""
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class ApprovalDecision:
    """One approver's decision at one level of an approval step."""

    run_id: str
    step_key: str
    level: int
    user_id: str
    decision: Decision
    comment: str | None
    decided_at: datetime


@dataclass(frozen=True)
class NewNotification:
    """A notification to store for a user, unique by ``key``."""

    key: str
    workspace_id: str
    user_id: str
    kind: str
    subject: str
    text: str
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Notification:
    """A stored notification of a user, such as an approval request."""

    id: str
    key: str
    workspace_id: str
    user_id: str
    kind: str
    subject: str
    text: str
    data: dict[str, Any]
    created_at: datetime
    emailed_at: datetime | None


class WorkflowStore(abc.ABC):
    """Async access to workflow definitions, runs and trigger offsets.

    Methods named ``get_*`` return None for a missing object. Writes raise
    :class:`~blocks.errors.NotFoundError` when the object they change does
    not exist.
    """

    # Definitions -----------------------------------------------------------

    @abc.abstractmethod
    async def create_workflow(
        self,
        workspace_id: str,
        app_id: str,
        name: str,
        definition: dict[str, Any],
        author: str,
        note: str = "",
    ) -> tuple[Workflow, WorkflowVersion]:
        """Create a workflow with version 1 of its definition.

        Raises:
            NotFoundError: the app is not in the workspace.
        """

    @abc.abstractmethod
    async def save_workflow_version(
        self,
        workflow_id: str,
        name: str,
        definition: dict[str, Any],
        author: str,
        note: str = "",
        expected_current: int | None = None,
    ) -> WorkflowVersion:
        """Save the next version of a workflow and make it current.

        Raises:
            NotFoundError: the workflow does not exist.
            ConflictError: ``expected_current`` is not the current version.
        """

    @abc.abstractmethod
    async def get_workflow(self, workflow_id: str) -> Workflow | None:
        """Return the workflow with ``workflow_id``, or None."""

    @abc.abstractmethod
    async def list_workflows(
        self, workspace_id: str, app_id: str | None = None
    ) -> list[Workflow]:
        """Return the workflows of a workspace (or of one app), oldest first."""

    @abc.abstractmethod
    async def get_workflow_version(
        self, workflow_id: str, number: int
    ) -> WorkflowVersion | None:
        """Return version ``number`` of a workflow, or None."""

    @abc.abstractmethod
    async def list_workflow_versions(self, workflow_id: str) -> list[WorkflowVersion]:
        """Return every version of a workflow, oldest first."""

    @abc.abstractmethod
    async def list_current_workflows(
        self, app_ids: Sequence[str] | None = None
    ) -> list[tuple[Workflow, WorkflowVersion]]:
        """Return workflows with their current versions, of all or some apps."""

    # Runs ------------------------------------------------------------------

    @abc.abstractmethod
    async def insert_run(self, new: NewRun) -> tuple[WorkflowRun, bool]:
        """Create a run and return it with whether it was created.

        When the workflow already has a run for ``new.event_seq`` or for
        ``new.scheduled_for``, nothing is written and that run is returned
        with False.
        """

    @abc.abstractmethod
    async def get_run(self, run_id: str) -> WorkflowRun | None:
        """Return the run with ``run_id``, or None."""

    @abc.abstractmethod
    async def list_runs(
        self,
        workflow_id: str,
        *,
        status: RunStatus | None = None,
        limit: int = 50,
    ) -> list[WorkflowRun]:
        """Return the latest runs of a workflow, newest first."""

    @abc.abstractmethod
    async def claim_run(
        self, run_id: str, now: datetime, lease_until: datetime
    ) -> WorkflowRun | None:
        """Take the lease of an open run and return it, or None.

        None means the run is finished, missing, or leased by another worker
        until a time after ``now``.
        """

    @abc.abstractmethod
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
        """Drop the lease and set the run's status.

        A completed or failed status also sets ``finished_at``. Any other
        status sets ``enqueued_at`` to ``now``, because the caller sends the
        run's next message. A run cancelled meanwhile only loses its lease
        and stays cancelled.
        """

    @abc.abstractmethod
    async def cancel_run(
        self,
        run_id: str,
        now: datetime,
        *,
        workspace_id: str,
        user_id: str,
        reason: str | None,
    ) -> WorkflowRun:
        """Cancel a queued, running, waiting or failed run of a workspace.

        Stores the user and the reason, and drops any lease. A worker that
        is executing a step of the run may still store that step's outcome,
        but the run stays cancelled and no further step starts.

        Raises:
            NotFoundError: the run does not exist in ``workspace_id``.
            ConflictError: the run is completed or already cancelled.
        """

    @abc.abstractmethod
    async def restart_run(self, run_id: str, now: datetime) -> WorkflowRun:
        """Queue a failed run again from its failed step, with fresh attempts.

        Raises:
            NotFoundError: the run does not exist.
            ConflictError: the run has not failed.
        """

    @abc.abstractmethod
    async def list_due_runs(
        self, now: datetime, enqueued_before: datetime, limit: int
    ) -> list[str]:
        """Return ids of open runs that need a message.

        Those are queued or waiting runs due at ``now`` that were not
        enqueued since ``enqueued_before``, and running runs whose lease
        expired.
        """

    @abc.abstractmethod
    async def last_scheduled_for(self, workflow_id: str) -> datetime | None:
        """Return the latest due time of the workflow's schedule runs, or None."""

    @abc.abstractmethod
    async def list_open_runs(self, limit: int) -> list[str]:
        """Return ids of every queued, running or waiting run, oldest first."""

    @abc.abstractmethod
    async def mark_enqueued(self, run_ids: Sequence[str], now: datetime | None) -> None:
        """Store that a message was sent for each run, or with None that none was.

        The sweep re-sends a run without ``enqueued_at`` at once, and one with
        it only after the requeue interval.
        """

    @abc.abstractmethod
    async def insert_trigger_runs(
        self,
        runs: Sequence[NewRun],
        snapshots: Sequence[RecordState],
        consumer: str,
        last_seq: int,
        now: datetime,
    ) -> list[tuple[WorkflowRun, bool]]:
        """Store the outcome of one batch of trigger events in one transaction.

        Inserts ``runs`` as :meth:`insert_run` does, keeps ``snapshots`` as
        :meth:`put_record_snapshot` does, and moves the offset of
        ``consumer`` to ``last_seq``. Every queued run without
        ``enqueued_at``, new or found, gets ``now`` as its ``enqueued_at``,
        so the caller must send those messages once this returns.

        Returns each run as inserted or found, before that mark, with True
        when it was created.
        """

    # Step executions -------------------------------------------------------

    @abc.abstractmethod
    async def list_step_executions(self, run_id: str) -> list[StepExecution]:
        """Return the step executions of a run in the order they started."""

    @abc.abstractmethod
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
        """Mark a step running, counting a new attempt if ``count_attempt``.

        The engine passes False when it runs a waiting step again after a
        wake-up, which is not a new attempt.
        """

    @abc.abstractmethod
    async def claim_run_and_start_step(
        self,
        run_id: str,
        now: datetime,
        lease_until: datetime,
        seen_updated_at: datetime,
        done_steps: int,
        start: StepStart,
    ) -> tuple[WorkflowRun, StepExecution] | None:
        """Take a run's lease and mark a step running, in one transaction.

        The caller chose ``start`` from the run and its step executions as
        it read them, without the lease. So the lease is taken only if the
        run's ``updated_at`` is still ``seen_updated_at`` and it still has
        ``done_steps`` steps done. Every change of the run's position
        changes one of them. Returns the claimed run and the started step,
        or None when the run changed, finished, or is leased by another
        worker until after ``now``.
        """

    @abc.abstractmethod
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

    @abc.abstractmethod
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
        """Store a step's outcome and release the run in one transaction.

        Does what :meth:`finish_step` and then :meth:`release_run` do, so no
        crash can leave the step done and the run still leased.
        """

    @abc.abstractmethod
    async def find_step_write(self, idempotency_key: str, after_seq: int) -> str | None:
        """Return the record id a step wrote, or None if no write was committed.

        Looks for a :data:`RECORD_WRITTEN_EVENT` with ``idempotency_key``
        after outbox seq ``after_seq``.
        """

    # Trigger consumption ---------------------------------------------------

    @abc.abstractmethod
    async def get_consumer_offset(self, name: str) -> int | None:
        """Return the last outbox seq the consumer ``name`` handled, or None."""

    @abc.abstractmethod
    async def set_consumer_offset(self, name: str, seq: int) -> None:
        """Move the offset of consumer ``name`` forward to ``seq``.

        An offset never moves back, so two processes may both call this.
        """

    @abc.abstractmethod
    async def fetch_trigger_events(
        self, after_seq: int, limit: int
    ) -> list[TriggerEvent]:
        """Return up to ``limit`` record events after ``after_seq``, in seq order."""

    @abc.abstractmethod
    async def max_event_seq(self) -> int:
        """Return the greatest outbox seq of every workspace, or 0."""

    @abc.abstractmethod
    async def get_record_state(self, record_id: str) -> RecordState | None:
        """Return a record's data and revision, deleted or not, or None."""

    @abc.abstractmethod
    async def get_record_snapshot(self, record_id: str) -> RecordState | None:
        """Return the record data the trigger dispatcher saw last, or None."""

    @abc.abstractmethod
    async def put_record_snapshot(self, state: RecordState) -> None:
        """Keep ``state`` as the data the trigger dispatcher saw last."""

    # Wake-ups and approvals ------------------------------------------------

    @abc.abstractmethod
    async def wake_run(self, run_id: str, now: datetime) -> None:
        """Make a waiting run due at ``now``.

        A run whose lease a worker has at that moment is made due when the worker
        releases it as waiting, so the wake-up is not lost.
        """

    @abc.abstractmethod
    async def get_approval(self, run_id: str, step_key: str) -> StoredApproval | None:
        """Return the approval state of a step of a run, or None."""

    @abc.abstractmethod
    async def save_approval(self, approval: StoredApproval) -> None:
        """Create or replace the approval state of a step of a run."""

    @abc.abstractmethod
    async def record_approval_decision(
        self, decision: ApprovalDecision, now: datetime
    ) -> tuple[ApprovalDecision, bool] | None:
        """Store a decision and wake the run, in one transaction.

        Returns the stored decision with whether it was created: a user's
        earlier decision at the same level is returned unchanged with False.
        Returns None, storing nothing, when the approval is no longer
        pending at ``decision.level``.
        """

    @abc.abstractmethod
    async def list_approval_decisions(
        self, run_id: str, step_key: str
    ) -> list[ApprovalDecision]:
        """Return every decision of an approval step, oldest first."""

    @abc.abstractmethod
    async def list_pending_approvals(
        self, workspace_id: str, user_id: str, role: str, limit: int = 100
    ) -> list[StoredApproval]:
        """Return pending approvals that the user may decide and has not, oldest first.

        The user may decide when they are one of the current level's
        approvers or their workspace ``role`` is one of its roles.
        """

    # Notifications ---------------------------------------------------------

    @abc.abstractmethod
    async def add_notification(self, new: NewNotification) -> tuple[Notification, bool]:
        """Store a notification unless one with its key exists.

        Returns the notification with whether it was created.
        """

    @abc.abstractmethod
    async def mark_notification_emailed(
        self, notification_id: str, now: datetime
    ) -> None:
        """Store that the notification's email was sent."""

    @abc.abstractmethod
    async def list_notifications(
        self, workspace_id: str, user_id: str, limit: int = 50
    ) -> list[Notification]:
        """Return a user's notifications in a workspace, newest first."""

    # User attributes -------------------------------------------------------

    @abc.abstractmethod
    async def set_user_attribute(
        self, workspace_id: str, user_id: str, name: str, value: str | None
    ) -> None:
        """Set a user's attribute in a workspace, or remove it when ``value`` is None.

        Approval steps read attributes such as ``manager`` (a user id) and
        ``email`` (where notifications are sent).

        Raises:
            NotFoundError: the workspace does not exist.
        """

    @abc.abstractmethod
    async def get_user_attribute(
        self, workspace_id: str, user_id: str, name: str
    ) -> str | None:
        """Return a user's attribute in a workspace, or None."""

    @abc.abstractmethod
    async def list_user_attributes(
        self, workspace_id: str, user_id: str
    ) -> dict[str, str]:
        """Return every attribute of a user in a workspace by name."""
