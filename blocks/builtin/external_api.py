"""The ``external_api`` block type: a value or options fetched from an HTTP API.

The URL, header values and JSON body of the request are templates whose
``{{ ... }}`` placeholders hold expressions of the expression language
(docs/expressions.md) over the record's values. The response must be JSON.
``extract`` picks the value, or the list of options, out of it with a small
path grammar (see :func:`parse_extract_path`). Every request goes through the
:class:`~blocks.base.HttpClient` of the :class:`~blocks.base.ValueContext`,
which the server builds with its outgoing-request guard.

With ``fetch: on_submit`` the server fetches while a record is submitted and
ignores a value sent by the client. With ``fetch: on_request`` the client
fetches (through :func:`fetch_external_options`) and submits a value, and in
``options`` mode the server checks it against a fresh fetch. Both server-side
steps need the other values of the record, so they run in
:meth:`ExternalApiBlockType.fetch_value`, which the submission pipeline calls
once every submitted value is normalized.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import re
import time
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from datetime import time as time_of_day
from decimal import Decimal
from typing import Any, ClassVar
from urllib.parse import quote, urlsplit

from graphql import (
    GraphQLBoolean,
    GraphQLInputType,
    GraphQLOutputType,
    GraphQLString,
)

from blocks.base import BlockType, ConfigContext, HttpClient, IndexKind, ValueContext
from blocks.builtin._expressions import check_expression
from blocks.builtin._support import (
    config_problem,
    describe,
    format_decimal,
    object_schema,
    shorten,
    to_decimal,
)
from blocks.definition import Block
from blocks.errors import AppgraphError, ErrorCode, Problem, ValueProblem
from blocks.expressions import ExpressionError, parse_cached
from blocks.filters import FieldPath, FilterNode, Operand
from blocks.types import TypeLibrary, compile_presence_filter, compile_scalar_filter

__all__ = [
    "ExternalApiBlockType",
    "Option",
    "fetch_external_options",
    "parse_extract_path",
]

logger = logging.getLogger(__name__)

TEXT = "text"
NUMBER = "number"
BOOLEAN = "boolean"
JSON = "json"
VALUE_MODE = "value"
OPTIONS_MODE = "options"
ON_SUBMIT = "on_submit"
ON_REQUEST = "on_request"

DEFAULT_TIMEOUT = 5.0
"""Seconds; the guard policy's own timeout still applies when it is shorter."""
MAX_TIMEOUT = 30.0
MAX_CACHE_SECONDS = 86_400
MAX_URL_LENGTH = 2048
MAX_TEXT_LENGTH = 10_000
MAX_OPTIONS = 1000
MAX_LISTED_OPTIONS = 10

# TODO: a dedicated FETCH_FAILED code in blocks.errors.ErrorCode would let
# clients tell an unreachable API from an invalid value; INVALID is used now.
FETCH_FAILED = ErrorCode.INVALID

_OPERANDS: dict[str, Operand | None] = {
    TEXT: Operand.TEXT,
    NUMBER: Operand.NUMBER,
    BOOLEAN: Operand.BOOLEAN,
    JSON: None,
}

_PLACEHOLDER = re.compile(r"\{\{(.*?)\}\}", re.DOTALL)
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_SECRET_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_EXTRACT_STEP = re.compile(r"\[(-?[0-9]+)\]|([^.\[\]]+)")

# Headers that the HTTP client sets itself.
_RESERVED_HEADERS = frozenset(
    {"host", "content-length", "transfer-encoding", "connection", "te", "upgrade"}
)

_SECRET_HEADER_SCHEMA = object_schema(
    {
        "secret": {
            "type": "string",
            "pattern": _SECRET_NAME.pattern.join("^$"),
            "description": "Name of a secret in the server configuration.",
        },
        "prefix": {
            "type": "string",
            "maxLength": 100,
            "description": "Text sent before the secret, such as 'Bearer '.",
        },
    },
    required=("secret",),
)


@dataclass(frozen=True)
class Option:
    """One option returned by an external API: its stored value and its label."""

    value: Any
    label: str


