"""Calendar block types: ``date``, ``time`` and ``datetime``, all ISO 8601."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, time
from typing import Any, ClassVar

from graphql import GraphQLInputType, GraphQLOutputType

from blocks.base import BlockType, ConfigContext, IndexKind, ValueContext
from blocks.builtin._support import config_problem, describe, object_schema
from blocks.definition import Block
from blocks.errors import ErrorCode, Problem, ValueProblem
from blocks.filters import Operand
from blocks.types import TypeLibrary

DATE_EXAMPLE = "2026-12-04"
TIME_EXAMPLE = "14:30:00"
DATETIME_EXAMPLE = "2026-12-04T14:30:00+03:00"


def parse_date(value: object) -> date:
    """Return the date of an ISO 8601 string such as ``2026-12-04``.

    Raises:
        ValueProblem: ``INVALID_TYPE`` for a non-string, ``INVALID`` for text
            that is not an ISO date.
    """
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if not isinstance(value, str):
        raise ValueProblem(
            ErrorCode.INVALID_TYPE,
            f"Expected an ISO 8601 date such as {DATE_EXAMPLE}, got {describe(value)}.",
        )
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ValueProblem(
            ErrorCode.INVALID,
            f"Expected an ISO 8601 date such as {DATE_EXAMPLE}, got {describe(value)}.",
        ) from None


def parse_time(value: object) -> time:
    """Return the time of an ISO 8601 string such as ``14:30`` or ``14:30:00+03:00``.

    Raises:
        ValueProblem: ``INVALID_TYPE`` for a non-string, ``INVALID`` for text
            that is not an ISO time.
    """
    if isinstance(value, time):
        return value
    if not isinstance(value, str):
        raise ValueProblem(
            ErrorCode.INVALID_TYPE,
            f"Expected an ISO 8601 time such as {TIME_EXAMPLE}, got {describe(value)}.",
        )
    try:
        return time.fromisoformat(value)
    except ValueError:
        raise ValueProblem(
            ErrorCode.INVALID,
            f"Expected an ISO 8601 time such as {TIME_EXAMPLE}, got {describe(value)}.",
        ) from None


def parse_datetime(value: object) -> datetime:
    """Return the datetime of an ISO 8601 string, with or without an offset.

    Raises:
        ValueProblem: ``INVALID_TYPE`` for a non-string, ``INVALID`` for text
            that is not an ISO date and time.
    """
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str):
        raise ValueProblem(
            ErrorCode.INVALID_TYPE,
            f"Expected an ISO 8601 date and time such as {DATETIME_EXAMPLE}, got "
            f"{describe(value)}.",
        )
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        raise ValueProblem(
            ErrorCode.INVALID,
            f"Expected an ISO 8601 date and time such as {DATETIME_EXAMPLE}, got "
            f"{describe(value)}.",
        ) from None


def instant(moment: datetime) -> datetime:
    """Return ``moment`` comparable with any other: a naive one is taken as UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


class DateBlockType(BlockType):
    """A calendar date, stored as ``YYYY-MM-DD``."""

    name = "date"
    label = "Date"
    description = "A calendar date without a time of day."
    value_type = "Date"
    index_kind = IndexKind.DATE
    operand = Operand.DATE
    xlsform_types = ("date",)

    config_schema: ClassVar[Mapping[str, Any]] = object_schema(
        {
            "min": {
                "type": "string",
                "description": "Earliest allowed date, ISO 8601, inclusive.",
            },
            "max": {
                "type": "string",
                "description": "Latest allowed date, ISO 8601, inclusive.",
            },
        }
    )

    def validate_config(self, block: Block, context: ConfigContext) -> list[Problem]:
        """Check the schema, that min and max are ISO dates, and min <= max."""
        problems = super().validate_config(block, context)
        if problems:
            return problems
        bounds: dict[str, date] = {}
        for key in ("min", "max"):
            if key not in block.config:
                continue
            try:
                bounds[key] = parse_date(block.config[key])
            except ValueProblem as problem:
                problems.append(config_problem((key,), f"Invalid {key}: {problem}"))
        if "min" in bounds and "max" in bounds and bounds["min"] > bounds["max"]:
            problems.append(_swapped_bounds(block))
        return problems

    def output_type(self, block: Block, types: TypeLibrary) -> GraphQLOutputType:
        """Return the ``Date`` scalar."""
        return types.date

    def input_type(self, block: Block, types: TypeLibrary) -> GraphQLInputType | None:
        """Return the ``Date`` scalar."""
        return types.date

    async def normalize(self, block: Block, value: Any, context: ValueContext) -> Any:
        """Check the date and its bounds; return it as ``YYYY-MM-DD``."""
        day = parse_date(value)
        low = block.config.get("min")
        high = block.config.get("max")
        if low is not None and day < parse_date(low):
            raise ValueProblem(
                ErrorCode.OUT_OF_RANGE,
                f"Expected a date on or after {low}, got {day.isoformat()}.",
            )
        if high is not None and day > parse_date(high):
            raise ValueProblem(
                ErrorCode.OUT_OF_RANGE,
                f"Expected a date on or before {high}, got {day.isoformat()}.",
            )
        return day.isoformat()

    def to_expression(self, block: Block, stored: Any) -> Any:
        """Return the stored date as a ``datetime.date``."""
        return None if stored is None else date.fromisoformat(stored)


