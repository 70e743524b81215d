import asyncio
import json
import logging
import threading
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
from graphql import (
    GraphQLArgument,
    GraphQLError,
    GraphQLField,
    GraphQLInt,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLScalarType,
    GraphQLSchema,
    GraphQLString,
    located_error,
)
from starlette.applications import Starlette
from starlette.routing import Route, WebSocketRoute
from starlette.testclient import TestClient

from api.context import Caller, RequestContext
from api.errors import format_error, log_unexpected
from api.http import GraphQLHTTPEndpoint, negotiate_media_type
from api.limits import Limits
from api.ws import GraphQLWebSocketEndpoint
from blocks.errors import ErrorCode, NotFoundError, Problem, ProblemsError
from store.models import ApiToken, Role

GRAPHQL_RESPONSE = "application/graphql-response+json; charset=utf-8"
LEGACY_JSON = "application/json; charset=utf-8"
SECRET = "secret database password 1234"
AUTH = {"Authorization": "Bearer good"}


# A small schema built with graphql-core, shared by the transport tests ----


@dataclass
class Probe:
    """Records what the test schema's resolvers saw, across threads."""

    closed: threading.Event = field(default_factory=threading.Event)
    started: threading.Event = field(default_factory=threading.Event)
    upload_keys: list[str] = field(default_factory=list)
    uploads: list[Any] = field(default_factory=list)


UploadScalar = GraphQLScalarType("Upload", description="A multipart file part.")


def _node_type() -> GraphQLObjectType:
    node: GraphQLObjectType = GraphQLObjectType(
        "Node",
        lambda: {
            "value": GraphQLField(GraphQLInt, resolve=lambda *_: 1),
            "child": GraphQLField(node, resolve=lambda *_: {}),
        },
    )
    return node


def build_schema(probe: Probe, *, variant: str = "a") -> GraphQLSchema:
    """Return the test schema; variant "b" adds the field onlyInB."""

    def boom(*_: Any) -> str:
        raise RuntimeError(SECRET)

    def refused(*_: Any) -> str:
        raise NotFoundError("No record r1 in this workspace.")

    async def file_size(_root: Any, _info: Any, file: Any) -> int:
        probe.uploads.append(file)
        return len(await file.read())

    async def file_sizes(_root: Any, _info: Any, files: list[Any]) -> list[int]:
        sizes = []
        for upload in files:
            await upload.seek(0)
            sizes.append(len(await upload.read()))
        return sizes

    def upload_keys(_root: Any, info: Any, **_: Any) -> list[str]:
        keys = sorted(info.context.uploads)
        probe.upload_keys[:] = keys
        return keys

    async def count(_root: Any, _info: Any, n: int) -> AsyncIterator[int]:
        for number in range(1, n + 1):
            yield number

    async def ticks(_root: Any, _info: Any) -> AsyncIterator[int]:
        probe.started.set()
        try:
            number = 0
            while True:
                number += 1
                yield number
                await asyncio.sleep(0.01)
        finally:
            probe.closed.set()

    async def broken_stream(_root: Any, _info: Any) -> AsyncIterator[int]:
        yield 1
        raise RuntimeError(SECRET)

    query_fields = {
        "hello": GraphQLField(
            GraphQLString,
            args={"name": GraphQLArgument(GraphQLString, default_value="world")},
            resolve=lambda _root, _info, name: f"Hello, {name}!",
        ),
        "boom": GraphQLField(GraphQLString, resolve=boom),
        "refused": GraphQLField(GraphQLString, resolve=refused),
        "workspace": GraphQLField(
            GraphQLString, resolve=lambda _root, info: info.context.caller.workspace_id
        ),
        "version": GraphQLField(GraphQLString, resolve=lambda *_: variant),
        "nested": GraphQLField(_node_type(), resolve=lambda *_: {}),
        "number": GraphQLField(
            GraphQLInt,
            args={"value": GraphQLArgument(GraphQLNonNull(GraphQLInt))},
            resolve=lambda _root, _info, value: value,
        ),
    }
    if variant == "b":
        query_fields["onlyInB"] = GraphQLField(GraphQLString, resolve=lambda *_: "b")
    mutation = GraphQLObjectType(
        "Mutation",
        {
            "echo": GraphQLField(
                GraphQLString,
                args={"text": GraphQLArgument(GraphQLNonNull(GraphQLString))},
                resolve=lambda _root, _info, text: text,
            ),
            "fileSize": GraphQLField(
                GraphQLInt,
                args={"file": GraphQLArgument(GraphQLNonNull(UploadScalar))},
                resolve=file_size,
            ),
            "fileSizes": GraphQLField(
                GraphQLList(GraphQLInt),
                args={
                    "files": GraphQLArgument(
                        GraphQLNonNull(GraphQLList(GraphQLNonNull(UploadScalar)))
                    )
                },
                resolve=file_sizes,
            ),
            "uploadKeys": GraphQLField(
                GraphQLList(GraphQLString),
                args={"file": GraphQLArgument(UploadScalar)},
                resolve=upload_keys,
            ),
        },
    )
    subscription = GraphQLObjectType(
        "Subscription",
        {
            "counter": GraphQLField(
                GraphQLInt,
                args={"n": GraphQLArgument(GraphQLNonNull(GraphQLInt))},
                subscribe=count,
                resolve=lambda event, _info, **_: event,
            ),
            "ticks": GraphQLField(
                GraphQLInt, subscribe=ticks, resolve=lambda event, _info: event
            ),
            "brokenStream": GraphQLField(
                GraphQLInt, subscribe=broken_stream, resolve=lambda event, _info: event
            ),
        },
    )
    return GraphQLSchema(
        GraphQLObjectType("Query", query_fields), mutation, subscription
    )


