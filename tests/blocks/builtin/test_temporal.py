from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta, timezone
from typing import Any

import pytest

from blocks.base import ConfigContext, IndexKind, ValueContext
from blocks.builtin.temporal import DateBlockType, DateTimeBlockType, TimeBlockType
from blocks.definition import Block
from blocks.errors import ErrorCode, ValueProblem
from blocks.filters import Compare, Operand, Operator
from blocks.types import DateScalar, DateTimeScalar, TimeScalar, TypeLibrary

DATE = DateBlockType()
TIME = TimeBlockType()
DATETIME = DateTimeBlockType()


def date_block(**config: Any) -> Block:
    return Block("visit", "date", config=config)


def datetime_block(**config: Any) -> Block:
    return Block("seen_at", "datetime", config=config)


# date ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "stored"),
    [
        ("2026-12-04", "2026-12-04"),
        ("20261204", "2026-12-04"),
        (date(2026, 12, 4), "2026-12-04"),
    ],
)
async def test_date_accepts(context: ValueContext, value: object, stored: str) -> None:
    assert await DATE.normalize(date_block(), value, context) == stored


@pytest.mark.parametrize(
    ("value", "code", "fragment"),
    [
        ("2026-02-30", ErrorCode.INVALID, "such as 2026-12-04"),
        ("04/12/2026", ErrorCode.INVALID, "ISO 8601 date"),
        ("2026-12-04T10:00:00", ErrorCode.INVALID, "ISO 8601 date"),
        (20261204, ErrorCode.INVALID_TYPE, "ISO 8601 date"),
        (datetime(2026, 12, 4), ErrorCode.INVALID_TYPE, "ISO 8601 date"),
    ],
)
async def test_date_rejects(
    context: ValueContext, value: object, code: ErrorCode, fragment: str
) -> None:
    with pytest.raises(ValueProblem) as caught:
        await DATE.normalize(date_block(), value, context)
    assert caught.value.code is code
    assert fragment in caught.value.message


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("2025-12-31", "on or after 2026-01-01, got 2025-12-31"),
        ("2027-01-01", "on or before 2026-12-31, got 2027-01-01"),
    ],
)
async def test_date_out_of_range(
    context: ValueContext, value: str, fragment: str
) -> None:
    block = date_block(min="2026-01-01", max="2026-12-31")
    with pytest.raises(ValueProblem) as caught:
        await DATE.normalize(block, value, context)
    assert caught.value.code is ErrorCode.OUT_OF_RANGE
    assert fragment in caught.value.message


async def test_date_bounds_inclusive(context: ValueContext) -> None:
    block = date_block(min="2026-01-01", max="2026-12-31")
    assert await DATE.normalize(block, "2026-01-01", context) == "2026-01-01"
    assert await DATE.normalize(block, "2026-12-31", context) == "2026-12-31"


def test_date_config_invalid_bound() -> None:
    problems = DATE.validate_config(date_block(min="yesterday"), ConfigContext())
    assert [p.path for p in problems] == [("min",)]
    assert problems[0].code is ErrorCode.INVALID_CONFIG
    assert "2026-12-04" in problems[0].message


def test_date_config_min_after_max() -> None:
    block = date_block(min="2026-12-31", max="2026-01-01")
    problems = DATE.validate_config(block, ConfigContext())
    assert [p.path for p in problems] == [("min",)]
    assert "later than the max" in problems[0].message


def test_date_config_schema_error() -> None:
    problems = DATE.validate_config(date_block(min=20260101), ConfigContext())
    assert [p.path for p in problems] == [("min",)]


def test_date_types_and_values() -> None:
    types = TypeLibrary()
    block = date_block()
    assert DATE.output_type(block, types) is DateScalar
    assert DATE.input_type(block, types) is DateScalar
    assert str(DATE.filter_type(block, types)) == "DateFilter"
    assert DATE.operand is Operand.DATE
    assert DATE.index_kind is IndexKind.DATE
    assert DATE.to_expression(block, "2026-12-04") == date(2026, 12, 4)
    assert DATE.index_value(block, "2026-12-04") == "2026-12-04"


def test_date_filter_compiles() -> None:
    node = DATE.compile_filter(date_block(), ("visit",), {"lt": "2026-01-01"})
    assert node == Compare(("visit",), Operator.LT, "2026-01-01", Operand.DATE)


# time ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "stored"),
    [
        ("14:30", "14:30:00"),
        ("14:30:15.5", "14:30:15.500000"),
        ("14:30:00+03:00", "14:30:00+03:00"),
        (time(8, 5), "08:05:00"),
    ],
)
async def test_time_accepts(context: ValueContext, value: object, stored: str) -> None:
    assert await TIME.normalize(Block("t", "time"), value, context) == stored


@pytest.mark.parametrize(
    ("value", "code"),
    [
        ("25:00", ErrorCode.INVALID),
        ("2pm", ErrorCode.INVALID),
        (1430, ErrorCode.INVALID_TYPE),
    ],
)
async def test_time_rejects(
    context: ValueContext, value: object, code: ErrorCode
) -> None:
    with pytest.raises(ValueProblem) as caught:
        await TIME.normalize(Block("t", "time"), value, context)
    assert caught.value.code is code
    assert "such as 14:30:00" in caught.value.message


