"""The static part of the schema, written with Strawberry.

Workspaces, apps, versions, diffs, generic records with data as JSON, the
block catalogue, the catch-up feed for offline clients and the subscriptions.
The workflow fields come from :mod:`api.schema.workflows`. Generated per-app
types are added beside these by :mod:`api.schema.manager`.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from datetime import datetime
from enum import Enum
from typing import Annotated, Any, TypeAlias

import strawberry
from strawberry.file_uploads import Upload
from strawberry.scalars import JSON
from strawberry.schema.config import StrawberryConfig
from strawberry.types import Info

from api.context import RequestContext
from api.schema.workflows import WorkflowMutation, WorkflowQuery, WorkflowSubscription
from blocks.errors import ErrorCode
from blocks.types import DateTimeScalar, serialize_iso

DateTime: TypeAlias = datetime
"""A timestamp, served as the ``DateTime`` scalar (ISO 8601 with offset)."""

_DATETIME_SCALAR = strawberry.scalar(
    name="DateTime",
    description=DateTimeScalar.description,
    serialize=serialize_iso,
    parse_value=DateTimeScalar.parse_value,
)

IDEMPOTENCY_KEY_DESCRIPTION = (
    "Client-chosen key of up to 255 characters, not blank. A retry with the "
    "same key and request returns the first record; the same key with "
    "different data is a CONFLICT, and once that record is deleted the key "
    "gets NOT_FOUND."
)

UserErrorCode = strawberry.enum(
    ErrorCode, name="UserErrorCode", description="Why an input was rejected."
)


@strawberry.enum(description="What a token may do in its workspace.")
class Role(Enum):
    """Token roles."""

    ADMIN = "admin"
    MEMBER = "member"


@strawberry.enum(description="What happened to a record.")
class RecordChangeKind(Enum):
    """Kinds of record changes."""

    CREATED = "created"
    UPDATED = "updated"
    DELETED = "deleted"


@strawberry.enum(description="Kinds of change between two definition versions.")
class DefinitionChangeKind(Enum):
    """Kinds of definition changes."""

    BLOCK_ADDED = "BLOCK_ADDED"
    BLOCK_REMOVED = "BLOCK_REMOVED"
    BLOCK_RENAMED = "BLOCK_RENAMED"
    BLOCK_RETYPED = "BLOCK_RETYPED"
    BLOCK_MOVED = "BLOCK_MOVED"
    OPTIONS_CHANGED = "OPTIONS_CHANGED"
    RULES_CHANGED = "RULES_CHANGED"
    CONFIG_CHANGED = "CONFIG_CHANGED"
    LABEL_CHANGED = "LABEL_CHANGED"
    REQUIRED_CHANGED = "REQUIRED_CHANGED"


@strawberry.type(description="One thing to fix in a mutation's input.")
class UserError:
    """An expected failure, returned as data."""

    path: list[str] = strawberry.field(
        description="Input path to the offending value, such as data.trees.2.dbh."
    )
    code: UserErrorCode = strawberry.field(description="Stable code to branch on.")  # type: ignore[valid-type]
    message: str = strawberry.field(description="What is wrong and how to fix it.")


@strawberry.type(description="Where a page of a connection ends.")
class PageInfo:
    """Cursor pagination state."""

    has_next_page: bool = strawberry.field(description="More records follow.")
    end_cursor: str | None = strawberry.field(
        description="Cursor of the last record of the page."
    )


@strawberry.type(description="The authenticated caller.")
class Viewer:
    """The token's user, role and workspace."""

    user_id: str = strawberry.field(description="User the token acts for.")
    role: Role = strawberry.field(description="Role of the token.")
    workspace: Workspace = strawberry.field(description="The token's workspace.")


@strawberry.type(description="A tenant: apps, records and files live in one.")
class Workspace:
    """A workspace."""

    id: strawberry.ID = strawberry.field(description="Workspace id.")
    slug: str = strawberry.field(description="URL-safe unique name.")
    name: str = strawberry.field(description="Display name.")
    created_at: DateTime = strawberry.field(description="Creation time.")


