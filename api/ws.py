"""GraphQL over WebSocket with the ``graphql-transport-ws`` subprotocol.

The protocol is the one of the graphql-ws library
(https://github.com/enisdenjo/graphql-ws/blob/master/PROTOCOL.md). The client
sends ``connection_init`` and waits for ``connection_ack``. Then it sends
``subscribe`` messages with an id. The server responds to each with ``next``
messages and a final ``complete``, or with one ``error``. Either side may send
``ping``, and the other side responds with ``pong``.

Protocol violations close the socket with the protocol's codes: 4400 for an
invalid message, 4401 for ``subscribe`` before the acknowledgement, 4403 for a
rejected token, 4406 without the subprotocol, 4408 without
``connection_init`` in time, 4409 for an id that is in use, 4429 for a second
``connection_init`` and 4500 for an unexpected server error.

The token comes from the ``connection_init`` payload (``{"token": "..."}``)
or else from the ``Authorization: Bearer`` header of the upgrade request.
NOTE: the caller is resolved once per connection, so a token revoked while a
socket is open stays in effect until the socket closes.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from inspect import isawaitable
from typing import Any

from graphql import (
    DocumentNode,
    ExecutionResult,
    GraphQLError,
    GraphQLSchema,
    OperationType,
    execute,
)
from graphql.execution import (
    Executor,
    create_source_event_stream,
    execute_subscription_event,
)
from starlette.types import Message, Receive, Scope, Send
from starlette.websockets import WebSocket, WebSocketDisconnect

from api.context import (
    Authenticator,
    Caller,
    ContextFactory,
    RequestContext,
    SchemaProvider,
)
from api.errors import (
    INTERNAL_SERVER_ERROR,
    UNEXPECTED_MESSAGE,
    format_errors,
    format_result,
    is_request_error,
    log_unexpected,
)
from api.fanout import SharedResults, share_token
from api.http import GraphQLParams, bearer_token, read_params
from api.limits import (
    DocumentCache,
    Limits,
    RequestJSONError,
    coerce_variable_numbers,
    parse_request_json,
    select_operation,
)
from blocks.errors import AppgraphError

logger = logging.getLogger(__name__)

SUBPROTOCOL = "graphql-transport-ws"

# WebSocket allows at most 123 bytes of UTF-8 in a close reason.
_MAX_REASON_BYTES = 123

_SEND_ERRORS = (WebSocketDisconnect, RuntimeError, OSError)


class GraphQLWebSocketEndpoint:
    """The ASGI app that serves GraphQL over WebSocket on one path.

    Mount it as ``WebSocketRoute("/graphql", endpoint=...)``. Every
    ``subscribe`` message fetches the schema from the provider at that moment,
    so operations started after a schema swap use the new schema while running
    subscriptions keep the one they started with.
    """

    def __init__(
        self,
        provider: SchemaProvider,
        authenticate: Authenticator,
        make_context: ContextFactory,
        limits: Limits,
        *,
        init_timeout: float = 10.0,
        ping_interval: float | None = None,
        max_operations: int = 100,
    ) -> None:
        """Create the endpoint.

        Args:
            provider: Returns the schema for each operation's caller.
            authenticate: Resolves the connection's bearer token to a caller.
            make_context: Builds the context value of each operation.
            limits: Request limits; the token, depth, alias and directive
                limits apply to each operation.
            init_timeout: Seconds a client has to send ``connection_init``.
            ping_interval: Seconds between the server's ``ping`` messages, or
                None to send none. The server does not check for ``pong`` replies.
            max_operations: Maximum number of operations running at once on
                one socket; a ``subscribe`` beyond it gets an ``error`` message.
        """
        self.provider = provider
        self.authenticate = authenticate
        self.make_context = make_context
        self.init_timeout = init_timeout
        self.ping_interval = ping_interval
        self.max_operations = max_operations
        self.shared = SharedResults()
        """Subscription payloads shared by subscribers of one event."""
        self.documents = DocumentCache(limits)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one WebSocket connection until either side closes it."""
        await _Connection(self, WebSocket(scope, receive, send)).serve()


