"""Typed and generic record operations through GraphQL against a real Runtime."""

from typing import Any

import pytest

from store import Role
from tests.api.runtime_fixtures import MAX_PAGE_SIZE, Served, Workspace

SURVEY = {
    "blocks": [
        {"id": "name", "type": "text", "required": True},
        {"id": "age", "type": "number", "config": {"min": 0, "max": 120}},
        {
            "id": "kind",
            "type": "select_one",
            "config": {"options": [{"value": "oak"}, {"value": "pine"}]},
        },
        {
            "id": "tags",
            "type": "select_many",
            "config": {"options": [{"value": "old"}, {"value": "sick"}]},
        },
        {"id": "loc", "type": "geopoint"},
        {"id": "seen", "type": "date"},
        {"id": "alive", "type": "boolean"},
        {"id": "mail", "type": "email"},
        {"id": "code", "type": "barcode"},
        {
            "id": "trees",
            "type": "repeat",
            "children": [{"id": "dbh", "type": "number", "config": {"min": 1}}],
        },
    ]
}

FIELDS = "id version revision name age kind tags loc { lat lng } seen alive mail code"

CREATE = f"""
mutation($data: SurveyData!, $key: String, $version: Int) {{
  surveyCreate(input: {{data: $data, idempotencyKey: $key, version: $version}}) {{
    created
    record {{ {FIELDS} trees {{ dbh }} }}
    errors {{ path code message }}
  }}
}}
"""

UPDATE = """
mutation($input: SurveyUpdateInput!) {
  surveyUpdate(input: $input) {
    record { id revision name age }
    errors { path code message }
  }
}
"""

GENERIC_CREATE = """
mutation($data: JSON!, $key: String) {
  recordCreate(input: {app: "survey", data: $data, idempotencyKey: $key}) {
    created
    record { id data }
    errors { path code message }
  }
}
"""

DELETE = """
mutation($id: ID!) {
  surveyDelete(id: $id) { record { id } errors { path code message } }
}
"""

LIST = """
query($where: SurveyFilter, $orderBy: [SurveyOrderBy!], $first: Int, $after: String) {
  surveyRecords(where: $where, orderBy: $orderBy, first: $first, after: $after) {
    totalCount
    edges { cursor node { name } }
    pageInfo { hasNextPage endCursor }
  }
}
"""

CHANGES = """
query($after: String) {
  changes(after: $after) {
    definitions { appId number }
    records { kind recordId appSlug record { data } }
    nextCursor
    hasMore
  }
}
"""

TREES: list[dict[str, Any]] = [
    {
        "name": "Amina",
        "age": "30",
        "kind": "oak",
        "tags": ["old"],
        "loc": {"lat": -6.80, "lng": 39.28},
        "seen": "2024-01-10",
        "alive": True,
        "mail": "amina@example.org",
    },
    {
        "name": "Baraka",
        "age": "45",
        "kind": "pine",
        "tags": ["old", "sick"],
        "loc": {"lat": -6.81, "lng": 39.29},
        "seen": "2024-02-10",
        "alive": False,
    },
    {
        "name": "Chausiku",
        "age": "12",
        "kind": "oak",
        "loc": {"lat": -3.37, "lng": 36.68},
        "seen": "2024-03-10",
        "alive": True,
    },
    {"name": "Dalila", "age": "70", "kind": "pine", "seen": "2024-04-10"},
]


@pytest.fixture(scope="module")
def survey(served: Served) -> Workspace:
    """Return a workspace with the survey app and the four trees above."""
    workspace = served.workspace("survey")
    assert workspace.create_app("survey", SURVEY)["errors"] == []
    for data in TREES:
        payload = served.data(workspace.admin, CREATE, {"data": data})["surveyCreate"]
        assert payload["errors"] == []
    return workspace


def _names(served: Served, workspace: Workspace, **variables: Any) -> list[str]:
    data = served.data(workspace.admin, LIST, variables)["surveyRecords"]
    return [edge["node"]["name"] for edge in data["edges"]]


