"""Date functions: the clock, ISO parsing, date parts, day arithmetic, formatting.

Stored dates and datetimes are ISO 8601 strings, so every function that takes
a date also accepts such a string. A datetime without a UTC offset is taken
as UTC.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

from ._context import CallContext
from ._values import describe, require_integer, require_string, type_name
from .errors import ExpressionEvaluationError

_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_FORMAT_CODES = frozenset("YmdHMS%")


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def _now(context: CallContext) -> datetime:
    return _utc(context.limits.clock()).astimezone(UTC)


def today(context: CallContext) -> object:
    """Return the current date in UTC."""
    return _now(context).date()


def now(context: CallContext) -> object:
    """Return the current time as a UTC datetime."""
    return _now(context)


def _parse_date_text(text: str, name: str) -> date:
    if _ISO_DATE.fullmatch(text):
        try:
            return date.fromisoformat(text)
        except ValueError as error:
            raise ExpressionEvaluationError(
                f"{name}() got an invalid date {describe(text)}: {error}."
            ) from None
    return _parse_datetime_text(text, name).date()


def _parse_datetime_text(text: str, name: str) -> datetime:
    try:
        return _utc(datetime.fromisoformat(text))
    except ValueError:
        raise ExpressionEvaluationError(
            f"{name}() needs an ISO 8601 date or datetime such as '2024-03-31' or "
            f"'2024-03-31T14:30:00+02:00', got {describe(text)}."
        ) from None


def _as_date_or_datetime(value: object, name: str) -> date | datetime:
    """Return a date, datetime or ISO string as a date or an aware datetime."""
    if isinstance(value, datetime):
        return _utc(value)
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        if _ISO_DATE.fullmatch(value):
            return _parse_date_text(value, name)
        return _parse_datetime_text(value, name)
    raise ExpressionEvaluationError(
        f"{name}() needs a date, a datetime or an ISO 8601 string, got "
        f"{describe(value)} ({type_name(value)})."
    )


def _as_date(value: object, name: str) -> date:
    parsed = _as_date_or_datetime(value, name)
    return parsed.date() if isinstance(parsed, datetime) else parsed


def to_date(context: CallContext, value: object) -> object:
    """Convert an ISO string or a datetime to a date. Null and '' give null.

    A datetime keeps the date of its own UTC offset.
    """
    if value is None or value == "":
        return None
    return _as_date(value, "date")


def to_datetime(context: CallContext, value: object) -> object:
    """Convert an ISO string or a date to a datetime. Null and '' give null.

    A date becomes midnight UTC of that day.
    """
    if value is None or value == "":
        return None
    parsed = _as_date_or_datetime(value, "datetime")
    if isinstance(parsed, datetime):
        return parsed
    return datetime(parsed.year, parsed.month, parsed.day, tzinfo=UTC)


def year(context: CallContext, value: object) -> object:
    """Return the year of a date or datetime. Null stays null."""
    return None if value is None else _as_date(value, "year").year


def month(context: CallContext, value: object) -> object:
    """Return the month (1 to 12) of a date or datetime. Null stays null."""
    return None if value is None else _as_date(value, "month").month


def day(context: CallContext, value: object) -> object:
    """Return the day of the month of a date or datetime. Null stays null."""
    return None if value is None else _as_date(value, "day").day


def days_between(context: CallContext, start: object, end: object) -> object:
    """Return the whole days from ``start`` to ``end``, negative if end is earlier.

    Datetimes count by their dates, so the time of day is ignored. Null in
    either argument gives null.
    """
    if start is None or end is None:
        return None
    return (_as_date(end, "days_between") - _as_date(start, "days_between")).days


def add_days(context: CallContext, value: object, days: object) -> object:
    """Add a whole number of days to a date or datetime. Null stays null."""
    if value is None or days is None:
        return None
    parsed = _as_date_or_datetime(value, "add_days")
    count = require_integer(days, "add_days() as its day count")
    try:
        return parsed + timedelta(days=count)
    except OverflowError:
        raise ExpressionEvaluationError(
            f"add_days() result is outside the years 1 to 9999 "
            f"({describe(parsed)} plus {count} days)."
        ) from None


def format_date(context: CallContext, value: object, pattern: object) -> object:
    """Format a date or datetime with the codes %Y %m %d %H %M %S and %%.

    A date formats its hours, minutes and seconds as 00. Null stays null.
    """
    if value is None:
        return None
    template = require_string(pattern, "format_date() as its format")
    parsed = _as_date_or_datetime(value, "format_date")
    if isinstance(parsed, datetime):
        hour, minute, second = parsed.hour, parsed.minute, parsed.second
    else:
        hour = minute = second = 0
    fields = {
        "Y": f"{parsed.year:04d}",
        "m": f"{parsed.month:02d}",
        "d": f"{parsed.day:02d}",
        "H": f"{hour:02d}",
        "M": f"{minute:02d}",
        "S": f"{second:02d}",
        "%": "%",
    }
    parts: list[str] = []
    index = 0
    while index < len(template):
        character = template[index]
        if character != "%":
            parts.append(character)
            index += 1
            continue
        code = template[index + 1 : index + 2]
        if code not in _FORMAT_CODES:
            code_text = f"'%{code}'" if code else "a lone '%' at the end"
            raise ExpressionEvaluationError(
                f"format_date() does not support {code_text}. Use %Y %m %d %H %M %S, "
                "or %% for a percent sign."
            )
        parts.append(fields[code])
        index += 2
    return context.check_string("".join(parts))
