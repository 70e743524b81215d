"""GraphQL-facing operations: store objects in, Strawberry objects out.

Static resolvers in :mod:`api.schema.static` and the generated root fields of
every app call these methods. Expected failures become ``UserError`` lists on
mutation payloads; anything else propagates and is masked by the transport.
"""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

from graphql import GraphQLError, GraphQLResolveInfo
from strawberry.scalars import JSON

from api.context import Caller, RequestContext
from api.fanout import SharedResults, mark_shared
from api.schema import static as gql
from api.schema.typed import AppTypesRef, RootResolvers, compile_order, compile_where
from api.services import PageSizeError, Services
from api.uploads import StagedUpload, stage_upload
from blocks.builtin.external_api import ExternalApiBlockType, fetch_external_options
from blocks.definition import Block, Definition
from blocks.diff import DefinitionDiff, diff_definitions
from blocks.errors import (
    AppgraphError,
    ConflictError,
    ErrorCode,
    NotFoundError,
    PermissionDeniedError,
    Problem,
    ProblemsError,
    SubmissionError,
    UploadError,
    ValueProblem,
)
from blocks.submission import expression_env
from blocks.xlsform import XLSFormError, import_xlsform
from store import App, AppVersion, OutboxEvent, Record

logger = logging.getLogger(__name__)

_RECORD_EVENT_KINDS = {
    "record.created": gql.RecordChangeKind.CREATED,
    "record.updated": gql.RecordChangeKind.UPDATED,
    "record.deleted": gql.RecordChangeKind.DELETED,
}


def user_errors(error: AppgraphError) -> list[gql.UserError]:
    """Return the UserError list describing an expected failure."""
    if isinstance(error, ProblemsError):
        return [
            gql.UserError(
                path=[str(p) for p in problem.path],
                code=problem.code,
                message=problem.message,
            )
            for problem in error.problems
        ]
    if isinstance(error, UploadError):
        code = error.code
    elif isinstance(error, NotFoundError):
        code = ErrorCode.NOT_FOUND
    elif isinstance(error, ConflictError):
        code = ErrorCode.CONFLICT
    elif isinstance(error, PermissionDeniedError):
        code = ErrorCode.FORBIDDEN
    else:
        code = ErrorCode.INVALID
    return [gql.UserError(path=[], code=code, message=str(error))]


def record_source(record: Record) -> dict[str, Any]:
    """Return the source object of a generated record type."""
    source = dict(record.data)
    source["@id"] = record.id
    source["@version"] = record.version
    source["@revision"] = record.revision
    source["@created_at"] = record.created_at
    source["@created_by"] = record.created_by
    source["@updated_at"] = record.updated_at
    source["@updated_by"] = record.updated_by
    return source


def encode_cursor(seq: int) -> str:
    """Return the opaque catch-up cursor of an outbox position."""
    return base64.urlsafe_b64encode(json.dumps({"seq": seq}).encode()).decode()


def decode_cursor(cursor: str | None) -> int:
    """Return the outbox position of a catch-up cursor."""
    if not cursor:
        return 0
    try:
        data = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        seq = data["seq"]
        if not isinstance(seq, int) or seq < 0:
            raise ValueError
        return seq
    except (ValueError, KeyError, TypeError):
        raise GraphQLError(
            f"Invalid cursor {cursor!r}: pass a `nextCursor` value returned by "
            "`changes`, or no cursor to start from the beginning."
        ) from None


