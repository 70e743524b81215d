"""The ``calculation`` block type: a value the server computes from an expression."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, time
from decimal import Decimal
from typing import Any, ClassVar

from graphql import (
    GraphQLBoolean,
    GraphQLInputType,
    GraphQLOutputType,
    GraphQLString,
)

from blocks.base import BlockRole, BlockType, ConfigContext, IndexKind, ValueContext
from blocks.builtin._expressions import check_expression
from blocks.builtin._support import (
    describe,
    format_decimal,
    object_schema,
    to_decimal,
    to_integer,
)
from blocks.definition import Block
from blocks.errors import ErrorCode, Problem, ValueProblem
from blocks.filters import FieldPath, FilterNode, Operand
from blocks.types import TypeLibrary, compile_scalar_filter

TEXT = "text"
NUMBER = "number"
BOOLEAN = "boolean"

_OPERANDS = {TEXT: Operand.TEXT, NUMBER: Operand.NUMBER, BOOLEAN: Operand.BOOLEAN}


class CalculationBlockType(BlockType):
    """A value computed by the server from ``expression`` on every submission.

    The class-level :attr:`operand` and :attr:`index_kind` describe the
    default text result. :meth:`result_operand` gives the operand of one
    block, which follows its ``result``.
    """

    name = "calculation"
    label = "Calculation"
    description = "A value computed from other blocks, such as a total."
    value_type = "String"
    role = BlockRole.COMPUTED
    index_kind = IndexKind.KEYWORD
    operand = Operand.TEXT
    xlsform_types = ("calculate",)

    config_schema: ClassVar[Mapping[str, Any]] = object_schema(
        {
            "expression": {
                "type": "string",
                "minLength": 1,
                "description": "Expression computing the value from other blocks.",
            },
            "result": {
                "enum": [TEXT, NUMBER, BOOLEAN],
                "default": TEXT,
                "description": (
                    "Type of the computed value: text (String), number (Decimal) "
                    "or boolean (Boolean); default text."
                ),
            },
        },
        required=("expression",),
    )

    def validate_config(self, block: Block, context: ConfigContext) -> list[Problem]:
        """Check the schema and that the expression parses."""
        problems = super().validate_config(block, context)
        if problems:
            return problems
        return check_expression("expression", block.config["expression"])

    def config_expressions(self, block: Block) -> Mapping[str, str]:
        """Return the ``expression``."""
        expression = block.config.get("expression")
        return {} if expression is None else {"expression": expression}

    def result(self, block: Block) -> str:
        """Return the result type of ``block``: text, number or boolean."""
        result = block.config.get("result", TEXT)
        assert isinstance(result, str)
        return result

    def result_operand(self, block: Block) -> Operand:
        """Return how values of ``block`` compare, which follows its result type."""
        return _OPERANDS[self.result(block)]

    def output_type(self, block: Block, types: TypeLibrary) -> GraphQLOutputType:
        """Return ``String``, ``Decimal`` or ``Boolean`` by the result type."""
        result = self.result(block)
        if result == NUMBER:
            return types.decimal
        if result == BOOLEAN:
            return GraphQLBoolean
        return GraphQLString

    def input_type(self, block: Block, types: TypeLibrary) -> GraphQLInputType | None:
        """Return None: clients cannot submit a computed value."""
        return None

    def block_operand(self, block: Block) -> Operand | None:
        """Order by the calculation's result type."""
        return self.result_operand(block)

    def filter_type(self, block: Block, types: TypeLibrary) -> GraphQLInputType | None:
        """Return the scalar filter of the result type."""
        return types.scalar_filter(self.result_operand(block))

    def compile_filter(
        self, block: Block, path: FieldPath, conditions: Mapping[str, Any]
    ) -> FilterNode:
        """Compile the scalar filter of the result type."""
        return compile_scalar_filter(path, self.result_operand(block), conditions)

    async def normalize(self, block: Block, value: Any, context: ValueContext) -> Any:
        """Raise ``READ_ONLY``: the server computes this value."""
        raise ValueProblem(
            ErrorCode.READ_ONLY,
            "A calculation block is computed by the server; leave it out of the "
            "submission.",
        )

    def coerce_result(self, block: Block, value: object) -> Any:
        """Return the stored form of an evaluated ``expression`` value.

        text: strings as they are, numbers in fixed notation, booleans as
        ``"true"``/``"false"``, dates and times in ISO 8601. number: an int
        stays an int, a Decimal or numeric string becomes a decimal string.
        boolean: only true or false. Null stays null for every result type.

        Raises:
            ValueProblem: ``INVALID_TYPE`` or ``INVALID`` when the value does
                not convert to the result type.
        """
        if value is None:
            return None
        result = self.result(block)
        if result == NUMBER:
            return _to_number(value)
        if result == BOOLEAN:
            if not isinstance(value, bool):
                raise ValueProblem(
                    ErrorCode.INVALID_TYPE,
                    f"The expression produced {describe(value)}; a calculation "
                    "with result boolean must produce true or false.",
                )
            return value
        return _to_text(value)

    def is_empty(self, stored: Any) -> bool:
        """Return whether nothing is stored; false and zero are values."""
        return stored is None or stored == ""

    def to_expression(self, block: Block, stored: Any) -> Any:
        """Return the stored value, with a decimal string as an exact Decimal."""
        if self.result(block) == NUMBER and isinstance(stored, str):
            return Decimal(stored)
        return stored

    def index_value(self, block: Block, stored: Any) -> Any:
        """Return the stored value, with a decimal string as an exact Decimal."""
        return self.to_expression(block, stored)


def _to_number(value: object) -> int | str:
    if isinstance(value, int) and not isinstance(value, bool):
        return to_integer(value)
    try:
        return format_decimal(to_decimal(value))
    except ValueProblem as problem:
        raise ValueProblem(
            problem.code,
            f"The expression produced {describe(value)}; a calculation with "
            f"result number must produce a number. {problem.message}",
        ) from None


def _to_text(value: object) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | Decimal | float):
        try:
            if isinstance(value, int):
                return str(to_integer(value))
            return format_decimal(to_decimal(value))
        except ValueProblem as problem:
            raise ValueProblem(
                problem.code,
                f"The expression produced {describe(value)}, which cannot be "
                f"stored as text. {problem.message}",
            ) from None
    if isinstance(value, date | time):
        return value.isoformat()
    raise ValueProblem(
        ErrorCode.INVALID_TYPE,
        f"The expression produced {describe(value)}; a calculation with result "
        "text must produce text, a number, a boolean, a date or a time; turn a "
        "list into text with join(', ', list).",
    )