def test_typed_create_returns_record(served: Served) -> None:
    workspace = served.workspace()
    workspace.create_app("survey", SURVEY)
    data = {
        **TREES[0],
        "code": "978-3",
        "trees": [{"dbh": "3.5"}, {"dbh": "4"}],
    }

    payload = served.data(workspace.admin, CREATE, {"data": data})["surveyCreate"]

    assert payload["errors"] == []
    assert payload["created"] is True
    record = payload["record"]
    assert record["version"] == 1
    assert record["revision"] == 1
    assert record["name"] == "Amina"
    assert record["age"] == "30"
    assert record["tags"] == ["old"]
    assert record["loc"] == {"lat": -6.8, "lng": 39.28}
    assert record["seen"] == "2024-01-10"
    assert record["alive"] is True
    assert record["code"] == "978-3"
    assert record["trees"] == [{"dbh": "3.5"}, {"dbh": "4"}]


def test_typed_create_errors_as_data(served: Served) -> None:
    workspace = served.workspace()
    workspace.create_app("survey", SURVEY)
    data = {
        "age": "300",
        "kind": "elm",
        "tags": ["young"],
        "loc": {"lat": 100.0, "lng": 2.0},
        "seen": "2024-13-02",
        "mail": "nope",
        "trees": [{"dbh": "0"}],
    }

    payload = served.data(workspace.admin, CREATE, {"data": data})["surveyCreate"]

    assert payload["record"] is None
    assert payload["created"] is None
    errors = {tuple(e["path"]): (e["code"], e["message"]) for e in payload["errors"]}
    assert errors == {
        ("data", "name"): ("REQUIRED", "A value is required."),
        ("data", "age"): ("OUT_OF_RANGE", "Expected a number from 0 to 120, got 300."),
        ("data", "kind"): (
            "UNKNOWN_OPTION",
            "Unknown option 'elm'; expected one of 'oak', 'pine'.",
        ),
        ("data", "tags", "0"): (
            "UNKNOWN_OPTION",
            "Unknown option 'young'; expected one of 'old', 'sick'.",
        ),
        ("data", "loc", "lat"): (
            "OUT_OF_RANGE",
            "Expected a latitude from -90 to 90 degrees, got 100.0.",
        ),
        ("data", "seen"): (
            "INVALID",
            "Expected an ISO 8601 date such as 2026-12-04, got the text '2024-13-02'.",
        ),
        ("data", "mail"): (
            "INVALID",
            "Expected one @ between a name and a domain, such as "
            "amina@example.org, got the text 'nope'.",
        ),
        ("data", "trees", "0", "dbh"): (
            "OUT_OF_RANGE",
            "Expected a number of at least 1, got 0.",
        ),
    }
    count = served.data(workspace.admin, "{ surveyRecords { totalCount } }")
    assert count == {"surveyRecords": {"totalCount": 0}}


def _count(served: Served, workspace: Workspace) -> int:
    data = served.data(workspace.admin, "{ surveyRecords { totalCount } }")
    count = data["surveyRecords"]["totalCount"]
    assert isinstance(count, int)
    return count


def test_idempotency_key_repeat_returns_first(served: Served) -> None:
    workspace = served.workspace()
    workspace.create_app("survey", SURVEY)
    variables = {"data": {"name": "Amina", "age": "30"}, "key": "form-17"}

    first = served.data(workspace.admin, CREATE, variables)["surveyCreate"]
    retry = served.data(workspace.admin, CREATE, variables)["surveyCreate"]

    assert first["created"] is True
    assert retry["created"] is False
    assert retry["errors"] == []
    assert retry["record"] == first["record"]
    assert _count(served, workspace) == 1


