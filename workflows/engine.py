"""The engine: executes the steps of a run one at a time from stored state.

:meth:`Engine.advance` finds the next step by replaying the stored step
executions over the definition's step tree, then takes the run's lease and
marks that step running in one transaction. It executes that one step and
stores its outcome with the release of the lease in another, which also
completes the run when no step follows. The stored executions
are the run's whole position: a condition's chosen branch and a for-each's
items are stored with the step, so a run continues in any process, after
any crash, without repeating a step recorded as done.

A step executed again, because its attempt failed or its worker died
before the outcome was stored, keeps its key ``<run id>:<step key>`` and
reads the trigger snapshot stored in the run, never the record as it is
now.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from blocks.errors import AppgraphError
from blocks.registry import BlockRegistry
from store.base import Store
from store.workflows import (
    OPEN_RUN_STATUSES,
    RunRelease,
    RunStatus,
    StepExecution,
    StepStart,
    StepStatus,
    WorkflowRun,
    WorkflowStore,
)
from workflows.environment import RecordValues
from workflows.errors import StepError, WorkflowDefinitionError
from workflows.model import Step, WorkflowDefinition, parse_workflow
from workflows.records import RecordWriter
from workflows.settings import WorkflowSettings
from workflows.steps.base import (
    StepContext,
    StepOutcome,
    StepResources,
    StepType,
    to_json,
)
from workflows.steps.registry import StepRegistry

logger = logging.getLogger(__name__)

STOP_BRANCH = "@stop"
"""Branch stored for a step whose outcome stopped the run."""

MIN_CRASH_ATTEMPTS = 3
"""Attempts a step gets when its workers die, even if its policy allows fewer."""

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    """Return the current time, aware, in UTC."""
    return datetime.now(UTC)


@dataclass(frozen=True)
class AdvanceResult:
    """Outcome of :meth:`Engine.advance` and the time of the run's next call.

    Attributes:
        status: The run's status afterwards, or None if the run is missing.
        delay: Seconds until the next call is due: 0 for at once, None when
            no call is needed (the run finished, or another worker has its lease).
    """

    status: RunStatus | None
    delay: float | None = None


@dataclass
class _Pending:
    step: Step
    key: str
    execution: StepExecution | None
    item: Any = None
    index: int | None = None


@dataclass
class _Replay:
    outputs: dict[str, Any] = field(default_factory=dict)
    executed: int = 0
    stopped: bool = False


class Engine:
    """Executes runs step by step.

    Args:
        store: The record store.
        workflows: The workflow store.
        steps: The step types.
        blocks: The block types, for record data.
        settings: Limits of runs.
        clock: Returns the current time; tests pass a fixed one.
        resources: HTTP client, SMTP server and SMS provider of effect steps.
    """

    def __init__(
        self,
        store: Store,
        workflows: WorkflowStore,
        steps: StepRegistry,
        blocks: BlockRegistry,
        settings: WorkflowSettings | None = None,
        clock: Clock = utc_now,
        resources: StepResources | None = None,
    ) -> None:
        self.store = store
        self.workflows = workflows
        self.steps = steps
        self.blocks = blocks
        self.settings = settings or WorkflowSettings()
        self.clock = clock
        self.resources = resources or StepResources()
        self.values = RecordValues(store, blocks)
        self._definitions: dict[tuple[str, int], WorkflowDefinition] = {}

    async def advance(self, run_id: str) -> AdvanceResult:
        """Execute at most one step of a run and store its outcome.

        Returns at once, without executing anything, when the run is
        finished, cancelled, missing, held by another worker's lease, or not
        due yet. A step whose run is cancelled while it executes still has
        its outcome stored, but the run stays cancelled.
        """
        now = self.clock()
        lease_until = now + timedelta(seconds=self.settings.lease_seconds)
        seen = await self.workflows.get_run(run_id)
        if seen is None:
            return AdvanceResult(None)
        if seen.status not in OPEN_RUN_STATUSES or (
            seen.lease_until is not None and seen.lease_until >= now
        ):
            return AdvanceResult(seen.status)

        # The usual case, a due step to execute, takes the lease and starts
        # the step in one transaction. Everything else claims first.
        started = await self._claim_and_start(seen, now, lease_until)
        if started is not None:
            run, plan, env, execution = started
            step_type = self.steps[plan.pending.step.type]
            return await self._releasing_on_error(
                run, self._run_step(run, now, plan, env, step_type, execution)
            )
        claimed = await self.workflows.claim_run(run_id, now, lease_until)
        if claimed is None:
            current = await self.workflows.get_run(run_id)
            return AdvanceResult(current.status if current else None)
        return await self._releasing_on_error(claimed, self._advance(claimed, now))

    async def _releasing_on_error(
        self, run: WorkflowRun, work: Coroutine[Any, Any, AdvanceResult]
    ) -> AdvanceResult:
        try:
            return await work
        except BaseException:
            # Leave the run to the next message or sweep, without the lease.
            await asyncio.shield(
                self.workflows.release_run(
                    run.id,
                    self.clock(),
                    RunStatus.QUEUED,
                    next_attempt_at=self.clock() + timedelta(seconds=1),
                )
            )
            raise

    async def retry_run(self, run_id: str) -> WorkflowRun:
        """Queue a failed run again from its failed step, with fresh attempts.

        The caller sends the run's message, as after creating a run.

        Raises:
            NotFoundError: the run does not exist.
            ConflictError: the run has not failed.
        """
        run = await self.workflows.restart_run(run_id, self.clock())
        logger.info("Queued failed workflow run %s again", run_id)
        return run

    # One step ----------------------------------------------------------------

    async def _claim_and_start(
        self, run: WorkflowRun, now: datetime, lease_until: datetime
    ) -> tuple[WorkflowRun, _Plan, dict[str, object], StepExecution] | None:
        """Start the run's next step with its lease, if that is all to do.

        Returns None, having written nothing, when the run needs anything
        else (a wait, a failure, completion) or changed since it was read.
        """
        if run.next_attempt_at is not None and run.next_attempt_at > now:
            return None
        if run.depth > self.settings.max_chain_depth:
            return None
        try:
            definition = await self._definition(run)
        except WorkflowDefinitionError:
            return None
        if definition is None:
            return None
        executions = {
            e.step_key: e for e in await self.workflows.list_step_executions(run.id)
        }
        replay = _Replay()
        pending = _find_next(definition.steps, executions, "", replay, None, None)
        if replay.stopped or pending is None:
            return None
        if replay.executed >= self.settings.max_steps_per_run:
            return None
        step_type = self.steps.get(pending.step.type)
        if step_type is None:
            return None
        woken = _is_waiting(pending.execution)
        if woken and not step_type.rerun_on_wake:
            return None

        env = await self._env(run, replay.outputs, pending, now)
        done = sum(e.status is StepStatus.DONE for e in executions.values())
        start = _step_start(pending, woken)
        claimed = await self.workflows.claim_run_and_start_step(
            run.id, now, lease_until, run.updated_at, done, start
        )
        if claimed is None:
            return None
        claimed_run, execution = claimed
        return claimed_run, _Plan(definition, executions, pending), env, execution

    async def _advance(self, run: WorkflowRun, now: datetime) -> AdvanceResult:
        if run.next_attempt_at is not None and run.next_attempt_at > now:
            return await self._release_waiting(run, now, run.next_attempt_at)
        if run.depth > self.settings.max_chain_depth:
            return await self._fail(run, now, _depth_error(run.depth, self.settings))

        try:
            definition = await self._definition(run)
        except WorkflowDefinitionError as error:
            return await self._fail(
                run,
                now,
                f"Version {run.workflow_version} of workflow {run.workflow_id!r} "
                f"is invalid: {error}",
            )
        if definition is None:
            return await self._fail(
                run,
                now,
                f"Version {run.workflow_version} of workflow {run.workflow_id!r} "
                f"was not found.",
            )
        executions = {
            e.step_key: e for e in await self.workflows.list_step_executions(run.id)
        }
        replay = _Replay()
        pending = _find_next(definition.steps, executions, "", replay, None, None)
        if replay.stopped or pending is None:
            released = await self.workflows.release_run(
                run.id, now, RunStatus.COMPLETED
            )
            if released.status is RunStatus.CANCELLED:
                return _cancelled(released)
            logger.info("Workflow run %s of %s completed", run.id, run.workflow_id)
            return AdvanceResult(RunStatus.COMPLETED)
        if replay.executed >= self.settings.max_steps_per_run:
            return await self._fail(
                run,
                now,
                f"The run executed {replay.executed} steps, the maximum per run. "
                f"Bound the loops of the workflow.",
                pending.key,
            )

        execution = pending.execution
        step_type = self.steps.get(pending.step.type)
        reruns = step_type is not None and step_type.rerun_on_wake
        woken = _is_waiting(execution)
        if execution is not None and woken and not reruns:
            return await self._resume_waiting(run, now, pending, execution)
        env = await self._env(run, replay.outputs, pending, now)
        plan = _Plan(definition, executions, pending)
        return await self._execute(run, now, plan, env, woken)

    async def _execute(
        self,
        run: WorkflowRun,
        now: datetime,
        plan: _Plan,
        env: Mapping[str, object],
        woken: bool = False,
    ) -> AdvanceResult:
        pending = plan.pending
        step = pending.step
        step_type = self.steps.get(step.type)
        if step_type is None:
            return await self._fail(
                run,
                now,
                f"Step type {step.type!r} of step {step.id!r} is not installed. "
                f"Install its plugin, then retry the run.",
                pending.key,
            )
        start = _step_start(pending, woken)
        started = await self.workflows.start_step(
            run.id,
            start.step_key,
            start.step_id,
            start.step_type,
            now,
            start.input,
            count_attempt=start.count_attempt,
        )
        return await self._run_step(run, now, plan, env, step_type, started)

    async def _run_step(
        self,
        run: WorkflowRun,
        now: datetime,
        plan: _Plan,
        env: Mapping[str, object],
        step_type: StepType,
        started: StepExecution,
    ) -> AdvanceResult:
        pending = plan.pending
        step = pending.step
        attempt = started.attempts
        if attempt > max(step_type.retry.max_attempts, MIN_CRASH_ATTEMPTS):
            # Only attempts whose worker died get here. Steps without retries
            # still get a few, because a crashed worker is no fault of the step.
            error = (
                f"Step {step.id!r} was started {attempt - 1} times without "
                f"finishing; its worker may have crashed."
            )
            release = RunRelease(RunStatus.FAILED, error=error, error_step=pending.key)
            released = await self.workflows.finish_step_and_release(
                run.id, pending.key, now, StepStatus.FAILED, release, error=error
            )
            if released.status is RunStatus.CANCELLED:
                return _cancelled(released)
            return _failed(run, error, pending.key)

        ctx = StepContext(
            run=run,
            step=step,
            step_key=pending.key,
            attempt=attempt,
            env=env,
            store=self.store,
            workflows=self.workflows,
            registry=self.blocks,
            records=RecordWriter(
                self.store, self.workflows, self.blocks, run, pending.key, attempt
            ),
            settings=self.settings,
            now=now,
            resources=self.resources,
        )
        logger.debug(
            "Run %s: executing step %s, attempt %d", run.id, ctx.step_key, attempt
        )
        try:
            outcome = await asyncio.wait_for(step_type.run(ctx), step_type.timeout)
        except StepError as error:
            return await self._step_failed(
                run, ctx, str(error), error.retryable, error.retry_after
            )
        except TimeoutError:
            message = f"Step {step.id!r} timed out after {step_type.timeout:g} s."
            return await self._step_failed(run, ctx, message, True)
        except (AppgraphError, OSError) as error:
            return await self._step_failed(run, ctx, f"Step {step.id!r}: {error}", True)
        except Exception as error:
            logger.exception("Run %s: step %s raised", run.id, ctx.step_key)
            message = f"Step {step.id!r} failed: {type(error).__name__}: {error}"
            return await self._step_failed(run, ctx, message, True)
        return await self._store_outcome(run, ctx, outcome, plan)

    async def _store_outcome(
        self, run: WorkflowRun, ctx: StepContext, outcome: StepOutcome, plan: _Plan
    ) -> AdvanceResult:
        finished = self.clock()
        output = to_json(dict(outcome.output))
        branch = outcome.branch
        if outcome.items is not None:
            output["items"] = to_json(list(outcome.items))
            output["count"] = len(outcome.items)
            branch = branch or "body"
        if outcome.stop:
            branch = STOP_BRANCH
        reruns = self.steps[ctx.step.type].rerun_on_wake
        if outcome.wait_until is not None and (reruns or outcome.wait_until > finished):
            released = await self.workflows.finish_step_and_release(
                run.id,
                ctx.step_key,
                finished,
                StepStatus.WAITING,
                RunRelease(RunStatus.WAITING, next_attempt_at=outcome.wait_until),
                output=output,
                resume_at=outcome.wait_until,
            )
            if released.status is RunStatus.CANCELLED:
                return _cancelled(released)
            return _waiting(released, finished, outcome.wait_until)

        # When this was the last step, the same transaction completes the
        # run, so the run needs no further message.
        last = outcome.stop or plan.is_last(run.id, output, branch)
        status = RunStatus.COMPLETED if last else RunStatus.QUEUED
        released = await self.workflows.finish_step_and_release(
            run.id,
            ctx.step_key,
            finished,
            StepStatus.DONE,
            RunRelease(status),
            output=output,
            branch=branch,
        )
        if released.status is RunStatus.CANCELLED:
            return _cancelled(released)
        if outcome.stop:
            logger.info("Workflow run %s stopped at step %s", run.id, ctx.step_key)
            return AdvanceResult(RunStatus.COMPLETED)
        if last:
            logger.info("Workflow run %s of %s completed", run.id, run.workflow_id)
            return AdvanceResult(RunStatus.COMPLETED)
        return AdvanceResult(RunStatus.QUEUED, 0.0)

    async def _step_failed(
        self,
        run: WorkflowRun,
        ctx: StepContext,
        message: str,
        retryable: bool,
        retry_after: float | None = None,
    ) -> AdvanceResult:
        now = self.clock()
        policy = self.steps[ctx.step.type].retry
        if retryable and ctx.attempt < policy.max_attempts:
            delay = policy.delay(ctx.attempt)
            if retry_after is not None:
                delay = min(max(delay, retry_after), policy.max_backoff)
            until = now + timedelta(seconds=delay)
            released = await self.workflows.finish_step_and_release(
                run.id,
                ctx.step_key,
                now,
                StepStatus.RETRYING,
                RunRelease(RunStatus.WAITING, next_attempt_at=until),
                error=message,
            )
            if released.status is RunStatus.CANCELLED:
                return _cancelled(released)
            logger.warning(
                "Run %s: step %s failed on attempt %d of %d, retrying in %g s: %s",
                run.id,
                ctx.step_key,
                ctx.attempt,
                policy.max_attempts,
                delay,
                message,
            )
            return _waiting(released, now, until)
        step_error = message
        if retryable:
            message = f"{message} (after {ctx.attempt} attempts)"
        released = await self.workflows.finish_step_and_release(
            run.id,
            ctx.step_key,
            now,
            StepStatus.FAILED,
            RunRelease(RunStatus.FAILED, error=message, error_step=ctx.step_key),
            error=step_error,
        )
        if released.status is RunStatus.CANCELLED:
            return _cancelled(released)
        return _failed(run, message, ctx.step_key)

    async def _resume_waiting(
        self,
        run: WorkflowRun,
        now: datetime,
        pending: _Pending,
        execution: StepExecution,
    ) -> AdvanceResult:
        if execution.resume_at is not None and execution.resume_at > now:
            return await self._release_waiting(run, now, execution.resume_at)
        released = await self.workflows.finish_step_and_release(
            run.id,
            pending.key,
            now,
            StepStatus.DONE,
            RunRelease(RunStatus.QUEUED),
            output=execution.output,
        )
        if released.status is RunStatus.CANCELLED:
            return _cancelled(released)
        return AdvanceResult(RunStatus.QUEUED, 0.0)

    async def _release_waiting(
        self, run: WorkflowRun, now: datetime, until: datetime
    ) -> AdvanceResult:
        released = await self.workflows.release_run(
            run.id, now, RunStatus.WAITING, next_attempt_at=until
        )
        if released.status is RunStatus.CANCELLED:
            return _cancelled(released)
        return _waiting(released, now, until)

    async def _fail(
        self, run: WorkflowRun, now: datetime, error: str, step_key: str | None = None
    ) -> AdvanceResult:
        released = await self.workflows.release_run(
            run.id, now, RunStatus.FAILED, error=error, error_step=step_key
        )
        if released.status is RunStatus.CANCELLED:
            return _cancelled(released)
        return _failed(run, error, step_key)

    # Definitions and environments -------------------------------------------

    async def _definition(self, run: WorkflowRun) -> WorkflowDefinition | None:
        key = (run.workflow_id, run.workflow_version)
        cached = self._definitions.get(key)
        if cached is not None:
            return cached
        version = await self.workflows.get_workflow_version(*key)
        if version is None:
            return None
        definition = parse_workflow(version.definition)
        self._definitions[key] = definition
        return definition

    async def _env(
        self,
        run: WorkflowRun,
        outputs: Mapping[str, Any],
        pending: _Pending,
        now: datetime,
    ) -> dict[str, object]:
        trigger = run.trigger
        app_id = trigger.get("app_id")
        version = trigger.get("version")
        record = trigger.get("record")
        previous = trigger.get("previous")
        if isinstance(app_id, str) and isinstance(version, int):
            record = await self.values.env(app_id, version, record)
            previous = await self.values.env(app_id, version, previous)
        return {
            "record": record,
            "previous": previous,
            "trigger": trigger,
            "steps": outputs,
            "item": pending.item,
            "index": pending.index,
            "now": now,
        }


@dataclass(frozen=True)
class _Plan:
    """The step an advance executes, with what it replayed to find it."""

    definition: WorkflowDefinition
    executions: Mapping[str, StepExecution]
    pending: _Pending

    def is_last(self, run_id: str, output: dict[str, Any], branch: str | None) -> bool:
        """Return whether no step follows once the pending step is done as given."""
        key = self.pending.key
        executions = dict(self.executions)
        executions[key] = StepExecution(
            run_id=run_id,
            step_key=key,
            step_id=self.pending.step.id,
            step_type=self.pending.step.type,
            status=StepStatus.DONE,
            attempts=0,
            started_at=None,
            finished_at=None,
            resume_at=None,
            output=output,
            branch=branch,
        )
        replay = _Replay()
        found = _find_next(self.definition.steps, executions, "", replay, None, None)
        return replay.stopped or found is None


def _cancelled(released: WorkflowRun) -> AdvanceResult:
    logger.info(
        "Workflow run %s of %s was cancelled while a worker held it, so it stops",
        released.id,
        released.workflow_id,
    )
    return AdvanceResult(RunStatus.CANCELLED)


def _waiting(released: WorkflowRun, now: datetime, until: datetime) -> AdvanceResult:
    # A wake-up that arrived while the run was leased makes it due earlier.
    due = released.next_attempt_at or until
    return AdvanceResult(RunStatus.WAITING, max((due - now).total_seconds(), 0))


def _failed(run: WorkflowRun, error: str, step_key: str | None) -> AdvanceResult:
    logger.info(
        "Workflow run %s of %s failed at step %s: %s",
        run.id,
        run.workflow_id,
        step_key,
        error,
    )
    return AdvanceResult(RunStatus.FAILED)


def _find_next(
    steps: Sequence[Step],
    executions: Mapping[str, StepExecution],
    scope: str,
    replay: _Replay,
    item: Any,
    index: int | None,
) -> _Pending | None:
    """Return the first step of ``steps`` not done, descending into branches."""
    for step in steps:
        key = f"{scope}{step.id}"
        execution = executions.get(key)
        if execution is None or execution.status is not StepStatus.DONE:
            return _Pending(step, key, execution, item, index)
        replay.executed += 1
        replay.outputs[step.id] = execution.output
        if execution.branch == STOP_BRANCH:
            replay.stopped = True
            return None
        children = step.branches.get(execution.branch or "", ())
        items = execution.output.get("items")
        if isinstance(items, list):
            for position, each in enumerate(items):
                found = _find_next(
                    children,
                    executions,
                    f"{key}[{position}]/",
                    replay,
                    each,
                    position + 1,
                )
                if found is not None or replay.stopped:
                    return found
            replay.outputs[step.id] = execution.output
        elif children:
            found = _find_next(children, executions, scope, replay, item, index)
            if found is not None or replay.stopped:
                return found
    return None


def _is_waiting(execution: StepExecution | None) -> bool:
    return execution is not None and execution.status is StepStatus.WAITING


def _step_start(pending: _Pending, woken: bool) -> StepStart:
    # Running a waiting step again after a wake-up is no new attempt.
    return StepStart(
        pending.key,
        pending.step.id,
        pending.step.type,
        _input_summary(pending),
        count_attempt=not woken,
    )


def _input_summary(pending: _Pending) -> dict[str, Any]:
    summary: dict[str, Any] = {"config": to_json(dict(pending.step.config))}
    if pending.index is not None:
        summary["index"] = pending.index
        summary["item"] = to_json(pending.item)
    return summary


def _depth_error(depth: int, settings: WorkflowSettings) -> str:
    return (
        f"Workflow chain too deep: this run would be number {depth} in a chain of "
        f"workflow runs that trigger each other through record writes, above the "
        f"maximum of {settings.max_chain_depth}. Change a trigger condition so "
        f"the workflows stop triggering each other."
    )
