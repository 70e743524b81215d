"""The ``boolean`` block type: true or false."""

from __future__ import annotations

from typing import Any

from graphql import GraphQLBoolean, GraphQLInputType, GraphQLOutputType

from blocks.base import BlockType, IndexKind, ValueContext
from blocks.builtin._support import describe
from blocks.definition import Block
from blocks.errors import ErrorCode, ValueProblem
from blocks.filters import Operand
from blocks.types import TypeLibrary


class BooleanBlockType(BlockType):
    """A yes/no answer, stored as a JSON boolean.

    Only true and false are accepted; strings such as "true" or XLSForm's
    acknowledge answer "OK" are converted by the importer, not here.
    """

    name = "boolean"
    label = "Yes/no"
    description = "A yes/no answer or an acknowledgement."
    value_type = "Boolean"
    index_kind = IndexKind.BOOLEAN
    operand = Operand.BOOLEAN
    xlsform_types = ("acknowledge",)

    def output_type(self, block: Block, types: TypeLibrary) -> GraphQLOutputType:
        """Return ``Boolean``."""
        return GraphQLBoolean

    def input_type(self, block: Block, types: TypeLibrary) -> GraphQLInputType | None:
        """Return ``Boolean``."""
        return GraphQLBoolean

    async def normalize(self, block: Block, value: Any, context: ValueContext) -> Any:
        """Check that the value is true or false; return it."""
        if not isinstance(value, bool):
            raise ValueProblem(
                ErrorCode.INVALID_TYPE,
                f"Expected true or false, got {describe(value)}.",
            )
        return value

    def is_empty(self, stored: Any) -> bool:
        """Return whether nothing is stored; false is a value."""
        return stored is None
