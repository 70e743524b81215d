"""Generated type names of apps whose slugs match static or shared names."""

import logging
from pathlib import Path
from typing import Any

import pytest
from graphql import GraphQLField, GraphQLObjectType, GraphQLString, validate_schema

from api.app import Runtime
from api.schema.manager import AppSource
from api.settings import Settings
from blocks.definition import parse_definition
from tests.api.runtime_fixtures import Served

DEFINITION: dict[str, Any] = {
    "blocks": [
        {"id": "name", "type": "text"},
        {"id": "point", "type": "geopoint"},
        {"id": "trees", "type": "repeat", "children": [{"id": "tag", "type": "text"}]},
    ]
}

CLASHING_SLUGS = [
    "record",
    "records",
    "apps",
    "changes",
    "geo-point",
    "blocks",
    "schema",
    "query",
    "mutation",
    "subscription",
    "app-import",
    "workflow-step",
    "string",
]


def test_clashing_slugs_get_working_types(served: Served) -> None:
    workspace = served.workspace()
    field_names: dict[str, str] = {}
    for slug in CLASHING_SLUGS:
        payload = workspace.create_app(slug, DEFINITION)
        assert payload["errors"] == [], payload
        field_names[slug] = payload["app"]["fieldName"]

    for slug, field_name in field_names.items():
        created = served.data(
            workspace.admin,
            f"""mutation {{
              {field_name}Create(input: {{data: {{
                name: "{slug}", point: {{lat: 1, lng: 2}}, trees: [{{tag: "t"}}]
              }}}}) {{
                record {{ id name point {{ lat }} trees {{ tag }} }}
                errors {{ message }}
              }}
            }}""",
        )[f"{field_name}Create"]
        assert created["errors"] == [], slug
        assert created["record"]["name"] == slug
        listed = served.data(
            workspace.admin, f"{{ {field_name}Records {{ totalCount }} }}"
        )
        assert listed[f"{field_name}Records"]["totalCount"] == 1, slug

    static = served.data(
        workspace.admin,
        '{ apps { slug } records(app: "record") { nodes { data } } '
        "changes { hasMore } blockTypes { name } }",
    )
    assert sorted(app["slug"] for app in static["apps"]) == sorted(CLASHING_SLUGS)
    assert static["records"]["nodes"][0]["data"]["name"] == "record"
    assert static["blockTypes"]
    assert static["changes"]["hasMore"] is False


async def test_geo_point_slug_avoids_library_type(tmp_path: Path) -> None:
    runtime = Runtime(Settings(data_dir=tmp_path))
    manager = runtime.schemas
    source = AppSource("a1", "geo-point", 1, parse_definition(DEFINITION))

    schema = await manager.rebuild("w1", [source])

    assert manager.naming("w1", "a1").type_name == "GeoPointApp"  # type: ignore[union-attr]
    assert "lat" in schema.type_map["GeoPoint"].fields  # type: ignore[attr-defined]


async def test_slug_avoids_type_added_later(tmp_path: Path) -> None:
    runtime = Runtime(Settings(data_dir=tmp_path))
    manager = runtime.schemas
    source = AppSource("a1", "survey", 1, parse_definition(DEFINITION))
    await manager.rebuild("w1", [source])
    assert manager.naming("w1", "a1").type_name == "Survey"  # type: ignore[union-attr]

    # A block type may add a shared type on first use, after the app was named.
    manager.library.named(
        "Survey",
        lambda: GraphQLObjectType("Survey", {"x": GraphQLField(GraphQLString)}),
    )
    schema = await manager.rebuild("w1", [source])

    assert manager.naming("w1", "a1").type_name == "SurveyApp"  # type: ignore[union-attr]
    assert "x" in schema.type_map["Survey"].fields  # type: ignore[attr-defined]
    schema._validation_errors = None
    assert validate_schema(schema) == []


async def test_workspace_schema_builds_with_clashing_slugs(tmp_path: Path) -> None:
    runtime = Runtime(Settings(data_dir=tmp_path))
    definition = parse_definition(DEFINITION)
    sources = [
        AppSource(f"a{index}", slug, 1, definition)
        for index, slug in enumerate(CLASHING_SLUGS)
    ]

    schema = await runtime.schemas.rebuild("w1", sources)

    for index in range(len(CLASHING_SLUGS)):
        assert runtime.schemas.naming("w1", f"a{index}") is not None
    schema._validation_errors = None
    assert validate_schema(schema) == []


async def test_rebuild_leaves_out_broken_app(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    runtime = Runtime(Settings(data_dir=tmp_path))
    definition = parse_definition(DEFINITION)
    sources = [
        AppSource("good", "good", 1, definition),
        AppSource("bad", "Not A Slug", 1, definition),
    ]

    with caplog.at_level(logging.ERROR):
        schema = await runtime.schemas.rebuild("w1", sources)

    assert "Good" in schema.type_map
    assert runtime.schemas.naming("w1", "bad") is None
    assert "Left app bad v1 out of the schema" in caplog.text
    assert "must start with a lowercase letter" in caplog.text
