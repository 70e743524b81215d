from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from graphql import GraphQLInt

from blocks.base import ConfigContext, IndexKind, ValueContext
from blocks.builtin.scales import CounterBlockType, RatingBlockType, SliderBlockType
from blocks.definition import Block
from blocks.errors import ErrorCode, ValueProblem
from blocks.filters import Compare, Operand, Operator
from blocks.types import BigIntScalar, DecimalScalar, TypeLibrary

COUNTER = CounterBlockType()
SLIDER = SliderBlockType()
RATING = RatingBlockType()


def counter_block(**config: Any) -> Block:
    return Block("seedlings", "counter", config=config)


def slider_block(**config: Any) -> Block:
    return Block("ph", "slider", config={"min": 0, "max": 14, **config})


def rating_block(**config: Any) -> Block:
    return Block("stars", "rating", config=config)


# counter -------------------------------------------------------------------


@pytest.mark.parametrize(("value", "stored"), [(0, 0), (12, 12), ("7", 7), (4.0, 4)])
async def test_counter_accepts(
    context: ValueContext, value: object, stored: int
) -> None:
    assert await COUNTER.normalize(counter_block(), value, context) == stored


@pytest.mark.parametrize(
    ("value", "code", "fragment"),
    [
        (-1, ErrorCode.OUT_OF_RANGE, "at least 0, got -1"),
        (1.5, ErrorCode.INVALID, "remove the fraction"),
        (True, ErrorCode.INVALID_TYPE, "whole number"),
    ],
)
async def test_counter_rejects(
    context: ValueContext, value: object, code: ErrorCode, fragment: str
) -> None:
    with pytest.raises(ValueProblem) as caught:
        await COUNTER.normalize(counter_block(), value, context)
    assert caught.value.code is code
    assert fragment in caught.value.message


async def test_counter_step_from_min(context: ValueContext) -> None:
    block = counter_block(min=1, max=21, step=5)
    assert await COUNTER.normalize(block, 16, context) == 16
    with pytest.raises(ValueProblem) as caught:
        await COUNTER.normalize(block, 15, context)
    assert caught.value.code is ErrorCode.INVALID
    assert "1 plus a multiple of 5, got 15" in caught.value.message


async def test_counter_max(context: ValueContext) -> None:
    with pytest.raises(ValueProblem) as caught:
        await COUNTER.normalize(counter_block(max=10), 11, context)
    assert caught.value.code is ErrorCode.OUT_OF_RANGE
    assert "from 0 to 10, got 11" in caught.value.message


def test_counter_config_max_below_default_min() -> None:
    problems = COUNTER.validate_config(counter_block(max=-1), ConfigContext())
    assert [p.path for p in problems] == [("min",)]
    assert problems[0].code is ErrorCode.INVALID_CONFIG


@pytest.mark.parametrize(
    ("config", "path"),
    [({"step": 0}, ("step",)), ({"min": 0.5}, ("min",)), ({"max": "10"}, ("max",))],
)
def test_counter_config_schema_errors(config: dict[str, Any], path: tuple[str]) -> None:
    problems = COUNTER.validate_config(counter_block(**config), ConfigContext())
    assert [p.path for p in problems] == [path]


def test_counter_graphql_types() -> None:
    types = TypeLibrary()
    assert COUNTER.output_type(counter_block(), types) is BigIntScalar
    assert COUNTER.input_type(counter_block(), types) is BigIntScalar
    assert str(COUNTER.filter_type(counter_block(), types)) == "NumberFilter"
    assert COUNTER.index_kind is IndexKind.NUMBER
    assert not COUNTER.is_empty(0)


# slider --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "stored"), [(7, "7"), ("6.5", "6.5"), (0.1, "0.1"), (14, "14")]
)
async def test_slider_accepts(
    context: ValueContext, value: object, stored: str
) -> None:
    assert await SLIDER.normalize(slider_block(), value, context) == stored