@pytest.mark.parametrize(
    "changed",
    [
        {"data": {"name": "Changed", "age": "30"}},
        {"data": {"name": "Amina"}},
        {"data": {"name": "Amina", "age": "30", "kind": "oak"}},
        {"data": {"name": "Amina", "age": "30.0"}},
        {"version": 1},
    ],
    ids=["value", "missing-field", "added-field", "spelling", "version"],
)
def test_idempotency_key_different_request_conflicts(
    served: Served, changed: dict[str, Any]
) -> None:
    workspace = served.workspace()
    workspace.create_app("survey", SURVEY)
    variables = {"data": {"name": "Amina", "age": "30"}, "key": "form-17"}
    first = served.data(workspace.admin, CREATE, variables)["surveyCreate"]

    retry = served.data(workspace.admin, CREATE, {**variables, **changed})[
        "surveyCreate"
    ]

    assert retry["record"] is None
    assert retry["created"] is None
    assert retry["errors"] == [
        {
            "path": ["idempotencyKey"],
            "code": "CONFLICT",
            "message": "The idempotency key was already used for different data, "
            f"which created record {first['record']['id']}. Send a new key to "
            "create a record with this data.",
        }
    ]
    assert _count(served, workspace) == 1
    stored = served.data(
        workspace.admin,
        "query($id: ID!) { survey(id: $id) { name age } }",
        {"id": first["record"]["id"]},
    )
    assert stored == {"survey": {"name": "Amina", "age": "30"}}


def test_idempotency_key_is_per_user(served: Served) -> None:
    workspace = served.workspace()
    workspace.create_app("survey", SURVEY)
    second_admin = workspace.token(Role.ADMIN, "second-admin")
    served.data(workspace.admin, CREATE, {"data": {"name": "Amina"}, "key": "k"})

    other = served.data(second_admin, CREATE, {"data": {"name": "Baraka"}, "key": "k"})

    assert other["surveyCreate"]["errors"] == []
    assert other["surveyCreate"]["created"] is True
    assert _count(served, workspace) == 2


def test_idempotency_key_after_delete(served: Served) -> None:
    workspace = served.workspace()
    workspace.create_app("survey", SURVEY)
    variables = {"data": {"name": "Amina"}, "key": "form-17"}
    first = served.data(workspace.admin, CREATE, variables)["surveyCreate"]
    record_id = first["record"]["id"]
    served.data(workspace.admin, DELETE, {"id": record_id})

    same = served.data(workspace.admin, CREATE, variables)["surveyCreate"]
    changed = served.data(
        workspace.admin, CREATE, {**variables, "data": {"name": "Baraka"}}
    )["surveyCreate"]
    new_key = served.data(workspace.admin, CREATE, {**variables, "key": "form-18"})[
        "surveyCreate"
    ]

    expected = [
        {
            "path": ["idempotencyKey"],
            "code": "NOT_FOUND",
            "message": f"Record {record_id}, created with this idempotency key, "
            "was deleted. Send a new key to create a record.",
        }
    ]
    assert same["record"] is None
    assert same["errors"] == expected
    assert changed["record"] is None
    assert changed["errors"] == expected
    assert new_key["errors"] == []
    assert new_key["created"] is True
    assert new_key["record"]["id"] != record_id
    assert _count(served, workspace) == 1


BLANK_KEY_MESSAGE = (
    "The idempotency key is empty or blank. Send a unique key, such as a UUID, "
    "or leave idempotencyKey out."
)


@pytest.mark.parametrize(
    ("key", "code", "message"),
    [
        ("", "INVALID", BLANK_KEY_MESSAGE),
        ("   ", "INVALID", BLANK_KEY_MESSAGE),
        ("\t\n", "INVALID", BLANK_KEY_MESSAGE),
        (
            "k" * 256,
            "TOO_LONG",
            "The idempotency key has 256 characters; the maximum is 255. Send a "
            "shorter key, such as a UUID.",
        ),
    ],
    ids=["empty", "spaces", "whitespace", "too-long"],
)
def test_idempotency_key_rejected(
    served: Served, key: str, code: str, message: str
) -> None:
    workspace = served.workspace()
    workspace.create_app("survey", SURVEY)
    variables = {"data": {"name": "Amina"}, "key": key}

    typed = served.data(workspace.admin, CREATE, variables)["surveyCreate"]
    generic = served.data(workspace.admin, GENERIC_CREATE, variables)["recordCreate"]

    expected = [{"path": ["idempotencyKey"], "code": code, "message": message}]
    assert typed["record"] is None
    assert typed["errors"] == expected
    assert generic["record"] is None
    assert generic["errors"] == expected
    assert _count(served, workspace) == 0