class ExternalApiBlockType(BlockType):
    """A value, or a choice among options, that an external HTTP API provides.

    The class-level :attr:`operand` describes the default text value.
    :meth:`block_operand` follows the block's ``value_type``.
    """

    name = "external_api"
    label = "External API"
    description = (
        "A value or a list of options fetched from an HTTP API, with other "
        "values of the record as parameters."
    )
    value_type = "String"
    index_kind = IndexKind.KEYWORD
    operand = Operand.TEXT

    config_schema: ClassVar[Mapping[str, Any]] = object_schema(
        {
            "url": {
                "type": "string",
                "minLength": 1,
                "maxLength": MAX_URL_LENGTH,
                "description": (
                    "URL template; {{ expression }} placeholders are replaced "
                    "by percent-encoded values. The scheme and host are fixed."
                ),
            },
            "method": {
                "enum": ["GET", "POST"],
                "default": "GET",
                "description": "HTTP method; default GET.",
            },
            "headers": {
                "type": "object",
                "additionalProperties": {
                    "anyOf": [
                        {"type": "string", "maxLength": 4096},
                        _SECRET_HEADER_SCHEMA,
                    ]
                },
                "description": (
                    "Request headers: a template string, or {secret, prefix} "
                    "to send a named secret from the server configuration."
                ),
            },
            "body": {
                "description": (
                    "JSON body of a POST request; its strings are templates, and "
                    "a string that is one placeholder becomes the JSON value."
                ),
            },
            "mode": {
                "enum": [VALUE_MODE, OPTIONS_MODE],
                "default": VALUE_MODE,
                "description": (
                    "value: the response gives the block's value. options: the "
                    "response gives the options the value must be one of."
                ),
            },
            "extract": {
                "type": "string",
                "maxLength": 500,
                "default": "",
                "description": (
                    "Path into the JSON response, such as data.items[0].price; "
                    "empty for the whole response."
                ),
            },
            "option_value": {
                "type": "string",
                "minLength": 1,
                "maxLength": 500,
                "default": "value",
                "description": "Path of the value inside each option object.",
            },
            "option_label": {
                "type": "string",
                "minLength": 1,
                "maxLength": 500,
                "default": "label",
                "description": "Path of the label inside each option object.",
            },
            "value_type": {
                "enum": [TEXT, NUMBER, BOOLEAN, JSON],
                "default": TEXT,
                "description": (
                    "Type of the value: text (String), number (Decimal), boolean "
                    "(Boolean) or json (JSON); default text."
                ),
            },
            "fetch": {
                "enum": [ON_SUBMIT, ON_REQUEST],
                "default": ON_SUBMIT,
                "description": (
                    "on_submit: the server fetches when the record is submitted "
                    "and ignores a submitted value. on_request: the client "
                    "fetches and submits the value."
                ),
            },
            "timeout": {
                "type": "number",
                "exclusiveMinimum": 0,
                "maximum": MAX_TIMEOUT,
                "default": DEFAULT_TIMEOUT,
                "description": "Seconds to wait for the response; default 5.",
            },
            "cache_seconds": {
                "type": "integer",
                "minimum": 0,
                "maximum": MAX_CACHE_SECONDS,
                "default": 0,
                "description": (
                    "Seconds a response is reused for the same request; 0 "
                    "fetches every time."
                ),
            },
        },
        required=("url",),
    )

    # Definition time -------------------------------------------------------

    def validate_config(self, block: Block, context: ConfigContext) -> list[Problem]:
        """Check the schema, the templates, the extract paths and the combinations."""
        problems = super().validate_config(block, context)
        if problems:
            return problems
        config = block.config
        problems.extend(_check_url(config["url"]))
        problems.extend(_check_headers(config.get("headers", {})))
        if "body" in config:
            if _method(block) != "POST":
                problems.append(
                    config_problem(
                        ("body",),
                        "A GET request has no body; set method to POST or "
                        "remove the body.",
                    )
                )
            for key, source in _body_templates(config["body"], "body"):
                problems.extend(_check_template(key, (key,), source))
        for key in ("extract", "option_value", "option_label"):
            if key in config:
                problems.extend(_check_path(key, config[key]))
        if _mode(block) == OPTIONS_MODE:
            problems.extend(_check_options_mode(block))
        return problems

    def config_expressions(self, block: Block) -> Mapping[str, str]:
        """Return the expressions of every placeholder, keyed by where they are.

        The keys are ``url``, ``headers.<name>`` and ``body.<path>``, with
        ``#2``, ``#3``... for further placeholders in the same string.
        """
        return dict(_all_placeholders(block.config))

    # GraphQL ---------------------------------------------------------------

    def output_type(self, block: Block, types: TypeLibrary) -> GraphQLOutputType:
        """Return ``String``, ``Decimal``, ``Boolean`` or ``JSON`` by value_type."""
        value_type = _value_type(block)
        if value_type == NUMBER:
            return types.decimal
        if value_type == BOOLEAN:
            return GraphQLBoolean
        if value_type == JSON:
            return types.json
        return GraphQLString

    def input_type(self, block: Block, types: TypeLibrary) -> GraphQLInputType | None:
        """Return the value's type for ``on_request``; None for ``on_submit``."""
        if self.fetches_on_submit(block):
            return None
        value_type = _value_type(block)
        if value_type == NUMBER:
            return types.decimal
        if value_type == BOOLEAN:
            return GraphQLBoolean
        if value_type == JSON:
            return types.json
        return GraphQLString

    def block_operand(self, block: Block) -> Operand | None:
        """Return how values compare, by value_type; None for json."""
        return _OPERANDS[_value_type(block)]

    def filter_type(self, block: Block, types: TypeLibrary) -> GraphQLInputType | None:
        """Return the scalar filter of the value_type; a presence filter for json."""
        operand = self.block_operand(block)
        if operand is None:
            return types.presence_filter()
        return types.scalar_filter(operand)

    def compile_filter(
        self, block: Block, path: FieldPath, conditions: Mapping[str, Any]
    ) -> FilterNode:
        """Compile the filter that :meth:`filter_type` returns."""
        operand = self.block_operand(block)
        if operand is None:
            return compile_presence_filter(path, conditions)
        return compile_scalar_filter(path, operand, conditions)

    # Values ----------------------------------------------------------------

    def fetches_on_submit(self, block: Block) -> bool:
        """Return whether the server fetches the value and ignores a submitted one."""
        return bool(block.config.get("fetch", ON_SUBMIT) == ON_SUBMIT)

    async def normalize(self, block: Block, value: Any, context: ValueContext) -> Any:
        """Check the type of a submitted value and return its stored form.

        An ``on_submit`` block ignores the submitted value and returns None.
        Whether an ``on_request`` value is one of the options is checked by
        :meth:`fetch_value`, which has the record's other values.
        """
        if self.fetches_on_submit(block):
            return None
        return _coerce(block, value, "the submitted value", from_api=False)

    async def fetch_value(
        self,
        block: Block,
        submitted: Any,
        env: Mapping[str, object],
        context: ValueContext,
    ) -> Any:
        """Return the stored value once the record's other values are known.

        ``submitted`` is the normalized submitted value, or None. ``env``
        maps block ids to the values expressions see. An ``on_submit`` block
        fetches and returns the extracted value. An ``on_request`` block in
        options mode fetches the options and checks ``submitted`` against
        them. Any other ``on_request`` value is returned as it is, because
        a fetched value cannot be checked against a later fetch.

        Raises:
            ValueProblem: the request failed or was blocked (the message names
                the host and the reason), the response does not have the
                expected shape, or ``submitted`` is not an option.
        """
        # TODO: blocks.submission does not call this method yet, so until it
        # does, on_submit blocks store nothing and on_request options are not
        # checked against a fresh fetch.
        if self.fetches_on_submit(block):
            document = await _fetch_document(block, env, context.http, context.secrets)
            return _extract_value(block, document)
        if submitted is None or _mode(block) != OPTIONS_MODE:
            return submitted
        options = await _fetch_options(block, env, context.http, context.secrets)
        return _check_option(submitted, options)

    def is_empty(self, stored: Any) -> bool:
        """Return whether nothing is stored; false, zero and [] are values."""
        return stored is None or stored == ""

    def to_expression(self, block: Block, stored: Any) -> Any:
        """Return the stored value, with a decimal string as an exact Decimal."""
        if _value_type(block) == NUMBER and isinstance(stored, str):
            return Decimal(stored)
        return stored

    def index_value(self, block: Block, stored: Any) -> Any:
        """Return the value for the search index; json values as sorted JSON text."""
        if _value_type(block) == JSON:
            return None if stored is None else json.dumps(stored, sort_keys=True)
        return self.to_expression(block, stored)


