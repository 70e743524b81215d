import json
import logging
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import uvicorn
from starlette.testclient import TestClient, WebSocketTestSession
from websockets.asyncio.client import connect as websocket_connect
from websockets.exceptions import ConnectionClosedError
from websockets.typing import Subprotocol

from api.limits import Limits
from tests.api.test_http import (
    AUTH,
    SECRET,
    Probe,
    SwappableProvider,
    build_app,
    build_schema,
)

SUBPROTOCOL = "graphql-transport-ws"


@pytest.fixture
def probe() -> Probe:
    return Probe()


@pytest.fixture
def provider(probe: Probe) -> SwappableProvider:
    return SwappableProvider(build_schema(probe))


@pytest.fixture
def client(provider: SwappableProvider) -> Iterator[TestClient]:
    app = build_app(provider, Limits(max_depth=3), init_timeout=2.0, max_operations=3)
    with TestClient(app) as test_client:
        yield test_client


def open_socket(
    client: TestClient,
    subprotocols: list[str] | None = None,
    headers: dict[str, str] | None = None,
) -> WebSocketTestSession:
    return client.websocket_connect(
        "/graphql",
        subprotocols=[SUBPROTOCOL] if subprotocols is None else subprotocols,
        headers=headers or {},
    )


def initialise(ws: WebSocketTestSession, token: str = "good") -> None:
    ws.send_json({"type": "connection_init", "payload": {"token": token}})
    assert ws.receive_json() == {"type": "connection_ack"}


def subscribe(
    ws: WebSocketTestSession, operation_id: str, query: str, **extra: Any
) -> None:
    ws.send_json(
        {
            "id": operation_id,
            "type": "subscribe",
            "payload": {"query": query, **extra},
        }
    )


def expect_close(ws: WebSocketTestSession) -> tuple[int, str]:
    """Return the close code and reason, skipping messages sent before them."""
    while True:
        message = ws.receive()
        if message["type"] == "websocket.close":
            return message["code"], message.get("reason", "")


def receive_for(ws: WebSocketTestSession, operation_id: str) -> dict[str, Any]:
    """Return the next message of one operation, skipping the others."""
    while True:
        message: dict[str, Any] = ws.receive_json()
        if message.get("id") == operation_id:
            return message


# Subprotocol and connection setup ------------------------------------------


def test_no_subprotocol_closes_4406(client: TestClient) -> None:
    with open_socket(client, subprotocols=[]) as ws:
        assert expect_close(ws) == (4406, "Subprotocol not acceptable")


def test_legacy_subprotocol_closes_4406(client: TestClient) -> None:
    with open_socket(client, subprotocols=["graphql-ws"]) as ws:
        assert expect_close(ws)[0] == 4406


def test_subprotocol_selected_among_others(client: TestClient) -> None:
    with open_socket(client, subprotocols=["graphql-ws", SUBPROTOCOL]) as ws:
        assert ws.accepted_subprotocol == SUBPROTOCOL


def test_missing_init_closes_4408(provider: SwappableProvider) -> None:
    with TestClient(build_app(provider, init_timeout=0.1)) as client:
        with open_socket(client) as ws:
            assert expect_close(ws) == (4408, "Connection initialisation timeout")


def test_ping_before_init_keeps_timeout(provider: SwappableProvider) -> None:
    with TestClient(build_app(provider, init_timeout=0.2)) as client:
        with open_socket(client) as ws:
            ws.send_json({"type": "ping"})
            assert ws.receive_json() == {"type": "pong"}
            assert expect_close(ws)[0] == 4408


def test_second_init_closes_4429(client: TestClient) -> None:
    with open_socket(client) as ws:
        initialise(ws)
        ws.send_json({"type": "connection_init"})
        assert expect_close(ws) == (4429, "Too many initialisation requests")


def test_bad_token_closes_4403(client: TestClient) -> None:
    with open_socket(client) as ws:
        ws.send_json({"type": "connection_init", "payload": {"token": "wrong"}})
        assert expect_close(ws) == (4403, "Forbidden")