class SwappableProvider:
    """A schema provider whose schema a test replaces, counting each fetch."""

    def __init__(self, schema: GraphQLSchema) -> None:
        self.schema = schema
        self.fetches = 0

    def schema_for(self, caller: Caller) -> GraphQLSchema:
        self.fetches += 1
        return self.schema


def make_caller() -> Caller:
    return Caller(
        ApiToken(
            id="tok1",
            workspace_id="ws1",
            user_id="user1",
            role=Role.ADMIN,
            label="tests",
            created_at=datetime(2026, 1, 1, tzinfo=UTC),
        )
    )


async def authenticate(token: str | None) -> Caller | None:
    return make_caller() if token == "good" else None


async def make_context(caller: Caller, uploads: Mapping[str, Any]) -> RequestContext:
    return RequestContext(
        caller=caller,
        services=None,  # type: ignore[arg-type]
        operations=None,  # type: ignore[arg-type]
        uploads=uploads,
    )


def build_app(
    provider: SwappableProvider,
    limits: Limits | None = None,
    *,
    graphiql: bool = False,
    **ws_options: Any,
) -> Starlette:
    """Return a Starlette app with both transports on /graphql, as deployed."""
    limits = limits or Limits()
    http = GraphQLHTTPEndpoint(
        provider, authenticate, make_context, limits, graphiql=graphiql
    )
    ws = GraphQLWebSocketEndpoint(
        provider, authenticate, make_context, limits, **ws_options
    )
    return Starlette(
        routes=[
            Route("/graphql", http, methods=["GET", "POST"]),
            WebSocketRoute("/graphql", ws),
            Route("/any-method", http),
        ]
    )


# Fixtures ----------------------------------------------------------------


@pytest.fixture
def probe() -> Probe:
    return Probe()


@pytest.fixture
def provider(probe: Probe) -> SwappableProvider:
    return SwappableProvider(build_schema(probe))


@pytest.fixture
def client(provider: SwappableProvider) -> Iterator[TestClient]:
    with TestClient(build_app(provider)) as test_client:
        yield test_client


def post(client: TestClient, body: Any, **headers: str) -> Any:
    return client.post("/graphql", json=body, headers={**AUTH, **headers})


# Queries over POST and GET -----------------------------------------------


def test_post_query_returns_data(client: TestClient) -> None:
    response = post(client, {"query": "{ hello }"})
    assert response.status_code == 200
    assert response.headers["content-type"] == GRAPHQL_RESPONSE
    assert response.json() == {"data": {"hello": "Hello, world!"}}


