from __future__ import annotations

import random
from typing import Any

import pytest

from blocks.base import ConfigContext
from blocks.definition import parse_definition
from blocks.errors import DefinitionError, ErrorCode, Problem
from blocks.registry import BlockRegistry
from blocks.validation import (
    MAX_BLOCKS,
    MAX_DEPTH,
    check_definition,
    evaluation_order,
    validate_definition,
)


@pytest.fixture(scope="module")
def registry() -> BlockRegistry:
    return BlockRegistry.default(load_entry_points=False)


def validate(registry: BlockRegistry, data: dict[str, Any]) -> list[Problem]:
    return validate_definition(parse_definition(data), registry, ConfigContext())


def only(problems: list[Problem]) -> Problem:
    assert len(problems) == 1, problems
    return problems[0]


def text(block_id: str, **keys: Any) -> dict[str, Any]:
    return {"id": block_id, "type": "text", **keys}


def number(block_id: str, **keys: Any) -> dict[str, Any]:
    return {"id": block_id, "type": "number", **keys}


def calculation(block_id: str, expression: str) -> dict[str, Any]:
    return {
        "id": block_id,
        "type": "calculation",
        "config": {"expression": expression, "result": "number"},
    }


def section(block_id: str, *children: dict[str, Any], **keys: Any) -> dict[str, Any]:
    return {"id": block_id, "type": "section", "children": list(children), **keys}


def repeat(block_id: str, *children: dict[str, Any], **keys: Any) -> dict[str, Any]:
    return {"id": block_id, "type": "repeat", "children": list(children), **keys}


SURVEY: dict[str, Any] = {
    "languages": ["en", "sw"],
    "blocks": [
        text("plot", label={"en": "Plot", "sw": "Shamba"}, required=True),
        section(
            "site",
            number("slope", config={"min": 0, "max": 90}),
            {"id": "intro", "type": "note", "label": "Measure every tree."},
        ),
        repeat(
            "trees",
            number("dbh", rules=[{"expression": ". > 0"}]),
            text("species", visible_if="dbh > 10 and plot != ''"),
            calculation("basal", "dbh * dbh"),
        ),
        calculation("total_basal", "sum(trees.basal)"),
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
            },
        },
    ],
}


def test_survey_is_valid(registry: BlockRegistry) -> None:
    assert validate(registry, SURVEY) == []


def test_check_definition_passes(registry: BlockRegistry) -> None:
    check_definition(parse_definition(SURVEY), registry, ConfigContext())


def test_check_definition_raises(registry: BlockRegistry) -> None:
    definition = parse_definition({"blocks": [{"id": "x", "type": "nope"}]})
    with pytest.raises(DefinitionError) as caught:
        check_definition(definition, registry, ConfigContext())
    assert caught.value.problems[0].code is ErrorCode.UNKNOWN_BLOCK_TYPE


# Block types and ids ----------------------------------------------------


def test_unknown_type_close_match(registry: BlockRegistry) -> None:
    problem = only(validate(registry, {"blocks": [{"id": "a", "type": "nubmer"}]}))
    assert problem.code is ErrorCode.UNKNOWN_BLOCK_TYPE
    assert problem.path == ("blocks", 0, "type")
    assert "'number'" in problem.message


def test_unknown_type_lists_types(registry: BlockRegistry) -> None:
    problem = only(validate(registry, {"blocks": [{"id": "a", "type": "zzzz"}]}))
    assert "geopoint" in problem.message


def test_duplicate_id_names_both_paths(registry: BlockRegistry) -> None:
    data = {"blocks": [text("a"), section("s", text("b"), number("a"))]}
    problem = only(validate(registry, data))
    assert problem.code is ErrorCode.DUPLICATE_ID
    assert problem.path == ("blocks", 1, "children", 1, "id")
    assert "blocks.0 " in problem.message
    assert "blocks.1.children.1" in problem.message


def test_duplicate_id_across_repeat(registry: BlockRegistry) -> None:
    data = {"blocks": [text("a"), repeat("r", text("a"))]}
    problem = only(validate(registry, data))
    assert problem.code is ErrorCode.DUPLICATE_ID
    assert problem.path == ("blocks", 1, "children", 0, "id")


