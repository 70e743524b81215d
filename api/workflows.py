"""Workflow operations of the GraphQL API: store objects in, Strawberry objects out.

Every lookup checks the caller's workspace, and a workflow or run of another
workspace is reported as not found. Admins read and edit every workflow of
their workspace. Members see, and may start, the enabled workflows with a
manual trigger of apps shared with members, and see and cancel the runs
they started.
Expected failures of mutations become ``UserError`` lists on the payload.
The approval operations are in :mod:`api.workflow_approvals`.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any

from graphql import GraphQLError
from strawberry.scalars import JSON

from api.context import Caller, RequestContext
from api.operations import user_errors
from api.schema import static as gql
from api.schema import workflows as wgql
from api.services import PageSizeError, Services
from api.workflow_approvals import WorkflowApprovalOperations
from blocks.errors import (
    AppgraphError,
    ConflictError,
    ErrorCode,
    NotFoundError,
    Problem,
    ProblemsError,
)
from store.models import App
from store.workflows import (
    RunStatus,
    StepExecution,
    Workflow,
    WorkflowRun,
    WorkflowVersion,
)
from workflows import WorkflowRuntime
from workflows.definitions import WorkflowDiff
from workflows.errors import RunStateError, WorkflowDefinitionError
from workflows.model import TriggerType, WorkflowDefinition, parse_workflow

logger = logging.getLogger(__name__)

PREVIEW_CHARS = 4096
"""Maximum length of the JSON text of a step's input or output served whole.
Larger values are served as a text preview of this many characters."""

MAX_SCANNED_RUNS = 10_000
"""Maximum number of runs of one workflow that one page request reads."""

MAX_CANCEL_REASON_CHARS = 1000
"""Maximum length of the reason given when cancelling a run."""

WATCHED_RUNS = 200
"""Latest runs of a workflow that a ``workflowRunChanged`` subscription
compares between two polls."""


@dataclass(kw_only=True)
class WorkflowRequestContext(RequestContext):
    """The GraphQL context of one operation, with the workflow operations."""

    workflows: WorkflowOperations


@dataclass(frozen=True)
class _Visible:
    """A workflow the caller may see, with its app and current definition."""

    workflow: Workflow
    app: App
    definition: WorkflowDefinition


class WorkflowOperations(WorkflowApprovalOperations):
    """The resolvers' view of the workflow runtime, per process.

    Args:
        runtime: The workflow runtime of the process.
        services: App lookups and authorization helpers.
        poll_interval: Seconds between two reads of the run table by a
            ``workflowRunChanged`` subscription.
    """

    def __init__(
        self,
        runtime: WorkflowRuntime,
        services: Services,
        *,
        poll_interval: float = 0.5,
    ) -> None:
        self.runtime = runtime
        self.services = services
        self.poll_interval = poll_interval

    # Access ----------------------------------------------------------------

    async def _visible(self, caller: Caller, workflow_id: str) -> _Visible:
        """Return a workflow the caller may see, or raise NotFoundError."""
        missing = NotFoundError(f"No workflow {workflow_id!r} in this workspace.")
        store = self.runtime.workflows
        workflow = await store.get_workflow(workflow_id)
        if workflow is None or workflow.workspace_id != caller.workspace_id:
            raise missing
        app = await self.services.store.get_app(workflow.app_id)
        version = await store.get_workflow_version(
            workflow.id, workflow.current_version
        )
        if app is None or app.workspace_id != caller.workspace_id or version is None:
            raise missing
        definition = parse_workflow(version.definition)
        if not caller.is_admin and not _members_may_start(app, definition):
            raise missing
        return _Visible(workflow, app, definition)

    async def _admin_workflow(
        self, caller: Caller, workflow_id: str, action: str
    ) -> _Visible:
        self.services.require_admin(caller, action)
        return await self._visible(caller, workflow_id)

    async def _readable_run(self, caller: Caller, run_id: str) -> WorkflowRun:
        """Return a run the caller may read, or raise NotFoundError."""
        missing = NotFoundError(f"No workflow run {run_id!r} in this workspace.")
        run = await self.runtime.workflows.get_run(run_id)
        if run is None or run.workspace_id != caller.workspace_id:
            raise missing
        if not caller.is_admin:
            try:
                await self._visible(caller, run.workflow_id)
            except NotFoundError:
                raise missing from None
            if not _started_by(run, caller):
                raise missing
        return run

    # Conversions -----------------------------------------------------------

    @staticmethod
    def workflow_object(visible: _Visible) -> wgql.Workflow:
        """Return the GraphQL object of a workflow."""
        workflow = visible.workflow
        return wgql.Workflow(
            id=workflow.id,  # type: ignore[arg-type]
            app_id=workflow.app_id,  # type: ignore[arg-type]
            app_slug=visible.app.slug,
            name=workflow.name,
            current_version=workflow.current_version,
            trigger_type=wgql.WorkflowTriggerType(
                visible.definition.trigger.type.value
            ),
            enabled=visible.definition.enabled,
            created_at=workflow.created_at,
            updated_at=workflow.updated_at,
        )

    @staticmethod
    def version_object(version: WorkflowVersion) -> wgql.WorkflowVersion:
        """Return the GraphQL object of a workflow version."""
        return wgql.WorkflowVersion(
            workflow_id=version.workflow_id,  # type: ignore[arg-type]
            number=version.number,
            definition=JSON(version.definition),
            author=version.author,
            note=version.note,
            created_at=version.created_at,
        )

    @staticmethod
    def run_object(run: WorkflowRun) -> wgql.WorkflowRun:
        """Return the GraphQL object of a run."""
        record_id = run.trigger.get("record_id")
        requested_by = run.trigger.get("requested_by")
        return wgql.WorkflowRun(
            id=run.id,  # type: ignore[arg-type]
            workflow_id=run.workflow_id,  # type: ignore[arg-type]
            workflow_version=run.workflow_version,
            status=wgql.WorkflowRunStatus(run.status.value),
            trigger_kind=wgql.WorkflowTriggerType(str(run.trigger.get("kind"))),
            trigger=JSON(run.trigger),
            record_id=record_id if isinstance(record_id, str) else None,  # type: ignore[arg-type]
            requested_by=requested_by if isinstance(requested_by, str) else None,
            depth=run.depth,
            created_at=run.created_at,
            updated_at=run.updated_at,
            started_at=run.started_at,
            finished_at=run.finished_at,
            next_attempt_at=run.next_attempt_at,
            error=run.error,
            error_step=run.error_step,
            cancelled_by=run.cancelled_by,
            cancel_reason=run.cancel_reason,
        )

    @staticmethod
    def step_object(execution: StepExecution) -> wgql.WorkflowStepExecution:
        """Return the GraphQL object of a step execution."""
        duration = None
        if execution.started_at is not None and execution.finished_at is not None:
            elapsed = execution.finished_at - execution.started_at
            duration = int(elapsed.total_seconds() * 1000)
        input_value, input_truncated = _preview(execution.input)
        output_value, output_truncated = _preview(execution.output)
        return wgql.WorkflowStepExecution(
            key=execution.step_key,
            step_id=execution.step_id,
            step_type=execution.step_type,
            status=wgql.WorkflowStepStatus(execution.status.value),
            attempts=execution.attempts,
            started_at=execution.started_at,
            finished_at=execution.finished_at,
            resume_at=execution.resume_at,
            duration_ms=duration,
            input=input_value,
            input_truncated=input_truncated,
            output=output_value,
            output_truncated=output_truncated,
            branch=execution.branch,
            error=execution.error,
        )

    @staticmethod
    def diff_object(diff: WorkflowDiff) -> wgql.WorkflowDiff:
        """Return the GraphQL object of a workflow diff."""
        return wgql.WorkflowDiff(
            from_version=diff.from_version,
            to_version=diff.to_version,
            changed_fields=list(diff.changed_fields),
            added_steps=list(diff.added_steps),
            removed_steps=list(diff.removed_steps),
            changed_steps=[
                wgql.WorkflowStepChange(step_id=c.step_id, changes=list(c.changes))
                for c in diff.changed_steps
            ],
        )

    # Queries ---------------------------------------------------------------

    async def list_workflows(
        self, caller: Caller, app_slug: str
    ) -> list[wgql.Workflow]:
        """Return the workflows of an app that the caller may see."""
        app = await self.services.app_for(caller, app_slug)
        result = []
        for workflow in await self.runtime.workflows.list_workflows(
            caller.workspace_id, app.id
        ):
            try:
                visible = await self._visible(caller, workflow.id)
            except NotFoundError:
                continue
            result.append(self.workflow_object(visible))
        return result

    async def find_workflow(
        self, caller: Caller, workflow_id: str
    ) -> wgql.Workflow | None:
        """Return a workflow the caller may see, or None."""
        try:
            return self.workflow_object(await self._visible(caller, workflow_id))
        except NotFoundError:
            return None

    async def version(
        self, caller: Caller, workflow_id: str, number: int
    ) -> wgql.WorkflowVersion:
        """Return one version of a workflow to an admin."""
        await self._admin_workflow(caller, workflow_id, "read workflow definitions")
        version = await self.runtime.workflows.get_workflow_version(workflow_id, number)
        if version is None:
            raise NotFoundError(f"Workflow {workflow_id!r} has no version {number}.")
        return self.version_object(version)

    async def versions(
        self, caller: Caller, workflow_id: str
    ) -> list[wgql.WorkflowVersion]:
        """Return every version of a workflow to an admin, oldest first."""
        await self._admin_workflow(caller, workflow_id, "read workflow definitions")
        versions = await self.runtime.workflows.list_workflow_versions(workflow_id)
        return [self.version_object(v) for v in versions]

    async def diff(
        self, caller: Caller, workflow_id: str, from_version: int, to_version: int
    ) -> wgql.WorkflowDiff:
        """Return what changed between two versions of a workflow, to an admin."""
        await self._admin_workflow(caller, workflow_id, "read workflow definitions")
        diff = await self.runtime.definitions.diff(
            workflow_id, from_version, to_version
        )
        return self.diff_object(diff)

    async def list_runs(
        self,
        caller: Caller,
        workflow_id: str,
        status: wgql.WorkflowRunStatus | None,
        first: int | None,
        after: str | None,
    ) -> wgql.WorkflowRunConnection:
        """Return a page of a workflow's runs that the caller may read."""
        await self._visible(caller, workflow_id)
        status_filter = None if status is None else RunStatus(str(status.value))
        try:
            page_size = self.services.page_size(first)
        except PageSizeError as error:
            raise GraphQLError(str(error)) from None

        # NOTE: the store lists the latest runs with a limit only, so a page
        # after a cursor, or of a member's own runs, reads a growing number
        # of runs and filters them here, up to MAX_SCANNED_RUNS.
        limit = page_size + 1
        while True:
            runs = await self.runtime.workflows.list_runs(
                workflow_id, status=status_filter, limit=limit
            )
            selected = [
                run
                for run in runs
                if (after is None or run.id < after)
                and (caller.is_admin or _started_by(run, caller))
            ]
            if (
                len(selected) > page_size
                or len(runs) < limit
                or limit >= MAX_SCANNED_RUNS
            ):
                break
            limit = min(limit * 4, MAX_SCANNED_RUNS)

        page = selected[:page_size]
        return wgql.WorkflowRunConnection(
            nodes=[self.run_object(run) for run in page],
            page_info=gql.PageInfo(
                has_next_page=len(selected) > page_size,
                end_cursor=page[-1].id if page else None,
            ),
        )

    async def find_run(self, caller: Caller, run_id: str) -> wgql.WorkflowRun | None:
        """Return a run the caller may read, or None."""
        try:
            return self.run_object(await self._readable_run(caller, run_id))
        except NotFoundError:
            return None

    async def steps(self, run_id: str) -> list[wgql.WorkflowStepExecution]:
        """Return the step executions of a run the caller was allowed to read."""
        executions = await self.runtime.workflows.list_step_executions(run_id)
        return [self.step_object(e) for e in executions]

    def step_catalogue(self) -> list[wgql.StepTypeInfo]:
        """Return every installed step type, by name."""
        entries = sorted(self.runtime.steps, key=lambda e: e.step_type.name)
        return [
            wgql.StepTypeInfo(
                name=entry.step_type.name,
                label=entry.step_type.label,
                description=entry.step_type.description,
                config_schema=JSON(dict(entry.step_type.config_schema)),
                branches=list(entry.step_type.branches),
                max_attempts=entry.step_type.retry.max_attempts,
                timeout=entry.step_type.timeout,
                plugin=entry.plugin,
            )
            for entry in entries
        ]

    # Mutations -------------------------------------------------------------

    async def create(
        self, caller: Caller, input: wgql.WorkflowCreateInput
    ) -> wgql.WorkflowPayload:
        """Validate a definition and create a workflow of an app with it."""
        try:
            self.services.require_admin(caller, "create workflows")
            app = await self.services.app_for(caller, input.app)
            workflow, version = await self.runtime.definitions.create(
                caller.workspace_id,
                app.id,
                _definition_data(input.definition),
                caller.user_id,
                input.note,
            )
            visible = await self._visible(caller, workflow.id)
        except WorkflowDefinitionError as error:
            return _workflow_failure(_in_definition(error))
        except NotFoundError as error:
            return _workflow_failure(_at(error, "app"))
        except AppgraphError as error:
            return _workflow_failure(user_errors(error))
        logger.info("User %s created workflow %s", caller.user_id, workflow.id)
        return self._saved_payload(visible, version)

    def _saved_payload(
        self, visible: _Visible, version: WorkflowVersion
    ) -> wgql.WorkflowPayload:
        """Return the payload of a mutation that saved ``version``."""
        return wgql.WorkflowPayload(
            workflow=self.workflow_object(visible),
            version=self.version_object(version),
            errors=[],
        )

    async def save(
        self, caller: Caller, input: wgql.WorkflowSaveInput
    ) -> wgql.WorkflowPayload:
        """Validate a definition and save it as the workflow's next version."""
        workflow_id = str(input.workflow)
        try:
            await self._admin_workflow(caller, workflow_id, "change workflows")
            version = await self.runtime.definitions.save(
                workflow_id,
                _definition_data(input.definition),
                caller.user_id,
                input.note,
                expected_current=input.expected_version,
            )
            visible = await self._visible(caller, workflow_id)
        except WorkflowDefinitionError as error:
            return _workflow_failure(_in_definition(error))
        except NotFoundError as error:
            return _workflow_failure(_at(error, "workflow"))
        except ConflictError as error:
            return _workflow_failure(_at(error, "expectedVersion"))
        except AppgraphError as error:
            return _workflow_failure(user_errors(error))
        return self._saved_payload(visible, version)

    async def rollback(
        self, caller: Caller, input: wgql.WorkflowRollbackInput
    ) -> wgql.WorkflowPayload:
        """Save an earlier version's definition again as the next version."""
        workflow_id = str(input.workflow)
        try:
            await self._admin_workflow(caller, workflow_id, "roll back workflows")
            if (
                await self.runtime.workflows.get_workflow_version(
                    workflow_id, input.to_version
                )
                is None
            ):
                visible = await self._visible(caller, workflow_id)
                raise _VersionNotFoundError(
                    f"Workflow {workflow_id!r} has no version {input.to_version}; "
                    f"versions run from 1 to {visible.workflow.current_version}."
                )
            version = await self.runtime.definitions.rollback(
                workflow_id, input.to_version, caller.user_id
            )
            visible = await self._visible(caller, workflow_id)
        except WorkflowDefinitionError as error:
            return _workflow_failure(_in_definition(error))
        except _VersionNotFoundError as error:
            return _workflow_failure(_at(error, "toVersion"))
        except NotFoundError as error:
            return _workflow_failure(_at(error, "workflow"))
        except AppgraphError as error:
            return _workflow_failure(user_errors(error))
        return self._saved_payload(visible, version)

    async def start_run(
        self, caller: Caller, input: wgql.WorkflowRunStartInput
    ) -> wgql.WorkflowRunPayload:
        """Start a run of a workflow with a manual trigger."""
        workflow_id = str(input.workflow)
        try:
            await self._visible(caller, workflow_id)
            run_input = _run_input(input.input)
            run = await self.runtime.start_run(workflow_id, caller.user_id, run_input)
        except NotFoundError as error:
            return _run_failure(_at(error, "workflow"))
        except RunStateError as error:
            return _run_failure(_at(error, "workflow"))
        except AppgraphError as error:
            return _run_failure(user_errors(error))
        return wgql.WorkflowRunPayload(run=self.run_object(run), errors=[])

    async def retry_run(
        self, caller: Caller, input: wgql.WorkflowRunRetryInput
    ) -> wgql.WorkflowRunPayload:
        """Queue a failed run again from its failed step."""
        run_id = str(input.run)
        try:
            self.services.require_admin(caller, "retry workflow runs")
            await self._readable_run(caller, run_id)
            run = await self.runtime.retry_run(run_id)
        except (NotFoundError, ConflictError) as error:
            return _run_failure(_at(error, "run"))
        except AppgraphError as error:
            return _run_failure(user_errors(error))
        logger.info("User %s retried workflow run %s", caller.user_id, run_id)
        return wgql.WorkflowRunPayload(run=self.run_object(run), errors=[])

    async def cancel_run(
        self, caller: Caller, input: wgql.WorkflowRunCancelInput
    ) -> wgql.WorkflowRunPayload:
        """Cancel a run that is queued, running, waiting or failed.

        Admins cancel any run of their workspace, and members the runs they
        may read, which are the manual runs they started.
        """
        run_id = str(input.run)
        try:
            reason = _cancel_reason(input.reason)
            await self._readable_run(caller, run_id)
            run = await self.runtime.cancel_run(
                run_id,
                workspace_id=caller.workspace_id,
                user_id=caller.user_id,
                reason=reason,
            )
        except (NotFoundError, ConflictError) as error:
            return _run_failure(_at(error, "run"))
        except AppgraphError as error:
            return _run_failure(user_errors(error))
        return wgql.WorkflowRunPayload(run=self.run_object(run), errors=[])

    # Subscriptions ---------------------------------------------------------

    async def run_events(
        self, caller: Caller, workflow_id: str
    ) -> AsyncIterator[wgql.WorkflowRunEvent]:
        """Yield each status change of the workflow's runs the caller may read.

        The run table is read every ``poll_interval`` seconds, and each read
        reports the status it finds, so a status that lasted less than that
        is skipped. Only the latest WATCHED_RUNS runs are compared. The stream
        ends when the caller may no longer see the workflow.

        Raises:
            NotFoundError: before the first event, when the caller may not
                see the workflow.
        """
        await self._visible(caller, workflow_id)
        seen = {run.id: run.status for run in await self._watched(caller, workflow_id)}
        while True:
            await asyncio.sleep(self.poll_interval)
            try:
                await self._visible(caller, workflow_id)
            except NotFoundError:
                return
            runs = await self._watched(caller, workflow_id)
            current = {run.id: run.status for run in runs}
            for run in reversed(runs):
                previous = seen.get(run.id)
                if previous != run.status:
                    yield wgql.WorkflowRunEvent(
                        run=self.run_object(run),
                        previous_status=(
                            None
                            if previous is None
                            else wgql.WorkflowRunStatus(previous.value)
                        ),
                    )
            seen = current

    async def _watched(self, caller: Caller, workflow_id: str) -> list[WorkflowRun]:
        runs = await self.runtime.workflows.list_runs(workflow_id, limit=WATCHED_RUNS)
        return [run for run in runs if caller.is_admin or _started_by(run, caller)]


