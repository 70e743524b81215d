"""Request JSON over HTTP: exact decimals, invalid tokens, nesting, bad text."""

from typing import Any

import pytest
from starlette.testclient import TestClient

from tests.api.runtime_fixtures import Served, Workspace

LEDGER = {
    "blocks": [
        {"id": "amount", "type": "number"},
        {"id": "note", "type": "text"},
        {"id": "mail", "type": "email"},
        {"id": "site", "type": "url"},
        {"id": "long", "type": "textarea"},
        {"id": "code", "type": "barcode"},
        {"id": "phone", "type": "phone"},
    ]
}

LONG_DECIMAL = "12345678901234567890123456789.5"

TYPED_CREATE = """
mutation($data: LedgerData!) {
  ledgerCreate(input: {data: $data}) {
    record { amount note } errors { path code message }
  }
}
"""

GENERIC_CREATE = """
mutation($data: JSON!) {
  recordCreate(input: {app: "ledger", data: $data}) {
    record { data } errors { path code message }
  }
}
"""


@pytest.fixture(scope="module")
def ledger(served: Served) -> Workspace:
    workspace = served.workspace("ledger")
    assert workspace.create_app("ledger", LEDGER)["errors"] == []
    return workspace


def _post_raw(client: TestClient, token: str, body: str) -> tuple[int, Any]:
    response = client.post(
        "/graphql",
        content=body.encode("utf-8"),
        headers={
            "Authorization": f"Bearer {token}",
            "Content-Type": "application/json",
            "Accept": "application/json",
        },
    )
    return response.status_code, response.json()


def _body(query: str, variables: str) -> str:
    escaped = query.replace("\n", " ").replace('"', '\\"')
    return f'{{"query": "{escaped}", "variables": {variables}}}'


def test_typed_create_keeps_long_decimal(served: Served, ledger: Workspace) -> None:
    status, body = _post_raw(
        served.client,
        ledger.admin,
        _body(TYPED_CREATE, f'{{"data": {{"amount": {LONG_DECIMAL}}}}}'),
    )

    assert status == 200, body
    payload = body["data"]["ledgerCreate"]
    assert payload["errors"] == []
    assert payload["record"]["amount"] == LONG_DECIMAL


def test_generic_create_keeps_long_decimal(served: Served, ledger: Workspace) -> None:
    status, body = _post_raw(
        served.client,
        ledger.admin,
        _body(GENERIC_CREATE, f'{{"data": {{"amount": {LONG_DECIMAL}}}}}'),
    )

    assert status == 200, body
    payload = body["data"]["recordCreate"]
    assert payload["errors"] == []
    assert payload["record"]["data"]["amount"] == LONG_DECIMAL


def test_float_variable_still_accepted(served: Served, ledger: Workspace) -> None:
    status, body = _post_raw(
        served.client,
        ledger.admin,
        _body(
            "query($first: Int) { ledgerRecords(first: $first) { totalCount } }",
            '{"first": 2.0}',
        ),
    )

    assert status == 200, body
    assert "errors" not in body, body


@pytest.mark.parametrize("token", ["NaN", "Infinity", "-Infinity"])
def test_non_finite_token_rejected(
    served: Served, ledger: Workspace, token: str
) -> None:
    status, body = _post_raw(
        served.client,
        ledger.admin,
        _body(TYPED_CREATE, f'{{"data": {{"amount": {token}}}}}'),
    )

    assert status == 400
    message = body["errors"][0]["message"]
    assert message == (
        f"The request body contains the token {token}, which is not valid JSON. "
        "Send a finite number, or null."
    )


def test_deeply_nested_variables_rejected(served: Served, ledger: Workspace) -> None:
    nested = "[" * 100_000 + "]" * 100_000
    status, body = _post_raw(
        served.client, ledger.admin, _body("{ viewer { user } }", f'{{"x": {nested}}}')
    )

    assert status == 400
    message = body["errors"][0]["message"]
    assert message == (
        "The request body nests arrays and objects too deeply to parse. Keep the "
        "nesting under 500 levels."
    )


def test_deeply_nested_definition_rejected(served: Served) -> None:
    workspace = served.workspace()
    block: dict[str, Any] = {"id": "b400", "type": "section"}
    for level in range(399, 0, -1):
        block = {"id": f"b{level}", "type": "section", "children": [block]}

    payload = workspace.create_app("deep", {"blocks": [block]})

    assert payload["app"] is None
    messages = [error["message"] for error in payload["errors"]]
    assert any("nested more than 32 levels deep" in m for m in messages), messages


@pytest.mark.parametrize("field", ["note", "mail", "site", "long", "code", "phone"])
def test_lone_surrogate_rejected(served: Served, ledger: Workspace, field: str) -> None:
    for query, root in (
        (TYPED_CREATE, "ledgerCreate"),
        (GENERIC_CREATE, "recordCreate"),
    ):
        status, body = _post_raw(
            served.client,
            ledger.admin,
            _body(query, f'{{"data": {{"{field}": "ab\\ud800"}}}}'),
        )

        assert status == 200, body
        errors = body["data"][root]["errors"]
        assert [error["path"] for error in errors] == [["data", field]], root
        assert errors[0]["code"] == "INVALID"
        assert errors[0]["message"] == (
            f"Expected valid Unicode text in field {field!r}, but it contains the "
            "lone surrogate U+D800 at character 2. Send the complete surrogate "
            "pair or remove it."
        )
