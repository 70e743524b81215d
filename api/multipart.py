"""Parsing of GraphQL multipart requests, which carry file uploads.

The format is the GraphQL multipart request specification
(https://github.com/jaydenseric/graphql-multipart-request-spec). A
``multipart/form-data`` body starts with an ``operations`` field, which is
the JSON request with ``null`` for each file variable. The ``map`` field that
follows is a JSON object from each file part's name to the paths of its
``null`` placeholders, such as ``{"0": ["variables.file"]}``. The file parts
come last.

A browser may send a multipart form to any site without a CORS preflight, so
such a request is accepted only with a header that a plain form cannot set
(:data:`PREFLIGHT_HEADERS`).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from dataclasses import dataclass, field
from typing import Any

from starlette.datastructures import FormData, Headers, UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser

from api.errors import HTTPRequestError
from api.limits import Limits, RequestJSONError, parse_request_json

PREFLIGHT_HEADERS = ("GraphQL-Preflight", "Apollo-Require-Preflight")
"""Headers of which a multipart request must carry one, with any non-empty value."""

BATCH_MESSAGE = "Batched requests are not supported; send one operation per request."

_TEXT_FIELDS = ("operations", "map")


@dataclass
class MultipartRequest:
    """A parsed multipart request whose file placeholders hold the uploads."""

    operations: dict[str, Any]
    """The GraphQL request, with each mapped ``null`` replaced by its UploadFile."""
    uploads: dict[str, UploadFile] = field(default_factory=dict)
    """The uploaded files by their map key."""
    form: FormData = field(default_factory=FormData)
    """The parsed form, which owns the files' temporary storage."""

    async def close(self) -> None:
        """Close the uploaded files and free their temporary storage."""
        await self.form.close()


def require_preflight_header(headers: Headers) -> None:
    """Raise HTTPRequestError (400) unless a preflight header is present."""
    if any(headers.get(name, "").strip() for name in PREFLIGHT_HEADERS):
        return
    raise HTTPRequestError(
        400,
        "Multipart requests must carry a non-empty GraphQL-Preflight header (or"
        " Apollo-Require-Preflight), which protects against cross-site request"
        " forgery. Add the header `GraphQL-Preflight: 1` to the request.",
    )


async def parse_multipart(
    headers: Headers, stream: AsyncGenerator[bytes, None], limits: Limits
) -> MultipartRequest:
    """Read a multipart request from ``stream`` and place its files.

    ``stream`` is expected to enforce ``limits.max_upload_bytes`` itself by
    raising HTTPRequestError (413), which passes through unchanged.

    Raises:
        HTTPRequestError: 413 if there are more than ``limits.max_files`` files,
            400 if the body, ``operations`` or ``map`` is invalid.
    """
    parser = MultiPartParser(
        headers,
        stream,
        max_files=limits.max_files,
        max_fields=len(_TEXT_FIELDS),
        max_part_size=limits.max_body_bytes,
    )
    try:
        form = await parser.parse()
    except MultiPartException as error:
        # NOTE: Starlette reports every limit with this one exception class, so
        # the file limit is recognized by its message (checked on Starlette 1.10).
        if error.message.startswith("Too many files"):
            raise HTTPRequestError(
                413,
                f"The request contains more than {limits.max_files} files, the"
                " maximum. Send fewer files per request.",
            ) from None
        raise HTTPRequestError(
            400, f"The multipart body is invalid: {error.message}"
        ) from None
    request = MultipartRequest(operations={}, form=form)
    try:
        _fill(request, form, limits)
    except BaseException:
        await request.close()
        raise
    return request


def _fill(request: MultipartRequest, form: FormData, limits: Limits) -> None:
    texts: dict[str, str] = {}
    files: dict[str, UploadFile] = {}
    for name, value in form.multi_items():
        if isinstance(value, UploadFile):
            files[name] = value
        elif name in _TEXT_FIELDS:
            texts[name] = value
        else:
            raise HTTPRequestError(
                400,
                f"The multipart request has an unknown field '{name}'. Expected only"
                " the fields operations and map, then the file parts.",
            )
    operations = _json_field(texts, "operations")
    if isinstance(operations, list):
        raise HTTPRequestError(400, BATCH_MESSAGE)
    if not isinstance(operations, dict):
        raise HTTPRequestError(
            400,
            "The multipart field operations must be a JSON object with the"
            f" GraphQL request, but it is a JSON {_json_kind(operations)}.",
        )
    file_map = _file_map(_json_field(texts, "map"), limits)
    for name in files:
        if name not in file_map:
            raise HTTPRequestError(
                400,
                f"The file part '{name}' is not listed in map. Add it to map with"
                " the paths of its variables, or leave it out.",
            )
    for key, paths in file_map.items():
        upload = files.get(key)
        if upload is None:
            raise HTTPRequestError(
                400,
                f"The map entry '{key}' names no file part. Send a file part"
                f" named '{key}' after the map field.",
            )
        for path in paths:
            _place(operations, key, path, upload)
        request.uploads[key] = upload
    request.operations = operations


def _json_field(texts: dict[str, str], name: str) -> Any:
    text = texts.get(name)
    if text is None:
        raise HTTPRequestError(
            400,
            f"The multipart request has no {name} field. Send the fields"
            " operations and map before the file parts.",
        )
    try:
        return parse_request_json(text, f"The multipart field {name}")
    except RequestJSONError as error:
        raise HTTPRequestError(400, str(error)) from None


def _file_map(value: Any, limits: Limits) -> dict[str, list[str]]:
    if not isinstance(value, dict):
        raise HTTPRequestError(
            400,
            "The multipart field map must be a JSON object from file part names to"
            f" lists of paths, but it is a JSON {_json_kind(value)}.",
        )
    if len(value) > limits.max_files:
        raise HTTPRequestError(
            413,
            f"The map lists {len(value)} files, but the maximum is"
            f" {limits.max_files}. Send fewer files per request.",
        )
    for key, paths in value.items():
        if (
            not isinstance(paths, list)
            or not paths
            or not all(isinstance(path, str) for path in paths)
        ):
            raise HTTPRequestError(
                400,
                f"The map entry '{key}' must be a non-empty list of path strings"
                ' such as ["variables.file"].',
            )
    return value


def _place(operations: dict[str, Any], key: str, path: str, upload: UploadFile) -> None:
    """Replace the ``null`` at a dotted ``path`` in ``operations`` with ``upload``."""
    container: Any = operations
    segments = path.split(".")
    for position, segment in enumerate(segments):
        last = position == len(segments) - 1
        if isinstance(container, dict) and segment in container:
            if last and container[segment] is None:
                container[segment] = upload
                return
            container = container[segment]
        elif isinstance(container, list) and _is_index(segment, len(container)):
            index = int(segment)
            if last and container[index] is None:
                container[index] = upload
                return
            container = container[index]
        else:
            break
    raise HTTPRequestError(
        400,
        f"The map entry '{key}' has the path '{path}', which does not lead to a"
        " null placeholder in operations. Set that variable to null in operations.",
    )


def _is_index(segment: str, length: int) -> bool:
    return segment.isdigit() and int(segment) < length


def _json_kind(value: Any) -> str:
    if isinstance(value, list):
        return "array"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if value is None:
        return "null"
    return "object"
