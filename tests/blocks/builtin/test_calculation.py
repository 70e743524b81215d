from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from graphql import GraphQLBoolean, GraphQLString

from blocks.base import BlockRole, ConfigContext, ValueContext
from blocks.builtin.calculation import CalculationBlockType
from blocks.definition import Block
from blocks.errors import ErrorCode, ValueProblem
from blocks.expressions import evaluate
from blocks.filters import Compare, Operand, Operator
from blocks.types import DecimalScalar, TypeLibrary

CALCULATION = CalculationBlockType()


def calc_block(expression: str = "price * quantity", **config: Any) -> Block:
    return Block("total", "calculation", config={"expression": expression, **config})


@pytest.mark.parametrize(
    ("value", "stored"),
    [
        (Decimal("3.50"), "3.5"),
        (Decimal("1E+3"), "1000"),
        (7, 7),
        ("2.50", "2.5"),
        (0.1, "0.1"),
        (None, None),
    ],
)
def test_number_result_coerces(value: object, stored: object) -> None:
    assert CALCULATION.coerce_result(calc_block(result="number"), value) == stored


@pytest.mark.parametrize(
    ("value", "code", "fragment"),
    [
        (True, ErrorCode.INVALID_TYPE, "must produce a number"),
        ("ten", ErrorCode.INVALID, "must produce a number"),
        ([1, 2], ErrorCode.INVALID_TYPE, "must produce a number"),
        (Decimal("NaN"), ErrorCode.INVALID, "finite"),
    ],
)
def test_number_result_rejects(value: object, code: ErrorCode, fragment: str) -> None:
    with pytest.raises(ValueProblem) as caught:
        CALCULATION.coerce_result(calc_block(result="number"), value)
    assert caught.value.code is code
    assert fragment in caught.value.message


@pytest.mark.parametrize(
    ("value", "stored"),
    [
        ("Amina Juma", "Amina Juma"),
        (Decimal("2.50"), "2.5"),
        (12, "12"),
        (True, "true"),
        (date(2026, 12, 4), "2026-12-04"),
        (None, None),
    ],
)
def test_text_result_coerces(value: object, stored: object) -> None:
    assert CALCULATION.coerce_result(calc_block(), value) == stored


def test_text_result_rejects_list() -> None:
    with pytest.raises(ValueProblem) as caught:
        CALCULATION.coerce_result(calc_block(), ["a", "b"])
    assert caught.value.code is ErrorCode.INVALID_TYPE
    assert "join(', ', list)" in caught.value.message


def test_text_result_rejects_infinite_float() -> None:
    with pytest.raises(ValueProblem) as caught:
        CALCULATION.coerce_result(calc_block(), float("inf"))
    assert caught.value.code is ErrorCode.INVALID


@pytest.mark.parametrize(
    ("value", "stored"), [(True, True), (False, False), (None, None)]
)
def test_boolean_result_coerces(value: object, stored: object) -> None:
    assert CALCULATION.coerce_result(calc_block(result="boolean"), value) is stored


@pytest.mark.parametrize("value", [1, "true", Decimal("0")])
def test_boolean_result_rejects(value: object) -> None:
    with pytest.raises(ValueProblem) as caught:
        CALCULATION.coerce_result(calc_block(result="boolean"), value)
    assert caught.value.code is ErrorCode.INVALID_TYPE
    assert "true or false" in caught.value.message


def test_coerce_evaluated_expression() -> None:
    block = calc_block(result="number")
    value = evaluate(
        block.config["expression"], {"price": Decimal("1.25"), "quantity": 4}
    )
    assert CALCULATION.coerce_result(block, value) == "5"


async def test_calculation_rejects_submission(context: ValueContext) -> None:
    with pytest.raises(ValueProblem) as caught:
        await CALCULATION.normalize(calc_block(), "12", context)
    assert caught.value.code is ErrorCode.READ_ONLY


def test_calculation_config_valid() -> None:
    assert (
        CALCULATION.validate_config(calc_block(result="number"), ConfigContext()) == []
    )


def test_calculation_config_invalid_expression() -> None:
    problems = CALCULATION.validate_config(calc_block("price *"), ConfigContext())
    assert [p.path for p in problems] == [("expression",)]
    assert problems[0].code is ErrorCode.INVALID_EXPRESSION
    assert "at character" in problems[0].message


@pytest.mark.parametrize(
    ("config", "path"),
    [
        ({"result": "number"}, ()),
        ({"expression": "", "result": "text"}, ("expression",)),
        ({"expression": "1", "result": "date"}, ("result",)),
    ],
)
def test_calculation_config_schema_errors(
    config: dict[str, Any], path: tuple[str, ...]
) -> None:
    block = Block("total", "calculation", config=config)
    problems = CALCULATION.validate_config(block, ConfigContext())
    assert [p.path for p in problems] == [path]
    assert problems[0].code is ErrorCode.INVALID_CONFIG


def test_calculation_config_expressions() -> None:
    assert CALCULATION.config_expressions(calc_block("a + b")) == {
        "expression": "a + b"
    }


def test_calculation_types_follow_result() -> None:
    types = TypeLibrary()
    assert CALCULATION.role is BlockRole.COMPUTED
    assert CALCULATION.input_type(calc_block(), types) is None
    assert CALCULATION.output_type(calc_block(), types) is GraphQLString
    assert CALCULATION.output_type(calc_block(result="number"), types) is DecimalScalar
    assert (
        CALCULATION.output_type(calc_block(result="boolean"), types) is GraphQLBoolean
    )
    number_filter = CALCULATION.filter_type(calc_block(result="number"), types)
    assert str(number_filter) == "NumberFilter"
    assert CALCULATION.result_operand(calc_block(result="boolean")) is Operand.BOOLEAN


def test_calculation_filter_compiles_with_result_operand() -> None:
    node = CALCULATION.compile_filter(
        calc_block(result="number"), ("total",), {"gte": Decimal("10")}
    )
    assert node == Compare(("total",), Operator.GTE, Decimal("10"), Operand.NUMBER)


def test_calculation_expression_and_index_values() -> None:
    number = calc_block(result="number")
    assert CALCULATION.to_expression(number, "2.5") == Decimal("2.5")
    assert CALCULATION.to_expression(number, 3) == 3
    assert CALCULATION.index_value(number, "2.5") == Decimal("2.5")
    assert CALCULATION.to_expression(calc_block(), "2.5") == "2.5"
    assert not CALCULATION.is_empty(False)


def test_text_result_rejects_huge_integer() -> None:
    with pytest.raises(ValueProblem) as caught:
        CALCULATION.coerce_result(calc_block(), 10**5000)
    assert caught.value.code is ErrorCode.OUT_OF_RANGE
    assert "more than 40 digits" in caught.value.message