async def fetch_external_options(
    block: Block,
    record_data: Mapping[str, object],
    http: HttpClient | None,
    *,
    secrets: Mapping[str, str] | None = None,
) -> list[Option]:
    """Fetch the options of an ``external_api`` block in options mode.

    ``record_data`` maps block ids to the values expressions see, as
    :func:`blocks.submission.expression_env` builds them from stored data.
    ``secrets`` are the named secrets of the server configuration.

    Raises:
        ValueProblem: the block is not in options mode, the request failed or
            was blocked, or the response does not contain a list of options.
    """
    if _mode(block) != OPTIONS_MODE:
        raise ValueProblem(
            ErrorCode.UNSUPPORTED,
            f"The external_api block {block.id!r} is in value mode and has no options.",
        )
    return await _fetch_options(block, record_data, http, secrets or {})


# Config accessors -----------------------------------------------------------


def _method(block: Block) -> str:
    return str(block.config.get("method", "GET"))


def _mode(block: Block) -> str:
    return str(block.config.get("mode", VALUE_MODE))


def _value_type(block: Block) -> str:
    return str(block.config.get("value_type", TEXT))


# Templates ------------------------------------------------------------------


def _placeholders(source: str) -> list[str]:
    return [match.group(1).strip() for match in _PLACEHOLDER.finditer(source)]


