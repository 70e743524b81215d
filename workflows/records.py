"""Record reads and writes of workflow steps.

Every write validates the data with :func:`blocks.submission.normalize_submission`
against the app's current definition, as a client's submission is, and adds
a :data:`~store.workflows.RECORD_WRITTEN_EVENT` to the same transaction. That
event carries the run's chain depth, for the loop guard, and the step's
idempotency key, so a repeated attempt can see that its write was committed.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from blocks.base import ValueContext
from blocks.definition import Definition, parse_definition
from blocks.errors import NotFoundError, SubmissionError
from blocks.filters import Compare, FilterNode, Operand, Operator, all_of
from blocks.registry import BlockRegistry
from blocks.submission import normalize_submission
from store.base import Store
from store.models import App, PendingEvent, Record
from store.value_sources import AppSequences, WorkspaceFiles, WorkspaceRecords
from store.workflows import RECORD_WRITTEN_EVENT, WorkflowRun, WorkflowStore
from workflows.errors import StepError


def workflow_actor(workflow_id: str) -> str:
    """Return the user id that records written by a workflow carry."""
    return f"workflow:{workflow_id}"


class RecordWriter:
    """Reads and writes records for one attempt of one step.

    Args:
        store: The record store.
        workflows: The workflow store, to look for committed writes.
        registry: The block types.
        run: The run the step belongs to.
        step_key: The step's key in the run.
        attempt: The attempt number, from 1.
    """

    def __init__(
        self,
        store: Store,
        workflows: WorkflowStore,
        registry: BlockRegistry,
        run: WorkflowRun,
        step_key: str,
        attempt: int,
    ) -> None:
        self.store = store
        self.workflows = workflows
        self.registry = registry
        self.run = run
        self.step_key = step_key
        self.attempt = attempt
        self.actor = workflow_actor(run.workflow_id)
        self._definitions: dict[tuple[str, int], Definition] = {}

    @property
    def idempotency_key(self) -> str:
        """Return the idempotency key of the step."""
        return f"{self.run.id}:{self.step_key}"

    async def app(self, slug: str) -> App:
        """Return the workspace's app ``slug``.

        Raises:
            StepError: not retryable, when the app does not exist.
        """
        app = await self.store.get_app_by_slug(self.run.workspace_id, slug)
        if app is None:
            raise StepError(
                f"App {slug!r} was not found in the workspace. Change the step "
                f"to name an existing app.",
                retryable=False,
            )
        return app

    async def definition(self, app_id: str, number: int) -> Definition:
        """Return version ``number`` of an app's definition."""
        key = (app_id, number)
        cached = self._definitions.get(key)
        if cached is not None:
            return cached
        version = await self.store.get_version(app_id, number)
        if version is None:
            raise StepError(f"App {app_id!r} has no version {number}.")
        definition = parse_definition(version.definition)
        self._definitions[key] = definition
        return definition

    async def create(self, app: App, data: Mapping[str, Any]) -> Record:
        """Validate ``data`` and insert a record, once per step key."""
        definition = await self.definition(app.id, app.current_version)
        normalized = await self._normalize(app, definition, data, None)
        record, _ = await self.store.insert_record(
            app.workspace_id,
            app.id,
            app.current_version,
            normalized,
            self.actor,
            idempotency_key=self.idempotency_key,
            events=self._events(),
        )
        return record

    async def update(
        self, record_id: str, data: Mapping[str, Any], *, check_committed: bool = False
    ) -> Record:
        """Validate changed values and update a record, once per step key.

        A later attempt first looks for the committed write of an earlier
        one. ``check_committed`` looks on the first attempt too. A step that
        runs again after a wake-up, which is no new attempt, needs that.
        """
        record = await self._live_record(record_id)
        if (check_committed or self.attempt > 1) and await self._committed():
            return record
        app = await self.store.get_app(record.app_id)
        if app is None:
            raise StepError(f"App {record.app_id!r} was not found.", retryable=False)
        definition = await self.definition(app.id, app.current_version)
        normalized = await self._normalize(app, definition, data, record)
        return await self.store.update_record(
            record.id,
            normalized,
            app.current_version,
            self.actor,
            events=self._events(),
        )

    async def delete(self, record_id: str) -> bool:
        """Delete a record once per step key; return whether it existed."""
        if self.attempt > 1 and await self._committed():
            return True
        try:
            await self.store.delete_record(record_id, self.actor, events=self._events())
        except NotFoundError:
            return False
        return True

    async def find(self, app: App, match: Mapping[str, object]) -> Record | None:
        """Return the oldest record of ``app`` whose fields equal ``match``."""
        definition = await self.definition(app.id, app.current_version)
        blocks = {block.id: block for block in definition.blocks}
        conditions: list[FilterNode] = []
        for field_id, value in match.items():
            block = blocks.get(field_id)
            block_type = self.registry.get(block.type) if block else None
            operand = block_type.block_operand(block) if block and block_type else None
            if operand is None:
                raise StepError(
                    f"App {app.slug!r} has no field {field_id!r} to match on. Use "
                    f"the block id of a value field.",
                    retryable=False,
                )
            conditions.append(
                Compare((field_id,), Operator.EQ, _scalar(value, operand), operand)
            )
        where = all_of(conditions) if conditions else None
        page = await self.store.query_records(app.id, where=where, first=1)
        return page.items[0] if page.items else None

    async def _live_record(self, record_id: str) -> Record:
        record = await self.store.get_record(record_id)
        if record is None or record.workspace_id != self.run.workspace_id:
            raise StepError(
                f"Record {record_id!r} was not found or was deleted.",
                retryable=False,
            )
        return record

    async def _committed(self) -> bool:
        after = int(self.run.trigger.get("outbox_seq", 0))
        found = await self.workflows.find_step_write(self.idempotency_key, after)
        return found is not None

    async def _normalize(
        self,
        app: App,
        definition: Definition,
        data: Mapping[str, Any],
        existing: Record | None,
    ) -> dict[str, Any]:
        context = ValueContext(
            workspace_id=app.workspace_id,
            app_id=app.id,
            files=WorkspaceFiles(self.store, app.workspace_id),
            records=WorkspaceRecords(self.store, app.workspace_id),
            sequences=AppSequences(self.store, app.id),
            record_id=existing.id if existing else None,
        )
        try:
            return await normalize_submission(
                definition,
                self.registry,
                data,
                context,
                existing=existing.data if existing else None,
                partial=existing is not None,
            )
        except SubmissionError as error:
            raise StepError(
                f"The data for app {app.slug!r} is invalid: {error}",
                retryable=False,
            ) from error

    def _events(self) -> list[PendingEvent]:
        return [
            PendingEvent(
                RECORD_WRITTEN_EVENT,
                {
                    "run_id": self.run.id,
                    "step_key": self.step_key,
                    "idempotency_key": self.idempotency_key,
                    "chain_depth": self.run.depth,
                },
            )
        ]


def _scalar(value: object, operand: Operand) -> str | int | Decimal | bool | None:
    if value is None or isinstance(value, bool):
        return value
    if operand is Operand.NUMBER:
        try:
            return value if isinstance(value, int) else Decimal(str(value))
        except InvalidOperation:
            raise StepError(
                f"Expected a number to match on, got {value!r}.", retryable=False
            ) from None
    if isinstance(value, int | str | Decimal):
        return value
    isoformat = getattr(value, "isoformat", None)
    return str(isoformat()) if callable(isoformat) else str(value)
