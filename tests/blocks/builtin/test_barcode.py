from __future__ import annotations

from typing import Any

import pytest

from blocks.base import ConfigContext, ValueContext
from blocks.builtin.barcode import BarcodeBlockType
from blocks.definition import Block
from blocks.errors import ErrorCode, ValueProblem

BARCODE = BarcodeBlockType()


def barcode_block(**config: Any) -> Block:
    return Block("tag", "barcode", config=config)


async def test_barcode_keeps_code(context: ValueContext) -> None:
    code = "https://example.org/t/42 "
    assert await BARCODE.normalize(barcode_block(), code, context) == code


@pytest.mark.parametrize(
    ("value", "code", "fragment"),
    [
        (5012345678900, ErrorCode.INVALID_TYPE, "scanned code as text"),
        ("", ErrorCode.INVALID, "got empty text"),
        ("x" * 4097, ErrorCode.TOO_LONG, "at most 4096 characters, got 4097"),
        ("ab\x00", ErrorCode.INVALID, "NUL"),
    ],
)
async def test_barcode_rejects(
    context: ValueContext, value: object, code: ErrorCode, fragment: str
) -> None:
    with pytest.raises(ValueProblem) as caught:
        await BARCODE.normalize(barcode_block(), value, context)
    assert caught.value.code is code
    assert fragment in caught.value.message


async def test_barcode_accepts_max_length(context: ValueContext) -> None:
    code = "x" * 4096
    assert await BARCODE.normalize(barcode_block(), code, context) == code


async def test_barcode_pattern(context: ValueContext) -> None:
    block = barcode_block(pattern="[0-9]{13}", formats=["ean13"])
    assert await BARCODE.normalize(block, "5012345678900", context) == "5012345678900"
    with pytest.raises(ValueProblem) as caught:
        await BARCODE.normalize(block, "501234567890", context)
    assert caught.value.code is ErrorCode.PATTERN_MISMATCH
    assert "[0-9]{13}" in caught.value.message


def test_barcode_config_invalid_pattern() -> None:
    problems = BARCODE.validate_config(
        barcode_block(pattern="(unclosed"), ConfigContext()
    )
    assert [p.path for p in problems] == [("pattern",)]
    assert problems[0].code is ErrorCode.INVALID_CONFIG


@pytest.mark.parametrize(
    ("config", "path"),
    [({"formats": ["QR"]}, ("formats", 0)), ({"formats": "qr"}, ("formats",))],
)
def test_barcode_config_schema_errors(
    config: dict[str, Any], path: tuple[Any, ...]
) -> None:
    problems = BARCODE.validate_config(barcode_block(**config), ConfigContext())
    assert [p.path for p in problems] == [path]
