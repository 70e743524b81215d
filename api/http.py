"""GraphQL over HTTP: the GET and POST transport of the GraphQL API.

The endpoint follows the GraphQL over HTTP draft specification
(https://graphql.github.io/graphql-over-http/draft/) with the choices below.
NOTE: the status rules were written from the draft as of 2024 and not
rechecked against its current text.

- A POST body is ``application/json`` or a GraphQL multipart request (see
  :mod:`api.multipart`). Other content types get 415 and a JSON array (a
  batch) gets 400.
- GET runs queries only. A mutation over GET gets 405 with ``Allow: POST``,
  and a subscription over either method gets 400 because subscriptions are
  served on the WebSocket endpoint.
- The response media type is ``application/graphql-response+json`` unless the
  Accept header prefers ``application/json``. A request without an Accept
  header also gets ``application/graphql-response+json``, so a legacy client
  that relies on status 200 for GraphQL errors must send
  ``Accept: application/json``.
- With ``application/graphql-response+json``, a request that does not reach
  execution (bad request, syntax or validation error, unknown operation,
  invalid variables) gets 400 and a body without ``data``. With
  ``application/json`` such GraphQL errors get 200, as the draft recommends for
  legacy clients, while malformed requests still get 400.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncGenerator, Iterable, Mapping
from dataclasses import dataclass
from inspect import isawaitable
from typing import Any

from graphql import ExecutionResult, GraphQLError, OperationType, execute
from starlette.datastructures import Headers
from starlette.requests import ClientDisconnect, Request
from starlette.responses import HTMLResponse, Response
from starlette.types import Receive, Scope, Send

from api.context import Authenticator, Caller, ContextFactory, SchemaProvider
from api.errors import (
    INTERNAL_SERVER_ERROR,
    UNEXPECTED_MESSAGE,
    HTTPRequestError,
    format_errors,
    format_result,
    is_request_error,
    log_unexpected,
)
from api.graphiql import GRAPHIQL_HTML
from api.limits import (
    DocumentCache,
    Limits,
    RequestJSONError,
    coerce_variable_numbers,
    parse_request_json,
    select_operation,
)
from api.multipart import (
    BATCH_MESSAGE,
    MultipartRequest,
    parse_multipart,
    require_preflight_header,
)

logger = logging.getLogger(__name__)

GRAPHQL_RESPONSE_JSON = "application/graphql-response+json"
JSON = "application/json"

SUBSCRIPTION_MESSAGE = (
    "Subscriptions are not supported over HTTP. Open a WebSocket to this path"
    " with the graphql-transport-ws subprotocol."
)


@dataclass(frozen=True)
class GraphQLParams:
    """The parameters of one GraphQL request, checked for their JSON types."""

    query: str
    operation_name: str | None = None
    variables: dict[str, Any] | None = None
    extensions: dict[str, Any] | None = None


def read_params(source: Mapping[str, Any]) -> GraphQLParams:
    """Return the request parameters of a decoded JSON object.

    Raises:
        ValueError: a parameter is missing or has the wrong JSON type; the
            message names it.
    """
    query = source.get("query")
    if not isinstance(query, str):
        if query is None:
            raise ValueError(
                "The request has no query. Send the GraphQL document as the string"
                " parameter query."
            )
        raise ValueError(
            f"The parameter query must be a string, but it is {type(query).__name__}."
        )
    operation_name = source.get("operationName")
    if operation_name is not None and not isinstance(operation_name, str):
        raise ValueError("The parameter operationName must be a string or null.")
    variables = source.get("variables")
    if variables is not None and not isinstance(variables, dict):
        raise ValueError("The parameter variables must be a JSON object or null.")
    extensions = source.get("extensions")
    if extensions is not None and not isinstance(extensions, dict):
        raise ValueError("The parameter extensions must be a JSON object or null.")
    return GraphQLParams(query, operation_name, variables, extensions)


def bearer_token(authorization: str | None) -> str | None:
    """Return the token of an ``Authorization: Bearer`` header value.

    Returns None if there is no header. Raises ValueError for another scheme
    or an empty token.
    """
    if authorization is None:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ValueError(
            "The Authorization header must have the form 'Bearer <token>'."
        )
    return token.strip()


def negotiate_media_type(accept: str | None) -> str | None:
    """Return the response media type for an Accept header, or None for 406.

    A missing or empty header counts as ``*/*``. On equal quality,
    ``application/graphql-response+json`` wins over ``application/json``.
    """
    if accept is None or not accept.strip():
        return GRAPHQL_RESPONSE_JSON
    ranges = _parse_accept(accept)
    chosen: str | None = None
    chosen_quality = 0.0
    for candidate in (GRAPHQL_RESPONSE_JSON, JSON):
        quality = _quality(ranges, candidate)
        if quality > chosen_quality:
            chosen, chosen_quality = candidate, quality
    return chosen


def accepts_html(accept: str | None) -> bool:
    """Return whether the Accept header names ``text/html`` itself, as browsers do."""
    if accept is None:
        return False
    return any(
        media == "text/html" and quality > 0 for media, quality in _parse_accept(accept)
    )


def _parse_accept(accept: str) -> list[tuple[str, float]]:
    ranges = []
    for item in accept.split(","):
        media, *parameters = item.split(";")
        media = media.strip().lower()
        if "/" not in media:
            continue
        quality = 1.0
        for parameter in parameters:
            name, _, value = parameter.partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value.strip())
                except ValueError:
                    quality = 0.0
        ranges.append((media, quality))
    return ranges


def _quality(ranges: list[tuple[str, float]], media_type: str) -> float:
    """Return the quality of ``media_type`` from its most specific matching range."""
    main_type = media_type.split("/")[0]
    best_specificity = -1
    best_quality = 0.0
    for media, quality in ranges:
        if media == media_type:
            specificity = 2
        elif media == f"{main_type}/*":
            specificity = 1
        elif media == "*/*":
            specificity = 0
        else:
            continue
        if specificity > best_specificity:
            best_specificity, best_quality = specificity, quality
    return best_quality


