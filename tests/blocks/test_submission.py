from __future__ import annotations

import random
from decimal import Decimal
from typing import Any

import pytest

from blocks.base import ConfigContext, FileInfo, ValueContext
from blocks.definition import Definition, parse_definition
from blocks.errors import DefinitionError, ErrorCode, Problem, SubmissionError
from blocks.registry import BlockRegistry
from blocks.submission import expression_env, normalize_submission
from blocks.validation import validate_definition


class Files:
    """No files exist in this workspace."""

    async def get_file(self, file_id: str) -> FileInfo | None:
        return None


class Records:
    """No records exist in other apps."""

    async def record_exists(self, app_slug: str, record_id: str) -> bool:
        return False


class Sequences:
    """Counters per block id, starting at the requested start."""

    def __init__(self) -> None:
        self.last: dict[str, int] = {}

    async def next_number(self, block_id: str, start: int) -> int:
        number = self.last.get(block_id, start - 1) + 1
        self.last[block_id] = number
        return number


@pytest.fixture(scope="module")
def registry() -> BlockRegistry:
    return BlockRegistry.default(load_entry_points=False)


@pytest.fixture
def sequences() -> Sequences:
    return Sequences()


@pytest.fixture
def context(sequences: Sequences) -> ValueContext:
    return ValueContext("ws1", "app1", Files(), Records(), sequences)


def definition_of(registry: BlockRegistry, data: dict[str, Any]) -> Definition:
    definition = parse_definition(data)
    assert validate_definition(definition, registry, ConfigContext()) == []
    return definition


async def submit(
    registry: BlockRegistry,
    context: ValueContext,
    blocks: list[dict[str, Any]],
    data: dict[str, Any],
    **options: Any,
) -> dict[str, Any]:
    definition = definition_of(registry, {"blocks": blocks})
    return await normalize_submission(definition, registry, data, context, **options)


async def problems_of(
    registry: BlockRegistry,
    context: ValueContext,
    blocks: list[dict[str, Any]],
    data: dict[str, Any],
    **options: Any,
) -> list[Problem]:
    with pytest.raises(SubmissionError) as caught:
        await submit(registry, context, blocks, data, **options)
    return list(caught.value.problems)


def only(problems: list[Problem]) -> Problem:
    assert len(problems) == 1, problems
    return problems[0]


def text(block_id: str, **keys: Any) -> dict[str, Any]:
    return {"id": block_id, "type": "text", **keys}


def number(block_id: str, **keys: Any) -> dict[str, Any]:
    return {"id": block_id, "type": "number", **keys}


def calculation(
    block_id: str, expression: str, result: str = "number"
) -> dict[str, Any]:
    return {
        "id": block_id,
        "type": "calculation",
        "config": {"expression": expression, "result": result},
    }


def section(block_id: str, *children: dict[str, Any], **keys: Any) -> dict[str, Any]:
    return {"id": block_id, "type": "section", "children": list(children), **keys}


def repeat(block_id: str, *children: dict[str, Any], **keys: Any) -> dict[str, Any]:
    return {"id": block_id, "type": "repeat", "children": list(children), **keys}


# Keys -------------------------------------------------------------------


async def test_unknown_field_lists_valid(
    registry: BlockRegistry, context: ValueContext
) -> None:
    problem = only(
        await problems_of(registry, context, [text("a"), number("b")], {"c": 1})
    )
    assert problem.code is ErrorCode.UNKNOWN_FIELD
    assert problem.path == ("c",)
    assert "a, b" in problem.message


async def test_unknown_field_in_row(
    registry: BlockRegistry, context: ValueContext
) -> None:
    blocks = [repeat("trees", number("dbh"))]
    problem = only(
        await problems_of(registry, context, blocks, {"trees": [{"dbh": 1, "x": 2}]})
    )
    assert problem.code is ErrorCode.UNKNOWN_FIELD
    assert problem.path == ("trees", 0, "x")


