"""Generated GraphQL types of one app version, built with graphql-core.

Building per-app types with graphql-core instead of Strawberry keeps a
rebuild cheap: the types of an app version are built once, cached by
``(app id, version)`` and reused by every later schema of the workspace.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from graphql import (
    GraphQLArgument,
    GraphQLBoolean,
    GraphQLEnumType,
    GraphQLEnumValue,
    GraphQLField,
    GraphQLID,
    GraphQLInputField,
    GraphQLInputObjectType,
    GraphQLInputType,
    GraphQLInt,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLResolveInfo,
    GraphQLString,
)

from api.schema.static import IDEMPOTENCY_KEY_DESCRIPTION
from blocks.base import BlockRole
from blocks.definition import Block, Definition
from blocks.filters import (
    And,
    FieldPath,
    FilterNode,
    Not,
    Operand,
    Or,
    OrderBy,
    all_of,
)
from blocks.registry import BlockRegistry
from blocks.types import TypeLibrary, compile_scalar_filter

SYSTEM_PATH_PREFIX = "$"
"""Filter and order paths starting with this name a record column, not data."""

SortDirection = GraphQLEnumType(
    "SortDirection",
    {
        "ASC": GraphQLEnumValue("ASC", description="Smallest first; nulls last."),
        "DESC": GraphQLEnumValue("DESC", description="Largest first; nulls last."),
    },
    description="Direction of one ordering key.",
)

UserErrorCodeEnum: GraphQLEnumType | None = None


@dataclass
class FieldMap:
    """How the fields of one generated level map to block ids."""

    by_name: dict[str, Block] = field(default_factory=dict)
    rows: dict[str, FieldMap] = field(default_factory=dict)
    """Field maps of repeat rows, by the repeat's field name."""


@dataclass(frozen=True)
class AppTypes:
    """Every generated type and root field of one app version."""

    app_id: str
    version: int
    type_name: str
    object_type: GraphQLObjectType
    data_input: GraphQLInputObjectType
    filter_input: GraphQLInputObjectType
    order_input: GraphQLInputObjectType
    connection_type: GraphQLObjectType
    payload_type: GraphQLObjectType
    field_map: FieldMap
    query_fields: dict[str, GraphQLField]
    mutation_fields: dict[str, GraphQLField]
    subscription_fields: dict[str, GraphQLField]

    def data_to_ids(self, data: Mapping[str, Any]) -> dict[str, Any]:
        """Map a data input keyed by field names to one keyed by block ids."""
        return _input_to_ids(data, self.field_map)


def _input_to_ids(data: Mapping[str, Any], field_map: FieldMap) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for name, value in data.items():
        block = field_map.by_name[name]
        rows = field_map.rows.get(name)
        if rows is not None and isinstance(value, list):
            value = [
                _input_to_ids(row, rows) if isinstance(row, Mapping) else row
                for row in value
            ]
        result[block.id] = value
    return result


RootResolvers = Mapping[str, Callable[..., Any]]
"""Resolvers of the generated root fields, by role: ``get``, ``list``,
``create``, ``update``, ``delete``, ``changed``, ``changed_subscribe``."""


