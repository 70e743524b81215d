"""The workflow part of the static schema, written with Strawberry.

Workflows of an app with their versions and diffs, runs with their step
executions, the step-type catalogue, the mutations that edit and start them
and the subscription to run status changes. :mod:`api.schema.static` mounts
:class:`WorkflowQuery`, :class:`WorkflowMutation` and
:class:`WorkflowSubscription` into its root types. Resolvers call
:class:`api.workflows.WorkflowOperations`, which checks the caller.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from datetime import datetime
from enum import Enum
from typing import TYPE_CHECKING, Annotated

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from api.context import RequestContext

if TYPE_CHECKING:
    from api.schema.static import PageInfo, UserError
    from api.workflows import WorkflowOperations

_STATIC = "api.schema.static"


@strawberry.enum(description="Where a run is in its life.")
class WorkflowRunStatus(Enum):
    """Run statuses, with the values of :class:`store.workflows.RunStatus`."""

    QUEUED = strawberry.enum_value(
        "queued", description="Waiting for a worker to execute its next step."
    )
    RUNNING = strawberry.enum_value(
        "running", description="A worker is executing one of its steps."
    )
    WAITING = strawberry.enum_value(
        "waiting",
        description="A wait step or a retry delay pauses it until nextAttemptAt.",
    )
    COMPLETED = strawberry.enum_value(
        "completed", description="Every step ran, or a stop step ended it."
    )
    FAILED = strawberry.enum_value(
        "failed",
        description="A step failed without another attempt; see error and errorStep.",
    )
    CANCELLED = strawberry.enum_value(
        "cancelled",
        description="A user cancelled it with workflowRunCancel, as cancelledBy "
        "and cancelReason show.",
    )


@strawberry.enum(description="Where one step execution of a run is.")
class WorkflowStepStatus(Enum):
    """Step statuses, with the values of :class:`store.workflows.StepStatus`."""

    RUNNING = strawberry.enum_value("running", description="An attempt is running.")
    RETRYING = strawberry.enum_value(
        "retrying", description="An attempt failed and another one is due."
    )
    WAITING = strawberry.enum_value(
        "waiting", description="A wait step waits until resumeAt."
    )
    DONE = strawberry.enum_value("done", description="The step succeeded.")
    FAILED = strawberry.enum_value(
        "failed", description="The step failed after its last attempt."
    )


@strawberry.enum(description="What starts a run of a workflow.")
class WorkflowTriggerType(Enum):
    """Trigger types, with the values of :class:`workflows.model.TriggerType`."""

    RECORD_CREATED = strawberry.enum_value(
        "record_created", description="A record of the app was created."
    )
    RECORD_UPDATED = strawberry.enum_value(
        "record_updated", description="A record of the app was updated."
    )
    RECORD_DELETED = strawberry.enum_value(
        "record_deleted", description="A record of the app was deleted."
    )
    FIELD_CHANGED = strawberry.enum_value(
        "field_changed", description="An update changed one field of a record."
    )
    SCHEDULE = strawberry.enum_value(
        "schedule", description="A cron schedule came due."
    )
    MANUAL = strawberry.enum_value(
        "manual", description="A user started it with workflowRunStart."
    )


@strawberry.enum(description="Where an approval step, or one of its levels, is.")
class WorkflowApprovalStatus(Enum):
    """Approval statuses, with the values of :class:`store.workflows.ApprovalStatus`."""

    PENDING = strawberry.enum_value(
        "pending", description="Waiting for decisions or a deadline."
    )
    APPROVED = strawberry.enum_value("approved", description="The last level approved.")
    REJECTED = strawberry.enum_value(
        "rejected", description="A level rejected, or a deadline rejected it."
    )


@strawberry.enum(description="What an approver decides.")
class WorkflowApprovalDecisionKind(Enum):
    """Decisions, with the values of :class:`store.workflows.Decision`."""

    APPROVE = strawberry.enum_value("approve", description="Approve this level.")
    REJECT = strawberry.enum_value("reject", description="Reject the approval.")


def _ops(info: Info[RequestContext, None]) -> WorkflowOperations:
    operations = getattr(info.context, "workflows", None)
    if operations is None:
        raise RuntimeError(
            "The request context has no workflow operations; build it with "
            "Runtime.make_context."
        )
    return operations  # type: ignore[no-any-return]


# Definitions ---------------------------------------------------------------


@strawberry.type(description="One immutable version of a workflow definition.")
class WorkflowVersion:
    """A workflow definition version."""

    workflow_id: strawberry.ID = strawberry.field(description="Workflow id.")
    number: int = strawberry.field(description="Version number, from 1.")
    definition: JSON = strawberry.field(
        description="The definition: name, trigger and steps."
    )
    author: str = strawberry.field(description="User who saved it.")
    note: str = strawberry.field(description="Author's note on the change.")
    created_at: datetime = strawberry.field(description="Save time.")


@strawberry.type(description="A step present in two versions that changed.")
class WorkflowStepChange:
    """A changed step."""

    step_id: str = strawberry.field(description="Step id.")
    changes: list[str] = strawberry.field(
        description="What changed: type, config, label or position."
    )


@strawberry.type(description="Changes from one workflow version to another.")
class WorkflowDiff:
    """A workflow diff; steps are matched by id."""

    from_version: int = strawberry.field(description="Older version number.")
    to_version: int = strawberry.field(description="Newer version number.")
    changed_fields: list[str] = strawberry.field(
        description="Top-level keys that changed: name, description, enabled, trigger."
    )
    added_steps: list[str] = strawberry.field(description="Ids of new steps.")
    removed_steps: list[str] = strawberry.field(description="Ids of removed steps.")
    changed_steps: list[WorkflowStepChange] = strawberry.field(
        description="Steps whose type, config, label or position changed."
    )


@strawberry.type(description="A workflow of an app: a trigger and a tree of steps.")
class Workflow:
    """A workflow whose definition lives in numbered versions."""

    id: strawberry.ID = strawberry.field(description="Workflow id.")
    app_id: strawberry.ID = strawberry.field(description="Id of its app.")
    app_slug: str = strawberry.field(description="Slug of its app.")
    name: str = strawberry.field(description="Name from the current definition.")
    current_version: int = strawberry.field(description="Latest version number.")
    trigger_type: WorkflowTriggerType = strawberry.field(
        description="Trigger of the current version."
    )
    enabled: bool = strawberry.field(
        description="Whether the current version starts runs."
    )
    created_at: datetime = strawberry.field(description="Creation time.")
    updated_at: datetime = strawberry.field(description="Time of the last save.")

    @strawberry.field(description="The current definition. Admins only.")
    async def definition(self, info: Info[RequestContext, None]) -> JSON:
        """Resolve the current definition."""
        version = await _ops(info).version(
            info.context.caller, str(self.id), self.current_version
        )
        return version.definition

    @strawberry.field(description="One version by number. Admins only.")
    async def version(
        self,
        info: Info[RequestContext, None],
        number: Annotated[int, strawberry.argument(description="Version number.")],
    ) -> WorkflowVersion:
        """Resolve one version."""
        return await _ops(info).version(info.context.caller, str(self.id), number)

    @strawberry.field(description="Every version, oldest first. Admins only.")
    async def versions(self, info: Info[RequestContext, None]) -> list[WorkflowVersion]:
        """Resolve the version history."""
        return await _ops(info).versions(info.context.caller, str(self.id))

    @strawberry.field(description="Changes between two versions. Admins only.")
    async def diff(
        self,
        info: Info[RequestContext, None],
        from_version: Annotated[int, strawberry.argument(description="Older version.")],
        to_version: Annotated[int, strawberry.argument(description="Newer version.")],
    ) -> WorkflowDiff:
        """Resolve a diff."""
        return await _ops(info).diff(
            info.context.caller, str(self.id), from_version, to_version
        )


@strawberry.type(description="A workflow step type that definitions may use.")
class StepTypeInfo:
    """One entry of the step catalogue."""

    name: str = strawberry.field(description="Type name used in definitions.")
    label: str = strawberry.field(description="Human name.")
    description: str = strawberry.field(description="What the step does.")
    config_schema: JSON = strawberry.field(description="JSON Schema of the config.")
    branches: list[str] = strawberry.field(
        description="Keys of child step lists beside config, such as then and else."
    )
    max_attempts: int = strawberry.field(
        description="Attempts before a failing step fails the run."
    )
    timeout: float = strawberry.field(description="Seconds one attempt may take.")
    plugin: str = strawberry.field(description="Plugin that provides the type.")


# Runs ----------------------------------------------------------------------


@strawberry.type(description="The stored state of one step at one position of a run.")
class WorkflowStepExecution:
    """A step execution."""

    key: str = strawberry.field(
        description="Step path with for-each indexes, such as each_line[2]/update."
    )
    step_id: str = strawberry.field(description="Step id in the definition.")
    step_type: str = strawberry.field(description="Step type name.")
    status: WorkflowStepStatus = strawberry.field(description="Where the step is.")
    attempts: int = strawberry.field(description="Attempts started so far.")
    started_at: datetime | None = strawberry.field(
        description="Start of the latest attempt."
    )
    finished_at: datetime | None = strawberry.field(
        description="End of the latest attempt; null while it runs or waits."
    )
    resume_at: datetime | None = strawberry.field(
        description="When a waiting step moves on."
    )
    duration_ms: int | None = strawberry.field(
        description="Milliseconds from start to end of the latest attempt."
    )
    input: JSON = strawberry.field(
        description="What the step received, or a text preview when inputTruncated."
    )
    input_truncated: bool = strawberry.field(
        description="The input was larger than the preview limit."
    )
    output: JSON = strawberry.field(
        description="What the step returned, or a text preview when outputTruncated."
    )
    output_truncated: bool = strawberry.field(
        description="The output was larger than the preview limit."
    )
    branch: str | None = strawberry.field(description="Branch the step chose.")
    error: str | None = strawberry.field(description="Error of the latest attempt.")


@strawberry.type(description="One execution of a workflow version.")
class WorkflowRun:
    """A run."""

    id: strawberry.ID = strawberry.field(description="Run id.")
    workflow_id: strawberry.ID = strawberry.field(description="Workflow id.")
    workflow_version: int = strawberry.field(description="Version it executes.")
    status: WorkflowRunStatus = strawberry.field(description="Where the run is.")
    trigger_kind: WorkflowTriggerType = strawberry.field(
        description="What started the run."
    )
    trigger: JSON = strawberry.field(
        description="Stored snapshot of what started the run; retries read it."
    )
    record_id: strawberry.ID | None = strawberry.field(
        description="Record that started the run, for record triggers."
    )
    requested_by: str | None = strawberry.field(
        description="User who started a manual run."
    )
    depth: int = strawberry.field(
        description="Chain depth: 1 for a run a user's write or request started."
    )
    created_at: datetime = strawberry.field(description="Creation time.")
    updated_at: datetime = strawberry.field(description="Time of the last change.")
    started_at: datetime | None = strawberry.field(
        description="When a worker first took the run."
    )
    finished_at: datetime | None = strawberry.field(
        description="When the run completed, failed or was cancelled."
    )
    next_attempt_at: datetime | None = strawberry.field(
        description="When a waiting run moves on."
    )
    error: str | None = strawberry.field(description="Why the run failed.")
    error_step: str | None = strawberry.field(
        description="Key of the step whose failure failed the run."
    )
    cancelled_by: str | None = strawberry.field(
        description="User who cancelled the run."
    )
    cancel_reason: str | None = strawberry.field(
        description="Reason given when the run was cancelled."
    )

    @strawberry.field(description="Step executions in the order they started.")
    async def steps(
        self, info: Info[RequestContext, None]
    ) -> list[WorkflowStepExecution]:
        """Resolve the step executions."""
        return await _ops(info).steps(str(self.id))


@strawberry.type(description="A page of workflow runs, newest first.")
class WorkflowRunConnection:
    """Runs with cursor pagination."""

    nodes: list[WorkflowRun] = strawberry.field(description="Runs of the page.")
    page_info: Annotated[PageInfo, strawberry.lazy(_STATIC)] = strawberry.field(
        description="Where this page ends."
    )


@strawberry.type(description="A change of a run's status, pushed to subscribers.")
class WorkflowRunEvent:
    """A run status change."""

    run: WorkflowRun = strawberry.field(description="The run now.")
    previous_status: WorkflowRunStatus | None = strawberry.field(
        description="Status before the change; null for a new run."
    )


# Approvals -----------------------------------------------------------------


@strawberry.type(description="One approver's decision at one level of an approval.")
class WorkflowApprovalDecision:
    """A stored decision."""

    level: int = strawberry.field(description="Level it was made at, from 1.")
    user_id: str = strawberry.field(description="User who decided.")
    decision: WorkflowApprovalDecisionKind = strawberry.field(
        description="Approve or reject."
    )
    comment: str | None = strawberry.field(description="The approver's comment.")
    decided_at: datetime = strawberry.field(description="Time of the decision.")


@strawberry.type(description="An approval step of a run and its current level.")
class WorkflowApproval:
    """An approval."""

    run_id: strawberry.ID = strawberry.field(description="Run id.")
    step_key: str = strawberry.field(
        description="Key of the approval step in the run; pass it to decide."
    )
    workflow_id: strawberry.ID = strawberry.field(description="Workflow id.")
    record_id: strawberry.ID | None = strawberry.field(
        description="Record the approval is about, if any."
    )
    level: int = strawberry.field(description="Current level, from 1.")
    level_count: int = strawberry.field(description="Number of levels.")
    status: WorkflowApprovalStatus = strawberry.field(
        description="Pending until the last level approves or a level rejects; "
        "a decision shows here once the run applied it."
    )
    escalated: bool = strawberry.field(
        description="The current level went to its escalation approvers."
    )
    approvers: list[str] = strawberry.field(
        description="User ids that may decide at the current level."
    )
    approver_roles: list[str] = strawberry.field(
        description="Workspace roles whose users may decide at the current level."
    )
    deadline: datetime | None = strawberry.field(
        description="When the current level's deadline passes."
    )
    decisions: list[WorkflowApprovalDecision] = strawberry.field(
        description="Every decision of the step, oldest first."
    )
    reason: str | None = strawberry.field(
        description="Why the approval ended: decision or deadline."
    )


# Payloads and inputs -------------------------------------------------------


@strawberry.type(description="Result of a workflow mutation.")
class WorkflowPayload:
    """Workflow mutation result."""

    workflow: Workflow | None = strawberry.field(
        description="The workflow; null on errors."
    )
    version: WorkflowVersion | None = strawberry.field(
        description="The version this mutation created; null on errors."
    )
    errors: list[Annotated[UserError, strawberry.lazy(_STATIC)]] = strawberry.field(
        description="What to fix; paths into a definition start with definition."
    )


@strawberry.type(description="Result of a run mutation.")
class WorkflowRunPayload:
    """Run mutation result."""

    run: WorkflowRun | None = strawberry.field(description="The run; null on errors.")
    errors: list[Annotated[UserError, strawberry.lazy(_STATIC)]] = strawberry.field(
        description="What to fix."
    )


@strawberry.type(description="Result of an approval decision.")
class WorkflowApprovalPayload:
    """Approval mutation result."""

    approval: WorkflowApproval | None = strawberry.field(
        description="The approval after the decision was stored; null on errors."
    )
    errors: list[Annotated[UserError, strawberry.lazy(_STATIC)]] = strawberry.field(
        description="What to fix."
    )


@strawberry.input(description="A decision on an approval step that waits for it.")
class WorkflowApprovalDecideInput:
    """Input of workflowApprovalDecide."""

    run: strawberry.ID = strawberry.field(description="Run id.")
    step_key: str = strawberry.field(description="Key of the approval step.")
    decision: WorkflowApprovalDecisionKind = strawberry.field(
        description="Approve or reject."
    )
    comment: str | None = strawberry.field(
        default=None, description="Why; stored with the decision."
    )


@strawberry.input(description="A new workflow of an app.")
class WorkflowCreateInput:
    """Input of workflowCreate."""

    app: str = strawberry.field(description="Slug of the app the workflow belongs to.")
    definition: JSON = strawberry.field(
        description="The definition: name, description, enabled, trigger, steps."
    )
    note: str = strawberry.field(default="", description="Note on version 1.")


@strawberry.input(description="A new version of a workflow's definition.")
class WorkflowSaveInput:
    """Input of workflowSave."""

    workflow: strawberry.ID = strawberry.field(description="Workflow id.")
    definition: JSON = strawberry.field(description="The whole new definition.")
    expected_version: int | None = strawberry.field(
        default=None,
        description="Fail with CONFLICT unless this is still the current version.",
    )
    note: str = strawberry.field(default="", description="What changed and why.")


@strawberry.input(description="Restore an earlier workflow version as a new version.")
class WorkflowRollbackInput:
    """Input of workflowRollback."""

    workflow: strawberry.ID = strawberry.field(description="Workflow id.")
    to_version: int = strawberry.field(description="Version to copy.")


@strawberry.input(description="A manual start of a workflow with a manual trigger.")
class WorkflowRunStartInput:
    """Input of workflowRunStart."""

    workflow: strawberry.ID = strawberry.field(description="Workflow id.")
    input: JSON | None = strawberry.field(
        default=None,
        description="JSON object that steps read as trigger.input.",
    )


@strawberry.input(description="A failed run to run again from its failed step.")
class WorkflowRunRetryInput:
    """Input of workflowRunRetry."""

    run: strawberry.ID = strawberry.field(description="Run id.")


@strawberry.input(description="A run to stop before its next step.")
class WorkflowRunCancelInput:
    """Input of workflowRunCancel."""

    run: strawberry.ID = strawberry.field(description="Run id.")
    reason: str | None = strawberry.field(
        default=None,
        description="Why the run is cancelled, at most 1,000 characters. It is "
        "stored with the run.",
    )


# Root fields ---------------------------------------------------------------


@strawberry.type(description="Workflow read operations.")
class WorkflowQuery:
    """Workflow query fields, mounted into the root Query type."""

    @strawberry.field(
        description="Workflows of an app, oldest first. Members see the enabled "
        "manual workflows of apps shared with them."
    )
    async def workflows(
        self,
        info: Info[RequestContext, None],
        app: Annotated[str, strawberry.argument(description="App slug.")],
    ) -> list[Workflow]:
        """Resolve the workflows of an app."""
        return await _ops(info).list_workflows(info.context.caller, app)

    @strawberry.field(description="One workflow by id; null when not found.")
    async def workflow(
        self,
        info: Info[RequestContext, None],
        id: Annotated[strawberry.ID, strawberry.argument(description="Workflow id.")],
    ) -> Workflow | None:
        """Resolve one workflow."""
        return await _ops(info).find_workflow(info.context.caller, str(id))

    @strawberry.field(
        description="Runs of a workflow, newest first. Members see the runs they "
        "started."
    )
    async def workflow_runs(
        self,
        info: Info[RequestContext, None],
        workflow: Annotated[
            strawberry.ID, strawberry.argument(description="Workflow id.")
        ],
        status: Annotated[
            WorkflowRunStatus | None,
            strawberry.argument(description="Only runs with this status."),
        ] = None,
        first: Annotated[
            int | None, strawberry.argument(description="Page size; default 50.")
        ] = None,
        after: Annotated[
            str | None,
            strawberry.argument(description="endCursor of the previous page."),
        ] = None,
    ) -> WorkflowRunConnection:
        """Resolve a page of runs."""
        return await _ops(info).list_runs(
            info.context.caller, str(workflow), status, first, after
        )

    @strawberry.field(description="One run by id with its steps; null when not found.")
    async def workflow_run(
        self,
        info: Info[RequestContext, None],
        id: Annotated[strawberry.ID, strawberry.argument(description="Run id.")],
    ) -> WorkflowRun | None:
        """Resolve one run."""
        return await _ops(info).find_run(info.context.caller, str(id))

    @strawberry.field(description="Every step type workflow definitions may use.")
    def step_types(self, info: Info[RequestContext, None]) -> list[StepTypeInfo]:
        """Resolve the step catalogue."""
        return _ops(info).step_catalogue()

    @strawberry.field(
        description="Approval steps waiting for the caller's decision, oldest first."
    )
    async def pending_approvals(
        self, info: Info[RequestContext, None]
    ) -> list[WorkflowApproval]:
        """Resolve the caller's pending approvals."""
        return await _ops(info).pending_approvals(info.context.caller)