async def test_row_field_at_top_unknown(
    registry: BlockRegistry, context: ValueContext
) -> None:
    blocks = [repeat("trees", number("dbh"))]
    problem = only(await problems_of(registry, context, blocks, {"dbh": 1}))
    assert problem.code is ErrorCode.UNKNOWN_FIELD


@pytest.mark.parametrize(
    ("block", "fragment"),
    [
        (calculation("c", "1 + 1"), "computed by the server"),
        ({"id": "c", "type": "unique_number"}, "assigned by the server"),
        ({"id": "c", "type": "note", "label": "Hi"}, "stores no value"),
        (section("c", text("inner")), "stores no value"),
    ],
)
async def test_read_only_blocks(
    registry: BlockRegistry, context: ValueContext, block: dict[str, Any], fragment: str
) -> None:
    problem = only(await problems_of(registry, context, [block], {"c": 1}))
    assert problem.code is ErrorCode.READ_ONLY
    assert problem.path == ("c",)
    assert fragment in problem.message


async def test_data_not_mapping(registry: BlockRegistry, context: ValueContext) -> None:
    definition = definition_of(registry, {"blocks": [text("a")]})
    with pytest.raises(SubmissionError) as caught:
        await normalize_submission(definition, registry, ["a"], context)  # type: ignore[arg-type]
    assert caught.value.problems[0].code is ErrorCode.INVALID_TYPE


# Values and requirements ------------------------------------------------


async def test_values_normalized(
    registry: BlockRegistry, context: ValueContext
) -> None:
    blocks = [text("a"), number("b"), number("c", config={"kind": "integer"})]
    stored = await submit(registry, context, blocks, {"a": "x", "b": 2.5, "c": "7"})
    assert stored == {"a": "x", "b": "2.5", "c": 7}


async def test_null_value_not_stored(
    registry: BlockRegistry, context: ValueContext
) -> None:
    stored = await submit(
        registry, context, [text("a"), text("b")], {"a": None, "b": "x"}
    )
    assert stored == {"b": "x"}


async def test_value_problem_path(
    registry: BlockRegistry, context: ValueContext
) -> None:
    problem = only(await problems_of(registry, context, [number("n")], {"n": "abc"}))
    assert problem.code is ErrorCode.INVALID
    assert problem.path == ("n",)


async def test_all_problems_reported(
    registry: BlockRegistry, context: ValueContext
) -> None:
    blocks = [
        text("a", required=True),
        number("b", config={"max": 10}),
        repeat("trees", number("dbh")),
    ]
    data = {"b": 11, "trees": [{"dbh": 1}, {"dbh": 2}, {"dbh": "x"}], "zzz": 1}
    problems = await problems_of(registry, context, blocks, data)
    found = {(p.code, p.path) for p in problems}
    assert found == {
        (ErrorCode.UNKNOWN_FIELD, ("zzz",)),
        (ErrorCode.OUT_OF_RANGE, ("b",)),
        (ErrorCode.INVALID, ("trees", 2, "dbh")),
        (ErrorCode.REQUIRED, ("a",)),
    }


async def test_required_missing(registry: BlockRegistry, context: ValueContext) -> None:
    problem = only(await problems_of(registry, context, [text("a", required=True)], {}))
    assert problem.code is ErrorCode.REQUIRED
    assert problem.path == ("a",)
    assert problem.message == "A value is required."


async def test_required_empty_text(
    registry: BlockRegistry, context: ValueContext
) -> None:
    problem = only(
        await problems_of(registry, context, [text("a", required=True)], {"a": ""})
    )
    assert problem.code is ErrorCode.REQUIRED


async def test_invalid_value_not_also_required(
    registry: BlockRegistry, context: ValueContext
) -> None:
    problem = only(
        await problems_of(registry, context, [number("n", required=True)], {"n": "x"})
    )
    assert problem.code is ErrorCode.INVALID


REQUIRED_IF = [
    {"id": "smoker", "type": "boolean"},
    number("cigarettes", required_if="smoker"),
]


