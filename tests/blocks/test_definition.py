import pytest

from blocks.definition import MAX_BLOCK_DEPTH, parse_definition
from blocks.errors import DefinitionError, ErrorCode


def test_definition_rejects_unknown_key() -> None:
    with pytest.raises(DefinitionError) as caught:
        parse_definition({"blocks": [], "foo": 1})
    problems = caught.value.problems
    assert [p.path for p in problems] == [("foo",)]
    assert problems[0].code is ErrorCode.UNKNOWN_FIELD
    assert problems[0].message == (
        "Unknown definition key 'foo'; allowed keys are blocks, languages, "
        "default_language."
    )


def test_definition_requires_blocks() -> None:
    with pytest.raises(DefinitionError) as caught:
        parse_definition({})
    problems = caught.value.problems
    assert [p.path for p in problems] == [("blocks",)]
    assert problems[0].code is ErrorCode.REQUIRED
    assert 'needs the key "blocks"' in problems[0].message


def test_definition_keeps_language_keys() -> None:
    definition = parse_definition(
        {"blocks": [], "languages": ["en", "sw"], "default_language": "sw"}
    )
    assert definition.languages == ("en", "sw")
    assert definition.default_language == "sw"


def _nested(depth: int) -> dict[str, object]:
    block: dict[str, object] = {"id": f"b{depth}", "type": "section"}
    for level in range(depth - 1, 0, -1):
        block = {"id": f"b{level}", "type": "section", "children": [block]}
    return {"blocks": [block]}


def test_definition_accepts_max_depth() -> None:
    definition = parse_definition(_nested(MAX_BLOCK_DEPTH))
    assert definition.find(f"b{MAX_BLOCK_DEPTH}") is not None


def test_definition_rejects_deep_nesting() -> None:
    with pytest.raises(DefinitionError) as caught:
        parse_definition(_nested(3000))
    problems = caught.value.problems
    assert len(problems) == 1
    assert problems[0].code is ErrorCode.INVALID
    assert len(problems[0].path) == 2 * MAX_BLOCK_DEPTH + 1
    assert f"nested more than {MAX_BLOCK_DEPTH} levels deep" in problems[0].message