def _keyed(key: str, sources: Sequence[str]) -> list[tuple[str, str]]:
    return [
        (key if index == 0 else f"{key}#{index + 1}", source)
        for index, source in enumerate(sources)
    ]


def _body_templates(body: Any, path: str) -> list[tuple[str, str]]:
    """Return ``(path, string)`` for every string in a JSON body template."""
    if isinstance(body, str):
        return [(path, body)]
    if isinstance(body, Mapping):
        found = []
        for key, value in body.items():
            found.extend(_body_templates(value, f"{path}.{key}"))
        return found
    if isinstance(body, list):
        found = []
        for index, value in enumerate(body):
            found.extend(_body_templates(value, f"{path}[{index}]"))
        return found
    return []


def _all_placeholders(config: Mapping[str, Any]) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    url = config.get("url")
    if isinstance(url, str):
        found.extend(_keyed("url", _placeholders(url)))
    headers = config.get("headers")
    if isinstance(headers, Mapping):
        for name, value in headers.items():
            if isinstance(value, str):
                found.extend(_keyed(f"headers.{name}", _placeholders(value)))
    for key, source in _body_templates(config.get("body"), "body"):
        found.extend(_keyed(key, _placeholders(source)))
    return found


def _check_template(key: str, path: tuple[str, ...], source: str) -> list[Problem]:
    remainder = _PLACEHOLDER.sub("", source)
    if "{{" in remainder or "}}" in remainder:
        return [
            Problem(
                path,
                ErrorCode.INVALID_EXPRESSION,
                f"The template in {key} has an unmatched {{{{ or }}}}; write "
                "every placeholder as {{ expression }}.",
            )
        ]
    problems = []
    for placeholder_key, expression in _keyed(key, _placeholders(source)):
        if not expression:
            problems.append(
                Problem(
                    path,
                    ErrorCode.INVALID_EXPRESSION,
                    f"The template in {key} has an empty placeholder {{{{ }}}}.",
                )
            )
            continue
        for problem in check_expression(placeholder_key, expression):
            problems.append(Problem(path, problem.code, problem.message))
    return problems


