"""Choice block types: ``select_one`` and ``select_many`` from a list of options."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from graphql import (
    GraphQLInputType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLOutputType,
    GraphQLString,
)

from blocks.base import BlockType, ConfigContext, IndexKind, ValueContext
from blocks.builtin._expressions import check_expression
from blocks.builtin._support import (
    config_problem,
    describe,
    object_schema,
    shorten,
    text_schema,
)
from blocks.definition import DEFAULT_LANGUAGE, Block
from blocks.errors import ErrorCode, Problem, ValueProblem
from blocks.expressions import ExpressionError, evaluate
from blocks.filters import FieldPath, FilterNode, Operand
from blocks.types import TypeLibrary, compile_list_filter

logger = logging.getLogger(__name__)

MAX_LISTED_OPTIONS = 10
"""How many allowed values an ``UNKNOWN_OPTION`` message lists at most."""

MAX_OTHER_LENGTH = 1000
"""Maximum length of a free-text value when ``allow_other`` is set."""

_OPTION_SCHEMA = object_schema(
    {
        "value": {
            "type": "string",
            "minLength": 1,
            "maxLength": 200,
            "description": "Stored value of the option, unique within the block.",
        },
        "label": text_schema("Text shown for the option."),
        "data": {
            "type": "object",
            "description": (
                "Extra columns of the option, such as a region code, read by "
                "choice_filter as option.<column>."
            ),
        },
    },
    required=("value",),
)

_SELECT_PROPERTIES: dict[str, Any] = {
    "options": {
        "type": "array",
        "items": _OPTION_SCHEMA,
        "minItems": 1,
        "description": "Options in display order.",
    },
    "choice_filter": {
        "type": "string",
        "minLength": 1,
        "description": (
            "Expression evaluated per option, with option bound to its value and "
            "data columns; only options where it is true are offered."
        ),
    },
    "allow_other": {
        "type": "boolean",
        "default": False,
        "description": "Also accept free text that is not an option value.",
    },
}


class SelectOneBlockType(BlockType):
    """One value chosen from the block's options."""

    name = "select_one"
    label = "Single choice"
    description = "One option chosen from a list."
    value_type = "String"
    index_kind = IndexKind.KEYWORD
    operand: ClassVar[Operand | None] = Operand.TEXT
    xlsform_types: ClassVar[tuple[str, ...]] = ("select_one",)

    config_schema: ClassVar[Mapping[str, Any]] = object_schema(
        _SELECT_PROPERTIES, required=("options",)
    )

    def validate_config(self, block: Block, context: ConfigContext) -> list[Problem]:
        """Check the schema, unique option values, label languages, choice_filter."""
        problems = super().validate_config(block, context)
        if problems:
            return problems
        return self._check_config(block, context)

    def _check_config(self, block: Block, context: ConfigContext) -> list[Problem]:
        problems = self._check_options(block.config["options"], context)
        choice_filter = block.config.get("choice_filter")
        if choice_filter is not None:
            problems.extend(check_expression("choice_filter", choice_filter))
        return problems

    def _check_options(
        self, options: Sequence[Mapping[str, Any]], context: ConfigContext
    ) -> list[Problem]:
        problems: list[Problem] = []
        seen: set[str] = set()
        languages = {*context.languages, DEFAULT_LANGUAGE}
        for index, option in enumerate(options):
            value = option["value"]
            if value in seen:
                problems.append(
                    config_problem(
                        ("options", index, "value"),
                        f"The option value {value!r} appears more than once; "
                        "option values must be unique.",
                    )
                )
            seen.add(value)
            problems.extend(self._check_option_value(index, value))
            if "value" in option.get("data", {}):
                problems.append(
                    config_problem(
                        ("options", index, "data", "value"),
                        "The data column 'value' would hide the option value in "
                        "choice_filter as option.value; rename the column.",
                    )
                )
            label = option.get("label")
            if context.languages and isinstance(label, Mapping):
                for language in label:
                    if language not in languages:
                        problems.append(
                            config_problem(
                                ("options", index, "label", language),
                                f"The label language {language!r} is not one of "
                                f"the app's languages "
                                f"{', '.join(context.languages)}.",
                            )
                        )
        return problems

    def _check_option_value(self, index: int, value: str) -> list[Problem]:
        if value != value.strip():
            return [
                config_problem(
                    ("options", index, "value"),
                    f"The option value {value!r} starts or ends with whitespace; "
                    "remove it.",
                )
            ]
        return []

    def config_expressions(self, block: Block) -> Mapping[str, str]:
        """Return the ``choice_filter`` expression, when set."""
        choice_filter = block.config.get("choice_filter")
        return {} if choice_filter is None else {"choice_filter": choice_filter}

    def option_values(self, block: Block) -> list[str]:
        """Return the option values of ``block`` in order."""
        return [option["value"] for option in block.config.get("options", ())]

    def allowed_options(self, block: Block, env: Mapping[str, object]) -> list[str]:
        """Return the option values that ``choice_filter`` lets through for ``env``.

        The filter is evaluated once per option with ``env`` plus ``option``
        bound to ``{"value": ..., **data}``. An option passes when the result
        is true. An option whose evaluation fails is left out and logged,
        since one malformed data column should not block the whole list.
        Without a ``choice_filter`` every option is allowed.
        """
        choice_filter = block.config.get("choice_filter")
        options = block.config.get("options", ())
        if choice_filter is None:
            return [option["value"] for option in options]
        allowed = []
        failures: list[tuple[str, ExpressionError]] = []
        for option in options:
            bound = {"value": option["value"], **option.get("data", {})}
            try:
                result = evaluate(choice_filter, {**env, "option": bound})
            except ExpressionError as error:
                failures.append((option["value"], error))
                continue
            if result is True:
                allowed.append(option["value"])
        if failures:
            first_value, first_error = failures[0]
            logger.warning(
                "choice_filter of block %s failed for %d option(s), first %r: %s",
                block.id,
                len(failures),
                first_value,
                first_error,
            )
        return allowed

    def check_option(self, block: Block, value: object) -> str:
        """Return ``value`` when it is an option value, or allowed free text.

        Raises:
            ValueProblem: ``INVALID_TYPE`` for a non-string, ``UNKNOWN_OPTION``
                for a value that is not an option.
        """
        if not isinstance(value, str):
            raise ValueProblem(
                ErrorCode.INVALID_TYPE,
                f"Expected an option value as text, got {describe(value)}.",
            )
        values = self.option_values(block)
        if value in values:
            return value
        if block.config.get("allow_other", False):
            return _check_other(value)
        listed = ", ".join(repr(v) for v in values[:MAX_LISTED_OPTIONS])
        more = len(values) - MAX_LISTED_OPTIONS
        suffix = f" and {more} more" if more > 0 else ""
        raise ValueProblem(
            ErrorCode.UNKNOWN_OPTION,
            f"Unknown option {shorten(value)!r}; expected one of {listed}{suffix}.",
        )

    async def normalize(self, block: Block, value: Any, context: ValueContext) -> Any:
        """Check that the value is an option; return it.

        ``choice_filter`` is not applied here: the submission pipeline has the
        other values of the record and calls :meth:`allowed_options`.
        """
        return self.check_option(block, value)


