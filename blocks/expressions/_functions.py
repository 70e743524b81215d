"""Registry of the built-in functions, with their arity and documentation."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from . import _date_functions as dates
from . import _list_functions as lists
from . import _number_functions as numbers
from . import _text_functions as text
from ._context import CallContext
from ._values import describe, normalize
from .errors import ExpressionEvaluationError

Thunk = Callable[[], object]


@dataclass(frozen=True)
class FunctionSpec:
    """Description and implementation of one built-in function.

    Attributes:
        name: Name used in expressions.
        min_args: Minimum number of arguments.
        max_args: Maximum number of arguments, or None for any number.
        signature: Signature as the documentation shows it.
        summary: One-sentence description.
        example: Example call.
        implementation: Callable taking a ``CallContext`` and the argument
            values. A lazy function gets argument thunks instead of values.
        lazy: Whether arguments are evaluated only when the function needs
            them, as ``if`` and ``coalesce`` do.
    """

    name: str
    min_args: int
    max_args: int | None
    signature: str
    summary: str
    example: str
    implementation: Callable[..., object]
    lazy: bool = False

    def describe_arity(self) -> str:
        """Return the accepted argument count as error messages show it."""
        if self.max_args is None:
            plural = "" if self.min_args == 1 else "s"
            return f"at least {self.min_args} argument{plural}"
        if self.min_args == self.max_args:
            if self.min_args == 0:
                return "no arguments"
            plural = "" if self.min_args == 1 else "s"
            return f"exactly {self.min_args} argument{plural}"
        return f"{self.min_args} to {self.max_args} arguments"


def _if(
    context: CallContext, condition: Thunk, then: Thunk, otherwise: Thunk
) -> object:
    """Evaluate ``then`` if the condition is true, else ``otherwise``."""
    value = condition()
    if value is None or value is False:
        return otherwise()
    if value is True:
        return then()
    raise ExpressionEvaluationError(
        f"if() needs true, false or null as its condition, got {describe(value)}."
    )


def _coalesce(context: CallContext, *values: Thunk) -> object:
    """Return the first argument that is not null, evaluating no further."""
    for value in values:
        result = value()
        if result is not None:
            return result
    return None


def _index(context: CallContext) -> object:
    """Return the 1-based number of the current repeat row (env key "@index")."""
    return normalize(context.row_index())


_SPECS = (
    FunctionSpec("if", 3, 3, "if(condition, then, otherwise)",
                 "Return then when the condition is true, otherwise when it is false "
                 "or null. Only the chosen branch is evaluated.",
                 "if(age >= 18, 'adult', 'minor')", _if, lazy=True),
    FunctionSpec("coalesce", 1, None, "coalesce(value, ...)",
                 "Return the first argument that is not null, or null.",
                 "coalesce(nickname, first_name, 'unknown')", _coalesce, lazy=True),
    FunctionSpec("index", 0, 0, "index()",
                 "Return the 1-based number of the current repeat row, or null "
                 "outside a repeat.", "index()", _index),
    FunctionSpec("concat", 0, None, "concat(value, ...)",
                 "Join the string forms of the arguments. Null counts as ''.",
                 "concat(first_name, ' ', last_name)", text.concat),
    FunctionSpec("string", 1, 1, "string(value)",
                 "Convert a value to a string. Null becomes ''.",
                 "string(3.50)", text.to_string),
    FunctionSpec("lower", 1, 1, "lower(text)", "Convert to lower case.",
                 "lower('ABC')", text.lower),
    FunctionSpec("upper", 1, 1, "upper(text)", "Convert to upper case.",
                 "upper('abc')", text.upper),
    FunctionSpec("trim", 1, 1, "trim(text)",
                 "Remove leading and trailing whitespace.",
                 "trim('  a b  ')", text.trim),
    FunctionSpec("contains", 2, 2, "contains(haystack, needle)",
                 "Test whether a string contains a substring or a list an item.",
                 "contains(email, '@')", text.contains),
    FunctionSpec("starts_with", 2, 2, "starts_with(text, prefix)",
                 "Test whether a string starts with a prefix.",
                 "starts_with(phone, '+255')", text.starts_with),
    FunctionSpec("ends_with", 2, 2, "ends_with(text, suffix)",
                 "Test whether a string ends with a suffix.",
                 "ends_with(email, '.org')", text.ends_with),
    FunctionSpec("substr", 2, 3, "substr(text, start, length?)",
                 "Return length characters from the 0-based start, or the rest.",
                 "substr('2024-03-31', 0, 4)", text.substr),
    FunctionSpec("regex", 2, 2, "regex(text, pattern)",
                 "Test whether the whole string matches a Python regular expression.",
                 r"regex(., '[A-Z]{2}\\d{4}')", text.regex),
    FunctionSpec("join", 2, 2, "join(separator, list)",
                 "Join the string forms of list items with a separator.",
                 "join(', ', crops)", text.join),
    FunctionSpec("split", 2, 2, "split(text, separator)",
                 "Split a string at every separator into a list.",
                 "split('a,b,c', ',')", text.split),
    FunctionSpec("length", 1, 1, "length(value)",
                 "Return the length of a string or list. Null gives 0.",
                 "length(name)", lists.length),
    FunctionSpec("count", 1, 1, "count(list)",
                 "Return the number of items of a list, such as repeat rows.",
                 "count(trees)", lists.count),
    FunctionSpec("sum", 1, 1, "sum(list)",
                 "Add up the numbers of a list, skipping nulls.",
                 "sum(trees.dbh)", lists.sum_numbers),
    FunctionSpec("min", 1, None, "min(value, ...) or min(list)",
                 "Return the smallest value, skipping nulls.",
                 "min(3, 1, 2)", lists.minimum),
    FunctionSpec("max", 1, None, "max(value, ...) or max(list)",
                 "Return the largest value, skipping nulls.",
                 "max(trees.height)", lists.maximum),
    FunctionSpec("selected", 2, 2, "selected(choices, option)",
                 "Test whether a multiple choice value contains an option.",
                 "selected(crops, 'maize')", lists.selected),
    FunctionSpec("count_selected", 1, 1, "count_selected(choices)",
                 "Return the number of options chosen.",
                 "count_selected(crops)", lists.count_selected),
    FunctionSpec("round", 1, 2, "round(number, places?)",
                 "Round half away from zero to places digits (default 0).",
                 "round(2.345, 2)", numbers.round_number),
    FunctionSpec("floor", 1, 1, "floor(number)", "Round down to an integer.",
                 "floor(2.7)", numbers.floor_number),
    FunctionSpec("ceil", 1, 1, "ceil(number)", "Round up to an integer.",
                 "ceil(2.1)", numbers.ceil_number),
    FunctionSpec("abs", 1, 1, "abs(number)", "Return the absolute value.",
                 "abs(-4.5)", numbers.absolute),
    FunctionSpec("int", 1, 1, "int(value)",
                 "Truncate a number or numeric string toward zero.",
                 "int('-3.9')", numbers.to_int),
    FunctionSpec("number", 1, 1, "number(value)",
                 "Convert a numeric string to a number. Invalid strings give null.",
                 "number('12.50')", numbers.to_number),
    FunctionSpec("pow", 2, 2, "pow(base, exponent)",
                 "Raise to a whole exponent between -64 and 64.",
                 "pow(1.05, 10)", numbers.power),
    FunctionSpec("sqrt", 1, 1, "sqrt(number)", "Return the square root.",
                 "sqrt(2)", numbers.square_root),
    FunctionSpec("exp", 1, 1, "exp(number)", "Return e raised to the number.",
                 "exp(1)", numbers.exponential),
    FunctionSpec("log", 1, 1, "log(number)", "Return the natural logarithm.",
                 "log(10)", numbers.natural_log),
    FunctionSpec("log10", 1, 1, "log10(number)", "Return the base-10 logarithm.",
                 "log10(1000)", numbers.log10),
    FunctionSpec("sin", 1, 1, "sin(radians)", "Return the sine, to 15 digits.",
                 "sin(pi() / 2)", numbers.sine),
    FunctionSpec("cos", 1, 1, "cos(radians)", "Return the cosine, to 15 digits.",
                 "cos(0)", numbers.cosine),
    FunctionSpec("tan", 1, 1, "tan(radians)", "Return the tangent, to 15 digits.",
                 "tan(0.5)", numbers.tangent),
    FunctionSpec("asin", 1, 1, "asin(number)",
                 "Return the arc sine in radians, to 15 digits.",
                 "asin(1)", numbers.arc_sine),
    FunctionSpec("acos", 1, 1, "acos(number)",
                 "Return the arc cosine in radians, to 15 digits.",
                 "acos(0)", numbers.arc_cosine),
    FunctionSpec("atan", 1, 1, "atan(number)",
                 "Return the arc tangent in radians, to 15 digits.",
                 "atan(12 / 100)", numbers.arc_tangent),
    FunctionSpec("atan2", 2, 2, "atan2(y, x)",
                 "Return the angle of the point (x, y) in radians, to 15 digits.",
                 "atan2(1, 1)", numbers.arc_tangent2),
    FunctionSpec("pi", 0, 0, "pi()", "Return pi, to 15 digits.",
                 "pi()", numbers.pi),
    FunctionSpec("distance", 4, 4, "distance(lat1, lng1, lat2, lng2)",
                 "Return the great-circle distance in metres, to 3 decimal places.",
                 "distance(-6.8, 39.28, -3.37, 36.68)", numbers.distance),
    FunctionSpec("today", 0, 0, "today()", "Return the current date in UTC.",
                 "today()", dates.today),
    FunctionSpec("now", 0, 0, "now()", "Return the current UTC datetime.",
                 "now()", dates.now),
    FunctionSpec("date", 1, 1, "date(value)",
                 "Convert an ISO 8601 string or a datetime to a date.",
                 "date('2024-03-31')", dates.to_date),
    FunctionSpec("datetime", 1, 1, "datetime(value)",
                 "Convert an ISO 8601 string or a date to a datetime.",
                 "datetime('2024-03-31T14:30:00+03:00')", dates.to_datetime),
    FunctionSpec("year", 1, 1, "year(date)", "Return the year.",
                 "year('2024-03-31')", dates.year),
    FunctionSpec("month", 1, 1, "month(date)", "Return the month, 1 to 12.",
                 "month('2024-03-31')", dates.month),
    FunctionSpec("day", 1, 1, "day(date)", "Return the day of the month.",
                 "day('2024-03-31')", dates.day),
    FunctionSpec("days_between", 2, 2, "days_between(start, end)",
                 "Return the whole days from start to end.",
                 "days_between(planted_on, today())", dates.days_between),
    FunctionSpec("add_days", 2, 2, "add_days(date, days)",
                 "Add a whole number of days to a date or datetime.",
                 "add_days(visit_date, 14)", dates.add_days),
    FunctionSpec("format_date", 2, 2, "format_date(date, format)",
                 "Format a date with %Y %m %d %H %M %S and %%.",
                 "format_date(visit_date, '%d/%m/%Y')", dates.format_date),
)  # fmt: skip

FUNCTIONS: Mapping[str, FunctionSpec] = MappingProxyType(
    {spec.name: spec for spec in _SPECS}
)