def _check_url(url: str) -> list[Problem]:
    problems = _check_template("url", ("url",), url)
    start = url.find("{{")
    fixed = url if start < 0 else url[:start]
    parts = urlsplit(fixed)
    authority = fixed.split("://", 1)[1] if "://" in fixed else None
    placeholder_in_host = authority is not None and not any(
        mark in authority for mark in "/?#"
    )
    if start >= 0 and placeholder_in_host:
        # The host and port must be fixed, so record values cannot choose
        # where the request goes.
        message = (
            "The host and port of the url must be written out, without "
            "placeholders; put placeholders in the path or the query."
        )
    elif parts.scheme not in ("http", "https") or not parts.hostname:
        message = (
            f"The url {shorten(url)!r} must start with http:// or https:// and a "
            "host name, such as https://api.example.com/items."
        )
    elif "@" in parts.netloc:
        message = "The url must not contain user information (user@host)."
    else:
        return problems
    return [*problems, config_problem(("url",), message)]


def _check_options_mode(block: Block) -> list[Problem]:
    problems = []
    if block.config.get("fetch", ON_SUBMIT) == ON_SUBMIT:
        problems.append(
            config_problem(
                ("fetch",),
                "Options mode needs fetch on_request, because the client "
                "chooses one of the options; set fetch to on_request or use "
                "value mode.",
            )
        )
    if _value_type(block) == JSON:
        problems.append(
            config_problem(
                ("value_type",),
                "Options mode needs option values of type text, number or "
                "boolean, because a submitted value is compared with them.",
            )
        )
    return problems


def _check_headers(headers: Mapping[str, Any]) -> list[Problem]:
    problems = []
    for name, value in headers.items():
        if not _HEADER_NAME.fullmatch(name):
            problems.append(
                config_problem(
                    ("headers", name),
                    f"The header name {shorten(name)!r} is not a valid HTTP "
                    "header name.",
                )
            )
        elif name.lower() in _RESERVED_HEADERS:
            problems.append(
                config_problem(
                    ("headers", name),
                    f"The header {name} is set by the HTTP client; remove it.",
                )
            )
        if isinstance(value, str):
            key = f"headers.{name}"
            problems.extend(_check_template(key, ("headers", name), value))
    return problems


def _evaluate(key: str, source: str, env: Mapping[str, object]) -> object:
    try:
        return parse_cached(source).evaluate(env)
    except ExpressionError as error:
        raise ValueProblem(
            ErrorCode.INVALID,
            f"Evaluating {source} in {key} of the external API request failed: "
            f"{error.message}",
        ) from None


def _render_text(key: str, source: str, env: Mapping[str, object], encode: bool) -> str:
    parts: list[str] = []
    position = 0
    for index, match in enumerate(_PLACEHOLDER.finditer(source)):
        parts.append(source[position : match.start()])
        placeholder_key = key if index == 0 else f"{key}#{index + 1}"
        value = _evaluate(placeholder_key, match.group(1).strip(), env)
        text = _as_text(value)
        parts.append(quote(text, safe="") if encode else text)
        position = match.end()
    parts.append(source[position:])
    return "".join(parts)


def _render_body(body: Any, path: str, env: Mapping[str, object]) -> Any:
    if isinstance(body, Mapping):
        return {k: _render_body(v, f"{path}.{k}", env) for k, v in body.items()}
    if isinstance(body, list):
        return [_render_body(v, f"{path}[{i}]", env) for i, v in enumerate(body)]
    if not isinstance(body, str):
        return body
    whole = _PLACEHOLDER.fullmatch(body.strip())
    if whole is not None and "{{" not in whole.group(1):
        return _as_json(_evaluate(path, whole.group(1).strip(), env))
    return _render_text(path, body, env, encode=False)


