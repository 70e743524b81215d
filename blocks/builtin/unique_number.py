"""The ``unique_number`` block type: a sequence number assigned at creation."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from graphql import GraphQLInputType, GraphQLOutputType

from blocks.base import BlockRole, BlockType, IndexKind, ValueContext
from blocks.builtin._support import object_schema
from blocks.definition import Block
from blocks.errors import ErrorCode, ValueProblem
from blocks.filters import Operand
from blocks.types import TypeLibrary


class UniqueNumberBlockType(BlockType):
    """A number the server assigns once, from a per-app sequence per block.

    Numbers start at ``start``, never repeat and always increase within the
    app's sequence for the block, but they can skip: a rejected submission or
    a repeated idempotency key uses a number that no record keeps.
    """

    name = "unique_number"
    label = "Unique number"
    description = "A number assigned by the server when a record is created."
    value_type = "BigInt"
    role = BlockRole.ASSIGNED
    index_kind = IndexKind.NUMBER
    operand = Operand.NUMBER

    config_schema: ClassVar[Mapping[str, Any]] = object_schema(
        {
            "start": {
                "type": "integer",
                "minimum": 0,
                "default": 1,
                "description": "First number of the sequence; default 1.",
            },
            "prefix": {
                "type": "string",
                "maxLength": 20,
                "description": (
                    "Text such as INV- that clients show before the number; not stored."
                ),
            },
        }
    )

    def output_type(self, block: Block, types: TypeLibrary) -> GraphQLOutputType:
        """Return ``BigInt``."""
        return types.bigint

    def input_type(self, block: Block, types: TypeLibrary) -> GraphQLInputType | None:
        """Return None: the server assigns the value."""
        return None

    async def normalize(self, block: Block, value: Any, context: ValueContext) -> Any:
        """Raise ``READ_ONLY``: the server assigns this value."""
        raise ValueProblem(
            ErrorCode.READ_ONLY,
            "A unique number is assigned by the server; leave it out of the "
            "submission.",
        )

    async def assign(self, block: Block, context: ValueContext) -> Any:
        """Return the next number of the block's sequence."""
        start = block.config.get("start", 1)
        return await context.sequences.next_number(block.id, start)

    def is_empty(self, stored: Any) -> bool:
        """Return whether no number is stored."""
        return stored is None