class _VersionNotFoundError(NotFoundError):
    """The version a rollback names does not exist."""


def _members_may_start(app: App, definition: WorkflowDefinition) -> bool:
    return (
        app.shared_with_members
        and definition.enabled
        and definition.trigger.type is TriggerType.MANUAL
    )


def _started_by(run: WorkflowRun, caller: Caller) -> bool:
    return bool(run.trigger.get("requested_by") == caller.user_id)


def _preview(value: Mapping[str, Any]) -> tuple[Any, bool]:
    text = json.dumps(value, default=str, ensure_ascii=False)
    if len(text) <= PREVIEW_CHARS:
        return JSON(value), False
    return text[:PREVIEW_CHARS], True


def _definition_data(value: Any) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise WorkflowDefinitionError(
            [
                Problem(
                    (),
                    ErrorCode.INVALID_TYPE,
                    "The definition must be a JSON object with name, trigger "
                    "and steps.",
                )
            ]
        )
    return value


def _run_input(value: Any) -> Mapping[str, Any] | None:
    if value is None or isinstance(value, Mapping):
        return value
    raise ProblemsError(
        [
            Problem(
                ("input",),
                ErrorCode.INVALID_TYPE,
                f"The run input must be a JSON object or null, got "
                f"{type(value).__name__}.",
            )
        ]
    )


def _cancel_reason(value: str | None) -> str | None:
    if value is not None and len(value) > MAX_CANCEL_REASON_CHARS:
        raise ProblemsError(
            [
                Problem(
                    ("reason",),
                    ErrorCode.TOO_LONG,
                    f"The reason has {len(value)} characters, more than the "
                    f"maximum of {MAX_CANCEL_REASON_CHARS}. Shorten it.",
                )
            ]
        )
    return value


def _in_definition(error: WorkflowDefinitionError) -> list[gql.UserError]:
    prefixed = WorkflowDefinitionError(
        [problem.with_prefix(("definition",)) for problem in error.problems]
    )
    return user_errors(prefixed)


def _at(error: AppgraphError, field: str) -> list[gql.UserError]:
    return [
        gql.UserError(path=[field], code=e.code, message=e.message)
        for e in user_errors(error)
    ]


def _workflow_failure(errors: list[gql.UserError]) -> wgql.WorkflowPayload:
    return wgql.WorkflowPayload(workflow=None, version=None, errors=errors)


def _run_failure(errors: list[gql.UserError]) -> wgql.WorkflowRunPayload:
    return wgql.WorkflowRunPayload(run=None, errors=errors)
