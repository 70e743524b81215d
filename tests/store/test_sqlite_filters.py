import json
import math
import random
import re
import sqlite3
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest

from blocks.filters import (
    Compare,
    FilterNode,
    ListCompare,
    ListOperator,
    Not,
    Operand,
    Operator,
    OrderBy,
    WithinRadius,
)
from store.sqlite.filters import (
    EARTH_RADIUS_M,
    SQL_FUNCTIONS,
    _bounding_box,
    compile_filter,
    datetime_key,
    distance_m,
    fold_case,
    json_path,
    sort_key_sql,
    time_key,
)

INJECTION = "'); DROP TABLE t; --"


@pytest.fixture
def db() -> Iterator[sqlite3.Connection]:
    connection = sqlite3.connect(":memory:")
    for name, arguments, function in SQL_FUNCTIONS:
        connection.create_function(name, arguments, function, deterministic=True)
    connection.execute("CREATE TABLE t (data TEXT NOT NULL)")
    yield connection
    connection.close()


def _insert(db: sqlite3.Connection, *rows: dict[str, Any]) -> None:
    db.executemany("INSERT INTO t (data) VALUES (?)", [(json.dumps(r),) for r in rows])


def _evaluate(db: sqlite3.Connection, node: FilterNode) -> list[Any]:
    sql, params = compile_filter(node, "t.data")
    return [row[0] for row in db.execute(f"SELECT {sql} FROM t", params)]


def test_json_path_quotes_each_key() -> None:
    assert json_path(("site", "lat")) == '\'$."site"."lat"\''


@pytest.mark.parametrize("key", ["a.b", "a:b", "a-b", "_a1", "Seedling_1"])
def test_json_path_accepts_block_ids(db: sqlite3.Connection, key: str) -> None:
    _insert(db, {key: "found", "a": {"b": "nested"}})

    (value,) = db.execute(f"SELECT json_extract(data, {json_path((key,))}) FROM t")

    assert value == ("found",)


@pytest.mark.parametrize(
    "key",
    ['a"b', "a'b", "a\\b", "", "1abc", "a b", "caf\u00e9", "x" * 129, 1, INJECTION],
)
def test_json_path_rejects_key(key: Any) -> None:
    with pytest.raises(ValueError, match="Invalid key"):
        json_path((key,))


def test_json_path_rejects_empty_path() -> None:
    with pytest.raises(ValueError, match="empty path"):
        json_path(())


def test_compile_filter_binds_values() -> None:
    sql, params = compile_filter(Compare(("title",), Operator.EQ, INJECTION), "t.data")

    assert INJECTION not in sql
    assert params == [INJECTION]


def test_compile_filter_injection_is_inert(db: sqlite3.Connection) -> None:
    _insert(db, {"title": INJECTION})

    result = _evaluate(db, Compare(("title",), Operator.CONTAINS, INJECTION))
    (tables,) = db.execute("SELECT count(*) FROM sqlite_master WHERE name = 't'")

    assert result == [1]
    assert tables == (1,)


def test_compile_filter_escapes_like_wildcards() -> None:
    _, params = compile_filter(
        Compare(("title",), Operator.CONTAINS, "50%_\\X"), "t.data"
    )

    assert params == ["%50\\%\\_\\\\x%"]


def test_compile_filter_folds_unicode_case(db: sqlite3.Connection) -> None:
    _insert(db, {"title": "STRASSE \u00c9T\u00c9"})

    result = _evaluate(
        db, Compare(("title",), Operator.CONTAINS, "stra\u00dfe \u00e9t\u00e9")
    )

    assert result == [1]


def test_compile_filter_number_param_is_fixed_point() -> None:
    _, params = compile_filter(
        Compare(("n",), Operator.EQ, Decimal("9.007199254740993E+15"), Operand.NUMBER),
        "t.data",
    )

    assert params == ["9007199254740993"]


