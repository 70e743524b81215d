from __future__ import annotations

import pytest
from graphql import GraphQLID

from blocks.base import ConfigContext, ValueContext
from blocks.builtin.lookup import LookupBlockType
from blocks.definition import Block
from blocks.errors import ErrorCode, ValueProblem
from blocks.filters import Compare, Operand, Operator
from blocks.types import TypeLibrary
from tests.blocks.builtin.fakes import FakeRecords

LOOKUP = LookupBlockType()
BLOCK = Block("customer", "lookup", config={"app": "customers"})


async def test_lookup_accepts_existing_record(
    context: ValueContext, records: FakeRecords
) -> None:
    records.records.add(("customers", "rec_1"))
    assert await LOOKUP.normalize(BLOCK, "rec_1", context) == "rec_1"


async def test_lookup_record_in_other_app(
    context: ValueContext, records: FakeRecords
) -> None:
    records.records.add(("suppliers", "rec_1"))
    with pytest.raises(ValueProblem) as caught:
        await LOOKUP.normalize(BLOCK, "rec_1", context)
    assert caught.value.code is ErrorCode.NOT_FOUND
    assert caught.value.message == "No record rec_1 in app customers."


@pytest.mark.parametrize("value", [12, "", None, {"id": "rec_1"}])
async def test_lookup_rejects_non_id(context: ValueContext, value: object) -> None:
    with pytest.raises(ValueProblem) as caught:
        await LOOKUP.normalize(BLOCK, value, context)
    assert caught.value.code is ErrorCode.INVALID_TYPE
    assert "record id as text" in caught.value.message


async def test_lookup_rejects_long_id(context: ValueContext) -> None:
    with pytest.raises(ValueProblem) as caught:
        await LOOKUP.normalize(BLOCK, "r" * 201, context)
    assert caught.value.code is ErrorCode.NOT_FOUND
    assert "at most 200 characters" in caught.value.message


def test_lookup_config_known_app() -> None:
    context = ConfigContext(app_slugs=frozenset({"customers", "orders"}))
    assert LOOKUP.validate_config(BLOCK, context) == []


def test_lookup_config_unknown_app() -> None:
    context = ConfigContext(app_slugs=frozenset({"orders", "secret-hr"}))
    problems = LOOKUP.validate_config(BLOCK, context)
    assert [p.path for p in problems] == [("app",)]
    assert problems[0].code is ErrorCode.UNKNOWN_REFERENCE
    assert "'customers'" in problems[0].message
    assert "secret-hr" not in problems[0].message


@pytest.mark.parametrize("config", [{}, {"app": ""}, {"app": 3}])
def test_lookup_config_schema_errors(config: dict[str, object]) -> None:
    block = Block("customer", "lookup", config=config)
    problems = LOOKUP.validate_config(block, ConfigContext())
    assert [p.code for p in problems] == [ErrorCode.INVALID_CONFIG]


def test_lookup_graphql_types() -> None:
    types = TypeLibrary()
    assert LOOKUP.output_type(BLOCK, types) is GraphQLID
    assert LOOKUP.input_type(BLOCK, types) is GraphQLID
    assert LOOKUP.filter_type(BLOCK, types) is types.scalar_filter(Operand.TEXT)


def test_lookup_filter_compiles_eq() -> None:
    node = LOOKUP.compile_filter(BLOCK, ("customer",), {"eq": "rec_1"})
    assert node == Compare(("customer",), Operator.EQ, "rec_1", Operand.TEXT)


def test_lookup_index_value_is_id() -> None:
    assert LOOKUP.index_value(BLOCK, "rec_1") == "rec_1"