class AppTypeBuilder:
    """Builds :class:`AppTypes` for app versions against shared types."""

    def __init__(
        self,
        registry: BlockRegistry,
        library: TypeLibrary,
        shared: Mapping[str, Any],
        resolvers: Callable[[str, AppTypesRef], RootResolvers],
    ) -> None:
        self.registry = registry
        self.library = library
        self.shared = shared
        self.resolvers = resolvers

    def build(
        self,
        app_id: str,
        version: int,
        type_name: str,
        field_prefix: str,
        definition: Definition,
        description: str = "",
    ) -> AppTypes:
        """Build the types and root fields of one app version."""
        ref = AppTypesRef()
        field_map = FieldMap()
        row_names = _RowTypeNames()
        object_type = self._object_type(
            type_name,
            definition.blocks,
            field_map,
            description,
            row_names,
            system=True,
        )
        data_input = self._data_input(f"{type_name}Data", definition.blocks, row_names)
        filter_input = self._filter_input(type_name, definition.blocks, field_map)
        order_input = self._order_input(type_name, definition.blocks)
        edge = GraphQLObjectType(
            f"{type_name}Edge",
            {
                "node": GraphQLField(
                    GraphQLNonNull(object_type), description="Record."
                ),
                "cursor": GraphQLField(
                    GraphQLNonNull(GraphQLString),
                    description="Pass as `after` to continue after this record.",
                ),
            },
            description=f"A {type_name} record in a list.",
        )
        connection = GraphQLObjectType(
            f"{type_name}Connection",
            lambda: {
                "edges": GraphQLField(
                    GraphQLNonNull(GraphQLList(GraphQLNonNull(edge))),
                    description="Records of this page.",
                ),
                "pageInfo": GraphQLField(
                    GraphQLNonNull(self.shared["PageInfo"]),
                    description="Where this page ends.",
                ),
                "totalCount": GraphQLField(
                    GraphQLNonNull(GraphQLInt),
                    description="Number of records matching the filter.",
                    resolve=_resolve_total_count,
                ),
            },
            description=f"A page of {type_name} records.",
        )
        payload = GraphQLObjectType(
            f"{type_name}Payload",
            lambda: {
                "record": GraphQLField(
                    object_type, description="The record; null when errors occurred."
                ),
                "created": GraphQLField(
                    GraphQLBoolean,
                    description="False when an idempotency key matched an "
                    "earlier submission, which is returned instead.",
                ),
                "errors": GraphQLField(
                    GraphQLNonNull(
                        GraphQLList(GraphQLNonNull(self.shared["UserError"]))
                    ),
                    description="What to fix; empty on success.",
                ),
            },
            description=f"Result of a {type_name} mutation.",
        )
        create_input = GraphQLInputObjectType(
            f"{type_name}CreateInput",
            {
                "data": GraphQLInputField(
                    GraphQLNonNull(data_input), description="Values by field."
                ),
                "idempotencyKey": GraphQLInputField(
                    GraphQLString,
                    description=IDEMPOTENCY_KEY_DESCRIPTION,
                ),
                "version": GraphQLInputField(
                    GraphQLInt,
                    description="Definition version the client built the form "
                    "from; defaults to the current version.",
                ),
            },
            description=f"Create a {type_name} record.",
        )
        update_input = GraphQLInputObjectType(
            f"{type_name}UpdateInput",
            {
                "id": GraphQLInputField(GraphQLNonNull(GraphQLID), description="Id."),
                "data": GraphQLInputField(
                    GraphQLNonNull(data_input),
                    description="Values to change; fields left out keep theirs.",
                ),
                "expectedRevision": GraphQLInputField(
                    GraphQLInt,
                    description="Fail with CONFLICT unless the record is at "
                    "this revision.",
                ),
                "version": GraphQLInputField(
                    GraphQLInt, description="Definition version to validate against."
                ),
            },
            description=f"Change a {type_name} record.",
        )
        resolvers = self.resolvers(app_id, ref)
        query_fields = {
            field_prefix: GraphQLField(
                object_type,
                args={
                    "id": GraphQLArgument(GraphQLNonNull(GraphQLID), description="Id.")
                },
                resolve=resolvers["get"],
                description=f"One {type_name} record by id.",
            ),
            f"{field_prefix}Records": GraphQLField(
                GraphQLNonNull(connection),
                args={
                    "where": GraphQLArgument(filter_input, description="Filter."),
                    "orderBy": GraphQLArgument(
                        GraphQLList(GraphQLNonNull(order_input)),
                        description="Ordering keys, first one first.",
                    ),
                    "first": GraphQLArgument(
                        GraphQLInt, description="Page size; default 50."
                    ),
                    "after": GraphQLArgument(
                        GraphQLString, description="Cursor of the last record seen."
                    ),
                },
                resolve=resolvers["list"],
                description=f"{type_name} records the caller may read.",
            ),
        }
        mutation_fields = {
            f"{field_prefix}Create": GraphQLField(
                GraphQLNonNull(payload),
                args={"input": GraphQLArgument(GraphQLNonNull(create_input))},
                resolve=resolvers["create"],
                description=f"Submit a new {type_name} record.",
            ),
            f"{field_prefix}Update": GraphQLField(
                GraphQLNonNull(payload),
                args={"input": GraphQLArgument(GraphQLNonNull(update_input))},
                resolve=resolvers["update"],
                description=f"Change fields of a {type_name} record.",
            ),
            f"{field_prefix}Delete": GraphQLField(
                GraphQLNonNull(payload),
                args={"id": GraphQLArgument(GraphQLNonNull(GraphQLID))},
                resolve=resolvers["delete"],
                description=f"Delete a {type_name} record.",
            ),
        }
        event_type = GraphQLObjectType(
            f"{type_name}Change",
            {
                "kind": GraphQLField(
                    GraphQLNonNull(self.shared["RecordChangeKind"]),
                    description="What happened.",
                ),
                "recordId": GraphQLField(
                    GraphQLNonNull(GraphQLID), description="Record id."
                ),
                "record": GraphQLField(
                    object_type, description="The record; null after a deletion."
                ),
            },
            description=f"A created, updated or deleted {type_name} record.",
        )
        subscription_fields = {
            f"{field_prefix}Changed": GraphQLField(
                GraphQLNonNull(event_type),
                subscribe=resolvers["changed_subscribe"],
                resolve=resolvers["changed"],
                description=f"{type_name} records as they change.",
            )
        }
        types = AppTypes(
            app_id=app_id,
            version=version,
            type_name=type_name,
            object_type=object_type,
            data_input=data_input,
            filter_input=filter_input,
            order_input=order_input,
            connection_type=connection,
            payload_type=payload,
            field_map=field_map,
            query_fields=query_fields,
            mutation_fields=mutation_fields,
            subscription_fields=subscription_fields,
        )
        ref.types = types
        return types

    # Output types ----------------------------------------------------------

    def _object_type(
        self,
        type_name: str,
        blocks: Sequence[Block],
        field_map: FieldMap,
        description: str,
        row_names: _RowTypeNames,
        *,
        system: bool,
    ) -> GraphQLObjectType:
        def fields() -> dict[str, GraphQLField]:
            result: dict[str, GraphQLField] = {}
            if system:
                result.update(self.shared["system_fields"])
            for block in _value_blocks(blocks, self.registry):
                result[block.field_name] = self._output_field(
                    type_name, block, field_map, row_names
                )
            return result

        return GraphQLObjectType(
            type_name, fields, description=description or f"A {type_name} record."
        )

    def _output_field(
        self,
        type_name: str,
        block: Block,
        field_map: FieldMap,
        row_names: _RowTypeNames,
    ) -> GraphQLField:
        block_type = self.registry[block.type]
        field_map.by_name[block.field_name] = block
        output: GraphQLOutputType
        if block_type.role is BlockRole.REPEAT:
            row_map = FieldMap()
            field_map.rows[block.field_name] = row_map
            row_type = self._object_type(
                row_names.name(type_name, block.field_name, "Row"),
                block.children,
                row_map,
                f"One row of {block.field_name}.",
                row_names,
                system=False,
            )
            output = GraphQLList(GraphQLNonNull(row_type))
        else:
            output = block_type.output_type(block, self.library)
        resolve = None
        if block.field_name != block.id or block_type.has_custom_output:
            resolve = _value_resolver(block, block_type.to_output)
        return GraphQLField(
            output, resolve=resolve, description=_describe(block, block_type.label)
        )

    # Input types -----------------------------------------------------------

    def _data_input(
        self, name: str, blocks: Sequence[Block], row_names: _RowTypeNames
    ) -> GraphQLInputObjectType:
        def fields() -> dict[str, GraphQLInputField]:
            result: dict[str, GraphQLInputField] = {}
            for block in _value_blocks(blocks, self.registry):
                block_type = self.registry[block.type]
                input_type: GraphQLInputType | None
                if block_type.role is BlockRole.REPEAT:
                    row = self._data_input(
                        row_names.name(
                            name[: -len("Data")], block.field_name, "RowData"
                        ),
                        block.children,
                        row_names,
                    )
                    input_type = GraphQLList(GraphQLNonNull(row))
                elif block_type.role in (BlockRole.COMPUTED, BlockRole.ASSIGNED):
                    continue
                else:
                    input_type = block_type.input_type(block, self.library)
                if input_type is None:
                    continue
                result[block.field_name] = GraphQLInputField(
                    input_type, description=_describe(block, block_type.label)
                )
            return result

        return GraphQLInputObjectType(
            name, fields, description="Values by field; the server validates them."
        )

    def _filter_input(
        self, type_name: str, blocks: Sequence[Block], field_map: FieldMap
    ) -> GraphQLInputObjectType:
        name = f"{type_name}Filter"

        def fields() -> dict[str, GraphQLInputField]:
            this = self_type
            result: dict[str, GraphQLInputField] = {
                "_and": GraphQLInputField(
                    GraphQLList(GraphQLNonNull(this)), description="All of these."
                ),
                "_or": GraphQLInputField(
                    GraphQLList(GraphQLNonNull(this)), description="Any of these."
                ),
                "_not": GraphQLInputField(this, description="Not this."),
                "id": GraphQLInputField(
                    self.library.scalar_filter(Operand.TEXT), description="Record id."
                ),
                "createdAt": GraphQLInputField(
                    self.library.scalar_filter(Operand.DATETIME),
                    description="Creation time.",
                ),
                "updatedAt": GraphQLInputField(
                    self.library.scalar_filter(Operand.DATETIME),
                    description="Last change time.",
                ),
                "createdBy": GraphQLInputField(
                    self.library.scalar_filter(Operand.TEXT),
                    description="User who created the record.",
                ),
            }
            for block in _value_blocks(blocks, self.registry):
                block_type = self.registry[block.type]
                if block_type.role is BlockRole.REPEAT:
                    continue
                filter_type = block_type.filter_type(block, self.library)
                if filter_type is not None:
                    result[block.field_name] = GraphQLInputField(
                        filter_type, description=_describe(block, block_type.label)
                    )
            return result

        self_type = GraphQLInputObjectType(
            name,
            fields,
            description=f"Conditions on {type_name} records; all given must hold.",
        )
        return self_type

    def _order_input(
        self, type_name: str, blocks: Sequence[Block]
    ) -> GraphQLInputObjectType:
        def fields() -> dict[str, GraphQLInputField]:
            result = {
                name: GraphQLInputField(SortDirection, description=text)
                for name, text in (
                    ("createdAt", "Creation time."),
                    ("updatedAt", "Last change time."),
                )
            }
            for block in _value_blocks(blocks, self.registry):
                block_type = self.registry[block.type]
                operand = block_type.block_operand(block)
                if block_type.role is BlockRole.REPEAT or operand is None:
                    continue
                result[block.field_name] = GraphQLInputField(
                    SortDirection, description=_describe(block, block_type.label)
                )
            return result

        return GraphQLInputObjectType(
            f"{type_name}OrderBy",
            fields,
            description="One ordering key: set exactly one field.",
        )


