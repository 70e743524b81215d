from __future__ import annotations

import logging
from typing import Any

import pytest
from graphql import GraphQLList, GraphQLNonNull, GraphQLString

from blocks.base import ConfigContext, IndexKind, ValueContext
from blocks.builtin.select import SelectManyBlockType, SelectOneBlockType
from blocks.definition import Block
from blocks.errors import ErrorCode, ValueProblem
from blocks.filters import (
    And,
    Compare,
    ListCompare,
    ListOperator,
    Not,
    Operand,
    Operator,
)
from blocks.types import TypeLibrary

SELECT_ONE = SelectOneBlockType()
SELECT_MANY = SelectManyBlockType()

CROPS = [
    {"value": "maize", "label": {"en": "Maize", "sw": "Mahindi"}},
    {"value": "beans", "label": "Beans"},
    {"value": "rice"},
]

DISTRICTS = [
    {"value": "ilala", "data": {"region": "dar"}},
    {"value": "kinondoni", "data": {"region": "dar"}},
    {"value": "arusha_urban", "data": {"region": "arusha"}},
    {"value": "meru", "data": {"region": "arusha"}},
]


def one_block(**config: Any) -> Block:
    return Block("crop", "select_one", config={"options": CROPS, **config})


def many_block(**config: Any) -> Block:
    return Block("crops", "select_many", config={"options": CROPS, **config})


# select_one ----------------------------------------------------------------


async def test_select_one_accepts_option(context: ValueContext) -> None:
    assert await SELECT_ONE.normalize(one_block(), "beans", context) == "beans"


async def test_select_one_unknown_option(context: ValueContext) -> None:
    with pytest.raises(ValueProblem) as caught:
        await SELECT_ONE.normalize(one_block(), "cassava", context)
    assert caught.value.code is ErrorCode.UNKNOWN_OPTION
    assert "'cassava'" in caught.value.message
    assert "'maize', 'beans', 'rice'" in caught.value.message


async def test_select_one_lists_ten_options(context: ValueContext) -> None:
    options = [{"value": f"v{i}"} for i in range(15)]
    block = Block("pick", "select_one", config={"options": options})
    with pytest.raises(ValueProblem) as caught:
        await SELECT_ONE.normalize(block, "x", context)
    assert "'v9' and 5 more" in caught.value.message
    assert "'v10'" not in caught.value.message


async def test_select_one_rejects_non_string(context: ValueContext) -> None:
    with pytest.raises(ValueProblem) as caught:
        await SELECT_ONE.normalize(one_block(), 3, context)
    assert caught.value.code is ErrorCode.INVALID_TYPE
    assert "option value as text" in caught.value.message


async def test_select_one_allow_other(context: ValueContext) -> None:
    block = one_block(allow_other=True)
    assert await SELECT_ONE.normalize(block, "sorghum", context) == "sorghum"
    with pytest.raises(ValueProblem) as caught:
        await SELECT_ONE.normalize(block, "   ", context)
    assert caught.value.code is ErrorCode.INVALID
    assert "1 to 1000 characters" in caught.value.message


async def test_select_one_skips_choice_filter(context: ValueContext) -> None:
    block = Block(
        "district",
        "select_one",
        config={"options": DISTRICTS, "choice_filter": "option.region = region"},
    )
    assert await SELECT_ONE.normalize(block, "meru", context) == "meru"


def test_allowed_options_evaluates_filter() -> None:
    block = Block(
        "district",
        "select_one",
        config={"options": DISTRICTS, "choice_filter": "option.region = region"},
    )
    allowed = SELECT_ONE.allowed_options(block, {"region": "arusha"})
    assert allowed == ["arusha_urban", "meru"]


def test_allowed_options_binds_value() -> None:
    block = Block(
        "district",
        "select_one",
        config={"options": DISTRICTS, "choice_filter": "option.value != 'ilala'"},
    )
    assert SELECT_ONE.allowed_options(block, {}) == [
        "kinondoni",
        "arusha_urban",
        "meru",
    ]


def test_allowed_options_without_filter() -> None:
    assert SELECT_ONE.allowed_options(one_block(), {}) == ["maize", "beans", "rice"]


def test_allowed_options_skips_failures(caplog: pytest.LogCaptureFixture) -> None:
    block = Block(
        "district",
        "select_one",
        config={"options": DISTRICTS, "choice_filter": "option.region + 1 > 0"},
    )
    with caplog.at_level(logging.WARNING, logger="blocks.builtin.select"):
        assert SELECT_ONE.allowed_options(block, {}) == []
    assert len(caplog.records) == 1
    assert "failed for 4 option(s)" in caplog.records[0].getMessage()


