"""Turning outbox events and due schedules into runs, exactly one per cause.

The :class:`TriggerDispatcher` reads record events from the outbox after its
own durable offset, creates one run per matching (workflow, event) pair, and
moves the offset only after the runs are stored. A crash in between makes it
read the same events again, and the unique index on (workflow, event seq)
turns the repeated inserts into no-ops, so each pair gets exactly one run.
Each record event carries the record's data as written with the change,
and for updates and deletes also the previous data. Triggers and the run's
snapshot use those, so each change is matched as it was made.

The :class:`Scheduler` does the same for cron triggers with a unique index on
(workflow, due time), so several processes checking schedules at once still
create one run per due time.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from croniter import CroniterError, croniter

from blocks.errors import AppgraphError
from blocks.expressions import ExpressionError, parse_cached
from blocks.registry import BlockRegistry
from store.base import Store
from store.models import EventKind, OutboxEvent
from store.workflows import (
    NewRun,
    RecordState,
    RunStatus,
    TriggerEvent,
    Workflow,
    WorkflowRun,
    WorkflowStore,
    WorkflowVersion,
)
from workflows.engine import Clock, utc_now
from workflows.environment import RecordValues
from workflows.model import Trigger, TriggerType, WorkflowDefinition, parse_workflow
from workflows.settings import WorkflowSettings

logger = logging.getLogger(__name__)

CONSUMER_NAME = "workflow-triggers"
"""Name of the trigger dispatcher's offset in the consumer table."""

Enqueue = Callable[[Sequence[str]], Awaitable[None]]
"""Sends a message for each run id and stores that it was sent."""

Send = Callable[[Sequence[str]], Awaitable[None]]
"""Sends a message for each run id whose ``enqueued_at`` is stored already."""

_EVENT_TRIGGERS: dict[str, tuple[TriggerType, ...]] = {
    EventKind.RECORD_CREATED: (TriggerType.RECORD_CREATED,),
    EventKind.RECORD_UPDATED: (TriggerType.RECORD_UPDATED, TriggerType.FIELD_CHANGED),
    EventKind.RECORD_DELETED: (TriggerType.RECORD_DELETED,),
}


@dataclass(frozen=True)
class _Candidate:
    workflow: Workflow
    version: WorkflowVersion
    definition: WorkflowDefinition


class _DefinitionCache:
    def __init__(self) -> None:
        self._parsed: dict[tuple[str, int], WorkflowDefinition | None] = {}

    def get(self, version: WorkflowVersion) -> WorkflowDefinition | None:
        key = (version.workflow_id, version.number)
        if key not in self._parsed:
            try:
                self._parsed[key] = parse_workflow(version.definition)
            except AppgraphError:
                logger.warning(
                    "Workflow %s version %d does not parse; it triggers nothing",
                    version.workflow_id,
                    version.number,
                )
                self._parsed[key] = None
        return self._parsed[key]