@strawberry.type(description="One immutable version of an app's definition.")
class AppVersion:
    """An app definition version."""

    app_id: strawberry.ID = strawberry.field(description="App id.")
    number: int = strawberry.field(description="Version number, from 1.")
    definition: JSON = strawberry.field(description="The definition: blocks.")
    author: str = strawberry.field(description="User who saved it.")
    created_at: DateTime = strawberry.field(description="Save time.")
    note: str = strawberry.field(description="Author's note on the change.")


@strawberry.type(description="One change between two definition versions.")
class DefinitionChange:
    """A structured definition change."""

    kind: DefinitionChangeKind = strawberry.field(description="What changed.")
    block_id: str = strawberry.field(description="Id of the changed block.")
    path: list[str] = strawberry.field(description="Block ids from the root.")
    breaking: bool = strawberry.field(
        description="An existing client query or submission may now fail."
    )
    detail: str = strawberry.field(description="The change in a sentence.")
    before: JSON | None = strawberry.field(description="Old value, if any.")
    after: JSON | None = strawberry.field(description="New value, if any.")


@strawberry.type(description="Changes from one definition version to another.")
class DefinitionDiff:
    """A structured diff."""

    from_version: int = strawberry.field(description="Older version number.")
    to_version: int = strawberry.field(description="Newer version number.")
    breaking: bool = strawberry.field(description="Any change is breaking.")
    changes: list[DefinitionChange] = strawberry.field(description="The changes.")


@strawberry.type(description="An app: a definition with versions, and its records.")
class App:
    """An app of the workspace."""

    id: strawberry.ID = strawberry.field(description="App id.")
    slug: str = strawberry.field(description="URL-safe name, unique in the workspace.")
    name: str = strawberry.field(description="Display name.")
    description: str = strawberry.field(description="What the app is for.")
    current_version: int = strawberry.field(description="Latest version number.")
    shared_with_members: bool = strawberry.field(
        description="Members of the workspace may submit and read their records."
    )
    type_name: str = strawberry.field(
        description="Name of the generated GraphQL type of its records."
    )
    field_name: str = strawberry.field(
        description="Prefix of its generated root fields, such as `plotCreate`."
    )
    created_at: DateTime = strawberry.field(description="Creation time.")
    updated_at: DateTime = strawberry.field(description="Time of the last change.")

    @strawberry.field(description="The current definition.")
    async def definition(self, info: Info[RequestContext, None]) -> JSON:
        """Resolve the current definition."""
        version = await info.context.operations.get_version(
            info.context.caller, self.id, self.current_version
        )
        if version is None:
            raise LookupError(f"App {self.id} has no version {self.current_version}.")
        return version.definition

    @strawberry.field(description="One version by number.")
    async def version(
        self,
        info: Info[RequestContext, None],
        number: Annotated[int, strawberry.argument(description="Version number.")],
    ) -> AppVersion | None:
        """Resolve one version."""
        return await info.context.operations.get_version(
            info.context.caller, self.id, number
        )

    @strawberry.field(description="Every version, oldest first.")
    async def versions(self, info: Info[RequestContext, None]) -> list[AppVersion]:
        """Resolve the version history."""
        return await info.context.operations.list_versions(info.context.caller, self.id)

    @strawberry.field(description="Changes between two versions of this app.")
    async def diff(
        self,
        info: Info[RequestContext, None],
        from_version: Annotated[int, strawberry.argument(description="Older version.")],
        to_version: Annotated[int, strawberry.argument(description="Newer version.")],
    ) -> DefinitionDiff:
        """Resolve a diff."""
        return await info.context.operations.diff_versions(
            info.context.caller, self.id, from_version, to_version
        )


