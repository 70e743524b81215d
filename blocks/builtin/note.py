"""The ``note`` block type: text shown to users that stores no value."""

from __future__ import annotations

from typing import Any

from graphql import GraphQLInputType, GraphQLOutputType

from blocks.base import BlockRole, BlockType, IndexKind, ValueContext
from blocks.definition import Block
from blocks.errors import ErrorCode, ValueProblem
from blocks.types import TypeLibrary


class NoteBlockType(BlockType):
    """A read-only text in the form; its label is the text shown.

    A note has no field in any GraphQL type: the schema builder skips
    ``DISPLAY`` blocks, so :meth:`output_type` is never called for it.
    """

    name = "note"
    label = "Note"
    description = "Text shown in the form, such as an instruction; stores nothing."
    value_type = ""
    role = BlockRole.DISPLAY
    index_kind = IndexKind.NONE
    operand = None
    xlsform_types = ("note",)

    def output_type(self, block: Block, types: TypeLibrary) -> GraphQLOutputType:
        """Raise NotImplementedError: a note has no GraphQL field."""
        raise NotImplementedError(
            "A note block has no GraphQL output type; the schema builder skips "
            "blocks with the DISPLAY role."
        )

    def input_type(self, block: Block, types: TypeLibrary) -> GraphQLInputType | None:
        """Return None: clients cannot submit a note."""
        return None

    def filter_type(self, block: Block, types: TypeLibrary) -> GraphQLInputType | None:
        """Return None: there is nothing to filter on."""
        return None

    async def normalize(self, block: Block, value: Any, context: ValueContext) -> Any:
        """Raise ``READ_ONLY``: a note stores no value."""
        raise ValueProblem(
            ErrorCode.READ_ONLY,
            "A note block stores no value; leave it out of the submission.",
        )
