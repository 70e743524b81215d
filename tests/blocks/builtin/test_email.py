from __future__ import annotations

import pytest

from blocks.base import ConfigContext, ValueContext
from blocks.builtin.email import EmailBlockType
from blocks.definition import Block
from blocks.errors import ErrorCode, ValueProblem

EMAIL = EmailBlockType()
BLOCK = Block("contact", "email")


@pytest.mark.parametrize(
    ("value", "stored"),
    [
        ("amina@example.org", "amina@example.org"),
        ("Amina.Juma@Example.ORG", "Amina.Juma@example.org"),
        ("first+tag@mail.example.co.tz", "first+tag@mail.example.co.tz"),
        ("juma@bücher.example", "juma@bücher.example"),
    ],
)
async def test_email_accepts(context: ValueContext, value: str, stored: str) -> None:
    assert await EMAIL.normalize(BLOCK, value, context) == stored


@pytest.mark.parametrize(
    ("value", "code", "fragment"),
    [
        (5, ErrorCode.INVALID_TYPE, "Expected an e-mail address"),
        ("amina example.org", ErrorCode.INVALID, "without spaces"),
        (" amina@example.org", ErrorCode.INVALID, "without spaces"),
        ("amina\t@example.org", ErrorCode.INVALID, "without spaces"),
        ("amina.example.org", ErrorCode.INVALID, "one @"),
        ("@example.org", ErrorCode.INVALID, "one @"),
        ("a@b@example.org", ErrorCode.INVALID, "one @"),
        ("amina@localhost", ErrorCode.INVALID, "a dot after the @"),
        ("amina@example..org", ErrorCode.INVALID, "dot-separated"),
        ("amina@example.org.", ErrorCode.INVALID, "dot-separated"),
        ("amina@-example.org", ErrorCode.INVALID, "hyphen"),
        ("amina@exa_mple.org", ErrorCode.INVALID, "only letters, digits"),
        (".amina@example.org", ErrorCode.INVALID, "start or end with a dot"),
        ("am..ina@example.org", ErrorCode.INVALID, "two dots"),
        ("a" * 65 + "@example.org", ErrorCode.INVALID, "at most 64 characters"),
        ("a@" + "b" * 64 + ".org", ErrorCode.INVALID, "1 to 63 characters"),
        ("a" * 60 + "@" + "b" * 200 + ".org", ErrorCode.TOO_LONG, "at most 254"),
    ],
)
async def test_email_rejects(
    context: ValueContext, value: object, code: ErrorCode, fragment: str
) -> None:
    with pytest.raises(ValueProblem) as caught:
        await EMAIL.normalize(BLOCK, value, context)
    assert caught.value.code is code
    assert fragment in caught.value.message


async def test_email_config_max_length(context: ValueContext) -> None:
    block = Block("contact", "email", config={"max_length": 10})
    with pytest.raises(ValueProblem) as caught:
        await EMAIL.normalize(block, "amina@example.org", context)
    assert caught.value.code is ErrorCode.TOO_LONG
    assert "at most 10 characters" in caught.value.message


def test_email_config_max_length_above_limit() -> None:
    block = Block("contact", "email", config={"max_length": 300})
    problems = EMAIL.validate_config(block, ConfigContext())
    assert [p.path for p in problems] == [("max_length",)]
    assert problems[0].code is ErrorCode.INVALID_CONFIG


def test_email_config_unknown_key() -> None:
    block = Block("contact", "email", config={"domain": "example.org"})
    problems = EMAIL.validate_config(block, ConfigContext())
    assert [p.code for p in problems] == [ErrorCode.INVALID_CONFIG]
    assert "domain" in problems[0].message


def test_email_index_value_is_stored_text() -> None:
    assert EMAIL.index_value(BLOCK, "amina@example.org") == "amina@example.org"
