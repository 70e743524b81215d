from __future__ import annotations

import pytest

from blocks.names import (
    GRAPHQL_NAME,
    MAX_FIELD_NAME_LENGTH,
    RESERVED_FIELD_NAMES,
    check_field_name,
    check_slug,
    suggest_field_name,
    type_name_for_app,
)


@pytest.mark.parametrize(
    "name",
    ["plot", "tree_height", "_private", "Seedling_1", "a", "x" * 64, "ID", "Version"],
)
def test_field_name_valid(name: str) -> None:
    assert check_field_name(name) is None


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("", "must not be empty"),
        ("1st_plot", "starts with a digit"),
        ("tree-height", "contains '-'"),
        ("__typename", "reserves for introspection"),
        ("a b", "contains spaces"),
        ("Höhe", "non-ASCII"),
        ("x" * 65, "65 characters long"),
        ("price$", "other than ASCII letters"),
        ("id", "reserved"),
        ("createdAt", "reserved"),
        ("updatedBy", "reserved"),
        ("revision", "reserved"),
    ],
)
def test_field_name_invalid_reason(name: str, reason: str) -> None:
    message = check_field_name(name)
    assert message is not None
    assert reason in message


def test_field_name_message_suggests() -> None:
    message = check_field_name("tree-height")
    assert message is not None
    assert "'tree_height'" in message


@pytest.mark.parametrize(
    ("raw", "suggestion"),
    [
        ("1st plot", "_1st_plot"),
        ("tree-height", "tree_height"),
        ("__typename", "typename"),
        ("Höhe", "Hohe"),
        ("a b", "a_b"),
        ("", "field"),
        ("  --  ", "field"),
        ("Straße", "Strasse"),
        ("id", "id_"),
        ("plot", "plot"),
        ("a  -  b", "a_b"),
        ("café au lait!", "cafe_au_lait"),
        ("高度", "field"),
    ],
)
def test_suggest_field_name_table(raw: str, suggestion: str) -> None:
    assert suggest_field_name(raw) == suggestion


@pytest.mark.parametrize(
    "raw",
    ["1st plot", "__x", "Höhe", "", "id", "9" * 100, "-" * 70 + "a", "ñ" * 80],
)
def test_suggest_field_name_is_valid(raw: str) -> None:
    assert check_field_name(suggest_field_name(raw)) is None


def test_suggest_field_name_truncates() -> None:
    assert len(suggest_field_name("a-" * 100)) <= MAX_FIELD_NAME_LENGTH


def test_reserved_names_are_graphql_names() -> None:
    assert all(GRAPHQL_NAME.match(name) for name in RESERVED_FIELD_NAMES)


@pytest.mark.parametrize("slug", ["trees", "tree-survey", "a", "a1-b2", "x" * 63])
def test_slug_valid(slug: str) -> None:
    assert check_slug(slug) is None


@pytest.mark.parametrize(
    ("slug", "reason", "suggestion"),
    [
        ("", "must not be empty", "'app'"),
        ("Trees", "start with a lowercase letter", "'trees'"),
        ("trees_2", "only lowercase letters", "'trees-2'"),
        ("1trees", "start with a lowercase letter", "'app-1trees'"),
        ("-trees", "start with a lowercase letter", "'trees'"),
        ("tree survey", "only lowercase letters", "'tree-survey'"),
        ("x" * 64, "64 characters long", "'" + "x" * 63 + "'"),
    ],
)
def test_slug_invalid(slug: str, reason: str, suggestion: str) -> None:
    message = check_slug(slug)
    assert message is not None
    assert reason in message
    assert suggestion in message


def test_type_name_pascal_case() -> None:
    assert type_name_for_app("tree-survey", set()) == "TreeSurvey"


def test_type_name_keeps_digits() -> None:
    assert type_name_for_app("plot-2024", set()) == "Plot2024"


def test_type_name_collision_numbered() -> None:
    taken = {"TreeSurvey"}
    assert type_name_for_app("tree-survey", taken) == "TreeSurvey_2"


def test_type_name_collision_sequence() -> None:
    taken: set[str] = set()
    names = []
    for slug in ["a-b", "ab", "a--b"]:
        name = type_name_for_app(slug, taken)
        taken.add(name)
        names.append(name)
    assert names == ["AB", "Ab", "AB_2"]


def test_type_name_is_stable() -> None:
    first = type_name_for_app("tree-survey", {"TreeSurvey"})
    second = type_name_for_app("tree-survey", {"TreeSurvey"})
    assert first == second


def test_type_name_avoids_reserved() -> None:
    reserved = frozenset({"Query", "Mutation", "PageInfo"})
    assert type_name_for_app("query", set(), reserved) == "QueryApp"


@pytest.mark.parametrize(
    ("slug", "name"),
    [
        ("tree-filter", "TreeFilterApp"),
        ("tree-connection", "TreeConnectionApp"),
        ("order-by", "OrderByApp"),
        ("tree-row", "TreeRowApp"),
        ("sale-payload", "SalePayloadApp"),
        ("tree-create-input", "TreeCreateInputApp"),
        ("edge", "EdgeApp"),
        ("arrow", "Arrow"),
    ],
)
def test_type_name_avoids_suffixes(slug: str, name: str) -> None:
    assert type_name_for_app(slug, set()) == name


def test_type_name_suffix_then_collision() -> None:
    taken = {"TreeFilterApp"}
    assert type_name_for_app("tree-filter", taken) == "TreeFilterApp_2"


def test_type_name_numbered_skips_reserved() -> None:
    reserved = frozenset({"Tree_2"})
    assert type_name_for_app("tree", {"Tree"}, reserved) == "Tree_3"


def test_type_name_invalid_slug_raises() -> None:
    with pytest.raises(ValueError, match="lowercase"):
        type_name_for_app("Tree Survey", set())


def test_type_names_are_graphql_names() -> None:
    for slug in ["a", "tree-survey", "x1-y2", "order-by"]:
        assert GRAPHQL_NAME.match(type_name_for_app(slug, set()))