def test_select_one_config_valid() -> None:
    context = ConfigContext(languages=("en", "sw"))
    assert SELECT_ONE.validate_config(one_block(choice_filter="true"), context) == []


def test_select_one_config_duplicate_value() -> None:
    options = [{"value": "a"}, {"value": "b"}, {"value": "a"}]
    block = Block("pick", "select_one", config={"options": options})
    problems = SELECT_ONE.validate_config(block, ConfigContext())
    assert [p.path for p in problems] == [("options", 2, "value")]
    assert problems[0].code is ErrorCode.INVALID_CONFIG
    assert "more than once" in problems[0].message


def test_select_one_config_value_whitespace() -> None:
    block = Block("pick", "select_one", config={"options": [{"value": " a"}]})
    problems = SELECT_ONE.validate_config(block, ConfigContext())
    assert [p.path for p in problems] == [("options", 0, "value")]


def test_select_one_config_value_with_inner_space() -> None:
    block = Block("pick", "select_one", config={"options": [{"value": "a b"}]})
    assert SELECT_ONE.validate_config(block, ConfigContext()) == []


def test_select_one_config_unknown_label_language() -> None:
    options = [{"value": "a", "label": {"en": "A", "fr": "A"}}]
    block = Block("pick", "select_one", config={"options": options})
    problems = SELECT_ONE.validate_config(block, ConfigContext(languages=("en",)))
    assert [p.path for p in problems] == [("options", 0, "label", "fr")]


def test_select_one_config_invalid_choice_filter() -> None:
    problems = SELECT_ONE.validate_config(
        one_block(choice_filter="option.region = ("), ConfigContext()
    )
    assert [p.path for p in problems] == [("choice_filter",)]
    assert problems[0].code is ErrorCode.INVALID_EXPRESSION
    assert "Invalid expression in choice_filter" in problems[0].message


@pytest.mark.parametrize(
    ("config", "path"),
    [
        ({}, ()),
        ({"options": []}, ("options",)),
        ({"options": [{"label": "A"}]}, ("options", 0)),
        ({"options": [{"value": ""}]}, ("options", 0, "value")),
        ({"options": [{"value": "a", "colour": "red"}]}, ("options", 0)),
        ({"options": [{"value": "a"}], "allow_other": "yes"}, ("allow_other",)),
    ],
)
def test_select_one_config_schema_errors(
    config: dict[str, Any], path: tuple[Any, ...]
) -> None:
    problems = SELECT_ONE.validate_config(
        Block("pick", "select_one", config=config), ConfigContext()
    )
    assert [p.path for p in problems] == [path]
    assert problems[0].code is ErrorCode.INVALID_CONFIG


def test_select_one_config_expressions() -> None:
    assert SELECT_ONE.config_expressions(one_block(choice_filter="true")) == {
        "choice_filter": "true"
    }
    assert SELECT_ONE.config_expressions(one_block()) == {}


def test_select_one_graphql_types() -> None:
    types = TypeLibrary()
    block = one_block()
    assert SELECT_ONE.output_type(block, types) is GraphQLString
    assert SELECT_ONE.input_type(block, types) is GraphQLString
    assert str(SELECT_ONE.filter_type(block, types)) == "StringFilter"


def test_select_one_filter_compiles_in() -> None:
    node = SELECT_ONE.compile_filter(one_block(), ("crop",), {"in": ["maize", "rice"]})
    assert node == Compare(("crop",), Operator.IN, ("maize", "rice"), Operand.TEXT)


def test_select_one_index_keyword() -> None:
    assert SELECT_ONE.index_kind is IndexKind.KEYWORD
    assert SELECT_ONE.index_value(one_block(), "rice") == "rice"


# select_many ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "stored"),
    [
        (["rice", "maize"], ["rice", "maize"]),
        (["rice", "maize", "rice"], ["rice", "maize"]),
        ("beans  rice", ["beans", "rice"]),
        ([], []),
        ("", []),
    ],
)
async def test_select_many_accepts(
    context: ValueContext, value: object, stored: list[str]
) -> None:
    assert await SELECT_MANY.normalize(many_block(), value, context) == stored


async def test_select_many_unknown_option_path(context: ValueContext) -> None:
    with pytest.raises(ValueProblem) as caught:
        await SELECT_MANY.normalize(many_block(), ["rice", "cassava"], context)
    assert caught.value.code is ErrorCode.UNKNOWN_OPTION
    assert caught.value.path == (1,)
    assert "'cassava'" in caught.value.message


