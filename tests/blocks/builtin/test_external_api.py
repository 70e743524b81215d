"""The external_api block type against a real HTTP server on 127.0.0.1.

The receiver echoes a POST body back as ``{"received": true, "attempt": n,
"echo": <body>}``, so a test chooses the response by the body it sends and
reads it back with ``extract: echo...``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from decimal import Decimal
from typing import Any

import pytest
from graphql import GraphQLBoolean, GraphQLString

from blocks.base import ConfigContext, ValueContext
from blocks.builtin._external_request import _CACHE
from blocks.builtin.external_api import (
    ExternalApiBlockType,
    Option,
    fetch_external_options,
    parse_extract_path,
)
from blocks.definition import Block
from blocks.errors import ErrorCode, ValueProblem
from blocks.filters import Operand
from blocks.types import TypeLibrary
from tests.workflows.receivers import HttpReceiver
from workflows.guard import GuardedClient, GuardPolicy

EXTERNAL_API = ExternalApiBlockType()
LOOPBACK = GuardPolicy(allowed_networks=["127.0.0.1/32"])


def make_block(**config: Any) -> Block:
    return Block(id="price", type="external_api", config=config)


def config_problems(**config: Any) -> list[tuple[tuple[str | int, ...], str]]:
    problems = EXTERNAL_API.validate_config(make_block(**config), ConfigContext())
    return [(problem.path, problem.message) for problem in problems]


@pytest.fixture
def receiver() -> Iterator[HttpReceiver]:
    with HttpReceiver() as server:
        yield server


@pytest.fixture(autouse=True)
def empty_cache() -> Iterator[None]:
    _CACHE.clear()
    yield
    _CACHE.clear()


@pytest.fixture
def http_context(context: ValueContext) -> ValueContext:
    return replace(
        context,
        http=GuardedClient(LOOPBACK),
        secrets={"PRICE_TOKEN": "token-123"},
    )


def echo_block(receiver: HttpReceiver, body: Any, **config: Any) -> Block:
    """Return a block whose POST request makes the receiver echo ``body``."""
    return make_block(url=receiver.url("/prices"), method="POST", body=body, **config)


async def fetch(block: Block, context: ValueContext, **env: object) -> Any:
    return await EXTERNAL_API.fetch_value(block, None, env, context)


async def problem_of(block: Block, context: ValueContext, **env: object) -> Any:
    with pytest.raises(ValueProblem) as caught:
        await fetch(block, context, **env)
    return caught.value


# Config ---------------------------------------------------------------------


def test_config_minimal_is_valid() -> None:
    assert config_problems(url="https://api.example.com/rates") == []


def test_config_full_is_valid() -> None:
    problems = config_problems(
        url="https://api.example.com/items/{{ code }}?qty={{ quantity * 2 }}",
        method="POST",
        headers={
            "X-Region": "{{ region }}",
            "Authorization": {"secret": "PRICE_TOKEN", "prefix": "Bearer "},
        },
        body={"code": "{{ code }}", "tags": ["a", "{{ region }}"]},
        mode="options",
        extract="data.items",
        option_value="id",
        option_label="name.en",
        value_type="number",
        fetch="on_request",
        timeout=3,
        cache_seconds=60,
    )
    assert problems == []


def test_config_requires_url() -> None:
    [(path, message)] = config_problems()
    assert path == ()
    assert "'url' is a required property" in message


def test_config_rejects_inline_secret_key() -> None:
    problems = config_problems(
        url="https://api.example.com/", headers={"X-Key": {"value": "abc"}}
    )
    assert problems
    assert problems[0][0] == ("headers", "X-Key")


def test_config_rejects_url_without_host() -> None:
    [(path, message)] = config_problems(url="/relative/{{ code }}")
    assert path == ("url",)
    assert "must start with http:// or https://" in message


def test_config_rejects_placeholder_in_host() -> None:
    for url in (
        "https://{{ host }}/items",
        "https://api.example.com{{ suffix }}/items",
        "https://api.example.com:{{ port }}/items",
    ):
        [(path, message)] = config_problems(url=url)
        assert path == ("url",)
        assert "host and port of the url must be written out" in message


def test_config_rejects_user_information() -> None:
    [(_path, message)] = config_problems(url="https://user@api.example.com/")
    assert "must not contain user information" in message


def test_config_rejects_invalid_placeholder() -> None:
    [(path, message)] = config_problems(url="https://api.example.com/{{ code + }}")
    assert path == ("url",)
    assert "Invalid expression in url" in message


def test_config_rejects_unmatched_braces() -> None:
    [(path, message)] = config_problems(url="https://api.example.com/{{ code")
    assert path == ("url",)
    assert "unmatched {{ or }}" in message


def test_config_rejects_empty_placeholder() -> None:
    [(_path, message)] = config_problems(url="https://api.example.com/{{ }}")
    assert "empty placeholder" in message


def test_config_rejects_body_on_get() -> None:
    [(path, message)] = config_problems(url="https://api.example.com/", body={})
    assert path == ("body",)
    assert "A GET request has no body" in message


def test_config_rejects_reserved_and_invalid_headers() -> None:
    problems = config_problems(
        url="https://api.example.com/", headers={"Host": "evil", "Bad Name": "x"}
    )
    messages = dict(problems)
    assert "set by the HTTP client" in messages[("headers", "Host")]
    assert "not a valid HTTP header name" in messages[("headers", "Bad Name")]


def test_config_rejects_invalid_extract_path() -> None:
    [(path, message)] = config_problems(
        url="https://api.example.com/", extract="data..price"
    )
    assert path == ("extract",)
    assert "Invalid path in extract" in message
    assert "such as data.items[0].price" in message


def test_config_options_need_on_request() -> None:
    [(path, message)] = config_problems(url="https://api.example.com/", mode="options")
    assert path == ("fetch",)
    assert "Options mode needs fetch on_request" in message


def test_config_options_reject_json_values() -> None:
    [(path, message)] = config_problems(
        url="https://api.example.com/",
        mode="options",
        fetch="on_request",
        value_type="json",
    )
    assert path == ("value_type",)
    assert "text, number or boolean" in message


def test_config_expressions_name_every_placeholder() -> None:
    block = make_block(
        url="https://api.example.com/{{ a }}/{{ b }}",
        method="POST",
        headers={"X-Region": "{{ region }}", "X-Key": {"secret": "KEY"}},
        body={"items": [{"code": "{{ code }}"}]},
    )
    assert EXTERNAL_API.config_expressions(block) == {
        "url": "a",
        "url#2": "b",
        "headers.X-Region": "region",
        "body.items[0].code": "code",
    }


# Extract paths --------------------------------------------------------------


def test_extract_path_grammar() -> None:
    assert parse_extract_path("") == []
    assert parse_extract_path("data.items[0].price") == ["data", "items", 0, "price"]
    assert parse_extract_path("[0].id") == [0, "id"]
    assert parse_extract_path("items[-1]") == ["items", -1]
    assert parse_extract_path("a[1][2]") == ["a", 1, 2]
    assert parse_extract_path("unit price") == ["unit price"]


def test_extract_path_errors() -> None:
    for path, expected in (
        ("a..b", "expected a key or [index] at character 3"),
        (".a", "expected a key or [index] at character 1"),
        ("a[x]", "expected a key or [index] at character 2"),
        ("a[1]b", "expected '.' or '[' at character 5"),
        ("a.", "expected a key or [index] at character 3"),
    ):
        with pytest.raises(ValueError, match=r"expected") as caught:
            parse_extract_path(path)
        assert expected in str(caught.value), path


# GraphQL types --------------------------------------------------------------


def test_types_follow_value_type() -> None:
    types = TypeLibrary()
    url = "https://api.example.com/"
    text = make_block(url=url, fetch="on_request")
    number = make_block(url=url, value_type="number")
    boolean = make_block(url=url, value_type="boolean", fetch="on_request")
    data = make_block(url=url, value_type="json")
    assert EXTERNAL_API.output_type(text, types) is GraphQLString
    assert EXTERNAL_API.output_type(number, types) is types.decimal
    assert EXTERNAL_API.output_type(boolean, types) is GraphQLBoolean
    assert EXTERNAL_API.output_type(data, types) is types.json
    assert EXTERNAL_API.input_type(text, types) is GraphQLString
    assert EXTERNAL_API.input_type(boolean, types) is GraphQLBoolean
    assert EXTERNAL_API.input_type(number, types) is None
    assert EXTERNAL_API.block_operand(number) is Operand.NUMBER
    assert EXTERNAL_API.block_operand(data) is None
    assert EXTERNAL_API.filter_type(number, types) is types.scalar_filter(
        Operand.NUMBER
    )
    assert EXTERNAL_API.filter_type(data, types) is types.presence_filter()


def test_number_reaches_expressions_as_decimal() -> None:
    block = make_block(url="https://api.example.com/", value_type="number")
    assert EXTERNAL_API.to_expression(block, "12.5") == Decimal("12.5")
    assert EXTERNAL_API.index_value(block, "12.5") == Decimal("12.5")


def test_json_is_indexed_as_sorted_text() -> None:
    block = make_block(url="https://api.example.com/", value_type="json")
    assert EXTERNAL_API.index_value(block, {"b": 1, "a": [2]}) == '{"a": [2], "b": 1}'


# Normalizing submitted values -----------------------------------------------


async def test_on_submit_ignores_submitted_value(context: ValueContext) -> None:
    block = make_block(url="https://api.example.com/")
    assert await EXTERNAL_API.normalize(block, "client value", context) is None


async def test_on_request_checks_submitted_type(context: ValueContext) -> None:
    url = "https://api.example.com/"
    number = make_block(url=url, value_type="number", fetch="on_request")
    text = make_block(url=url, fetch="on_request")
    assert await EXTERNAL_API.normalize(number, 12.50, context) == "12.5"
    assert await EXTERNAL_API.normalize(text, "A-1", context) == "A-1"
    with pytest.raises(ValueProblem) as caught:
        await EXTERNAL_API.normalize(text, 5, context)
    assert caught.value.code is ErrorCode.INVALID_TYPE
    assert caught.value.message == (
        "Expected text from the submitted value, got the number 5."
    )
    with pytest.raises(ValueProblem) as caught:
        await EXTERNAL_API.normalize(number, "twelve", context)
    assert caught.value.code is ErrorCode.INVALID
    assert caught.value.message.startswith("Invalid number from the submitted value")


# Fetching values ------------------------------------------------------------


async def test_fetch_extracts_number(
    receiver: HttpReceiver, http_context: ValueContext
) -> None:
    block = echo_block(
        receiver,
        {"data": {"items": [{"price": "{{ base * 2 }}"}]}},
        extract="echo.data.items[0].price",
        value_type="number",
    )
    value = await fetch(block, http_context, base=Decimal("6.05"))
    assert value == "12.1"
    sent = receiver.requests[0]
    assert sent.method == "POST"
    assert sent.json() == {"data": {"items": [{"price": 12.1}]}}
    assert sent.headers["content-type"] == "application/json"
    assert sent.headers["accept"] == "application/json"


async def test_fetch_extracts_text_boolean_and_json(
    receiver: HttpReceiver, http_context: ValueContext
) -> None:
    body = {"name": "Maize", "ok": True, "tags": ["a", {"b": 1.5}]}
    text = echo_block(receiver, body, extract="echo.name")
    boolean = echo_block(receiver, body, extract="echo.ok", value_type="boolean")
    data = echo_block(receiver, body, extract="echo.tags", value_type="json")
    assert await fetch(text, http_context) == "Maize"
    assert await fetch(boolean, http_context) is True
    assert await fetch(data, http_context) == ["a", {"b": 1.5}]


async def test_fetch_null_stores_nothing(
    receiver: HttpReceiver, http_context: ValueContext
) -> None:
    block = echo_block(receiver, {"price": None}, extract="echo.price")
    assert await fetch(block, http_context) is None


async def test_fetch_renders_url_percent_encoded(
    receiver: HttpReceiver, http_context: ValueContext
) -> None:
    block = make_block(
        url=receiver.url("/items/{{ code }}?qty={{ quantity }}&on={{ day }}"),
        extract="received",
        value_type="boolean",
    )
    await fetch(block, http_context, code="a/b c?", quantity=Decimal("2.50"), day=None)
    assert receiver.requests[0].path == "/items/a%2Fb%20c%3F?qty=2.5&on="


async def test_fetch_sends_headers_and_secret(
    receiver: HttpReceiver, http_context: ValueContext
) -> None:
    block = echo_block(
        receiver,
        {},
        headers={
            "X-Region": "{{ region }}-east",
            "Authorization": {"secret": "PRICE_TOKEN", "prefix": "Bearer "},
        },
        extract="received",
        value_type="boolean",
    )
    await fetch(block, http_context, region="tz")
    headers = receiver.requests[0].headers
    assert headers["x-region"] == "tz-east"
    assert headers["authorization"] == "Bearer token-123"


async def test_fetch_missing_secret_is_reported(
    receiver: HttpReceiver, http_context: ValueContext
) -> None:
    block = make_block(
        url=receiver.url("/prices"), headers={"X-Key": {"secret": "MISSING"}}
    )
    problem = await problem_of(block, http_context)
    assert problem.code is ErrorCode.INVALID
    assert problem.message == (
        "The header X-Key uses the secret 'MISSING', which the server "
        "configuration does not define; ask an operator to set it."
    )
    assert receiver.requests == []


async def test_fetch_header_line_break_is_rejected(
    receiver: HttpReceiver, http_context: ValueContext
) -> None:
    block = make_block(url=receiver.url("/prices"), headers={"X-Code": "{{ code }}"})
    problem = await problem_of(block, http_context, code="a\r\nX-Other: 1")
    assert problem.code is ErrorCode.INVALID
    assert "contains a line break" in problem.message
    assert receiver.requests == []


async def test_fetch_metadata_address_blocked(context: ValueContext) -> None:
    blocked = replace(context, http=GuardedClient())
    block = make_block(url="http://169.254.169.254/latest/meta-data/{{ key }}")
    problem = await problem_of(block, blocked, key="iam")
    assert problem.code is ErrorCode.INVALID
    assert problem.message.startswith(
        "Fetching from the external API at 169.254.169.254 failed: Request to "
        "169.254.169.254 (169.254.169.254) was blocked: cloud metadata"
    )


async def test_fetch_loopback_blocked_by_default(
    receiver: HttpReceiver, context: ValueContext
) -> None:
    blocked = replace(context, http=GuardedClient())
    problem = await problem_of(make_block(url=receiver.url("/prices")), blocked)
    assert "at 127.0.0.1 failed" in problem.message
    assert "was blocked: loopback" in problem.message
    assert receiver.requests == []


async def test_fetch_without_http_client(context: ValueContext) -> None:
    problem = await problem_of(make_block(url="https://api.example.com/"), context)
    assert problem.code is ErrorCode.UNSUPPORTED
    assert "an operator must configure its HTTP client" in problem.message


async def test_fetch_error_status_is_reported(
    receiver: HttpReceiver, http_context: ValueContext
) -> None:
    problem = await problem_of(
        make_block(url=receiver.url("/status/503")), http_context
    )
    assert problem.code is ErrorCode.INVALID
    assert problem.message == (
        "The external API at 127.0.0.1 responded with status 503; check the "
        "request or try again later."
    )


async def test_fetch_non_json_is_reported(
    receiver: HttpReceiver, http_context: ValueContext
) -> None:
    problem = await problem_of(make_block(url=receiver.url("/text")), http_context)
    assert problem.message == (
        "The external API at 127.0.0.1 did not return JSON; the response must "
        "be a JSON document."
    )


async def test_fetch_missing_key_is_reported(
    receiver: HttpReceiver, http_context: ValueContext
) -> None:
    block = echo_block(receiver, {"items": []}, extract="echo.items[0].price")
    problem = await problem_of(block, http_context)
    assert problem.message == (
        "The response of the external API at 127.0.0.1 has no value at "
        "echo.items[0].price: index 0 is out of range for a list of 0."
    )
    block = echo_block(receiver, {"items": []}, extract="echo.total")
    problem = await problem_of(block, http_context)
    assert problem.message.endswith(
        "has no value at echo.total: key 'total' is missing."
    )


async def test_fetch_wrong_type_is_reported(
    receiver: HttpReceiver, http_context: ValueContext
) -> None:
    block = echo_block(receiver, {"ok": "yes"}, extract="echo.ok", value_type="boolean")
    problem = await problem_of(block, http_context)
    assert problem.code is ErrorCode.INVALID_TYPE
    assert problem.message == (
        "Expected true or false from the external API at 127.0.0.1, got the text 'yes'."
    )


async def test_fetch_expression_error_is_reported(
    receiver: HttpReceiver, http_context: ValueContext
) -> None:
    block = make_block(url=receiver.url("/items/{{ count + 1 }}"))
    problem = await problem_of(block, http_context, count="three")
    assert problem.code is ErrorCode.INVALID
    assert problem.message.startswith(
        "Evaluating count + 1 in url of the external API request failed:"
    )
    assert receiver.requests == []


async def test_fetch_uses_cache_seconds(
    receiver: HttpReceiver, http_context: ValueContext
) -> None:
    cached = echo_block(receiver, {"n": "{{ n }}"}, extract="attempt", cache_seconds=60)
    uncached = echo_block(receiver, {"n": "{{ n }}"}, extract="attempt")
    assert await fetch(cached, http_context, n=1) == "1"
    assert await fetch(cached, http_context, n=1) == "1"
    assert len(receiver.requests) == 1
    await fetch(cached, http_context, n=2)
    await fetch(uncached, http_context, n=1)
    assert len(receiver.requests) == 3


# Options --------------------------------------------------------------------

OPTIONS_BODY = {
    "results": [
        {"id": "TZ", "name": {"en": "Tanzania"}},
        {"id": "KE", "name": {"en": "Kenya"}},
        {"id": "UG"},
    ]
}


def options_block(receiver: HttpReceiver, **config: Any) -> Block:
    settings: dict[str, Any] = {
        "mode": "options",
        "fetch": "on_request",
        "extract": "echo.results",
        "option_value": "id",
        "option_label": "name.en",
    }
    settings.update(config)
    return echo_block(receiver, OPTIONS_BODY, **settings)


async def test_options_are_fetched(
    receiver: HttpReceiver, http_context: ValueContext
) -> None:
    block = options_block(receiver)
    options = await fetch_external_options(block, {}, http_context.http)
    assert options == [
        Option("TZ", "Tanzania"),
        Option("KE", "Kenya"),
        Option("UG", "UG"),
    ]


async def test_options_from_plain_list(
    receiver: HttpReceiver, http_context: ValueContext
) -> None:
    block = echo_block(
        receiver,
        [1, 2.5],
        mode="options",
        fetch="on_request",
        extract="echo",
        value_type="number",
    )
    options = await fetch_external_options(block, {}, http_context.http)
    assert options == [Option("1", "1"), Option("2.5", "2.5")]


async def test_options_value_mode_is_unsupported(
    receiver: HttpReceiver, http_context: ValueContext
) -> None:
    block = make_block(url=receiver.url("/prices"))
    with pytest.raises(ValueProblem) as caught:
        await fetch_external_options(block, {}, http_context.http)
    assert caught.value.code is ErrorCode.UNSUPPORTED
    assert "is in value mode and has no options" in caught.value.message


async def test_options_need_a_list(
    receiver: HttpReceiver, http_context: ValueContext
) -> None:
    block = options_block(receiver, extract="echo")
    with pytest.raises(ValueProblem) as caught:
        await fetch_external_options(block, {}, http_context.http)
    assert caught.value.message == (
        "The response of the external API at 127.0.0.1 has no value at echo: "
        "expected a list of options, got an object."
    )


async def test_submitted_option_checked_again(
    receiver: HttpReceiver, http_context: ValueContext
) -> None:
    block = options_block(receiver)
    submitted = await EXTERNAL_API.normalize(block, "KE", http_context)
    stored = await EXTERNAL_API.fetch_value(block, submitted, {}, http_context)
    assert stored == "KE"
    assert len(receiver.requests) == 1


async def test_submitted_unknown_option_rejected(
    receiver: HttpReceiver, http_context: ValueContext
) -> None:
    block = options_block(receiver)
    with pytest.raises(ValueProblem) as caught:
        await EXTERNAL_API.fetch_value(block, "FR", {}, http_context)
    assert caught.value.code is ErrorCode.UNKNOWN_OPTION
    assert caught.value.message == (
        "The option 'FR' is not among the options the external API returned "
        "for the values given; expected one of 'TZ', 'KE', 'UG'."
    )


async def test_empty_submission_not_fetched(
    receiver: HttpReceiver, http_context: ValueContext
) -> None:
    block = options_block(receiver)
    assert await EXTERNAL_API.fetch_value(block, None, {}, http_context) is None
    assert receiver.requests == []


async def test_on_request_value_kept_without_fetch(
    receiver: HttpReceiver, http_context: ValueContext
) -> None:
    block = make_block(url=receiver.url("/prices"), fetch="on_request")
    assert await EXTERNAL_API.fetch_value(block, "A-1", {}, http_context) == "A-1"
    assert receiver.requests == []
