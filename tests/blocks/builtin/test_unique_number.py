from __future__ import annotations

import pytest

from blocks.base import BlockRole, ConfigContext, IndexKind, ValueContext
from blocks.builtin.unique_number import UniqueNumberBlockType
from blocks.definition import Block
from blocks.errors import ErrorCode, ValueProblem
from blocks.types import BigIntScalar, TypeLibrary

UNIQUE = UniqueNumberBlockType()


async def test_unique_number_assigns_from_start(context: ValueContext) -> None:
    block = Block("invoice_no", "unique_number", config={"start": 1000})
    assert await UNIQUE.assign(block, context) == 1000
    assert await UNIQUE.assign(block, context) == 1001


async def test_unique_number_default_start(context: ValueContext) -> None:
    assert await UNIQUE.assign(Block("n", "unique_number"), context) == 1


async def test_unique_number_sequence_per_block(context: ValueContext) -> None:
    first = Block("a", "unique_number")
    second = Block("b", "unique_number")
    await UNIQUE.assign(first, context)
    assert await UNIQUE.assign(second, context) == 1


async def test_unique_number_rejects_submission(context: ValueContext) -> None:
    with pytest.raises(ValueProblem) as caught:
        await UNIQUE.normalize(Block("n", "unique_number"), 5, context)
    assert caught.value.code is ErrorCode.READ_ONLY


@pytest.mark.parametrize(
    ("config", "path"),
    [
        ({"start": -1}, ("start",)),
        ({"prefix": "X" * 21}, ("prefix",)),
        ({"step": 2}, ()),
    ],
)
def test_unique_number_config_schema_errors(
    config: dict[str, object], path: tuple[str, ...]
) -> None:
    block = Block("n", "unique_number", config=config)
    problems = UNIQUE.validate_config(block, ConfigContext())
    assert [p.path for p in problems] == [path]


def test_unique_number_types() -> None:
    types = TypeLibrary()
    block = Block("n", "unique_number", config={"prefix": "INV-"})
    assert UNIQUE.validate_config(block, ConfigContext()) == []
    assert UNIQUE.role is BlockRole.ASSIGNED
    assert UNIQUE.input_type(block, types) is None
    assert UNIQUE.output_type(block, types) is BigIntScalar
    assert UNIQUE.index_kind is IndexKind.NUMBER
    assert UNIQUE.index_value(block, 7) == 7