def test_missing_token_closes_4403(client: TestClient) -> None:
    with open_socket(client) as ws:
        ws.send_json({"type": "connection_init"})
        assert expect_close(ws)[0] == 4403


def test_header_token_is_accepted(client: TestClient) -> None:
    with open_socket(client, headers=AUTH) as ws:
        ws.send_json({"type": "connection_init", "payload": {}})
        assert ws.receive_json() == {"type": "connection_ack"}


def test_subscribe_before_ack_closes_4401(client: TestClient) -> None:
    with open_socket(client) as ws:
        subscribe(ws, "1", "{ hello }")
        assert expect_close(ws) == (4401, "Unauthorized")


# Invalid messages ------------------------------------------------------------


@pytest.mark.parametrize(
    ("message", "reason_part"),
    [
        ("{", "is not valid"),
        ('{"type": "ping", "payload": {"n": NaN}}', "NaN"),
        ("[1]", "JSON object"),
        ('{"type": 1}', "string type"),
        ('{"type": "shout"}', "'shout'"),
        ('{"type": "subscribe", "payload": {"query": "{ hello }"}}', "id"),
        ('{"type": "subscribe", "id": "", "payload": {"query": "{ hello }"}}', "id"),
        ('{"type": "subscribe", "id": "1"}', "payload"),
        ('{"type": "subscribe", "id": "1", "payload": {}}', "query"),
        (
            '{"type": "subscribe", "id": "1", "payload": {"query": "{ a }",'
            ' "variables": []}}',
            "variables",
        ),
        ('{"type": "complete"}', "id"),
        ('{"type": "ping", "payload": 3}', "payload"),
    ],
)
def test_invalid_message_closes_4400(
    client: TestClient, message: str, reason_part: str
) -> None:
    with open_socket(client) as ws:
        initialise(ws)
        ws.send_text(message)
        code, reason = expect_close(ws)
    assert code == 4400
    assert reason_part in reason


def test_invalid_init_payload_closes_4400(client: TestClient) -> None:
    with open_socket(client) as ws:
        ws.send_text('{"type": "connection_init", "payload": "token"}')
        assert expect_close(ws)[0] == 4400


def test_non_string_init_token_closes_4400(client: TestClient) -> None:
    with open_socket(client) as ws:
        ws.send_json({"type": "connection_init", "payload": {"token": 1}})
        assert expect_close(ws)[0] == 4400


def test_binary_message_closes_4400(client: TestClient) -> None:
    with open_socket(client) as ws:
        initialise(ws)
        ws.send_bytes(b'{"type": "ping"}')
        code, reason = expect_close(ws)
    assert code == 4400
    assert "Binary" in reason


def test_long_reason_is_truncated(client: TestClient) -> None:
    with open_socket(client) as ws:
        initialise(ws)
        ws.send_json({"type": "é" * 100})
        reason = expect_close(ws)[1]
    assert len(reason.encode("utf-8")) <= 123


# Ping and pong -----------------------------------------------------------------


def test_ping_gets_pong_with_payload(client: TestClient) -> None:
    with open_socket(client) as ws:
        initialise(ws)
        ws.send_json({"type": "ping", "payload": {"at": 1}})
        assert ws.receive_json() == {"type": "pong", "payload": {"at": 1}}


def test_pong_gets_no_answer(client: TestClient) -> None:
    with open_socket(client) as ws:
        initialise(ws)
        ws.send_json({"type": "pong"})
        ws.send_json({"type": "ping"})
        assert ws.receive_json() == {"type": "pong"}


def test_server_sends_pings(provider: SwappableProvider) -> None:
    with TestClient(build_app(provider, ping_interval=0.05)) as client:
        with open_socket(client) as ws:
            initialise(ws)
            assert ws.receive_json() == {"type": "ping"}


# Operations --------------------------------------------------------------------


