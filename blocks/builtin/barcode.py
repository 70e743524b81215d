"""The ``barcode`` block type: the text of a scanned barcode or QR code."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from blocks.base import BlockType, ConfigContext, IndexKind, ValueContext
from blocks.builtin._support import describe, object_schema, text_schema
from blocks.builtin.text import check_pattern, compile_pattern
from blocks.definition import Block
from blocks.errors import ErrorCode, Problem, ValueProblem
from blocks.filters import Operand

MAX_CODE_LENGTH = 4096
"""Maximum length in characters, just below the 4296 alphanumeric characters
of the largest QR code (version 40).
"""


class BarcodeBlockType(BlockType):
    """The decoded text of a barcode, with an optional pattern."""

    name = "barcode"
    label = "Barcode"
    description = "The text of a scanned barcode or QR code."
    value_type = "String"
    index_kind = IndexKind.KEYWORD
    operand = Operand.TEXT
    xlsform_types = ("barcode",)

    config_schema: ClassVar[Mapping[str, Any]] = object_schema(
        {
            "formats": {
                "type": "array",
                "items": {"type": "string", "pattern": "^[a-z0-9_]+$"},
                "uniqueItems": True,
                "description": (
                    "Barcode formats the scanner should look for, such as qr or "
                    "ean13; shown to clients, not checked on submission."
                ),
            },
            "pattern": {
                "type": "string",
                "minLength": 1,
                "description": (
                    "Python regular expression that the whole code must match."
                ),
            },
            "pattern_message": text_schema(
                "Error message shown when the code does not match the pattern."
            ),
        }
    )

    def validate_config(self, block: Block, context: ConfigContext) -> list[Problem]:
        """Check the schema and that the pattern compiles."""
        problems = super().validate_config(block, context)
        if problems:
            return problems
        _, pattern_problems = compile_pattern(block.config)
        return pattern_problems

    async def normalize(self, block: Block, value: Any, context: ValueContext) -> Any:
        """Check the code and return it unchanged."""
        if not isinstance(value, str):
            raise ValueProblem(
                ErrorCode.INVALID_TYPE,
                f"Expected the scanned code as text, got {describe(value)}.",
            )
        if value == "":
            raise ValueProblem(
                ErrorCode.INVALID,
                "Expected a scanned code, got empty text; scan again or leave the "
                "value out.",
            )
        if len(value) > MAX_CODE_LENGTH:
            raise ValueProblem(
                ErrorCode.TOO_LONG,
                f"Expected a code of at most {MAX_CODE_LENGTH} characters, got "
                f"{len(value)}.",
            )
        if "\x00" in value:
            raise ValueProblem(
                ErrorCode.INVALID,
                "Expected a code without NUL characters (U+0000).",
            )
        check_pattern(block, value, context.language)
        return value