def _as_text(value: object) -> str:
    """Return an expression value as it is written into a URL or a header."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, Decimal):
        return format_decimal(value)
    if isinstance(value, date | time_of_day):
        return value.isoformat()
    return json.dumps(_as_json(value), ensure_ascii=False, separators=(",", ":"))


def _as_json(value: object) -> Any:
    """Return an expression value as JSON data for a request body.

    A Decimal becomes an integer or a float when that is exact, otherwise a
    decimal string, so no digit is lost.
    """
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, Decimal):
        if value == value.to_integral_value():
            return int(value)
        as_float = float(value)
        return as_float if Decimal(repr(as_float)) == value else format_decimal(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, datetime | date | time_of_day):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): _as_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_as_json(item) for item in value]
    return str(value)


# Requests -------------------------------------------------------------------


@dataclass(frozen=True)
class _Request:
    method: str
    url: str
    headers: dict[str, str]
    content: bytes | None

    def cache_key(self) -> str:
        # A hash, so that the cache contains no header values such as API keys.
        digest = hashlib.sha256()
        for part in (self.method, self.url, json.dumps(sorted(self.headers.items()))):
            digest.update(part.encode("utf-8"))
            digest.update(b"\x00")
        digest.update(self.content or b"")
        return digest.hexdigest()


def _build_request(
    block: Block, env: Mapping[str, object], secrets: Mapping[str, str]
) -> _Request:
    config = block.config
    url = _render_text("url", config["url"], env, encode=True)
    headers = {"Accept": "application/json"}
    for name, value in config.get("headers", {}).items():
        if isinstance(value, str):
            text = _render_text(f"headers.{name}", value, env, encode=False)
        else:
            text = value.get("prefix", "") + _secret(secrets, value["secret"], name)
        if "\r" in text or "\n" in text:
            raise ValueProblem(
                ErrorCode.INVALID,
                f"The header {name} of the external API request contains a line "
                "break, which HTTP does not allow.",
            )
        headers[name] = text
    content = None
    if _method(block) == "POST" and "body" in config:
        body = _render_body(config["body"], "body", env)
        content = json.dumps(body, ensure_ascii=False).encode("utf-8")
        headers.setdefault("Content-Type", "application/json")
    return _Request(_method(block), url, headers, content)


def _secret(secrets: Mapping[str, str], name: str, header: str) -> str:
    value = secrets.get(name)
    if value is None:
        logger.warning("External API header %s names a missing secret %s", header, name)
        raise ValueProblem(
            FETCH_FAILED,
            f"The header {header} uses the secret {name!r}, which the server "
            "configuration does not define; ask an operator to set it.",
        )
    return value


class _ResponseCache:
    """Parsed JSON responses by request, for ``cache_seconds``, least recent out.

    One cache serves the whole process. The total size of the cached
    response bodies is bounded by ``max_bytes``.
    """

    def __init__(self, max_entries: int = 1000, max_bytes: int = 32 * 1024 * 1024):
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.entries: OrderedDict[str, tuple[float, Any, int]] = OrderedDict()
        self.size = 0

    def get(self, key: str) -> Any | None:
        entry = self.entries.get(key)
        if entry is None:
            return None
        expires, document, _size = entry
        if expires <= time.monotonic():
            self._remove(key)
            return None
        self.entries.move_to_end(key)
        return document

    def put(self, key: str, document: Any, size: int, seconds: float) -> None:
        if size > self.max_bytes:
            return
        if key in self.entries:
            self._remove(key)
        self.entries[key] = (time.monotonic() + seconds, document, size)
        self.size += size
        while len(self.entries) > self.max_entries or self.size > self.max_bytes:
            self._remove(next(iter(self.entries)))

    def clear(self) -> None:
        self.entries.clear()
        self.size = 0

    def _remove(self, key: str) -> None:
        _expires, _document, size = self.entries.pop(key)
        self.size -= size


_CACHE = _ResponseCache()


async def _fetch_document(
    block: Block,
    env: Mapping[str, object],
    http: HttpClient | None,
    secrets: Mapping[str, str],
) -> Any:
    """Send the block's request and return the parsed JSON response."""
    if http is None:
        raise ValueProblem(
            ErrorCode.UNSUPPORTED,
            "This server sends no outgoing requests for external API blocks; "
            "an operator must configure its HTTP client.",
        )
    request = _build_request(block, env, secrets)
    cache_seconds = block.config.get("cache_seconds", 0)
    key = request.cache_key()
    if cache_seconds > 0:
        cached = _CACHE.get(key)
        if cached is not None:
            return cached

    host = urlsplit(request.url).hostname or request.url
    try:
        response = await http.request(
            request.method,
            request.url,
            headers=request.headers,
            content=request.content,
            timeout=block.config.get("timeout", DEFAULT_TIMEOUT),
        )
    except AppgraphError as error:
        host = str(getattr(error, "host", host))
        logger.warning("External API request of block %s failed: %s", block.id, error)
        raise ValueProblem(
            FETCH_FAILED, f"Fetching from the external API at {host} failed: {error}"
        ) from None

    if response.status_code >= 400:
        logger.warning(
            "External API %s responded to block %s with status %d",
            host,
            block.id,
            response.status_code,
        )
        raise ValueProblem(
            FETCH_FAILED,
            f"The external API at {host} responded with status "
            f"{response.status_code}; check the request or try again later.",
        )
    try:
        document = json.loads(response.content, parse_float=Decimal)
    except ValueError:
        raise ValueProblem(
            FETCH_FAILED,
            f"The external API at {host} did not return JSON; the response must "
            "be a JSON document.",
        ) from None
    if cache_seconds > 0:
        _CACHE.put(key, document, len(response.content), cache_seconds)
    return document