async def test_required_if_true(registry: BlockRegistry, context: ValueContext) -> None:
    problem = only(await problems_of(registry, context, REQUIRED_IF, {"smoker": True}))
    assert problem.code is ErrorCode.REQUIRED
    assert problem.path == ("cigarettes",)


async def test_required_if_false(
    registry: BlockRegistry, context: ValueContext
) -> None:
    stored = await submit(registry, context, REQUIRED_IF, {"smoker": False})
    assert stored == {"smoker": False}


async def test_required_if_null_condition(
    registry: BlockRegistry, context: ValueContext
) -> None:
    assert await submit(registry, context, REQUIRED_IF, {}) == {}


# Visibility -------------------------------------------------------------

VISIBILITY = [
    {"id": "has_trees", "type": "boolean"},
    number("tree_count", required=True, visible_if="has_trees"),
    section(
        "details",
        text("species", required=True),
        visible_if="tree_count > 0",
    ),
    repeat("trees", number("dbh"), visible_if="has_trees"),
]


async def test_hidden_value_dropped(
    registry: BlockRegistry, context: ValueContext
) -> None:
    data = {"has_trees": False, "tree_count": 3, "trees": [{"dbh": 1}]}
    stored = await submit(registry, context, VISIBILITY, data)
    assert stored == {"has_trees": False}


async def test_hidden_invalid_value_dropped(
    registry: BlockRegistry, context: ValueContext
) -> None:
    data = {"has_trees": False, "tree_count": "many", "trees": [{"dbh": "x"}, 3]}
    stored = await submit(registry, context, VISIBILITY, data)
    assert stored == {"has_trees": False}


async def test_hidden_not_required(
    registry: BlockRegistry, context: ValueContext
) -> None:
    stored = await submit(registry, context, VISIBILITY, {"has_trees": False})
    assert stored == {"has_trees": False}


async def test_visible_required(registry: BlockRegistry, context: ValueContext) -> None:
    problems = await problems_of(registry, context, VISIBILITY, {"has_trees": True})
    assert [(p.code, p.path) for p in problems] == [
        (ErrorCode.REQUIRED, ("tree_count",))
    ]


async def test_section_visible_requires_children(
    registry: BlockRegistry, context: ValueContext
) -> None:
    data = {"has_trees": True, "tree_count": 2}
    problem = only(await problems_of(registry, context, VISIBILITY, data))
    assert problem.path == ("species",)


async def test_hidden_section_hides_children(
    registry: BlockRegistry, context: ValueContext
) -> None:
    data = {"has_trees": True, "tree_count": 0, "species": "oak"}
    stored = await submit(registry, context, VISIBILITY, data)
    assert "species" not in stored


async def test_hidden_block_is_null_for_others(
    registry: BlockRegistry, context: ValueContext
) -> None:
    # tree_count is hidden, so the section that depends on it is hidden too,
    # although the submitted tree_count would make it visible.
    data = {"has_trees": False, "tree_count": 5, "species": "oak"}
    stored = await submit(registry, context, VISIBILITY, data)
    assert "species" not in stored


async def test_visibility_uses_later_block(
    registry: BlockRegistry, context: ValueContext
) -> None:
    blocks = [text("reason", visible_if="score < 3"), number("score")]
    stored = await submit(registry, context, blocks, {"reason": "late", "score": 5})
    assert stored == {"score": "5"}


async def test_visibility_in_rows(
    registry: BlockRegistry, context: ValueContext
) -> None:
    blocks = [
        number("threshold"),
        repeat("trees", number("dbh"), text("note", visible_if="dbh > threshold")),
    ]
    data = {
        "threshold": 10,
        "trees": [{"dbh": 5, "note": "small"}, {"dbh": 20, "note": "big"}],
    }
    stored = await submit(registry, context, blocks, data)
    assert stored["trees"] == [{"dbh": "5"}, {"dbh": "20", "note": "big"}]