def test_idempotency_key_longest_accepted(served: Served) -> None:
    workspace = served.workspace()
    workspace.create_app("survey", SURVEY)
    variables = {"data": {"name": "Amina"}, "key": " " + "k" * 254}

    first = served.data(workspace.admin, CREATE, variables)["surveyCreate"]
    retry = served.data(workspace.admin, CREATE, variables)["surveyCreate"]

    assert first["errors"] == []
    assert first["created"] is True
    assert retry["created"] is False
    assert retry["record"]["id"] == first["record"]["id"]


def test_generic_create_ignores_field_order(served: Served) -> None:
    workspace = served.workspace()
    workspace.create_app("survey", SURVEY)
    first = served.data(
        workspace.admin,
        GENERIC_CREATE,
        {"data": {"name": "Amina", "age": 30}, "key": "k"},
    )["recordCreate"]

    reordered = served.data(
        workspace.admin,
        GENERIC_CREATE,
        {"data": {"age": 30, "name": "Amina"}, "key": "k"},
    )["recordCreate"]
    changed = served.data(
        workspace.admin,
        GENERIC_CREATE,
        {"data": {"name": "Amina", "age": 31}, "key": "k"},
    )["recordCreate"]

    assert first["created"] is True
    assert reordered["errors"] == []
    assert reordered["created"] is False
    assert reordered["record"]["id"] == first["record"]["id"]
    assert [(e["path"], e["code"]) for e in changed["errors"]] == [
        (["idempotencyKey"], "CONFLICT")
    ]


def test_idempotency_key_without_fingerprint(served: Served) -> None:
    """A record stored before fingerprints were kept matches any repeat."""
    workspace = served.workspace()
    workspace.create_app("survey", SURVEY)
    variables = {"data": {"name": "Amina"}, "key": "form-17"}
    first = served.data(workspace.admin, CREATE, variables)["surveyCreate"]

    async def forget_fingerprint() -> None:
        store: Any = served.runtime.store
        async with store._write() as db:
            await db.execute(
                "UPDATE records SET idempotency_fingerprint = NULL WHERE id = ?",
                (first["record"]["id"],),
            )

    served.client.portal.call(forget_fingerprint)  # type: ignore[union-attr]
    retry = served.data(
        workspace.admin, CREATE, {**variables, "data": {"name": "Changed"}}
    )["surveyCreate"]

    assert retry["errors"] == []
    assert retry["created"] is False
    assert retry["record"]["id"] == first["record"]["id"]
    assert retry["record"]["name"] == "Amina"


NOTES = {
    "blocks": [
        {"id": "title", "type": "text", "required": True},
        {"id": "attachment", "type": "file"},
    ]
}

NOTE_CREATE = """
mutation($data: NotesData!, $key: String) {
  notesCreate(input: {data: $data, idempotencyKey: $key}) {
    created
    record { id attachment { sha256 } }
    errors { path code message }
  }
}
"""


def test_idempotency_key_compares_upload_content(served: Served) -> None:
    workspace = served.workspace()
    workspace.create_app("notes", NOTES)
    variables = {
        "data": {"title": "Minutes", "attachment": {"upload": None}},
        "key": "note-1",
    }
    path = "variables.data.attachment.upload"

    def send(content: bytes) -> dict[str, Any]:
        files = {path: ("minutes.txt", content, "text/plain")}
        status, body = served.upload(workspace.admin, NOTE_CREATE, variables, files)
        assert status == 200, body
        payload = body["data"]["notesCreate"]
        assert isinstance(payload, dict)
        return payload

    first = send(b"first draft")
    same = send(b"first draft")
    changed = send(b"second draft")

    assert first["created"] is True
    assert same["errors"] == []
    assert same["created"] is False
    assert same["record"] == first["record"]
    assert [(e["path"], e["code"]) for e in changed["errors"]] == [
        (["idempotencyKey"], "CONFLICT")
    ]


TICKETS = {
    "blocks": [
        {"id": "title", "type": "text", "required": True},
        {"id": "number", "type": "unique_number", "config": {"start": 100}},
    ]
}