def test_post_variables_and_operation_name(client: TestClient) -> None:
    body = {
        "query": "query A { version } query B($n: String) { hello(name: $n) }",
        "operationName": "B",
        "variables": {"n": "Ada"},
        "extensions": {},
    }
    assert post(client, body).json() == {"data": {"hello": "Hello, Ada!"}}


def test_post_context_has_caller(client: TestClient) -> None:
    assert post(client, {"query": "{ workspace }"}).json() == {
        "data": {"workspace": "ws1"}
    }


def test_get_query_returns_data(client: TestClient) -> None:
    response = client.get(
        "/graphql",
        params={
            "query": "query($n: String) { hello(name: $n) }",
            "variables": json.dumps({"n": "Lin"}),
        },
        headers=AUTH,
    )
    assert response.status_code == 200
    assert response.json() == {"data": {"hello": "Hello, Lin!"}}


def test_get_mutation_returns_405(client: TestClient) -> None:
    response = client.get(
        "/graphql", params={"query": 'mutation { echo(text: "x") }'}, headers=AUTH
    )
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"
    assert "POST" in response.json()["errors"][0]["message"]


def test_post_mutation_returns_data(client: TestClient) -> None:
    response = post(client, {"query": 'mutation { echo(text: "hi") }'})
    assert response.status_code == 200
    assert response.json() == {"data": {"echo": "hi"}}


def test_subscription_over_post_returns_400(client: TestClient) -> None:
    response = post(client, {"query": "subscription { counter(n: 1) }"})
    assert response.status_code == 400
    assert "WebSocket" in response.json()["errors"][0]["message"]


def test_subscription_over_get_returns_400(client: TestClient) -> None:
    response = client.get(
        "/graphql", params={"query": "subscription { ticks }"}, headers=AUTH
    )
    assert response.status_code == 400
    assert "graphql-transport-ws" in response.json()["errors"][0]["message"]


def test_get_invalid_variables_json_returns_400(client: TestClient) -> None:
    response = client.get(
        "/graphql", params={"query": "{ hello }", "variables": "{"}, headers=AUTH
    )
    assert response.status_code == 400
    assert "variables" in response.json()["errors"][0]["message"]


def test_other_method_returns_405(client: TestClient) -> None:
    response = client.put("/any-method", json={"query": "{ hello }"}, headers=AUTH)
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, POST"


# Media types ---------------------------------------------------------------


def test_accept_json_gets_legacy_media_type(client: TestClient) -> None:
    response = post(client, {"query": "{ hello }"}, Accept="application/json")
    assert response.status_code == 200
    assert response.headers["content-type"] == LEGACY_JSON


def test_accept_any_gets_graphql_response(client: TestClient) -> None:
    response = post(client, {"query": "{ hello }"}, Accept="*/*")
    assert response.headers["content-type"] == GRAPHQL_RESPONSE


def test_accept_empty_gets_graphql_response(client: TestClient) -> None:
    response = post(client, {"query": "{ hello }"}, Accept="")
    assert response.headers["content-type"] == GRAPHQL_RESPONSE


def test_accept_unsupported_returns_406(client: TestClient) -> None:
    response = post(client, {"query": "{ hello }"}, Accept="text/plain")
    assert response.status_code == 406
    assert "text/plain" in response.json()["errors"][0]["message"]


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        (None, "application/graphql-response+json"),
        ("application/json", "application/json"),
        ("application/*", "application/graphql-response+json"),
        (
            "application/graphql-response+json;q=0.5, application/json",
            "application/json",
        ),
        (
            "application/json, application/graphql-response+json",
            "application/graphql-response+json",
        ),
        ("application/json;q=0, */*;q=0.1", "application/graphql-response+json"),
        ("application/*;q=0, application/json", "application/json"),
        ("text/html", None),
        ("application/xml;q=1, application/json;q=0", None),
    ],
)
def test_negotiate_media_type_cases(accept: str | None, expected: str | None) -> None:
    assert negotiate_media_type(accept) == expected


# Authentication ------------------------------------------------------------


def test_missing_token_returns_401(client: TestClient) -> None:
    response = client.post("/graphql", json={"query": "{ hello }"})
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert "Authorization" in response.json()["errors"][0]["message"]


