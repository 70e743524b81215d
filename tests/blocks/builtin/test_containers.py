from __future__ import annotations

from typing import Any

import pytest

from blocks.base import BlockRole, ConfigContext, ValueContext
from blocks.builtin.containers import RepeatBlockType, SectionBlockType
from blocks.definition import Block
from blocks.errors import ErrorCode, ValueProblem
from blocks.types import TypeLibrary

SECTION = SectionBlockType()
REPEAT = RepeatBlockType()
CHILD = Block("dbh", "number")


def repeat_block(**config: Any) -> Block:
    return Block("trees", "repeat", config=config, children=(CHILD,))


def test_container_roles() -> None:
    assert SECTION.role is BlockRole.SECTION
    assert REPEAT.role is BlockRole.REPEAT


@pytest.mark.parametrize("block_type", [SECTION, REPEAT])
def test_container_types_built_elsewhere(block_type: Any) -> None:
    types = TypeLibrary()
    block = Block("c", block_type.name, children=(CHILD,))
    with pytest.raises(NotImplementedError, match="schema builder"):
        block_type.output_type(block, types)
    with pytest.raises(NotImplementedError, match="schema builder"):
        block_type.input_type(block, types)
    assert block_type.filter_type(block, types) is None


async def test_section_normalize_not_called(context: ValueContext) -> None:
    with pytest.raises(NotImplementedError, match="submission pipeline"):
        await SECTION.normalize(Block("s", "section"), {}, context)


@pytest.mark.parametrize("count", [0, 2, 5, 1000])
def test_repeat_row_count_accepted(count: int) -> None:
    REPEAT.check_row_count(repeat_block(min_rows=2), count)


def test_repeat_too_few_rows() -> None:
    with pytest.raises(ValueProblem) as caught:
        REPEAT.check_row_count(repeat_block(min_rows=2), 1)
    assert caught.value.code is ErrorCode.TOO_FEW
    assert "at least 2 rows, got 1" in caught.value.message


def test_repeat_too_many_rows_default() -> None:
    with pytest.raises(ValueProblem) as caught:
        REPEAT.check_row_count(repeat_block(), 1001)
    assert caught.value.code is ErrorCode.TOO_MANY
    assert "at most 1000 rows, got 1001" in caught.value.message


def test_repeat_too_many_rows_config() -> None:
    with pytest.raises(ValueProblem) as caught:
        REPEAT.check_row_count(repeat_block(max_rows=3), 4)
    assert caught.value.code is ErrorCode.TOO_MANY


def test_repeat_config_valid() -> None:
    block = repeat_block(min_rows=1, max_rows=50, count="number_of_trees")
    assert REPEAT.validate_config(block, ConfigContext()) == []
    assert REPEAT.config_expressions(block) == {"count": "number_of_trees"}


def test_repeat_config_min_above_max() -> None:
    problems = REPEAT.validate_config(
        repeat_block(min_rows=5, max_rows=2), ConfigContext()
    )
    assert [p.path for p in problems] == [("min_rows",)]
    assert problems[0].code is ErrorCode.INVALID_CONFIG


def test_repeat_config_invalid_count() -> None:
    problems = REPEAT.validate_config(repeat_block(count="(("), ConfigContext())
    assert [p.path for p in problems] == [("count",)]
    assert problems[0].code is ErrorCode.INVALID_EXPRESSION


@pytest.mark.parametrize(
    ("config", "path"),
    [
        ({"max_rows": 10_001}, ("max_rows",)),
        ({"max_rows": 0}, ("max_rows",)),
        ({"min_rows": -1}, ("min_rows",)),
        ({"count": 3}, ("count",)),
    ],
)
def test_repeat_config_schema_errors(config: dict[str, Any], path: tuple[str]) -> None:
    problems = REPEAT.validate_config(repeat_block(**config), ConfigContext())
    assert [p.path for p in problems] == [path]


def test_section_config_rejects_keys() -> None:
    block = Block("s", "section", config={"columns": 2}, children=(CHILD,))
    problems = SECTION.validate_config(block, ConfigContext())
    assert [p.code for p in problems] == [ErrorCode.INVALID_CONFIG]


def test_container_index_value_none() -> None:
    assert REPEAT.index_value(repeat_block(), [{"dbh": 3}]) is None
