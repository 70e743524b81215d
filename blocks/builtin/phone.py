"""The ``phone`` block type: a phone number normalized to E.164 form."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, ClassVar

from blocks.base import BlockType, IndexKind, ValueContext
from blocks.builtin._support import describe, object_schema
from blocks.definition import Block
from blocks.errors import ErrorCode, ValueProblem
from blocks.filters import Operand

MIN_DIGITS = 7
MAX_DIGITS = 15
"""E.164 numbers have at most 15 digits, country code included."""

_ALLOWED = re.compile(r"\+?[0-9 ()\-]+")
_SEPARATORS = str.maketrans("", "", " ()-")
_EXAMPLE = "such as +255712345678"


class PhoneBlockType(BlockType):
    """A phone number, stored as ``+`` and 7 to 15 digits.

    Spaces, dashes and parentheses are dropped. A number starting with ``00``
    is taken as international (``00`` is the international call prefix in
    most countries). A number starting with one ``0`` is national: the trunk
    ``0`` is replaced by ``default_country_code``. Any other number without
    ``+`` is taken to start with its country code.
    """

    name = "phone"
    label = "Phone number"
    description = "A phone number in international form."
    value_type = "String"
    index_kind = IndexKind.KEYWORD
    operand = Operand.TEXT

    config_schema: ClassVar[Mapping[str, Any]] = object_schema(
        {
            "default_country_code": {
                "type": "string",
                "pattern": "^[1-9][0-9]{0,2}$",
                "description": (
                    "Country calling code, digits only such as 255, put in place "
                    "of the trunk 0 of national numbers."
                ),
            },
        }
    )

    async def normalize(self, block: Block, value: Any, context: ValueContext) -> Any:
        """Check the number and return it as ``+`` followed by digits."""
        if not isinstance(value, str):
            raise ValueProblem(
                ErrorCode.INVALID_TYPE,
                f"Expected a phone number {_EXAMPLE}, got {describe(value)}.",
            )
        text = value.strip()
        if not _ALLOWED.fullmatch(text):
            raise ValueProblem(
                ErrorCode.INVALID,
                f"Expected a phone number of digits with an optional leading +, "
                f"spaces, dashes or parentheses, {_EXAMPLE}, got {describe(value)}.",
            )
        digits = text.lstrip("+").translate(_SEPARATORS)
        if not text.startswith("+"):
            digits = _international_digits(digits, block.config)
        if digits.startswith("0"):
            raise ValueProblem(
                ErrorCode.INVALID,
                f"Expected a country code after the +, {_EXAMPLE}; country codes "
                "do not start with 0.",
            )
        if not MIN_DIGITS <= len(digits) <= MAX_DIGITS:
            raise ValueProblem(
                ErrorCode.INVALID,
                f"Expected {MIN_DIGITS} to {MAX_DIGITS} digits including the "
                f"country code, {_EXAMPLE}, got {len(digits)}.",
            )
        return f"+{digits}"


def _international_digits(digits: str, config: Mapping[str, Any]) -> str:
    if digits.startswith("00"):
        return digits[2:]
    if digits.startswith("0"):
        country_code = config.get("default_country_code")
        if country_code is None:
            raise ValueProblem(
                ErrorCode.INVALID,
                f"Expected the number in international form with its country "
                f"code, {_EXAMPLE}; this block has no default country code.",
            )
        return f"{country_code}{digits[1:]}"
    return digits