NEVER_NULL_NODES = [
    Compare(("x",), Operator.EQ, "a"),
    Compare(("x",), Operator.NE, "a"),
    Compare(("x",), Operator.LT, Decimal(1), Operand.NUMBER),
    Compare(("x",), Operator.IN, ("a", None)),
    Compare(("x",), Operator.NOT_IN, ("a", None)),
    Compare(("x",), Operator.CONTAINS, "a"),
    Compare(("x",), Operator.GT, "2024-01-01T00:00:00Z", Operand.DATETIME),
    Compare(("x",), Operator.NE, "2024-01-01T00:00:00Z", Operand.DATETIME),
    Compare(("x",), Operator.LT, "12:00:00", Operand.TIME),
    ListCompare(("x",), ListOperator.HAS_ALL, ("a",)),
    WithinRadius(("x",), Decimal(0), Decimal(0), Decimal(10)),
]


@pytest.mark.parametrize("node", NEVER_NULL_NODES, ids=lambda n: type(n).__name__)
def test_compiled_condition_is_never_null(
    db: sqlite3.Connection, node: FilterNode
) -> None:
    _insert(db, {}, {"x": None}, {"x": "b"}, {"x": {"lat": None}})

    results = _evaluate(db, node) + _evaluate(db, Not(node))

    assert set(results) <= {0, 1}


def test_not_is_complement(db: sqlite3.Connection) -> None:
    _insert(db, {}, {"x": None}, {"x": 5}, {"x": 7})
    node = Compare(("x",), Operator.GT, 6, Operand.NUMBER)

    matched = _evaluate(db, node)
    negated = _evaluate(db, Not(node))

    assert [a + b for a, b in zip(matched, negated, strict=True)] == [1, 1, 1, 1]


