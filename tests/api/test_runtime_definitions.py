"""App definitions through GraphQL against a real Runtime."""

from typing import Any

from store import Role
from tests.api.runtime_fixtures import Served

PLOT = {
    "blocks": [
        {"id": "name", "type": "text", "required": True},
        {"id": "height", "type": "number", "config": {"min": 0}},
        {
            "id": "kind",
            "type": "select_one",
            "config": {"options": [{"value": "oak"}, {"value": "pine"}]},
        },
        {"id": "notes", "type": "textarea"},
    ]
}

VERSIONS = """
query($slug: String!) {
  app(slug: $slug) {
    currentVersion
    versions { number author note definition }
    version(number: 1) { number author }
  }
}
"""

DIFF = """
query($slug: String!, $from: Int!, $to: Int!) {
  app(slug: $slug) {
    diff(fromVersion: $from, toVersion: $to) {
      fromVersion toVersion breaking
      changes { kind blockId breaking before after }
    }
  }
}
"""

ROLLBACK = """
mutation($input: AppRollbackInput!) {
  appRollback(input: $input) {
    app { currentVersion }
    version { number note definition }
    errors { path code message }
  }
}
"""

INVALID = {
    "blocks": [
        {"id": "mystery", "type": "nope"},
        {"id": "twin", "type": "text"},
        {"id": "twin", "type": "text"},
        {"id": "size", "type": "number", "config": {"min": "small"}},
        {"id": "broken", "type": "calculation", "config": {"expression": "1 +"}},
        {
            "id": "dangling",
            "type": "calculation",
            "config": {"expression": "${missing} + 1"},
        },
        {"id": "link", "type": "lookup", "config": {"app": "nowhere"}},
        {"id": "digit", "type": "text", "name": "1st"},
    ]
}


def _version_count(served: Served, token: str, slug: str) -> int:
    app = served.data(token, VERSIONS, {"slug": slug})["app"]
    return len(app["versions"])