def test_subscription_streams_then_completes(client: TestClient) -> None:
    with open_socket(client) as ws:
        initialise(ws)
        subscribe(
            ws, "s1", "subscription($n: Int!) { counter(n: $n) }", variables={"n": 3}
        )
        messages = [ws.receive_json() for _ in range(4)]
    assert messages == [
        {"id": "s1", "type": "next", "payload": {"data": {"counter": 1}}},
        {"id": "s1", "type": "next", "payload": {"data": {"counter": 2}}},
        {"id": "s1", "type": "next", "payload": {"data": {"counter": 3}}},
        {"id": "s1", "type": "complete"},
    ]


def test_query_sends_result_then_complete(client: TestClient) -> None:
    with open_socket(client) as ws:
        initialise(ws)
        subscribe(ws, "q1", "{ hello workspace }")
        messages = [ws.receive_json() for _ in range(2)]
    assert messages == [
        {
            "id": "q1",
            "type": "next",
            "payload": {"data": {"hello": "Hello, world!", "workspace": "ws1"}},
        },
        {"id": "q1", "type": "complete"},
    ]


def test_mutation_sends_result(client: TestClient) -> None:
    with open_socket(client) as ws:
        initialise(ws)
        subscribe(ws, "m1", 'mutation { echo(text: "over ws") }')
        assert ws.receive_json() == {
            "id": "m1",
            "type": "next",
            "payload": {"data": {"echo": "over ws"}},
        }


def test_validation_error_sends_error(client: TestClient) -> None:
    with open_socket(client) as ws:
        initialise(ws)
        subscribe(ws, "v1", "subscription { nope }")
        message = ws.receive_json()
    assert message["type"] == "error"
    assert message["id"] == "v1"
    assert "nope" in message["payload"][0]["message"]


def test_variable_error_sends_error(client: TestClient) -> None:
    with open_socket(client) as ws:
        initialise(ws)
        subscribe(ws, "v1", "subscription($n: Int!) { counter(n: $n) }")
        message = ws.receive_json()
    assert message["type"] == "error"
    assert "$n" in message["payload"][0]["message"]


def test_unknown_operation_sends_error(client: TestClient) -> None:
    with open_socket(client) as ws:
        initialise(ws)
        subscribe(ws, "v1", "query A { hello }", operationName="B")
        message = ws.receive_json()
    assert message["type"] == "error"
    assert "'B'" in message["payload"][0]["message"]


def test_depth_limit_sends_error(client: TestClient) -> None:
    with open_socket(client) as ws:
        initialise(ws)
        subscribe(ws, "d1", "{ nested { child { child { value } } } }")
        message = ws.receive_json()
    assert message["type"] == "error"
    assert "maximum is 3" in message["payload"][0]["message"]


def test_field_error_is_masked(client: TestClient) -> None:
    with open_socket(client) as ws:
        initialise(ws)
        subscribe(ws, "b1", "{ boom }")
        message = ws.receive_json()
    assert message["type"] == "next"
    assert message["payload"]["errors"][0]["message"] == "Unexpected error."
    assert SECRET not in json.dumps(message)


def test_stream_failure_sends_masked_error(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="api.ws"):
        with open_socket(client) as ws:
            initialise(ws)
            subscribe(ws, "b1", "subscription Broken { brokenStream }")
            first = ws.receive_json()
            second = ws.receive_json()
    assert first["type"] == "next"
    assert second == {
        "id": "b1",
        "type": "error",
        "payload": [
            {
                "message": "Unexpected error.",
                "extensions": {"code": "INTERNAL_SERVER_ERROR"},
            }
        ],
    }
    assert "Broken" in caplog.records[0].getMessage()
    assert SECRET in str(caplog.records[0].exc_info)


def test_duplicate_id_closes_4409(client: TestClient) -> None:
    with open_socket(client) as ws:
        initialise(ws)
        subscribe(ws, "dup", "subscription { ticks }")
        receive_for(ws, "dup")
        subscribe(ws, "dup", "subscription { ticks }")
        assert expect_close(ws) == (4409, "Subscriber for dup already exists")


def test_completed_id_can_be_reused(client: TestClient) -> None:
    with open_socket(client) as ws:
        initialise(ws)
        for _ in range(2):
            subscribe(ws, "again", "{ hello }")
            assert receive_for(ws, "again")["type"] == "next"
            assert receive_for(ws, "again")["type"] == "complete"


