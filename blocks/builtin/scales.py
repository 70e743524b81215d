"""Bounded number block types: ``counter``, ``slider`` and ``rating``."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any, ClassVar

from graphql import GraphQLInputType, GraphQLInt, GraphQLOutputType

from blocks.base import BlockType, ConfigContext, IndexKind, ValueContext
from blocks.builtin._support import (
    config_problem,
    format_decimal,
    is_step_aligned,
    numeric_schema,
    object_schema,
    to_decimal,
    to_integer,
)
from blocks.builtin.number import check_bounds, check_config_bounds
from blocks.definition import Block
from blocks.errors import ErrorCode, Problem, ValueProblem
from blocks.filters import Operand
from blocks.types import TypeLibrary

MAX_RATING = 10


class CounterBlockType(BlockType):
    """A whole number changed in steps, such as a tally of seedlings."""

    name = "counter"
    label = "Counter"
    description = "A whole number counted up or down in steps."
    value_type = "BigInt"
    index_kind = IndexKind.NUMBER
    operand = Operand.NUMBER

    config_schema: ClassVar[Mapping[str, Any]] = object_schema(
        {
            "min": {
                "type": "integer",
                "default": 0,
                "description": "Smallest allowed value, inclusive; default 0.",
            },
            "max": {
                "type": "integer",
                "description": "Largest allowed value, inclusive.",
            },
            "step": {
                "type": "integer",
                "minimum": 1,
                "default": 1,
                "description": "Values are min plus a multiple of step; default 1.",
            },
        }
    )

    def validate_config(self, block: Block, context: ConfigContext) -> list[Problem]:
        """Check the schema and that min <= max."""
        problems = super().validate_config(block, context)
        if problems:
            return problems
        return check_config_bounds({"min": 0, **block.config})

    def output_type(self, block: Block, types: TypeLibrary) -> GraphQLOutputType:
        """Return ``BigInt``."""
        return types.bigint

    def input_type(self, block: Block, types: TypeLibrary) -> GraphQLInputType | None:
        """Return ``BigInt``."""
        return types.bigint

    async def normalize(self, block: Block, value: Any, context: ValueContext) -> Any:
        """Check the count against min, max and step; return it as an int."""
        count = to_integer(value)
        start = block.config.get("min", 0)
        step = block.config.get("step", 1)
        check_bounds({"min": start, **block.config}, Decimal(count))
        if (count - start) % step != 0:
            raise ValueProblem(
                ErrorCode.INVALID,
                f"Expected {start} plus a multiple of {step}, got {count}.",
            )
        return count

    def is_empty(self, stored: Any) -> bool:
        """Return whether nothing is stored; zero is a value."""
        return stored is None


class SliderBlockType(BlockType):
    """A decimal picked on a bounded scale, stored as a decimal string."""

    name = "slider"
    label = "Slider"
    description = "A number picked on a scale between two bounds."
    value_type = "Decimal"
    index_kind = IndexKind.NUMBER
    operand = Operand.NUMBER
    xlsform_types = ("range",)

    config_schema: ClassVar[Mapping[str, Any]] = object_schema(
        {
            "min": numeric_schema("Smallest value of the scale, inclusive."),
            "max": numeric_schema("Largest value of the scale, inclusive."),
            "step": numeric_schema(
                "Values are min plus a multiple of step; any value when not set."
            ),
        },
        required=("min", "max"),
    )

    def validate_config(self, block: Block, context: ConfigContext) -> list[Problem]:
        """Check the schema, that min < max, and that step is positive."""
        problems = super().validate_config(block, context)
        if problems:
            return problems
        low = to_decimal(block.config["min"])
        high = to_decimal(block.config["max"])
        if low >= high:
            problems.append(
                config_problem(
                    ("min",),
                    f"The min {format_decimal(low)} must be less than the max "
                    f"{format_decimal(high)}.",
                )
            )
        step = block.config.get("step")
        if step is not None and to_decimal(step) <= 0:
            problems.append(
                config_problem(
                    ("step",),
                    f"The step must be greater than 0, got {step}.",
                )
            )
        return problems

    def output_type(self, block: Block, types: TypeLibrary) -> GraphQLOutputType:
        """Return ``Decimal``."""
        return types.decimal

    def input_type(self, block: Block, types: TypeLibrary) -> GraphQLInputType | None:
        """Return ``Decimal``."""
        return types.decimal

    async def normalize(self, block: Block, value: Any, context: ValueContext) -> Any:
        """Check the value against min, max and step; return a decimal string."""
        number = to_decimal(value)
        check_bounds(block.config, number)
        step = block.config.get("step")
        if step is not None:
            start = to_decimal(block.config["min"])
            step_value = to_decimal(step)
            if not is_step_aligned(number, start, step_value):
                raise ValueProblem(
                    ErrorCode.INVALID,
                    f"Expected {format_decimal(start)} plus a multiple of "
                    f"{format_decimal(step_value)}, got {format_decimal(number)}.",
                )
        return format_decimal(number)

    def is_empty(self, stored: Any) -> bool:
        """Return whether nothing is stored; zero is a value."""
        return stored is None

    def to_expression(self, block: Block, stored: Any) -> Any:
        """Return the stored value as an exact Decimal."""
        return None if stored is None else Decimal(stored)

    def index_value(self, block: Block, stored: Any) -> Any:
        """Return the stored value as an exact Decimal."""
        return None if stored is None else Decimal(stored)


class RatingBlockType(BlockType):
    """A rating from 1 to ``max`` stars."""

    name = "rating"
    label = "Rating"
    description = "A rating from 1 to a maximum of at most 10, such as stars."
    value_type = "Int"
    index_kind = IndexKind.NUMBER
    operand = Operand.NUMBER

    config_schema: ClassVar[Mapping[str, Any]] = object_schema(
        {
            "max": {
                "type": "integer",
                "minimum": 2,
                "maximum": MAX_RATING,
                "default": 5,
                "description": "Highest rating, 2 to 10; default 5.",
            },
        }
    )

    def output_type(self, block: Block, types: TypeLibrary) -> GraphQLOutputType:
        """Return ``Int``."""
        return GraphQLInt

    def input_type(self, block: Block, types: TypeLibrary) -> GraphQLInputType | None:
        """Return ``Int``."""
        return GraphQLInt

    async def normalize(self, block: Block, value: Any, context: ValueContext) -> Any:
        """Check that the rating is from 1 to max; return it as an int."""
        rating = to_integer(value)
        highest = block.config.get("max", 5)
        if not 1 <= rating <= highest:
            raise ValueProblem(
                ErrorCode.OUT_OF_RANGE,
                f"Expected a rating from 1 to {highest}, got {rating}.",
            )
        return rating

    def is_empty(self, stored: Any) -> bool:
        """Return whether nothing is stored."""
        return stored is None
