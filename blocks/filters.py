"""The typed filter AST that GraphQL filter inputs compile to.

Store backends translate these nodes into their own query language (SQL with
bound parameters, a MongoDB query document). Values are never spliced into
query text.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

FieldPath = tuple[str, ...]
"""Keys from the record's data root down to a stored scalar, or one of
:data:`RECORD_COLUMNS` alone."""

RECORD_COLUMNS = frozenset(
    {"$id", "$created_at", "$updated_at", "$created_by", "$updated_by"}
)
"""One-key paths that name a record's own fields instead of its data. Block
ids cannot start with ``$``, so these never clash with data keys."""

Scalar = str | int | Decimal | bool | None


class Operand(StrEnum):
    """How a stored value compares: decides casts in the backend."""

    TEXT = "text"
    NUMBER = "number"
    BOOLEAN = "boolean"
    DATE = "date"
    TIME = "time"
    DATETIME = "datetime"


class Operator(StrEnum):
    """Comparison operators of :class:`Compare`."""

    EQ = "eq"
    NE = "ne"
    IN = "in"
    NOT_IN = "not_in"
    LT = "lt"
    LTE = "lte"
    GT = "gt"
    GTE = "gte"
    CONTAINS = "contains"
    STARTS_WITH = "starts_with"
    IS_NULL = "is_null"


class ListOperator(StrEnum):
    """Operators on a stored list of scalars (multi select)."""

    HAS = "has"
    HAS_ANY = "has_any"
    HAS_ALL = "has_all"


@dataclass(frozen=True)
class Compare:
    """Compare the scalar at ``path`` with ``value``.

    ``IN`` and ``NOT_IN`` take a tuple of scalars; ``IS_NULL`` takes a bool;
    ``CONTAINS`` and ``STARTS_WITH`` are case-insensitive on text.
    """

    path: FieldPath
    operator: Operator
    value: Scalar | tuple[Scalar, ...]
    operand: Operand = Operand.TEXT


@dataclass(frozen=True)
class ListCompare:
    """Test the list of scalars at ``path`` against ``values``."""

    path: FieldPath
    operator: ListOperator
    values: tuple[Scalar, ...]


@dataclass(frozen=True)
class WithinRadius:
    """Match a stored point ``{lat, lng}`` at ``path`` within ``meters``."""

    path: FieldPath
    lat: Decimal
    lng: Decimal
    meters: Decimal


@dataclass(frozen=True)
class And:
    """All of ``nodes`` match; an empty ``And`` matches everything."""

    nodes: tuple[FilterNode, ...]


@dataclass(frozen=True)
class Or:
    """Any of ``nodes`` matches; an empty ``Or`` matches nothing."""

    nodes: tuple[FilterNode, ...]


@dataclass(frozen=True)
class Not:
    """``node`` does not match."""

    node: FilterNode


FilterNode = Compare | ListCompare | WithinRadius | And | Or | Not

MATCH_ALL = And(())


def all_of(nodes: Sequence[FilterNode]) -> FilterNode:
    """Return one node matching when all ``nodes`` match."""
    if len(nodes) == 1:
        return nodes[0]
    return And(tuple(nodes))


@dataclass(frozen=True)
class OrderBy:
    """One ordering key: a stored scalar, compared as ``operand``."""

    path: FieldPath
    descending: bool = False
    operand: Operand = Operand.TEXT