class TriggerDispatcher:
    """Creates runs for record events, from its own outbox offset.

    Each batch of events is one transaction: the new runs, the record
    snapshots, the ``enqueued_at`` of the runs to send and the offset. The
    messages go out right after it commits. A process that dies in between
    leaves runs marked as sent without a message. The sweep re-sends them
    after ``requeue_after``, and a restarted runtime at once.

    Args:
        store: The record store.
        workflows: The workflow store.
        blocks: The block types, for trigger conditions.
        settings: Chain-depth limit and batch size.
        send: Sends the messages of new runs.
        clock: Returns the current time, stored as ``enqueued_at``.
    """

    def __init__(
        self,
        store: Store,
        workflows: WorkflowStore,
        blocks: BlockRegistry,
        settings: WorkflowSettings,
        send: Send,
        clock: Clock = utc_now,
    ) -> None:
        self.store = store
        self.workflows = workflows
        self.settings = settings
        self.send = send
        self.clock = clock
        self.values = RecordValues(store, blocks)
        self._definitions = _DefinitionCache()

    async def dispatch_pending(self) -> int:
        """Handle every event after the offset; return how many were read."""
        total = 0
        while True:
            count = await self.dispatch_batch()
            total += count
            if count < self.settings.dispatch_batch:
                return total

    async def dispatch_batch(self) -> int:
        """Handle one batch of events after the offset; return how many."""
        offset = await self._offset()
        batch = await self.workflows.fetch_trigger_events(
            offset, self.settings.dispatch_batch
        )
        if not batch:
            return 0
        app_ids = sorted({item.event.app_id for item in batch})
        candidates = self._candidates(
            await self.workflows.list_current_workflows(app_ids)
        )
        new_runs: list[NewRun] = []
        snapshots: dict[str, RecordState] = {}
        for item in batch:
            app_candidates = candidates.get(item.event.app_id)
            if app_candidates:
                await self._handle(item, app_candidates, new_runs, snapshots)

        inserted = await self.workflows.insert_trigger_runs(
            new_runs,
            list(snapshots.values()),
            CONSUMER_NAME,
            batch[-1].event.seq,
            self.clock(),
        )
        to_send = []
        for run, created in inserted:
            if run.status is RunStatus.QUEUED and run.enqueued_at is None:
                to_send.append(run.id)
            if created:
                logger.info(
                    "Event %d started run %s of workflow %s",
                    run.event_seq,
                    run.id,
                    run.workflow_id,
                )
        if to_send:
            try:
                await self.send(to_send)
            except BaseException:
                # The sweep re-sends runs without enqueued_at at its next pass.
                await asyncio.shield(self.workflows.mark_enqueued(to_send, None))
                raise
        return len(batch)

    async def _offset(self) -> int:
        offset = await self.workflows.get_consumer_offset(CONSUMER_NAME)
        if offset is not None:
            return offset
        # On first start, begin where the oldest workflow begins, because no
        # event before a workflow's creation triggers it.
        current = await self.workflows.list_current_workflows()
        if not current:
            return await self.workflows.max_event_seq()
        return min(workflow.start_seq for workflow, _ in current)

    def _candidates(
        self, current: Sequence[tuple[Workflow, WorkflowVersion]]
    ) -> dict[str, list[_Candidate]]:
        by_app: dict[str, list[_Candidate]] = {}
        for workflow, version in current:
            definition = self._definitions.get(version)
            if definition is None or not definition.enabled:
                continue
            by_app.setdefault(workflow.app_id, []).append(
                _Candidate(workflow, version, definition)
            )
        return by_app

    async def _handle(
        self,
        item: TriggerEvent,
        candidates: Sequence[_Candidate],
        new_runs: list[NewRun],
        snapshots: dict[str, RecordState],
    ) -> None:
        """Add the runs that an event starts, and its snapshot if it needs one."""
        event = item.event
        states = await self._event_states(event, snapshots)
        if states is None:
            return
        current, previous = states

        version = int(event.payload.get("version", 0))
        record_env = await self.values.env(event.app_id, version, current.data)
        previous_env = (
            await self.values.env(event.app_id, version, previous.data)
            if previous
            else None
        )
        for candidate in candidates:
            if event.seq <= candidate.workflow.start_seq:
                continue
            trigger = candidate.definition.trigger
            if trigger.type not in _EVENT_TRIGGERS.get(event.kind, ()):
                continue
            if not _matches(trigger, current, previous, record_env, previous_env):
                continue
            new_runs.append(self._new_run(item, candidate, current, previous))
        if "data" not in event.payload:
            # Stored in the transaction of the runs and the offset, so a
            # crash before it decides the same matches again.
            snapshots[current.record_id] = current

    async def _event_states(
        self, event: OutboxEvent, batch_snapshots: Mapping[str, RecordState]
    ) -> tuple[RecordState, RecordState | None] | None:
        """Return the record data of an event and the data before it, if known.

        Record events carry both as written with the change. Events written
        before they did carry neither, so for those the record is read as it
        is now and the previous data is the last data this dispatcher kept,
        in ``batch_snapshots`` when an earlier event of the batch kept it.
        """
        payload = event.payload
        data = payload.get("data")
        if isinstance(data, dict):
            revision = int(payload.get("revision", 0))
            deleted = event.kind == EventKind.RECORD_DELETED
            current = RecordState(event.subject_id, revision, data, deleted)
            before = payload.get("previous")
            previous = None
            if isinstance(before, dict):
                previous = RecordState(event.subject_id, revision - 1, before)
            return current, previous

        state = await self.workflows.get_record_state(event.subject_id)
        if state is None:
            return None
        # NOTE: events without data can see a later revision than their own
        # when the record changed again before this batch. Then both events
        # see the newest data, and a field change is seen once.
        previous = None
        if event.kind == EventKind.RECORD_UPDATED:
            previous = batch_snapshots.get(
                event.subject_id
            ) or await self.workflows.get_record_snapshot(event.subject_id)
        return state, previous

    def _new_run(
        self,
        item: TriggerEvent,
        candidate: _Candidate,
        current: RecordState,
        previous: RecordState | None,
    ) -> NewRun:
        event = item.event
        depth = item.chain_depth + 1
        trigger: dict[str, Any] = {
            "kind": candidate.definition.trigger.type.value,
            "event": event.kind,
            "event_seq": event.seq,
            "outbox_seq": event.seq,
            "app_id": event.app_id,
            "record_id": event.subject_id,
            "version": event.payload.get("version"),
            "revision": current.revision,
            "record": current.data,
            "previous": previous.data if previous else None,
            "owner": event.owner,
            "chain_depth": item.chain_depth,
        }
        status = RunStatus.QUEUED
        error = None
        if depth > self.settings.max_chain_depth:
            status = RunStatus.FAILED
            error = (
                f"Workflow chain too deep: this run would be number {depth} in a "
                f"chain of workflow runs that trigger each other through record "
                f"writes, above the maximum of {self.settings.max_chain_depth}. "
                f"Change a trigger condition so the workflows stop triggering "
                f"each other."
            )
            logger.warning(
                "Workflow %s not run for event %d: chain depth %d exceeds %d",
                candidate.workflow.id,
                event.seq,
                depth,
                self.settings.max_chain_depth,
            )
        return NewRun(
            workspace_id=event.workspace_id,
            workflow_id=candidate.workflow.id,
            workflow_version=candidate.version.number,
            trigger=trigger,
            depth=depth,
            event_seq=event.seq,
            status=status,
            error=error,
        )