async def test_row_index_visibility(
    registry: BlockRegistry, context: ValueContext
) -> None:
    blocks = [repeat("rows", text("first_only", visible_if="index() = 1"))]
    data = {"rows": [{"first_only": "a"}, {"first_only": "b"}]}
    stored = await submit(registry, context, blocks, data)
    assert stored["rows"] == [{"first_only": "a"}, {}]


# Rules ------------------------------------------------------------------

RULED = {
    "languages": ["en", "sw"],
    "default_language": "en",
    "blocks": [
        number(
            "age",
            rules=[
                {
                    "expression": ". >= 18",
                    "message": {
                        "en": "Must be an adult.",
                        "sw": "Lazima awe mtu mzima.",
                    },
                },
                {"expression": ". < 150"},
            ],
        )
    ],
}


@pytest.mark.parametrize(
    ("language", "message"),
    [
        ("en", "Must be an adult."),
        ("sw", "Lazima awe mtu mzima."),
        ("fr", "Must be an adult."),
    ],
)
async def test_rule_message_language(
    registry: BlockRegistry, context: ValueContext, language: str, message: str
) -> None:
    definition = definition_of(registry, RULED)
    context.language = language
    with pytest.raises(SubmissionError) as caught:
        await normalize_submission(definition, registry, {"age": 12}, context)
    problem = only(list(caught.value.problems))
    assert problem.code is ErrorCode.RULE_FAILED
    assert problem.path == ("age",)
    assert problem.message == message


async def test_rule_without_message(
    registry: BlockRegistry, context: ValueContext
) -> None:
    definition = definition_of(registry, RULED)
    with pytest.raises(SubmissionError) as caught:
        await normalize_submission(definition, registry, {"age": 200}, context)
    problem = only(list(caught.value.problems))
    assert problem.message == "The value does not satisfy . < 150."


async def test_rule_passes(registry: BlockRegistry, context: ValueContext) -> None:
    definition = definition_of(registry, RULED)
    stored = await normalize_submission(definition, registry, {"age": 30}, context)
    assert stored == {"age": "30"}


async def test_rule_error_reported(
    registry: BlockRegistry, context: ValueContext
) -> None:
    blocks = [number("zero"), number("n", rules=[". / zero > 1"])]
    problem = only(await problems_of(registry, context, blocks, {"zero": 0, "n": 3}))
    assert problem.code is ErrorCode.RULE_FAILED
    assert problem.path == ("n",)
    assert "Division by zero" in problem.message


async def test_rule_null_passes(registry: BlockRegistry, context: ValueContext) -> None:
    blocks = [number("cap"), number("n", rules=["if(cap = null, null, . <= cap)"])]
    assert await submit(registry, context, blocks, {"n": 3}) == {"n": "3"}


async def test_rule_skipped_for_empty(
    registry: BlockRegistry, context: ValueContext
) -> None:
    assert await submit(registry, context, [number("n", rules=[". > 5"])], {}) == {}


async def test_rule_sees_other_values(
    registry: BlockRegistry, context: ValueContext
) -> None:
    blocks = [number("low"), number("high", rules=[". > low"])]
    problem = only(await problems_of(registry, context, blocks, {"low": 5, "high": 2}))
    assert problem.path == ("high",)


async def test_rule_on_row_field(
    registry: BlockRegistry, context: ValueContext
) -> None:
    blocks = [repeat("trees", number("dbh", rules=[". > 0"]))]
    data = {"trees": [{"dbh": 1}, {"dbh": 2}, {"dbh": -1}]}
    problem = only(await problems_of(registry, context, blocks, data))
    assert problem.code is ErrorCode.RULE_FAILED
    assert problem.path == ("trees", 2, "dbh")


# Choice filters ---------------------------------------------------------