@strawberry.type(description="A record with its data as JSON keyed by block id.")
class GenericRecord:
    """A record in its app-independent form."""

    id: strawberry.ID = strawberry.field(description="Record id.")
    app_id: strawberry.ID = strawberry.field(description="App id.")
    app_slug: str = strawberry.field(description="App slug.")
    version: int = strawberry.field(description="Definition version it was made with.")
    revision: int = strawberry.field(description="Change counter, from 1.")
    data: JSON = strawberry.field(description="Values keyed by block id.")
    created_by: str = strawberry.field(description="User who created it.")
    created_at: DateTime = strawberry.field(description="Creation time.")
    updated_by: str = strawberry.field(description="User who last changed it.")
    updated_at: DateTime = strawberry.field(description="Time of the last change.")


@strawberry.type(description="A page of generic records.")
class GenericRecordConnection:
    """Generic records with cursor pagination."""

    nodes: list[GenericRecord] = strawberry.field(description="Records of the page.")
    page_info: PageInfo = strawberry.field(description="Where this page ends.")


@strawberry.type(description="A block type that definitions may use.")
class BlockTypeInfo:
    """One entry of the block catalogue."""

    name: str = strawberry.field(description="Type name used in definitions.")
    label: str = strawberry.field(description="Human name.")
    description: str = strawberry.field(description="What the block is for.")
    value_type: str = strawberry.field(description="GraphQL type of the value.")
    role: str = strawberry.field(
        description="value, display, section, repeat, computed or assigned."
    )
    index_kind: str = strawberry.field(description="How values are indexed.")
    config_schema: JSON = strawberry.field(description="JSON Schema of the config.")
    xlsform_types: list[str] = strawberry.field(
        description="XLSForm question types that import as this type."
    )
    plugin: str = strawberry.field(description="Plugin that provides the type.")


@strawberry.type(description="A record change in the catch-up feed.")
class RecordChange:
    """A record created, updated or deleted."""

    kind: RecordChangeKind = strawberry.field(description="What happened.")
    record_id: strawberry.ID = strawberry.field(description="Record id.")
    app_slug: str = strawberry.field(description="App slug.")
    record: GenericRecord | None = strawberry.field(
        description="The record now; null once deleted."
    )


@strawberry.type(description="What changed since a cursor, for offline clients.")
class ChangeFeed:
    """Catch-up page."""

    definitions: list[AppVersion] = strawberry.field(
        description="Current version of every app whose definition changed."
    )
    records: list[RecordChange] = strawberry.field(
        description="Latest state of every record of the caller that changed."
    )
    next_cursor: str = strawberry.field(description="Pass as `after` next time.")
    has_more: bool = strawberry.field(description="Call again with next_cursor.")


@strawberry.type(description="One option that an external API returned.")
class ExternalOption:
    """An option of an external_api block in options mode."""

    value: JSON = strawberry.field(
        description="The value to submit: text, an exact decimal string or a boolean."
    )
    label: str = strawberry.field(description="Text to show for the option.")


@strawberry.type(description="Options of an external_api block, or why none came.")
class ExternalOptionsResult:
    """Result of externalOptions."""

    options: list[ExternalOption] = strawberry.field(
        description="The options in the order of the response; empty on errors."
    )
    errors: list[UserError] = strawberry.field(description="What to fix.")


@strawberry.type(description="Result of an app mutation.")
class AppPayload:
    """App mutation result."""

    app: App | None = strawberry.field(description="The app; null on errors.")
    version: AppVersion | None = strawberry.field(
        description="The version this mutation created, if any."
    )
    errors: list[UserError] = strawberry.field(description="What to fix.")


@strawberry.type(description="Something an XLSForm import could not translate.")
class ImportIssue:
    """One import issue."""

    sheet: str = strawberry.field(description="Sheet name.")
    row: int | None = strawberry.field(description="Row number, from 1.")
    column: str | None = strawberry.field(description="Column name.")
    severity: str = strawberry.field(description="warning or error.")
    message: str = strawberry.field(description="What was not translated and why.")