# Extracting -----------------------------------------------------------------


def parse_extract_path(path: str) -> list[str | int]:
    """Parse an extract path into keys (str) and list indexes (int).

    The grammar, in EBNF::

        path  = [ step , { "." , key | index } ] ;
        step  = key | index ;
        key   = character - ( "." | "[" | "]" ) , { character - ( "." | "[" | "]" ) } ;
        index = "[" , [ "-" ] , digit , { digit } , "]" ;

    An empty path is the whole document. ``data.items[0].price`` reads key
    ``data``, then ``items``, its first element, then ``price``. A negative
    index counts from the end, so ``[-1]`` is the last element. Keys are
    taken literally, whitespace included. Nothing is evaluated.

    Raises:
        ValueError: the path does not match the grammar; the message gives
            the position.
    """
    steps: list[str | int] = []
    position = 0
    while position < len(path):
        if steps and path[position] == ".":
            position += 1
        elif steps and path[position] != "[":
            raise ValueError(
                f"expected '.' or '[' at character {position + 1} of {path!r}"
            )
        match = _EXTRACT_STEP.match(path, position)
        if match is None:
            raise ValueError(
                f"expected a key or [index] at character {position + 1} of {path!r}"
            )
        index, key = match.groups()
        steps.append(int(index) if index is not None else key)
        position = match.end()
    return steps


def _check_path(key: str, path: str) -> list[Problem]:
    try:
        parse_extract_path(path)
    except ValueError as error:
        return [
            config_problem(
                (key,),
                f"Invalid path in {key}: {error}. Write keys separated by dots "
                "and list indexes in brackets, such as data.items[0].price.",
            )
        ]
    return []


def _follow(document: Any, path: str, host: str) -> Any:
    current = document
    for step in parse_extract_path(path):
        if isinstance(step, int):
            if not isinstance(current, list):
                raise _shape_problem(host, path, f"expected a list at {step}")
            if not -len(current) <= step < len(current):
                raise _shape_problem(
                    host,
                    path,
                    f"index {step} is out of range for a list of {len(current)}",
                )
            current = current[step]
        else:
            if not isinstance(current, Mapping) or step not in current:
                raise _shape_problem(host, path, f"key {step!r} is missing")
            current = current[step]
    return current


def _shape_problem(host: str, path: str, reason: str) -> ValueProblem:
    return ValueProblem(
        FETCH_FAILED,
        f"The response of the external API at {host} has no value at "
        f"{path or 'the top level'}: {reason}.",
    )


def _host(block: Block) -> str:
    start = block.config["url"].find("{{")
    fixed = block.config["url"] if start < 0 else block.config["url"][:start]
    return urlsplit(fixed).hostname or "the configured host"


def _extract_value(block: Block, document: Any) -> Any:
    found = _follow(document, block.config.get("extract", ""), _host(block))
    if found is None:
        return None
    return _coerce(block, found, f"the external API at {_host(block)}", from_api=True)