class Operations:
    """The resolvers' view of :class:`Services`, per process."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self.shared = SharedResults()

    # Conversions -----------------------------------------------------------

    def app(self, app: App) -> gql.App:
        """Return the GraphQL object of an app."""
        naming = self.services.schemas.naming(app.workspace_id, app.id)
        return gql.App(
            id=app.id,  # type: ignore[arg-type]
            slug=app.slug,
            name=app.name,
            description=app.description,
            current_version=app.current_version,
            shared_with_members=app.shared_with_members,
            type_name=naming.type_name if naming else "",
            field_name=naming.field_name if naming else "",
            created_at=app.created_at,
            updated_at=app.updated_at,
        )

    @staticmethod
    def version(version: AppVersion) -> gql.AppVersion:
        """Return the GraphQL object of a version."""
        return gql.AppVersion(
            app_id=version.app_id,  # type: ignore[arg-type]
            number=version.number,
            definition=JSON(version.definition),
            author=version.author,
            created_at=version.created_at,
            note=version.note,
        )

    @staticmethod
    def diff(diff: DefinitionDiff, old: int, new: int) -> gql.DefinitionDiff:
        """Return the GraphQL object of a diff."""
        return gql.DefinitionDiff(
            from_version=old,
            to_version=new,
            breaking=diff.breaking,
            changes=[
                gql.DefinitionChange(
                    kind=gql.DefinitionChangeKind(str(change.kind)),
                    block_id=change.block_id,
                    path=[str(p) for p in change.path],
                    breaking=change.breaking,
                    detail=change.detail,
                    before=change.before,
                    after=change.after,
                )
                for change in diff.changes
            ],
        )

    def generic_record_object(self, record: Record, app_slug: str) -> gql.GenericRecord:
        """Return the GraphQL object of a record with data as JSON."""
        return gql.GenericRecord(
            id=record.id,  # type: ignore[arg-type]
            app_id=record.app_id,  # type: ignore[arg-type]
            app_slug=app_slug,
            version=record.version,
            revision=record.revision,
            data=JSON(record.data),
            created_by=record.created_by,
            created_at=record.created_at,
            updated_by=record.updated_by,
            updated_at=record.updated_at,
        )

    # Queries ---------------------------------------------------------------

    async def viewer(self, caller: Caller) -> gql.Viewer:
        """Return the caller."""
        workspace = await self.services.store.get_workspace(caller.workspace_id)
        if workspace is None:
            raise NotFoundError("The token's workspace no longer exists.")
        return gql.Viewer(
            user_id=caller.user_id,
            role=gql.Role.ADMIN if caller.is_admin else gql.Role.MEMBER,
            workspace=gql.Workspace(
                id=workspace.id,  # type: ignore[arg-type]
                slug=workspace.slug,
                name=workspace.name,
                created_at=workspace.created_at,
            ),
        )

    async def list_apps(self, caller: Caller) -> list[gql.App]:
        """Return the apps the caller may see."""
        apps = await self.services.store.list_apps(caller.workspace_id)
        return [self.app(a) for a in apps if self.services.can_see_app(caller, a)]

    async def find_app(self, caller: Caller, slug: str) -> gql.App | None:
        """Return one app by slug, or None."""
        try:
            return self.app(await self.services.app_for(caller, slug))
        except NotFoundError:
            return None

    async def get_version(
        self, caller: Caller, app_id: str, number: int
    ) -> gql.AppVersion | None:
        """Return one version of an app, or None."""
        await self.services.app_by_id(caller, app_id)
        version = await self.services.store.get_version(app_id, number)
        return self.version(version) if version else None

    async def list_versions(self, caller: Caller, app_id: str) -> list[gql.AppVersion]:
        """Return every version of an app."""
        await self.services.app_by_id(caller, app_id)
        versions = await self.services.store.list_versions(app_id)
        return [self.version(v) for v in versions]

    async def diff_versions(
        self, caller: Caller, app_id: str, old: int, new: int
    ) -> gql.DefinitionDiff:
        """Return the diff between two versions."""
        diff = await self.services.diff(caller, app_id, old, new)
        return self.diff(diff, old, new)

    def block_catalogue(self) -> list[gql.BlockTypeInfo]:
        """Return every registered block type."""
        return [
            gql.BlockTypeInfo(
                name=entry.block_type.name,
                label=entry.block_type.label,
                description=entry.block_type.description,
                value_type=entry.block_type.value_type,
                role=str(entry.block_type.role),
                index_kind=str(entry.block_type.index_kind),
                config_schema=JSON(dict(entry.block_type.config_schema)),
                xlsform_types=list(entry.block_type.xlsform_types),
                plugin=entry.plugin,
            )
            for entry in sorted(self.services.registry, key=lambda e: e.block_type.name)
        ]

    async def generic_records(
        self, caller: Caller, slug: str, first: int | None, after: str | None
    ) -> gql.GenericRecordConnection:
        """Return a page of records with data as JSON."""
        app = await self.services.app_for(caller, slug)
        try:
            page = await self.services.query_records(
                caller, app, where=None, order=[], first=first, after=after
            )
        except PageSizeError as error:
            raise GraphQLError(str(error)) from None
        return gql.GenericRecordConnection(
            nodes=[self.generic_record_object(r, app.slug) for r in page.items],
            page_info=gql.PageInfo(
                has_next_page=page.has_next, end_cursor=page.end_cursor
            ),
        )

    async def generic_record(
        self, caller: Caller, record_id: str
    ) -> gql.GenericRecord | None:
        """Return one record with data as JSON, or None."""
        try:
            record = await self.services.readable_record(caller, record_id)
            app = await self.services.app_by_id(caller, record.app_id)
        except NotFoundError:
            return None
        return self.generic_record_object(record, app.slug)

    async def changes(
        self, caller: Caller, after: str | None, first: int | None
    ) -> gql.ChangeFeed:
        """Return definitions and the caller's records changed after a cursor."""
        start = decode_cursor(after)
        limit = 500 if first is None else first
        if limit < 1 or limit > 5000:
            raise GraphQLError(f"`first` must be between 1 and 5000, got {limit}.")
        store = self.services.store
        events = await store.list_events(
            caller.workspace_id,
            after_seq=start,
            limit=limit,
            owner=None if caller.is_admin else caller.user_id,
        )
        apps = {a.id: a for a in await store.list_apps(caller.workspace_id)}
        definitions: dict[str, gql.AppVersion] = {}
        records: dict[str, gql.RecordChange] = {}
        for event in events:
            app = apps.get(event.app_id)
            if app is None or not self.services.can_see_app(caller, app):
                continue
            if event.kind == "definition.version_created":
                version = await store.get_version(app.id, app.current_version)
                if version is not None:
                    definitions[app.id] = self.version(version)
            elif event.kind in _RECORD_EVENT_KINDS:
                records[event.subject_id] = await self._record_change(
                    caller, event, app
                )
        end = events[-1].seq if events else start
        return gql.ChangeFeed(
            definitions=list(definitions.values()),
            records=list(records.values()),
            next_cursor=encode_cursor(end),
            has_more=len(events) == limit,
        )

    async def _record_change(
        self, caller: Caller, event: OutboxEvent, app: App
    ) -> gql.RecordChange:
        record = await self.services.store.get_record(event.subject_id)
        readable = (
            record is not None
            and record.deleted_at is None
            and self.services.can_read_record(caller, record)
        )
        if readable:
            assert record is not None
            kind = _RECORD_EVENT_KINDS[event.kind]
            if kind is gql.RecordChangeKind.DELETED:
                kind = gql.RecordChangeKind.UPDATED
            return gql.RecordChange(
                kind=kind,
                record_id=event.subject_id,  # type: ignore[arg-type]
                app_slug=app.slug,
                record=self.generic_record_object(record, app.slug),
            )
        return gql.RecordChange(
            kind=gql.RecordChangeKind.DELETED,
            record_id=event.subject_id,  # type: ignore[arg-type]
            app_slug=app.slug,
            record=None,
        )

    async def external_options(
        self, caller: Caller, app_slug: str, block_id: str, data: Any
    ) -> gql.ExternalOptionsResult:
        """Fetch the options of an ``external_api`` block in options mode.

        ``data`` holds the record's values so far, keyed by block id in their
        stored form, for the placeholders of the block's request. An app the
        caller may not see is NOT_FOUND, like one that does not exist.
        """
        try:
            try:
                app = await self.services.app_for(caller, app_slug)
            except NotFoundError as error:
                raise ProblemsError(
                    [Problem(("app",), ErrorCode.NOT_FOUND, str(error))]
                ) from None
            definition = await self.services.definition(app.id, app.current_version)
            block = definition.find(block_id)
            if block is None or block.type != ExternalApiBlockType.name:
                problem = _external_block_problem(app_slug, block_id, block)
                raise ProblemsError([problem])
            values = self._expression_values(
                definition, _require_mapping({} if data is None else data, "data")
            )
            # NOTE: the placeholders see record-level values only, so a block
            # inside a repeat cannot refer to the other values of its row.
            context = self.services.value_context(caller, app)
            options = await fetch_external_options(
                block, values, context.http, secrets=context.secrets
            )
        except ValueProblem as problem:
            user_error = gql.UserError(
                path=["block", *(str(p) for p in problem.path)],
                code=problem.code,
                message=problem.message,
            )
            return gql.ExternalOptionsResult(options=[], errors=[user_error])
        except AppgraphError as error:
            return gql.ExternalOptionsResult(options=[], errors=user_errors(error))
        return gql.ExternalOptionsResult(
            options=[
                gql.ExternalOption(value=JSON(option.value), label=option.label)
                for option in options
            ],
            errors=[],
        )

    def _expression_values(
        self, definition: Definition, data: Mapping[str, Any]
    ) -> dict[str, Any]:
        """Return ``data`` as expression values, or raise a problem per bad value.

        A value that is not in its block's stored form makes the block type's
        conversion raise. Blocks convert independently of each other, so
        trying each block id alone names every failing one.
        """
        registry = self.services.registry
        try:
            return expression_env(definition, registry, data)
        except _CONVERSION_ERRORS:
            pass
        problems = []
        for key, value in data.items():
            try:
                expression_env(definition, registry, {key: value})
            except _CONVERSION_ERRORS:
                block = definition.find(key)
                block_type = block.type if block else "unknown"
                problems.append(
                    Problem(
                        ("data", key),
                        ErrorCode.INVALID,
                        f"The value {repr(value)[:80]} of {key!r} is not a value "
                        f"of a {block_type} block; send it in the form that "
                        "records store it.",
                    )
                )
        raise ProblemsError(problems)

    # App mutations ---------------------------------------------------------

    async def app_create(
        self, caller: Caller, input: gql.AppCreateInput
    ) -> gql.AppPayload:
        """Create an app."""
        try:
            app, version = await self.services.create_app(
                caller,
                slug=input.slug,
                name=input.name,
                description=input.description,
                definition_data=_require_mapping(input.definition, "definition"),
                shared_with_members=input.shared_with_members,
            )
        except AppgraphError as error:
            return gql.AppPayload(app=None, version=None, errors=user_errors(error))
        return gql.AppPayload(
            app=self.app(app), version=self.version(version), errors=[]
        )

    async def app_update(
        self, caller: Caller, input: gql.AppUpdateInput
    ) -> gql.AppPayload:
        """Change an app's metadata."""
        try:
            self.services.require_admin(caller, "change apps")
            app = await self.services.app_for(caller, input.app)
            if input.name is not None and not input.name.strip():
                raise ProblemsError(
                    [Problem(("name",), ErrorCode.REQUIRED, "An app needs a name.")]
                )
            updated = await self.services.store.update_app(
                app.id,
                name=input.name,
                description=input.description,
                shared_with_members=input.shared_with_members,
            )
            # Sharing decides which schema shows the app's types, and the
            # description is the generated type's description.
            # NOTE: only this process rebuilds; other API processes see the
            # change at their next definition event of the workspace.
            await self.services.refresh_schema(app.workspace_id)
        except AppgraphError as error:
            return gql.AppPayload(app=None, version=None, errors=user_errors(error))
        return gql.AppPayload(app=self.app(updated), version=None, errors=[])

    async def app_definition_save(
        self, caller: Caller, input: gql.AppDefinitionSaveInput
    ) -> gql.AppPayload:
        """Save a new definition version."""
        try:
            app, version = await self.services.save_definition(
                caller,
                input.app,
                _require_mapping(input.definition, "definition"),
                expected_version=input.expected_version,
                note=input.note,
            )
        except AppgraphError as error:
            return gql.AppPayload(app=None, version=None, errors=user_errors(error))
        return gql.AppPayload(
            app=self.app(app), version=self.version(version), errors=[]
        )

    async def app_rollback(
        self, caller: Caller, input: gql.AppRollbackInput
    ) -> gql.AppPayload:
        """Roll an app back to an earlier version."""
        try:
            app, version = await self.services.rollback(
                caller, input.app, input.to_version
            )
        except AppgraphError as error:
            return gql.AppPayload(app=None, version=None, errors=user_errors(error))
        return gql.AppPayload(
            app=self.app(app), version=self.version(version), errors=[]
        )

    async def app_import_xlsform(
        self, caller: Caller, input: gql.AppImportXlsformInput
    ) -> gql.AppImportPayload:
        """Import an XLSForm as a new app."""
        upload: Any = input.file
        try:
            self.services.require_admin(caller, "import forms")
            from api.uploads import read_limited

            if not hasattr(upload, "read"):
                # The Upload scalar passes any JSON value through, so a string
                # arrives here when the request was plain JSON.
                raise XLSFormError(
                    "Expected a file upload in input.file, got JSON data. Send "
                    "the request as a GraphQL multipart request "
                    "(multipart/form-data) with the file mapped to "
                    "variables.input.file."
                )
            data = await read_limited(upload, self.services.settings.max_file_bytes)
            result = import_xlsform(data, upload.filename or "form.xlsx")
            app, _ = await self.services.create_app(
                caller,
                slug=input.slug or result.slug_hint,
                name=input.name or result.title,
                description="",
                definition_data=result.definition,
                shared_with_members=input.shared_with_members,
            )
        except XLSFormError as error:
            return gql.AppImportPayload(
                app=None,
                issues=[],
                errors=[
                    gql.UserError(
                        path=["file"], code=ErrorCode.INVALID, message=str(error)
                    )
                ],
            )
        except AppgraphError as error:
            return gql.AppImportPayload(app=None, issues=[], errors=user_errors(error))
        return gql.AppImportPayload(
            app=self.app(app),
            issues=[
                gql.ImportIssue(
                    sheet=issue.sheet,
                    row=issue.row,
                    column=issue.column,
                    severity=issue.severity,
                    message=issue.message,
                )
                for issue in result.issues
            ],
            errors=[],
        )

    # Generic record mutations ----------------------------------------------

    async def generic_record_create(
        self, caller: Caller, input: gql.RecordCreateInput
    ) -> gql.RecordPayload:
        """Create a record from JSON data keyed by block id."""
        try:
            app = await self.services.app_for(caller, input.app)
            record, created = await self.services.create_record(
                caller,
                app,
                _require_mapping(input.data, "data"),
                idempotency_key=input.idempotency_key,
                version=input.version,
            )
        except AppgraphError as error:
            return gql.RecordPayload(record=None, created=None, errors=_in_data(error))
        return gql.RecordPayload(
            record=self.generic_record_object(record, app.slug),
            created=created,
            errors=[],
        )

    async def generic_record_update(
        self, caller: Caller, input: gql.RecordUpdateInput
    ) -> gql.RecordPayload:
        """Update a record from JSON data keyed by block id."""
        try:
            record = await self.services.update_record(
                caller,
                str(input.id),
                _require_mapping(input.data, "data"),
                expected_revision=input.expected_revision,
                version=input.version,
            )
            app = await self.services.app_by_id(caller, record.app_id)
        except AppgraphError as error:
            return gql.RecordPayload(record=None, created=None, errors=_in_data(error))
        return gql.RecordPayload(
            record=self.generic_record_object(record, app.slug),
            created=False,
            errors=[],
        )

    async def generic_record_delete(
        self, caller: Caller, record_id: str
    ) -> gql.RecordPayload:
        """Delete a record."""
        try:
            record = await self.services.delete_record(caller, str(record_id))
            app = await self.services.app_by_id(caller, record.app_id)
        except AppgraphError as error:
            return gql.RecordPayload(
                record=None, created=None, errors=user_errors(error)
            )
        return gql.RecordPayload(
            record=self.generic_record_object(record, app.slug),
            created=False,
            errors=[],
        )

    # Subscriptions ---------------------------------------------------------

    async def definition_events(
        self, caller: Caller, slug: str
    ) -> AsyncIterator[gql.DefinitionEvent]:
        """Yield each new version of an app's definition with its diff."""
        app = await self.services.app_for(caller, slug)
        async for event in self.services.events(caller):
            if event.kind != "definition.version_created" or event.app_id != app.id:
                continue
            yield await self._definition_event(caller, event)

    async def _definition_event(
        self, caller: Caller, event: OutboxEvent
    ) -> gql.DefinitionEvent:
        app, result = await self.shared.get(
            ("definition", event.seq), lambda: self._build_definition_event(event)
        )
        if not self.services.can_see_app(caller, app):
            raise NotFoundError(f"No app {app.id!r} in this workspace.")
        return result

    async def _build_definition_event(
        self, event: OutboxEvent
    ) -> tuple[App, gql.DefinitionEvent]:
        """Load the new version and its diff, once for every subscriber."""
        number = int(event.payload["version"])
        app = await self.services.store.get_app(event.app_id)
        version = await self.services.store.get_version(event.app_id, number)
        if app is None or version is None:
            raise NotFoundError(f"No version {number} of app {event.app_id!r}.")
        diff = None
        if number > 1:
            old = await self.services.definition(app.id, number - 1)
            new = await self.services.definition(app.id, number)
            diff = self.diff(
                diff_definitions(old, new, self.services.registry), number - 1, number
            )
        event_object = gql.DefinitionEvent(
            app=self.app(app), version=self.version(version), diff=diff
        )
        # Its fields depend on the app, which every subscriber of the event
        # may see, and on the caller's workspace and role at most.
        mark_shared(event_object)
        return app, event_object

    async def record_events(
        self, caller: Caller, slug: str
    ) -> AsyncIterator[gql.RecordEvent]:
        """Yield record changes of an app that the caller may read."""
        app = await self.services.app_for(caller, slug)
        async for event in self._record_events(caller, app.id):
            record = await self._event_record(caller, event)
            yield gql.RecordEvent(
                kind=_RECORD_EVENT_KINDS[event.kind],
                record_id=event.subject_id,  # type: ignore[arg-type]
                record=self.generic_record_object(record, app.slug) if record else None,
            )

    async def _record_events(
        self, caller: Caller, app_id: str
    ) -> AsyncIterator[OutboxEvent]:
        async for event in self.services.events(caller):
            if event.app_id != app_id or event.kind not in _RECORD_EVENT_KINDS:
                continue
            if not caller.is_admin and event.owner != caller.user_id:
                continue
            yield event

    async def _event_record(self, caller: Caller, event: OutboxEvent) -> Record | None:
        if event.kind == "record.deleted":
            return None
        record = await self.shared.get(
            ("record", event.seq),
            lambda: self.services.store.get_record(event.subject_id),
        )
        if record is None or record.deleted_at is not None:
            return None
        return record if self.services.can_read_record(caller, record) else None

    # Generated root fields -------------------------------------------------

    def typed_resolvers(self, app_id: str, ref: AppTypesRef) -> RootResolvers:
        """Return resolvers of one app's generated root fields."""
        return TypedResolvers(self, app_id, ref).as_mapping()


