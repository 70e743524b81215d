from __future__ import annotations

import pytest

from blocks.base import BlockRole, ConfigContext, IndexKind, ValueContext
from blocks.builtin.note import NoteBlockType
from blocks.definition import Block
from blocks.errors import ErrorCode, ValueProblem
from blocks.types import TypeLibrary

NOTE = NoteBlockType()
BLOCK = Block("intro", "note", label={"default": "Count every tree."})


def test_note_has_no_graphql_field() -> None:
    types = TypeLibrary()
    assert NOTE.role is BlockRole.DISPLAY
    assert NOTE.input_type(BLOCK, types) is None
    assert NOTE.filter_type(BLOCK, types) is None
    with pytest.raises(NotImplementedError, match="DISPLAY"):
        NOTE.output_type(BLOCK, types)


async def test_note_rejects_value(context: ValueContext) -> None:
    with pytest.raises(ValueProblem) as caught:
        await NOTE.normalize(BLOCK, "text", context)
    assert caught.value.code is ErrorCode.READ_ONLY
    assert "stores no value" in caught.value.message


def test_note_config() -> None:
    assert NOTE.validate_config(BLOCK, ConfigContext()) == []
    block = Block("intro", "note", config={"style": "bold"})
    assert [p.code for p in NOTE.validate_config(block, ConfigContext())] == [
        ErrorCode.INVALID_CONFIG
    ]


def test_note_is_not_indexed() -> None:
    assert NOTE.index_kind is IndexKind.NONE
    assert NOTE.operand is None