@pytest.mark.parametrize(
    ("node", "message"),
    [
        (Compare(("n",), Operator.EQ, "abc", Operand.NUMBER), "number"),
        (Compare(("n",), Operator.EQ, True, Operand.NUMBER), "number"),
        (Compare(("n",), Operator.EQ, Decimal("NaN"), Operand.NUMBER), "finite"),
        (Compare(("b",), Operator.EQ, "yes", Operand.BOOLEAN), "true or false"),
        (Compare(("t",), Operator.EQ, 5), "string"),
        (Compare(("t",), Operator.IS_NULL, "yes"), "true or false"),
        (Compare(("t",), Operator.LT, ("a", "b")), "one value"),
        (Compare(("t",), Operator.IN, "a"), "list"),
        (Compare(("t",), Operator.CONTAINS, 5), "text"),
        (
            Compare(("d",), Operator.GT, "not a time", Operand.DATETIME),
            "Invalid filter value 'not a time': expected an ISO 8601 date and "
            "time such as 2026-12-04T14:30:00Z.",
        ),
        (
            Compare(("d",), Operator.IN, ("2024-01-01", "soon"), Operand.DATETIME),
            "Invalid filter value 'soon'",
        ),
        (
            Compare(("d",), Operator.EQ, "25:00", Operand.TIME),
            "Invalid filter value '25:00': expected an ISO 8601 time such as "
            "14:30:00+03:00.",
        ),
        (Compare(("d",), Operator.EQ, 5, Operand.DATETIME), "string"),
        (WithinRadius(("p",), Decimal("NaN"), Decimal(0), Decimal(1)), "finite"),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_compile_filter_rejects_value(node: FilterNode, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        compile_filter(node, "t.data")


def test_compile_filter_rejects_non_node() -> None:
    with pytest.raises(TypeError, match="filter node"):
        compile_filter("title = 1", "t.data")  # type: ignore[arg-type]


def test_list_filter_skips_non_list(db: sqlite3.Connection) -> None:
    _insert(db, {"tags": "red"}, {"tags": ["red"]})

    result = _evaluate(db, ListCompare(("tags",), ListOperator.HAS, ("red",)))

    assert result == [0, 1]


def test_sort_key_number_casts() -> None:
    key = sort_key_sql(OrderBy(("n",), operand=Operand.NUMBER), "t.data")

    assert key == "CAST(json_extract(t.data, '$.\"n\"') AS NUMERIC)"


def test_sort_key_datetime_is_utc_key() -> None:
    key = sort_key_sql(OrderBy(("at",), operand=Operand.DATETIME), "t.data")

    assert key == "ag_datetime_key(json_extract(t.data, '$.\"at\"'))"


def test_sort_key_time_is_utc_key() -> None:
    key = sort_key_sql(OrderBy(("at",), operand=Operand.TIME), "t.data")

    assert key == "ag_time_key(json_extract(t.data, '$.\"at\"'))"


def test_sort_key_record_column_datetime() -> None:
    key = sort_key_sql(OrderBy(("$created_at",), operand=Operand.DATETIME), "r.data")

    assert key == "ag_datetime_key(r.created_at)"


def test_compile_filter_binds_datetime_key() -> None:
    node = Compare(
        ("at",), Operator.EQ, "2024-01-01T10:00:00+05:45:30", Operand.DATETIME
    )

    sql, params = compile_filter(node, "t.data")

    assert sql == "coalesce(ag_datetime_key(json_extract(t.data, '$.\"at\"')) = ?, 0)"
    assert params == ["02024-01-01T04:14:30.000000Z"]


@pytest.mark.parametrize(
    ("value", "key"),
    [
        ("2024-01-01T10:00:00+05:45:30", "02024-01-01T04:14:30.000000Z"),
        ("2024-01-01T04:14:30Z", "02024-01-01T04:14:30.000000Z"),
        ("2024-01-01T04:14:30.5-00:00", "02024-01-01T04:14:30.500000Z"),
        ("2024-01-01T04:14:30.123456789+00:00", "02024-01-01T04:14:30.123456Z"),
        ("2024-01-01T10:00:00+05:45:30.25", "02024-01-01T04:14:29.750000Z"),
        ("2024-01-01T04:14:30", "02024-01-01T04:14:30.000000Z"),
        ("2024-01-01", "02024-01-01T00:00:00.000000Z"),
        ("2024-03-01T01:00:00+02:00", "02024-02-29T23:00:00.000000Z"),
        ("9999-12-31T23:59:59-12:00", "10000-01-01T11:59:59.000000Z"),
        ("9999-12-31T23:59:59.999999", "09999-12-31T23:59:59.999999Z"),
        ("0001-01-01T00:00:00+01:00", "00000-12-31T23:00:00.000000Z"),
        ("0001-01-01T00:00:00+23:59:59.999999", "00000-12-31T00:00:00.000001Z"),
        ("0001-03-01T00:00:00+23:00", "00001-02-28T01:00:00.000000Z"),
    ],
)
def test_datetime_key_of_value(value: str, key: str) -> None:
    assert datetime_key(value) == key


@pytest.mark.parametrize(
    "value", ["", "soon", "2024-02-30T00:00:00Z", "10:00", 5, None]
)
def test_datetime_key_of_invalid_is_null(value: object) -> None:
    assert datetime_key(value) is None


_SPAN_MICROSECONDS = (datetime.max - datetime.min) // timedelta(microseconds=1)


def _random_moment(rng: random.Random) -> datetime:
    if rng.random() < 0.3:
        local = rng.choice([datetime.min, datetime.max])
    else:
        local = datetime.min + timedelta(microseconds=rng.randrange(_SPAN_MICROSECONDS))
    if rng.random() < 0.1:
        return local
    offset = timedelta(microseconds=rng.randrange(-86_399_999_999, 86_400_000_000))
    return local.replace(tzinfo=timezone(offset))


def _microseconds_since_year_1(moment: datetime) -> int:
    offset = moment.utcoffset() or timedelta(0)
    local = moment.replace(tzinfo=None) - datetime.min
    return (local - offset) // timedelta(microseconds=1)


def test_datetime_key_orders_as_instants() -> None:
    rng = random.Random(20240101)
    moments = [_random_moment(rng) for _ in range(2000)]
    moments += [moments[0].astimezone(timezone(timedelta(hours=h))) for h in (-5, 7)]

    by_key = sorted(moments, key=lambda m: (datetime_key(m.isoformat()), id(m)))
    exact = sorted(moments, key=lambda m: (_microseconds_since_year_1(m), id(m)))
    keys = [datetime_key(m.isoformat()) for m in moments]

    assert [_microseconds_since_year_1(m) for m in by_key] == [
        _microseconds_since_year_1(m) for m in exact
    ]
    assert {len(k or "") for k in keys} == {28}
    assert len(set(keys)) == len({_microseconds_since_year_1(m) for m in moments})


@pytest.mark.parametrize(
    ("value", "key"),
    [
        ("00:00:00Z", "02000-01-01T00:00:00.000000Z"),
        ("10:30:00+02:00", "02000-01-01T08:30:00.000000Z"),
        ("01:00:00+02:00", "01999-12-31T23:00:00.000000Z"),
        ("23:00:00.25-02:00", "02000-01-02T01:00:00.250000Z"),
        ("08:30:00+05:45:30", "02000-01-01T02:44:30.000000Z"),
        ("08:30", "02000-01-01T08:30:00.000000Z"),
    ],
)
def test_time_key_of_value(value: str, key: str) -> None:
    assert time_key(value) == key


@pytest.mark.parametrize("value", ["", "25:00", "2024-01-01T10:00:00Z", 5, None])
def test_time_key_of_invalid_is_null(value: object) -> None:
    assert time_key(value) is None


def test_datetime_filter_skips_invalid_stored(db: sqlite3.Connection) -> None:
    _insert(db, {"at": "soon"}, {"at": 5}, {"at": "2024-01-01T00:00:00Z"})
    after = Compare(("at",), Operator.GT, "2000-01-01T00:00:00Z", Operand.DATETIME)
    other = Compare(("at",), Operator.NE, "2024-01-01T00:00:00Z", Operand.DATETIME)

    assert _evaluate(db, after) == [0, 0, 1]
    assert _evaluate(db, other) == [1, 1, 0]


def test_distance_one_degree_of_latitude() -> None:
    expected = EARTH_RADIUS_M * math.pi / 180

    assert distance_m(0.0, 10.0, 1.0, 10.0) == pytest.approx(expected, rel=1e-12)


def test_distance_across_antimeridian() -> None:
    expected = EARTH_RADIUS_M * math.radians(0.002)

    assert distance_m(0.0, 179.999, 0.0, -179.999) == pytest.approx(expected)


def test_distance_of_point_to_itself() -> None:
    assert distance_m(52.52, 13.405, 52.52, 13.405) == 0.0


def test_distance_with_null_is_null() -> None:
    assert distance_m(None, 13.405, 52.52, 13.405) is None


def _destination(
    lat: float, lng: float, bearing: float, meters: float
) -> tuple[float, float]:
    angular = meters / EARTH_RADIUS_M
    phi, theta = math.radians(lat), math.radians(bearing)
    end_phi = math.asin(
        math.sin(phi) * math.cos(angular)
        + math.cos(phi) * math.sin(angular) * math.cos(theta)
    )
    end_lambda = math.radians(lng) + math.atan2(
        math.sin(theta) * math.sin(angular) * math.cos(phi),
        math.cos(angular) - math.sin(phi) * math.sin(end_phi),
    )
    return math.degrees(end_phi), math.degrees(end_lambda)


@pytest.mark.parametrize("center_lat", [0.0, 45.0, 60.0, -70.0])
def test_bounding_box_contains_circle(center_lat: float) -> None:
    lat_min, lat_max, lng_span = _bounding_box(center_lat, 10.0, 10_000.0)
    assert lng_span is not None
    edge = [_destination(center_lat, 10.0, b, 10_000.0) for b in range(0, 360, 3)]

    assert all(lat_min <= lat <= lat_max for lat, _ in edge)
    assert all(lng_span[0] <= lng <= lng_span[1] for _, lng in edge)


def test_bounding_box_near_pole_spans_longitudes() -> None:
    *_, lng_span = _bounding_box(89.99, 0.0, 5_000.0)

    assert lng_span is None


def test_bounding_box_at_antimeridian_spans_longitudes() -> None:
    *_, lng_span = _bounding_box(0.0, 179.999, 1_000.0)

    assert lng_span is None


def test_radius_near_pole_finds_far_longitude(db: sqlite3.Connection) -> None:
    _insert(db, {"p": {"lat": 89.999, "lng": 170.0}})

    result = _evaluate(
        db, WithinRadius(("p",), Decimal("89.999"), Decimal("-10"), Decimal("300"))
    )

    assert result == [1]


def test_radius_reads_numeric_strings(db: sqlite3.Connection) -> None:
    _insert(db, {"p": {"lat": "52.52", "lng": "13.405"}})

    result = _evaluate(
        db, WithinRadius(("p",), Decimal("52.52"), Decimal("13.405"), Decimal("1"))
    )

    assert result == [1]


def test_fold_case_of_null_is_null() -> None:
    assert fold_case(None) is None


def test_fold_case_of_number_is_text() -> None:
    assert fold_case(12) == "12"
