"""Free text block types: ``text`` (one line) and ``textarea`` (several lines)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, ClassVar

import regex

from blocks.base import BlockType, ConfigContext, IndexKind, ValueContext, text_of
from blocks.builtin._support import (
    config_problem,
    describe,
    object_schema,
    text_schema,
)
from blocks.definition import Block
from blocks.errors import ErrorCode, Problem, ValueProblem
from blocks.expressions import Limits
from blocks.filters import Operand

MAX_PATTERN_LENGTH = 1000
"""Maximum length of a ``pattern`` regex, in characters."""

PATTERN_TIMEOUT_SECONDS = Limits().timeout_seconds
"""Maximum time of one pattern match, in seconds. It equals the time limit of
an expression, which bounds the ``regex()`` function the same way."""

_LENGTH_LIMIT = 1_000_000
"""Largest ``max_length`` a text block may set, in characters."""


def compile_pattern(
    block_config: Mapping[str, Any], key: str = "pattern"
) -> tuple[re.Pattern[str] | None, list[Problem]]:
    """Compile the regex at ``key`` of a config; return it or the problem.

    Shared with the barcode block type, which has the same ``pattern`` key.
    """
    source = block_config.get(key)
    if source is None:
        return None, []
    if len(source) > MAX_PATTERN_LENGTH:
        return None, [
            config_problem(
                (key,),
                f"The {key} is {len(source)} characters long; the maximum is "
                f"{MAX_PATTERN_LENGTH}.",
            )
        ]
    try:
        # Values are matched with the regex package, which accepts re syntax
        # and has a timeout, so both must accept the pattern.
        compiled = re.compile(source)
        regex.compile(source)
    except (re.error, regex.error) as error:
        return None, [
            config_problem(
                (key,),
                f"The {key} {source!r} is not a valid regular expression: {error}. "
                "Use Python re syntax, such as [A-Z]{2}[0-9]{4}.",
            )
        ]
    return compiled, []


def check_pattern(block: Block, value: str, language: str) -> None:
    """Raise ``PATTERN_MISMATCH`` unless ``value`` fully matches the pattern.

    Raises:
        ValueProblem: ``INVALID`` when the match takes longer than
            :data:`PATTERN_TIMEOUT_SECONDS`, as a pattern with nested
            quantifiers such as ``(a|aa)+$`` can on a long value.
    """
    source = block.config.get("pattern")
    if source is None:
        return
    try:
        matched = regex.fullmatch(source, value, timeout=PATTERN_TIMEOUT_SECONDS)
    except TimeoutError:
        raise ValueProblem(
            ErrorCode.INVALID,
            f"Matching the value of field {block.field_name!r} against its "
            f"pattern {source} timed out after {PATTERN_TIMEOUT_SECONDS} s, so "
            "the value was rejected. An app admin should simplify the pattern.",
        ) from None
    if matched:
        return
    custom = block.config.get("pattern_message")
    if isinstance(custom, str):
        message = custom
    elif isinstance(custom, Mapping) and custom:
        message = text_of(custom, language)
    else:
        message = f"Expected text matching the pattern {source}."
    raise ValueProblem(ErrorCode.PATTERN_MISMATCH, message)


class TextBlockType(BlockType):
    """One line of free text, with optional length limits and a pattern."""

    name = "text"
    label = "Text"
    description = "A line of free text, such as a name or a reference code."
    value_type = "String"
    index_kind = IndexKind.TEXT
    operand = Operand.TEXT
    xlsform_types: ClassVar[tuple[str, ...]] = ("text",)
    default_max_length: ClassVar[int] = 10_000

    config_schema: ClassVar[Mapping[str, Any]] = object_schema(
        {
            "min_length": {
                "type": "integer",
                "minimum": 0,
                "maximum": _LENGTH_LIMIT,
                "description": "Minimum length in characters (Unicode code points).",
            },
            "max_length": {
                "type": "integer",
                "minimum": 1,
                "maximum": _LENGTH_LIMIT,
                "description": (
                    "Maximum length in characters (Unicode code points); "
                    "10000 for text and 100000 for textarea when not set."
                ),
            },
            "pattern": {
                "type": "string",
                "minLength": 1,
                "description": (
                    "Python regular expression that the whole value must match."
                ),
            },
            "pattern_message": text_schema(
                "Error message shown when the value does not match the pattern."
            ),
            "placeholder": text_schema("Example text shown in an empty input."),
        }
    )

    def validate_config(self, block: Block, context: ConfigContext) -> list[Problem]:
        """Check the schema, that min_length <= max_length, and the pattern."""
        problems = super().validate_config(block, context)
        if problems:
            return problems
        min_length = block.config.get("min_length")
        max_length = self.max_length(block)
        if min_length is not None and min_length > max_length:
            problems.append(
                config_problem(
                    ("min_length",),
                    f"The min_length {min_length} is greater than the max_length "
                    f"{max_length}; lower min_length or raise max_length.",
                )
            )
        _, pattern_problems = compile_pattern(block.config)
        problems.extend(pattern_problems)
        return problems

    def max_length(self, block: Block) -> int:
        """Return the maximum length of a value of ``block``, in characters."""
        value = block.config.get("max_length", self.default_max_length)
        assert isinstance(value, int)
        return value

    async def normalize(self, block: Block, value: Any, context: ValueContext) -> Any:
        """Check the text and return it unchanged.

        Whitespace is kept as given. Empty text is returned without the length
        and pattern checks, so an optional block can be left blank; the
        ``required`` check treats it as missing.
        """
        if not isinstance(value, str):
            raise ValueProblem(
                ErrorCode.INVALID_TYPE, f"Expected text, got {describe(value)}."
            )
        if "\x00" in value:
            raise ValueProblem(
                ErrorCode.INVALID,
                "Expected text without NUL characters (U+0000); remove them.",
            )
        if value == "":
            return value
        min_length = block.config.get("min_length")
        if min_length is not None and len(value) < min_length:
            raise ValueProblem(
                ErrorCode.TOO_SHORT,
                f"Expected at least {min_length} characters, got {len(value)}.",
            )
        max_length = self.max_length(block)
        if len(value) > max_length:
            raise ValueProblem(
                ErrorCode.TOO_LONG,
                f"Expected at most {max_length} characters, got {len(value)}.",
            )
        check_pattern(block, value, context.language)
        return value


class TextareaBlockType(TextBlockType):
    """Several lines of free text; a text block with a larger default limit."""

    name = "textarea"
    label = "Long text"
    description = "Several lines of free text, such as a comment or a description."
    xlsform_types = ()
    default_max_length = 100_000
