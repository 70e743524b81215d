"""Helpers shared by the built-in block types: value parsing, messages, schemas."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from typing import Any

from blocks.errors import ErrorCode, Path, Problem, ValueProblem

MAX_DIGITS = 1000
"""Maximum digits of a number written without an exponent.

Bounds the cost of arithmetic and storage, and stays below the 4300 digits
that Python 3.11 converts between int and str by default
(``sys.int_max_str_digits``).
"""

_INTEGER_LIMIT = 10**MAX_DIGITS
_LARGE_INTEGER = 10**40
_INTEGER_TEXT = re.compile(r"[+-]?[0-9]+")
_DECIMAL_TEXT = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?")

# JSON Schema fragments ----------------------------------------------------

NUMERIC_PATTERN = r"^\s*[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?\s*$"


def numeric_schema(description: str) -> dict[str, Any]:
    """Return the schema of a config number given as a JSON number or string."""
    return {
        "type": ["number", "string"],
        "pattern": NUMERIC_PATTERN,
        "description": description,
    }


def text_schema(description: str) -> dict[str, Any]:
    """Return the schema of a translatable text: a string or language to text."""
    return {
        "anyOf": [
            {"type": "string"},
            {"type": "object", "additionalProperties": {"type": "string"}},
        ],
        "description": description,
    }


def object_schema(
    properties: Mapping[str, Any], required: Sequence[str] = ()
) -> dict[str, Any]:
    """Return a strict object schema with ``properties``."""
    schema: dict[str, Any] = {
        "type": "object",
        "properties": dict(properties),
        "additionalProperties": False,
    }
    if required:
        schema["required"] = list(required)
    return schema


def config_problem(path: Path, message: str) -> Problem:
    """Return an ``INVALID_CONFIG`` problem at ``path`` inside the config."""
    return Problem(path, ErrorCode.INVALID_CONFIG, message)


# Messages -----------------------------------------------------------------


def describe(value: object) -> str:
    """Return a short phrase naming a submitted value for an error message."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, int) and abs(value) >= _LARGE_INTEGER:
        # str() of an int over 4300 digits raises ValueError.
        return "a number of more than 40 digits"
    if isinstance(value, int | float | Decimal):
        return f"the number {shorten(str(value))}"
    if isinstance(value, str):
        return f"the text {shorten(value)!r}"
    if isinstance(value, Mapping):
        return "an object"
    if isinstance(value, list | tuple):
        return "a list"
    return f"a value of type {type(value).__name__}"


def check_unicode(value: object, field_name: str) -> None:
    """Raise ``INVALID`` if any text in ``value`` holds a lone surrogate.

    A JSON string may escape half of a UTF-16 surrogate pair, such as
    U+D800, which decodes to a Python string that cannot be encoded as UTF-8,
    so it could be neither stored nor returned. Keys and items of mappings and lists are
    checked too.
    """
    pending: list[object] = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError as error:
                code_point = ord(item[error.start])
                raise ValueProblem(
                    ErrorCode.INVALID,
                    f"Expected valid Unicode text in field {field_name!r}, but it "
                    f"contains the lone surrogate U+{code_point:04X} at character "
                    f"{error.start}. Send the complete surrogate pair or remove it.",
                ) from None
        elif isinstance(item, Mapping):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list | tuple):
            pending.extend(item)


def shorten(text: str, limit: int = 40) -> str:
    """Return ``text`` cut to ``limit`` characters, marking the cut."""
    if len(text) <= limit:
        return text
    return text[: limit - 1] + "…"


# Numbers ------------------------------------------------------------------


def to_decimal(value: object) -> Decimal:
    """Return ``value`` as an exact, finite Decimal.

    Accepts int, Decimal, float (through its shortest repr, so ``0.1`` is
    ``Decimal("0.1")``) and numeric strings with an optional exponent.

    Raises:
        ValueProblem: ``INVALID_TYPE`` for other types, ``INVALID`` for text
            that is not a number, NaN, infinity, or more than
            :data:`MAX_DIGITS` digits.
    """
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal | str):
        raise ValueProblem(
            ErrorCode.INVALID_TYPE,
            f"Expected a number such as 12 or 12.5, got {describe(value)}.",
        )
    if isinstance(value, int):
        return Decimal(_checked_integer(value))
    if isinstance(value, float):
        if not math.isfinite(value):
            raise _not_finite(value)
        return Decimal(repr(value))
    if isinstance(value, str):
        return _decimal_from_text(value)
    if not value.is_finite():
        raise _not_finite(value)
    _check_digits(value)
    return value


