from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from blocks.definition import parse_definition
from blocks.diff import Change, ChangeKind, DefinitionDiff, diff_definitions
from blocks.registry import BlockRegistry


@pytest.fixture(scope="module")
def registry() -> BlockRegistry:
    return BlockRegistry.default(load_entry_points=False)


BASE: dict[str, Any] = {
    "blocks": [
        {"id": "plot", "type": "text", "label": {"en": "Plot"}, "required": True},
        {
            "id": "slope",
            "type": "number",
            "config": {"min": 0, "max": 90},
            "rules": [{"expression": ". != 45", "message": {"en": "Odd slope."}}],
        },
        {
            "id": "soil",
            "type": "select_one",
            "config": {
                "options": [
                    {"value": "clay", "label": "Clay"},
                    {"value": "sand", "label": "Sand"},
                ]
            },
        },
        {
            "id": "site",
            "type": "section",
            "children": [
                {"id": "aspect", "type": "text"},
                {"id": "cover", "type": "number", "required": True},
            ],
        },
        {
            "id": "trees",
            "type": "repeat",
            "children": [{"id": "dbh", "type": "number"}],
        },
        {"id": "intro", "type": "note", "label": "Hello"},
        {"id": "visited", "type": "date", "config": {"min": "2020-01-01"}},
    ]
}


def block_at(data: dict[str, Any], block_id: str) -> dict[str, Any]:
    stack = list(data["blocks"])
    while stack:
        block = stack.pop()
        if block["id"] == block_id:
            return block  # type: ignore[no-any-return]
        stack.extend(block.get("children", []))
    raise KeyError(block_id)


def diff(
    registry: BlockRegistry, old: dict[str, Any], new: dict[str, Any]
) -> DefinitionDiff:
    return diff_definitions(parse_definition(old), parse_definition(new), registry)


def changed(registry: BlockRegistry, edit: Any) -> list[Change]:
    new = copy.deepcopy(BASE)
    edit(new)
    return list(diff(registry, BASE, new).changes)


def only(changes: list[Change]) -> Change:
    assert len(changes) == 1, changes
    return changes[0]


def test_identical_no_changes(registry: BlockRegistry) -> None:
    result = diff(registry, BASE, copy.deepcopy(BASE))
    assert result.changes == ()
    assert result.breaking is False


def _set(block_id: str, key: str, value: Any) -> Any:
    def edit(data: dict[str, Any]) -> None:
        block_at(data, block_id)[key] = value

    return edit


def _set_config(block_id: str, key: str, value: Any) -> Any:
    def edit(data: dict[str, Any]) -> None:
        config = block_at(data, block_id).setdefault("config", {})
        if value is None:
            config.pop(key, None)
        else:
            config[key] = value

    return edit


def _add(block: dict[str, Any], parent: str | None = None) -> Any:
    def edit(data: dict[str, Any]) -> None:
        if parent is None:
            data["blocks"].append(block)
        else:
            block_at(data, parent)["children"].append(block)

    return edit


def _remove(block_id: str) -> Any:
    def edit(data: dict[str, Any]) -> None:
        data["blocks"] = [b for b in data["blocks"] if b["id"] != block_id]

    return edit


def _move_aspect_to_top(data: dict[str, Any]) -> None:
    site = block_at(data, "site")
    site["children"] = [c for c in site["children"] if c["id"] != "aspect"]
    data["blocks"].append({"id": "aspect", "type": "text"})


def _move_dbh_to_top(data: dict[str, Any]) -> None:
    block_at(data, "trees")["children"].append({"id": "height", "type": "number"})
    trees = block_at(data, "trees")
    trees["children"] = [c for c in trees["children"] if c["id"] != "dbh"]
    data["blocks"].append({"id": "dbh", "type": "number"})


def _options(*values: str) -> list[dict[str, Any]]:
    return [{"value": v, "label": v.title()} for v in values]