@strawberry.type(description="Workflow write operations.")
class WorkflowMutation:
    """Workflow mutation fields, mounted into the root Mutation type."""

    @strawberry.mutation(
        description="Create a workflow of an app with its first definition. "
        "Admins only."
    )
    async def workflow_create(
        self, info: Info[RequestContext, None], input: WorkflowCreateInput
    ) -> WorkflowPayload:
        """Create a workflow."""
        return await _ops(info).create(info.context.caller, input)

    @strawberry.mutation(
        description="Save a definition as the workflow's next version. Admins only."
    )
    async def workflow_save(
        self, info: Info[RequestContext, None], input: WorkflowSaveInput
    ) -> WorkflowPayload:
        """Save a new version."""
        return await _ops(info).save(info.context.caller, input)

    @strawberry.mutation(
        description="Save an earlier version again as a new version. Admins only."
    )
    async def workflow_rollback(
        self, info: Info[RequestContext, None], input: WorkflowRollbackInput
    ) -> WorkflowPayload:
        """Roll back."""
        return await _ops(info).rollback(info.context.caller, input)

    @strawberry.mutation(
        description="Start a run of a workflow with a manual trigger. Admins, and "
        "members for apps shared with them."
    )
    async def workflow_run_start(
        self, info: Info[RequestContext, None], input: WorkflowRunStartInput
    ) -> WorkflowRunPayload:
        """Start a run."""
        return await _ops(info).start_run(info.context.caller, input)

    @strawberry.mutation(
        description="Run a failed run again from its failed step. Admins only."
    )
    async def workflow_run_retry(
        self, info: Info[RequestContext, None], input: WorkflowRunRetryInput
    ) -> WorkflowRunPayload:
        """Retry a failed run."""
        return await _ops(info).retry_run(info.context.caller, input)

    @strawberry.mutation(
        description="Cancel a queued, running, waiting or failed run, so it "
        "executes no further step. Admins, and members for the runs they started."
    )
    async def workflow_run_cancel(
        self, info: Info[RequestContext, None], input: WorkflowRunCancelInput
    ) -> WorkflowRunPayload:
        """Cancel a run."""
        return await _ops(info).cancel_run(info.context.caller, input)

    @strawberry.mutation(
        description="Approve or reject an approval step as one of its approvers."
    )
    async def workflow_approval_decide(
        self, info: Info[RequestContext, None], input: WorkflowApprovalDecideInput
    ) -> WorkflowApprovalPayload:
        """Decide on an approval."""
        return await _ops(info).decide_approval(info.context.caller, input)


@strawberry.type(description="Live workflow changes.")
class WorkflowSubscription:
    """Workflow subscription fields, mounted into the root Subscription type."""

    @strawberry.subscription(
        description="Runs of a workflow as they start and change status."
    )
    async def workflow_run_changed(
        self,
        info: Info[RequestContext, None],
        workflow: Annotated[
            strawberry.ID, strawberry.argument(description="Workflow id.")
        ],
    ) -> AsyncGenerator[WorkflowRunEvent, None]:
        """Stream run status changes the caller may read."""
        async for event in _ops(info).run_events(info.context.caller, str(workflow)):
            yield event