def to_integer(value: object) -> int:
    """Return ``value`` as an exact int.

    Accepts int, a string of digits with an optional sign, and a float or
    Decimal without a fraction. Booleans are not integers here.

    Raises:
        ValueProblem: ``INVALID_TYPE`` for other types, ``INVALID`` for a
            fraction, NaN, infinity or more than :data:`MAX_DIGITS` digits.
    """
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal | str):
        raise ValueProblem(
            ErrorCode.INVALID_TYPE,
            f"Expected a whole number such as 12, got {describe(value)}.",
        )
    if isinstance(value, int):
        return _checked_integer(value)
    if isinstance(value, str):
        text = value.strip()
        if not _INTEGER_TEXT.fullmatch(text):
            raise ValueProblem(
                ErrorCode.INVALID,
                f"Expected a whole number written with digits only, such as 12, "
                f"got {describe(value)}.",
            )
        if len(text.lstrip("+-")) > MAX_DIGITS:
            raise _too_many_digits()
        return int(text)
    number = to_decimal(value)
    if number != number.to_integral_value():
        raise ValueProblem(
            ErrorCode.INVALID,
            f"Expected a whole number, got {describe(value)}; remove the fraction.",
        )
    return int(number)


def format_decimal(number: Decimal) -> str:
    """Return the stored form of a decimal: fixed notation, no trailing zeros.

    ``Decimal("1E+2")`` becomes ``"100"`` and ``Decimal("0.10")`` becomes
    ``"0.1"``. Formatting with ``"f"`` and no precision keeps every digit, so
    no context rounding applies.
    """
    if number.is_zero():
        return "0"
    text = format(number, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def decimal_places(number: Decimal) -> int:
    """Return the digits after the point of ``number`` without trailing zeros."""
    text = format_decimal(number)
    if "." not in text:
        return 0
    return len(text) - text.index(".") - 1


def is_step_aligned(value: Decimal, start: Decimal, step: Decimal) -> bool:
    """Return whether ``value`` is ``start`` plus a whole number of ``step``.

    Fractions keep the arithmetic exact at any number of digits, where
    Decimal arithmetic would round to the context precision.
    """
    return (Fraction(value) - Fraction(start)) % Fraction(step) == 0


def _checked_integer(value: int) -> int:
    if abs(value) >= _INTEGER_LIMIT:
        raise _too_many_digits()
    return value


def _decimal_from_text(value: str) -> Decimal:
    text = value.strip()
    # The regex runs before Decimal() because Decimal also accepts "NaN",
    # "Infinity", digit group underscores and non-ASCII digits.
    if len(text) > 2 * MAX_DIGITS or not _DECIMAL_TEXT.fullmatch(text):
        raise ValueProblem(
            ErrorCode.INVALID,
            f"Expected a number written with digits and an optional point, such "
            f"as 12.5, got {describe(value)}.",
        )
    try:
        number = Decimal(text)
    except InvalidOperation as error:  # pragma: no cover - the regex admits it
        raise ValueProblem(
            ErrorCode.INVALID, f"Expected a number, got {describe(value)}."
        ) from error
    _check_digits(number)
    return number


def _check_digits(number: Decimal) -> None:
    digits = number.as_tuple()
    exponent = digits.exponent
    assert isinstance(exponent, int)  # finite numbers have an int exponent
    count = len(digits.digits)
    fixed_length = count + exponent if exponent >= 0 else max(count, -exponent)
    if fixed_length > MAX_DIGITS:
        raise _too_many_digits()


def _too_many_digits() -> ValueProblem:
    return ValueProblem(
        ErrorCode.OUT_OF_RANGE,
        f"Expected a number of at most {MAX_DIGITS} digits.",
    )


def _not_finite(value: object) -> ValueProblem:
    return ValueProblem(
        ErrorCode.INVALID,
        f"Expected a finite number, got {describe(value)}; NaN and infinity "
        "cannot be stored.",
    )