async def test_select_many_rejects_non_list(context: ValueContext) -> None:
    with pytest.raises(ValueProblem) as caught:
        await SELECT_MANY.normalize(many_block(), {"rice": True}, context)
    assert caught.value.code is ErrorCode.INVALID_TYPE
    assert "list of option values" in caught.value.message


async def test_select_many_rejects_non_string_item(context: ValueContext) -> None:
    with pytest.raises(ValueProblem) as caught:
        await SELECT_MANY.normalize(many_block(), ["rice", 2], context)
    assert caught.value.code is ErrorCode.INVALID_TYPE
    assert caught.value.path == (1,)


async def test_select_many_too_few(context: ValueContext) -> None:
    block = many_block(min_selected=2)
    with pytest.raises(ValueProblem) as caught:
        await SELECT_MANY.normalize(block, ["rice", "rice"], context)
    assert caught.value.code is ErrorCode.TOO_FEW
    assert "at least 2 options chosen, got 1" in caught.value.message


async def test_select_many_too_many(context: ValueContext) -> None:
    block = many_block(max_selected=2)
    with pytest.raises(ValueProblem) as caught:
        await SELECT_MANY.normalize(block, "rice maize beans", context)
    assert caught.value.code is ErrorCode.TOO_MANY
    assert "at most 2 options chosen, got 3" in caught.value.message


async def test_select_many_empty_skips_min(context: ValueContext) -> None:
    assert await SELECT_MANY.normalize(many_block(min_selected=2), [], context) == []


async def test_select_many_allow_other(context: ValueContext) -> None:
    block = many_block(allow_other=True)
    assert await SELECT_MANY.normalize(block, ["rice", "millet"], context) == [
        "rice",
        "millet",
    ]


def test_select_many_config_value_with_space() -> None:
    block = Block("pick", "select_many", config={"options": [{"value": "a b"}]})
    problems = SELECT_MANY.validate_config(block, ConfigContext())
    assert [p.path for p in problems] == [("options", 0, "value")]
    assert "separated by spaces" in problems[0].message


def test_select_many_config_min_above_max() -> None:
    problems = SELECT_MANY.validate_config(
        many_block(min_selected=3, max_selected=2), ConfigContext()
    )
    assert [p.path for p in problems] == [("min_selected",)]
    assert problems[0].code is ErrorCode.INVALID_CONFIG


def test_select_many_config_min_above_option_count() -> None:
    problems = SELECT_MANY.validate_config(many_block(min_selected=4), ConfigContext())
    assert [p.path for p in problems] == [("min_selected",)]
    assert "3 options" in problems[0].message


def test_select_many_config_schema_error() -> None:
    problems = SELECT_MANY.validate_config(many_block(max_selected=0), ConfigContext())
    assert [p.path for p in problems] == [("max_selected",)]


def test_select_one_config_rejects_min_selected() -> None:
    problems = SELECT_ONE.validate_config(one_block(min_selected=1), ConfigContext())
    assert [p.code for p in problems] == [ErrorCode.INVALID_CONFIG]


def test_select_many_graphql_types() -> None:
    types = TypeLibrary()
    block = many_block()
    output = SELECT_MANY.output_type(block, types)
    assert isinstance(output, GraphQLList)
    assert isinstance(output.of_type, GraphQLNonNull)
    assert output.of_type.of_type is GraphQLString
    assert str(SELECT_MANY.input_type(block, types)) == "[String!]"
    filter_type = SELECT_MANY.filter_type(block, types)
    assert filter_type is types.list_filter()


def test_select_many_filter_compiles_lists() -> None:
    node = SELECT_MANY.compile_filter(
        many_block(), ("crops",), {"hasAll": ["rice", "maize"], "isNull": False}
    )
    assert node == And(
        (
            ListCompare(("crops",), ListOperator.HAS_ALL, ("rice", "maize")),
            Not(Compare(("crops",), Operator.IS_NULL, True)),
        )
    )


def test_select_many_index_value_is_list() -> None:
    assert SELECT_MANY.index_kind is IndexKind.KEYWORD
    assert SELECT_MANY.index_value(many_block(), ["rice"]) == ["rice"]
    assert SELECT_MANY.operand is None


def test_select_one_config_data_hides_value() -> None:
    options = [{"value": "a", "data": {"value": "b"}}]
    block = Block("pick", "select_one", config={"options": options})
    problems = SELECT_ONE.validate_config(block, ConfigContext())
    assert [p.path for p in problems] == [("options", 0, "data", "value")]
    assert problems[0].code is ErrorCode.INVALID_CONFIG