TICKET_CREATE = """
mutation($data: TicketsData!, $key: String) {
  ticketsCreate(input: {data: $data, idempotencyKey: $key}) {
    created
    record { id number }
    errors { path code message }
  }
}
"""


def test_unique_number_with_idempotency_key(served: Served) -> None:
    workspace = served.workspace()
    workspace.create_app("tickets", TICKETS)
    variables = {"data": {"title": "Leak"}, "key": "ticket-1"}

    first = served.data(workspace.admin, TICKET_CREATE, variables)["ticketsCreate"]
    rejected = served.data(workspace.admin, TICKET_CREATE, {"data": {}})[
        "ticketsCreate"
    ]
    retry = served.data(workspace.admin, TICKET_CREATE, variables)["ticketsCreate"]
    second = served.data(workspace.admin, TICKET_CREATE, {"data": {"title": "Crack"}})[
        "ticketsCreate"
    ]

    assert first["record"]["number"] == 100
    assert [e["code"] for e in rejected["errors"]] == ["REQUIRED"]
    assert retry["created"] is False
    assert retry["record"] == first["record"]
    assert second["created"] is True
    assert second["record"]["number"] > 100


def test_update_and_delete_record(served: Served) -> None:
    workspace = served.workspace()
    workspace.create_app("survey", SURVEY)
    created = served.data(
        workspace.admin, CREATE, {"data": {"name": "Amina", "age": "30"}}
    )["surveyCreate"]["record"]

    updated = served.data(
        workspace.admin,
        UPDATE,
        {"input": {"id": created["id"], "data": {"age": "31"}}},
    )["surveyUpdate"]
    stale = served.data(
        workspace.admin,
        UPDATE,
        {"input": {"id": created["id"], "data": {"age": "32"}, "expectedRevision": 1}},
    )["surveyUpdate"]
    invalid = served.data(
        workspace.admin,
        UPDATE,
        {"input": {"id": created["id"], "data": {"age": "-1"}}},
    )["surveyUpdate"]
    deleted = served.data(workspace.admin, DELETE, {"id": created["id"]})[
        "surveyDelete"
    ]
    again = served.data(workspace.admin, DELETE, {"id": created["id"]})["surveyDelete"]

    assert updated["errors"] == []
    assert updated["record"] == {
        "id": created["id"],
        "revision": 2,
        "name": "Amina",
        "age": "31",
    }
    assert [e["code"] for e in stale["errors"]] == ["CONFLICT"]
    assert invalid["errors"] == [
        {
            "path": ["data", "age"],
            "code": "OUT_OF_RANGE",
            "message": "Expected a number from 0 to 120, got -1.",
        }
    ]
    assert deleted == {"record": {"id": created["id"]}, "errors": []}
    assert again["errors"] == [
        {
            "path": [],
            "code": "NOT_FOUND",
            "message": f"No record {created['id']!r} in this app.",
        }
    ]
    fetched = served.data(
        workspace.admin, "query($id: ID!) { survey(id: $id) { id } }", created
    )
    assert fetched == {"survey": None}