class _RowTypeNames:
    """Row type names of one app version, unique within it.

    PascalCase maps distinct field names such as ``r`` and ``R`` (or ``a_b``
    and ``aB``) to one name, so a name already given gets ``_2``, ``_3``...
    appended. A base name always ends with ``Row`` or ``RowData``, so a
    suffixed name cannot equal another base name. The names depend on the
    order in which the schema first asks for the row types, which is the
    order of the blocks, so one definition always gets the same names.
    """

    def __init__(self) -> None:
        self._given: dict[tuple[str, str, str], str] = {}
        self._used: set[str] = set()

    def name(self, parent: str, field_name: str, suffix: str) -> str:
        """Return the type name of the rows of ``field_name`` under ``parent``."""
        key = (parent, field_name, suffix)
        given = self._given.get(key)
        if given is not None:
            return given
        base = f"{parent}{_pascal(field_name)}{suffix}"
        name = base
        number = 2
        while name in self._used:
            name = f"{base}_{number}"
            number += 1
        self._used.add(name)
        self._given[key] = name
        return name


class AppTypesRef:
    """Late reference from resolvers to the :class:`AppTypes` they belong to."""

    types: AppTypes | None = None

    def get(self) -> AppTypes:
        """Return the types; they exist once the build finished."""
        if self.types is None:
            raise RuntimeError("App types are used before their build finished.")
        return self.types