@strawberry.type(description="Result of an XLSForm import.")
class AppImportPayload:
    """Import result."""

    app: App | None = strawberry.field(description="The new app; null on errors.")
    issues: list[ImportIssue] = strawberry.field(description="Untranslated parts.")
    errors: list[UserError] = strawberry.field(description="What to fix.")


@strawberry.type(description="Result of a generic record mutation.")
class RecordPayload:
    """Record mutation result."""

    record: GenericRecord | None = strawberry.field(description="The record.")
    created: bool | None = strawberry.field(
        description="False when an idempotency key matched an earlier submission."
    )
    errors: list[UserError] = strawberry.field(description="What to fix.")


@strawberry.type(description="A new definition version, pushed to subscribers.")
class DefinitionEvent:
    """A definition change event."""

    app: App = strawberry.field(description="The app, as of this version.")
    version: AppVersion = strawberry.field(description="The new version.")
    diff: DefinitionDiff | None = strawberry.field(
        description="Changes from the previous version; null for version 1."
    )


@strawberry.type(description="A record change, pushed to subscribers.")
class RecordEvent:
    """A record change event."""

    kind: RecordChangeKind = strawberry.field(description="What happened.")
    record_id: strawberry.ID = strawberry.field(description="Record id.")
    record: GenericRecord | None = strawberry.field(
        description="The record now; null after a deletion."
    )


@strawberry.input(description="A new app.")
class AppCreateInput:
    """Input of appCreate."""

    slug: str = strawberry.field(description="URL-safe name: a-z, 0-9, '-'.")
    name: str = strawberry.field(description="Display name.")
    description: str = strawberry.field(default="", description="What it is for.")
    definition: JSON = strawberry.field(description="The first definition.")
    shared_with_members: bool = strawberry.field(
        default=False, description="Let members submit and read their records."
    )


@strawberry.input(description="Changes to an app's name, description or sharing.")
class AppUpdateInput:
    """Input of appUpdate."""

    app: str = strawberry.field(description="App slug.")
    name: str | None = strawberry.field(default=None, description="New name.")
    description: str | None = strawberry.field(
        default=None, description="New description."
    )
    shared_with_members: bool | None = strawberry.field(
        default=None, description="New sharing."
    )


@strawberry.input(description="A new definition version.")
class AppDefinitionSaveInput:
    """Input of appDefinitionSave."""

    app: str = strawberry.field(description="App slug.")
    definition: JSON = strawberry.field(description="The whole new definition.")
    expected_version: int | None = strawberry.field(
        default=None,
        description="Fail with CONFLICT unless this is still the current version.",
    )
    note: str = strawberry.field(default="", description="What changed and why.")


@strawberry.input(description="Restore an earlier version as a new version.")
class AppRollbackInput:
    """Input of appRollback."""

    app: str = strawberry.field(description="App slug.")
    to_version: int = strawberry.field(description="Version to copy.")


@strawberry.input(description="An XLSForm spreadsheet to import as a new app.")
class AppImportXlsformInput:
    """Input of appImportXlsform."""

    file: Upload = strawberry.field(description="The .xlsx or .xls file.")
    slug: str | None = strawberry.field(
        default=None, description="App slug; default from the form id."
    )
    name: str | None = strawberry.field(
        default=None, description="App name; default from the form title."
    )
    shared_with_members: bool = strawberry.field(
        default=False, description="Let members submit."
    )


@strawberry.input(description="A new record, data as JSON keyed by block id.")
class RecordCreateInput:
    """Input of recordCreate."""

    app: str = strawberry.field(description="App slug.")
    data: JSON = strawberry.field(description="Values keyed by block id.")
    idempotency_key: str | None = strawberry.field(
        default=None,
        description=IDEMPOTENCY_KEY_DESCRIPTION,
    )
    version: int | None = strawberry.field(
        default=None, description="Definition version to validate against."
    )


