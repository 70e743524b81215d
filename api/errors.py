"""Formatting of GraphQL errors for clients, with unexpected exceptions masked.

A client sees the message of an error that the code raised on purpose:
graphql-core's own errors (syntax, validation, variable coercion), a
``GraphQLError`` raised by a resolver, or an :class:`AppgraphError`. Any other
exception from a resolver is a bug, so its text stays in the server log and
the client gets ``"Unexpected error."`` with the code ``INTERNAL_SERVER_ERROR``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any

from graphql import ExecutionResult, GraphQLError

from blocks.errors import (
    AppgraphError,
    ConflictError,
    NotFoundError,
    PermissionDeniedError,
    ProblemsError,
    UploadError,
    ValueProblem,
)

logger = logging.getLogger(__name__)

UNEXPECTED_MESSAGE = "Unexpected error."
INTERNAL_SERVER_ERROR = "INTERNAL_SERVER_ERROR"


class HTTPRequestError(Exception):
    """A request rejected before execution, with the HTTP status to respond with."""

    def __init__(
        self,
        status_code: int,
        message: str,
        *,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.status_code = status_code
        self.message = message
        self.headers = dict(headers or {})
        super().__init__(message)


def root_cause(error: GraphQLError) -> BaseException | None:
    """Return the innermost exception wrapped by ``error``, or None for a plain one.

    graphql-core wraps a resolver's exception once, and a variable coercion
    error twice, so the chain of ``original_error`` is followed to its end.
    """
    cause: BaseException | None = error.original_error
    while isinstance(cause, GraphQLError) and cause.original_error is not None:
        cause = cause.original_error
    return cause


def is_unexpected(error: GraphQLError) -> bool:
    """Return whether the error's message must be hidden from the client.

    An error without a path comes from parsing, validation or variable
    coercion. There a ``ValueError`` or ``TypeError`` is how a scalar's parse
    function rejects an input value, so its message is meant for the client.
    The same exceptions raised while resolving a field are bugs.
    """
    cause = root_cause(error)
    if cause is None or isinstance(cause, GraphQLError | AppgraphError):
        return False
    return not (error.path is None and isinstance(cause, ValueError | TypeError))


def format_error(error: GraphQLError) -> dict[str, Any]:
    """Return the JSON form of ``error``, masking it if it is unexpected."""
    formatted: dict[str, Any] = dict(error.formatted)
    if is_unexpected(error):
        formatted["message"] = UNEXPECTED_MESSAGE
        formatted["extensions"] = {"code": INTERNAL_SERVER_ERROR}
        return formatted
    cause = root_cause(error)
    if isinstance(cause, AppgraphError):
        extensions = {**_appgraph_extensions(cause), **formatted.get("extensions", {})}
        if extensions:
            formatted["extensions"] = extensions
    return formatted


def format_errors(errors: Iterable[GraphQLError]) -> list[dict[str, Any]]:
    """Return the JSON form of each error, in order."""
    return [format_error(error) for error in errors]


def format_result(result: ExecutionResult) -> dict[str, Any]:
    """Return the JSON form of an execution result that has a ``data`` entry."""
    body: dict[str, Any] = {"data": result.data}
    if result.errors:
        body["errors"] = format_errors(result.errors)
    return body


def is_request_error(result: ExecutionResult) -> bool:
    """Return whether execution stopped before it started, as with invalid variables.

    graphql-core returns such errors with ``data`` None, like a field error
    that nulls the whole response. Only field errors have a path.
    """
    return (
        result.data is None
        and bool(result.errors)
        and all(error.path is None for error in result.errors or ())
    )


def log_unexpected(
    errors: Iterable[GraphQLError],
    *,
    operation_name: str | None = None,
    workspace_id: str | None = None,
) -> None:
    """Log the unexpected errors of one result, with the first one's traceback.

    A list field whose items all fail would repeat one traceback per item, so
    only the first is logged in full and the others are counted. The log line
    names the operation, workspace and path but no variable values or tokens.
    The traceback does contain the exception's own message.
    """
    unexpected = [error for error in errors if is_unexpected(error)]
    if not unexpected:
        return
    first = unexpected[0]
    logger.error(
        "Unexpected error in operation %s of workspace %s at path %s"
        " (%d more unexpected errors in the same result)",
        operation_name or "<anonymous>",
        workspace_id or "<unknown>",
        ".".join(map(str, first.path or [])) or "<root>",
        len(unexpected) - 1,
        exc_info=root_cause(first),
    )


def _appgraph_extensions(error: AppgraphError) -> dict[str, Any]:
    if isinstance(error, ValueProblem | UploadError):
        return {"code": error.code.value}
    if isinstance(error, ProblemsError):
        return {
            "problems": [
                {
                    "path": list(problem.path),
                    "code": problem.code.value,
                    "message": problem.message,
                }
                for problem in error.problems
            ]
        }
    if isinstance(error, NotFoundError):
        return {"code": "NOT_FOUND"}
    if isinstance(error, ConflictError):
        return {"code": "CONFLICT"}
    if isinstance(error, PermissionDeniedError):
        return {"code": "FORBIDDEN"}
    return {}