CHOICES = [
    {
        "id": "region",
        "type": "select_one",
        "config": {"options": [{"value": "north"}, {"value": "south"}]},
    },
    {
        "id": "district",
        "type": "select_one",
        "config": {
            "options": [
                {"value": "d1", "data": {"region": "north"}},
                {"value": "d2", "data": {"region": "south"}},
            ],
            "choice_filter": "option.region = region",
            "allow_other": True,
        },
    },
    {
        "id": "districts",
        "type": "select_many",
        "config": {
            "options": [
                {"value": "d1", "data": {"region": "north"}},
                {"value": "d2", "data": {"region": "south"}},
            ],
            "choice_filter": "option.region = region",
        },
    },
]


async def test_choice_filter_allows(
    registry: BlockRegistry, context: ValueContext
) -> None:
    data = {"region": "north", "district": "d1", "districts": ["d1"]}
    assert await submit(registry, context, CHOICES, data) == data


async def test_choice_filter_rejects(
    registry: BlockRegistry, context: ValueContext
) -> None:
    data = {"region": "north", "district": "d2"}
    problem = only(await problems_of(registry, context, CHOICES, data))
    assert problem.code is ErrorCode.UNKNOWN_OPTION
    assert problem.path == ("district",)
    assert "d1" in problem.message


async def test_choice_filter_many_path(
    registry: BlockRegistry, context: ValueContext
) -> None:
    data = {"region": "south", "districts": ["d2", "d1"]}
    problem = only(await problems_of(registry, context, CHOICES, data))
    assert problem.code is ErrorCode.UNKNOWN_OPTION
    assert problem.path == ("districts", 1)


async def test_choice_filter_other_text(
    registry: BlockRegistry, context: ValueContext
) -> None:
    data = {"region": "north", "district": "somewhere else"}
    assert await submit(registry, context, CHOICES, data) == data


# Repeats ----------------------------------------------------------------


async def test_repeat_not_list(registry: BlockRegistry, context: ValueContext) -> None:
    blocks = [repeat("trees", number("dbh"))]
    problem = only(await problems_of(registry, context, blocks, {"trees": {"dbh": 1}}))
    assert problem.code is ErrorCode.INVALID_TYPE
    assert problem.path == ("trees",)


async def test_repeat_row_not_mapping(
    registry: BlockRegistry, context: ValueContext
) -> None:
    blocks = [repeat("trees", number("dbh"))]
    problem = only(
        await problems_of(registry, context, blocks, {"trees": [{"dbh": 1}, 5]})
    )
    assert problem.code is ErrorCode.INVALID_TYPE
    assert problem.path == ("trees", 1)


async def test_repeat_min_rows(registry: BlockRegistry, context: ValueContext) -> None:
    blocks = [repeat("trees", number("dbh"), config={"min_rows": 2})]
    problem = only(
        await problems_of(registry, context, blocks, {"trees": [{"dbh": 1}]})
    )
    assert problem.code is ErrorCode.TOO_FEW
    assert problem.path == ("trees",)


async def test_repeat_max_rows(registry: BlockRegistry, context: ValueContext) -> None:
    blocks = [repeat("trees", number("dbh"), config={"max_rows": 2})]
    data = {"trees": [{"dbh": 1}, {"dbh": 2}, {"dbh": "not checked"}]}
    problem = only(await problems_of(registry, context, blocks, data))
    assert problem.code is ErrorCode.TOO_MANY
    assert problem.path == ("trees",)


@pytest.mark.parametrize(
    ("rows", "code"), [(1, ErrorCode.TOO_FEW), (3, ErrorCode.TOO_MANY)]
)
async def test_repeat_count_expression(
    registry: BlockRegistry, context: ValueContext, rows: int, code: ErrorCode
) -> None:
    blocks = [
        number("members", config={"kind": "integer"}),
        repeat("people", text("name"), config={"count": "members"}),
    ]
    data = {"members": 2, "people": [{"name": "x"}] * rows}
    problem = only(await problems_of(registry, context, blocks, data))
    assert problem.code is code
    assert problem.path == ("people",)


async def test_repeat_count_matches(
    registry: BlockRegistry, context: ValueContext
) -> None:
    blocks = [
        number("members", config={"kind": "integer"}),
        repeat("people", text("name"), config={"count": "members"}),
    ]
    data = {"members": 2, "people": [{"name": "x"}, {"name": "y"}]}
    assert await submit(registry, context, blocks, data) == data


