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

Templates, request building and sending are in ``_external_request``,
extract paths in ``_external_extract`` and the response cache in
``_external_cache``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, ClassVar
from urllib.parse import urlsplit

from graphql import (
    GraphQLBoolean,
    GraphQLInputType,
    GraphQLOutputType,
    GraphQLString,
)

from blocks.base import BlockType, ConfigContext, HttpClient, IndexKind, ValueContext
from blocks.builtin._external_extract import (
    check_path,
    follow_path,
    parse_extract_path,
    shape_problem,
)
from blocks.builtin._external_request import (
    DEFAULT_TIMEOUT,
    FETCH_FAILED,
    all_placeholders,
    as_json,
    as_text,
    body_templates,
    check_headers,
    check_template,
    check_url,
    fetch_document,
    request_method,
)
from blocks.builtin._support import (
    config_problem,
    describe,
    format_decimal,
    object_schema,
    shorten,
    to_decimal,
)
from blocks.definition import Block
from blocks.errors import ErrorCode, Problem, ValueProblem
from blocks.filters import FieldPath, FilterNode, Operand
from blocks.types import TypeLibrary, compile_presence_filter, compile_scalar_filter

__all__ = [
    "ExternalApiBlockType",
    "Option",
    "fetch_external_options",
    "parse_extract_path",
]

TEXT = "text"
NUMBER = "number"
BOOLEAN = "boolean"
JSON = "json"
VALUE_MODE = "value"
OPTIONS_MODE = "options"
ON_SUBMIT = "on_submit"
ON_REQUEST = "on_request"

MAX_TIMEOUT = 30.0
MAX_CACHE_SECONDS = 86_400
MAX_URL_LENGTH = 2048
MAX_TEXT_LENGTH = 10_000
MAX_OPTIONS = 1000
MAX_LISTED_OPTIONS = 10

_OPERANDS: dict[str, Operand | None] = {
    TEXT: Operand.TEXT,
    NUMBER: Operand.NUMBER,
    BOOLEAN: Operand.BOOLEAN,
    JSON: None,
}

_SECRET_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

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
        problems.extend(check_url(config["url"]))
        problems.extend(check_headers(config.get("headers", {})))
        if "body" in config:
            if request_method(block) != "POST":
                problems.append(
                    config_problem(
                        ("body",),
                        "A GET request has no body; set method to POST or "
                        "remove the body.",
                    )
                )
            for key, source in body_templates(config["body"], "body"):
                problems.extend(check_template(key, (key,), source))
        for key in ("extract", "option_value", "option_label"):
            if key in config:
                problems.extend(check_path(key, config[key]))
        if _mode(block) == OPTIONS_MODE:
            problems.extend(_check_options_mode(block))
        return problems

    def config_expressions(self, block: Block) -> Mapping[str, str]:
        """Return the expressions of every placeholder, keyed by where they are.

        The keys are ``url``, ``headers.<name>`` and ``body.<path>``, with
        ``#2``, ``#3``... for further placeholders in the same string.
        """
        return dict(all_placeholders(block.config))

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
            document = await fetch_document(block, env, context.http, context.secrets)
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


def _mode(block: Block) -> str:
    return str(block.config.get("mode", VALUE_MODE))


def _value_type(block: Block) -> str:
    return str(block.config.get("value_type", TEXT))


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


def _host(block: Block) -> str:
    start = block.config["url"].find("{{")
    fixed = block.config["url"] if start < 0 else block.config["url"][:start]
    return urlsplit(fixed).hostname or "the configured host"


def _extract_value(block: Block, document: Any) -> Any:
    found = follow_path(document, block.config.get("extract", ""), _host(block))
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
        return as_json(value)
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
    document = await fetch_document(block, env, http, secrets)
    host = _host(block)
    items = follow_path(document, block.config.get("extract", ""), host)
    if not isinstance(items, list):
        raise shape_problem(
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
        raw_value = follow_path(item, value_path, host)
        try:
            raw_label: Any = follow_path(item, label_path, host)
        except ValueProblem:
            raw_label = raw_value
    else:
        raw_value = raw_label = item
    if raw_value is None:
        raise ValueProblem(FETCH_FAILED, f"The value of {source} is null.")
    value = _coerce(block, raw_value, source, from_api=True)
    label = raw_label if isinstance(raw_label, str) else as_text(raw_label)
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