async def test_slider_out_of_range(context: ValueContext) -> None:
    with pytest.raises(ValueProblem) as caught:
        await SLIDER.normalize(slider_block(), "14.01", context)
    assert caught.value.code is ErrorCode.OUT_OF_RANGE
    assert "from 0 to 14, got 14.01" in caught.value.message


async def test_slider_step_exact(context: ValueContext) -> None:
    block = slider_block(min="0.1", step="0.2")
    assert await SLIDER.normalize(block, 0.7, context) == "0.7"
    with pytest.raises(ValueProblem) as caught:
        await SLIDER.normalize(block, "0.8", context)
    assert caught.value.code is ErrorCode.INVALID
    assert "0.1 plus a multiple of 0.2, got 0.8" in caught.value.message


async def test_slider_rejects_text(context: ValueContext) -> None:
    with pytest.raises(ValueProblem) as caught:
        await SLIDER.normalize(slider_block(), "high", context)
    assert caught.value.code is ErrorCode.INVALID


def test_slider_config_requires_bounds() -> None:
    problems = SLIDER.validate_config(Block("ph", "slider"), ConfigContext())
    messages = sorted(p.message for p in problems)
    assert len(messages) == 2
    assert "'max' is a required property" in messages[0]
    assert "'min' is a required property" in messages[1]


def test_slider_config_min_not_below_max() -> None:
    problems = SLIDER.validate_config(slider_block(min=14), ConfigContext())
    assert [p.path for p in problems] == [("min",)]
    assert "less than the max" in problems[0].message


def test_slider_config_step_not_positive() -> None:
    problems = SLIDER.validate_config(slider_block(step="-0.5"), ConfigContext())
    assert [p.path for p in problems] == [("step",)]


def test_slider_graphql_types_and_values() -> None:
    types = TypeLibrary()
    assert SLIDER.output_type(slider_block(), types) is DecimalScalar
    assert SLIDER.input_type(slider_block(), types) is DecimalScalar
    assert SLIDER.to_expression(slider_block(), "6.5") == Decimal("6.5")
    assert SLIDER.index_value(slider_block(), "6.5") == Decimal("6.5")


def test_slider_filter_compiles() -> None:
    node = SLIDER.compile_filter(slider_block(), ("ph",), {"gt": Decimal("7")})
    assert node == Compare(("ph",), Operator.GT, Decimal("7"), Operand.NUMBER)


# rating --------------------------------------------------------------------


@pytest.mark.parametrize(("value", "stored"), [(1, 1), (3, 3), (5, 5), ("4", 4)])
async def test_rating_accepts(
    context: ValueContext, value: object, stored: int
) -> None:
    assert await RATING.normalize(rating_block(), value, context) == stored


@pytest.mark.parametrize(
    ("value", "code"),
    [
        (0, ErrorCode.OUT_OF_RANGE),
        (6, ErrorCode.OUT_OF_RANGE),
        (2.5, ErrorCode.INVALID),
    ],
)
async def test_rating_rejects(
    context: ValueContext, value: object, code: ErrorCode
) -> None:
    with pytest.raises(ValueProblem) as caught:
        await RATING.normalize(rating_block(), value, context)
    assert caught.value.code is code


async def test_rating_custom_max(context: ValueContext) -> None:
    block = rating_block(max=10)
    assert await RATING.normalize(block, 10, context) == 10
    with pytest.raises(ValueProblem) as caught:
        await RATING.normalize(block, 11, context)
    assert "from 1 to 10, got 11" in caught.value.message


@pytest.mark.parametrize("highest", [1, 11, "5"])
def test_rating_config_invalid_max(highest: object) -> None:
    problems = RATING.validate_config(rating_block(max=highest), ConfigContext())
    assert [p.path for p in problems] == [("max",)]


def test_rating_graphql_types() -> None:
    types = TypeLibrary()
    assert RATING.output_type(rating_block(), types) is GraphQLInt
    assert RATING.input_type(rating_block(), types) is GraphQLInt
    assert RATING.index_value(rating_block(), 4) == 4