async def test_repeat_required_empty(
    registry: BlockRegistry, context: ValueContext
) -> None:
    blocks = [repeat("trees", number("dbh"), required=True)]
    problem = only(await problems_of(registry, context, blocks, {"trees": []}))
    assert problem.code is ErrorCode.REQUIRED


# Calculations -----------------------------------------------------------


async def test_calculation_before_inputs(
    registry: BlockRegistry, context: ValueContext
) -> None:
    blocks = [
        calculation("area", "width * length"),
        number("width"),
        number("length"),
    ]
    stored = await submit(registry, context, blocks, {"width": 2, "length": "3.5"})
    assert stored == {"area": "7", "width": "2", "length": "3.5"}


async def test_calculation_chain(
    registry: BlockRegistry, context: ValueContext
) -> None:
    blocks = [
        calculation("c", "b + 1"),
        calculation("b", "a * 2"),
        number("a"),
        text("big", visible_if="c > 10"),
    ]
    stored = await submit(registry, context, blocks, {"a": 5, "big": "yes"})
    assert stored == {"c": "11", "b": "10", "a": "5", "big": "yes"}


async def test_calculation_error_reported(
    registry: BlockRegistry, context: ValueContext
) -> None:
    blocks = [number("a"), calculation("c", "10 / a")]
    problem = only(await problems_of(registry, context, blocks, {"a": 0}))
    assert problem.code is ErrorCode.INVALID
    assert problem.path == ("c",)


async def test_calculation_result_coerced(
    registry: BlockRegistry, context: ValueContext
) -> None:
    blocks = [number("a"), calculation("label", "a > 1", result="text")]
    assert await submit(registry, context, blocks, {"a": 2}) == {
        "a": "2",
        "label": "true",
    }


async def test_calculation_result_invalid(
    registry: BlockRegistry, context: ValueContext
) -> None:
    blocks = [number("a"), calculation("flag", "a + 1", result="boolean")]
    problem = only(await problems_of(registry, context, blocks, {"a": 2}))
    assert problem.code is ErrorCode.INVALID_TYPE
    assert problem.path == ("flag",)


async def test_calculation_null_not_stored(
    registry: BlockRegistry, context: ValueContext
) -> None:
    blocks = [number("a"), calculation("double", "a * 2")]
    assert await submit(registry, context, blocks, {}) == {}


async def test_calculation_cycle_raises(
    registry: BlockRegistry, context: ValueContext
) -> None:
    definition = parse_definition({"blocks": [calculation("a", "a + 1")]})
    with pytest.raises(DefinitionError):
        await normalize_submission(definition, registry, {}, context)


async def test_unknown_block_type_raises(
    registry: BlockRegistry, context: ValueContext
) -> None:
    definition = parse_definition({"blocks": [{"id": "a", "type": "gone"}]})
    with pytest.raises(DefinitionError) as caught:
        await normalize_submission(definition, registry, {}, context)
    assert caught.value.problems[0].code is ErrorCode.UNKNOWN_BLOCK_TYPE


# Assigned values and updates --------------------------------------------

NUMBERED = [
    {"id": "ticket", "type": "unique_number", "config": {"start": 100}},
    text("title"),
    text("body"),
    calculation("title_length", "length(title)"),
]


async def test_assigned_on_create(
    registry: BlockRegistry, context: ValueContext
) -> None:
    first = await submit(registry, context, NUMBERED, {"title": "a"})
    second = await submit(registry, context, NUMBERED, {"title": "b"})
    assert first["ticket"] == 100
    assert second["ticket"] == 101


async def test_assigned_kept_on_update(
    registry: BlockRegistry, context: ValueContext, sequences: Sequences
) -> None:
    existing = {"ticket": 7, "title": "old"}
    stored = await submit(
        registry, context, NUMBERED, {"title": "new"}, existing=existing
    )
    assert stored["ticket"] == 7
    assert sequences.last == {}


