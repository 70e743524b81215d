"""The ``lookup`` block type: a reference to a record of another app."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from graphql import GraphQLID, GraphQLInputType, GraphQLOutputType

from blocks.base import BlockType, ConfigContext, IndexKind, ValueContext
from blocks.builtin._support import describe, object_schema, shorten
from blocks.definition import Block
from blocks.errors import ErrorCode, Problem, ValueProblem
from blocks.filters import Operand
from blocks.types import TypeLibrary

MAX_ID_LENGTH = 200


class LookupBlockType(BlockType):
    """The id of a record in the app ``app`` of the same workspace.

    Filters use the shared ``StringFilter`` on the id, so ``eq`` and ``in``
    select records that refer to given ids.
    """

    name = "lookup"
    label = "Lookup"
    description = "A reference to a record of another app, such as a customer."
    value_type = "ID"
    index_kind = IndexKind.KEYWORD
    operand = Operand.TEXT

    config_schema: ClassVar[Mapping[str, Any]] = object_schema(
        {
            "app": {
                "type": "string",
                "minLength": 1,
                "description": "Slug of the app in the same workspace whose "
                "records this block refers to.",
            },
        },
        required=("app",),
    )

    def validate_config(self, block: Block, context: ConfigContext) -> list[Problem]:
        """Check the schema and that ``app`` names an app of the workspace."""
        problems = super().validate_config(block, context)
        if problems:
            return problems
        slug = block.config["app"]
        if slug not in context.app_slugs:
            problems.append(
                Problem(
                    ("app",),
                    ErrorCode.UNKNOWN_REFERENCE,
                    f"No app with slug {slug!r} in this workspace; create the app "
                    "first or correct the slug.",
                )
            )
        return problems

    def output_type(self, block: Block, types: TypeLibrary) -> GraphQLOutputType:
        """Return ``ID``."""
        return GraphQLID

    def input_type(self, block: Block, types: TypeLibrary) -> GraphQLInputType | None:
        """Return ``ID``."""
        return GraphQLID

    async def normalize(self, block: Block, value: Any, context: ValueContext) -> Any:
        """Check that the record exists in the lookup's app; return its id."""
        if not isinstance(value, str) or not value:
            raise ValueProblem(
                ErrorCode.INVALID_TYPE,
                f"Expected a record id as text, got {describe(value)}.",
            )
        if len(value) > MAX_ID_LENGTH:
            raise ValueProblem(
                ErrorCode.NOT_FOUND,
                f"No record {shorten(value)!r} in app {block.config['app']}; record "
                f"ids are at most {MAX_ID_LENGTH} characters.",
            )
        slug = block.config["app"]
        if not await context.records.record_exists(slug, value):
            raise ValueProblem(ErrorCode.NOT_FOUND, f"No record {value} in app {slug}.")
        return value
