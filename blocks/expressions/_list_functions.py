"""List functions: length, count, sum, min, max, selected, count_selected."""

from __future__ import annotations

from decimal import Decimal

from ._context import CallContext
from ._values import (
    DECIMAL_CONTEXT,
    compare,
    describe,
    is_number,
    list_items,
    require_list,
    require_number,
    to_decimal,
    type_name,
    values_equal,
)
from .errors import ExpressionEvaluationError


def length(context: CallContext, value: object) -> object:
    """Return the number of characters of a string or items of a list. Null gives 0."""
    if value is None:
        return 0
    if isinstance(value, str | list | tuple):
        return len(value)
    raise ExpressionEvaluationError(
        "length() needs a string or a list, "
        f"got {describe(value)} ({type_name(value)})."
    )


def count(context: CallContext, value: object) -> object:
    """Return the number of items of a list, such as repeat rows. Null gives 0."""
    if value is None:
        return 0
    return len(require_list(value, "count()"))


def sum_numbers(context: CallContext, value: object) -> object:
    """Add up the numbers of a list, skipping nulls. Null and [] give 0."""
    if value is None:
        return 0
    items = require_list(value, "sum()")
    context.charge_steps(len(items))
    total: int | Decimal = 0
    for item in list_items(items):
        if item is None:
            continue
        number = require_number(item, "sum() for every list item")
        if isinstance(total, int) and isinstance(number, int):
            total += number
        else:
            total = DECIMAL_CONTEXT.add(to_decimal(total), to_decimal(number))
    return total


def _extreme(
    context: CallContext, name: str, arguments: tuple[object, ...], sign: int
) -> object:
    if len(arguments) == 1 and isinstance(arguments[0], list | tuple):
        candidates = list_items(arguments[0])
    else:
        candidates = list(arguments)
    context.charge_steps(len(candidates))
    best: object = None
    for candidate in candidates:
        if candidate is None:
            continue
        if isinstance(candidate, bool) or not (
            is_number(candidate)
            or type_name(candidate) in ("string", "date", "time", "datetime")
        ):
            raise ExpressionEvaluationError(
                f"{name}() needs numbers, strings, dates, times or datetimes, got "
                f"{describe(candidate)} ({type_name(candidate)})."
            )
        if best is None or compare(candidate, best, name) * sign > 0:
            best = candidate
    return best


def minimum(context: CallContext, *values: object) -> object:
    """Return the smallest argument, or the smallest item of one list argument.

    Nulls are skipped. If nothing else is left the result is null.
    """
    return _extreme(context, "min", values, -1)


def maximum(context: CallContext, *values: object) -> object:
    """Return the largest argument, or the largest item of one list argument.

    Nulls are skipped. If nothing else is left the result is null.
    """
    return _extreme(context, "max", values, 1)


def _selected_options(context: CallContext, name: str, value: object) -> list[object]:
    if isinstance(value, str):
        return list(value.split())
    items = require_list(value, f"{name}() as its first argument")
    context.charge_steps(len(items))
    return list_items(items)


def selected(context: CallContext, value: object, option: object) -> object:
    """Test whether a multiple choice value contains ``option``.

    The value is a list of options, or a string of space-separated options
    as XLSForm stores them. Null gives false.
    """
    if value is None:
        return False
    return any(
        values_equal(item, option)
        for item in _selected_options(context, "selected", value)
    )


def count_selected(context: CallContext, value: object) -> object:
    """Return the number of options of a multiple choice value. Null gives 0."""
    if value is None:
        return 0
    return len(_selected_options(context, "count_selected", value))
