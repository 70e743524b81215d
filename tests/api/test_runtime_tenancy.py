"""Workspaces and roles: what each token may see through a real Runtime."""

from dataclasses import dataclass

import pytest

from store import Role
from tests.api.runtime_fixtures import Served, Workspace

PLOT = {"blocks": [{"id": "name", "type": "text", "required": True}]}

CREATE = """
mutation($name: String!) {
  plotCreate(input: {data: {name: $name}}) { record { id } errors { message } }
}
"""

LIST = "{ plotRecords { totalCount edges { node { name createdBy } } } }"


@dataclass
class Tenants:
    """Two workspaces; A shares `plot` with members and keeps `secret` to admins."""

    a: Workspace
    b: Workspace
    amina: str
    baraka: str
    records: dict[str, str]
    b_record: str
    b_file: str


@pytest.fixture(scope="module")
def tenants(served: Served) -> Tenants:
    a = served.workspace("alpha")
    b = served.workspace("beta")
    assert a.create_app("plot", PLOT, shared=True)["errors"] == []
    assert a.create_app("secret", PLOT)["errors"] == []
    assert b.create_app("plot", PLOT)["errors"] == []
    assert b.create_app("hidden", PLOT)["errors"] == []
    amina = a.token(Role.MEMBER, "amina")
    baraka = a.token(Role.MEMBER, "baraka")
    records = {}
    for token, name in ((amina, "amina"), (baraka, "baraka"), (a.admin, "admin")):
        payload = served.data(token, CREATE, {"name": name})["plotCreate"]
        records[name] = payload["record"]["id"]
    b_record = served.data(b.admin, CREATE, {"name": "beta"})["plotCreate"]["record"]
    png = bytes.fromhex(
        "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
        "1f15c4890000000d4944415478da63f8cfc0f01f0005000201f5d3b6a4"
        "0000000049454e44ae426082"
    )
    b.create_app("pics", {"blocks": [{"id": "photo", "type": "photo"}]})
    status, body = served.upload(
        b.admin,
        "mutation($data: PicsData!) { picsCreate(input: {data: $data}) "
        "{ record { photo { id } } errors { message } } }",
        {"data": {"photo": {"upload": None}}},
        {"variables.data.photo.upload": ("a.png", png, "image/png")},
    )
    assert status == 200, body
    b_file = body["data"]["picsCreate"]["record"]["photo"]["id"]
    return Tenants(a, b, amina, baraka, records, b_record["id"], b_file)


def test_member_sees_shared_apps_only(served: Served, tenants: Tenants) -> None:
    member = served.data(tenants.amina, "{ apps { slug } }")
    admin = served.data(tenants.a.admin, "{ apps { slug } }")

    assert member == {"apps": [{"slug": "plot"}]}
    assert sorted(a["slug"] for a in admin["apps"]) == ["plot", "secret"]
    assert served.data(tenants.amina, '{ app(slug: "secret") { id } }') == {"app": None}


def test_member_cannot_use_unshared_app(served: Served, tenants: Tenants) -> None:
    messages = served.errors(tenants.amina, "{ secretRecords { totalCount } }")
    payload = served.data(
        tenants.amina,
        'mutation { recordCreate(input: {app: "secret", data: {name: "x"}}) '
        "{ errors { path code message } } }",
    )["recordCreate"]

    assert len(messages) == 1
    assert messages[0].startswith("Cannot query field 'secretRecords' on type 'Query'.")
    assert _secret_id(served, tenants) not in messages[0]
    assert payload["errors"] == [
        {
            "path": [],
            "code": "NOT_FOUND",
            "message": "No app 'secret' in this workspace.",
        }
    ]


def test_member_schema_hides_unshared_types(served: Served, tenants: Tenants) -> None:
    query = (
        '{ __type(name: "Secret") { name } '
        "__schema { types { name } queryType { fields { name } } } }"
    )
    member = served.data(tenants.amina, query)
    admin = served.data(tenants.a.admin, query)

    member_types = {t["name"] for t in member["__schema"]["types"]}
    member_fields = {f["name"] for f in member["__schema"]["queryType"]["fields"]}
    assert member["__type"] is None
    assert "Secret" not in member_types
    assert "secretRecords" not in member_fields
    assert "plotRecords" in member_fields
    assert admin["__type"] == {"name": "Secret"}


def test_sharing_app_updates_member_schema(served: Served) -> None:
    workspace = served.workspace("gamma")
    assert workspace.create_app("later", PLOT)["errors"] == []
    member = workspace.token(Role.MEMBER, "juma")
    share = (
        'mutation { appUpdate(input: {app: "later", sharedWithMembers: true}) '
        "{ errors { message } } }"
    )
    before = served.data(member, '{ __type(name: "Later") { name } }')
    result = served.data(workspace.admin, share)
    after = served.data(member, '{ __type(name: "Later") { name } }')

    assert before == {"__type": None}
    assert result == {"appUpdate": {"errors": []}}
    assert after == {"__type": {"name": "Later"}}


