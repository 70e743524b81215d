from __future__ import annotations

from typing import Any

import pytest

from blocks.base import ConfigContext, ValueContext
from blocks.builtin.phone import PhoneBlockType
from blocks.definition import Block
from blocks.errors import ErrorCode, ValueProblem

PHONE = PhoneBlockType()


def phone_block(**config: Any) -> Block:
    return Block("mobile", "phone", config=config)


@pytest.mark.parametrize(
    ("value", "stored"),
    [
        ("+255712345678", "+255712345678"),
        ("+255 712 345 678", "+255712345678"),
        ("+1 (555) 123-4567", "+15551234567"),
        ("0712 345 678", "+255712345678"),
        ("00441234567890", "+441234567890"),
        ("255712345678", "+255712345678"),
        (" +255712345678 ", "+255712345678"),
    ],
)
async def test_phone_normalizes(context: ValueContext, value: str, stored: str) -> None:
    block = phone_block(default_country_code="255")
    assert await PHONE.normalize(block, value, context) == stored


@pytest.mark.parametrize(
    ("value", "code", "fragment"),
    [
        (255712345678, ErrorCode.INVALID_TYPE, "Expected a phone number"),
        ("+255-71x-345", ErrorCode.INVALID, "digits with an optional leading +"),
        ("255+712345678", ErrorCode.INVALID, "digits with an optional leading +"),
        ("+255.712.345", ErrorCode.INVALID, "digits with an optional leading +"),
        ("+12345", ErrorCode.INVALID, "7 to 15 digits"),
        ("+1234567890123456", ErrorCode.INVALID, "got 16"),
        ("+0712345678", ErrorCode.INVALID, "do not start with 0"),
        ("0712345678", ErrorCode.INVALID, "no default country code"),
        ("( )", ErrorCode.INVALID, "7 to 15 digits"),
    ],
)
async def test_phone_rejects(
    context: ValueContext, value: object, code: ErrorCode, fragment: str
) -> None:
    with pytest.raises(ValueProblem) as caught:
        await PHONE.normalize(phone_block(), value, context)
    assert caught.value.code is code
    assert fragment in caught.value.message


@pytest.mark.parametrize("code", ["0255", "1234", "+255", ""])
def test_phone_config_invalid_country_code(code: str) -> None:
    block = phone_block(default_country_code=code)
    problems = PHONE.validate_config(block, ConfigContext())
    assert [p.path for p in problems] == [("default_country_code",)]
    assert problems[0].code is ErrorCode.INVALID_CONFIG


def test_phone_config_valid() -> None:
    block = phone_block(default_country_code="1")
    assert PHONE.validate_config(block, ConfigContext()) == []