async def test_full_update_replaces(
    registry: BlockRegistry, context: ValueContext
) -> None:
    existing = {"ticket": 7, "title": "old", "body": "text", "title_length": 3}
    stored = await submit(
        registry, context, NUMBERED, {"title": "new!"}, existing=existing
    )
    assert stored == {"ticket": 7, "title": "new!", "title_length": 4}


async def test_partial_update_merges(
    registry: BlockRegistry, context: ValueContext
) -> None:
    existing = {"ticket": 7, "title": "old", "body": "text", "title_length": 3}
    stored = await submit(
        registry, context, NUMBERED, {"title": "newer"}, existing=existing, partial=True
    )
    assert stored == {"ticket": 7, "title": "newer", "body": "text", "title_length": 5}


async def test_partial_update_null_clears(
    registry: BlockRegistry, context: ValueContext
) -> None:
    existing = {"ticket": 7, "title": "old", "body": "text"}
    stored = await submit(
        registry, context, NUMBERED, {"body": None}, existing=existing, partial=True
    )
    assert stored == {"ticket": 7, "title": "old", "title_length": 3}


async def test_partial_update_checks_merged(
    registry: BlockRegistry, context: ValueContext
) -> None:
    blocks = [text("a", required=True), text("b")]
    problem = only(
        await problems_of(
            registry, context, blocks, {"a": None}, existing={"a": "x"}, partial=True
        )
    )
    assert problem.path == ("a",)


async def test_partial_update_drops_removed_blocks(
    registry: BlockRegistry, context: ValueContext
) -> None:
    existing = {"title": "t", "gone": "old block"}
    stored = await submit(
        registry, context, [text("title")], {}, existing=existing, partial=True
    )
    assert stored == {"title": "t"}


async def test_partial_without_existing(
    registry: BlockRegistry, context: ValueContext
) -> None:
    with pytest.raises(ValueError, match="existing"):
        await submit(registry, context, [text("a")], {}, partial=True)


async def test_assigned_in_rows_by_index(
    registry: BlockRegistry, context: ValueContext
) -> None:
    blocks = [repeat("items", text("name"), {"id": "no", "type": "unique_number"})]
    existing = {"items": [{"name": "a", "no": 1}, {"name": "b", "no": 2}]}
    data = {"items": [{"name": "a2"}, {"name": "b2"}, {"name": "c"}]}
    stored = await submit(registry, context, blocks, data, existing=existing)
    assert stored["items"] == [
        {"name": "a2", "no": 1},
        {"name": "b2", "no": 2},
        {"name": "c"},
    ]


# Nested example ---------------------------------------------------------

FOREST: dict[str, Any] = {
    "blocks": [
        text("site", required=True),
        repeat(
            "plots",
            text("plot_id", required=True),
            repeat(
                "trees",
                number("dbh", required=True, rules=[". > 0"]),
                {
                    "id": "species",
                    "type": "select_one",
                    "config": {"options": [{"value": "oak"}, {"value": "pine"}]},
                },
                calculation("basal", "dbh * dbh"),
            ),
            calculation("plot_basal", "sum(trees.basal)"),
            calculation("tree_count", "count(trees)"),
        ),
        calculation("site_basal", "sum(plots.plot_basal)"),
        calculation("site_trees", "sum(plots.tree_count)"),
        text("remark", visible_if="site_trees > 2"),
    ]
}

FOREST_DATA: dict[str, Any] = {
    "site": "North ridge",
    "plots": [
        {
            "plot_id": "P1",
            "trees": [{"dbh": 2, "species": "oak"}, {"dbh": "1.5", "species": "pine"}],
        },
        {"plot_id": "P2", "trees": [{"dbh": 3}]},
    ],
    "remark": "dense",
}