def test_bad_token_returns_401(client: TestClient) -> None:
    response = client.post(
        "/graphql",
        json={"query": "{ hello }"},
        headers={"Authorization": "Bearer wrong"},
    )
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")


def test_basic_scheme_returns_401(client: TestClient) -> None:
    response = client.post(
        "/graphql",
        json={"query": "{ hello }"},
        headers={"Authorization": "Basic Z29vZDo="},
    )
    assert response.status_code == 401
    assert "Bearer" in response.json()["errors"][0]["message"]


# Malformed requests --------------------------------------------------------


def _raw_post(client: TestClient, content: bytes, **headers: str) -> Any:
    return client.post(
        "/graphql",
        content=content,
        headers={"Content-Type": "application/json", **AUTH, **headers},
    )


def test_invalid_json_returns_400(client: TestClient) -> None:
    response = _raw_post(client, b'{"query": ')
    assert response.status_code == 400
    assert "JSON" in response.json()["errors"][0]["message"]


def test_invalid_utf8_returns_400(client: TestClient) -> None:
    assert _raw_post(client, b'{"query": "\xff"}').status_code == 400


def test_non_object_body_returns_400(client: TestClient) -> None:
    response = _raw_post(client, b'"{ hello }"')
    assert response.status_code == 400
    assert "object" in response.json()["errors"][0]["message"]


def test_batch_body_returns_400(client: TestClient) -> None:
    response = post(client, [{"query": "{ hello }"}])
    assert response.status_code == 400
    assert response.json()["errors"][0]["message"] == (
        "Batched requests are not supported; send one operation per request."
    )


def test_missing_query_returns_400(client: TestClient) -> None:
    response = post(client, {"variables": {}})
    assert response.status_code == 400
    assert "no query" in response.json()["errors"][0]["message"]


def test_non_string_query_returns_400(client: TestClient) -> None:
    response = post(client, {"query": 42})
    assert response.status_code == 400
    assert "int" in response.json()["errors"][0]["message"]


def test_non_object_variables_returns_400(client: TestClient) -> None:
    response = post(client, {"query": "{ hello }", "variables": [1]})
    assert response.status_code == 400
    assert "variables" in response.json()["errors"][0]["message"]


def test_non_string_operation_name_returns_400(client: TestClient) -> None:
    response = post(client, {"query": "{ hello }", "operationName": 1})
    assert response.status_code == 400


def test_malformed_request_with_legacy_accept_returns_400(client: TestClient) -> None:
    response = _raw_post(client, b"[", Accept="application/json")
    assert response.status_code == 400


def test_unsupported_content_type_returns_415(client: TestClient) -> None:
    response = client.post(
        "/graphql",
        content=b"{ hello }",
        headers={"Content-Type": "application/graphql", **AUTH},
    )
    assert response.status_code == 415
    assert "application/json" in response.json()["errors"][0]["message"]


def test_missing_content_type_returns_415(client: TestClient) -> None:
    response = client.post("/graphql", content=b"{}", headers=AUTH)
    assert response.status_code == 415


# Request errors: status by media type -----------------------------------


def test_syntax_error_returns_400_without_data(client: TestClient) -> None:
    response = post(client, {"query": "{ hello"})
    assert response.status_code == 400
    assert "data" not in response.json()
    assert response.json()["errors"][0]["message"].startswith("Syntax Error")


def test_syntax_error_legacy_returns_200(client: TestClient) -> None:
    response = post(client, {"query": "{ hello"}, Accept="application/json")
    assert response.status_code == 200
    assert "data" not in response.json()


def test_validation_error_returns_400(client: TestClient) -> None:
    response = post(client, {"query": "{ nope }"})
    assert response.status_code == 400
    assert "data" not in response.json()
    assert "nope" in response.json()["errors"][0]["message"]


def test_validation_error_legacy_returns_200(client: TestClient) -> None:
    response = post(client, {"query": "{ nope }"}, Accept="application/json")
    assert response.status_code == 200
    assert "nope" in response.json()["errors"][0]["message"]


def test_unknown_operation_name_returns_400(client: TestClient) -> None:
    response = post(client, {"query": "query A { hello }", "operationName": "B"})
    assert response.status_code == 400
    assert "'B'" in response.json()["errors"][0]["message"]


