"""Container block types: ``section`` groups blocks, ``repeat`` repeats them.

The schema builder builds their GraphQL types from the children: a section's
children appear on the app type itself, and a repeat becomes a list of a row
type. So these block types build no GraphQL type of their own.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from graphql import GraphQLInputType, GraphQLOutputType

from blocks.base import BlockRole, BlockType, ConfigContext, IndexKind, ValueContext
from blocks.builtin._expressions import check_expression
from blocks.builtin._support import config_problem, object_schema
from blocks.definition import Block
from blocks.errors import ErrorCode, Problem, ValueProblem
from blocks.types import TypeLibrary

DEFAULT_MAX_ROWS = 1000
MAX_ROWS_LIMIT = 10_000
"""Largest ``max_rows`` a repeat may set; bounds the size of one record."""


class _ContainerBlockType(BlockType):
    index_kind = IndexKind.NONE
    operand = None

    def output_type(self, block: Block, types: TypeLibrary) -> GraphQLOutputType:
        """Raise NotImplementedError: the schema builder builds container types."""
        raise NotImplementedError(
            f"A {self.name} block has no GraphQL type of its own; the schema "
            "builder builds it from the block's children."
        )

    def input_type(self, block: Block, types: TypeLibrary) -> GraphQLInputType | None:
        """Raise NotImplementedError: the schema builder builds container types."""
        raise NotImplementedError(
            f"A {self.name} block has no GraphQL input type of its own; the schema "
            "builder builds it from the block's children."
        )

    def filter_type(self, block: Block, types: TypeLibrary) -> GraphQLInputType | None:
        """Return None: filters apply to the children's values."""
        return None

    async def normalize(self, block: Block, value: Any, context: ValueContext) -> Any:
        """Raise NotImplementedError: the submission pipeline walks the children."""
        raise NotImplementedError(
            f"A {self.name} block's value is normalized child by child by the "
            "submission pipeline."
        )

    def index_value(self, block: Block, stored: Any) -> Any:
        """Return None: the children's values are indexed one by one."""
        return None


class SectionBlockType(_ContainerBlockType):
    """A group of blocks shown together; the values are stored beside it."""

    name = "section"
    label = "Section"
    description = "A group of blocks shown together, such as a page."
    value_type = ""
    role = BlockRole.SECTION
    xlsform_types = ("begin group",)


class RepeatBlockType(_ContainerBlockType):
    """Rows of the child blocks, stored as a list of row mappings."""

    name = "repeat"
    label = "Repeat"
    description = "Child blocks filled in once per row, such as one row per tree."
    value_type = "[Row!]"
    role = BlockRole.REPEAT
    xlsform_types = ("begin repeat",)

    config_schema: ClassVar[Mapping[str, Any]] = object_schema(
        {
            "min_rows": {
                "type": "integer",
                "minimum": 0,
                "maximum": MAX_ROWS_LIMIT,
                "description": "Minimum number of rows, when any are given.",
            },
            "max_rows": {
                "type": "integer",
                "minimum": 1,
                "maximum": MAX_ROWS_LIMIT,
                "default": DEFAULT_MAX_ROWS,
                "description": (
                    f"Maximum number of rows; default {DEFAULT_MAX_ROWS}, at most "
                    f"{MAX_ROWS_LIMIT}."
                ),
            },
            "count": {
                "type": "string",
                "minLength": 1,
                "description": (
                    "Expression giving the exact number of rows, like XLSForm "
                    "repeat_count."
                ),
            },
        }
    )

    def validate_config(self, block: Block, context: ConfigContext) -> list[Problem]:
        """Check the schema, that min_rows <= max_rows, and that count parses."""
        problems = super().validate_config(block, context)
        if problems:
            return problems
        low = block.config.get("min_rows")
        high = self.max_rows(block)
        if low is not None and low > high:
            problems.append(
                config_problem(
                    ("min_rows",),
                    f"The min_rows {low} is greater than the max_rows {high}; "
                    "lower min_rows or raise max_rows.",
                )
            )
        count = block.config.get("count")
        if count is not None:
            problems.extend(check_expression("count", count))
        return problems

    def config_expressions(self, block: Block) -> Mapping[str, str]:
        """Return the ``count`` expression, when set."""
        count = block.config.get("count")
        return {} if count is None else {"count": count}

    def max_rows(self, block: Block) -> int:
        """Return the maximum number of rows of ``block``."""
        value = block.config.get("max_rows", DEFAULT_MAX_ROWS)
        assert isinstance(value, int)
        return value

    def check_row_count(self, block: Block, count: int) -> None:
        """Raise unless ``count`` rows fit the block's min_rows and max_rows.

        Zero rows pass min_rows, like other empty values; ``required`` decides
        whether a repeat may be empty.

        Raises:
            ValueProblem: ``TOO_FEW`` below min_rows, ``TOO_MANY`` above
                max_rows.
        """
        low = block.config.get("min_rows")
        high = self.max_rows(block)
        if count > high:
            raise ValueProblem(
                ErrorCode.TOO_MANY,
                f"Expected at most {high} rows, got {count}; remove rows.",
            )
        if low is not None and 0 < count < low:
            raise ValueProblem(
                ErrorCode.TOO_FEW,
                f"Expected at least {low} rows, got {count}; add rows.",
            )