async def limited_body(
    receive: Receive, max_bytes: int, message: str
) -> AsyncGenerator[bytes, None]:
    """Yield the request body's chunks, up to ``max_bytes`` in total.

    Both a declared Content-Length and a chunked body are bounded, because the
    bytes are counted as they arrive.

    Raises:
        HTTPRequestError: 413 with ``message`` once the body exceeds ``max_bytes``.
        ClientDisconnect: the client went away before the body ended.
    """
    received = 0
    while True:
        event = await receive()
        if event["type"] == "http.disconnect":
            raise ClientDisconnect()
        chunk: bytes = event.get("body", b"")
        received += len(chunk)
        if received > max_bytes:
            raise HTTPRequestError(413, message)
        if chunk:
            yield chunk
        if not event.get("more_body", False):
            return


class GraphQLHTTPEndpoint:
    """The ASGI app that serves GraphQL over HTTP on one path.

    Mount it as ``Route("/graphql", endpoint=..., methods=["GET", "POST"])``.
    Each request fetches the schema from the provider once, so a schema swap
    takes effect on the next request and never in the middle of one.
    """

    def __init__(
        self,
        provider: SchemaProvider,
        authenticate: Authenticator,
        make_context: ContextFactory,
        limits: Limits,
        *,
        graphiql: bool = False,
    ) -> None:
        """Create the endpoint.

        Args:
            provider: Returns the schema for each request's caller.
            authenticate: Resolves the request's bearer token to a caller.
            make_context: Builds the context value of each operation.
            limits: Request limits; the body limits are checked here.
            graphiql: Serve the GraphiQL page to browsers; for development only.
        """
        self._provider = provider
        self._authenticate = authenticate
        self._make_context = make_context
        self._limits = limits
        self._graphiql = graphiql
        self._documents = DocumentCache(limits)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one HTTP request."""
        request = Request(scope, receive)
        try:
            response = await self._respond(request, receive)
        except ClientDisconnect:
            logger.debug("Client disconnected before the request body ended")
            return
        await response(scope, receive, send)

    async def _respond(self, request: Request, receive: Receive) -> Response:
        method = request.method
        if method not in ("GET", "POST"):
            return _error_response(
                405,
                f"The method {method} is not allowed. Use GET or POST.",
                JSON,
                headers={"Allow": "GET, POST"},
            )
        accept = request.headers.get("accept")
        if method == "GET" and self._graphiql and accepts_html(accept):
            return HTMLResponse(GRAPHIQL_HTML)
        media_type = negotiate_media_type(accept)
        if media_type is None:
            return _error_response(
                406,
                f"The Accept header '{accept}' allows neither {GRAPHQL_RESPONSE_JSON}"
                f" nor {JSON}. Accept one of them.",
                JSON,
            )
        multipart: MultipartRequest | None = None
        try:
            if method == "POST":
                _check_post_headers(request.headers, self._limits)
            caller = await self._caller(request.headers)
            params, multipart = await self._read_params(request, receive)
            return await self._run(request, caller, params, multipart, media_type)
        except HTTPRequestError as error:
            logger.debug(
                "Rejected a GraphQL request with status %d: %s",
                error.status_code,
                error.message,
            )
            return _error_response(
                error.status_code, error.message, media_type, headers=error.headers
            )
        except ClientDisconnect:
            raise
        except Exception:
            logger.exception("Unexpected error while serving a GraphQL request")
            body = {
                "errors": [
                    {
                        "message": UNEXPECTED_MESSAGE,
                        "extensions": {"code": INTERNAL_SERVER_ERROR},
                    }
                ]
            }
            return _json_response(body, 500, media_type)
        finally:
            if multipart is not None:
                await multipart.close()

    async def _caller(self, headers: Headers) -> Caller:
        try:
            token = bearer_token(headers.get("authorization"))
        except ValueError as error:
            raise HTTPRequestError(
                401, str(error), headers={"WWW-Authenticate": "Bearer"}
            ) from None
        caller = await self._authenticate(token)
        if caller is not None:
            return caller
        if token is None:
            raise HTTPRequestError(
                401,
                "The request has no token. Send 'Authorization: Bearer <token>'.",
                headers={"WWW-Authenticate": "Bearer"},
            )
        raise HTTPRequestError(
            401,
            "The token is invalid, expired or revoked. Send a valid API token.",
            headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
        )

    async def _read_params(
        self, request: Request, receive: Receive
    ) -> tuple[GraphQLParams, MultipartRequest | None]:
        """Return the request's parameters and, for a multipart body, its files."""
        if request.method == "GET":
            return _get_params(request), None
        if _content_type(request.headers) == JSON:
            return await self._json_params(receive), None
        max_bytes = self._limits.max_upload_bytes
        multipart = await parse_multipart(
            request.headers,
            limited_body(receive, max_bytes, _too_large_message(max_bytes)),
            self._limits,
        )
        try:
            return _checked_params(multipart.operations), multipart
        except HTTPRequestError:
            await multipart.close()
            raise

    async def _json_params(self, receive: Receive) -> GraphQLParams:
        limit = self._limits.max_body_bytes
        chunks = [
            chunk
            async for chunk in limited_body(receive, limit, _too_large_message(limit))
        ]
        try:
            decoded = parse_request_json(b"".join(chunks), "The request body")
        except RequestJSONError as error:
            raise HTTPRequestError(400, str(error)) from None
        if isinstance(decoded, list):
            raise HTTPRequestError(400, BATCH_MESSAGE)
        if not isinstance(decoded, dict):
            raise HTTPRequestError(
                400,
                "The request body must be a JSON object with the parameter query.",
            )
        return _checked_params(decoded)

    async def _run(
        self,
        request: Request,
        caller: Caller,
        params: GraphQLParams,
        multipart: MultipartRequest | None,
        media_type: str,
    ) -> Response:
        # Request errors get 400 with the new media type and 200 for legacy clients.
        request_error_status = 400 if media_type == GRAPHQL_RESPONSE_JSON else 200

        schema = self._provider.schema_for(caller)
        checked = self._documents.check(schema, params.query)
        if checked.document is None or checked.errors:
            return _errors_response(checked.errors, request_error_status, media_type)
        operation = select_operation(checked.document, params.operation_name)
        if isinstance(operation, GraphQLError):
            return _errors_response([operation], request_error_status, media_type)

        if operation.operation is OperationType.SUBSCRIPTION:
            raise HTTPRequestError(400, SUBSCRIPTION_MESSAGE)
        if request.method == "GET" and operation.operation is not OperationType.QUERY:
            raise HTTPRequestError(
                405,
                f"A {operation.operation.value} cannot run over GET, which must not"
                " change data. Send it with POST.",
                headers={"Allow": "POST"},
            )

        uploads = multipart.uploads if multipart is not None else {}
        context = await self._make_context(caller, uploads)
        variables = coerce_variable_numbers(schema, operation, params.variables)
        outcome = execute(
            schema,
            checked.document,
            context_value=context,
            variable_values=variables,
            operation_name=params.operation_name,
        )
        result: ExecutionResult = await outcome if isawaitable(outcome) else outcome

        if result.errors:
            log_unexpected(
                result.errors,
                operation_name=operation.name.value if operation.name else None,
                workspace_id=caller.workspace_id,
            )
        if is_request_error(result):
            return _errors_response(
                result.errors or [], request_error_status, media_type
            )
        return _json_response(format_result(result), 200, media_type)


