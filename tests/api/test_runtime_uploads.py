"""Multipart photo uploads through typed mutations of a real Runtime."""

import hashlib
import json
from typing import Any

import pytest

from tests.api.runtime_fixtures import MAX_FILE_BYTES, Served, Workspace

# A 1x1 PNG.
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d4944415478da63f8cfc0f01f0005000201f5d3b6a4"
    "0000000049454e44ae426082"
)

PICS = {
    "blocks": [
        {"id": "title", "type": "text", "required": True},
        {"id": "front", "type": "photo"},
        {"id": "back", "type": "photo"},
    ]
}

CREATE = """
mutation($data: PicsData!) {
  picsCreate(input: {data: $data}) {
    record {
      id
      front { id filename contentType size sha256 }
      back { id sha256 }
    }
    errors { path code message }
  }
}
"""

UPDATE = """
mutation($input: PicsUpdateInput!) {
  picsUpdate(input: $input) {
    record { front { sha256 } }
    errors { path code message }
  }
}
"""

FRONT = "variables.data.front.upload"
BACK = "variables.data.back.upload"


@pytest.fixture(scope="module")
def pics(served: Served) -> Workspace:
    workspace = served.workspace("pics")
    assert workspace.create_app("pics", PICS)["errors"] == []
    return workspace


def _create(
    served: Served,
    workspace: Workspace,
    data: dict[str, Any],
    files: dict[str, tuple[str, bytes, str]],
) -> dict[str, Any]:
    status, body = served.upload(workspace.admin, CREATE, {"data": data}, files)
    assert status == 200, body
    assert "errors" not in body, body
    payload = body["data"]["picsCreate"]
    assert isinstance(payload, dict)
    return payload


def _rejected(
    served: Served,
    workspace: Workspace,
    data: dict[str, Any],
    files: dict[str, tuple[str, bytes, str]],
) -> list[dict[str, Any]]:
    """Submit, expect errors as data, and check that no file was stored."""
    file_count = served.file_count()
    blob_count = served.blob_count()

    payload = _create(served, workspace, data, files)

    assert payload["record"] is None
    assert served.file_count() == file_count
    assert served.blob_count() == blob_count
    errors = payload["errors"]
    assert isinstance(errors, list)
    return errors


def test_photo_upload_stores_sha256(served: Served, pics: Workspace) -> None:
    payload = _create(
        served,
        pics,
        {"title": "Gate", "front": {"upload": None}},
        {FRONT: ("gate.png", PNG, "image/png")},
    )

    assert payload["errors"] == []
    front = payload["record"]["front"]
    assert front["filename"] == "gate.png"
    assert front["contentType"] == "image/png"
    assert front["size"] == len(PNG)
    assert front["sha256"] == hashlib.sha256(PNG).hexdigest()
    download = served.client.get(
        f"/files/{front['id']}", headers={"Authorization": f"Bearer {pics.admin}"}
    )
    assert download.status_code == 200
    assert download.content == PNG


def test_same_bytes_in_two_fields(served: Served, pics: Workspace) -> None:
    payload = _create(
        served,
        pics,
        {"title": "Both", "front": {"upload": None}, "back": {"upload": None}},
        {FRONT: ("a.png", PNG, "image/png"), BACK: ("b.png", PNG, "image/png")},
    )

    assert payload["errors"] == []
    record = payload["record"]
    assert record["front"]["sha256"] == record["back"]["sha256"]
    assert record["front"]["id"] != record["back"]["id"]


def test_one_file_part_in_two_fields(served: Served, pics: Workspace) -> None:
    # The multipart request specification lets one map entry list two paths.
    response = served.client.post(
        "/graphql",
        data={
            "operations": json.dumps(
                {
                    "query": CREATE,
                    "variables": {
                        "data": {
                            "title": "Shared",
                            "front": {"upload": None},
                            "back": {"upload": None},
                        }
                    },
                }
            ),
            "map": json.dumps({"0": [FRONT, BACK]}),
        },
        files={"0": ("both.png", PNG, "image/png")},
        headers={
            "Authorization": f"Bearer {pics.admin}",
            "GraphQL-Preflight": "1",
            "Accept": "application/json",
        },
    )

    body = response.json()
    assert response.status_code == 200, body
    payload = body["data"]["picsCreate"]
    assert payload["errors"] == []
    record = payload["record"]
    assert record["front"]["sha256"] == hashlib.sha256(PNG).hexdigest()
    assert record["back"]["sha256"] == hashlib.sha256(PNG).hexdigest()
    assert record["front"]["id"] == record["back"]["id"]


IMPORT = """
mutation($input: AppImportXlsformInput!) {
  appImportXlsform(input: $input) { app { slug } errors { path code message } }
}
"""


