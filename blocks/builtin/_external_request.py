"""Requests of ``external_api`` blocks: templates, request building and sending.

The URL, header values and JSON body of a request are templates whose
``{{ ... }}`` placeholders hold expressions over the record's values.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from datetime import time as time_of_day
from decimal import Decimal
from typing import Any
from urllib.parse import quote, urlsplit

from blocks.base import HttpClient
from blocks.builtin._expressions import check_expression
from blocks.builtin._external_cache import ResponseCache
from blocks.builtin._support import config_problem, format_decimal, shorten
from blocks.definition import Block
from blocks.errors import AppgraphError, ErrorCode, Problem, ValueProblem
from blocks.expressions import ExpressionError, parse_cached

logger = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 5.0
"""Seconds; the guard policy's own timeout still applies when it is shorter."""

# TODO: a dedicated FETCH_FAILED code in blocks.errors.ErrorCode would let
# clients tell an unreachable API from an invalid value; INVALID is used now.
FETCH_FAILED = ErrorCode.INVALID

_PLACEHOLDER = re.compile(r"\{\{(.*?)\}\}", re.DOTALL)
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")

# Headers that the HTTP client sets itself.
_RESERVED_HEADERS = frozenset(
    {"host", "content-length", "transfer-encoding", "connection", "te", "upgrade"}
)


def request_method(block: Block) -> str:
    return str(block.config.get("method", "GET"))


# Templates ------------------------------------------------------------------


def _placeholders(source: str) -> list[str]:
    return [match.group(1).strip() for match in _PLACEHOLDER.finditer(source)]


def _keyed(key: str, sources: Sequence[str]) -> list[tuple[str, str]]:
    return [
        (key if index == 0 else f"{key}#{index + 1}", source)
        for index, source in enumerate(sources)
    ]


def body_templates(body: Any, path: str) -> list[tuple[str, str]]:
    """Return ``(path, string)`` for every string in a JSON body template."""
    if isinstance(body, str):
        return [(path, body)]
    if isinstance(body, Mapping):
        found = []
        for key, value in body.items():
            found.extend(body_templates(value, f"{path}.{key}"))
        return found
    if isinstance(body, list):
        found = []
        for index, value in enumerate(body):
            found.extend(body_templates(value, f"{path}[{index}]"))
        return found
    return []


def all_placeholders(config: Mapping[str, Any]) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    url = config.get("url")
    if isinstance(url, str):
        found.extend(_keyed("url", _placeholders(url)))
    headers = config.get("headers")
    if isinstance(headers, Mapping):
        for name, value in headers.items():
            if isinstance(value, str):
                found.extend(_keyed(f"headers.{name}", _placeholders(value)))
    for key, source in body_templates(config.get("body"), "body"):
        found.extend(_keyed(key, _placeholders(source)))
    return found


def check_template(key: str, path: tuple[str, ...], source: str) -> list[Problem]:
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


def check_url(url: str) -> list[Problem]:
    problems = check_template("url", ("url",), url)
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


def check_headers(headers: Mapping[str, Any]) -> list[Problem]:
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
            problems.extend(check_template(key, ("headers", name), value))
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
        text = as_text(value)
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
        return as_json(_evaluate(path, whole.group(1).strip(), env))
    return _render_text(path, body, env, encode=False)


def as_text(value: object) -> str:
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
    return json.dumps(as_json(value), ensure_ascii=False, separators=(",", ":"))


def as_json(value: object) -> Any:
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
        return {str(k): as_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [as_json(item) for item in value]
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
    if request_method(block) == "POST" and "body" in config:
        body = _render_body(config["body"], "body", env)
        content = json.dumps(body, ensure_ascii=False).encode("utf-8")
        headers.setdefault("Content-Type", "application/json")
    return _Request(request_method(block), url, headers, content)


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


_CACHE = ResponseCache()


async def fetch_document(
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
