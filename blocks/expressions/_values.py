"""Value model shared by the evaluator and the functions.

Expressions see null (None), booleans, numbers (int or Decimal, never float),
strings, lists, mappings, dates, times and datetimes. Values read from the
environment are converted on access by :func:`normalize`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, time
from decimal import (
    Context,
    Decimal,
    DivisionByZero,
    InvalidOperation,
    Overflow,
)

from ._lexer import MAX_INTEGER_DIGITS, quote
from .errors import ExpressionEvaluationError, ExpressionLimitError

Number = int | Decimal

# Arithmetic on Decimals rounds to 34 significant digits (IEEE 754 decimal128
# precision). Results that cannot be represented raise instead of becoming
# NaN or Infinity, because every trap that signals such a result is enabled.
DECIMAL_CONTEXT = Context(
    prec=34,
    Emin=-999_999,
    Emax=999_999,
    traps=[InvalidOperation, DivisionByZero, Overflow],
)


def is_number(value: object) -> bool:
    """Return whether ``value`` is an int or Decimal (booleans are not numbers)."""
    return isinstance(value, int | Decimal) and not isinstance(value, bool)


def is_list(value: object) -> bool:
    """Return whether ``value`` is a list value (a Python list or tuple)."""
    return isinstance(value, list | tuple)


def type_name(value: object) -> str:
    """Return the expression-language name of the type of ``value``."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if is_number(value):
        return "number"
    if isinstance(value, str):
        return "string"
    if is_list(value):
        return "list"
    if isinstance(value, Mapping):
        return "mapping"
    # datetime is a subclass of date, so it is tested first.
    if isinstance(value, datetime):
        return "datetime"
    if isinstance(value, date):
        return "date"
    if isinstance(value, time):
        return "time"
    return f"unsupported type {type(value).__name__}"