# Names ------------------------------------------------------------------


def test_invalid_id_as_name(registry: BlockRegistry) -> None:
    problem = only(validate(registry, {"blocks": [text("1st_plot")]}))
    assert problem.code is ErrorCode.INVALID_NAME
    assert problem.path == ("blocks", 0, "id")
    assert "'_1st_plot'" in problem.message


def test_invalid_explicit_name(registry: BlockRegistry) -> None:
    problem = only(validate(registry, {"blocks": [text("h", name="tree-height")]}))
    assert problem.code is ErrorCode.INVALID_NAME
    assert problem.path == ("blocks", 0, "name")
    assert "'tree_height'" in problem.message


def test_reserved_name_rejected(registry: BlockRegistry) -> None:
    problem = only(validate(registry, {"blocks": [number("version")]}))
    assert problem.code is ErrorCode.INVALID_NAME
    assert "reserved" in problem.message


def test_note_needs_no_valid_name(registry: BlockRegistry) -> None:
    data = {"blocks": [{"id": "intro-1", "type": "note", "label": "Hello"}]}
    assert validate(registry, data) == []


def test_duplicate_name_through_section(registry: BlockRegistry) -> None:
    data = {"blocks": [text("a"), section("s", text("b", name="a"))]}
    problem = only(validate(registry, data))
    assert problem.code is ErrorCode.INVALID_NAME
    assert problem.path == ("blocks", 1, "children", 0, "name")
    assert "blocks.0" in problem.message


def test_duplicate_name_inside_repeat(registry: BlockRegistry) -> None:
    data = {"blocks": [repeat("r", text("a"), text("b", name="a"))]}
    problem = only(validate(registry, data))
    assert problem.code is ErrorCode.INVALID_NAME
    assert problem.path == ("blocks", 0, "children", 1, "name")
    assert "row of the repeat 'r'" in problem.message


def test_repeat_row_names_separate(registry: BlockRegistry) -> None:
    data = {"blocks": [text("a"), repeat("r", text("b", name="a"))]}
    assert validate(registry, data) == []


# Structure --------------------------------------------------------------


def test_children_on_non_container(registry: BlockRegistry) -> None:
    data = {"blocks": [text("a", children=[text("b")])]}
    problem = only(validate(registry, data))
    assert problem.code is ErrorCode.INVALID
    assert problem.path == ("blocks", 0, "children")


def test_container_without_children(registry: BlockRegistry) -> None:
    problem = only(validate(registry, {"blocks": [repeat("r")]}))
    assert problem.code is ErrorCode.INVALID
    assert problem.path == ("blocks", 0)


def test_depth_limit(registry: BlockRegistry) -> None:
    block: dict[str, Any] = text("leaf")
    for level in range(MAX_DEPTH):
        block = section(f"s{level}", block)
    problem = only(validate(registry, {"blocks": [block]}))
    assert problem.code is ErrorCode.TOO_MANY
    assert problem.path == ("blocks", 0, *(["children", 0] * MAX_DEPTH))


def test_depth_at_limit_valid(registry: BlockRegistry) -> None:
    block: dict[str, Any] = text("leaf")
    for level in range(MAX_DEPTH - 1):
        block = section(f"s{level}", block)
    assert validate(registry, {"blocks": [block]}) == []


def test_block_count_limit(registry: BlockRegistry) -> None:
    blocks = [text(f"t{i}") for i in range(MAX_BLOCKS + 1)]
    problem = only(validate(registry, {"blocks": blocks}))
    assert problem.code is ErrorCode.TOO_MANY
    assert problem.path == ("blocks",)


def test_block_count_counts_nested(registry: BlockRegistry) -> None:
    children = [text(f"t{i}") for i in range(MAX_BLOCKS)]
    problem = only(validate(registry, {"blocks": [section("s", *children)]}))
    assert problem.code is ErrorCode.TOO_MANY


# Config and requirements ------------------------------------------------


def test_invalid_config_nested_path(registry: BlockRegistry) -> None:
    data = {
        "blocks": [
            text("a"),
            text("b"),
            text("c"),
            section("s", number("n", config={"min": "abc"})),
        ]
    }
    problem = only(validate(registry, data))
    assert problem.code is ErrorCode.INVALID_CONFIG
    assert problem.path == ("blocks", 3, "children", 0, "config", "min")


