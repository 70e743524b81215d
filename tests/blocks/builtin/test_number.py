from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from blocks.base import ConfigContext, IndexKind, ValueContext
from blocks.builtin._support import format_decimal, is_step_aligned
from blocks.builtin.number import NumberBlockType
from blocks.definition import Block
from blocks.errors import ErrorCode, ValueProblem
from blocks.filters import And, Compare, Operand, Operator
from blocks.types import BigIntScalar, DecimalScalar, TypeLibrary

NUMBER = NumberBlockType()


def integer_block(**config: Any) -> Block:
    return Block("count", "number", config={"kind": "integer", **config})


def decimal_block(**config: Any) -> Block:
    return Block("price", "number", config=config)


@pytest.mark.parametrize(
    ("value", "stored"),
    [
        (42, 42),
        (-7, -7),
        ("15", 15),
        ("+15", 15),
        (3.0, 3),
        (Decimal("12"), 12),
        (123456789012345678901234567890, 123456789012345678901234567890),
        ("123456789012345678901234567890", 123456789012345678901234567890),
    ],
)
async def test_integer_accepts(
    context: ValueContext, value: object, stored: int
) -> None:
    result = await NUMBER.normalize(integer_block(), value, context)
    assert result == stored
    assert type(result) is int


@pytest.mark.parametrize(
    ("value", "code", "fragment"),
    [
        (True, ErrorCode.INVALID_TYPE, "the boolean true"),
        (1.5, ErrorCode.INVALID, "remove the fraction"),
        ("1.5", ErrorCode.INVALID, "digits only"),
        ("1e3", ErrorCode.INVALID, "digits only"),
        ("", ErrorCode.INVALID, "digits only"),
        (float("nan"), ErrorCode.INVALID, "finite"),
        (float("inf"), ErrorCode.INVALID, "finite"),
        ([1], ErrorCode.INVALID_TYPE, "a list"),
        ("9" * 1001, ErrorCode.OUT_OF_RANGE, "at most 1000 digits"),
        (10**1001, ErrorCode.OUT_OF_RANGE, "at most 1000 digits"),
    ],
)
async def test_integer_rejects(
    context: ValueContext, value: object, code: ErrorCode, fragment: str
) -> None:
    with pytest.raises(ValueProblem) as caught:
        await NUMBER.normalize(integer_block(), value, context)
    assert caught.value.code is code
    assert fragment in caught.value.message


@pytest.mark.parametrize(
    ("value", "stored"),
    [
        (0.1, "0.1"),
        ("0.10", "0.1"),
        (Decimal("1E+2"), "100"),
        ("1e2", "100"),
        (" 2.50 ", "2.5"),
        (7, "7"),
        ("-0.00", "0"),
        (".5", "0.5"),
        ("12345678901234567890.123456789", "12345678901234567890.123456789"),
        (Decimal("1.23E-10"), "0.000000000123"),
    ],
)
async def test_decimal_accepts(
    context: ValueContext, value: object, stored: str
) -> None:
    assert await NUMBER.normalize(decimal_block(), value, context) == stored


@pytest.mark.parametrize(
    ("value", "code", "fragment"),
    [
        (False, ErrorCode.INVALID_TYPE, "the boolean false"),
        ("NaN", ErrorCode.INVALID, "digits"),
        ("Infinity", ErrorCode.INVALID, "digits"),
        (Decimal("NaN"), ErrorCode.INVALID, "finite"),
        (Decimal("-Infinity"), ErrorCode.INVALID, "finite"),
        (float("nan"), ErrorCode.INVALID, "finite"),
        ("1_000", ErrorCode.INVALID, "digits"),
        ("١٢", ErrorCode.INVALID, "digits"),
        ("12abc", ErrorCode.INVALID, "such as 12.5"),
        ("1e100000", ErrorCode.OUT_OF_RANGE, "at most 1000 digits"),
        ({"amount": 1}, ErrorCode.INVALID_TYPE, "an object"),
    ],
)
async def test_decimal_rejects(
    context: ValueContext, value: object, code: ErrorCode, fragment: str
) -> None:
    with pytest.raises(ValueProblem) as caught:
        await NUMBER.normalize(decimal_block(), value, context)
    assert caught.value.code is code
    assert fragment in caught.value.message


async def test_decimal_places_limit(context: ValueContext) -> None:
    block = decimal_block(decimal_places=2)
    assert await NUMBER.normalize(block, "1.250", context) == "1.25"
    with pytest.raises(ValueProblem) as caught:
        await NUMBER.normalize(block, "1.255", context)
    assert caught.value.code is ErrorCode.INVALID
    assert "at most 2 digits after the decimal point" in caught.value.message