def describe(value: object) -> str:
    """Return ``value`` as error messages show it, such as ``'text'`` or ``3``."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        text = str(value) if value.bit_length() < 100 else "a large integer"
        return text
    if isinstance(value, Decimal):
        return format(value, "f") if abs(value.adjusted()) < 40 else str(value)
    if isinstance(value, str):
        return quote(value)
    if is_list(value):
        return "a list"
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, datetime | date | time):
        return f"{type_name(value)} {value.isoformat()}"
    return f"a value of {type_name(value)}"


def normalize(value: object) -> object:
    """Convert a value read from the environment to the expression value model.

    A float becomes the Decimal of its shortest repr, so 0.1 reads as 0.1.
    A naive datetime is taken as UTC, so every datetime can be compared.
    Lists and mappings are returned as they are, because their items are
    normalized when they are accessed.

    Raises:
        ExpressionEvaluationError: the value is a NaN or infinite number.
    """
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ExpressionEvaluationError(
                f"Number {value!r} is not finite. Expressions support only finite "
                "numbers."
            )
        return Decimal(repr(value))
    if isinstance(value, Decimal) and not value.is_finite():
        raise ExpressionEvaluationError(
            f"Number {value} is not finite. Expressions support only finite numbers."
        )
    if isinstance(value, datetime) and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def list_items(value: object) -> list[object]:
    """Return the normalized items of a list value."""
    assert isinstance(value, list | tuple)
    return [normalize(item) for item in value]


def to_decimal(value: Number) -> Decimal:
    """Convert an int or Decimal to Decimal exactly."""
    return value if isinstance(value, Decimal) else Decimal(value)


def values_equal(left: object, right: object) -> bool:
    """Return whether two values are equal.

    Values of different types are unequal, except that int and Decimal
    compare by numeric value. Booleans never equal numbers.
    """
    if left is None or right is None:
        return left is None and right is None
    if isinstance(left, bool) or isinstance(right, bool):
        return isinstance(left, bool) and isinstance(right, bool) and left is right
    if is_number(left) and is_number(right):
        return left == right
    left_type = type_name(left)
    if left_type != type_name(right):
        return False
    if is_list(left):
        assert isinstance(left, list | tuple) and isinstance(right, list | tuple)
        return len(left) == len(right) and all(
            values_equal(normalize(a), normalize(b))
            for a, b in zip(left, right, strict=True)
        )
    if isinstance(left, Mapping):
        assert isinstance(right, Mapping)
        return left.keys() == right.keys() and all(
            values_equal(normalize(left[key]), normalize(right[key])) for key in left
        )
    return left == right


def compare(left: object, right: object, operator: str) -> int:
    """Order two non-null values: return a negative, zero or positive int.

    Raises:
        ExpressionEvaluationError: the values are not both numbers, strings,
            dates, times or datetimes of the same type.
    """
    left_type = type_name(left)
    right_type = type_name(right)
    orderable = ("number", "string", "date", "time", "datetime")
    if left_type != right_type or left_type not in orderable:
        hint = ""
        if {left_type, right_type} <= {"string", "date", "datetime"}:
            hint = " Convert ISO strings with date(...) or datetime(...) first."
        raise ExpressionEvaluationError(
            f"Cannot compare {describe(left)} and {describe(right)} with "
            f"{quote(operator)}: both sides must be numbers, strings, dates, times "
            f"or datetimes of the same type.{hint}"
        )
    try:
        if left < right:  # type: ignore[operator]
            return -1
        return 1 if left > right else 0  # type: ignore[operator]
    except TypeError:
        # Only times can still disagree: one with an offset, one without.
        raise ExpressionEvaluationError(
            f"Cannot compare {describe(left)} and {describe(right)}: one has a "
            "UTC offset and the other has none."
        ) from None


def format_value(value: object, max_length: int) -> str:
    """Convert a scalar value to the string that ``string()`` and ``concat()`` build.

    Null becomes '', booleans 'true' and 'false', Decimals are written without
    an exponent and dates, times and datetimes in ISO 8601.

    Raises:
        ExpressionEvaluationError: the value is a list, a mapping or an
            unsupported type.
        ExpressionLimitError: the text would be longer than ``max_length``.
    """
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int):
        try:
            text = str(value)
        except ValueError:
            # str() rejects ints longer than sys.get_int_max_str_digits().
            raise ExpressionEvaluationError(
                f"Cannot convert an integer of more than {MAX_INTEGER_DIGITS} digits "
                "to a string."
            ) from None
        return check_string_length(text, max_length)
    if isinstance(value, Decimal):
        if value.is_zero():
            value = value.copy_abs()
        exponent = value.as_tuple().exponent
        assert isinstance(exponent, int)
        # Formatting without an exponent writes about adjusted() digits before
        # the point and -exponent digits after it.
        if abs(value.adjusted()) > max_length or -exponent > max_length:
            raise string_limit_error(max_length)
        return check_string_length(format(value, "f"), max_length)
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    raise ExpressionEvaluationError(
        f"Cannot convert {describe(value)} to a string. Only null, booleans, "
        "numbers, strings, dates, times and datetimes convert. Use join() for lists."
    )


def check_string_length(text: str, max_length: int) -> str:
    """Return ``text`` unless it is longer than ``max_length``."""
    if len(text) > max_length:
        raise string_limit_error(max_length)
    return text


def string_limit_error(max_length: int) -> ExpressionLimitError:
    """Build the error for a string longer than ``Limits.max_string_length``."""
    return ExpressionLimitError(
        "max_string_length",
        max_length,
        f"Expression built a string longer than the limit of {max_length} "
        "characters (max_string_length).",
    )


def list_limit_error(max_length: int) -> ExpressionLimitError:
    """Build the error for a list longer than ``Limits.max_list_length``."""
    return ExpressionLimitError(
        "max_list_length",
        max_length,
        f"Expression built a list longer than the limit of {max_length} items "
        "(max_list_length).",
    )


def require_number(value: object, where: str) -> Number:
    """Return ``value`` as a number or raise naming ``where`` it was needed."""
    if not is_number(value):
        raise ExpressionEvaluationError(
            f"{where} needs a number, got {describe(value)} ({type_name(value)})."
        )
    assert isinstance(value, int | Decimal)
    return value


def require_integer(value: object, where: str) -> int:
    """Return ``value`` as an int or raise naming ``where`` it was needed."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ExpressionEvaluationError(
            f"{where} needs a whole number, got {describe(value)} ({type_name(value)})."
        )
    return value


def require_string(value: object, where: str) -> str:
    """Return ``value`` as a string or raise naming ``where`` it was needed."""
    if not isinstance(value, str):
        raise ExpressionEvaluationError(
            f"{where} needs a string, got {describe(value)} ({type_name(value)})."
        )
    return value


def require_list(value: object, where: str) -> Sequence[object]:
    """Return ``value`` as a list or raise naming ``where`` it was needed."""
    if not isinstance(value, list | tuple):
        raise ExpressionEvaluationError(
            f"{where} needs a list, got {describe(value)} ({type_name(value)})."
        )
    return value