def test_client_complete_closes_stream(client: TestClient, probe: Probe) -> None:
    with open_socket(client) as ws:
        initialise(ws)
        subscribe(ws, "t1", "subscription { ticks }")
        receive_for(ws, "t1")
        ws.send_json({"id": "t1", "type": "complete"})
        assert probe.closed.wait(2)
        subscribe(ws, "t1", "subscription { counter(n: 1) }")
        while "counter" not in json.dumps(receive_for(ws, "t1")):
            pass
        assert receive_for(ws, "t1") == {"id": "t1", "type": "complete"}


def test_disconnect_closes_streams(client: TestClient, probe: Probe) -> None:
    with open_socket(client) as ws:
        initialise(ws)
        subscribe(ws, "t1", "subscription { ticks }")
        receive_for(ws, "t1")
    assert probe.closed.wait(2)


def test_operation_limit_sends_error(client: TestClient) -> None:
    with open_socket(client) as ws:
        initialise(ws)
        for operation_id in ("t1", "t2", "t3"):
            subscribe(ws, operation_id, "subscription { ticks }")
            receive_for(ws, operation_id)
        subscribe(ws, "t4", "subscription { ticks }")
        message = receive_for(ws, "t4")
    assert message["type"] == "error"
    assert "3 operations" in message["payload"][0]["message"]


def test_schema_swap_applies_to_new_operations(
    client: TestClient, provider: SwappableProvider, probe: Probe
) -> None:
    with open_socket(client) as ws:
        initialise(ws)
        subscribe(ws, "old", "subscription { ticks }")
        receive_for(ws, "old")
        subscribe(ws, "before", "{ onlyInB }")
        assert receive_for(ws, "before")["type"] == "error"
        provider.schema = build_schema(probe, variant="b")
        subscribe(ws, "after", "{ onlyInB version }")
        after = receive_for(ws, "after")
        still_running = receive_for(ws, "old")
    assert after["payload"] == {"data": {"onlyInB": "b", "version": "b"}}
    assert still_running["type"] == "next"


# A real server -----------------------------------------------------------------


@pytest.fixture
def server_address(provider: SwappableProvider) -> Iterator[str]:
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    host, port = listener.getsockname()
    config = uvicorn.Config(build_app(provider), log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]})
    thread.start()
    deadline = time.monotonic() + 5
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.01)
    assert server.started
    yield f"{host}:{port}"
    server.should_exit = True
    thread.join(5)
    listener.close()


async def test_real_server_runs_subscription(server_address: str) -> None:
    async with websocket_connect(
        f"ws://{server_address}/graphql", subprotocols=[Subprotocol(SUBPROTOCOL)]
    ) as ws:
        await ws.send(
            json.dumps({"type": "connection_init", "payload": {"token": "good"}})
        )
        assert json.loads(await ws.recv()) == {"type": "connection_ack"}
        await ws.send(
            json.dumps(
                {
                    "id": "1",
                    "type": "subscribe",
                    "payload": {"query": "subscription { counter(n: 2) }"},
                }
            )
        )
        messages = [json.loads(await ws.recv()) for _ in range(3)]
    assert messages == [
        {"id": "1", "type": "next", "payload": {"data": {"counter": 1}}},
        {"id": "1", "type": "next", "payload": {"data": {"counter": 2}}},
        {"id": "1", "type": "complete"},
    ]


async def test_real_server_closes_without_subprotocol(server_address: str) -> None:
    async with websocket_connect(f"ws://{server_address}/graphql") as ws:
        with pytest.raises(ConnectionClosedError) as closed:
            await ws.recv()
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 4406


async def test_real_server_serves_http(server_address: str) -> None:
    async with httpx.AsyncClient() as http:
        response = await http.post(
            f"http://{server_address}/graphql",
            json={"query": "{ hello }"},
            headers=AUTH,
        )
    assert response.status_code == 200
    assert response.json() == {"data": {"hello": "Hello, world!"}}
