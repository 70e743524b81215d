"""The ``number`` block type: exact integers or exact decimals."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any, ClassVar

from graphql import GraphQLInputType, GraphQLOutputType

from blocks.base import BlockType, ConfigContext, IndexKind, ValueContext
from blocks.builtin._support import (
    config_problem,
    decimal_places,
    format_decimal,
    numeric_schema,
    object_schema,
    to_decimal,
    to_integer,
)
from blocks.definition import Block
from blocks.errors import ErrorCode, Problem, ValueProblem
from blocks.filters import Operand
from blocks.types import TypeLibrary

INTEGER = "integer"
DECIMAL = "decimal"


def check_bounds(config: Mapping[str, Any], number: Decimal) -> None:
    """Raise ``OUT_OF_RANGE`` unless ``number`` lies within the config's min/max."""
    low = config.get("min")
    high = config.get("max")
    low_value = None if low is None else to_decimal(low)
    high_value = None if high is None else to_decimal(high)
    below = low_value is not None and number < low_value
    above = high_value is not None and number > high_value
    if below or above:
        expected = _range_text(low_value, high_value)
        raise ValueProblem(
            ErrorCode.OUT_OF_RANGE,
            f"Expected a number {expected}, got {format_decimal(number)}.",
        )


def _range_text(low: Decimal | None, high: Decimal | None) -> str:
    if low is not None and high is not None:
        return f"from {format_decimal(low)} to {format_decimal(high)}"
    if low is not None:
        return f"of at least {format_decimal(low)}"
    assert high is not None
    return f"of at most {format_decimal(high)}"


def check_config_bounds(config: Mapping[str, Any]) -> list[Problem]:
    """Return a problem when the config's ``min`` is greater than its ``max``."""
    low = config.get("min")
    high = config.get("max")
    if low is None or high is None:
        return []
    if to_decimal(low) > to_decimal(high):
        return [
            config_problem(
                ("min",),
                f"The min {low} is greater than the max {high}; swap them.",
            )
        ]
    return []


class NumberBlockType(BlockType):
    """An exact number: an int of any size, or a decimal stored as a string.

    Decimals are stored as strings in fixed notation without trailing zeros,
    such as ``"0.1"``, so that no digit is lost to floating point.
    """

    name = "number"
    label = "Number"
    description = "An exact whole or decimal number, with optional limits."
    value_type = "Decimal"
    index_kind = IndexKind.NUMBER
    operand = Operand.NUMBER
    xlsform_types = ("integer", "decimal", "range")

    config_schema: ClassVar[Mapping[str, Any]] = object_schema(
        {
            "kind": {
                "enum": [INTEGER, DECIMAL],
                "default": DECIMAL,
                "description": (
                    "integer: whole numbers of any size (GraphQL BigInt). "
                    "decimal: exact decimals (GraphQL Decimal). Default decimal."
                ),
            },
            "min": numeric_schema("Smallest allowed value, inclusive."),
            "max": numeric_schema("Largest allowed value, inclusive."),
            "decimal_places": {
                "type": "integer",
                "minimum": 0,
                "maximum": 100,
                "description": (
                    "Maximum number of digits after the decimal point; "
                    "decimal kind only."
                ),
            },
        }
    )

    def validate_config(self, block: Block, context: ConfigContext) -> list[Problem]:
        """Check the schema, that min <= max, and that decimal_places fits the kind."""
        problems = super().validate_config(block, context)
        if problems:
            return problems
        problems.extend(check_config_bounds(block.config))
        if self.is_integer(block) and "decimal_places" in block.config:
            problems.append(
                config_problem(
                    ("decimal_places",),
                    "An integer number block has no decimal places; remove "
                    "decimal_places or set kind to decimal.",
                )
            )
        return problems

    def is_integer(self, block: Block) -> bool:
        """Return whether ``block`` stores integers rather than decimals."""
        return bool(block.config.get("kind", DECIMAL) == INTEGER)

    def output_type(self, block: Block, types: TypeLibrary) -> GraphQLOutputType:
        """Return BigInt for the integer kind and Decimal for the decimal kind."""
        return types.bigint if self.is_integer(block) else types.decimal

    def input_type(self, block: Block, types: TypeLibrary) -> GraphQLInputType | None:
        """Return BigInt for the integer kind and Decimal for the decimal kind."""
        return types.bigint if self.is_integer(block) else types.decimal

    async def normalize(self, block: Block, value: Any, context: ValueContext) -> Any:
        """Check the number and return an int or a normalized decimal string.

        Raises:
            ValueProblem: ``INVALID_TYPE`` for a non-number, ``INVALID`` for a
                fraction given to an integer block, too many decimal places,
                NaN or infinity, ``OUT_OF_RANGE`` outside min/max.
        """
        if self.is_integer(block):
            integer = to_integer(value)
            check_bounds(block.config, Decimal(integer))
            return integer
        number = to_decimal(value)
        limit = block.config.get("decimal_places")
        if limit is not None and decimal_places(number) > limit:
            raise ValueProblem(
                ErrorCode.INVALID,
                f"Expected at most {limit} digits after the decimal point, got "
                f"{format_decimal(number)}; round the value.",
            )
        check_bounds(block.config, number)
        return format_decimal(number)

    def is_empty(self, stored: Any) -> bool:
        """Return whether nothing is stored; zero is a value."""
        return stored is None

    def to_expression(self, block: Block, stored: Any) -> Any:
        """Return the stored number as an int or an exact Decimal."""
        return _stored_number(stored)

    def index_value(self, block: Block, stored: Any) -> Any:
        """Return the stored number as an int or an exact Decimal."""
        return _stored_number(stored)


def _stored_number(stored: Any) -> int | Decimal | None:
    if stored is None or isinstance(stored, int):
        return stored
    return Decimal(stored)