def test_xlsform_import_without_upload(served: Served, pics: Workspace) -> None:
    payload = served.data(pics.admin, IMPORT, {"input": {"file": "abc"}})

    errors = payload["appImportXlsform"]["errors"]
    assert payload["appImportXlsform"]["app"] is None
    assert [e["path"] for e in errors] == [["file"]]
    assert errors[0]["code"] == "INVALID"
    assert "Expected a file upload in input.file" in errors[0]["message"]
    assert "GraphQL multipart request" in errors[0]["message"]


def test_upload_needs_preflight_header(served: Served, pics: Workspace) -> None:
    file_count = served.file_count()

    status, body = served.upload(
        pics.admin,
        CREATE,
        {"data": {"title": "x", "front": {"upload": None}}},
        {FRONT: ("a.png", PNG, "image/png")},
        preflight=False,
    )

    assert status == 400
    assert body == {
        "errors": [
            {
                "message": "Multipart requests must carry a non-empty "
                "GraphQL-Preflight header (or Apollo-Require-Preflight), which "
                "protects against cross-site request forgery. Add the header "
                "`GraphQL-Preflight: 1` to the request."
            }
        ]
    }
    assert served.file_count() == file_count


def test_empty_file_rejected(served: Served, pics: Workspace) -> None:
    errors = _rejected(
        served,
        pics,
        {"title": "x", "front": {"upload": None}},
        {FRONT: ("empty.png", b"", "image/png")},
    )

    assert errors == [
        {
            "path": ["data", "front"],
            "code": "FILE_EMPTY",
            "message": "File 'empty.png' is empty; send a non-empty file.",
        }
    ]


def test_oversized_file_rejected(served: Served, pics: Workspace) -> None:
    big = PNG + bytes(MAX_FILE_BYTES)

    errors = _rejected(
        served,
        pics,
        {"title": "x", "front": {"upload": None}, "back": {"upload": None}},
        {FRONT: ("ok.png", PNG, "image/png"), BACK: ("big.png", big, "image/png")},
    )

    assert errors == [
        {
            "path": ["data", "back"],
            "code": "FILE_TOO_LARGE",
            "message": f"File 'big.png' is larger than the limit of {MAX_FILE_BYTES} "
            "bytes; send a smaller file.",
        }
    ]


def test_declared_type_mismatch_rejected(served: Served, pics: Workspace) -> None:
    errors = _rejected(
        served,
        pics,
        {"title": "x", "front": {"upload": None}},
        {FRONT: ("photo.jpg", PNG, "image/jpeg")},
    )

    assert errors == [
        {
            "path": ["data", "front"],
            "code": "CONTENT_TYPE_MISMATCH",
            "message": "File 'photo.jpg' was declared as image/jpeg but its bytes "
            "are image/png; send it with its real media type.",
        }
    ]


def test_non_image_rejected_by_photo(served: Served, pics: Workspace) -> None:
    errors = _rejected(
        served,
        pics,
        {"title": "x", "front": {"upload": None}},
        {FRONT: ("notes.txt", b"plain words", "text/plain")},
    )

    assert errors == [
        {
            "path": ["data", "front"],
            "code": "CONTENT_TYPE_MISMATCH",
            "message": "The file 'notes.txt' is text/plain; this block accepts "
            "image/*.",
        }
    ]


def test_invalid_submission_stores_no_file(served: Served, pics: Workspace) -> None:
    errors = _rejected(
        served,
        pics,
        {"front": {"upload": None}},
        {FRONT: ("gate.png", PNG + b"new bytes", "image/png")},
    )

    assert errors == [
        {
            "path": ["data", "title"],
            "code": "REQUIRED",
            "message": "A value is required.",
        }
    ]


def test_update_replaces_photo(served: Served, pics: Workspace) -> None:
    created = _create(
        served,
        pics,
        {"title": "Gate", "front": {"upload": None}},
        {FRONT: ("gate.png", PNG, "image/png")},
    )["record"]
    other = PNG + b"trailing bytes"

    status, body = served.upload(
        pics.admin,
        UPDATE,
        {"input": {"id": created["id"], "data": {"front": {"upload": None}}}},
        {"variables.input.data.front.upload": ("new.png", other, "image/png")},
    )

    assert status == 200
    assert body["data"]["picsUpdate"] == {
        "record": {"front": {"sha256": hashlib.sha256(other).hexdigest()}},
        "errors": [],
    }


def test_file_id_of_other_upload(served: Served, pics: Workspace) -> None:
    payload = served.data(
        pics.admin,
        CREATE,
        {"data": {"title": "x", "front": {"fileId": "upload:1"}}},
    )["picsCreate"]

    assert payload["errors"] == [
        {
            "path": ["data", "front", "fileId"],
            "code": "NOT_FOUND",
            "message": "No file 'upload:1' in this workspace; upload the file in "
            "this request or use the id of a stored file.",
        }
    ]