def _require_mapping(value: Any, name: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ProblemsError(
            [
                Problem(
                    (name,),
                    ErrorCode.INVALID_TYPE,
                    f"Expected `{name}` to be an object.",
                )
            ]
        )
    return value


_CONVERSION_ERRORS = (ValueError, TypeError, KeyError, AttributeError, ArithmeticError)
"""Exceptions a block type's ``to_expression`` raises on a value it never stored."""


def _external_block_problem(
    app_slug: str, block_id: str, block: Block | None
) -> Problem:
    if block is None:
        return Problem(
            ("block",),
            ErrorCode.NOT_FOUND,
            f"App {app_slug!r} has no block {block_id!r} in its current version.",
        )
    return Problem(
        ("block",),
        ErrorCode.UNSUPPORTED,
        f"Block {block_id!r} is a {block.type} block; only external_api blocks "
        "in options mode have options to fetch.",
    )


def _in_data(error: AppgraphError) -> list[gql.UserError]:
    """Return UserErrors with submission paths placed under ``data``."""
    from blocks.errors import SubmissionError

    errors = user_errors(error)
    if isinstance(error, SubmissionError):
        for item in errors:
            item.path = ["data", *item.path]
    return errors


_StagedUploads = list[StagedUpload]
"""Uploads of one submission; named because TypedResolvers defines ``list``."""


class TypedResolvers:
    """Resolvers of the generated root fields of one app."""

    def __init__(self, operations: Operations, app_id: str, ref: AppTypesRef) -> None:
        self.operations = operations
        self.services = operations.services
        self.app_id = app_id
        self.ref = ref

    def as_mapping(self) -> dict[str, Callable[..., Any]]:
        """Return the resolvers by role."""
        return {
            "get": self.get,
            "list": self.list,
            "create": self.create,
            "update": self.update,
            "delete": self.delete,
            "changed": self.changed,
            "changed_subscribe": self.changed_subscribe,
        }

    async def _app(self, caller: Caller) -> App:
        return await self.services.app_by_id(caller, self.app_id)

    async def get(self, _source: Any, info: GraphQLResolveInfo[Any], id: str) -> Any:
        """Resolve one record by id."""
        caller = _caller(info)
        try:
            await self._app(caller)
            record = await self.services.readable_record(caller, id, self.app_id)
        except NotFoundError:
            return None
        return record_source(record)

    async def list(
        self,
        _source: Any,
        info: GraphQLResolveInfo[Any],
        where: Mapping[str, Any] | None = None,
        orderBy: list[Mapping[str, Any]] | None = None,  # noqa: N803
        first: int | None = None,
        after: str | None = None,
    ) -> Any:
        """Resolve a page of records."""
        caller = _caller(info)
        app = await self._app(caller)
        types = self.ref.get()
        try:
            node = compile_where(where, types, self.services.registry)
            order = compile_order(orderBy, types, self.services.registry)
            page = await self.services.query_records(
                caller, app, where=node, order=order, first=first, after=after
            )
        except (ValueError, AppgraphError) as error:
            raise GraphQLError(str(error)) from None
        edges = [
            {"node": record_source(record), "cursor": cursor}
            for record, cursor in zip(page.items, page.cursors, strict=True)
        ]

        async def total_count() -> int:
            return await self.services.count_records(caller, app, node)

        return {
            "edges": edges,
            "pageInfo": gql.PageInfo(
                has_next_page=page.has_next, end_cursor=page.end_cursor
            ),
            "totalCount": total_count,
        }

    async def create(
        self, _source: Any, info: GraphQLResolveInfo[Any], input: Any
    ) -> Any:
        """Resolve a typed create."""
        caller = _caller(info)
        try:
            app = await self._app(caller)
            data, staged = await self._prepare_data(input["data"])
            record, created = await self.services.create_record(
                caller,
                app,
                data,
                idempotency_key=input.get("idempotencyKey"),
                version=input.get("version"),
                staged=staged,
            )
        except AppgraphError as error:
            return self._failure(error)
        return {"record": record_source(record), "created": created, "errors": []}

    async def update(
        self, _source: Any, info: GraphQLResolveInfo[Any], input: Any
    ) -> Any:
        """Resolve a typed update."""
        caller = _caller(info)
        try:
            await self._app(caller)
            data, staged = await self._prepare_data(input["data"])
            record = await self.services.update_record(
                caller,
                str(input["id"]),
                data,
                expected_revision=input.get("expectedRevision"),
                version=input.get("version"),
                app_id=self.app_id,
                staged=staged,
            )
        except AppgraphError as error:
            return self._failure(error)
        return {"record": record_source(record), "created": False, "errors": []}

    async def delete(self, _source: Any, info: GraphQLResolveInfo[Any], id: str) -> Any:
        """Resolve a typed delete."""
        caller = _caller(info)
        try:
            await self._app(caller)
            record = await self.services.delete_record(caller, str(id), self.app_id)
        except AppgraphError as error:
            return self._failure(error)
        return {"record": record_source(record), "created": False, "errors": []}

    async def changed_subscribe(
        self, _source: Any, info: GraphQLResolveInfo[Any]
    ) -> AsyncIterator[Any]:
        """Yield record changes of the app the caller may read."""
        caller = _caller(info)
        await self._app(caller)
        async for event in self.operations._record_events(caller, self.app_id):
            record = await self.operations._event_record(caller, event)
            yield {
                "kind": _RECORD_EVENT_KINDS[event.kind],
                "recordId": event.subject_id,
                "record": record_source(record) if record else None,
            }

    @staticmethod
    def changed(event: Any, _info: GraphQLResolveInfo[Any]) -> Any:
        """Pass a change event through."""
        return event

    def _failure(self, error: AppgraphError) -> dict[str, Any]:
        errors = _in_data(error)
        types = self.ref.get()
        for item in errors:
            # Only paths into ``data`` name blocks. Other paths name input
            # fields, such as idempotencyKey, which a block id may equal.
            if item.path[:1] == ["data"]:
                item.path = ["data", *_field_path(item.path[1:], types.field_map)]
        return {"record": None, "created": None, "errors": errors}

    async def _prepare_data(
        self, data: Mapping[str, Any]
    ) -> tuple[dict[str, Any], _StagedUploads]:
        """Map field names to block ids and read the uploads in ``data``.

        Each upload is checked and replaced by a placeholder ``fileId``; the
        services store it only once the whole submission is valid, so a
        rejected submission stores no file.
        """
        types = self.ref.get()
        by_id = types.data_to_ids(data)
        staged: _StagedUploads = []
        prepared = await self._stage_uploads(by_id, (), staged, {})
        assert isinstance(prepared, dict)
        return prepared, staged

    async def _stage_uploads(
        self,
        value: Any,
        path: tuple[str, ...],
        staged: _StagedUploads,
        placeholders: dict[int, str],
    ) -> Any:
        """Replace each upload in ``value`` with the placeholder of its copy.

        The GraphQL multipart request specification lets one file part fill
        several variables. Such an upload is read once, and every place that
        names it gets the same placeholder, keyed by ``id()`` of the upload in
        ``placeholders``.
        """
        if isinstance(value, Mapping):
            upload = value.get("upload")
            if upload is not None and hasattr(upload, "read"):
                if value.get("fileId") is not None:
                    raise SubmissionError(
                        [
                            Problem(
                                path,
                                ErrorCode.INVALID,
                                "Give either `upload` or `fileId`, not both.",
                            )
                        ]
                    )
                known = placeholders.get(id(upload))
                if known is not None:
                    return {"fileId": known}
                try:
                    upload_staged = await stage_upload(
                        upload,
                        f"upload:{len(staged) + 1}",
                        self.services.settings.max_file_bytes,
                    )
                except UploadError as error:
                    raise SubmissionError(
                        [Problem(path, error.code, str(error))]
                    ) from None
                staged.append(upload_staged)
                placeholders[id(upload)] = upload_staged.placeholder_id
                return {"fileId": upload_staged.placeholder_id}
            return {
                k: await self._stage_uploads(v, (*path, str(k)), staged, placeholders)
                for k, v in value.items()
            }
        if isinstance(value, list):
            return [
                await self._stage_uploads(v, (*path, str(index)), staged, placeholders)
                for index, v in enumerate(value)
            ]
        return value


def _field_path(path: list[str], field_map: Any) -> list[str]:
    """Map a ``data`` path of block ids and row indexes to GraphQL field names."""
    result: list[str] = []
    level = field_map
    by_id = {b.id: name for name, b in level.by_name.items()} if level else {}
    for part in path:
        if part in by_id and level is not None:
            name = by_id[part]
            result.append(name)
            level = level.rows.get(name)
            by_id = {b.id: n for n, b in level.by_name.items()} if level else {}
        else:
            result.append(part)
    return result


def _caller(info: GraphQLResolveInfo[Any]) -> Caller:
    context: RequestContext = info.context
    return context.caller