CASES = [
    ("add optional", _add({"id": "x", "type": "text"}), ChangeKind.BLOCK_ADDED, False),
    (
        "add required",
        _add({"id": "x", "type": "text", "required": True}),
        ChangeKind.BLOCK_ADDED,
        True,
    ),
    (
        "add required_if",
        _add({"id": "x", "type": "text", "required_if": "plot = 'a'"}),
        ChangeKind.BLOCK_ADDED,
        True,
    ),
    (
        "add required in section",
        _add({"id": "x", "type": "text", "required": True}, "site"),
        ChangeKind.BLOCK_ADDED,
        True,
    ),
    (
        "add required in row",
        _add({"id": "x", "type": "text", "required": True}, "trees"),
        ChangeKind.BLOCK_ADDED,
        True,
    ),
    (
        "add note",
        _add({"id": "x", "type": "note", "label": "Hi"}),
        ChangeKind.BLOCK_ADDED,
        False,
    ),
    ("remove field", _remove("plot"), ChangeKind.BLOCK_REMOVED, True),
    ("remove note", _remove("intro"), ChangeKind.BLOCK_REMOVED, False),
    ("rename", _set("plot", "name", "plot_name"), ChangeKind.BLOCK_RENAMED, True),
    ("rename note", _set("intro", "name", "welcome"), None, False),
    ("retype", _set("slope", "type", "text"), ChangeKind.BLOCK_RETYPED, True),
    ("move in level", _move_aspect_to_top, ChangeKind.BLOCK_MOVED, False),
    ("required on", _set("slope", "required", True), ChangeKind.REQUIRED_CHANGED, True),
    (
        "required off",
        _set("plot", "required", False),
        ChangeKind.REQUIRED_CHANGED,
        False,
    ),
    (
        "label",
        _set("plot", "label", {"en": "Plot id"}),
        ChangeKind.LABEL_CHANGED,
        False,
    ),
    (
        "hint",
        _set("plot", "hint", "Painted on the post"),
        ChangeKind.LABEL_CHANGED,
        False,
    ),
    (
        "required_if added",
        _set("slope", "required_if", "plot != null"),
        ChangeKind.RULES_CHANGED,
        True,
    ),
    (
        "visible_if added",
        _set("plot", "visible_if", "slope > 1"),
        ChangeKind.RULES_CHANGED,
        False,
    ),
    ("rule added", _set("plot", "rules", [". != 'x'"]), ChangeKind.RULES_CHANGED, True),
    ("rule removed", _set("slope", "rules", []), ChangeKind.RULES_CHANGED, False),
    (
        "rule changed",
        _set(
            "slope",
            "rules",
            [{"expression": ". != 46", "message": {"en": "Odd slope."}}],
        ),
        ChangeKind.RULES_CHANGED,
        True,
    ),
    (
        "rule message",
        _set("slope", "rules", [{"expression": ". != 45", "message": {"en": "Odd."}}]),
        ChangeKind.RULES_CHANGED,
        False,
    ),
    (
        "option added",
        _set_config("soil", "options", _options("clay", "sand", "loam")),
        ChangeKind.OPTIONS_CHANGED,
        False,
    ),
    (
        "option removed",
        _set_config("soil", "options", _options("clay")),
        ChangeKind.OPTIONS_CHANGED,
        True,
    ),
    (
        "option value changed",
        _set_config("soil", "options", _options("clay", "sandy")),
        ChangeKind.OPTIONS_CHANGED,
        True,
    ),
    (
        "option relabelled",
        _set_config(
            "soil",
            "options",
            [
                {"value": "clay", "label": "Heavy clay"},
                {"value": "sand", "label": "Sand"},
            ],
        ),
        ChangeKind.OPTIONS_CHANGED,
        False,
    ),
    (
        "option data changed",
        _set_config(
            "soil",
            "options",
            [
                {"value": "clay", "label": "Clay", "data": {"r": 1}},
                {"value": "sand", "label": "Sand"},
            ],
        ),
        ChangeKind.OPTIONS_CHANGED,
        True,
    ),
    ("min raised", _set_config("slope", "min", 5), ChangeKind.CONFIG_CHANGED, True),
    ("min lowered", _set_config("slope", "min", -5), ChangeKind.CONFIG_CHANGED, False),
    (
        "max lowered",
        _set_config("slope", "max", "45.5"),
        ChangeKind.CONFIG_CHANGED,
        True,
    ),
    ("max raised", _set_config("slope", "max", 180), ChangeKind.CONFIG_CHANGED, False),
    (
        "max removed",
        _set_config("slope", "max", None),
        ChangeKind.CONFIG_CHANGED,
        False,
    ),
    (
        "decimal_places added",
        _set_config("slope", "decimal_places", 1),
        ChangeKind.CONFIG_CHANGED,
        True,
    ),
    (
        "kind changed",
        _set_config("slope", "kind", "integer"),
        ChangeKind.CONFIG_CHANGED,
        True,
    ),
    (
        "date min later",
        _set_config("visited", "min", "2021-06-01"),
        ChangeKind.CONFIG_CHANGED,
        True,
    ),
    (
        "date min earlier",
        _set_config("visited", "min", "2019-06-01"),
        ChangeKind.CONFIG_CHANGED,
        False,
    ),
    (
        "max_rows lowered",
        _set_config("trees", "max_rows", 10),
        ChangeKind.CONFIG_CHANGED,
        True,
    ),
    (
        "placeholder",
        _set_config("plot", "placeholder", "P-001"),
        ChangeKind.CONFIG_CHANGED,
        False,
    ),
    (
        "pattern added",
        _set_config("plot", "pattern", "P-[0-9]+"),
        ChangeKind.CONFIG_CHANGED,
        True,
    ),
    (
        "allow_other on",
        _set_config("soil", "allow_other", True),
        ChangeKind.CONFIG_CHANGED,
        False,
    ),
    (
        "unknown key",
        _set_config("plot", "plugin_key", 1),
        ChangeKind.CONFIG_CHANGED,
        True,
    ),
]


