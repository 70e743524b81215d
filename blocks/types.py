"""Shared GraphQL types for block values and their filters.

Block types build their GraphQL types from this library so that common
scalars and filter inputs exist once per schema. The filter inputs compile to
:mod:`blocks.filters` nodes through the ``compile_*`` functions here.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar

from graphql import (
    FloatValueNode,
    GraphQLBoolean,
    GraphQLError,
    GraphQLField,
    GraphQLID,
    GraphQLInputField,
    GraphQLInputObjectType,
    GraphQLInt,
    GraphQLList,
    GraphQLNamedType,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLScalarType,
    GraphQLString,
    IntValueNode,
    StringValueNode,
    ValueNode,
)

from blocks.filters import (
    Compare,
    FieldPath,
    FilterNode,
    ListCompare,
    ListOperator,
    Not,
    Operand,
    Operator,
    Scalar,
    WithinRadius,
    all_of,
)

T = TypeVar("T", bound=GraphQLNamedType)


def _stored_mismatch(type_name: str, value: str) -> str:
    return (
        f"{type_name} cannot represent the stored text {value!r}; the value "
        "predates a change of the field's block type. Update the record."
    )


def _serialize_decimal(value: Any) -> str:
    # A stored value may predate a change of the block's type, such as text
    # kept from before a text block became a number. Raising here makes the
    # field null with an error instead of returning an invalid Decimal.
    if isinstance(value, bool):
        raise TypeError(f"Decimal cannot represent a boolean: {value!r}")
    if isinstance(value, str):
        try:
            number = Decimal(value)
        except InvalidOperation:
            number = None
        if number is None or not number.is_finite():
            raise GraphQLError(_stored_mismatch("Decimal", value))
        return value
    if isinstance(value, Decimal | int):
        return str(value)
    raise TypeError(f"Decimal cannot represent {value!r}")


def _parse_decimal_value(value: Any) -> Decimal:
    if isinstance(value, bool):
        raise ValueError("Decimal expects a number or a numeric string, got a boolean.")
    try:
        if isinstance(value, float):
            return Decimal(repr(value))
        if isinstance(value, int | str | Decimal):
            return Decimal(value)
    except InvalidOperation:
        pass
    raise ValueError(f"Decimal expects a number or a numeric string, got {value!r}.")


def _parse_decimal_literal(node: ValueNode, _variables: Any = None) -> Decimal:
    if isinstance(node, IntValueNode | FloatValueNode | StringValueNode):
        return _parse_decimal_value(node.value)
    raise ValueError("Decimal expects a number or a numeric string literal.")


DecimalScalar = GraphQLScalarType(
    "Decimal",
    description=(
        "An exact decimal number. Serialized as a string so that no digit is "
        "lost to floating point; accepted as a number or a numeric string."
    ),
    serialize=_serialize_decimal,
    parse_value=_parse_decimal_value,
    parse_literal=_parse_decimal_literal,
)


def _serialize_bigint(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str | Decimal):
        raise TypeError(f"BigInt cannot represent {value!r}")
    return int(value)


def _parse_bigint_value(value: Any) -> int:
    if isinstance(value, bool):
        raise ValueError("BigInt expects an integer, got a boolean.")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("+-").isdigit():
        return int(value)
    raise ValueError(f"BigInt expects an integer or a string of digits, got {value!r}.")


def _parse_bigint_literal(node: ValueNode, _variables: Any = None) -> int:
    if isinstance(node, IntValueNode | StringValueNode):
        return _parse_bigint_value(node.value)
    raise ValueError("BigInt expects an integer literal.")


BigIntScalar = GraphQLScalarType(
    "BigInt",
    description="An integer of any size, exact; serialized as a JSON number.",
    serialize=_serialize_bigint,
    parse_value=_parse_bigint_value,
    parse_literal=_parse_bigint_literal,
)


def serialize_iso(value: Any) -> str:
    """Serialize a date, time or datetime (or an ISO string) as ISO 8601."""
    if isinstance(value, str):
        return value
    if isinstance(value, _dt.date | _dt.time):
        return value.isoformat()
    raise TypeError(f"Expected an ISO 8601 value, got {value!r}")


_ISO_PARSERS: dict[str, Callable[[str], object]] = {
    "Date": _dt.date.fromisoformat,
    "Time": _dt.time.fromisoformat,
    "DateTime": _dt.datetime.fromisoformat,
}


def _iso_serializer(name: str) -> Callable[[Any], str]:
    parse = _ISO_PARSERS[name]

    def serialize(value: Any) -> str:
        # Stored text from before a change of the block's type must not be
        # returned as a date; raising makes the field null with an error.
        if isinstance(value, str):
            try:
                parse(value)
            except ValueError:
                raise GraphQLError(_stored_mismatch(name, value)) from None
            return value
        if isinstance(value, _dt.date | _dt.time):
            return value.isoformat()
        raise TypeError(f"{name} cannot represent {value!r}")

    return serialize


def _string_scalar(name: str, description: str) -> GraphQLScalarType:
    def parse_value(value: Any) -> str:
        if not isinstance(value, str):
            raise ValueError(f"{name} expects a string, got {value!r}.")
        return value

    def parse_literal(node: ValueNode, _variables: Any = None) -> str:
        if not isinstance(node, StringValueNode):
            raise ValueError(f"{name} expects a string literal.")
        return node.value

    return GraphQLScalarType(
        name,
        description=description,
        serialize=_iso_serializer(name),
        parse_value=parse_value,
        parse_literal=parse_literal,
    )


DateScalar = _string_scalar("Date", "A calendar date in ISO 8601: `2026-12-04`.")
TimeScalar = _string_scalar(
    "Time", "A time of day in ISO 8601, with an optional offset: `14:30:00+03:00`."
)
DateTimeScalar = _string_scalar(
    "DateTime",
    "A date and time in ISO 8601 with its offset kept: `2026-12-04T14:30:00+03:00`.",
)


def _parse_json_literal(node: ValueNode, variables: Any = None) -> Any:
    from graphql import value_from_ast_untyped

    return value_from_ast_untyped(node, variables)


JSONScalar = GraphQLScalarType(
    "JSON",
    description="Any JSON value.",
    serialize=lambda value: value,
    parse_value=lambda value: value,
    parse_literal=_parse_json_literal,
)


class TypeLibrary:
    """Named GraphQL types shared by every app of a schema.

    :meth:`named` builds a type once and returns the same object afterwards,
    so two block types (or two apps) asking for ``Money`` share one type.
    """

    def __init__(self, seed: Iterable[GraphQLNamedType] = ()) -> None:
        self._types: dict[str, GraphQLNamedType] = {t.name: t for t in seed}
        for scalar in (
            DecimalScalar,
            BigIntScalar,
            DateScalar,
            TimeScalar,
            DateTimeScalar,
            JSONScalar,
        ):
            self._types.setdefault(scalar.name, scalar)

    def named(self, name: str, factory: Callable[[], T]) -> T:
        """Return the type called ``name``, building it with ``factory`` once."""
        existing = self._types.get(name)
        if existing is None:
            created = factory()
            if created.name != name:
                raise ValueError(f"Factory for {name!r} built {created.name!r}.")
            self._types[name] = created
            return created
        return existing  # type: ignore[return-value]

    def get(self, name: str) -> GraphQLNamedType:
        """Return an existing shared type by name."""
        return self._types[name]

    def all_types(self) -> list[GraphQLNamedType]:
        """Return every type built so far."""
        return list(self._types.values())

    # Scalars --------------------------------------------------------------

    @property
    def decimal(self) -> GraphQLScalarType:
        """Return the exact ``Decimal`` scalar."""
        return self._types["Decimal"]  # type: ignore[return-value]

    @property
    def bigint(self) -> GraphQLScalarType:
        """Return the ``BigInt`` scalar."""
        return self._types["BigInt"]  # type: ignore[return-value]

    @property
    def date(self) -> GraphQLScalarType:
        """Return the ISO 8601 ``Date`` scalar."""
        return self._types["Date"]  # type: ignore[return-value]

    @property
    def time(self) -> GraphQLScalarType:
        """Return the ISO 8601 ``Time`` scalar."""
        return self._types["Time"]  # type: ignore[return-value]

    @property
    def datetime(self) -> GraphQLScalarType:
        """Return the ISO 8601 ``DateTime`` scalar."""
        return self._types["DateTime"]  # type: ignore[return-value]

    @property
    def json(self) -> GraphQLScalarType:
        """Return the JSON scalar of this schema."""
        return self._types["JSON"]  # type: ignore[return-value]

    @property
    def upload(self) -> GraphQLScalarType:
        """Return the scalar of a file part of a GraphQL multipart request."""
        return self.named(
            "Upload",
            lambda: GraphQLScalarType(
                "Upload", description="A file part of a GraphQL multipart request."
            ),
        )

    # Filters --------------------------------------------------------------

    def scalar_filter(self, operand: Operand) -> GraphQLInputObjectType:
        """Return the filter input for values compared as ``operand``."""
        value_type = {
            Operand.TEXT: GraphQLString,
            Operand.NUMBER: self.decimal,
            Operand.BOOLEAN: GraphQLBoolean,
            Operand.DATE: self.date,
            Operand.TIME: self.time,
            Operand.DATETIME: self.datetime,
        }[operand]
        name = {
            Operand.TEXT: "StringFilter",
            Operand.NUMBER: "NumberFilter",
            Operand.BOOLEAN: "BooleanFilter",
            Operand.DATE: "DateFilter",
            Operand.TIME: "TimeFilter",
            Operand.DATETIME: "DateTimeFilter",
        }[operand]
        return self.named(name, lambda: _scalar_filter_type(name, operand, value_type))

    def list_filter(self) -> GraphQLInputObjectType:
        """Return the filter input for a stored list of option values."""
        return self.named("OptionListFilter", _list_filter_type)

    def geo_filter(self) -> GraphQLInputObjectType:
        """Return the filter input for a stored GPS point."""
        return self.named("GeoPointFilter", lambda: _geo_filter_type(self))

    def presence_filter(self) -> GraphQLInputObjectType:
        """Return a filter that only tests whether a value is present."""
        return self.named(
            "PresenceFilter",
            lambda: GraphQLInputObjectType(
                "PresenceFilter",
                {"isNull": GraphQLInputField(GraphQLBoolean, description=_IS_NULL)},
                description="Match records by whether the value is present.",
            ),
        )

    def file_type(self) -> GraphQLObjectType:
        """Return the object type of a stored file."""
        return self.named("File", _file_type)

    def file_input(self) -> GraphQLInputObjectType:
        """Return the input that names an uploaded or existing file."""
        return self.named("FileInput", lambda: _file_input_type(self.upload))


_IS_NULL = "True: the value is absent. False: the value is present."


def _scalar_filter_type(
    name: str, operand: Operand, value_type: GraphQLScalarType
) -> GraphQLInputObjectType:
    fields: dict[str, GraphQLInputField] = {
        "eq": GraphQLInputField(value_type, description="Equal to."),
        "ne": GraphQLInputField(value_type, description="Not equal to."),
        "in": GraphQLInputField(
            GraphQLList(GraphQLNonNull(value_type)), description="Equal to any of."
        ),
        "notIn": GraphQLInputField(
            GraphQLList(GraphQLNonNull(value_type)), description="Equal to none of."
        ),
        "isNull": GraphQLInputField(GraphQLBoolean, description=_IS_NULL),
    }
    if operand is not Operand.BOOLEAN:
        fields["lt"] = GraphQLInputField(value_type, description="Less than.")
        fields["lte"] = GraphQLInputField(value_type, description="At most.")
        fields["gt"] = GraphQLInputField(value_type, description="Greater than.")
        fields["gte"] = GraphQLInputField(value_type, description="At least.")
    if operand is Operand.TEXT:
        fields["contains"] = GraphQLInputField(
            GraphQLString, description="Contains this text, ignoring case."
        )
        fields["startsWith"] = GraphQLInputField(
            GraphQLString, description="Starts with this text, ignoring case."
        )
    return GraphQLInputObjectType(
        name,
        fields,
        description=f"Conditions on a {operand.value} value; all given must hold.",
    )


def _list_filter_type() -> GraphQLInputObjectType:
    values = GraphQLList(GraphQLNonNull(GraphQLString))
    return GraphQLInputObjectType(
        "OptionListFilter",
        {
            "has": GraphQLInputField(GraphQLString, description="Includes this value."),
            "hasAny": GraphQLInputField(values, description="Includes any of these."),
            "hasAll": GraphQLInputField(values, description="Includes all of these."),
            "isNull": GraphQLInputField(GraphQLBoolean, description=_IS_NULL),
        },
        description="Conditions on a list of selected option values.",
    )


def _geo_filter_type(library: TypeLibrary) -> GraphQLInputObjectType:
    radius = library.named(
        "RadiusInput",
        lambda: GraphQLInputObjectType(
            "RadiusInput",
            {
                "lat": GraphQLInputField(
                    GraphQLNonNull(DecimalScalar), description="Latitude, degrees."
                ),
                "lng": GraphQLInputField(
                    GraphQLNonNull(DecimalScalar), description="Longitude, degrees."
                ),
                "meters": GraphQLInputField(
                    GraphQLNonNull(DecimalScalar), description="Radius in metres."
                ),
            },
            description="A circle on the Earth's surface.",
        ),
    )
    return GraphQLInputObjectType(
        "GeoPointFilter",
        {
            "withinRadius": GraphQLInputField(
                radius, description="The point lies inside this circle."
            ),
            "isNull": GraphQLInputField(GraphQLBoolean, description=_IS_NULL),
        },
        description="Conditions on a GPS point.",
    )


def _file_type() -> GraphQLObjectType:
    return GraphQLObjectType(
        "File",
        {
            "id": GraphQLField(GraphQLNonNull(GraphQLID), description="File id."),
            "filename": GraphQLField(GraphQLString, description="Name at upload."),
            "contentType": GraphQLField(
                GraphQLNonNull(GraphQLString),
                description="Media type sniffed from the bytes.",
                resolve=lambda v, _i: v.get("content_type"),
            ),
            "size": GraphQLField(
                GraphQLNonNull(GraphQLInt), description="Size in bytes."
            ),
            "sha256": GraphQLField(
                GraphQLNonNull(GraphQLString), description="SHA-256, hex."
            ),
            "url": GraphQLField(
                GraphQLNonNull(GraphQLString),
                description="Path to download the bytes with the same token.",
                resolve=lambda v, _i: f"/files/{v['id']}",
            ),
        },
        description="A file stored for a media, signature or file block.",
    )


def _file_input_type(upload: GraphQLScalarType) -> GraphQLInputObjectType:
    return GraphQLInputObjectType(
        "FileInput",
        {
            "upload": GraphQLInputField(
                upload, description="A file sent in this multipart request."
            ),
            "fileId": GraphQLInputField(
                GraphQLID, description="A file already stored in this workspace."
            ),
        },
        description="Exactly one of `upload` or `fileId`.",
    )


_SCALAR_OPERATORS = {
    "eq": Operator.EQ,
    "ne": Operator.NE,
    "lt": Operator.LT,
    "lte": Operator.LTE,
    "gt": Operator.GT,
    "gte": Operator.GTE,
    "contains": Operator.CONTAINS,
    "startsWith": Operator.STARTS_WITH,
}


def compile_scalar_filter(
    path: FieldPath, operand: Operand, conditions: Mapping[str, Any]
) -> FilterNode:
    """Compile a ``*Filter`` input value into one filter node."""
    nodes: list[FilterNode] = []
    for key, value in conditions.items():
        if value is None:
            continue
        if key == "isNull":
            nodes.append(Compare(path, Operator.IS_NULL, bool(value), operand))
        elif key in ("in", "notIn"):
            operator = Operator.IN if key == "in" else Operator.NOT_IN
            for item in value:
                _check_filter_value(path, key, operand, item)
            nodes.append(Compare(path, operator, tuple(value), operand))
        elif key in _SCALAR_OPERATORS:
            _check_filter_value(path, key, operand, value)
            nodes.append(Compare(path, _SCALAR_OPERATORS[key], value, operand))
        else:
            raise ValueError(f"Unknown filter operator {key!r}.")
    return all_of(nodes)


_FILTER_FORMATS: dict[Operand, tuple[Callable[[str], object], str]] = {
    Operand.DATE: (_dt.date.fromisoformat, "an ISO 8601 date such as 2026-12-04"),
    Operand.TIME: (_dt.time.fromisoformat, "an ISO 8601 time such as 14:30:00"),
    Operand.DATETIME: (
        _dt.datetime.fromisoformat,
        "an ISO 8601 date and time with an offset such as 2026-12-04T14:30:00+03:00",
    ),
}


def _check_filter_value(
    path: FieldPath, key: str, operand: Operand, value: object
) -> None:
    """Raise ValueError when a date or time filter value cannot be compared.

    Such values are compared as text, so an invalid one would silently match
    nothing instead of failing.
    """
    checked = _FILTER_FORMATS.get(operand)
    if checked is None or not isinstance(value, str):
        return
    parse, expected = checked
    try:
        parse(value)
    except ValueError:
        field = ".".join(str(part).lstrip("$") for part in path)
        raise ValueError(
            f"The filter {field}.{key} has the invalid value {value!r}; "
            f"expected {expected}."
        ) from None


def compile_list_filter(path: FieldPath, conditions: Mapping[str, Any]) -> FilterNode:
    """Compile an ``OptionListFilter`` input value into one filter node."""
    nodes: list[FilterNode] = []
    for key, value in conditions.items():
        if value is None:
            continue
        if key == "isNull":
            node: FilterNode = Compare(path, Operator.IS_NULL, True)
            nodes.append(node if value else Not(node))
        elif key == "has":
            nodes.append(ListCompare(path, ListOperator.HAS, (value,)))
        elif key == "hasAny":
            nodes.append(ListCompare(path, ListOperator.HAS_ANY, tuple(value)))
        elif key == "hasAll":
            nodes.append(ListCompare(path, ListOperator.HAS_ALL, tuple(value)))
        else:
            raise ValueError(f"Unknown filter operator {key!r}.")
    return all_of(nodes)


def compile_geo_filter(path: FieldPath, conditions: Mapping[str, Any]) -> FilterNode:
    """Compile a ``GeoPointFilter`` input value into one filter node."""
    nodes: list[FilterNode] = []
    for key, value in conditions.items():
        if value is None:
            continue
        if key == "isNull":
            node: FilterNode = Compare(path, Operator.IS_NULL, True)
            nodes.append(node if value else Not(node))
        elif key == "withinRadius":
            _check_radius(path, value)
            nodes.append(
                WithinRadius(
                    path,
                    Decimal(value["lat"]),
                    Decimal(value["lng"]),
                    Decimal(value["meters"]),
                )
            )
        else:
            raise ValueError(f"Unknown filter operator {key!r}.")
    return all_of(nodes)


def _check_radius(path: FieldPath, value: Mapping[str, Any]) -> None:
    field = ".".join(str(part) for part in path)
    limits = (("lat", 90), ("lng", 180))
    for key, limit in limits:
        number = Decimal(value[key])
        if not -limit <= number <= limit:
            raise ValueError(
                f"The filter {field}.withinRadius has {key} {number}; expected "
                f"degrees from -{limit} to {limit}."
            )
    meters = Decimal(value["meters"])
    if not meters >= 0:
        raise ValueError(
            f"The filter {field}.withinRadius has meters {meters}; expected a "
            "radius of 0 or more metres."
        )


def compile_presence_filter(
    path: FieldPath, conditions: Mapping[str, Any]
) -> FilterNode:
    """Compile a ``PresenceFilter`` input value into one filter node."""
    value = conditions.get("isNull")
    if value is None:
        return all_of([])
    node: FilterNode = Compare(path, Operator.IS_NULL, True)
    return node if value else Not(node)


__all__ = [
    "BigIntScalar",
    "DateScalar",
    "DateTimeScalar",
    "DecimalScalar",
    "JSONScalar",
    "Scalar",
    "TimeScalar",
    "TypeLibrary",
    "compile_geo_filter",
    "compile_list_filter",
    "compile_presence_filter",
    "compile_scalar_filter",
]
