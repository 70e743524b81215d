import json
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.datastructures import UploadFile
from starlette.testclient import TestClient

from api.limits import Limits
from tests.api.test_http import (
    AUTH,
    Probe,
    SwappableProvider,
    build_app,
    build_schema,
)

PREFLIGHT = {**AUTH, "GraphQL-Preflight": "1"}
FILE_SIZE = "mutation($file: Upload!) { fileSize(file: $file) }"
FILE_SIZES = "mutation($files: [Upload!]!) { fileSizes(files: $files) }"


@pytest.fixture
def probe() -> Probe:
    return Probe()


@pytest.fixture
def provider(probe: Probe) -> SwappableProvider:
    return SwappableProvider(build_schema(probe))


@pytest.fixture
def client(provider: SwappableProvider) -> Iterator[TestClient]:
    limits = Limits(max_files=2, max_upload_bytes=2000, max_body_bytes=1000)
    with TestClient(build_app(provider, limits)) as test_client:
        yield test_client


def upload(
    client: TestClient,
    operations: Any,
    file_map: Any,
    files: dict[str, bytes],
    headers: dict[str, str] | None = None,
) -> Any:
    return client.post(
        "/graphql",
        data={
            "operations": operations
            if isinstance(operations, str)
            else json.dumps(operations),
            "map": file_map if isinstance(file_map, str) else json.dumps(file_map),
        },
        files={
            name: (f"{name}.txt", data, "text/plain") for name, data in files.items()
        },
        headers=PREFLIGHT if headers is None else headers,
    )


def message(response: Any) -> str:
    return str(response.json()["errors"][0]["message"])


def single_file_operations() -> dict[str, Any]:
    return {"query": FILE_SIZE, "variables": {"file": None}}


# Accepted uploads ------------------------------------------------------------


def test_upload_returns_file_size(client: TestClient) -> None:
    response = upload(
        client, single_file_operations(), {"0": ["variables.file"]}, {"0": b"hello"}
    )
    assert response.status_code == 200
    assert response.json() == {"data": {"fileSize": 5}}


def test_upload_reaches_resolver_as_upload_file(
    client: TestClient, probe: Probe
) -> None:
    upload(client, single_file_operations(), {"0": ["variables.file"]}, {"0": b"x"})
    assert isinstance(probe.uploads[0], UploadFile)
    assert probe.uploads[0].filename == "0.txt"


def test_upload_files_closed_after_response(client: TestClient, probe: Probe) -> None:
    upload(client, single_file_operations(), {"0": ["variables.file"]}, {"0": b"x"})
    assert probe.uploads[0].file.closed


def test_upload_accepts_apollo_preflight_header(client: TestClient) -> None:
    response = upload(
        client,
        single_file_operations(),
        {"0": ["variables.file"]},
        {"0": b"hello"},
        headers={**AUTH, "Apollo-Require-Preflight": "true"},
    )
    assert response.status_code == 200


def test_upload_context_gets_uploads(client: TestClient, probe: Probe) -> None:
    operations = {
        "query": "mutation($file: Upload) { uploadKeys(file: $file) }",
        "variables": {"file": None},
    }
    response = upload(client, operations, {"f1": ["variables.file"]}, {"f1": b"a"})
    assert response.json() == {"data": {"uploadKeys": ["f1"]}}
    assert probe.upload_keys == ["f1"]


def test_upload_list_paths(client: TestClient) -> None:
    operations = {"query": FILE_SIZES, "variables": {"files": [None, None]}}
    file_map = {"0": ["variables.files.0"], "1": ["variables.files.1"]}
    response = upload(client, operations, file_map, {"0": b"ab", "1": b"abcd"})
    assert response.json() == {"data": {"fileSizes": [2, 4]}}


def test_upload_one_file_at_two_paths(client: TestClient) -> None:
    operations = {"query": FILE_SIZES, "variables": {"files": [None, None]}}
    file_map = {"0": ["variables.files.0", "variables.files.1"]}
    response = upload(client, operations, file_map, {"0": b"abc"})
    assert response.json() == {"data": {"fileSizes": [3, 3]}}


# CSRF preflight header -----------------------------------------------------


def test_upload_without_preflight_returns_400(client: TestClient) -> None:
    response = upload(
        client,
        single_file_operations(),
        {"0": ["variables.file"]},
        {"0": b"hello"},
        headers=AUTH,
    )
    assert response.status_code == 400
    assert "GraphQL-Preflight" in message(response)


def test_upload_with_empty_preflight_returns_400(client: TestClient) -> None:
    response = upload(
        client,
        single_file_operations(),
        {"0": ["variables.file"]},
        {"0": b"hello"},
        headers={**AUTH, "GraphQL-Preflight": " "},
    )
    assert response.status_code == 400


# Invalid operations and map ------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "fragment"),
    [
        ("variables.other", "'variables.other'"),
        ("variables.file.x", "'variables.file.x'"),
        ("query", "'query'"),
        ("variables", "'variables'"),
    ],
)
def test_upload_bad_path_returns_400(
    client: TestClient, path: str, fragment: str
) -> None:
    response = upload(client, single_file_operations(), {"0": [path]}, {"0": b"x"})
    assert response.status_code == 400
    assert fragment in message(response)


def test_upload_index_out_of_range_returns_400(client: TestClient) -> None:
    operations = {"query": FILE_SIZES, "variables": {"files": [None]}}
    response = upload(client, operations, {"0": ["variables.files.1"]}, {"0": b"x"})
    assert response.status_code == 400
    assert "'variables.files.1'" in message(response)