def _check_post_headers(headers: Headers, limits: Limits) -> None:
    """Check the content type and declared length of a POST before reading it."""
    content_type = _content_type(headers)
    if content_type == JSON:
        max_bytes = limits.max_body_bytes
    elif content_type == "multipart/form-data":
        require_preflight_header(headers)
        max_bytes = limits.max_upload_bytes
    else:
        raise HTTPRequestError(
            415,
            f"The content type '{headers.get('content-type', '')}' is not supported."
            f" Send {JSON}, or multipart/form-data for file uploads.",
        )
    declared = headers.get("content-length")
    if declared is None:
        return
    if not declared.strip().isdigit():
        raise HTTPRequestError(400, f"The Content-Length '{declared}' is invalid.")
    if int(declared) > max_bytes:
        raise HTTPRequestError(413, _too_large_message(max_bytes))


def _content_type(headers: Headers) -> str:
    return headers.get("content-type", "").split(";")[0].strip().lower()


def _too_large_message(max_bytes: int) -> str:
    return (
        f"The request body is larger than {max_bytes} bytes, the maximum."
        " Send a smaller request."
    )


def _get_params(request: Request) -> GraphQLParams:
    query_params = request.query_params
    source: dict[str, Any] = {
        "query": query_params.get("query"),
        "operationName": query_params.get("operationName") or None,
    }
    for name in ("variables", "extensions"):
        encoded = query_params.get(name)
        if not encoded:
            continue
        try:
            source[name] = parse_request_json(encoded, f"The query parameter {name}")
        except RequestJSONError as error:
            raise HTTPRequestError(400, str(error)) from None
    return _checked_params(source)


def _checked_params(source: Mapping[str, Any]) -> GraphQLParams:
    try:
        return read_params(source)
    except ValueError as error:
        raise HTTPRequestError(400, str(error)) from None


def _errors_response(
    errors: Iterable[GraphQLError], status_code: int, media_type: str
) -> Response:
    return _json_response({"errors": format_errors(errors)}, status_code, media_type)


def _error_response(
    status_code: int,
    message: str,
    media_type: str,
    *,
    headers: Mapping[str, str] | None = None,
) -> Response:
    return _json_response(
        {"errors": [{"message": message}]}, status_code, media_type, headers=headers
    )


def _json_response(
    body: dict[str, Any],
    status_code: int,
    media_type: str,
    *,
    headers: Mapping[str, str] | None = None,
) -> Response:
    content = json.dumps(body, ensure_ascii=False, separators=(",", ":"))
    return Response(
        content.encode("utf-8"),
        status_code=status_code,
        headers=headers,
        media_type=f"{media_type}; charset=utf-8",
    )