def test_submission_against_older_version(served: Served) -> None:
    workspace = served.workspace()
    workspace.create_app("survey", SURVEY)
    workspace.save_definition(
        "survey",
        {
            "blocks": [
                *SURVEY["blocks"],
                {"id": "ring", "type": "number", "required": True},
            ]
        },
    )

    current = served.data(workspace.admin, CREATE, {"data": {"name": "New"}})[
        "surveyCreate"
    ]
    older = served.data(
        workspace.admin, CREATE, {"data": {"name": "Old form"}, "version": 1}
    )["surveyCreate"]
    future = served.data(
        workspace.admin, CREATE, {"data": {"name": "Future"}, "version": 5}
    )["surveyCreate"]

    assert current["errors"] == [
        {
            "path": ["data", "ring"],
            "code": "REQUIRED",
            "message": "A value is required.",
        }
    ]
    assert older["errors"] == []
    assert older["record"]["version"] == 1
    assert future["errors"] == [
        {
            "path": ["version"],
            "code": "NOT_FOUND",
            "message": "App 'survey' has versions 1 to 2; got 5.",
        }
    ]


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        ({"name": {"eq": "Baraka"}}, ["Baraka"]),
        ({"kind": {"in": ["pine"]}}, ["Baraka", "Dalila"]),
        ({"age": {"gte": "30", "lt": "70"}}, ["Amina", "Baraka"]),
        ({"seen": {"gt": "2024-02-01", "lte": "2024-03-10"}}, ["Baraka", "Chausiku"]),
        ({"name": {"contains": "ik"}}, ["Chausiku"]),
        ({"tags": {"has": "sick"}}, ["Baraka"]),
        ({"loc": {"isNull": True}}, ["Dalila"]),
        ({"alive": {"isNull": True}}, ["Dalila"]),
        ({"alive": {"eq": True}}, ["Amina", "Chausiku"]),
        (
            {
                "loc": {
                    "withinRadius": {"lat": "-6.8", "lng": "39.28", "meters": "5000"}
                }
            },
            ["Amina", "Baraka"],
        ),
        (
            {"_or": [{"name": {"eq": "Amina"}}, {"age": {"gt": "60"}}]},
            ["Amina", "Dalila"],
        ),
        ({"_not": {"kind": {"eq": "oak"}}}, ["Baraka", "Dalila"]),
    ],
)
def test_typed_filter_operators(
    served: Served, survey: Workspace, where: dict[str, Any], expected: list[str]
) -> None:
    names = _names(served, survey, where=where, orderBy=[{"name": "ASC"}])

    assert names == expected


def test_ordering_by_field(served: Served, survey: Workspace) -> None:
    by_age = _names(served, survey, orderBy=[{"age": "DESC"}])
    by_kind = _names(served, survey, orderBy=[{"kind": "ASC"}, {"seen": "DESC"}])

    assert by_age == ["Dalila", "Baraka", "Amina", "Chausiku"]
    assert by_kind == ["Chausiku", "Amina", "Dalila", "Baraka"]


def test_order_key_with_two_fields(served: Served, survey: Workspace) -> None:
    messages = served.errors(
        survey.admin, LIST, {"orderBy": [{"age": "ASC", "name": "ASC"}]}
    )

    assert messages == [
        "orderBy[0] sets 2 fields; set exactly one, for example {createdAt: DESC}."
    ]


def test_cursor_pagination(served: Served, survey: Workspace) -> None:
    order = [{"name": "ASC"}]
    first = served.data(survey.admin, LIST, {"orderBy": order, "first": 3})
    page = first["surveyRecords"]
    second = served.data(
        survey.admin,
        LIST,
        {"orderBy": order, "first": 3, "after": page["pageInfo"]["endCursor"]},
    )["surveyRecords"]

    assert [e["node"]["name"] for e in page["edges"]] == [
        "Amina",
        "Baraka",
        "Chausiku",
    ]
    assert page["pageInfo"]["hasNextPage"] is True
    assert page["totalCount"] == 4
    assert page["pageInfo"]["endCursor"] == page["edges"][-1]["cursor"]
    assert [e["node"]["name"] for e in second["edges"]] == ["Dalila"]
    assert second["pageInfo"]["hasNextPage"] is False


@pytest.mark.parametrize("first", [0, MAX_PAGE_SIZE + 1])
def test_page_size_outside_limits(
    served: Served, survey: Workspace, first: int
) -> None:
    typed = served.errors(survey.admin, LIST, {"first": first})
    generic = served.errors(
        survey.admin,
        'query($first: Int) { records(app: "survey", first: $first) { nodes { id } } }',
        {"first": first},
    )

    message = (
        f"`first` must be between 1 and {MAX_PAGE_SIZE}, got {first}; page "
        "through larger results with `after`."
    )
    assert typed == [message]
    assert generic == [message]