def test_config_check_by_block_type(registry: BlockRegistry) -> None:
    data = {"blocks": [number("n", config={"min": 5, "max": 1})]}
    problem = only(validate(registry, data))
    assert problem.path == ("blocks", 0, "config", "min")
    assert "swap" in problem.message


def test_note_required_rejected(registry: BlockRegistry) -> None:
    data = {"blocks": [{"id": "n", "type": "note", "required": True}]}
    problem = only(validate(registry, data))
    assert problem.code is ErrorCode.INVALID
    assert problem.path == ("blocks", 0, "required")


def test_calculation_required_rejected(registry: BlockRegistry) -> None:
    block = {**calculation("c", "1 + 1"), "required": True}
    problem = only(validate(registry, {"blocks": [block]}))
    assert problem.code is ErrorCode.INVALID
    assert problem.path == ("blocks", 0, "required")


def test_assigned_required_if_rejected(registry: BlockRegistry) -> None:
    data = {
        "blocks": [
            text("a"),
            {"id": "u", "type": "unique_number", "required_if": "a = 'x'"},
        ]
    }
    problem = only(validate(registry, data))
    assert problem.code is ErrorCode.INVALID
    assert problem.path == ("blocks", 1, "required_if")


def test_section_rules_rejected(registry: BlockRegistry) -> None:
    data = {"blocks": [section("s", text("a"), rules=["true"])]}
    problem = only(validate(registry, data))
    assert problem.path == ("blocks", 0, "rules")


# Languages --------------------------------------------------------------


def test_label_undeclared_language(registry: BlockRegistry) -> None:
    data = {"languages": ["en", "sw"], "blocks": [text("a", label={"fr": "A"})]}
    problem = only(validate(registry, data))
    assert problem.code is ErrorCode.INVALID
    assert problem.path == ("blocks", 0, "label", "fr")


def test_rule_message_undeclared_language(registry: BlockRegistry) -> None:
    rule = {"expression": ". != ''", "message": {"en": "No", "de": "Nein"}}
    data = {"languages": ["en"], "blocks": [text("a", rules=[rule])]}
    problem = only(validate(registry, data))
    assert problem.path == ("blocks", 0, "rules", 0, "message", "de")


def test_hint_undeclared_language(registry: BlockRegistry) -> None:
    data = {"languages": ["en"], "blocks": [text("a", hint={"sw": "x"})]}
    problem = only(validate(registry, data))
    assert problem.path == ("blocks", 0, "hint", "sw")


def test_untagged_label_allowed(registry: BlockRegistry) -> None:
    data = {"languages": ["en"], "blocks": [text("a", label="A")]}
    assert validate(registry, data) == []


def test_languages_undeclared_anything_goes(registry: BlockRegistry) -> None:
    data = {"blocks": [text("a", label={"fr": "A", "de": "B"})]}
    assert validate(registry, data) == []


def test_default_language_undeclared(registry: BlockRegistry) -> None:
    data = {"languages": ["en"], "default_language": "fr", "blocks": [text("a")]}
    problem = only(validate(registry, data))
    assert problem.path == ("default_language",)


# Expressions ------------------------------------------------------------


def test_expression_syntax_error(registry: BlockRegistry) -> None:
    data = {"blocks": [text("a"), text("b", visible_if="a >")]}
    problem = only(validate(registry, data))
    assert problem.code is ErrorCode.INVALID_EXPRESSION
    assert problem.path == ("blocks", 1, "visible_if")
    assert "position 3" in problem.message


def test_rule_syntax_error_path(registry: BlockRegistry) -> None:
    data = {"blocks": [text("a", rules=["true", "(. = 1"])]}
    problem = only(validate(registry, data))
    assert problem.code is ErrorCode.INVALID_EXPRESSION
    assert problem.path == ("blocks", 0, "rules", 1, "expression")


def test_config_expression_error_once(registry: BlockRegistry) -> None:
    data = {"blocks": [calculation("c", "1 +")]}
    problem = only(validate(registry, data))
    assert problem.code is ErrorCode.INVALID_EXPRESSION
    assert problem.path == ("blocks", 0, "config", "expression")


