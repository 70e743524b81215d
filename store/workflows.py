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
``chain_depth``, so the trigger dispatcher knows how deep in a chain of
workflow writes a record event is, and the engine can see whether a write of
a step was committed before a crash.
"""


class RunStatus(StrEnum):
    """Where a run is in its life."""

    QUEUED = "queued"
    """Waiting for a worker to execute its next step."""
    RUNNING = "running"
    """A worker holds the run's lease and is executing a step."""
    WAITING = "waiting"
    """A wait step or a retry delay holds the run until ``next_attempt_at``."""
    COMPLETED = "completed"
    FAILED = "failed"


OPEN_RUN_STATUSES = (RunStatus.QUEUED, RunStatus.RUNNING, RunStatus.WAITING)


class StepStatus(StrEnum):
    """Where one step execution is."""

    RUNNING = "running"
    RETRYING = "retrying"
    """An attempt failed and another is due at the run's ``next_attempt_at``."""
    WAITING = "waiting"
    """A wait step waits until ``resume_at``."""
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
        run's next message.
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
    async def mark_enqueued(self, run_ids: Sequence[str], now: datetime) -> None:
        """Store that a message was sent for each run."""

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
    ) -> StepExecution:
        """Count a new attempt of a step and mark it running."""

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