_SYSTEM_FILTERS = {
    "id": ("$id", Operand.TEXT),
    "createdAt": ("$created_at", Operand.DATETIME),
    "updatedAt": ("$updated_at", Operand.DATETIME),
    "createdBy": ("$created_by", Operand.TEXT),
}


def compile_where(
    where: Mapping[str, Any] | None, types: AppTypes, registry: BlockRegistry
) -> FilterNode | None:
    """Compile a ``<App>Filter`` argument value into a filter node."""
    if not where:
        return None
    return _compile_where(where, types.field_map, registry)


def _compile_where(
    where: Mapping[str, Any], field_map: FieldMap, registry: BlockRegistry
) -> FilterNode:
    nodes: list[FilterNode] = []
    for name, value in where.items():
        if value is None:
            continue
        if name == "_and":
            nodes.append(
                And(tuple(_compile_where(v, field_map, registry) for v in value))
            )
        elif name == "_or":
            nodes.append(
                Or(tuple(_compile_where(v, field_map, registry) for v in value))
            )
        elif name == "_not":
            nodes.append(Not(_compile_where(value, field_map, registry)))
        elif name in _SYSTEM_FILTERS:
            column, operand = _SYSTEM_FILTERS[name]
            nodes.append(compile_scalar_filter((column,), operand, value))
        else:
            block = field_map.by_name[name]
            path: FieldPath = (block.id,)
            nodes.append(registry[block.type].compile_filter(block, path, value))
    return all_of(nodes)


