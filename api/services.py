"""The operations behind the GraphQL API, with authorization.

Resolvers stay thin: they call these methods with the caller. Expected
failures raise :class:`blocks.errors.ProblemsError` subclasses or
:class:`PermissionDeniedError`, which the mutation resolvers turn into
``UserError`` data.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

from api.context import Caller
from api.events import EventBus, OutboxDispatcher
from api.idempotency import check_key, check_repeat, request_fingerprint
from api.schema.manager import AppSource, SchemaManager
from api.settings import Settings
from api.uploads import StagedUpload, save_upload
from blocks.base import ConfigContext, ValueContext
from blocks.definition import Definition, dump_definition, parse_definition
from blocks.diff import DefinitionDiff, diff_definitions
from blocks.errors import (
    DefinitionError,
    ErrorCode,
    NotFoundError,
    PermissionDeniedError,
    Problem,
)
from blocks.filters import FilterNode, OrderBy
from blocks.names import check_slug
from blocks.registry import BlockRegistry
from blocks.submission import normalize_submission
from blocks.validation import check_definition
from store import App, AppVersion, BlobStore, OutboxEvent, Page, Record, Store
from store.value_sources import AppSequences, WorkspaceFiles, WorkspaceRecords
from workflows.guard import GuardedClient, GuardPolicy

logger = logging.getLogger(__name__)


class Services:
    """Apps, versions and records of every workspace, checked per caller."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        blobs: BlobStore,
        registry: BlockRegistry,
        schemas: SchemaManager,
        bus: EventBus,
    ) -> None:
        self.settings = settings
        self.store = store
        self.blobs = blobs
        self.registry = registry
        self.schemas = schemas
        self.bus = bus
        self.dispatcher = OutboxDispatcher(store, bus, [self._on_event])
        self._definitions: OrderedDict[tuple[str, int], Definition] = OrderedDict()

    # Lifecycle and schemas -------------------------------------------------

    async def start(self) -> None:
        """Build every workspace's schema and start dispatching events."""
        for workspace in await self.store.list_workspaces():
            await self.refresh_schema(workspace.id)
        await self.dispatcher.dispatch_pending()
        self.dispatcher.start()

    async def stop(self) -> None:
        """Stop dispatching events."""
        await self.dispatcher.stop()

    async def refresh_schema(self, workspace_id: str) -> None:
        """Rebuild a workspace's schema from the current definitions."""
        sources = []
        for app in sorted(
            await self.store.list_apps(workspace_id), key=lambda a: (a.created_at, a.id)
        ):
            definition = await self.definition(app.id, app.current_version)
            sources.append(
                AppSource(
                    app.id,
                    app.slug,
                    app.current_version,
                    definition,
                    app.description,
                    shared_with_members=app.shared_with_members,
                )
            )
        await self.schemas.rebuild(workspace_id, sources)

    async def _on_event(self, event: OutboxEvent) -> None:
        if event.kind == "definition.version_created":
            await self.refresh_schema(event.workspace_id)

    async def definition(self, app_id: str, number: int) -> Definition:
        """Return a parsed definition version, cached."""
        key = (app_id, number)
        cached = self._definitions.get(key)
        if cached is not None:
            self._definitions.move_to_end(key)
            return cached
        version = await self.store.get_version(app_id, number)
        if version is None:
            raise NotFoundError(f"App {app_id} has no version {number}.")
        definition = parse_definition(version.definition)
        self._definitions[key] = definition
        if len(self._definitions) > 2048:
            self._definitions.popitem(last=False)
        return definition

    # Authorization ---------------------------------------------------------

    async def app_for(self, caller: Caller, slug: str) -> App:
        """Return the caller's app ``slug``, or raise NotFoundError."""
        app = await self.store.get_app_by_slug(caller.workspace_id, slug)
        if app is None or not self.can_see_app(caller, app):
            raise NotFoundError(f"No app {slug!r} in this workspace.")
        return app

    async def app_by_id(self, caller: Caller, app_id: str) -> App:
        """Return the caller's app by id, or raise NotFoundError."""
        app = await self.store.get_app(app_id)
        if app is None or app.workspace_id != caller.workspace_id:
            raise NotFoundError(f"No app {app_id!r} in this workspace.")
        if not self.can_see_app(caller, app):
            raise NotFoundError(f"No app {app_id!r} in this workspace.")
        return app

    @staticmethod
    def can_see_app(caller: Caller, app: App) -> bool:
        """Return whether the caller may see and submit to ``app``."""
        if app.workspace_id != caller.workspace_id:
            return False
        return caller.is_admin or app.shared_with_members

    @staticmethod
    def can_read_record(caller: Caller, record: Record) -> bool:
        """Return whether the caller may read ``record``."""
        if record.workspace_id != caller.workspace_id:
            return False
        return caller.is_admin or record.created_by == caller.user_id

    @staticmethod
    def require_admin(caller: Caller, action: str) -> None:
        """Raise PermissionDeniedError unless the caller is an admin."""
        if not caller.is_admin:
            raise PermissionDeniedError(
                f"Only workspace admins may {action}; use an admin token."
            )

    # Apps and versions -----------------------------------------------------

    async def create_app(
        self,
        caller: Caller,
        *,
        slug: str,
        name: str,
        description: str,
        definition_data: Mapping[str, Any],
        shared_with_members: bool,
    ) -> tuple[App, AppVersion]:
        """Validate a definition and create an app with it as version 1."""
        self.require_admin(caller, "create apps")
        problems: list[Problem] = []
        slug_problem = check_slug(slug)
        if slug_problem:
            problems.append(Problem(("slug",), ErrorCode.INVALID, slug_problem))
        if not name.strip():
            problems.append(
                Problem(("name",), ErrorCode.REQUIRED, "An app needs a name.")
            )
        definition = await self._checked_definition(
            caller, definition_data, problems, own_slug=slug
        )
        app, version = await self.store.create_app(
            caller.workspace_id,
            slug,
            name.strip(),
            description,
            dump_definition(definition),
            caller.user_id,
            shared_with_members=shared_with_members,
        )
        logger.info(
            "Created app %s (%s) in workspace %s", app.id, slug, app.workspace_id
        )
        await self._publish_now()
        return app, version

    async def save_definition(
        self,
        caller: Caller,
        slug: str,
        definition_data: Mapping[str, Any],
        *,
        expected_version: int | None,
        note: str,
    ) -> tuple[App, AppVersion]:
        """Validate a definition and save it as the app's next version."""
        self.require_admin(caller, "change definitions")
        app = await self.app_for(caller, slug)
        definition = await self._checked_definition(
            caller, definition_data, [], own_slug=slug
        )
        version = await self.store.save_version(
            app.id,
            dump_definition(definition),
            caller.user_id,
            note=note,
            expected_current=expected_version,
        )
        logger.info("Saved version %d of app %s", version.number, app.id)
        await self._publish_now()
        refreshed = await self.store.get_app(app.id)
        return refreshed or app, version

    async def rollback(
        self, caller: Caller, slug: str, to_version: int
    ) -> tuple[App, AppVersion]:
        """Save an earlier version's definition again as the next version."""
        self.require_admin(caller, "roll back definitions")
        app = await self.app_for(caller, slug)
        old = await self.store.get_version(app.id, to_version)
        if old is None:
            raise NotFoundError(
                f"App {slug!r} has no version {to_version}; versions run from 1 "
                f"to {app.current_version}."
            )
        return await self.save_definition(
            caller,
            slug,
            old.definition,
            expected_version=None,
            note=f"Rollback to version {to_version}",
        )

    async def _checked_definition(
        self,
        caller: Caller,
        data: Mapping[str, Any],
        problems: list[Problem],
        *,
        own_slug: str,
    ) -> Definition:
        prefix = ("definition",)
        try:
            definition = parse_definition(data)
        except DefinitionError as error:
            raise DefinitionError(
                problems + [p.with_prefix(prefix) for p in error.problems]
            ) from None
        apps = await self.store.list_apps(caller.workspace_id)
        context = ConfigContext(
            app_slugs=frozenset(a.slug for a in apps) | {own_slug},
            languages=definition.languages,
        )
        try:
            check_definition(definition, self.registry, context)
        except DefinitionError as error:
            problems = problems + [p.with_prefix(prefix) for p in error.problems]
        if problems:
            raise DefinitionError(problems)
        return definition

    async def diff(
        self, caller: Caller, app_id: str, from_version: int, to_version: int
    ) -> DefinitionDiff:
        """Return the diff between two versions of an app."""
        await self.app_by_id(caller, app_id)
        old = await self.definition(app_id, from_version)
        new = await self.definition(app_id, to_version)
        return diff_definitions(old, new, self.registry)

    # Records ---------------------------------------------------------------

    def value_context(
        self, caller: Caller, app: App, staged: Sequence[StagedUpload] = ()
    ) -> ValueContext:
        """Return what block types consult while normalizing values."""
        return ValueContext(
            workspace_id=caller.workspace_id,
            app_id=app.id,
            files=WorkspaceFiles(
                self.store,
                caller.workspace_id,
                {upload.placeholder_id: upload.to_file_info() for upload in staged},
            ),
            records=WorkspaceRecords(self.store, caller.workspace_id),
            sequences=AppSequences(self.store, app.id),
            http=GuardedClient(
                GuardPolicy(allowed_networks=self.settings.allow_networks)
            ),
        )

    async def _definition_for_submission(
        self, app: App, version: int | None
    ) -> tuple[int, Definition]:
        number = app.current_version if version is None else version
        if number < 1 or number > app.current_version:
            raise DefinitionError(
                [
                    Problem(
                        ("version",),
                        ErrorCode.NOT_FOUND,
                        f"App {app.slug!r} has versions 1 to {app.current_version}; "
                        f"got {number}.",
                    )
                ]
            )
        return number, await self.definition(app.id, number)

    async def create_record(
        self,
        caller: Caller,
        app: App,
        data: Mapping[str, Any],
        *,
        idempotency_key: str | None,
        version: int | None,
        staged: Sequence[StagedUpload] = (),
    ) -> tuple[Record, bool]:
        """Validate ``data`` (keyed by block id) and store a new record.

        ``staged`` uploads are stored only once the whole submission is
        valid; ``data`` refers to them by their placeholder ids. A repeat
        of ``idempotency_key`` returns the first record with False, as
        :mod:`api.idempotency` describes.

        Raises:
            IdempotencyKeyError: the key is blank or too long, or it was
                used for a different request or for a record deleted since.
        """
        if not self.can_see_app(caller, app):
            raise NotFoundError(f"No app {app.slug!r} in this workspace.")
        check_key(idempotency_key)
        fingerprint = None
        if idempotency_key is not None:
            fingerprint = request_fingerprint(app.id, version, data, staged)

        # NOTE: a repeated key is found only by the insert, after the data is
        # normalized again. So a repeat allocates new unique numbers that no
        # record keeps, stores its uploads again as unused files, and fails if
        # the data no longer validates.
        number, definition = await self._definition_for_submission(app, version)
        normalized = await normalize_submission(
            definition, self.registry, data, self.value_context(caller, app, staged)
        )
        normalized = await self._save_staged(caller, normalized, staged)
        record, created = await self.store.insert_record(
            caller.workspace_id,
            app.id,
            number,
            normalized,
            caller.user_id,
            idempotency_key=idempotency_key,
            idempotency_fingerprint=fingerprint,
        )
        if not created and fingerprint is not None:
            check_repeat(record, fingerprint)
        if created:
            logger.info("Created record %s in app %s", record.id, app.id)
            self.dispatcher.wake()
        return record, created

    async def update_record(
        self,
        caller: Caller,
        record_id: str,
        data: Mapping[str, Any],
        *,
        expected_revision: int | None,
        version: int | None,
        app_id: str | None = None,
        staged: Sequence[StagedUpload] = (),
    ) -> Record:
        """Validate changed values (keyed by block id) and update a record.

        ``staged`` uploads are stored only once the changes are valid.
        """
        record = await self.readable_record(caller, record_id, app_id)
        app = await self.app_by_id(caller, record.app_id)
        number, definition = await self._definition_for_submission(app, version)
        context = self.value_context(caller, app, staged)
        context.record_id = record.id
        normalized = await normalize_submission(
            definition,
            self.registry,
            data,
            context,
            existing=record.data,
            partial=True,
        )
        normalized = await self._save_staged(caller, normalized, staged)
        updated = await self.store.update_record(
            record.id,
            normalized,
            number,
            caller.user_id,
            expected_revision=expected_revision,
        )
        logger.info("Updated record %s to revision %d", updated.id, updated.revision)
        self.dispatcher.wake()
        return updated

    async def delete_record(
        self, caller: Caller, record_id: str, app_id: str | None = None
    ) -> Record:
        """Delete a record the caller may read."""
        record = await self.readable_record(caller, record_id, app_id)
        deleted = await self.store.delete_record(record.id, caller.user_id)
        logger.info("Deleted record %s", record.id)
        self.dispatcher.wake()
        return deleted

    async def _save_staged(
        self,
        caller: Caller,
        normalized: dict[str, Any],
        staged: Sequence[StagedUpload],
    ) -> dict[str, Any]:
        """Store the staged uploads and put their file ids in ``normalized``."""
        if not staged:
            return normalized
        stored: dict[str, dict[str, Any]] = {}
        for upload in staged:
            saved = await save_upload(
                self.store,
                self.blobs,
                upload,
                workspace_id=caller.workspace_id,
                created_by=caller.user_id,
            )
            stored[upload.placeholder_id] = saved.to_file_info().to_value()
        replaced = _replace_file_references(normalized, stored)
        assert isinstance(replaced, dict)
        return replaced

    async def readable_record(
        self, caller: Caller, record_id: str, app_id: str | None = None
    ) -> Record:
        """Return a record the caller may read, or raise NotFoundError."""
        record = await self.store.get_record(record_id)
        if (
            record is None
            or record.deleted_at is not None
            or not self.can_read_record(caller, record)
            or (app_id is not None and record.app_id != app_id)
        ):
            raise NotFoundError(f"No record {record_id!r} in this app.")
        return record

    async def query_records(
        self,
        caller: Caller,
        app: App,
        *,
        where: FilterNode | None,
        order: list[OrderBy],
        first: int | None,
        after: str | None,
    ) -> Page:
        """Return a page of the app's records the caller may read."""
        page_size = self.page_size(first)
        return await self.store.query_records(
            app.id,
            where=where,
            order=order,
            first=page_size,
            after=after,
            created_by=None if caller.is_admin else caller.user_id,
        )

    async def count_records(
        self, caller: Caller, app: App, where: FilterNode | None
    ) -> int:
        """Count the app's records matching ``where`` that the caller may read."""
        return await self.store.count_records(
            app.id, where, created_by=None if caller.is_admin else caller.user_id
        )

    def page_size(self, first: int | None) -> int:
        """Return the page size, checked against the maximum."""
        maximum = self.settings.limits.max_page_size
        if first is None:
            return min(self.settings.default_page_size, maximum)
        if first < 1 or first > maximum:
            raise PageSizeError(
                f"`first` must be between 1 and {maximum}, got {first}; "
                "page through larger results with `after`."
            )
        return first

    # Events ----------------------------------------------------------------

    async def _publish_now(self) -> None:
        """Deliver pending events before returning, so the schema is current."""
        await self.dispatcher.dispatch_pending()

    async def events(self, caller: Caller) -> AsyncIterator[OutboxEvent]:
        """Yield the caller's workspace events from now on."""
        async for event in self.bus.subscribe(caller.workspace_id):
            yield event


def _replace_file_references(value: Any, stored: Mapping[str, dict[str, Any]]) -> Any:
    """Return ``value`` with references to placeholder ids replaced."""
    if isinstance(value, Mapping):
        file_id = value.get("id")
        if isinstance(file_id, str) and file_id in stored and "sha256" in value:
            return dict(stored[file_id])
        return {k: _replace_file_references(v, stored) for k, v in value.items()}
    if isinstance(value, list):
        return [_replace_file_references(v, stored) for v in value]
    return value


class PageSizeError(ValueError):
    """A page size outside the allowed range was requested."""