def test_time_types_and_values() -> None:
    types = TypeLibrary()
    block = Block("t", "time")
    assert TIME.output_type(block, types) is TimeScalar
    assert TIME.input_type(block, types) is TimeScalar
    assert str(TIME.filter_type(block, types)) == "TimeFilter"
    assert TIME.operand is Operand.TIME
    assert TIME.to_expression(block, "14:30:00") == time(14, 30)


def test_time_config_rejects_keys() -> None:
    problems = TIME.validate_config(
        Block("t", "time", config={"min": "08:00"}), ConfigContext()
    )
    assert [p.code for p in problems] == [ErrorCode.INVALID_CONFIG]


# datetime ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "stored"),
    [
        ("2026-12-04T14:30:00+03:00", "2026-12-04T14:30:00+03:00"),
        ("2026-12-04T14:30:00Z", "2026-12-04T14:30:00+00:00"),
        ("2026-12-04 14:30+05:30", "2026-12-04T14:30:00+05:30"),
        (
            datetime(2026, 12, 4, 14, 30, tzinfo=timezone(timedelta(hours=-5))),
            "2026-12-04T14:30:00-05:00",
        ),
    ],
)
async def test_datetime_keeps_offset(
    context: ValueContext, value: object, stored: str
) -> None:
    assert await DATETIME.normalize(datetime_block(), value, context) == stored


async def test_datetime_requires_offset(context: ValueContext) -> None:
    with pytest.raises(ValueProblem) as caught:
        await DATETIME.normalize(datetime_block(), "2026-12-04T14:30:00", context)
    assert caught.value.code is ErrorCode.INVALID
    assert "2026-12-04T14:30:00+03:00" in caught.value.message


async def test_datetime_offset_optional(context: ValueContext) -> None:
    block = datetime_block(require_offset=False)
    stored = await DATETIME.normalize(block, "2026-12-04T14:30:00", context)
    assert stored == "2026-12-04T14:30:00"


@pytest.mark.parametrize(
    ("value", "code"),
    [("2026-13-04T14:30:00Z", ErrorCode.INVALID), (1733322600, ErrorCode.INVALID_TYPE)],
)
async def test_datetime_rejects(
    context: ValueContext, value: object, code: ErrorCode
) -> None:
    with pytest.raises(ValueProblem) as caught:
        await DATETIME.normalize(datetime_block(), value, context)
    assert caught.value.code is code
    assert "ISO 8601 date and time" in caught.value.message


async def test_datetime_bounds_compare_instants(context: ValueContext) -> None:
    block = datetime_block(min="2026-12-04T12:00:00Z")
    # 14:30 at +03:00 is 11:30 UTC, before the bound although the local time is later.
    with pytest.raises(ValueProblem) as caught:
        await DATETIME.normalize(block, "2026-12-04T14:30:00+03:00", context)
    assert caught.value.code is ErrorCode.OUT_OF_RANGE
    assert "at or after 2026-12-04T12:00:00Z" in caught.value.message
    stored = await DATETIME.normalize(block, "2026-12-04T15:00:00+03:00", context)
    assert stored == "2026-12-04T15:00:00+03:00"


async def test_datetime_max_bound(context: ValueContext) -> None:
    block = datetime_block(max="2026-12-04T12:00:00+00:00", require_offset=False)
    with pytest.raises(ValueProblem) as caught:
        await DATETIME.normalize(block, "2026-12-04T12:00:01", context)
    assert caught.value.code is ErrorCode.OUT_OF_RANGE
    assert "at or before" in caught.value.message


def test_datetime_config_min_after_max() -> None:
    block = datetime_block(min="2026-12-04T12:00:00Z", max="2026-12-04T14:00:00+03:00")
    problems = DATETIME.validate_config(block, ConfigContext())
    assert [p.path for p in problems] == [("min",)]
    assert problems[0].code is ErrorCode.INVALID_CONFIG


def test_datetime_config_invalid_bound() -> None:
    problems = DATETIME.validate_config(datetime_block(max="soon"), ConfigContext())
    assert [p.path for p in problems] == [("max",)]


def test_datetime_config_require_offset_type() -> None:
    block = datetime_block(require_offset="yes")
    problems = DATETIME.validate_config(block, ConfigContext())
    assert [p.path for p in problems] == [("require_offset",)]


def test_datetime_types_and_values() -> None:
    types = TypeLibrary()
    block = datetime_block()
    assert DATETIME.output_type(block, types) is DateTimeScalar
    assert DATETIME.input_type(block, types) is DateTimeScalar
    filter_type = DATETIME.filter_type(block, types)
    assert str(filter_type) == "DateTimeFilter"
    assert DATETIME.operand is Operand.DATETIME
    expression = DATETIME.to_expression(block, "2026-12-04T14:30:00+03:00")
    assert expression == datetime(2026, 12, 4, 11, 30, tzinfo=UTC)
    assert expression.utcoffset() == timedelta(hours=3)


def test_datetime_index_value_in_utc() -> None:
    block = datetime_block()
    indexed = DATETIME.index_value(block, "2026-12-04T14:30:00+03:00")
    assert indexed == "2026-12-04T11:30:00+00:00"
    assert DATETIME.index_value(block, "2026-12-04T14:30:00") == "2026-12-04T14:30:00"