def test_ambiguous_operation_returns_400(client: TestClient) -> None:
    response = post(client, {"query": "query A { hello } query B { version }"})
    assert response.status_code == 400
    assert "operationName" in response.json()["errors"][0]["message"]


def test_variable_coercion_error_returns_400(client: TestClient) -> None:
    body = {"query": "query($v: Int!) { number(value: $v) }", "variables": {"v": "x"}}
    response = post(client, body)
    assert response.status_code == 400
    assert "data" not in response.json()
    assert "$v" in response.json()["errors"][0]["message"]


def test_variable_coercion_error_legacy_returns_200(client: TestClient) -> None:
    body = {"query": "query($v: Int!) { number(value: $v) }", "variables": {}}
    response = post(client, body, Accept="application/json")
    assert response.status_code == 200
    assert "data" not in response.json()


# Field errors and masking --------------------------------------------------


def test_field_error_returns_200_with_data(client: TestClient) -> None:
    response = post(client, {"query": "{ hello boom }"})
    assert response.status_code == 200
    assert response.json()["data"] == {"hello": "Hello, world!", "boom": None}


def test_unexpected_error_is_masked(client: TestClient) -> None:
    response = post(client, {"query": "{ boom }"})
    error = response.json()["errors"][0]
    assert error["message"] == "Unexpected error."
    assert error["extensions"] == {"code": "INTERNAL_SERVER_ERROR"}
    assert error["path"] == ["boom"]
    assert SECRET not in response.text


def test_unexpected_error_is_logged(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="api.errors"):
        post(client, {"query": "query Risky { boom }"})
    record = caplog.records[0]
    assert record.exc_info is not None
    assert SECRET in str(record.exc_info[1])
    assert "Risky" in record.getMessage()
    assert "ws1" in record.getMessage()
    assert "good" not in record.getMessage()


def test_appgraph_error_message_passes(client: TestClient) -> None:
    error = post(client, {"query": "{ refused }"}).json()["errors"][0]
    assert error["message"] == "No record r1 in this workspace."
    assert error["extensions"] == {"code": "NOT_FOUND"}


def test_provider_failure_returns_500(
    client: TestClient, provider: SwappableProvider, caplog: pytest.LogCaptureFixture
) -> None:
    def fail(caller: Caller) -> GraphQLSchema:
        raise RuntimeError(SECRET)

    provider.schema_for = fail  # type: ignore[method-assign]
    with caplog.at_level(logging.ERROR, logger="api.http"):
        response = post(client, {"query": "{ hello }"})
    assert response.status_code == 500
    assert SECRET not in response.text
    assert caplog.records[0].exc_info is not None


# Limits --------------------------------------------------------------------


def test_token_limit_returns_400(provider: SwappableProvider) -> None:
    with TestClient(build_app(provider, Limits(max_tokens=10))) as client:
        response = post(client, {"query": "{ " + "hello " * 20 + "}"})
    assert response.status_code == 400
    assert "more than 10 tokens" in response.json()["errors"][0]["message"]


def test_depth_limit_returns_400(provider: SwappableProvider) -> None:
    with TestClient(build_app(provider, Limits(max_depth=3))) as client:
        response = post(client, {"query": "{ nested { child { child { value } } } }"})
    assert response.status_code == 400
    assert "maximum is 3" in response.json()["errors"][0]["message"]


def test_body_over_content_length_returns_413(provider: SwappableProvider) -> None:
    with TestClient(build_app(provider, Limits(max_body_bytes=100))) as client:
        response = post(client, {"query": "{ hello }" + " " * 200})
    assert response.status_code == 413
    assert "100 bytes" in response.json()["errors"][0]["message"]


def test_chunked_body_over_limit_returns_413(provider: SwappableProvider) -> None:
    chunks = [b'{"query": "{ hello }', b" " * 80, b" " * 80, b'"}']
    with TestClient(build_app(provider, Limits(max_body_bytes=100))) as client:
        response = client.post(
            "/graphql",
            content=iter(chunks),
            headers={"Content-Type": "application/json", **AUTH},
        )
    assert "content-length" not in response.request.headers
    assert response.status_code == 413