class SelectManyBlockType(SelectOneBlockType):
    """Several values chosen from the block's options, stored as a list."""

    name = "select_many"
    label = "Multiple choice"
    description = "Any number of options chosen from a list."
    value_type = "[String!]"
    operand = None
    xlsform_types = ("select_multiple",)

    config_schema: ClassVar[Mapping[str, Any]] = object_schema(
        {
            **_SELECT_PROPERTIES,
            "min_selected": {
                "type": "integer",
                "minimum": 0,
                "description": "Minimum number of options chosen, when any are.",
            },
            "max_selected": {
                "type": "integer",
                "minimum": 1,
                "description": "Maximum number of options chosen.",
            },
        },
        required=("options",),
    )

    def _check_config(self, block: Block, context: ConfigContext) -> list[Problem]:
        problems = super()._check_config(block, context)
        low = block.config.get("min_selected")
        high = block.config.get("max_selected")
        if low is not None and high is not None and low > high:
            problems.append(
                config_problem(
                    ("min_selected",),
                    f"The min_selected {low} is greater than the max_selected "
                    f"{high}; swap them.",
                )
            )
        if low is not None and low > len(block.config["options"]):
            problems.append(
                config_problem(
                    ("min_selected",),
                    f"The min_selected {low} is more than the "
                    f"{len(block.config['options'])} options.",
                )
            )
        return problems

    def _check_option_value(self, index: int, value: str) -> list[Problem]:
        # Values are written space-separated in the XLSForm string form.
        if any(char.isspace() for char in value):
            return [
                config_problem(
                    ("options", index, "value"),
                    f"The option value {value!r} contains whitespace; select_many "
                    "option values are separated by spaces, so use _ or - instead.",
                )
            ]
        return []

    def output_type(self, block: Block, types: TypeLibrary) -> GraphQLOutputType:
        """Return ``[String!]``."""
        return GraphQLList(GraphQLNonNull(GraphQLString))

    def input_type(self, block: Block, types: TypeLibrary) -> GraphQLInputType | None:
        """Return ``[String!]``."""
        return GraphQLList(GraphQLNonNull(GraphQLString))

    def filter_type(self, block: Block, types: TypeLibrary) -> GraphQLInputType | None:
        """Return the shared ``OptionListFilter``."""
        return types.list_filter()

    def compile_filter(
        self, block: Block, path: FieldPath, conditions: Mapping[str, Any]
    ) -> FilterNode:
        """Compile an ``OptionListFilter`` value into list comparisons."""
        return compile_list_filter(path, conditions)

    async def normalize(self, block: Block, value: Any, context: ValueContext) -> Any:
        """Check every value; return them as a list without repeats, in order.

        A list of strings or an XLSForm-style space-separated string is
        accepted. An empty list is returned without the count checks, so an
        optional block can be left empty.
        """
        if isinstance(value, str):
            items: list[object] = list(value.split())
        elif isinstance(value, list | tuple):
            items = list(value)
        else:
            raise ValueProblem(
                ErrorCode.INVALID_TYPE,
                f"Expected a list of option values, got {describe(value)}.",
            )
        chosen: list[str] = []
        for position, item in enumerate(items):
            try:
                option = self.check_option(block, item)
            except ValueProblem as problem:
                problem.path = (position, *problem.path)
                raise
            if option not in chosen:
                chosen.append(option)
        if chosen:
            _check_count(block, len(chosen))
        return chosen

    def index_value(self, block: Block, stored: Any) -> Any:
        """Return the list of chosen values."""
        return list(stored) if stored is not None else None


def _check_other(value: str) -> str:
    text = value.strip()
    if not text or "\x00" in text or len(text) > MAX_OTHER_LENGTH:
        raise ValueProblem(
            ErrorCode.INVALID,
            f"Expected an option value, or other text of 1 to {MAX_OTHER_LENGTH} "
            "characters without NUL characters.",
        )
    return value


def _check_count(block: Block, count: int) -> None:
    low = block.config.get("min_selected")
    high = block.config.get("max_selected")
    if low is not None and count < low:
        raise ValueProblem(
            ErrorCode.TOO_FEW,
            f"Expected at least {low} options chosen, got {count}.",
        )
    if high is not None and count > high:
        raise ValueProblem(
            ErrorCode.TOO_MANY,
            f"Expected at most {high} options chosen, got {count}.",
        )
