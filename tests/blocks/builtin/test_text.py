from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from graphql import GraphQLString

from blocks.base import ConfigContext, IndexKind, ValueContext
from blocks.builtin.text import TextareaBlockType, TextBlockType
from blocks.definition import Block
from blocks.errors import ErrorCode, ValueProblem
from blocks.filters import Compare, Operand, Operator
from blocks.types import TypeLibrary

TEXT = TextBlockType()
TEXTAREA = TextareaBlockType()


def text_block(**config: Any) -> Block:
    return Block("name", "text", config=config)


async def test_text_keeps_value_as_given(context: ValueContext) -> None:
    value = "  Amina Juma \n"
    assert await TEXT.normalize(text_block(), value, context) == value


async def test_text_accepts_empty_despite_min_length(context: ValueContext) -> None:
    assert await TEXT.normalize(text_block(min_length=3), "", context) == ""


@pytest.mark.parametrize(
    ("value", "code", "fragment"),
    [
        (12, ErrorCode.INVALID_TYPE, "Expected text"),
        (None, ErrorCode.INVALID_TYPE, "got null"),
        ("a\x00b", ErrorCode.INVALID, "NUL"),
        ("ab", ErrorCode.TOO_SHORT, "at least 3 characters, got 2"),
        ("abcdef", ErrorCode.TOO_LONG, "at most 5 characters, got 6"),
    ],
)
async def test_text_rejects_invalid_value(
    context: ValueContext, value: object, code: ErrorCode, fragment: str
) -> None:
    block = text_block(min_length=3, max_length=5)
    with pytest.raises(ValueProblem) as caught:
        await TEXT.normalize(block, value, context)
    assert caught.value.code is code
    assert fragment in caught.value.message


async def test_text_length_counts_code_points(context: ValueContext) -> None:
    block = text_block(max_length=3)
    assert await TEXT.normalize(block, "äöü", context) == "äöü"


async def test_text_default_max_length(context: ValueContext) -> None:
    with pytest.raises(ValueProblem) as caught:
        await TEXT.normalize(text_block(), "x" * 10_001, context)
    assert caught.value.code is ErrorCode.TOO_LONG
    assert "10000" in caught.value.message


async def test_textarea_default_max_length(context: ValueContext) -> None:
    block = Block("notes", "textarea")
    value = "x" * 100_000
    assert await TEXTAREA.normalize(block, value, context) == value
    with pytest.raises(ValueProblem) as caught:
        await TEXTAREA.normalize(block, value + "x", context)
    assert caught.value.code is ErrorCode.TOO_LONG


async def test_text_pattern_full_match(context: ValueContext) -> None:
    block = text_block(pattern="[A-Z]{2}[0-9]{4}")
    assert await TEXT.normalize(block, "TZ1234", context) == "TZ1234"
    with pytest.raises(ValueProblem) as caught:
        await TEXT.normalize(block, "TZ12345", context)
    assert caught.value.code is ErrorCode.PATTERN_MISMATCH
    assert "[A-Z]{2}[0-9]{4}" in caught.value.message


async def test_text_pattern_message_in_language(context: ValueContext) -> None:
    block = text_block(
        pattern="[0-9]+", pattern_message={"en": "Digits only.", "sw": "Tarakimu tu."}
    )
    swahili = dataclasses.replace(context, language="sw")
    with pytest.raises(ValueProblem) as caught:
        await TEXT.normalize(block, "abc", swahili)
    assert caught.value.message == "Tarakimu tu."


async def test_text_pattern_message_plain(context: ValueContext) -> None:
    block = text_block(pattern="[0-9]+", pattern_message="Digits only.")
    with pytest.raises(ValueProblem) as caught:
        await TEXT.normalize(block, "abc", context)
    assert caught.value.message == "Digits only."


async def test_text_pattern_timeout_rejects_value(context: ValueContext) -> None:
    # Each extra "a" multiplies the paths that (a|aa)+ tries before failing
    # on the final "b", so the match needs far more than the time limit.
    block = text_block(pattern="(a|aa)+$")
    with pytest.raises(ValueProblem) as caught:
        await TEXT.normalize(block, "a" * 36 + "b", context)
    assert caught.value.code is ErrorCode.INVALID
    assert "field 'name'" in caught.value.message
    assert "timed out after 0.05 s" in caught.value.message
    assert "simplify the pattern" in caught.value.message


def test_text_config_valid() -> None:
    block = text_block(min_length=1, max_length=20, pattern="[a-z]+", placeholder="x")
    assert TEXT.validate_config(block, ConfigContext()) == []


def test_text_config_invalid_regex() -> None:
    problems = TEXT.validate_config(text_block(pattern="[a-"), ConfigContext())
    assert [p.path for p in problems] == [("pattern",)]
    assert problems[0].code is ErrorCode.INVALID_CONFIG
    assert "not a valid regular expression" in problems[0].message


def test_text_config_pattern_too_long() -> None:
    problems = TEXT.validate_config(text_block(pattern="a" * 1001), ConfigContext())
    assert [p.path for p in problems] == [("pattern",)]
    assert "maximum is 1000" in problems[0].message


def test_text_config_min_above_max() -> None:
    block = text_block(min_length=10, max_length=5)
    problems = TEXT.validate_config(block, ConfigContext())
    assert [p.path for p in problems] == [("min_length",)]
    assert problems[0].code is ErrorCode.INVALID_CONFIG


def test_text_config_min_above_default_max() -> None:
    problems = TEXT.validate_config(text_block(min_length=20_000), ConfigContext())
    assert [p.path for p in problems] == [("min_length",)]


@pytest.mark.parametrize(
    ("config", "path"),
    [
        ({"maxlength": 3}, ()),
        ({"max_length": 0}, ("max_length",)),
        ({"min_length": "3"}, ("min_length",)),
        ({"pattern_message": 3}, ("pattern_message",)),
    ],
)
def test_text_config_schema_errors(config: dict[str, Any], path: tuple[str]) -> None:
    problems = TEXT.validate_config(text_block(**config), ConfigContext())
    assert [p.path for p in problems] == [path]
    assert problems[0].code is ErrorCode.INVALID_CONFIG


def test_text_graphql_types() -> None:
    types = TypeLibrary()
    block = text_block()
    assert TEXT.output_type(block, types) is GraphQLString
    assert TEXT.input_type(block, types) is GraphQLString
    filter_type = TEXT.filter_type(block, types)
    assert filter_type is not None
    assert str(filter_type) == "StringFilter"


def test_text_filter_compiles_contains() -> None:
    node = TEXT.compile_filter(text_block(), ("name",), {"contains": "jum"})
    assert node == Compare(("name",), Operator.CONTAINS, "jum", Operand.TEXT)


def test_text_index_value_is_text() -> None:
    assert TEXT.index_kind is IndexKind.TEXT
    assert TEXT.index_value(text_block(), "Amina") == "Amina"


def test_text_is_empty() -> None:
    assert TEXT.is_empty("")
    assert not TEXT.is_empty(" ")
