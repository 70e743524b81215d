from __future__ import annotations

from typing import Any

import pytest

from blocks.base import ConfigContext, ValueContext
from blocks.builtin.url import UrlBlockType
from blocks.definition import Block
from blocks.errors import ErrorCode, ValueProblem

URL = UrlBlockType()


def url_block(**config: Any) -> Block:
    return Block("site", "url", config=config)


@pytest.mark.parametrize(
    "value",
    [
        "https://example.org",
        "http://example.org:8080/path?q=1#top",
        "HTTPS://Example.org/Page",
        "https://[2001:db8::1]/",
    ],
)
async def test_url_accepts_and_keeps(context: ValueContext, value: str) -> None:
    assert await URL.normalize(url_block(), value, context) == value


@pytest.mark.parametrize(
    ("value", "code", "fragment"),
    [
        (42, ErrorCode.INVALID_TYPE, "Expected a URL"),
        ("https://example.org/a b", ErrorCode.INVALID, "without spaces"),
        ("https://example.org/\n", ErrorCode.INVALID, "control characters"),
        ("ftp://example.org", ErrorCode.INVALID, "one of the schemes https, http"),
        ("example.org/page", ErrorCode.INVALID, "one of the schemes"),
        ("https:///path", ErrorCode.INVALID, "host name"),
        ("https://example.org:99999/", ErrorCode.INVALID, "valid URL"),
        ("https://[::1/", ErrorCode.INVALID, "valid URL"),
        ("https://example.org/" + "a" * 2048, ErrorCode.TOO_LONG, "at most 2048"),
    ],
)
async def test_url_rejects(
    context: ValueContext, value: object, code: ErrorCode, fragment: str
) -> None:
    with pytest.raises(ValueProblem) as caught:
        await URL.normalize(url_block(), value, context)
    assert caught.value.code is code
    assert fragment in caught.value.message


async def test_url_custom_schemes(context: ValueContext) -> None:
    block = url_block(schemes=["ftp"])
    assert await URL.normalize(block, "ftp://files.example.org/a", context)
    with pytest.raises(ValueProblem) as caught:
        await URL.normalize(block, "https://example.org", context)
    assert "such as ftp://example.org/page" in caught.value.message


def test_url_config_scheme_without_host() -> None:
    problems = URL.validate_config(
        url_block(schemes=["https", "mailto"]), ConfigContext()
    )
    assert [p.path for p in problems] == [("schemes", 1)]
    assert problems[0].code is ErrorCode.INVALID_CONFIG


@pytest.mark.parametrize(
    ("schemes", "path"),
    [
        ([], ("schemes",)),
        (["HTTPS"], ("schemes", 0)),
        (["https", "https"], ("schemes",)),
    ],
)
def test_url_config_schema_errors(schemes: list[str], path: tuple[Any, ...]) -> None:
    problems = URL.validate_config(url_block(schemes=schemes), ConfigContext())
    assert [p.path for p in problems] == [path]
