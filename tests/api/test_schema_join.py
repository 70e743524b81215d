from pathlib import Path
from typing import Any

from graphql import graphql, validate_schema

from api.app import Runtime
from api.schema.manager import AppSource
from api.settings import Settings
from blocks.definition import parse_definition

DEFINITION: dict[str, Any] = {
    "blocks": [
        {"id": "name", "type": "text", "label": {"en": "Name"}},
        {"id": "count", "type": "number", "config": {"kind": "integer"}},
        {"id": "point", "type": "geopoint"},
        {
            "id": "trees",
            "type": "repeat",
            "children": [{"id": "tag", "type": "text"}],
        },
    ]
}


def _sources(count: int) -> list[AppSource]:
    definition = parse_definition(DEFINITION)
    return [
        AppSource(f"app{index}", f"site-{index}", 1, definition)
        for index in range(count)
    ]


async def test_joined_schema_matches_walked(tmp_path: Path) -> None:
    runtime = Runtime(Settings(data_dir=tmp_path))
    manager = runtime.schemas
    joined = await manager.rebuild("w1", _sources(3))
    walked = manager._combine_walked(
        [manager.app_types("w1", f"app{index}") for index in range(3)]  # type: ignore[misc]
    )
    assert set(joined.type_map) == set(walked.type_map)
    assert validate_schema(walked) == []
    joined._validation_errors = None
    assert validate_schema(joined) == []


async def test_joined_schema_drops_replaced_version(tmp_path: Path) -> None:
    runtime = Runtime(Settings(data_dir=tmp_path))
    manager = runtime.schemas
    sources = _sources(2)
    await manager.rebuild("w1", sources)
    changed = dict(DEFINITION)
    changed["blocks"] = [*DEFINITION["blocks"], {"id": "note_text", "type": "text"}]
    sources[1] = AppSource("app1", "site-1", 2, parse_definition(changed))
    schema = await manager.rebuild("w1", sources)
    site1 = schema.type_map["Site1"]
    site0 = schema.type_map["Site0"]
    assert "note_text" in site1.fields  # type: ignore[attr-defined]
    assert "note_text" not in site0.fields  # type: ignore[attr-defined]


async def test_joined_schema_introspects(tmp_path: Path) -> None:
    runtime = Runtime(Settings(data_dir=tmp_path))
    schema = await runtime.schemas.rebuild("w1", _sources(2))
    result = await graphql(schema, '{ __type(name: "Site1Row") { name } }')
    assert result.errors is None
    names = await graphql(schema, "{ __schema { types { name } } }")
    assert names.errors is None
    assert names.data is not None
    listed = {t["name"] for t in names.data["__schema"]["types"]}
    assert {"Site0", "Site1", "Query", "Mutation"} <= listed