class _ProtocolError(Exception):
    """A message that breaks the protocol; the socket closes with ``code``."""

    def __init__(self, code: int, reason: str) -> None:
        self.code = code
        self.reason = reason
        super().__init__(reason)


@dataclass(frozen=True)
class _Run:
    """One operation that passed validation, ready to execute."""

    operation_id: str
    operation_name: str | None
    workspace_id: str
    schema: GraphQLSchema
    document: DocumentNode
    context: RequestContext
    params: GraphQLParams

    def arguments(self) -> dict[str, Any]:
        return {
            "context_value": self.context,
            "variable_values": self.params.variables,
            "operation_name": self.params.operation_name,
        }

    def log(self, result: ExecutionResult) -> None:
        if result.errors:
            log_unexpected(
                result.errors,
                operation_name=self.operation_name,
                workspace_id=self.workspace_id,
            )


class _Connection:
    """The state of one socket: its caller and its running operations."""

    def __init__(
        self, endpoint: GraphQLWebSocketEndpoint, websocket: WebSocket
    ) -> None:
        self.endpoint = endpoint
        self.websocket = websocket
        self.caller: Caller | None = None
        self.init_received = False
        self.operations: dict[str, asyncio.Task[None]] = {}
        self.closed = False
        self.send_lock = asyncio.Lock()

    async def serve(self) -> None:
        # The socket is accepted before a 4406 close because a close code can
        # only be sent on an open socket.
        if SUBPROTOCOL not in self.websocket.scope.get("subprotocols", []):
            await self.websocket.accept()
            await self.close(4406, "Subprotocol not acceptable")
            return
        await self.websocket.accept(subprotocol=SUBPROTOCOL)
        pinger = None
        if self.endpoint.ping_interval is not None:
            pinger = asyncio.create_task(self._ping(self.endpoint.ping_interval))
        try:
            await self._receive_loop()
        except _ProtocolError as error:
            await self.close(error.code, error.reason)
        except Exception:
            logger.exception("Unexpected error on a GraphQL WebSocket")
            await self.close(4500, "Internal server error")
        finally:
            if pinger is not None:
                pinger.cancel()
            await self._cancel_operations()

    async def _receive_loop(self) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.endpoint.init_timeout
        while not self.closed:
            if self.caller is None:
                try:
                    message = await asyncio.wait_for(
                        self.websocket.receive(), max(deadline - loop.time(), 0)
                    )
                except TimeoutError:
                    raise _ProtocolError(
                        4408, "Connection initialisation timeout"
                    ) from None
            else:
                message = await self.websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
            await self._dispatch(message)

    async def _dispatch(self, message: Message) -> None:
        text = message.get("text")
        if text is None:
            raise _ProtocolError(
                4400, "Binary messages are not supported; send JSON text messages."
            )
        try:
            data = parse_request_json(text, "The message")
        except RequestJSONError as error:
            raise _ProtocolError(4400, f"Invalid message: {error}") from None
        if not isinstance(data, dict) or not isinstance(data.get("type"), str):
            raise _ProtocolError(
                4400, "Invalid message: expected a JSON object with a string type."
            )
        kind = data["type"]
        if kind == "connection_init":
            await self._on_init(_optional_payload(data))
        elif kind == "ping":
            pong: dict[str, Any] = {"type": "pong"}
            payload = _optional_payload(data)
            if payload is not None:
                pong["payload"] = payload
            await self.send(pong)
        elif kind == "pong":
            _optional_payload(data)
        elif kind == "subscribe":
            self._on_subscribe(data)
        elif kind == "complete":
            self._on_complete(_message_id(data))
        else:
            raise _ProtocolError(4400, f"Invalid message: unknown type '{kind}'.")

    async def _on_init(self, payload: dict[str, Any] | None) -> None:
        if self.init_received:
            raise _ProtocolError(4429, "Too many initialisation requests")
        self.init_received = True
        token = (payload or {}).get("token")
        if token is not None and not isinstance(token, str):
            raise _ProtocolError(
                4400, "Invalid message: the connection_init token must be a string."
            )
        if token is None:
            try:
                token = bearer_token(self.websocket.headers.get("authorization"))
            except ValueError:
                raise _ProtocolError(4403, "Forbidden") from None
        caller = await self.endpoint.authenticate(token)
        if caller is None:
            raise _ProtocolError(4403, "Forbidden")
        self.caller = caller
        await self.send({"type": "connection_ack"})

    def _on_subscribe(self, data: dict[str, Any]) -> None:
        operation_id = _message_id(data)
        payload = data.get("payload")
        if not isinstance(payload, dict):
            raise _ProtocolError(
                4400, "Invalid message: subscribe needs an object payload."
            )
        try:
            params = read_params(payload)
        except ValueError as error:
            raise _ProtocolError(4400, f"Invalid subscribe payload: {error}") from None
        if self.caller is None:
            raise _ProtocolError(4401, "Unauthorized")
        if operation_id in self.operations:
            raise _ProtocolError(4409, f"Subscriber for {operation_id} already exists")
        if len(self.operations) >= self.endpoint.max_operations:
            message = (
                f"This connection already runs {self.endpoint.max_operations}"
                " operations, the maximum. Complete one before subscribing again."
            )
            self.operations[operation_id] = asyncio.create_task(
                self._finish(operation_id, _error_message([{"message": message}]))
            )
            return
        self.operations[operation_id] = asyncio.create_task(
            self._run(operation_id, params, self.caller)
        )

    def _on_complete(self, operation_id: str) -> None:
        task = self.operations.pop(operation_id, None)
        if task is not None:
            task.cancel()

    async def _run(
        self, operation_id: str, params: GraphQLParams, caller: Caller
    ) -> None:
        operation_name = params.operation_name
        try:
            endpoint = self.endpoint
            schema = endpoint.provider.schema_for(caller)
            checked = endpoint.documents.check(schema, params.query)
            if checked.document is None or checked.errors:
                await self._finish(operation_id, _errors(checked.errors))
                return
            operation = select_operation(checked.document, params.operation_name)
            if isinstance(operation, GraphQLError):
                await self._finish(operation_id, _errors([operation]))
                return
            operation_name = operation.name.value if operation.name else None
            variables = coerce_variable_numbers(schema, operation, params.variables)
            params = dataclasses.replace(params, variables=variables)
            run = _Run(
                operation_id=operation_id,
                operation_name=operation_name,
                workspace_id=caller.workspace_id,
                schema=schema,
                document=checked.document,
                context=await endpoint.make_context(caller, {}),
                params=params,
            )
            if operation.operation is OperationType.SUBSCRIPTION:
                await self._stream(run)
            else:
                await self._execute_once(run)
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception(
                "Unexpected error in WebSocket operation %s (id %s) of workspace %s",
                operation_name or "<anonymous>",
                operation_id,
                caller.workspace_id,
            )
            await self._finish(
                operation_id,
                _error_message(
                    [
                        {
                            "message": UNEXPECTED_MESSAGE,
                            "extensions": {"code": INTERNAL_SERVER_ERROR},
                        }
                    ]
                ),
            )
        finally:
            if self.operations.get(operation_id) is asyncio.current_task():
                del self.operations[operation_id]

    async def _execute_once(self, run: _Run) -> None:
        """Run a query or mutation: one ``next`` and ``complete``, or one ``error``."""
        outcome = execute(run.schema, run.document, **run.arguments())
        result: ExecutionResult = await outcome if isawaitable(outcome) else outcome
        run.log(result)
        if is_request_error(result):
            await self._finish(run.operation_id, _errors(result.errors or []))
            return
        await self.send(_next(run.operation_id, result))
        await self._finish(run.operation_id, {"type": "complete"})

    async def _stream(self, run: _Run) -> None:
        """Run a subscription: a ``next`` per event, then ``complete``."""
        built = Executor.build(
            run.schema,
            run.document,
            context_value=run.context,
            raw_variable_values=run.params.variables,
            operation_name=run.params.operation_name,
        )
        if isinstance(built, list):
            await self._finish(run.operation_id, _errors(built))
            return
        executor = built
        started = create_source_event_stream(executor)
        stream = await started if isawaitable(started) else started
        if isinstance(stream, ExecutionResult):
            run.log(stream)
            await self._finish(run.operation_id, _errors(stream.errors or []))
            return
        prefix = '{"id":' + json.dumps(run.operation_id) + ',"type":"next","payload":'
        try:
            async for event in stream:
                payload = await self._event_payload(run, executor, event)
                await self.send_text(prefix + payload + "}")
        except AppgraphError as error:
            # A source generator checks access on its first step, after the
            # stream was created. Its expected failures (an unknown or hidden
            # app) reach the client instead of the masked message.
            await self._finish(
                run.operation_id,
                _errors([GraphQLError(str(error), original_error=error)]),
            )
            return
        finally:
            # Closing the stream runs the finally blocks of the source
            # generator, also when a client's complete cancelled this task.
            aclose = getattr(stream, "aclose", None)
            if aclose is not None:
                await aclose()
        await self._finish(run.operation_id, {"type": "complete"})

    async def _event_payload(
        self, run: _Run, executor: Executor[Any], event: Any
    ) -> str:
        """Execute the selection set over one event and return it as JSON.

        An event marked shared (see :mod:`api.fanout`) is executed once for
        every subscriber with the same document, variables, workspace and
        role, and they all get the same text.
        """

        async def compute() -> str:
            outcome = execute_subscription_event(
                executor.build_per_event_executor(event)
            )
            result = await outcome if isawaitable(outcome) else outcome
            run.log(result)
            return json.dumps(
                format_result(result), ensure_ascii=False, separators=(",", ":")
            )

        token = share_token(event)
        if token is None:
            return await compute()
        caller = run.context.caller
        key = (
            token,
            run.params.query,
            json.dumps(run.params.variables, sort_keys=True, default=str),
            run.params.operation_name,
            caller.workspace_id,
            caller.is_admin,
        )
        return await self.endpoint.shared.get(key, compute)

    async def _finish(self, operation_id: str, message: dict[str, Any]) -> None:
        """Forget the operation, then send its last message.

        The id is released before the message goes out, so a client that
        reuses the id as soon as it reads the message does not get 4409.
        """
        if self.operations.get(operation_id) is asyncio.current_task():
            del self.operations[operation_id]
        await self.send({"id": operation_id, **message})

    async def send(self, message: dict[str, Any]) -> None:
        await self.send_text(
            json.dumps(message, ensure_ascii=False, separators=(",", ":"))
        )

    async def send_text(self, text: str) -> None:
        async with self.send_lock:
            if self.closed:
                return
            try:
                await self.websocket.send_text(text)
            except _SEND_ERRORS:
                self.closed = True

    async def close(self, code: int, reason: str) -> None:
        async with self.send_lock:
            if self.closed:
                return
            self.closed = True
            logger.info("Closing a GraphQL WebSocket with code %d: %s", code, reason)
            try:
                await self.websocket.close(code, _truncate(reason))
            except _SEND_ERRORS:
                pass

    async def _ping(self, interval: float) -> None:
        while not self.closed:
            await asyncio.sleep(interval)
            await self.send({"type": "ping"})

    async def _cancel_operations(self) -> None:
        tasks = list(self.operations.values())
        self.operations.clear()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def _optional_payload(data: dict[str, Any]) -> dict[str, Any] | None:
    payload = data.get("payload")
    if payload is not None and not isinstance(payload, dict):
        raise _ProtocolError(
            4400, f"Invalid message: the {data['type']} payload must be an object."
        )
    return payload


def _message_id(data: dict[str, Any]) -> str:
    operation_id = data.get("id")
    if not isinstance(operation_id, str) or not operation_id:
        raise _ProtocolError(
            4400, f"Invalid message: {data['type']} needs a non-empty string id."
        )
    return operation_id


def _next(operation_id: str, result: ExecutionResult) -> dict[str, Any]:
    return {"id": operation_id, "type": "next", "payload": format_result(result)}


def _errors(errors: Iterable[GraphQLError]) -> dict[str, Any]:
    return _error_message(format_errors(errors))


def _error_message(payload: list[dict[str, Any]]) -> dict[str, Any]:
    return {"type": "error", "payload": payload}


def _truncate(reason: str) -> str:
    encoded = reason.encode("utf-8")
    if len(encoded) <= _MAX_REASON_BYTES:
        return reason
    return encoded[:_MAX_REASON_BYTES].decode("utf-8", errors="ignore")
