"""The workflow engine inside an application process.

:class:`WorkflowRuntime` wires the engine to a broker and runs three loops on
the application's event loop: the trigger dispatcher, the scheduler and the
sweep that re-sends messages for open runs whose message was lost. With no
Redis URL it also runs an in-process Dramatiq worker on a stub broker, so
one command runs everything. With a Redis URL, separate processes started
with :func:`workflows.worker.run_worker` execute the runs.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextlib import suppress
from datetime import timedelta
from typing import Any, Literal

import dramatiq
from dramatiq import Worker

from blocks.errors import NotFoundError
from blocks.registry import BlockRegistry
from store.base import Store
from store.sqlite.backend import SQLiteStore
from store.sqlite.workflows import SQLiteWorkflowStore
from store.workflows import NewRun, WorkflowRun, WorkflowStore
from workflows.approvals import ApprovalState, decide, pending_for
from workflows.definitions import WorkflowDefinitions
from workflows.engine import Clock, Engine, utc_now
from workflows.errors import RunStateError
from workflows.guard import GuardedClient
from workflows.loop_log import LoopFailureLog
from workflows.model import TriggerType, parse_workflow
from workflows.queue import LoopEngineHost, RunQueue, create_broker
from workflows.settings import WorkflowSettings
from workflows.steps.base import StepResources
from workflows.steps.registry import StepRegistry
from workflows.triggers import Scheduler, TriggerDispatcher

logger = logging.getLogger(__name__)

_SWEEP_LIMIT = 500


def default_resources() -> StepResources:
    """Return the resources of a process that has no operator configuration."""
    return StepResources(http=GuardedClient())


def workflow_store_for(store: Store) -> WorkflowStore:
    """Return the workflow store that lives beside ``store``.

    Raises:
        TypeError: the backend has no workflow store yet.
    """
    if isinstance(store, SQLiteStore):
        return SQLiteWorkflowStore(store)
    raise TypeError(
        f"No workflow store exists for {type(store).__name__}; workflows need "
        f"the SQLite store."
    )


class WorkflowRuntime:
    """Triggers, schedules and executes workflow runs in this process.

    Args:
        store: The open record store.
        registry: The block types.
        settings: Engine settings; :meth:`WorkflowSettings.from_env` when None.
        steps: The step types; the built-in and installed ones when None.
        workflows: The workflow store; the one beside ``store`` when None.
        embedded_worker: Whether this process executes runs. The default is
            True without a Redis URL and False with one.
        broker_options: Passed to the Redis broker, such as
            ``heartbeat_timeout``.
        resources: HTTP client, SMTP server and SMS provider of effect steps.
            By default HTTP steps use a guarded client with the default
            policy, and email and SMS steps fail until an operator configures
            them.
        clock: Returns the current time; tests pass their own.
    """

    def __init__(
        self,
        store: Store,
        registry: BlockRegistry,
        settings: WorkflowSettings | None = None,
        *,
        steps: StepRegistry | None = None,
        workflows: WorkflowStore | None = None,
        embedded_worker: bool | None = None,
        broker_options: Mapping[str, Any] | None = None,
        resources: StepResources | None = None,
        clock: Clock = utc_now,
    ) -> None:
        self.store = store
        self.registry = registry
        self.settings = settings or WorkflowSettings.from_env()
        self.steps = steps or StepRegistry.default()
        self.workflows = workflows or workflow_store_for(store)
        self.clock = clock

        self.embedded_worker = (
            self.settings.redis_url is None
            if embedded_worker is None
            else embedded_worker
        )
        self.engine = Engine(
            store,
            self.workflows,
            self.steps,
            registry,
            self.settings,
            clock,
            resources or default_resources(),
        )

        self.definitions = WorkflowDefinitions(store, self.workflows, self.steps)
        self.dispatcher = TriggerDispatcher(
            store, self.workflows, registry, self.settings, self.send, clock
        )
        self.scheduler = Scheduler(self.workflows, self.enqueue, clock)

        self._broker_options = dict(broker_options or {})
        self.broker: dramatiq.Broker | None = None
        self.queue: RunQueue | None = None
        self._worker: Worker | None = None
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    # Lifecycle -------------------------------------------------------------

    async def start(self) -> None:
        """Connect the broker, re-send open runs and start the loops.

        Runs left open by a previous process get a message again, and the
        trigger dispatcher resumes from its stored offset.
        """
        if self.queue is not None:
            return
        loop = asyncio.get_running_loop()
        self.broker = create_broker(self.settings.redis_url, **self._broker_options)
        host = LoopEngineHost(self.engine, loop) if self.embedded_worker else None
        time_limit = int((self.settings.lease_seconds + 60) * 1000)
        self.queue = RunQueue(self.broker, self.settings.queue_name, host, time_limit)
        if self.embedded_worker:
            timeout = self.settings.worker_timeout
            if self.settings.redis_url:
                timeout = self.settings.redis_worker_timeout
            self._worker = Worker(
                self.broker,
                worker_threads=self.settings.worker_threads,
                queues={self.settings.queue_name},
                worker_timeout=int(timeout * 1000),
            )
            self._worker.start()

        open_runs = await self.workflows.list_open_runs(_SWEEP_LIMIT)
        await self.enqueue(open_runs)
        self._tasks = [
            asyncio.create_task(
                self._loop(self._dispatch, self.settings.dispatch_interval, True),
                name="workflow-triggers",
            ),
            asyncio.create_task(
                self._loop(self.sweep, self.settings.sweep_interval, False),
                name="workflow-sweep",
            ),
            asyncio.create_task(
                self._loop(self._schedule, self.settings.schedule_interval, False),
                name="workflow-schedules",
            ),
        ]
        logger.info(
            "Workflow runtime started (%s broker, %s worker); re-sent %d open runs",
            "Redis" if self.settings.redis_url else "stub",
            "embedded" if self.embedded_worker else "no",
            len(open_runs),
        )

    async def stop(self) -> None:
        """Stop the loops and the embedded worker; open runs stay stored."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        if self._worker is not None:
            # The worker's threads may wait for this loop, so join them from
            # another thread.
            timeout = int(self.settings.shutdown_timeout * 1000)
            await asyncio.to_thread(self._worker.stop, timeout)
            self._worker = None
        if self.broker is not None:
            self.broker.close()
            self.broker = None
        self.queue = None
        logger.info("Workflow runtime stopped")

    def wake(self) -> None:
        """Ask the trigger dispatcher to read the outbox now."""
        self._wake.set()

    # Runs ------------------------------------------------------------------

    async def enqueue(self, run_ids: Sequence[str]) -> None:
        """Send a message for each run and store that it was sent."""
        if not run_ids:
            return
        ids = list(run_ids)
        await self.send(ids)
        await self.workflows.mark_enqueued(ids, self.clock())

    async def send(self, run_ids: Sequence[str]) -> None:
        """Send a message for each run, without storing that it was sent."""
        if not run_ids:
            return
        queue = self.queue
        if queue is None:
            raise RunStateError(
                "The workflow runtime is not started; call start() first."
            )
        if self.settings.redis_url is None:
            # The stub broker only appends to an in-memory queue.
            _send_all(queue, run_ids)
        else:
            await asyncio.to_thread(_send_all, queue, run_ids)

    async def start_run(
        self,
        workflow_id: str,
        requested_by: str,
        input: Mapping[str, Any] | None = None,
    ) -> WorkflowRun:
        """Start a run of a workflow with a manual trigger and send it.

        Raises:
            NotFoundError: the workflow does not exist.
            RunStateError: the workflow is disabled or has another trigger.
        """
        workflow = await self.workflows.get_workflow(workflow_id)
        version = (
            await self.workflows.get_workflow_version(
                workflow_id, workflow.current_version
            )
            if workflow
            else None
        )
        if workflow is None or version is None:
            raise NotFoundError(f"Workflow {workflow_id!r} was not found.")
        definition = parse_workflow(version.definition)
        if definition.trigger.type is not TriggerType.MANUAL:
            raise RunStateError(
                f"Workflow {workflow_id!r} has a {definition.trigger.type} trigger; "
                f"only workflows with a manual trigger can be started by hand."
            )
        if not definition.enabled:
            raise RunStateError(
                f"Workflow {workflow_id!r} is disabled; enable it to start a run."
            )
        run, _ = await self.workflows.insert_run(
            NewRun(
                workspace_id=workflow.workspace_id,
                workflow_id=workflow.id,
                workflow_version=version.number,
                trigger={
                    "kind": TriggerType.MANUAL.value,
                    "input": dict(input or {}),
                    "requested_by": requested_by,
                    "outbox_seq": await self.workflows.max_event_seq(),
                },
                depth=1,
            )
        )
        logger.info("User %s started run %s of %s", requested_by, run.id, workflow.id)
        await self.enqueue([run.id])
        return run

    async def retry_run(self, run_id: str) -> WorkflowRun:
        """Queue a failed run again from its failed step and send it.

        Raises:
            NotFoundError: the run does not exist.
            ConflictError: the run has not failed.
        """
        run = await self.engine.retry_run(run_id)
        await self.enqueue([run.id])
        return run

    async def cancel_run(
        self,
        run_id: str,
        *,
        workspace_id: str,
        user_id: str,
        reason: str | None,
    ) -> WorkflowRun:
        """Cancel a queued, running, waiting or failed run of a workspace.

        The run executes no further step: messages delivered later find it
        cancelled and do nothing, and its approvals take no more decisions.
        A step executing at this moment finishes and its outcome is stored,
        but it does not move the run on.

        Raises:
            NotFoundError: the run does not exist in ``workspace_id``.
            ConflictError: the run is completed or already cancelled.
        """
        run = await self.workflows.cancel_run(
            run_id,
            self.clock(),
            workspace_id=workspace_id,
            user_id=user_id,
            reason=reason,
        )
        logger.info("User %s cancelled workflow run %s", user_id, run_id)
        return run

    # Approvals -------------------------------------------------------------

    async def decide_approval(
        self,
        run_id: str,
        step_key: str,
        *,
        workspace_id: str,
        user_id: str,
        role: str,
        decision: Literal["approve", "reject"],
        comment: str | None,
    ) -> ApprovalState:
        """Store a user's decision on an approval step and wake its run.

        The decision is stored with the user, the time and the comment, once
        per (run, step, level, user): the same decision again returns the
        state and stores nothing. The returned state still shows the level
        as it was, because the run applies the decision when it advances.
        The message sent here starts that at once.

        Raises:
            ApprovalNotFoundError: the run, or its approval step, does not exist.
            ApprovalWorkspaceError: the run belongs to another workspace.
            ApprovalNotWaitingError: the step is not waiting for a decision.
            NotApproverError: the user may not decide at the current level.
            AlreadyDecidedError: the user decided differently at this level.
        """
        # NOTE: the run's delayed message for its deadline stays queued, so
        # each decision adds a message chain that re-sends itself (at most
        # hourly) until the run leaves its waiting state; those are no-ops.
        state = await decide(
            self.workflows,
            run_id,
            step_key,
            workspace_id=workspace_id,
            user_id=user_id,
            role=role,
            decision=decision,
            comment=comment,
            now=self.clock(),
        )
        logger.info(
            "User %s decided %s on approval %s of run %s",
            user_id,
            decision,
            step_key,
            run_id,
        )
        await self.enqueue([run_id])
        return state

    async def list_pending_approvals(
        self, workspace_id: str, user_id: str, role: str
    ) -> list[ApprovalState]:
        """Return the approvals waiting for this user's decision, oldest first.

        A user's approvals are those whose current level names the user, or
        the user's workspace ``role``, and that the user has not decided yet.
        """
        return await pending_for(self.workflows, workspace_id, user_id, role)

    async def sweep(self) -> int:
        """Re-send open runs whose message is overdue; return how many."""
        now = self.clock()
        stale = now - timedelta(seconds=self.settings.requeue_after)
        run_ids = await self.workflows.list_due_runs(now, stale, _SWEEP_LIMIT)
        if run_ids:
            logger.warning(
                "Re-sending %d workflow runs without a message", len(run_ids)
            )
            await self.enqueue(run_ids)
        return len(run_ids)

    # Loops -----------------------------------------------------------------

    async def _dispatch(self) -> None:
        await self.dispatcher.dispatch_pending()

    async def _schedule(self) -> None:
        await self.scheduler.fire_due()

    async def _loop(
        self,
        body: Callable[[], Awaitable[object]],
        interval: float,
        wakeable: bool,
    ) -> None:
        failures = LoopFailureLog(body.__name__, interval, self.settings.redis_url)
        while True:
            if wakeable:
                # Cleared before the work, so a wake during it is kept.
                self._wake.clear()
            try:
                await body()
            except asyncio.CancelledError:
                raise
            except Exception as error:
                failures.failed(error)
            else:
                failures.succeeded()
            if wakeable:
                with suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), interval)
            else:
                await asyncio.sleep(interval)


def _send_all(queue: RunQueue, run_ids: Sequence[str]) -> None:
    for run_id in run_ids:
        queue.send(run_id)