def compile_order(
    order: Sequence[Mapping[str, Any]] | None,
    types: AppTypes,
    registry: BlockRegistry,
) -> list[OrderBy]:
    """Compile ``orderBy`` keys; raises ValueError unless each sets one field."""
    keys: list[OrderBy] = []
    for index, item in enumerate(order or ()):
        set_fields = [(k, v) for k, v in item.items() if v is not None]
        if len(set_fields) != 1:
            raise ValueError(
                f"orderBy[{index}] sets {len(set_fields)} fields; set exactly one, "
                "for example {createdAt: DESC}."
            )
        name, direction = set_fields[0]
        descending = direction == "DESC"
        if name in ("createdAt", "updatedAt"):
            column = "$created_at" if name == "createdAt" else "$updated_at"
            keys.append(OrderBy((column,), descending, Operand.DATETIME))
            continue
        block = types.field_map.by_name[name]
        operand = registry[block.type].block_operand(block) or Operand.TEXT
        keys.append(OrderBy((block.id,), descending, operand))
    return keys


def _value_blocks(blocks: Sequence[Block], registry: BlockRegistry) -> list[Block]:
    """Return blocks that have a value on this level, flattening sections."""
    result: list[Block] = []
    for block in blocks:
        block_type = registry[block.type]
        if block_type.role is BlockRole.SECTION:
            result.extend(_value_blocks(block.children, registry))
        elif block_type.role is not BlockRole.DISPLAY:
            result.append(block)
    return result


def _value_resolver(
    block: Block, to_output: Callable[[Block, Any], Any]
) -> Callable[[Any, GraphQLResolveInfo[Any]], Any]:
    block_id = block.id

    def resolve(source: Any, _info: GraphQLResolveInfo[Any]) -> Any:
        stored = source.get(block_id)
        return None if stored is None else to_output(block, stored)

    return resolve


def _resolve_total_count(source: Any, info: GraphQLResolveInfo[Any]) -> Any:
    return source["totalCount"]()


def _describe(block: Block, type_label: str) -> str:
    label = next(iter(block.label.values()), "") if block.label else ""
    text = f"{label} ({type_label})" if label else type_label
    return text


def _pascal(name: str) -> str:
    parts = [p for p in name.replace("-", "_").split("_") if p]
    return "".join(p[:1].upper() + p[1:] for p in parts) or "Field"


__all__ = [
    "AppTypeBuilder",
    "AppTypes",
    "AppTypesRef",
    "SortDirection",
    "compile_order",
    "compile_where",
    "GraphQLID",
]
