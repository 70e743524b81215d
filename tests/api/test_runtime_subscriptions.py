"""Subscriptions over graphql-transport-ws against a real Runtime."""

import asyncio
from typing import Any

from starlette.testclient import WebSocketTestSession

from store import Role
from tests.api.runtime_fixtures import Served, initialise, subscribe

PLOT = {"blocks": [{"id": "name", "type": "text", "required": True}]}

DEFINITION_CHANGED = """
subscription($app: String!) {
  appDefinitionChanged(app: $app) {
    app { slug currentVersion }
    version { number author }
    diff { fromVersion toVersion breaking changes { kind blockId } }
  }
}
"""

TYPED_CHANGED = "subscription { plotChanged { kind recordId record { name } } }"

RECORD_CHANGED = """
subscription { recordChanged(app: "plot") { kind recordId record { data } } }
"""

CREATE = """
mutation($name: String!) {
  plotCreate(input: {data: {name: $name}}) { record { id } errors { message } }
}
"""


def _payload(ws: WebSocketTestSession, operation_id: str) -> dict[str, Any]:
    message = ws.receive_json()
    assert message["type"] == "next", message
    assert message["id"] == operation_id
    data = message["payload"]["data"]
    assert isinstance(data, dict), message
    return data


def _payloads(
    ws: WebSocketTestSession, counts: dict[str, int], field: dict[str, str]
) -> dict[str, list[dict[str, Any]]]:
    """Read ``next`` messages until each operation id has its count."""
    result: dict[str, list[dict[str, Any]]] = {key: [] for key in counts}
    while any(len(result[key]) < count for key, count in counts.items()):
        message = ws.receive_json()
        assert message["type"] == "next", message
        operation_id = message["id"]
        result[operation_id].append(message["payload"]["data"][field[operation_id]])
    return result


def _wait_subscribed(served: Served, workspace_id: str, count: int) -> None:
    """Wait until ``count`` subscribers of the workspace listen on the bus."""

    async def ready() -> None:
        for _ in range(500):
            if served.runtime.bus.subscriber_count(workspace_id) >= count:
                return
            await asyncio.sleep(0.01)
        raise AssertionError(f"{count} subscribers never joined {workspace_id}")

    served.client.portal.call(ready)  # type: ignore[union-attr]


def test_definition_change_pushes_diff(served: Served) -> None:
    workspace = served.workspace()
    workspace.create_app("plot", PLOT)

    with served.socket() as ws:
        initialise(ws, workspace.admin)
        subscribe(ws, "defs", DEFINITION_CHANGED, {"app": "plot"})
        _wait_subscribed(served, workspace.id, 1)
        workspace.save_definition(
            "plot", {"blocks": [*PLOT["blocks"], {"id": "dbh", "type": "number"}]}
        )
        event = _payload(ws, "defs")["appDefinitionChanged"]

    assert event["app"] == {"slug": "plot", "currentVersion": 2}
    assert event["version"] == {"number": 2, "author": "admin"}
    assert event["diff"] == {
        "fromVersion": 1,
        "toVersion": 2,
        "breaking": False,
        "changes": [{"kind": "BLOCK_ADDED", "blockId": "dbh"}],
    }


def test_definition_subscription_unknown_app(served: Served) -> None:
    workspace = served.workspace()

    with served.socket() as ws:
        initialise(ws, workspace.admin)
        subscribe(ws, "defs", DEFINITION_CHANGED, {"app": "nowhere"})
        message = ws.receive_json()

    assert message["type"] == "error"
    assert message["id"] == "defs"
    assert [e["message"] for e in message["payload"]] == [
        "No app 'nowhere' in this workspace."
    ]


def test_record_events_follow_read_rights(served: Served) -> None:
    workspace = served.workspace()
    other = served.workspace()
    workspace.create_app("plot", PLOT, shared=True)
    other.create_app("plot", PLOT)
    amina = workspace.token(Role.MEMBER, "amina")
    baraka = workspace.token(Role.MEMBER, "baraka")

    with (
        served.socket() as admin_ws,
        served.socket() as member_ws,
        served.socket() as other_ws,
    ):
        initialise(admin_ws, workspace.admin)
        initialise(member_ws, amina)
        initialise(other_ws, other.admin)
        subscribe(admin_ws, "typed", TYPED_CHANGED)
        subscribe(admin_ws, "generic", RECORD_CHANGED)
        subscribe(member_ws, "typed", TYPED_CHANGED)
        subscribe(other_ws, "typed", TYPED_CHANGED)
        _wait_subscribed(served, workspace.id, 3)
        _wait_subscribed(served, other.id, 1)

        hidden = served.data(baraka, CREATE, {"name": "baraka"})["plotCreate"]
        own = served.data(amina, CREATE, {"name": "amina"})["plotCreate"]
        own_id = own["record"]["id"]
        served.data(
            amina,
            'mutation($id: ID!) { plotUpdate(input: {id: $id, data: {name: "A."}}) '
            "{ errors { message } } }",
            {"id": own_id},
        )
        served.data(
            amina,
            "mutation($id: ID!) { plotDelete(id: $id) { errors { message } } }",
            {"id": own_id},
        )
        admin = _payloads(
            admin_ws,
            {"typed": 4, "generic": 4},
            {"typed": "plotChanged", "generic": "recordChanged"},
        )
        admin_events = admin["typed"]
        generic_events = admin["generic"]
        member_events = [_payload(member_ws, "typed")["plotChanged"] for _ in range(3)]
        # A marker event in the other workspace arrives first on its socket
        # only if no event of this workspace was sent there before it.
        marker = served.data(other.admin, CREATE, {"name": "marker"})["plotCreate"]
        other_event = _payload(other_ws, "typed")["plotChanged"]

    hidden_id = hidden["record"]["id"]
    assert [(e["kind"], e["recordId"]) for e in admin_events] == [
        ("CREATED", hidden_id),
        ("CREATED", own_id),
        ("UPDATED", own_id),
        ("DELETED", own_id),
    ]
    assert admin_events[0]["record"] == {"name": "baraka"}
    assert admin_events[3]["record"] is None
    assert [e["kind"] for e in generic_events] == [
        "CREATED",
        "CREATED",
        "UPDATED",
        "DELETED",
    ]
    assert generic_events[1]["record"] == {"data": {"name": "amina"}}
    assert [(e["kind"], e["recordId"]) for e in member_events] == [
        ("CREATED", own_id),
        ("UPDATED", own_id),
        ("DELETED", own_id),
    ]
    assert member_events[1]["record"] == {"name": "A."}
    assert other_event["recordId"] == marker["record"]["id"]


def test_member_cannot_subscribe_unshared_app(served: Served) -> None:
    workspace = served.workspace()
    workspace.create_app("plot", PLOT)
    amina = workspace.token(Role.MEMBER, "amina")

    with served.socket() as ws:
        initialise(ws, amina)
        subscribe(ws, "generic", RECORD_CHANGED)
        message = ws.receive_json()

    assert message["type"] == "error"
    assert [e["message"] for e in message["payload"]] == [
        "No app 'plot' in this workspace."
    ]