def _matches(
    trigger: Trigger,
    current: RecordState,
    previous: RecordState | None,
    record_env: Mapping[str, Any] | None,
    previous_env: Mapping[str, Any] | None,
) -> bool:
    if trigger.type is TriggerType.FIELD_CHANGED and not _field_changed(
        trigger, current, previous
    ):
        return False
    if trigger.when is None:
        return True
    env = {"record": record_env, "previous": previous_env}
    try:
        return parse_cached(trigger.when).evaluate(env) is True
    except ExpressionError as error:
        logger.warning(
            "Trigger condition %r failed on record %s: %s",
            trigger.when,
            current.record_id,
            error,
        )
        return False


def _field_changed(
    trigger: Trigger, current: RecordState, previous: RecordState | None
) -> bool:
    field = trigger.field or ""
    new = current.data.get(field)
    if trigger.has_changed_to and new != trigger.changed_to:
        return False
    if previous is None:
        # NOTE: the dispatcher has not seen this record before (it predates
        # the workflows of its app), so the old value is unknown. The change
        # counts unless the trigger requires a particular old value.
        return not trigger.has_changed_from
    old = previous.data.get(field)
    if old == new:
        return False
    return not trigger.has_changed_from or old == trigger.changed_from


class Scheduler:
    """Creates the runs of cron triggers that are due.

    A workflow whose schedule came due several times while no process was
    checking gets one run, for the latest due time.
    """

    def __init__(
        self,
        workflows: WorkflowStore,
        enqueue: Enqueue,
        clock: Clock = utc_now,
    ) -> None:
        self.workflows = workflows
        self.enqueue = enqueue
        self.clock = clock
        self._definitions = _DefinitionCache()
        self._failed: set[tuple[str, int]] = set()

    async def fire_due(self) -> list[WorkflowRun]:
        """Create a run for every schedule that is due now; return new runs.

        A workflow whose schedule fails (a cron that never matches, a time
        zone that is gone) is logged once per version and skipped, so the
        other schedules keep running.
        """
        now = self.clock()
        created_runs = []
        for workflow, version in await self.workflows.list_current_workflows():
            definition = self._definitions.get(version)
            if definition is None or not definition.enabled:
                continue
            trigger = definition.trigger
            if trigger.type is not TriggerType.SCHEDULE or trigger.cron is None:
                continue
            try:
                run = await self._fire(workflow, version, trigger.cron, trigger, now)
            except (CroniterError, ValueError, KeyError) as error:
                self._report(workflow, version, error)
                continue
            if run is not None:
                created_runs.append(run)
        if created_runs:
            await self.enqueue([run.id for run in created_runs])
        return created_runs

    async def _fire(
        self,
        workflow: Workflow,
        version: WorkflowVersion,
        cron: str,
        trigger: Trigger,
        now: datetime,
    ) -> WorkflowRun | None:
        last = await self.workflows.last_scheduled_for(workflow.id)
        since = max(last, version.created_at) if last else version.created_at
        due = latest_due_time(cron, trigger.timezone, since, now)
        if due is None:
            return None
        run, created = await self.workflows.insert_run(
            NewRun(
                workspace_id=workflow.workspace_id,
                workflow_id=workflow.id,
                workflow_version=version.number,
                trigger={
                    "kind": TriggerType.SCHEDULE.value,
                    "scheduled_for": due.isoformat(),
                    "outbox_seq": await self.workflows.max_event_seq(),
                },
                depth=1,
                scheduled_for=due,
            )
        )
        if not created:
            return None
        logger.info(
            "Schedule of workflow %s due at %s started run %s",
            workflow.id,
            due.isoformat(),
            run.id,
        )
        return run

    def _report(
        self, workflow: Workflow, version: WorkflowVersion, error: Exception
    ) -> None:
        key = (workflow.id, version.number)
        if key in self._failed:
            return
        self._failed.add(key)
        logger.error(
            "Schedule of workflow %s version %d skipped: %s: %s",
            workflow.id,
            version.number,
            type(error).__name__,
            error,
        )


def latest_due_time(
    cron: str, timezone: str, since: datetime, now: datetime
) -> datetime | None:
    """Return the latest due time of ``cron`` in (``since``, ``now``], or None.

    The due time is a time that ``cron`` matches in ``timezone``.
    Cron fields are read in the local time of ``timezone``, so ``0 9 * * *``
    means 9:00 local time on both sides of a daylight saving change.
    """
    zone = ZoneInfo(timezone)
    # croniter's get_prev returns a time strictly before its start, so start
    # one second after ``now`` to include a due time equal to ``now``.
    start = (now + timedelta(seconds=1)).astimezone(zone)
    due: datetime = croniter(cron, start).get_prev(datetime)
    if due > now or due <= since:
        return None
    return due