def test_unknown_reference_suggests(registry: BlockRegistry) -> None:
    data = {"blocks": [number("slope"), text("b", required_if="slpe > 3")]}
    problem = only(validate(registry, data))
    assert problem.code is ErrorCode.UNKNOWN_REFERENCE
    assert problem.path == ("blocks", 1, "required_if")
    assert "'slpe'" in problem.message
    assert "'slope'" in problem.message


def test_unknown_reference_in_config(registry: BlockRegistry) -> None:
    data = {"blocks": [calculation("c", "missing + 1")]}
    problem = only(validate(registry, data))
    assert problem.code is ErrorCode.UNKNOWN_REFERENCE
    assert problem.path == ("blocks", 0, "config", "expression")


def test_self_value_in_rule_allowed(registry: BlockRegistry) -> None:
    data = {"blocks": [number("n", rules=[". > 0 and . < 100"])]}
    assert validate(registry, data) == []


def test_option_outside_choice_filter(registry: BlockRegistry) -> None:
    data = {"blocks": [text("a", visible_if="option.x = 1")]}
    problem = only(validate(registry, data))
    assert problem.code is ErrorCode.UNKNOWN_REFERENCE
    assert "'option'" in problem.message


def test_reference_to_note_rejected(registry: BlockRegistry) -> None:
    data = {
        "blocks": [
            {"id": "intro", "type": "note", "label": "Hi"},
            text("a", visible_if="intro = 'x'"),
        ]
    }
    problem = only(validate(registry, data))
    assert problem.code is ErrorCode.UNKNOWN_REFERENCE
    assert "stores no value" in problem.message


def test_row_sees_siblings_and_outer(registry: BlockRegistry) -> None:
    data = {
        "blocks": [
            number("limit"),
            repeat("r", number("x"), number("y", visible_if="x > limit")),
        ]
    }
    assert validate(registry, data) == []


def test_outer_cannot_see_row_field(registry: BlockRegistry) -> None:
    data = {"blocks": [repeat("trees", number("dbh")), text("a", visible_if="dbh > 1")]}
    problem = only(validate(registry, data))
    assert problem.code is ErrorCode.UNKNOWN_REFERENCE
    assert problem.path == ("blocks", 1, "visible_if")
    assert "trees.dbh" in problem.message


def test_repeat_member_unknown(registry: BlockRegistry) -> None:
    data = {
        "blocks": [repeat("trees", number("dbh")), calculation("t", "sum(trees.dhb)")]
    }
    problem = only(validate(registry, data))
    assert problem.code is ErrorCode.UNKNOWN_REFERENCE
    assert "no field 'dhb'" in problem.message


def test_nested_repeat_member_path(registry: BlockRegistry) -> None:
    data = {
        "blocks": [
            repeat("plots", repeat("trees", number("dbh"))),
            calculation("t", "count(plots.trees.dbh)"),
        ]
    }
    assert validate(registry, data) == []


def test_sibling_row_not_visible(registry: BlockRegistry) -> None:
    data = {
        "blocks": [
            repeat("a", number("x")),
            repeat("b", number("y", visible_if="x > 1")),
        ]
    }
    problem = only(validate(registry, data))
    assert problem.code is ErrorCode.UNKNOWN_REFERENCE
    assert problem.path == ("blocks", 1, "children", 0, "visible_if")


# Cycles -----------------------------------------------------------------


def test_calculation_cycle(registry: BlockRegistry) -> None:
    data = {"blocks": [calculation("a", "b + 1"), calculation("b", "a + 1")]}
    problem = only(validate(registry, data))
    assert problem.code is ErrorCode.INVALID_EXPRESSION
    assert problem.path == ("blocks", 0, "config", "expression")
    assert problem.message == "Calculation cycle: a -> b -> a."


def test_calculation_self_cycle(registry: BlockRegistry) -> None:
    problem = only(validate(registry, {"blocks": [calculation("a", "a + 1")]}))
    assert problem.message == "Calculation cycle: a -> a."


def test_calculation_cycle_through_repeat(registry: BlockRegistry) -> None:
    data = {
        "blocks": [
            repeat("trees", number("dbh"), calculation("share", "dbh / total")),
            calculation("total", "sum(trees.share)"),
        ]
    }
    problem = only(validate(registry, data))
    assert problem.code is ErrorCode.INVALID_EXPRESSION
    assert problem.message == "Calculation cycle: trees -> total -> trees."