def _coerce(block: Block, value: Any, source: str, *, from_api: bool) -> Any:
    """Return the stored form of ``value``, which came from ``source``.

    With ``from_api``, a JSON number is accepted as text and written in fixed
    notation. A submitted text value must be a string.
    """
    value_type = _value_type(block)
    if value_type == JSON:
        return _plain_json(value)
    if value_type == BOOLEAN:
        if not isinstance(value, bool):
            raise ValueProblem(
                ErrorCode.INVALID_TYPE,
                f"Expected true or false from {source}, got {describe(value)}.",
            )
        return value
    if value_type == NUMBER:
        try:
            return format_decimal(to_decimal(value))
        except ValueProblem as problem:
            raise ValueProblem(
                problem.code, f"Invalid number from {source}: {problem.message}"
            ) from None
    numeric = isinstance(value, int | Decimal | float) and not isinstance(value, bool)
    if not isinstance(value, str) and not (numeric and from_api):
        raise ValueProblem(
            ErrorCode.INVALID_TYPE,
            f"Expected text from {source}, got {describe(value)}.",
        )
    text = value if isinstance(value, str) else format_decimal(to_decimal(value))
    if len(text) > MAX_TEXT_LENGTH or "\x00" in text:
        raise ValueProblem(
            ErrorCode.INVALID,
            f"Expected text of at most {MAX_TEXT_LENGTH} characters without NUL "
            f"characters from {source}, got {len(text)} characters.",
        )
    return text


def _plain_json(value: Any) -> Any:
    """Return ``value`` as storable JSON data, with Decimals as exact numbers."""
    if isinstance(value, Decimal):
        return _as_json(value)
    if isinstance(value, Mapping):
        return {str(k): _plain_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain_json(item) for item in value]
    return value


async def _fetch_options(
    block: Block,
    env: Mapping[str, object],
    http: HttpClient | None,
    secrets: Mapping[str, str],
) -> list[Option]:
    document = await _fetch_document(block, env, http, secrets)
    host = _host(block)
    items = _follow(document, block.config.get("extract", ""), host)
    if not isinstance(items, list):
        raise _shape_problem(
            host,
            block.config.get("extract", ""),
            f"expected a list of options, got {describe(items)}",
        )
    if len(items) > MAX_OPTIONS:
        raise ValueProblem(
            FETCH_FAILED,
            f"The external API at {host} returned {len(items)} options; at most "
            f"{MAX_OPTIONS} are supported, so narrow the request.",
        )
    return [_option(block, item, position, host) for position, item in enumerate(items)]


def _option(block: Block, item: Any, position: int, host: str) -> Option:
    source = f"option {position} of the external API at {host}"
    if isinstance(item, Mapping):
        value_path = block.config.get("option_value", "value")
        label_path = block.config.get("option_label", "label")
        raw_value = _follow(item, value_path, host)
        try:
            raw_label: Any = _follow(item, label_path, host)
        except ValueProblem:
            raw_label = raw_value
    else:
        raw_value = raw_label = item
    if raw_value is None:
        raise ValueProblem(FETCH_FAILED, f"The value of {source} is null.")
    value = _coerce(block, raw_value, source, from_api=True)
    label = raw_label if isinstance(raw_label, str) else _as_text(raw_label)
    return Option(value, label)


def _check_option(submitted: Any, options: Sequence[Option]) -> Any:
    # Stored values are strings (text, decimal numbers) or booleans, so
    # Python's true == 1 cannot make a boolean match a number.
    values = [option.value for option in options]
    if submitted in values:
        return submitted
    listed = ", ".join(repr(v) for v in values[:MAX_LISTED_OPTIONS])
    more = len(values) - MAX_LISTED_OPTIONS
    suffix = f" and {more} more" if more > 0 else ""
    hint = f"expected one of {listed}{suffix}" if values else "no option is available"
    raise ValueProblem(
        ErrorCode.UNKNOWN_OPTION,
        f"The option {shorten(str(submitted))!r} is not among the options the "
        f"external API returned for the values given; {hint}.",
    )