def test_upload_map_key_without_file_returns_400(client: TestClient) -> None:
    file_map = {"0": ["variables.file"], "1": ["variables.file"]}
    response = upload(client, single_file_operations(), file_map, {"0": b"x"})
    assert response.status_code == 400
    assert "'1'" in message(response)


def test_upload_file_missing_from_map_returns_400(client: TestClient) -> None:
    response = upload(
        client,
        single_file_operations(),
        {"0": ["variables.file"]},
        {"0": b"x", "extra": b"y"},
    )
    assert response.status_code == 400
    assert "'extra'" in message(response)


def test_upload_operations_not_json_returns_400(client: TestClient) -> None:
    response = upload(client, "{", {"0": ["variables.file"]}, {"0": b"x"})
    assert response.status_code == 400
    assert "operations" in message(response)


def test_upload_map_not_json_returns_400(client: TestClient) -> None:
    response = upload(client, single_file_operations(), "[", {"0": b"x"})
    assert response.status_code == 400
    assert "map" in message(response)


def test_upload_map_not_object_returns_400(client: TestClient) -> None:
    response = upload(client, single_file_operations(), ["x"], {"0": b"x"})
    assert response.status_code == 400
    assert "array" in message(response)


def test_upload_map_entry_not_list_returns_400(client: TestClient) -> None:
    response = upload(
        client, single_file_operations(), {"0": "variables.file"}, {"0": b"x"}
    )
    assert response.status_code == 400
    assert "'0'" in message(response)


def test_upload_batched_operations_returns_400(client: TestClient) -> None:
    response = upload(
        client, [single_file_operations()], {"0": ["0.variables.file"]}, {"0": b"x"}
    )
    assert response.status_code == 400
    assert message(response).startswith("Batched requests are not supported")


def test_upload_operations_missing_query_returns_400(client: TestClient) -> None:
    response = upload(
        client, {"variables": {"file": None}}, {"0": ["variables.file"]}, {"0": b"x"}
    )
    assert response.status_code == 400
    assert "query" in message(response)


def test_upload_unknown_field_returns_400(client: TestClient) -> None:
    response = client.post(
        "/graphql",
        data={"operations": json.dumps(single_file_operations()), "extra": "1"},
        files={"0": ("a.txt", b"x", "text/plain")},
        headers=PREFLIGHT,
    )
    assert response.status_code == 400
    assert "'extra'" in message(response)


def test_upload_without_boundary_returns_400(client: TestClient) -> None:
    response = client.post(
        "/graphql",
        content=b"--x--",
        headers={**PREFLIGHT, "Content-Type": "multipart/form-data"},
    )
    assert response.status_code == 400
    assert "boundary" in message(response)


# Size and count limits -----------------------------------------------------


def test_upload_too_many_files_returns_413(client: TestClient) -> None:
    operations = {"query": FILE_SIZES, "variables": {"files": [None, None, None]}}
    file_map = {str(i): [f"variables.files.{i}"] for i in range(3)}
    files = {str(i): b"x" for i in range(3)}
    response = upload(client, operations, file_map, files)
    assert response.status_code == 413
    assert "more than 2 files" in message(response)


def test_upload_map_lists_too_many_files_returns_413(client: TestClient) -> None:
    file_map = {str(i): ["variables.file"] for i in range(3)}
    response = upload(client, single_file_operations(), file_map, {"0": b"x"})
    assert response.status_code == 413
    assert "3 files" in message(response)


def test_upload_over_total_size_returns_413(client: TestClient) -> None:
    response = upload(
        client, single_file_operations(), {"0": ["variables.file"]}, {"0": b"x" * 3000}
    )
    assert response.status_code == 413
    assert "2000 bytes" in message(response)


def test_upload_chunked_over_total_size_returns_413(client: TestClient) -> None:
    boundary = "b0undary"
    head = (
        f"--{boundary}\r\n"
        'Content-Disposition: form-data; name="operations"\r\n\r\n'
        f"{json.dumps(single_file_operations())}\r\n"
        f"--{boundary}\r\n"
        'Content-Disposition: form-data; name="map"\r\n\r\n'
        '{"0": ["variables.file"]}\r\n'
        f"--{boundary}\r\n"
        'Content-Disposition: form-data; name="0"; filename="a.txt"\r\n'
        "Content-Type: text/plain\r\n\r\n"
    ).encode()
    chunks = [head, *([b"x" * 500] * 5), f"\r\n--{boundary}--\r\n".encode()]
    response = client.post(
        "/graphql",
        content=iter(chunks),
        headers={
            **PREFLIGHT,
            "Content-Type": f"multipart/form-data; boundary={boundary}",
        },
    )
    assert "content-length" not in response.request.headers
    assert response.status_code == 413


def test_upload_chunked_under_total_size_runs(client: TestClient) -> None:
    boundary = "b0undary"
    body = (
        f"--{boundary}\r\n"
        'Content-Disposition: form-data; name="operations"\r\n\r\n'
        f"{json.dumps(single_file_operations())}\r\n"
        f"--{boundary}\r\n"
        'Content-Disposition: form-data; name="map"\r\n\r\n'
        '{"0": ["variables.file"]}\r\n'
        f"--{boundary}\r\n"
        'Content-Disposition: form-data; name="0"; filename="a.txt"\r\n'
        "Content-Type: text/plain\r\n\r\n"
        "hello\r\n"
        f"--{boundary}--\r\n"
    ).encode()
    response = client.post(
        "/graphql",
        content=iter([body[:50], body[50:]]),
        headers={
            **PREFLIGHT,
            "Content-Type": f"multipart/form-data; boundary={boundary}",
        },
    )
    assert response.json() == {"data": {"fileSize": 5}}