@strawberry.input(description="Changes to a record, data as JSON keyed by block id.")
class RecordUpdateInput:
    """Input of recordUpdate."""

    id: strawberry.ID = strawberry.field(description="Record id.")
    data: JSON = strawberry.field(description="Values to change, by block id.")
    expected_revision: int | None = strawberry.field(
        default=None, description="Fail with CONFLICT unless at this revision."
    )
    version: int | None = strawberry.field(
        default=None, description="Definition version to validate against."
    )


def _services(info: Info[RequestContext, None]) -> Any:
    return info.context.operations


@strawberry.type(description="Read operations.")
class Query(WorkflowQuery):
    """Static query fields."""

    @strawberry.field(description="The authenticated caller.")
    async def viewer(self, info: Info[RequestContext, None]) -> Viewer:
        """Resolve the caller."""
        return await _services(info).viewer(info.context.caller)  # type: ignore[no-any-return]

    @strawberry.field(description="Apps the caller may see, by name.")
    async def apps(self, info: Info[RequestContext, None]) -> list[App]:
        """Resolve the app list."""
        return await _services(info).list_apps(info.context.caller)  # type: ignore[no-any-return]

    @strawberry.field(description="One app by slug.")
    async def app(
        self,
        info: Info[RequestContext, None],
        slug: Annotated[str, strawberry.argument(description="App slug.")],
    ) -> App | None:
        """Resolve one app."""
        return await _services(info).find_app(info.context.caller, slug)  # type: ignore[no-any-return]

    @strawberry.field(description="Every block type definitions may use.")
    def block_types(self, info: Info[RequestContext, None]) -> list[BlockTypeInfo]:
        """Resolve the block catalogue."""
        return _services(info).block_catalogue()  # type: ignore[no-any-return]

    @strawberry.field(description="Records of one app with data as JSON.")
    async def records(
        self,
        info: Info[RequestContext, None],
        app: Annotated[str, strawberry.argument(description="App slug.")],
        first: Annotated[
            int | None, strawberry.argument(description="Page size; default 50.")
        ] = None,
        after: Annotated[
            str | None,
            strawberry.argument(description="Cursor of the last record seen."),
        ] = None,
    ) -> GenericRecordConnection:
        """Resolve a page of generic records."""
        return await _services(info).generic_records(  # type: ignore[no-any-return]
            info.context.caller, app, first, after
        )

    @strawberry.field(description="One record by id, data as JSON.")
    async def record(
        self,
        info: Info[RequestContext, None],
        id: Annotated[strawberry.ID, strawberry.argument(description="Record id.")],
    ) -> GenericRecord | None:
        """Resolve one generic record."""
        return await _services(info).generic_record(info.context.caller, id)  # type: ignore[no-any-return]

    @strawberry.field(
        description=(
            "Fetch the options of an external_api block in options mode, with "
            "the record's values so far as the request's parameters."
        )
    )
    async def external_options(
        self,
        info: Info[RequestContext, None],
        app: Annotated[str, strawberry.argument(description="App slug.")],
        block: Annotated[
            str, strawberry.argument(description="Id of the external_api block.")
        ],
        data: Annotated[
            JSON | None,
            strawberry.argument(
                description=(
                    "Values of the record so far, keyed by block id, in the form "
                    "the record stores them."
                )
            ),
        ] = None,
    ) -> ExternalOptionsResult:
        """Resolve the options of an external_api block."""
        return await _services(info).external_options(  # type: ignore[no-any-return]
            info.context.caller, app, block, data
        )

    @strawberry.field(
        description="Definitions and the caller's records changed since a cursor."
    )
    async def changes(
        self,
        info: Info[RequestContext, None],
        after: Annotated[
            str | None,
            strawberry.argument(description="Cursor from the last call; none for all."),
        ] = None,
        first: Annotated[
            int | None,
            strawberry.argument(
                description="Maximum number of events to read; default 500."
            ),
        ] = None,
    ) -> ChangeFeed:
        """Resolve the catch-up feed."""
        return await _services(info).changes(info.context.caller, after, first)  # type: ignore[no-any-return]