@pytest.mark.parametrize(
    ("value", "fragment"),
    [("0.5", "from 1 to 10.5, got 0.5"), (11, "from 1 to 10.5, got 11")],
)
async def test_decimal_out_of_range(
    context: ValueContext, value: object, fragment: str
) -> None:
    block = decimal_block(min=1, max="10.5")
    with pytest.raises(ValueProblem) as caught:
        await NUMBER.normalize(block, value, context)
    assert caught.value.code is ErrorCode.OUT_OF_RANGE
    assert fragment in caught.value.message


async def test_decimal_bounds_inclusive(context: ValueContext) -> None:
    block = decimal_block(min=0.1, max="10.5")
    assert await NUMBER.normalize(block, "0.1", context) == "0.1"
    assert await NUMBER.normalize(block, 10.5, context) == "10.5"


async def test_integer_min_only(context: ValueContext) -> None:
    with pytest.raises(ValueProblem) as caught:
        await NUMBER.normalize(integer_block(min=0), -1, context)
    assert caught.value.code is ErrorCode.OUT_OF_RANGE
    assert "at least 0, got -1" in caught.value.message


async def test_integer_max_only(context: ValueContext) -> None:
    with pytest.raises(ValueProblem) as caught:
        await NUMBER.normalize(integer_block(max=100), 101, context)
    assert "at most 100, got 101" in caught.value.message


def test_number_config_valid() -> None:
    block = decimal_block(min="0.5", max=100, decimal_places=2)
    assert NUMBER.validate_config(block, ConfigContext()) == []


def test_number_config_min_above_max() -> None:
    problems = NUMBER.validate_config(decimal_block(min=5, max="1"), ConfigContext())
    assert [p.path for p in problems] == [("min",)]
    assert problems[0].code is ErrorCode.INVALID_CONFIG
    assert "greater than the max" in problems[0].message


def test_number_config_decimal_places_on_integer() -> None:
    block = integer_block(decimal_places=2)
    problems = NUMBER.validate_config(block, ConfigContext())
    assert [p.path for p in problems] == [("decimal_places",)]


@pytest.mark.parametrize(
    ("config", "path"),
    [
        ({"kind": "float"}, ("kind",)),
        ({"min": "ten"}, ("min",)),
        ({"max": True}, ("max",)),
        ({"decimal_places": -1}, ("decimal_places",)),
        ({"step": 1}, ()),
    ],
)
def test_number_config_schema_errors(config: dict[str, Any], path: tuple[str]) -> None:
    problems = NUMBER.validate_config(decimal_block(**config), ConfigContext())
    assert [p.path for p in problems] == [path]
    assert problems[0].code is ErrorCode.INVALID_CONFIG


def test_number_graphql_types() -> None:
    types = TypeLibrary()
    assert NUMBER.output_type(integer_block(), types) is BigIntScalar
    assert NUMBER.input_type(integer_block(), types) is BigIntScalar
    assert NUMBER.output_type(decimal_block(), types) is DecimalScalar
    assert NUMBER.input_type(decimal_block(), types) is DecimalScalar
    filter_type = NUMBER.filter_type(decimal_block(), types)
    assert filter_type is not None
    assert str(filter_type) == "NumberFilter"


def test_number_filter_compiles_range() -> None:
    node = NUMBER.compile_filter(
        decimal_block(), ("price",), {"gte": Decimal("1"), "lt": Decimal("5")}
    )
    assert node == And(
        (
            Compare(("price",), Operator.GTE, Decimal("1"), Operand.NUMBER),
            Compare(("price",), Operator.LT, Decimal("5"), Operand.NUMBER),
        )
    )


def test_number_expression_values() -> None:
    assert NUMBER.to_expression(decimal_block(), "0.1") == Decimal("0.1")
    assert NUMBER.to_expression(integer_block(), 12) == 12
    assert NUMBER.to_expression(decimal_block(), None) is None


def test_number_index_values() -> None:
    assert NUMBER.index_kind is IndexKind.NUMBER
    assert NUMBER.index_value(decimal_block(), "2.5") == Decimal("2.5")
    assert NUMBER.index_value(integer_block(), 3) == 3


def test_number_zero_is_not_empty() -> None:
    assert not NUMBER.is_empty(0)
    assert not NUMBER.is_empty("0")
    assert NUMBER.is_empty(None)


def test_format_decimal_keeps_every_digit() -> None:
    digits = "1" * 60 + "." + "2" * 60
    assert format_decimal(Decimal(digits)) == digits


def test_step_alignment_is_exact() -> None:
    start = Decimal("0.1")
    step = Decimal("0.000000000000000000000000000000001")
    assert is_step_aligned(Decimal("0.100000000000000000000000000000003"), start, step)
    assert not is_step_aligned(Decimal("0.15"), start, Decimal("0.1"))