@pytest.mark.parametrize(
    ("edit", "kind", "breaking"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_change_table(
    registry: BlockRegistry, edit: Any, kind: ChangeKind | None, breaking: bool
) -> None:
    changes = changed(registry, edit)
    if kind is None:
        assert changes == []
        return
    change = only(changes)
    assert change.kind is kind
    assert change.breaking is breaking


def test_move_out_of_repeat_breaking(registry: BlockRegistry) -> None:
    changes = changed(registry, _move_dbh_to_top)
    moved = [c for c in changes if c.kind is ChangeKind.BLOCK_MOVED]
    assert len(moved) == 1
    assert moved[0].breaking is True
    assert moved[0].before == ["trees", "dbh"]
    assert moved[0].after == ["dbh"]


def test_added_in_new_repeat(registry: BlockRegistry) -> None:
    block = {
        "id": "stems",
        "type": "repeat",
        "children": [{"id": "h", "type": "number", "required": True}],
    }
    changes = changed(registry, _add(block))
    assert [(c.block_id, c.breaking) for c in changes] == [
        ("stems", False),
        ("h", False),
    ]


def test_added_change_fields(registry: BlockRegistry) -> None:
    change = only(changed(registry, _add({"id": "x", "type": "text", "name": "xx"})))
    assert change.path == ("x",)
    assert change.before is None
    assert change.after == {"type": "text", "name": "xx"}


def test_removed_path_from_old(registry: BlockRegistry) -> None:
    def edit(data: dict[str, Any]) -> None:
        block_at(data, "site")["children"] = [{"id": "aspect", "type": "text"}]

    change = only(changed(registry, edit))
    assert change.kind is ChangeKind.BLOCK_REMOVED
    assert change.path == ("site", "cover")


def test_renamed_before_after(registry: BlockRegistry) -> None:
    change = only(changed(registry, _set("plot", "name", "plot_name")))
    assert change.before == "plot"
    assert change.after == "plot_name"


def test_config_change_before_after(registry: BlockRegistry) -> None:
    change = only(changed(registry, _set_config("slope", "max", None)))
    assert change.before == {"max": 90}
    assert change.after == {}


def test_options_before_after(registry: BlockRegistry) -> None:
    change = only(
        changed(registry, _set_config("soil", "options", _options("clay", "loam")))
    )
    assert change.before == ["clay", "sand"]
    assert change.after == ["clay", "loam"]
    assert "removed sand" in change.detail
    assert "added loam" in change.detail


def test_visible_if_changed_on_required(registry: BlockRegistry) -> None:
    old = copy.deepcopy(BASE)
    block_at(old, "plot")["visible_if"] = "slope > 1"
    new = copy.deepcopy(BASE)
    block_at(new, "plot")["visible_if"] = "slope > 2"
    change = only(list(diff(registry, old, new).changes))
    assert change.kind is ChangeKind.RULES_CHANGED
    assert change.breaking is True


def test_visible_if_removed_section(registry: BlockRegistry) -> None:
    old = copy.deepcopy(BASE)
    block_at(old, "site")["visible_if"] = "slope > 1"
    change = only(list(diff(registry, old, BASE).changes))
    assert change.breaking is True


def test_visible_if_removed_optional(registry: BlockRegistry) -> None:
    old = copy.deepcopy(BASE)
    block_at(old, "slope")["visible_if"] = "plot != null"
    change = only(list(diff(registry, old, BASE).changes))
    assert change.breaking is False


def test_retype_skips_config(registry: BlockRegistry) -> None:
    def edit(data: dict[str, Any]) -> None:
        block_at(data, "slope").update(
            {"type": "slider", "config": {"min": 0, "max": 9}}
        )

    change = only(changed(registry, edit))
    assert change.kind is ChangeKind.BLOCK_RETYPED


def test_several_changes_ordered(registry: BlockRegistry) -> None:
    def edit(data: dict[str, Any]) -> None:
        block_at(data, "plot")["label"] = "Plot id"
        block_at(data, "plot")["required"] = False
        data["blocks"] = [b for b in data["blocks"] if b["id"] != "intro"]

    kinds = [c.kind for c in changed(registry, edit)]
    assert kinds == [
        ChangeKind.REQUIRED_CHANGED,
        ChangeKind.LABEL_CHANGED,
        ChangeKind.BLOCK_REMOVED,
    ]


def test_diff_breaking_any(registry: BlockRegistry) -> None:
    new = copy.deepcopy(BASE)
    block_at(new, "plot")["label"] = "Plot id"
    _remove("slope")(new)
    assert diff(registry, BASE, new).breaking is True


def test_diff_to_dict_json(registry: BlockRegistry) -> None:
    new = copy.deepcopy(BASE)
    block_at(new, "slope")["config"]["max"] = 45
    _move_aspect_to_top(new)
    data = diff(registry, BASE, new).to_dict()
    assert json.loads(json.dumps(data)) == data
    assert data["breaking"] is True
    assert data["changes"][0] == {
        "kind": "CONFIG_CHANGED",
        "block_id": "slope",
        "path": ["slope"],
        "breaking": True,
        "detail": "The config max of the block 'slope' changed from 90 to 45.",
        "before": {"max": 90},
        "after": {"max": 45},
    }