def _changes_by_block(diff: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    result: dict[str, list[dict[str, Any]]] = {}
    for change in diff["changes"]:
        result.setdefault(change["blockId"], []).append(change)
    return result


def test_app_create_returns_version_one(served: Served) -> None:
    workspace = served.workspace()

    payload = workspace.create_app("plot", PLOT)

    assert payload["errors"] == []
    assert payload["app"]["slug"] == "plot"
    assert payload["app"]["currentVersion"] == 1
    assert payload["app"]["typeName"] == "Plot"
    assert payload["app"]["fieldName"] == "plot"
    assert payload["version"]["number"] == 1
    assert payload["version"]["author"] == "admin"
    ids = [block["id"] for block in payload["version"]["definition"]["blocks"]]
    assert ids == ["name", "height", "kind", "notes"]


def test_invalid_definition_rejected_whole(served: Served) -> None:
    workspace = served.workspace()

    payload = workspace.create_app("broken", INVALID)

    assert payload["app"] is None
    errors = {tuple(error["path"]): error for error in payload["errors"]}
    expected = {
        ("definition", "blocks", "0", "type"): (
            "UNKNOWN_BLOCK_TYPE",
            "Unknown block type 'nope'. Did you mean 'note'?",
        ),
        ("definition", "blocks", "2", "id"): (
            "DUPLICATE_ID",
            "The block id 'twin' is used by both blocks.1 and blocks.2; give "
            "each block a unique id.",
        ),
        ("definition", "blocks", "3", "config", "min"): (
            "INVALID_CONFIG",
            None,
        ),
        ("definition", "blocks", "4", "config", "expression"): (
            "INVALID_EXPRESSION",
            None,
        ),
        ("definition", "blocks", "5", "config", "expression"): (
            "UNKNOWN_REFERENCE",
            "expression refers to 'missing', which is not a block id.",
        ),
        ("definition", "blocks", "6", "config", "app"): (
            "UNKNOWN_REFERENCE",
            "No app with slug 'nowhere' in this workspace; create the app first "
            "or correct the slug.",
        ),
        ("definition", "blocks", "7", "name"): (
            "INVALID_NAME",
            "The field name '1st' starts with a digit. Use a name such as '_1st' "
            "instead.",
        ),
    }
    assert set(errors) == set(expected)
    assert len(payload["errors"]) == len(expected)
    for path, (code, message) in expected.items():
        assert errors[path]["code"] == code, path
        if message is not None:
            assert errors[path]["message"] == message, path
    size_message = errors[("definition", "blocks", "3", "config", "min")]["message"]
    assert size_message.startswith("Invalid config for a number block: 'small'")
    parse_message = errors[("definition", "blocks", "4", "config", "expression")][
        "message"
    ]
    assert "got end of expression" in parse_message
    assert served.data(workspace.admin, "{ apps { slug } }")["apps"] == []


def test_invalid_save_keeps_version_count(served: Served) -> None:
    workspace = served.workspace()
    workspace.create_app("plot", PLOT)

    payload = workspace.save_definition("plot", INVALID)

    assert payload["app"] is None
    assert payload["version"] is None
    assert len(payload["errors"]) == 7
    assert _version_count(served, workspace.admin, "plot") == 1


def test_save_creates_next_version_with_author(served: Served) -> None:
    workspace = served.workspace()
    workspace.create_app("plot", PLOT)
    editor = workspace.token(Role.ADMIN, "editor")
    changed = {"blocks": [*PLOT["blocks"], {"id": "dbh", "type": "number"}]}

    payload = served.data(
        editor,
        """mutation($input: AppDefinitionSaveInput!) {
          appDefinitionSave(input: $input) {
            app { currentVersion } version { number author note }
            errors { message } } }""",
        {"input": {"app": "plot", "definition": changed, "note": "Add dbh"}},
    )["appDefinitionSave"]

    assert payload["errors"] == []
    assert payload["app"]["currentVersion"] == 2
    assert payload["version"] == {"number": 2, "author": "editor", "note": "Add dbh"}
    app = served.data(workspace.admin, VERSIONS, {"slug": "plot"})["app"]
    assert app["currentVersion"] == 2
    assert [v["number"] for v in app["versions"]] == [1, 2]
    assert [v["author"] for v in app["versions"]] == ["admin", "editor"]
    assert app["version"] == {"number": 1, "author": "admin"}


def test_save_with_stale_version_conflicts(served: Served) -> None:
    workspace = served.workspace()
    workspace.create_app("plot", PLOT)
    workspace.save_definition("plot", PLOT)

    payload = served.data(
        workspace.admin,
        """mutation($input: AppDefinitionSaveInput!) {
          appDefinitionSave(input: $input) { errors { path code message } } }""",
        {"input": {"app": "plot", "definition": PLOT, "expectedVersion": 1}},
    )["appDefinitionSave"]

    assert [e["code"] for e in payload["errors"]] == ["CONFLICT"]
    assert _version_count(served, workspace.admin, "plot") == 2


def test_diff_reports_each_change_kind(served: Served) -> None:
    workspace = served.workspace()
    workspace.create_app("plot", PLOT)
    changed = {
        "blocks": [
            {"id": "name", "type": "text", "required": True, "name": "title"},
            {"id": "height", "type": "text"},
            {
                "id": "kind",
                "type": "select_one",
                "config": {"options": [{"value": "oak"}, {"value": "birch"}]},
            },
            {"id": "dbh", "type": "number"},
        ]
    }
    workspace.save_definition("plot", changed)

    diff = served.data(workspace.admin, DIFF, {"slug": "plot", "from": 1, "to": 2})[
        "app"
    ]["diff"]

    assert diff["fromVersion"] == 1
    assert diff["toVersion"] == 2
    assert diff["breaking"] is True
    changes = _changes_by_block(diff)
    kinds = {block: {c["kind"] for c in items} for block, items in changes.items()}
    assert "BLOCK_RENAMED" in kinds["name"]
    assert "BLOCK_RETYPED" in kinds["height"]
    assert "OPTIONS_CHANGED" in kinds["kind"]
    assert kinds["dbh"] == {"BLOCK_ADDED"}
    assert kinds["notes"] == {"BLOCK_REMOVED"}
    breaking = {(c["blockId"], c["kind"]): c["breaking"] for c in diff["changes"]}
    assert breaking[("dbh", "BLOCK_ADDED")] is False
    assert breaking[("notes", "BLOCK_REMOVED")] is True
    assert breaking[("name", "BLOCK_RENAMED")] is True
    assert breaking[("height", "BLOCK_RETYPED")] is True
    rename = next(c for c in changes["name"] if c["kind"] == "BLOCK_RENAMED")
    assert rename["before"] == "name"
    assert rename["after"] == "title"


def test_diff_of_unknown_version_errors(served: Served) -> None:
    workspace = served.workspace()
    app_id = workspace.create_app("plot", PLOT)["app"]["id"]

    messages = served.errors(
        workspace.admin, DIFF, {"slug": "plot", "from": 1, "to": 9}
    )

    assert messages == [f"App {app_id} has no version 9."]


def test_rollback_copies_old_version(served: Served) -> None:
    workspace = served.workspace()
    first = workspace.create_app("plot", PLOT)["version"]["definition"]
    workspace.save_definition("plot", {"blocks": [{"id": "only", "type": "text"}]})

    payload = served.data(
        workspace.admin, ROLLBACK, {"input": {"app": "plot", "toVersion": 1}}
    )["appRollback"]

    assert payload["errors"] == []
    assert payload["app"]["currentVersion"] == 3
    assert payload["version"]["number"] == 3
    assert payload["version"]["note"] == "Rollback to version 1"
    assert payload["version"]["definition"] == first
    assert _version_count(served, workspace.admin, "plot") == 3


def test_rollback_to_missing_version(served: Served) -> None:
    workspace = served.workspace()
    workspace.create_app("plot", PLOT)

    payload = served.data(
        workspace.admin, ROLLBACK, {"input": {"app": "plot", "toVersion": 7}}
    )["appRollback"]

    assert payload["errors"] == [
        {
            "path": [],
            "code": "NOT_FOUND",
            "message": "App 'plot' has no version 7; versions run from 1 to 1.",
        }
    ]


def test_schema_follows_saves_without_restart(served: Served) -> None:
    workspace = served.workspace()
    workspace.create_app("plot", PLOT)
    query_new = "{ plotRecords { edges { node { dbh } } } }"
    assert served.errors(workspace.admin, query_new) == [
        "Cannot query field 'dbh' on type 'Plot'."
    ]

    workspace.save_definition(
        "plot", {"blocks": [*PLOT["blocks"], {"id": "dbh", "type": "number"}]}
    )
    assert served.data(workspace.admin, query_new) == {"plotRecords": {"edges": []}}

    workspace.save_definition("plot", {"blocks": [{"id": "dbh", "type": "number"}]})
    messages = served.errors(
        workspace.admin, "{ plotRecords { edges { node { notes } } } }"
    )
    assert messages[0].startswith("Cannot query field 'notes' on type 'Plot'.")


def test_member_cannot_change_definitions(served: Served) -> None:
    workspace = served.workspace()
    workspace.create_app("plot", PLOT, shared=True)
    member = workspace.token(Role.MEMBER, "amina")

    payload = served.data(
        member,
        """mutation($input: AppDefinitionSaveInput!) {
          appDefinitionSave(input: $input) { errors { path code message } } }""",
        {"input": {"app": "plot", "definition": PLOT}},
    )["appDefinitionSave"]

    assert payload["errors"] == [
        {
            "path": [],
            "code": "FORBIDDEN",
            "message": "Only workspace admins may change definitions; use an "
            "admin token.",
        }
    ]


def test_colliding_row_types_build(served: Served) -> None:
    workspace = served.workspace()
    workspace.create_app("plot", PLOT)
    rows = {
        "blocks": [
            {"id": "r", "type": "repeat", "children": [{"id": "x", "type": "text"}]},
            {
                "id": "big_r",
                "name": "R",
                "type": "repeat",
                "children": [{"id": "y", "type": "text"}],
            },
        ]
    }

    payload = workspace.create_app("rows", rows)

    assert payload["errors"] == []
    assert payload["app"]["typeName"] == "Rows"
    data = served.data(
        workspace.admin,
        "{ rowsRecords { edges { node { r { x } R { y } } } } "
        "plotRecords { totalCount } }",
    )
    assert data == {"rowsRecords": {"edges": []}, "plotRecords": {"totalCount": 0}}


def test_bad_app_never_breaks_others(served: Served) -> None:
    workspace = served.workspace()
    workspace.create_app("plot", PLOT)

    rejected = workspace.create_app("odd", {"blocks": [{"id": "a-b", "type": "text"}]})

    assert rejected["errors"] == [
        {
            "path": ["definition", "blocks", "0", "id"],
            "code": "INVALID_NAME",
            "message": "The field name 'a-b' contains '-'. Use a name such as "
            "'a_b' instead.",
        }
    ]
    assert served.data(workspace.admin, "{ plotRecords { totalCount } }") == {
        "plotRecords": {"totalCount": 0}
    }


def test_suffix_slugs_keep_apps_apart(served: Served) -> None:
    workspace = served.workspace()
    workspace.create_app("plot", PLOT)

    names = {}
    for slug in ("plot-records", "plot-data", "plot-change", "records", "record"):
        payload = workspace.create_app(slug, {"blocks": [{"id": "a", "type": "text"}]})
        assert payload["errors"] == [], slug
        names[slug] = payload["app"]["typeName"]

    assert names == {
        "plot-records": "PlotRecordsApp",
        "plot-data": "PlotDataApp",
        "plot-change": "PlotChangeApp",
        "records": "RecordsApp",
        "record": "RecordApp",
    }
    data = served.data(
        workspace.admin,
        "{ plotRecords { totalCount } plotRecordsAppRecords { totalCount } "
        'records(app: "plot") { nodes { id } } }',
    )
    assert data["plotRecords"] == {"totalCount": 0}
    assert data["plotRecordsAppRecords"] == {"totalCount": 0}
    assert data["records"] == {"nodes": []}
