"""The externalOptions query: options of external_api blocks, fetched on request.

The external API is an HTTP receiver on 127.0.0.1, which the settings allow.
Its default route responds with ``{"echo": <request body>}``, so a POST body
template that lists options comes back as the options.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient

from api.app import create_app
from api.settings import Settings
from store import Role
from tests.api.runtime_fixtures import Served, Workspace
from tests.workflows.receivers import HttpReceiver

OPTIONS = """
query($app: String!, $block: String!, $data: JSON) {
  externalOptions(app: $app, block: $block, data: $data) {
    options { value label }
    errors { path code message }
  }
}
"""


def options_block(block_id: str, url: str, **config: Any) -> dict[str, Any]:
    return {
        "id": block_id,
        "type": "external_api",
        "config": {"url": url, "mode": "options", "fetch": "on_request", **config},
    }


def districts(receiver: HttpReceiver) -> dict[str, Any]:
    return {
        "blocks": [
            {"id": "region", "type": "text"},
            {"id": "visits", "type": "number"},
            options_block(
                "district",
                receiver.url("/districts?region={{ region }}"),
                method="POST",
                body=[
                    {"code": "{{ region }}-N", "name": "North of {{ region }}"},
                    {"code": "{{ region }}-S", "name": "{{ visits * 2 }} visits"},
                ],
                extract="echo",
                option_value="code",
                option_label="name",
            ),
            {
                "id": "price",
                "type": "external_api",
                "config": {"url": receiver.url("/price"), "fetch": "on_request"},
            },
            options_block("blocked", f"http://127.0.0.2:{receiver.port}/districts"),
            options_block("failing", receiver.url("/status/500")),
            options_block("plain_text", receiver.url("/text")),
        ]
    }


@pytest.fixture(scope="module")
def receiver() -> Iterator[HttpReceiver]:
    with HttpReceiver() as server:
        yield server


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    settings = Settings(
        data_dir=tmp_path_factory.mktemp("external-options"),
        allow_networks=("127.0.0.1/32",),
    )
    app = create_app(settings)
    with TestClient(app) as client:
        yield Served(client, app.state.runtime)


@pytest.fixture
def workspace(served: Served, receiver: HttpReceiver) -> Workspace:
    workspace = served.workspace("options")
    payload = workspace.create_app("visits", districts(receiver))
    assert payload["errors"] == []
    return workspace


def fetch(
    served: Served,
    token: str,
    block: str,
    data: Any = None,
    app: str = "visits",
) -> dict[str, Any]:
    result = served.data(token, OPTIONS, {"app": app, "block": block, "data": data})[
        "externalOptions"
    ]
    assert isinstance(result, dict)
    return result


def only_error(result: dict[str, Any]) -> dict[str, Any]:
    assert result["options"] == []
    (error,) = result["errors"]
    assert isinstance(error, dict)
    return error


def test_options_fetched_with_record_values(
    served: Served, workspace: Workspace, receiver: HttpReceiver
) -> None:
    result = fetch(
        served, workspace.admin, "district", {"region": "Dar es Salaam", "visits": 3}
    )

    assert result["errors"] == []
    assert result["options"] == [
        {"value": "Dar es Salaam-N", "label": "North of Dar es Salaam"},
        {"value": "Dar es Salaam-S", "label": "6 visits"},
    ]
    request = receiver.requests[-1]
    assert request.method == "POST"
    assert request.path == "/districts?region=Dar%20es%20Salaam"
    assert request.json()[1] == {"code": "Dar es Salaam-S", "name": "6 visits"}


def test_options_without_data(served: Served, workspace: Workspace) -> None:
    result = fetch(served, workspace.admin, "district")

    assert result["errors"] == []
    assert [option["value"] for option in result["options"]] == ["-N", "-S"]
    assert result["options"][1]["label"] == " visits"


def test_unknown_block_not_found(served: Served, workspace: Workspace) -> None:
    error = only_error(fetch(served, workspace.admin, "county"))

    assert error["path"] == ["block"]
    assert error["code"] == "NOT_FOUND"
    assert error["message"] == (
        "App 'visits' has no block 'county' in its current version."
    )


def test_block_of_other_type_unsupported(served: Served, workspace: Workspace) -> None:
    error = only_error(fetch(served, workspace.admin, "region"))

    assert error["path"] == ["block"]
    assert error["code"] == "UNSUPPORTED"
    assert error["message"] == (
        "Block 'region' is a text block; only external_api blocks in options "
        "mode have options to fetch."
    )


def test_value_mode_block_unsupported(served: Served, workspace: Workspace) -> None:
    error = only_error(fetch(served, workspace.admin, "price"))

    assert error["path"] == ["block"]
    assert error["code"] == "UNSUPPORTED"
    assert error["message"] == (
        "The external_api block 'price' is in value mode and has no options."
    )


def test_blocked_address_reported(
    served: Served, workspace: Workspace, receiver: HttpReceiver
) -> None:
    before = len(receiver.requests)

    error = only_error(fetch(served, workspace.admin, "blocked"))

    assert error["path"] == ["block"]
    assert error["code"] == "INVALID"
    assert error["message"].startswith(
        "Fetching from the external API at 127.0.0.2 failed: "
    )
    assert "blocked" in error["message"]
    assert len(receiver.requests) == before


def test_error_status_reported(served: Served, workspace: Workspace) -> None:
    error = only_error(fetch(served, workspace.admin, "failing"))

    assert error["path"] == ["block"]
    assert error["code"] == "INVALID"
    assert error["message"] == (
        "The external API at 127.0.0.1 responded with status 500; check the "
        "request or try again later."
    )


def test_response_not_json_reported(served: Served, workspace: Workspace) -> None:
    error = only_error(fetch(served, workspace.admin, "plain_text"))

    assert error["path"] == ["block"]
    assert error["code"] == "INVALID"
    assert error["message"] == (
        "The external API at 127.0.0.1 did not return JSON; the response must "
        "be a JSON document."
    )


def test_data_must_be_object(served: Served, workspace: Workspace) -> None:
    error = only_error(fetch(served, workspace.admin, "district", ["Arusha"]))

    assert error["path"] == ["data"]
    assert error["code"] == "INVALID_TYPE"
    assert error["message"] == "Expected `data` to be an object."


def test_value_not_in_stored_form(served: Served, workspace: Workspace) -> None:
    result = fetch(
        served, workspace.admin, "district", {"region": "Arusha", "visits": "many"}
    )

    error = only_error(result)
    assert error["path"] == ["data", "visits"]
    assert error["code"] == "INVALID"
    assert error["message"] == (
        "The value 'many' of 'visits' is not a value of a number block; send it "
        "in the form that records store it."
    )


def test_unknown_app_not_found(served: Served, workspace: Workspace) -> None:
    error = only_error(fetch(served, workspace.admin, "district", app="trips"))

    assert error["path"] == ["app"]
    assert error["code"] == "NOT_FOUND"
    assert error["message"] == "No app 'trips' in this workspace."


def test_other_workspace_not_found(
    served: Served, workspace: Workspace, receiver: HttpReceiver
) -> None:
    other = served.workspace("intruder")
    before = len(receiver.requests)

    error = only_error(fetch(served, other.admin, "district", {"region": "Arusha"}))

    assert error["path"] == ["app"]
    assert error["code"] == "NOT_FOUND"
    assert error["message"] == "No app 'visits' in this workspace."
    assert len(receiver.requests) == before


def test_member_of_unshared_app_not_found(served: Served, workspace: Workspace) -> None:
    member = workspace.token(Role.MEMBER, "field-agent")

    error = only_error(fetch(served, member, "district"))

    assert error["path"] == ["app"]
    assert error["code"] == "NOT_FOUND"


def test_member_of_shared_app_gets_options(
    served: Served, workspace: Workspace, receiver: HttpReceiver
) -> None:
    shared = workspace.create_app("shared-visits", districts(receiver), shared=True)
    assert shared["errors"] == []
    member = workspace.token(Role.MEMBER, "field-agent")

    result = fetch(served, member, "district", {"region": "Mbeya"}, "shared-visits")

    assert result["errors"] == []
    assert result["options"][0] == {"value": "Mbeya-N", "label": "North of Mbeya"}