def test_member_sees_own_records_only(served: Served, tenants: Tenants) -> None:
    member = served.data(tenants.amina, LIST)["plotRecords"]
    admin = served.data(tenants.a.admin, LIST)["plotRecords"]
    other = served.data(
        tenants.amina,
        "query($id: ID!) { plot(id: $id) { id } record(id: $id) { id } }",
        {"id": tenants.records["baraka"]},
    )

    assert member["totalCount"] == 1
    assert [e["node"] for e in member["edges"]] == [
        {"name": "amina", "createdBy": "amina"}
    ]
    assert admin["totalCount"] == 3
    assert other == {"plot": None, "record": None}


def test_member_cannot_change_others_records(served: Served, tenants: Tenants) -> None:
    record_id = tenants.records["baraka"]
    update = served.data(
        tenants.amina,
        'mutation($id: ID!) { plotUpdate(input: {id: $id, data: {name: "x"}}) '
        "{ errors { path code message } } }",
        {"id": record_id},
    )["plotUpdate"]
    delete = served.data(
        tenants.amina,
        "mutation($id: ID!) { plotDelete(id: $id) { errors { code message } } }",
        {"id": record_id},
    )["plotDelete"]

    message = f"No record {record_id!r} in this app."
    assert update["errors"] == [{"path": [], "code": "NOT_FOUND", "message": message}]
    assert delete["errors"] == [{"code": "NOT_FOUND", "message": message}]


def test_member_changes_feed_is_own(served: Served, tenants: Tenants) -> None:
    feed = served.data(
        tenants.amina, "{ changes { records { recordId } definitions { appId } } }"
    )["changes"]

    assert [r["recordId"] for r in feed["records"]] == [tenants.records["amina"]]
    assert len(feed["definitions"]) == 1


def test_other_workspace_apps_invisible(served: Served, tenants: Tenants) -> None:
    apps = served.data(tenants.a.admin, "{ apps { slug } }")["apps"]
    hidden = served.data(tenants.a.admin, '{ app(slug: "hidden") { id } }')
    messages = served.errors(tenants.a.admin, "{ hiddenRecords { totalCount } }")

    assert "hidden" not in {a["slug"] for a in apps}
    assert hidden == {"app": None}
    assert messages == [
        "Cannot query field 'hiddenRecords' on type 'Query'. Did you mean "
        "'secretRecords', 'plotRecords', or 'records'?"
    ]


def test_other_workspace_types_invisible(served: Served, tenants: Tenants) -> None:
    data = served.data(
        tenants.a.admin,
        '{ __type(name: "Hidden") { name } filter: __type(name: "HiddenFilter") '
        "{ name } __schema { types { name } queryType { fields { name } } } }",
    )

    type_names = {t["name"] for t in data["__schema"]["types"]}
    root_fields = {f["name"] for f in data["__schema"]["queryType"]["fields"]}
    assert data["__type"] is None
    assert data["filter"] is None
    assert "Hidden" not in type_names
    assert "HiddenRecords" not in type_names
    assert "hidden" not in root_fields
    assert "hiddenRecords" not in root_fields
    assert "plotRecords" in root_fields


def test_other_workspace_records_invisible(served: Served, tenants: Tenants) -> None:
    by_id = served.data(
        tenants.a.admin,
        "query($id: ID!) { plot(id: $id) { id } record(id: $id) { id } }",
        {"id": tenants.b_record},
    )
    update = served.data(
        tenants.a.admin,
        'mutation($id: ID!) { recordUpdate(input: {id: $id, data: {name: "x"}}) '
        "{ errors { code message } } }",
        {"id": tenants.b_record},
    )["recordUpdate"]
    listed = served.data(tenants.a.admin, LIST)["plotRecords"]

    assert by_id == {"plot": None, "record": None}
    assert update["errors"] == [
        {"code": "NOT_FOUND", "message": f"No record {tenants.b_record!r} in this app."}
    ]
    assert "beta" not in {e["node"]["name"] for e in listed["edges"]}


def test_other_workspace_events_invisible(served: Served, tenants: Tenants) -> None:
    feed = served.data(tenants.a.admin, "{ changes { records { recordId appSlug } } }")[
        "changes"
    ]

    record_ids = {r["recordId"] for r in feed["records"]}
    assert tenants.b_record not in record_ids
    assert record_ids == set(tenants.records.values())


def test_other_workspace_files_not_found(served: Served, tenants: Tenants) -> None:
    foreign = served.client.get(
        f"/files/{tenants.b_file}",
        headers={"Authorization": f"Bearer {tenants.a.admin}"},
    )
    own = served.client.get(
        f"/files/{tenants.b_file}",
        headers={"Authorization": f"Bearer {tenants.b.admin}"},
    )
    anonymous = served.client.get(f"/files/{tenants.b_file}")

    assert foreign.status_code == 404
    assert foreign.json() == {"error": f"No file {tenants.b_file!r}."}
    assert own.status_code == 200
    assert own.headers["content-type"] == "image/png"
    assert anonymous.status_code == 401
    assert anonymous.json() == {
        "error": "Send an API token as `Authorization: Bearer <token>`."
    }


def _secret_id(served: Served, tenants: Tenants) -> str:
    app = served.data(tenants.a.admin, '{ app(slug: "secret") { id } }')["app"]
    return str(app["id"])