def test_generic_record_mutations(served: Served) -> None:
    workspace = served.workspace()
    workspace.create_app("survey", SURVEY)

    created = served.data(
        workspace.admin,
        """mutation($data: JSON!) {
          recordCreate(input: {app: "survey", data: $data, idempotencyKey: "k"}) {
            created record { id appSlug data } errors { path code message } } }""",
        {"data": {"name": "Amina", "age": 500}},
    )["recordCreate"]
    valid = served.data(
        workspace.admin,
        """mutation { recordCreate(input: {app: "survey", data: {name: "Amina"}}) {
            record { id appSlug data version } errors { message } } }""",
    )["recordCreate"]

    assert created["errors"] == [
        {
            "path": ["data", "age"],
            "code": "OUT_OF_RANGE",
            "message": "Expected a number from 0 to 120, got 500.",
        }
    ]
    assert valid["errors"] == []
    assert valid["record"]["appSlug"] == "survey"
    assert valid["record"]["data"] == {"name": "Amina"}
    fetched = served.data(
        workspace.admin,
        "query($id: ID!) { record(id: $id) { data } }",
        {"id": valid["record"]["id"]},
    )
    assert fetched == {"record": {"data": {"name": "Amina"}}}


def test_changes_catch_up_with_cursor(served: Served) -> None:
    workspace = served.workspace()
    app_id = workspace.create_app("survey", SURVEY)["app"]["id"]
    record = served.data(workspace.admin, CREATE, {"data": {"name": "Amina"}})[
        "surveyCreate"
    ]["record"]

    feed = served.data(workspace.admin, CHANGES)["changes"]
    served.data(
        workspace.admin,
        UPDATE,
        {"input": {"id": record["id"], "data": {"name": "Amina K."}}},
    )
    later = served.data(workspace.admin, CHANGES, {"after": feed["nextCursor"]})[
        "changes"
    ]
    served.data(workspace.admin, DELETE, {"id": record["id"]})
    last = served.data(workspace.admin, CHANGES, {"after": later["nextCursor"]})[
        "changes"
    ]
    empty = served.data(workspace.admin, CHANGES, {"after": last["nextCursor"]})[
        "changes"
    ]

    assert feed["definitions"] == [{"appId": app_id, "number": 1}]
    assert feed["records"] == [
        {
            "kind": "CREATED",
            "recordId": record["id"],
            "appSlug": "survey",
            "record": {"data": {"name": "Amina"}},
        }
    ]
    assert feed["hasMore"] is False
    assert later["definitions"] == []
    assert [(r["kind"], r["record"]) for r in later["records"]] == [
        ("UPDATED", {"data": {"name": "Amina K."}})
    ]
    assert [(r["kind"], r["record"]) for r in last["records"]] == [("DELETED", None)]
    assert empty["records"] == []
    assert empty["nextCursor"] == last["nextCursor"]


def test_changes_rejects_invalid_cursor(served: Served) -> None:
    workspace = served.workspace()

    messages = served.errors(workspace.admin, CHANGES, {"after": "not-a-cursor"})

    assert messages == [
        "Invalid cursor 'not-a-cursor': pass a `nextCursor` value returned by "
        "`changes`, or no cursor to start from the beginning."
    ]


def test_block_catalogue_lists_builtins(served: Served) -> None:
    workspace = served.workspace()

    catalogue = served.data(
        workspace.admin,
        "{ blockTypes { name label plugin valueType role configSchema } }",
    )["blockTypes"]

    by_name = {entry["name"]: entry for entry in catalogue}
    registered = {entry.block_type.name for entry in served.runtime.registry}
    assert set(by_name) == registered
    builtins = {
        "text", "textarea", "number", "select_one", "select_many", "geopoint",
        "date", "time", "datetime", "boolean", "email", "phone", "url",
        "barcode", "photo", "file", "video", "audio", "signature", "note",
        "section", "repeat", "calculation", "lookup", "unique_number",
        "counter", "slider", "rating",
    }  # fmt: skip
    assert builtins <= set(by_name)
    for name in builtins:
        entry = by_name[name]
        assert entry["plugin"], name
        assert entry["label"], name
        assert entry["configSchema"]["type"] == "object", name
    assert by_name["number"]["configSchema"]["properties"]["min"]
    assert by_name["geopoint"]["valueType"] == "GeoPoint"
