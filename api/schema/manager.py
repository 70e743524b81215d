"""Per-workspace schemas: assembled from cached app types, swapped atomically.

Each workspace has one immutable ``GraphQLSchema``. When a definition
changes, only that app's types are built (types are cached per app version),
the workspace schema is assembled aside in a worker thread, and one dict
entry is replaced. A request holds the schema it started with, so requests
in flight finish on the old schema.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import strawberry
from graphql import (
    GraphQLField,
    GraphQLID,
    GraphQLInputObjectType,
    GraphQLInt,
    GraphQLNamedType,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLResolveInfo,
    GraphQLSchema,
    GraphQLString,
    GraphQLType,
    get_named_type,
    specified_scalar_types,
    validate_schema,
)

from api.schema.typed import (
    AppTypeBuilder,
    AppTypes,
    AppTypesRef,
    RootResolvers,
    SortDirection,
)
from blocks.definition import Block, Definition
from blocks.filters import Operand
from blocks.names import reserved_type_names, type_name_for_app
from blocks.registry import BlockRegistry
from blocks.types import TypeLibrary

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class AppSource:
    """What the schema needs of one app: its identity and current definition."""

    app_id: str
    slug: str
    version: int
    definition: Definition
    description: str = ""
    shared_with_members: bool = True
    """Whether members see the app, and so its types in their schema."""


@dataclass(frozen=True)
class AppNaming:
    """The generated names of one app."""

    type_name: str
    field_name: str


def _system_field(key: str, output: Any, description: str) -> GraphQLField:
    def resolve(source: Mapping[str, Any], _info: GraphQLResolveInfo[Any]) -> Any:
        return source[key]

    return GraphQLField(output, resolve=resolve, description=description)


class SchemaManager:
    """Builds, caches and swaps the schema of each workspace."""

    def __init__(
        self,
        registry: BlockRegistry,
        static: strawberry.Schema,
        resolvers: Callable[[str, AppTypesRef], RootResolvers],
    ) -> None:
        self.registry = registry
        self.static = static
        static_schema = static._schema
        self._static_schema = static_schema
        self.library = TypeLibrary(static_schema.type_map.values())
        _create_library_types(self.library, registry)
        root_fields = _root_field_names(static_schema)
        # An app's root fields are its type name with the first letter
        # lowered, so the static root fields reserve their capitalized form:
        # the app `records` becomes `RecordsApp` and keeps `records` static.
        # Static and library names reserve their stems too: the app
        # `app-import` would otherwise generate the static `AppImportPayload`.
        self._reserved = reserved_type_names(
            [
                *static_schema.type_map,
                *(named.name for named in self.library.all_types()),
                *root_fields,
                *(name[:1].upper() + name[1:] for name in root_fields),
            ]
        )
        shared = {
            "PageInfo": static_schema.type_map["PageInfo"],
            "UserError": static_schema.type_map["UserError"],
            "RecordChangeKind": static_schema.type_map["RecordChangeKind"],
            "system_fields": self._system_fields(),
        }
        self.builder = AppTypeBuilder(registry, self.library, shared, resolvers)
        self._cache: dict[tuple[str, int, str], AppTypes] = {}
        self._type_names: dict[tuple[str, int, str], frozenset[str]] = {}
        self._own_types: dict[tuple[str, int, str], dict[str, GraphQLNamedType]] = {}
        self._schemas: dict[str, GraphQLSchema] = {}
        self._member_schemas: dict[str, GraphQLSchema] = {}
        self._app_types: dict[str, dict[str, AppTypes]] = {}
        self._naming: dict[str, dict[str, AppNaming]] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    def _system_fields(self) -> dict[str, GraphQLField]:
        datetime_type = self._static_schema.type_map["DateTime"]
        return {
            "id": _system_field("@id", GraphQLNonNull(GraphQLID), "Record id."),
            "version": _system_field(
                "@version",
                GraphQLNonNull(GraphQLInt),
                "Definition version the record was made with.",
            ),
            "revision": _system_field(
                "@revision", GraphQLNonNull(GraphQLInt), "Change counter, from 1."
            ),
            "createdAt": _system_field(
                "@created_at", GraphQLNonNull(datetime_type), "Creation time."
            ),
            "createdBy": _system_field(
                "@created_by", GraphQLNonNull(GraphQLString), "User who created it."
            ),
            "updatedAt": _system_field(
                "@updated_at", GraphQLNonNull(datetime_type), "Last change time."
            ),
            "updatedBy": _system_field(
                "@updated_by", GraphQLNonNull(GraphQLString), "User who changed it."
            ),
        }

    # Reading ---------------------------------------------------------------

    def get(self, workspace_id: str, *, members: bool = False) -> GraphQLSchema | None:
        """Return the current schema of a workspace, if built.

        With ``members`` set, return the schema that members see: it leaves
        out the types of apps not shared with members, so introspection does
        not reveal them.
        """
        if members:
            return self._member_schemas.get(workspace_id)
        return self._schemas.get(workspace_id)

    def app_types(self, workspace_id: str, app_id: str) -> AppTypes | None:
        """Return the current generated types of an app."""
        return self._app_types.get(workspace_id, {}).get(app_id)

    def naming(self, workspace_id: str, app_id: str) -> AppNaming | None:
        """Return the generated names of an app, if built."""
        return self._naming.get(workspace_id, {}).get(app_id)

    # Building --------------------------------------------------------------

    async def rebuild(
        self, workspace_id: str, apps: Sequence[AppSource]
    ) -> GraphQLSchema:
        """Rebuild a workspace's schema for ``apps`` and swap it in.

        ``apps`` must be sorted by creation so that generated type names stay
        stable. Types of unchanged app versions come from the cache.
        """
        lock = self._locks.setdefault(workspace_id, asyncio.Lock())
        async with lock:
            schema, app_types, naming = await asyncio.to_thread(self._assemble, apps)
            shared = {app.app_id for app in apps if app.shared_with_members}
            member_schema = await asyncio.to_thread(
                self._combine,
                [types for app_id, types in app_types.items() if app_id in shared],
            )
            self._schemas[workspace_id] = schema
            self._member_schemas[workspace_id] = member_schema
            self._app_types[workspace_id] = app_types
            self._naming[workspace_id] = naming
            logger.debug(
                "Swapped schema of workspace %s (%d apps)", workspace_id, len(apps)
            )
            return schema

    def _assemble(
        self, apps: Sequence[AppSource]
    ) -> tuple[GraphQLSchema, dict[str, AppTypes], dict[str, AppNaming]]:
        # Block types add library types on first use, so an app placed early
        # in the pass may clash with a type that a later app added. The
        # library only grows, so a second pass sees every type it will use.
        for _ in range(3):
            library_size = len(self.library.all_types())
            app_types, naming = self._place_all(apps)
            if len(self.library.all_types()) == library_size:
                break
        self._evict(app_types)
        return self._combine(list(app_types.values())), app_types, naming

    def _place_all(
        self, apps: Sequence[AppSource]
    ) -> tuple[dict[str, AppTypes], dict[str, AppNaming]]:
        taken: set[str] = set()
        used_type_names: set[str] = set()
        app_types: dict[str, AppTypes] = {}
        naming: dict[str, AppNaming] = {}
        for app in apps:
            placed = self._place(app, taken)
            if placed is None:
                continue
            key, types = placed
            type_name = key[2]
            clashes = self._type_names[key] & used_type_names
            if clashes:
                logger.error(
                    "Left app %s v%d out of the schema: its type names %s are "
                    "already used by another app of the workspace",
                    app.app_id,
                    app.version,
                    ", ".join(sorted(clashes)),
                )
                continue
            used_type_names |= self._type_names[key]
            app_types[app.app_id] = types
            naming[app.app_id] = AppNaming(type_name, _field_name(type_name))
        return app_types, naming

    def _place(
        self, app: AppSource, taken: set[str]
    ) -> tuple[tuple[str, int, str], AppTypes] | None:
        """Name and build one app version, or return None to leave it out.

        A generated name that equals a static or library type name (such as
        ``GeoPoint`` for the app ``geo-point``) gets ``App`` appended, as
        reserved names do, and the app is built again under the new name.
        """
        avoided: set[str] = set()
        for _ in range(_MAX_NAMING_ATTEMPTS):
            try:
                type_name = type_name_for_app(app.slug, taken, self._reserved | avoided)
            except ValueError as error:
                logger.error(
                    "Left app %s v%d out of the schema: %s",
                    app.app_id,
                    app.version,
                    error,
                )
                return None
            key = (app.app_id, app.version, type_name)
            shared = self._shared_types()
            try:
                types = self._cache.get(key) or self._build(key, app, shared)
            except _SharedNameClash as clash:
                clashes = clash.names
            except Exception:
                # One app's broken types must not take the workspace's
                # other apps out of the schema.
                logger.exception(
                    "Left app %s v%d out of the schema: its generated types "
                    "are invalid",
                    app.app_id,
                    app.version,
                )
                return None
            else:
                clashes = self._type_names[key] & shared.keys()
                if not clashes:
                    taken.add(type_name)
                    return key, types
            logger.warning(
                "App %s v%d: generated type names %s equal shared type names; "
                "renaming its type %s",
                app.app_id,
                app.version,
                ", ".join(sorted(clashes)),
                type_name,
            )
            avoided.add(type_name)
        logger.error(
            "Left app %s v%d out of the schema: no type name without a clash "
            "after %d attempts",
            app.app_id,
            app.version,
            _MAX_NAMING_ATTEMPTS,
        )
        return None

    def _shared_types(self) -> dict[str, GraphQLNamedType]:
        """Return the types every app of every workspace shares, by name."""
        shared: dict[str, GraphQLNamedType] = dict(specified_scalar_types)
        shared.update(self._static_schema.type_map)
        for named in self.library.all_types():
            shared.setdefault(named.name, named)
        shared.setdefault(SortDirection.name, SortDirection)
        return shared

    def _build(
        self,
        key: tuple[str, int, str],
        app: AppSource,
        shared: Mapping[str, GraphQLNamedType],
    ) -> AppTypes:
        """Build and check one app version's types, and cache them.

        Raises:
            _SharedNameClash: a generated type has the name of a shared type.
        """
        app_id, version, type_name = key
        types = self.builder.build(
            app_id,
            version,
            type_name,
            _field_name(type_name),
            app.definition,
            app.description,
        )
        clashes = _own_type_names(types, shared) & shared.keys()
        if clashes:
            raise _SharedNameClash(frozenset(clashes))
        self._type_names[key] = self._check(types)
        self._cache[key] = types
        return types

    def _check(self, types: AppTypes) -> frozenset[str]:
        """Validate one app's types alone and return the names of its own types.

        Shared types (static and library) are left out of the names, so that
        a clash between the names of two apps can be found before combining.
        """
        schema = self._combine_walked([types])
        errors = validate_schema(schema)
        if errors:
            raise ValueError(
                f"Generated types of app {types.app_id} v{types.version} are "
                f"invalid: {'; '.join(e.message for e in errors[:5])}"
            )
        # Built-in scalars such as Float are shared too, whether or not the
        # static schema happens to use them.
        shared = set(self._static_schema.type_map) | {SortDirection.name}
        shared.update(specified_scalar_types)
        shared.update(t.name for t in self.library.all_types())
        static_names = self._static_schema.type_map
        # The join takes every type the app uses beyond the static schema,
        # built-in scalars and library types included, so that it contains
        # what a walk would collect; clashes are checked on app types only.
        self._own_types[(types.app_id, types.version, types.type_name)] = {
            name: named
            for name, named in schema.type_map.items()
            if name not in static_names
        }
        return frozenset(name for name in schema.type_map if name not in shared)

    def _combine(self, all_types: Sequence[AppTypes]) -> GraphQLSchema:
        """Join the static schema with each app's cached types.

        ``GraphQLSchema()`` walks every type and field it is given, which at
        1,000 apps costs more than a second per rebuild. Every app's own types
        were collected when they were checked, so the type map is joined from
        those dicts instead, and only the three root types are new.
        """
        static = self._static_schema
        query_fields = dict(static.query_type.fields)  # type: ignore[union-attr]
        mutation_fields = dict(static.mutation_type.fields)  # type: ignore[union-attr]
        subscription_fields = dict(static.subscription_type.fields)  # type: ignore[union-attr]
        type_map: dict[str, GraphQLNamedType] = dict(static.type_map)
        for named in self.library.all_types():
            type_map.setdefault(named.name, named)
        type_map.setdefault(SortDirection.name, SortDirection)
        for types in all_types:
            query_fields.update(types.query_fields)
            mutation_fields.update(types.mutation_fields)
            subscription_fields.update(types.subscription_fields)
            type_map.update(
                self._own_types[(types.app_id, types.version, types.type_name)]
            )
        query = _with_fields(static.query_type, query_fields)  # type: ignore[arg-type]
        mutation = _with_fields(static.mutation_type, mutation_fields)  # type: ignore[arg-type]
        subscription = _with_fields(static.subscription_type, subscription_fields)  # type: ignore[arg-type]
        type_map.update(Query=query, Mutation=mutation, Subscription=subscription)

        # An empty schema costs only its directives and introspection types;
        # the joined parts are set on it afterwards.
        # NOTE: this sets attributes that GraphQLSchema.__init__ fills in
        # graphql-core 3.3 (type_map, _implementations_map, _sub_type_map).
        # Generated types use no interfaces or unions, so the static
        # schema's implementations map stays complete.
        schema = GraphQLSchema(directives=static.directives, assume_valid=True)
        schema.query_type = query
        schema.mutation_type = mutation
        schema.subscription_type = subscription
        schema.type_map = type_map
        schema._implementations_map = dict(static._implementations_map)
        schema._sub_type_map = {}
        schema._strawberry_schema = self.static  # type: ignore[attr-defined]
        return schema

    def _combine_walked(self, all_types: Sequence[AppTypes]) -> GraphQLSchema:
        """Build the combined schema by letting graphql-core walk every type.

        Used to check each app's types alone, where the walk also collects
        the app's own types, and in tests as the reference for the join.
        """
        static = self._static_schema
        query_fields = dict(static.query_type.fields)  # type: ignore[union-attr]
        mutation_fields = dict(static.mutation_type.fields)  # type: ignore[union-attr]
        subscription_fields = dict(static.subscription_type.fields)  # type: ignore[union-attr]
        for types in all_types:
            query_fields.update(types.query_fields)
            mutation_fields.update(types.mutation_fields)
            subscription_fields.update(types.subscription_fields)
        extra: list[GraphQLNamedType] = [
            t for t in static.type_map.values() if not t.name.startswith("__")
        ]
        schema = GraphQLSchema(
            query=_with_fields(static.query_type, query_fields),  # type: ignore[arg-type]
            mutation=_with_fields(static.mutation_type, mutation_fields),  # type: ignore[arg-type]
            subscription=_with_fields(static.subscription_type, subscription_fields),  # type: ignore[arg-type]
            types=[t for t in extra if t.name not in _ROOT_NAMES]
            + [t for t in self.library.all_types() if t.name not in static.type_map],
            directives=static.directives,
        )
        # Every app's types were validated alone and apps whose type names
        # clash were left out, so the combined schema is marked valid without
        # a pass.
        schema._validation_errors = []
        schema._strawberry_schema = self.static  # type: ignore[attr-defined]
        return schema

    def _evict(self, current: Mapping[str, AppTypes]) -> None:
        """Drop cached types of versions no longer current in any workspace."""
        live = {(t.app_id, t.version) for t in current.values()}
        for ws_types in self._app_types.values():
            live.update((t.app_id, t.version) for t in ws_types.values())
        current_apps = {t.app_id for t in current.values()}
        for key in list(self._cache):
            if key[0] in current_apps and (key[0], key[1]) not in live:
                del self._cache[key]
                self._type_names.pop(key, None)
                self._own_types.pop(key, None)


_ROOT_NAMES = ("Query", "Mutation", "Subscription")

_MAX_NAMING_ATTEMPTS = 4


class _SharedNameClash(Exception):
    """Generated types of an app have names of static or library types."""

    def __init__(self, names: frozenset[str]) -> None:
        super().__init__(", ".join(sorted(names)))
        self.names = names


def _field_name(type_name: str) -> str:
    return type_name[:1].lower() + type_name[1:]


def _own_type_names(
    types: AppTypes, shared: Mapping[str, GraphQLNamedType]
) -> set[str]:
    """Return the names of the types an app built itself, shared ones left out.

    A type counts as shared only when it is the shared object itself, so an
    app type that merely has a shared name is returned.
    """
    pending: list[GraphQLType] = []
    for fields in (
        types.query_fields,
        types.mutation_fields,
        types.subscription_fields,
    ):
        for root_field in fields.values():
            pending.append(root_field.type)
            pending.extend(argument.type for argument in root_field.args.values())
    seen: set[int] = set()
    names: set[str] = set()
    while pending:
        named = get_named_type(pending.pop())
        if id(named) in seen or shared.get(named.name) is named:
            continue
        seen.add(id(named))
        names.add(named.name)
        if isinstance(named, GraphQLObjectType):
            for child in named.fields.values():
                pending.append(child.type)
                pending.extend(argument.type for argument in child.args.values())
        elif isinstance(named, GraphQLInputObjectType):
            pending.extend(child.type for child in named.fields.values())
    return names


def _create_library_types(library: TypeLibrary, registry: BlockRegistry) -> None:
    """Create the library types that block types would add on first use.

    App type names are checked against the library, so creating its types up
    front keeps an app's name from depending on which apps were built first.
    A block type that needs a config to build its types is skipped here; its
    types are still checked when an app uses them.
    """
    for operand in Operand:
        library.scalar_filter(operand)
    library.list_filter()
    library.geo_filter()
    library.presence_filter()
    library.file_type()
    library.file_input()
    for entry in registry:
        block_type = entry.block_type
        probe = Block(id="probe", type=block_type.name)
        for build in (
            block_type.output_type,
            block_type.input_type,
            block_type.filter_type,
        ):
            try:
                build(probe, library)
            except Exception as error:  # noqa: BLE001 - plugin code may raise anything
                logger.debug(
                    "Block type %s builds no types without a config: %s",
                    block_type.name,
                    error,
                )


def _with_fields(
    root: GraphQLObjectType, fields: dict[str, GraphQLField]
) -> GraphQLObjectType:
    return GraphQLObjectType(root.name, fields, description=root.description)


def _root_field_names(schema: GraphQLSchema) -> list[str]:
    names: list[str] = []
    for root in (schema.query_type, schema.mutation_type, schema.subscription_type):
        if root is not None:
            names.extend(root.fields)
    return names