def test_visibility_cycle(registry: BlockRegistry) -> None:
    data = {
        "blocks": [
            text("a", visible_if="b != null"),
            text("b", visible_if="a != null"),
        ]
    }
    problem = only(validate(registry, data))
    assert problem.code is ErrorCode.INVALID_EXPRESSION
    assert problem.message.startswith("Visibility cycle: a -> b -> a.")


def test_rules_do_not_form_cycles(registry: BlockRegistry) -> None:
    data = {"blocks": [number("a", rules=[". < b"]), number("b", rules=[". > a"])]}
    assert validate(registry, data) == []


def test_evaluation_order_dependencies_first(registry: BlockRegistry) -> None:
    data = {
        "blocks": [
            calculation("double", "base * 2"),
            text("note_text", visible_if="double > 4"),
            number("base"),
        ]
    }
    order = evaluation_order(parse_definition(data), registry)
    assert order == ["base", "double", "note_text"]


def test_evaluation_order_repeat_after_outer(registry: BlockRegistry) -> None:
    data = {
        "blocks": [
            repeat("rows", number("x", visible_if="flag")),
            {"id": "flag", "type": "boolean"},
        ]
    }
    order = evaluation_order(parse_definition(data), registry)
    assert order.index("flag") < order.index("rows")


def test_evaluation_order_cycle_raises(registry: BlockRegistry) -> None:
    data = {"blocks": [calculation("a", "a + 1")]}
    with pytest.raises(DefinitionError):
        evaluation_order(parse_definition(data), registry)


# Fuzzing ----------------------------------------------------------------

_FUZZ_KEYS = [
    "id",
    "type",
    "name",
    "label",
    "hint",
    "required",
    "required_if",
    "visible_if",
    "rules",
    "config",
    "children",
]


def _fuzz_value(rng: random.Random, names: list[str], depth: int) -> Any:
    choice = rng.randrange(9)
    if choice == 0:
        return rng.choice(names)
    if choice == 1:
        return rng.choice(["a > 1", ". = 2", "sum(r.x)", "(", "a +", "${x}", ""])
    if choice == 2:
        return rng.choice([0, -1, 10**30, 1.5, float("nan"), True, None])
    if choice == 3 and depth < 3:
        return [_fuzz_value(rng, names, depth + 1) for _ in range(rng.randrange(3))]
    if choice == 4 and depth < 3:
        return {
            rng.choice(["min", "max", "options", "expression", "en", "value", "x"]): (
                _fuzz_value(rng, names, depth + 1)
            )
            for _ in range(rng.randrange(3))
        }
    if choice == 5 and depth < 3:
        return _fuzz_block(rng, names, depth + 1)
    return rng.choice(["", "x", "Höhe", "1st", "__a", "a b"])


def _fuzz_block(rng: random.Random, names: list[str], depth: int) -> dict[str, Any]:
    block: dict[str, Any] = {
        "id": rng.choice(["a", "b", "c", "r", "x", "1st", ""]),
        "type": rng.choice(names),
    }
    for key in rng.sample(_FUZZ_KEYS, rng.randrange(4)):
        if key == "children" and depth < 3:
            block[key] = [_fuzz_block(rng, names, depth + 1) for _ in range(2)]
        else:
            block[key] = _fuzz_value(rng, names, depth)
    return block


def test_fuzz_only_definition_errors(registry: BlockRegistry) -> None:
    rng = random.Random(20261204)
    names = [*registry.names(), "nope"]
    checked = 0
    for _ in range(400):
        blocks = [_fuzz_block(rng, names, 0) for _ in range(rng.randrange(4))]
        data: dict[str, Any] = {"blocks": blocks}
        if rng.random() < 0.2:
            data["languages"] = rng.choice([["en"], "en", [1], []])
        try:
            definition = parse_definition(data)
        except DefinitionError:
            continue
        problems = validate_definition(definition, registry, ConfigContext())
        assert all(isinstance(p, Problem) for p in problems)
        checked += 1
    assert checked > 50
