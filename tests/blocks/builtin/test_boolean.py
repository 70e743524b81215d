from __future__ import annotations

import pytest
from graphql import GraphQLBoolean

from blocks.base import ConfigContext, IndexKind, ValueContext
from blocks.builtin.boolean import BooleanBlockType
from blocks.definition import Block
from blocks.errors import ErrorCode, ValueProblem
from blocks.filters import Compare, Operand, Operator
from blocks.types import TypeLibrary

BOOLEAN = BooleanBlockType()
BLOCK = Block("consent", "boolean")


@pytest.mark.parametrize("value", [True, False])
async def test_boolean_accepts(context: ValueContext, value: bool) -> None:
    assert await BOOLEAN.normalize(BLOCK, value, context) is value


@pytest.mark.parametrize("value", ["true", "OK", 1, 0, None])
async def test_boolean_rejects(context: ValueContext, value: object) -> None:
    with pytest.raises(ValueProblem) as caught:
        await BOOLEAN.normalize(BLOCK, value, context)
    assert caught.value.code is ErrorCode.INVALID_TYPE
    assert "Expected true or false" in caught.value.message


def test_boolean_false_is_not_empty() -> None:
    assert not BOOLEAN.is_empty(False)
    assert BOOLEAN.is_empty(None)


def test_boolean_config_rejects_keys() -> None:
    block = Block("consent", "boolean", config={"default": True})
    problems = BOOLEAN.validate_config(block, ConfigContext())
    assert [p.code for p in problems] == [ErrorCode.INVALID_CONFIG]


def test_boolean_graphql_types() -> None:
    types = TypeLibrary()
    assert BOOLEAN.output_type(BLOCK, types) is GraphQLBoolean
    assert BOOLEAN.input_type(BLOCK, types) is GraphQLBoolean
    filter_type = BOOLEAN.filter_type(BLOCK, types)
    assert str(filter_type) == "BooleanFilter"


def test_boolean_filter_compiles_eq() -> None:
    node = BOOLEAN.compile_filter(BLOCK, ("consent",), {"eq": True})
    assert node == Compare(("consent",), Operator.EQ, True, Operand.BOOLEAN)


def test_boolean_index_value() -> None:
    assert BOOLEAN.index_kind is IndexKind.BOOLEAN
    assert BOOLEAN.index_value(BLOCK, False) is False