class TimeBlockType(BlockType):
    """A time of day, stored as ISO 8601 with its offset when one was given."""

    name = "time"
    label = "Time"
    description = "A time of day, with an optional UTC offset."
    value_type = "Time"
    index_kind = IndexKind.KEYWORD
    operand = Operand.TIME
    xlsform_types = ("time",)

    def output_type(self, block: Block, types: TypeLibrary) -> GraphQLOutputType:
        """Return the ``Time`` scalar."""
        return types.time

    def input_type(self, block: Block, types: TypeLibrary) -> GraphQLInputType | None:
        """Return the ``Time`` scalar."""
        return types.time

    async def normalize(self, block: Block, value: Any, context: ValueContext) -> Any:
        """Check the time and return it as ``HH:MM:SS[.ffffff][+HH:MM]``."""
        return parse_time(value).isoformat()

    def to_expression(self, block: Block, stored: Any) -> Any:
        """Return the stored time as a ``datetime.time``."""
        return None if stored is None else time.fromisoformat(stored)


class DateTimeBlockType(BlockType):
    """A date and time, stored as ISO 8601 with the offset it was given in.

    The offset is kept rather than converted to UTC, so the local time of the
    submitter stays visible. Bounds compare instants, not local times.
    """

    name = "datetime"
    label = "Date and time"
    description = "A date and a time of day with its UTC offset."
    value_type = "DateTime"
    index_kind = IndexKind.DATE
    operand = Operand.DATETIME
    xlsform_types = ("dateTime",)

    config_schema: ClassVar[Mapping[str, Any]] = object_schema(
        {
            "min": {
                "type": "string",
                "description": (
                    "Earliest allowed instant, ISO 8601, inclusive; taken as UTC "
                    "without an offset."
                ),
            },
            "max": {
                "type": "string",
                "description": (
                    "Latest allowed instant, ISO 8601, inclusive; taken as UTC "
                    "without an offset."
                ),
            },
            "require_offset": {
                "type": "boolean",
                "default": True,
                "description": (
                    "Reject values without a UTC offset such as +03:00 or Z; "
                    "default true. Values without one are compared as UTC."
                ),
            },
        }
    )

    def validate_config(self, block: Block, context: ConfigContext) -> list[Problem]:
        """Check the schema, that min and max are ISO datetimes, and min <= max."""
        problems = super().validate_config(block, context)
        if problems:
            return problems
        bounds: dict[str, datetime] = {}
        for key in ("min", "max"):
            if key not in block.config:
                continue
            try:
                bounds[key] = instant(parse_datetime(block.config[key]))
            except ValueProblem as problem:
                problems.append(config_problem((key,), f"Invalid {key}: {problem}"))
        if "min" in bounds and "max" in bounds and bounds["min"] > bounds["max"]:
            problems.append(_swapped_bounds(block))
        return problems

    def output_type(self, block: Block, types: TypeLibrary) -> GraphQLOutputType:
        """Return the ``DateTime`` scalar."""
        return types.datetime

    def input_type(self, block: Block, types: TypeLibrary) -> GraphQLInputType | None:
        """Return the ``DateTime`` scalar."""
        return types.datetime

    async def normalize(self, block: Block, value: Any, context: ValueContext) -> Any:
        """Check the datetime, its offset and its bounds; return it in ISO 8601."""
        moment = parse_datetime(value)
        if moment.tzinfo is None and block.config.get("require_offset", True):
            raise ValueProblem(
                ErrorCode.INVALID,
                f"Expected a date and time with a UTC offset, such as "
                f"{DATETIME_EXAMPLE}, got {describe(value)}; add the offset of the "
                "time zone, or Z for UTC.",
            )
        low = block.config.get("min")
        high = block.config.get("max")
        if low is not None and instant(moment) < instant(parse_datetime(low)):
            raise ValueProblem(
                ErrorCode.OUT_OF_RANGE,
                f"Expected a date and time at or after {low}, got "
                f"{moment.isoformat()}.",
            )
        if high is not None and instant(moment) > instant(parse_datetime(high)):
            raise ValueProblem(
                ErrorCode.OUT_OF_RANGE,
                f"Expected a date and time at or before {high}, got "
                f"{moment.isoformat()}.",
            )
        return moment.isoformat()

    def to_expression(self, block: Block, stored: Any) -> Any:
        """Return the stored value as a ``datetime.datetime`` with its offset."""
        return None if stored is None else datetime.fromisoformat(stored)

    def index_value(self, block: Block, stored: Any) -> Any:
        """Return the instant as an ISO string in UTC, so text order is time order.

        A stored value without an offset is indexed as it is, taken as UTC.
        """
        if stored is None:
            return None
        moment = datetime.fromisoformat(stored)
        if moment.tzinfo is None:
            return moment.isoformat()
        return moment.astimezone(UTC).isoformat()


def _swapped_bounds(block: Block) -> Problem:
    return config_problem(
        ("min",),
        f"The min {block.config['min']} is later than the max "
        f"{block.config['max']}; swap them.",
    )
