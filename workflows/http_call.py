"""The HTTP request effect of workflow steps (webhooks and API calls).

A step's URL, header values and JSON body are templates rendered over the run
context. The request goes through the :class:`~workflows.guard.GuardedClient`
with an ``Idempotency-Key`` header (run id and step id), so a receiver that
honours the header applies a repeated delivery once. The result keeps what
later steps may read: the status, a few response headers and the body, parsed
as JSON when it is JSON, cut to ``max_body_chars`` otherwise.

Failures raise :class:`HttpCallError`. Its ``retryable`` flag is true for
connection failures, timeouts, 408, 429 and 5xx responses, and false for
other 4xx responses, blocked addresses and template errors.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

from blocks.errors import AppgraphError
from workflows.guard import GuardedClient, GuardedResponse, OutgoingRequestError
from workflows.secrets import Secret
from workflows.templates import (
    JsonValue,
    TemplateError,
    check_json_template,
    check_template,
    render_json_template,
    render_template,
)

__all__ = [
    "ALLOWED_METHODS",
    "HttpCallError",
    "HttpCallResult",
    "HttpCallSpec",
    "check_http_call",
    "is_retryable_status",
    "perform_http_call",
    "read_response",
]

ALLOWED_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE"})
METHODS_WITH_BODY = frozenset({"POST", "PUT", "PATCH", "DELETE"})
KEPT_RESPONSE_HEADERS = (
    "content-type",
    "location",
    "retry-after",
    "etag",
    "last-modified",
    "x-request-id",
)
DEFAULT_MAX_BODY_CHARS = 64 * 1024
USER_AGENT = "appgraph-workflows"


@dataclass(frozen=True)
class HttpCallSpec:
    """A configured request; ``url``, string header values and ``body`` are templates.

    A :class:`Secret` header value is sent as is and never rendered.
    ``timeout`` (seconds) can only shorten the guard policy's timeout.
    """

    url: str
    method: str = "POST"
    headers: Mapping[str, str | Secret] = field(default_factory=dict)
    body: JsonValue = None
    timeout: float | None = None


@dataclass(frozen=True)
class HttpCallResult:
    """Response data that later steps read: status, some headers and the body."""

    status: int
    headers: dict[str, str]
    body: JsonValue
    body_truncated: bool
    url: str

    def to_json(self) -> dict[str, JsonValue]:
        """Return the result as a JSON object for the step's stored output."""
        headers: dict[str, JsonValue] = dict(self.headers)
        return {
            "status": self.status,
            "headers": headers,
            "body": self.body,
            "body_truncated": self.body_truncated,
            "url": self.url,
        }


class HttpCallError(AppgraphError):
    """The call failed; ``retryable`` is true when sending it again may succeed.

    ``result`` is set when the server responded with an error status, and
    ``retry_after`` (seconds) when it also sent a Retry-After header.
    """

    def __init__(
        self,
        message: str,
        *,
        retryable: bool,
        result: HttpCallResult | None = None,
        retry_after: float | None = None,
    ) -> None:
        self.retryable = retryable
        self.result = result
        self.retry_after = retry_after
        super().__init__(message)


def is_retryable_status(status: int) -> bool:
    """Return whether an HTTP error status is worth retrying (408, 429, 5xx)."""
    return status in (408, 429) or status >= 500


def check_http_call(spec: HttpCallSpec) -> None:
    """Raise TemplateError or ValueError if ``spec`` cannot be rendered or sent.

    Called when a definition is saved, so the admin gets the error before any run.
    """
    method = spec.method.upper()
    if method not in ALLOWED_METHODS:
        allowed = ", ".join(sorted(ALLOWED_METHODS))
        raise ValueError(
            f"HTTP method {spec.method!r} is not supported; use {allowed}."
        )
    if spec.body is not None and method not in METHODS_WITH_BODY:
        raise ValueError(f"HTTP method {method} cannot send a body; remove the body.")
    if spec.timeout is not None and spec.timeout <= 0:
        raise ValueError("HTTP call timeout must be a positive number of seconds.")
    check_template(spec.url, path="url")
    for name, value in spec.headers.items():
        if isinstance(value, str):
            check_template(value, path=f"headers.{name}")
    check_json_template(spec.body, path="body")


async def perform_http_call(
    spec: HttpCallSpec,
    context: Mapping[str, Any],
    *,
    idempotency_key: str,
    client: GuardedClient,
    max_body_chars: int = DEFAULT_MAX_BODY_CHARS,
) -> HttpCallResult:
    """Render ``spec`` over ``context``, send it and return the result.

    Raises:
        HttpCallError: rendering failed, the guard rejected the request, the
            network failed, or the server responded with status 400 or more.
    """
    try:
        check_http_call(spec)
        url = render_template(spec.url, context, path="url")
        headers = _render_headers(spec.headers, context)
        body = None
        if spec.body is not None:
            body = render_json_template(spec.body, context, path="body")
    except (TemplateError, ValueError) as error:
        raise HttpCallError(f"HTTP call is invalid: {error}", retryable=False) from None

    headers["Idempotency-Key"] = idempotency_key
    content = None
    if body is not None:
        content = json.dumps(body, ensure_ascii=False).encode("utf-8")
        headers.setdefault("Content-Type", "application/json")

    try:
        response = await client.request(
            spec.method,
            url,
            headers=headers,
            content=content,
            timeout=spec.timeout,
        )
    except OutgoingRequestError as error:
        raise HttpCallError(
            f"HTTP call failed: {error}", retryable=error.retryable
        ) from None

    result = read_response(response, max_body_chars=max_body_chars)
    if response.status_code >= 400:
        raise HttpCallError(
            f"HTTP call to {response.url} failed with status {response.status_code}.",
            retryable=is_retryable_status(response.status_code),
            result=result,
            retry_after=_retry_after(response.headers.get("retry-after")),
        )
    return result


def read_response(
    response: GuardedResponse, *, max_body_chars: int = DEFAULT_MAX_BODY_CHARS
) -> HttpCallResult:
    """Return the readable parts of ``response``: JSON parsed, text truncated."""
    headers = {
        name: response.headers[name]
        for name in KEPT_RESPONSE_HEADERS
        if name in response.headers
    }
    text = response.text
    truncated = len(text) > max_body_chars
    body: JsonValue = text[:max_body_chars]
    if not truncated and _is_json(headers.get("content-type", "")):
        try:
            body = json.loads(text)
        except ValueError:
            body = text
    return HttpCallResult(response.status_code, headers, body, truncated, response.url)


def _render_headers(
    headers: Mapping[str, str | Secret], context: Mapping[str, Any]
) -> dict[str, str]:
    rendered = {"User-Agent": USER_AGENT}
    for name, value in headers.items():
        if isinstance(value, Secret):
            rendered[name] = value.reveal()
        else:
            rendered[name] = render_template(value, context, path=f"headers.{name}")
    return rendered


def _is_json(content_type: str) -> bool:
    media_type = content_type.split(";", 1)[0].strip().lower()
    return media_type == "application/json" or media_type.endswith("+json")


def _retry_after(value: str | None) -> float | None:
    if value is None:
        return None
    if value.strip().isdigit():
        return float(value.strip())
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (moment - datetime.now(UTC)).total_seconds())
