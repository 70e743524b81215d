"""Stored values that no longer fit their block type after a retype."""

from tests.api.runtime_fixtures import Served

TEXT_V = {"blocks": [{"id": "v", "type": "text"}, {"id": "d", "type": "text"}]}
NUMBER_V = {"blocks": [{"id": "v", "type": "number"}, {"id": "d", "type": "date"}]}


def test_retyped_value_returns_null_with_error(served: Served) -> None:
    workspace = served.workspace()
    assert workspace.create_app("retype", TEXT_V)["errors"] == []
    created = served.data(
        workspace.admin,
        'mutation { retypeCreate(input: {data: {v: "keep-me", d: "later"}}) '
        "{ record { id } errors { message } } }",
    )["retypeCreate"]
    assert created["errors"] == []
    saved = workspace.save_definition("retype", NUMBER_V)
    assert saved["errors"] == [], saved

    body = served.post(
        workspace.admin,
        f'{{ retype(id: "{created["record"]["id"]}") {{ id v d }} }}',
    )

    assert body["data"]["retype"]["v"] is None
    assert body["data"]["retype"]["d"] is None
    messages = sorted(error["message"] for error in body["errors"])
    assert messages == [
        "Date cannot represent the stored text 'later'; the value predates a "
        "change of the field's block type. Update the record.",
        "Decimal cannot represent the stored text 'keep-me'; the value predates "
        "a change of the field's block type. Update the record.",
    ]
    paths = sorted(error["path"][-1] for error in body["errors"])
    assert paths == ["d", "v"]