def test_body_under_limit_runs(provider: SwappableProvider) -> None:
    with TestClient(build_app(provider, Limits(max_body_bytes=100))) as client:
        response = post(client, {"query": "{ hello }"})
    assert response.status_code == 200


# Schema per request --------------------------------------------------------


def test_schema_fetched_once_per_request(
    client: TestClient, provider: SwappableProvider
) -> None:
    post(client, {"query": "{ hello }"})
    assert provider.fetches == 1


def test_schema_swap_applies_to_next_request(
    client: TestClient, provider: SwappableProvider, probe: Probe
) -> None:
    assert post(client, {"query": "{ onlyInB }"}).status_code == 400
    provider.schema = build_schema(probe, variant="b")
    assert post(client, {"query": "{ onlyInB }"}).json() == {"data": {"onlyInB": "b"}}


def test_repeated_query_reuses_document(client: TestClient) -> None:
    first = post(client, {"query": "{ version }"}).json()
    second = post(client, {"query": "{ version }"}).json()
    assert first == second == {"data": {"version": "a"}}


# GraphiQL --------------------------------------------------------------------


BROWSER_ACCEPT = "text/html,application/xhtml+xml,*/*;q=0.8"


def test_graphiql_page_served_in_development(provider: SwappableProvider) -> None:
    with TestClient(build_app(provider, graphiql=True)) as client:
        response = client.get("/graphql", headers={"Accept": BROWSER_ACCEPT})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "graphiql" in response.text


def test_graphiql_page_not_served_by_default(client: TestClient) -> None:
    response = client.get("/graphql", headers={"Accept": BROWSER_ACCEPT, **AUTH})
    assert response.status_code == 400
    assert response.headers["content-type"] == GRAPHQL_RESPONSE


def test_graphiql_page_not_served_to_json_clients(
    provider: SwappableProvider,
) -> None:
    with TestClient(build_app(provider, graphiql=True)) as client:
        response = client.get("/graphql", params={"query": "{ hello }"}, headers=AUTH)
    assert response.json() == {"data": {"hello": "Hello, world!"}}


# Error formatting ------------------------------------------------------------


def test_format_error_lists_problems() -> None:
    cause = ProblemsError([Problem(("name",), ErrorCode.REQUIRED, "Enter a name.")])
    error = GraphQLError(str(cause), path=["appCreate"], original_error=cause)
    assert format_error(error)["extensions"] == {
        "problems": [{"path": ["name"], "code": "REQUIRED", "message": "Enter a name."}]
    }


def test_format_error_keeps_graphql_error_message() -> None:
    error = located_error(GraphQLError("Deliberate."), None, ["field"])
    assert format_error(error)["message"] == "Deliberate."


def test_format_error_keeps_scalar_value_error() -> None:
    cause = ValueError("Decimal expects a number.")
    inner = GraphQLError("Expected type 'Decimal'.", original_error=cause)
    error = GraphQLError("Variable '$x' has invalid value.", original_error=inner)
    assert format_error(error)["message"] == "Variable '$x' has invalid value."


def test_format_error_masks_scalar_runtime_error() -> None:
    inner = GraphQLError(SECRET, original_error=RuntimeError(SECRET))
    error = GraphQLError(f"Variable '$x': {SECRET}", original_error=inner)
    assert format_error(error)["message"] == "Unexpected error."


def test_format_error_masks_field_value_error() -> None:
    error = GraphQLError(SECRET, path=["a"], original_error=ValueError(SECRET))
    formatted = format_error(error)
    assert formatted["message"] == "Unexpected error."
    assert formatted["path"] == ["a"]


def test_log_unexpected_counts_repeats(caplog: pytest.LogCaptureFixture) -> None:
    errors = [
        GraphQLError(SECRET, path=["items", i], original_error=RuntimeError(SECRET))
        for i in range(3)
    ]
    with caplog.at_level(logging.ERROR, logger="api.errors"):
        log_unexpected(errors, operation_name="List", workspace_id="ws1")
    assert len(caplog.records) == 1
    assert "2 more" in caplog.records[0].getMessage()
    assert "items.0" in caplog.records[0].getMessage()