FOREST_STORED: dict[str, Any] = {
    "site": "North ridge",
    "plots": [
        {
            "plot_id": "P1",
            "trees": [
                {"dbh": "2", "species": "oak", "basal": "4"},
                {"dbh": "1.5", "species": "pine", "basal": "2.25"},
            ],
            "plot_basal": "6.25",
            "tree_count": 2,
        },
        {
            "plot_id": "P2",
            "trees": [{"dbh": "3", "basal": "9"}],
            "plot_basal": "9",
            "tree_count": 1,
        },
    ],
    "site_basal": "15.25",
    "site_trees": 3,
    "remark": "dense",
}


async def test_nested_example_stored(
    registry: BlockRegistry, context: ValueContext
) -> None:
    definition = definition_of(registry, FOREST)
    stored = await normalize_submission(definition, registry, FOREST_DATA, context)
    assert stored == FOREST_STORED


async def test_nested_example_round_trip(
    registry: BlockRegistry, context: ValueContext
) -> None:
    definition = definition_of(registry, FOREST)
    again = await normalize_submission(
        definition, registry, {}, context, existing=FOREST_STORED, partial=True
    )
    assert again == FOREST_STORED


async def test_nested_example_problem_paths(
    registry: BlockRegistry, context: ValueContext
) -> None:
    definition = definition_of(registry, FOREST)
    data = {
        "site": "x",
        "plots": [
            {"plot_id": "P1", "trees": [{"dbh": 1}]},
            {"trees": [{"dbh": 1}, {"dbh": -2}, {"species": "elm"}]},
        ],
    }
    with pytest.raises(SubmissionError) as caught:
        await normalize_submission(definition, registry, data, context)
    found = {(p.code, p.path) for p in caught.value.problems}
    assert found == {
        (ErrorCode.REQUIRED, ("plots", 1, "plot_id")),
        (ErrorCode.RULE_FAILED, ("plots", 1, "trees", 1, "dbh")),
        (ErrorCode.UNKNOWN_OPTION, ("plots", 1, "trees", 2, "species")),
        (ErrorCode.REQUIRED, ("plots", 1, "trees", 2, "dbh")),
    }


def test_expression_env_of_stored(registry: BlockRegistry) -> None:
    definition = definition_of(registry, FOREST)
    env = expression_env(definition, registry, FOREST_STORED)
    assert env["site_basal"] == Decimal("15.25")
    assert env["plots"][1]["trees"][0]["dbh"] == Decimal("3")
    assert env["remark"] == "dense"


def test_expression_env_missing_is_null(registry: BlockRegistry) -> None:
    definition = definition_of(registry, FOREST)
    env = expression_env(definition, registry, {"site": "x"})
    assert env == {
        "site": "x",
        "plots": [],
        "site_basal": None,
        "site_trees": None,
        "remark": None,
    }


# Fuzzing ----------------------------------------------------------------


def _fuzz_value(rng: random.Random, depth: int) -> Any:
    choice = rng.randrange(8)
    if choice == 0 and depth < 3:
        keys = ["site", "plots", "plot_id", "trees", "dbh", "species", "basal", 3]
        return {rng.choice(keys): _fuzz_value(rng, depth + 1) for _ in range(3)}
    if choice == 1 and depth < 3:
        return [_fuzz_value(rng, depth + 1) for _ in range(rng.randrange(3))]
    if choice == 2:
        return rng.choice([0, -1, 2.5, float("inf"), True, None, 10**40])
    return rng.choice(["", "oak", "1.5", "x", "NaN", "1e999999"])


async def test_fuzz_only_submission_errors(
    registry: BlockRegistry, context: ValueContext
) -> None:
    definition = definition_of(registry, FOREST)
    rng = random.Random(4)
    accepted = 0
    for _ in range(300):
        data = _fuzz_value(rng, 0)
        if not isinstance(data, dict):
            data = {"plots": data}
        try:
            await normalize_submission(definition, registry, data, context)
        except SubmissionError as error:
            assert all(isinstance(p, Problem) for p in error.problems)
        else:
            accepted += 1
    assert accepted < 300