@strawberry.type(description="Write operations.")
class Mutation(WorkflowMutation):
    """Static mutation fields."""

    @strawberry.mutation(description="Create an app with its first definition.")
    async def app_create(
        self, info: Info[RequestContext, None], input: AppCreateInput
    ) -> AppPayload:
        """Create an app."""
        return await _services(info).app_create(info.context.caller, input)  # type: ignore[no-any-return]

    @strawberry.mutation(description="Change an app's name, description or sharing.")
    async def app_update(
        self, info: Info[RequestContext, None], input: AppUpdateInput
    ) -> AppPayload:
        """Update app metadata."""
        return await _services(info).app_update(info.context.caller, input)  # type: ignore[no-any-return]

    @strawberry.mutation(description="Save a definition as the app's next version.")
    async def app_definition_save(
        self, info: Info[RequestContext, None], input: AppDefinitionSaveInput
    ) -> AppPayload:
        """Save a new version."""
        return await _services(info).app_definition_save(info.context.caller, input)  # type: ignore[no-any-return]

    @strawberry.mutation(description="Save an earlier version again as a new version.")
    async def app_rollback(
        self, info: Info[RequestContext, None], input: AppRollbackInput
    ) -> AppPayload:
        """Roll back."""
        return await _services(info).app_rollback(info.context.caller, input)  # type: ignore[no-any-return]

    @strawberry.mutation(description="Create an app from an XLSForm spreadsheet.")
    async def app_import_xlsform(
        self, info: Info[RequestContext, None], input: AppImportXlsformInput
    ) -> AppImportPayload:
        """Import an XLSForm."""
        return await _services(info).app_import_xlsform(info.context.caller, input)  # type: ignore[no-any-return]

    @strawberry.mutation(description="Submit a record with data as JSON.")
    async def record_create(
        self, info: Info[RequestContext, None], input: RecordCreateInput
    ) -> RecordPayload:
        """Create a generic record."""
        return await _services(info).generic_record_create(info.context.caller, input)  # type: ignore[no-any-return]

    @strawberry.mutation(description="Change a record with data as JSON.")
    async def record_update(
        self, info: Info[RequestContext, None], input: RecordUpdateInput
    ) -> RecordPayload:
        """Update a generic record."""
        return await _services(info).generic_record_update(info.context.caller, input)  # type: ignore[no-any-return]

    @strawberry.mutation(description="Delete a record.")
    async def record_delete(
        self,
        info: Info[RequestContext, None],
        id: Annotated[strawberry.ID, strawberry.argument(description="Record id.")],
    ) -> RecordPayload:
        """Delete a generic record."""
        return await _services(info).generic_record_delete(info.context.caller, id)  # type: ignore[no-any-return]


@strawberry.type(description="Live changes.")
class Subscription(WorkflowSubscription):
    """Static subscription fields."""

    @strawberry.subscription(
        description="Each new version of an app's definition, with its diff."
    )
    async def app_definition_changed(
        self,
        info: Info[RequestContext, None],
        app: Annotated[str, strawberry.argument(description="App slug.")],
    ) -> AsyncGenerator[DefinitionEvent, None]:
        """Stream definition versions."""
        async for event in _services(info).definition_events(info.context.caller, app):
            yield event

    @strawberry.subscription(
        description="Records of an app as they are created, updated or deleted."
    )
    async def record_changed(
        self,
        info: Info[RequestContext, None],
        app: Annotated[str, strawberry.argument(description="App slug.")],
    ) -> AsyncGenerator[RecordEvent, None]:
        """Stream record changes the caller may read."""
        async for event in _services(info).record_events(info.context.caller, app):
            yield event


def build_static_schema() -> strawberry.Schema:
    """Build the Strawberry schema of the static part."""
    return strawberry.Schema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        types=[PageInfo, UserError],
        config=StrawberryConfig(scalar_map={datetime: _DATETIME_SCALAR}),
    )
