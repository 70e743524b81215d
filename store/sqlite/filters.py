"""Compile :mod:`blocks.filters` nodes into SQLite conditions and sort keys.

Filter values always travel as bound parameters. Field paths become JSON
path literals such as ``'$."site"."lat"'`` in the SQL text, which lets
SQLite use expression indexes on them, so every key must match
:data:`KEY_PATTERN` (which admits no quote or backslash).

Every compiled condition evaluates to 0 or 1, never NULL, so :class:`Not`
is the exact complement of its node. A missing key and a JSON null are the
same to every operator: ``EQ``, ``LT`` and their kind do not match them,
while ``NE`` and ``NOT_IN`` do.

Datetimes and times compare by the UTC key of :func:`datetime_key` and
:func:`time_key`, computed by SQL functions on the stored side and in Python
on the filter side. A stored value that does not parse has no key, so the
comparison operators and the sort order treat it like a missing value, but
``is_null`` still counts it as present.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation

from blocks.filters import (
    RECORD_COLUMNS,
    And,
    Compare,
    FieldPath,
    FilterNode,
    ListCompare,
    ListOperator,
    Not,
    Operand,
    Operator,
    Or,
    OrderBy,
    Scalar,
    WithinRadius,
)

KEY_PATTERN = re.compile(r"[A-Za-z_][A-Za-z0-9_.:-]{0,127}")
"""Keys allowed in a field path: block ids and the keys of stored objects."""

EARTH_RADIUS_M = 6_371_008.8
"""Mean Earth radius in metres (IUGG), used for distances on a sphere."""

_LIKE_ESCAPE = "\\"

_GREGORIAN_CYCLE = timedelta(days=146_097)
"""Length of 400 Gregorian years, after which dates and leap years repeat."""

_TIME_KEY_DATE = date(2000, 1, 1)
"""Day on which :func:`time_key` places a time of day."""

_COMPARISONS = {
    Operator.EQ: "=",
    Operator.LT: "<",
    Operator.LTE: "<=",
    Operator.GT: ">",
    Operator.GTE: ">=",
}


def json_path(path: FieldPath) -> str:
    """Return the SQL string literal of the JSON path to ``path`` in the data.

    Raises:
        ValueError: the path is empty or a key does not match
            :data:`KEY_PATTERN`.
    """
    if not path:
        raise ValueError("A field path needs at least one key, got an empty path.")
    for key in path:
        if not isinstance(key, str) or not KEY_PATTERN.fullmatch(key):
            raise ValueError(
                f"Invalid key {key!r} in field path {path!r}: expected a block id "
                f"of letters, digits, '_', '-', '.' or ':' that starts with a "
                f"letter or '_' (at most 128 characters)."
            )
    return "'$" + "".join(f'."{key}"' for key in path) + "'"


def compile_filter(node: FilterNode, column: str) -> tuple[str, list[object]]:
    """Return the SQL condition for ``node`` and its bound parameters.

    Args:
        node: The filter to compile.
        column: SQL expression of the JSON data column, such as ``r.data``.
            It is spliced into the SQL text, so it must come from code.

    Raises:
        ValueError: a path is invalid, or a value does not suit its operand.
    """
    compiler = _Compiler(column)
    sql = compiler.compile(node)
    return sql, compiler.params


def sort_key_sql(order: OrderBy, column: str) -> str:
    """Return the SQL expression that ``order`` sorts by."""
    return _value_sql(order.path, order.operand, column)


# SQL functions registered on every connection ------------------------------


def distance_m(
    lat1: float | None, lng1: float | None, lat2: float | None, lng2: float | None
) -> float | None:
    """Return the great-circle distance in metres between two points.

    Uses the haversine formula on a sphere of :data:`EARTH_RADIUS_M`.
    Returns None when any coordinate is None, as SQL functions do for NULL.
    """
    if lat1 is None or lng1 is None or lat2 is None or lng2 is None:
        return None
    phi1 = math.radians(lat1)
    phi2 = math.radians(lat2)
    half_dphi = (phi2 - phi1) / 2
    half_dlambda = math.radians(lng2 - lng1) / 2
    a = (
        math.sin(half_dphi) ** 2
        + math.cos(phi1) * math.cos(phi2) * math.sin(half_dlambda) ** 2
    )
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


def fold_case(value: object) -> str | None:
    """Return ``value`` as case-folded text for case-insensitive matching."""
    if value is None:
        return None
    return str(value).casefold()


def datetime_key(value: object) -> str | None:
    """Return the UTC instant of an ISO 8601 datetime as sortable fixed-width text.

    The key has the form ``YYYYY-MM-DDTHH:MM:SS.ffffffZ`` with a five-digit
    year, so comparing keys as text compares instants. Any offset that Python
    parses is applied, including offsets with seconds, and a value without an
    offset is taken as UTC. An offset is under 24 hours, so the instant of any
    value from year 1 to 9999 lies in the years 0 to 10000, which the year
    field holds. Digits past microseconds are dropped, as
    :meth:`datetime.fromisoformat` drops them.

    Returns None when ``value`` is not a string that
    :meth:`datetime.fromisoformat` accepts.
    """
    # NOTE: a Mongo backend cannot run this function inside a query. It would
    # store the key beside the value when it writes a record (for example under
    # "_keys.<block id>"), index that field, and compare against filter values
    # passed through this same function. BSON dates would lose microseconds.
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return _utc_key(moment)


def time_key(value: object) -> str | None:
    """Return the UTC key of an ISO 8601 time of day, placed on 2000-01-01.

    An offset can move the instant to the day before or after, so
    ``01:00:00+02:00`` sorts before ``00:00:00Z``. A time without an offset
    is taken as UTC. Returns None when ``value`` is not a string that
    :meth:`time.fromisoformat` accepts.
    """
    if not isinstance(value, str):
        return None
    try:
        moment = time.fromisoformat(value)
    except ValueError:
        return None
    return _utc_key(datetime.combine(_TIME_KEY_DATE, moment))


def _utc_key(moment: datetime) -> str:
    offset = moment.utcoffset() or timedelta(0)
    local = moment.replace(tzinfo=None)
    # datetime holds only the years 1 to 9999. An instant outside them is
    # computed 400 years inside, where the calendar is the same, and the
    # year is corrected afterwards.
    year_shift = 0
    if offset > timedelta(0) and local - datetime.min < offset:
        local += _GREGORIAN_CYCLE
        year_shift = -400
    elif offset < timedelta(0) and datetime.max - local < -offset:
        local -= _GREGORIAN_CYCLE
        year_shift = 400
    utc = local - offset
    return (
        f"{utc.year + year_shift:05d}-{utc.month:02d}-{utc.day:02d}"
        f"T{utc.hour:02d}:{utc.minute:02d}:{utc.second:02d}.{utc.microsecond:06d}Z"
    )


SQL_FUNCTIONS: tuple[tuple[str, int, Callable[..., float | str | None]], ...] = (
    ("ag_distance_m", 4, distance_m),
    ("ag_fold", 1, fold_case),
    ("ag_datetime_key", 1, datetime_key),
    ("ag_time_key", 1, time_key),
)
"""Name, argument count and implementation of each deterministic SQL function."""


# Compiler ------------------------------------------------------------------


def _raw_sql(path: FieldPath, column: str) -> str:
    if len(path) == 1 and path[0] in RECORD_COLUMNS:
        # The record's own columns sit beside the data column in the same row.
        table = column.rpartition(".")[0]
        name = path[0][1:]
        return f"{table}.{name}" if table else name
    return f"json_extract({column}, {json_path(path)})"


def _value_sql(path: FieldPath, operand: Operand, column: str) -> str:
    raw = _raw_sql(path, column)
    if operand is Operand.NUMBER:
        # NOTE: integers within 64 bits compare exactly. Decimals (stored as
        # strings) become REAL, so values with more than 15 significant digits
        # compare approximately in SQLite.
        return f"CAST({raw} AS NUMERIC)"
    # NOTE: these keys are computed in Python for every row compared or
    # sorted, and no index serves them. In one measurement (100,000 rows in
    # memory, SQLite 3.40, Python 3.11) sorting took about ten times as long
    # as with SQLite's own julianday().
    if operand is Operand.DATETIME:
        return f"ag_datetime_key({raw})"
    if operand is Operand.TIME:
        return f"ag_time_key({raw})"
    return raw


def _parameter_sql(operand: Operand) -> str:
    # Datetime and time filter values are bound as their keys, computed in
    # Python, so they need no conversion in SQL.
    if operand is Operand.NUMBER:
        return "CAST(? AS NUMERIC)"
    return "?"


def _bind_value(value: object, operand: Operand) -> object:
    if operand is Operand.NUMBER:
        return _bind_number(value)
    if operand is Operand.BOOLEAN:
        if not isinstance(value, bool):
            raise ValueError(f"A boolean filter expects true or false, got {value!r}.")
        return int(value)
    if not isinstance(value, str):
        raise ValueError(
            f"A {operand.value} filter expects a string value, got {value!r}."
        )
    if operand is Operand.DATETIME:
        return _bind_key(
            datetime_key(value), value, "date and time such as 2026-12-04T14:30:00Z"
        )
    if operand is Operand.TIME:
        return _bind_key(time_key(value), value, "time such as 14:30:00+03:00")
    return value


def _bind_key(key: str | None, value: str, expected: str) -> str:
    if key is None:
        raise ValueError(
            f"Invalid filter value {value!r}: expected an ISO 8601 {expected}."
        )
    return key


def _bind_number(value: object) -> str:
    if isinstance(value, bool) or not isinstance(value, int | Decimal | str):
        raise ValueError(f"A number filter expects a number, got {value!r}.")
    try:
        number = Decimal(value)
    except InvalidOperation:
        raise ValueError(f"A number filter expects a number, got {value!r}.") from None
    if not number.is_finite():
        raise ValueError(f"A number filter expects a finite number, got {value!r}.")
    # Fixed-point text keeps big integers exact: SQLite reads the exponent
    # form "9.007199254740993E+15" through a double and loses the last digit.
    return format(number, "f")


def _like_pattern(text: str, *, prefix_only: bool) -> str:
    escaped = (
        text.casefold()
        .replace(_LIKE_ESCAPE, _LIKE_ESCAPE * 2)
        .replace("%", _LIKE_ESCAPE + "%")
        .replace("_", _LIKE_ESCAPE + "_")
    )
    return escaped + "%" if prefix_only else "%" + escaped + "%"


def _bind_list_value(value: Scalar) -> object:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return value


@dataclass
class _Compiler:
    column: str
    params: list[object] = field(default_factory=list)

    def compile(self, node: FilterNode) -> str:
        if isinstance(node, Compare):
            return self._compare(node)
        if isinstance(node, ListCompare):
            return self._list_compare(node)
        if isinstance(node, WithinRadius):
            return self._within_radius(node)
        if isinstance(node, And):
            return self._join(node.nodes, "AND", empty="1")
        if isinstance(node, Or):
            return self._join(node.nodes, "OR", empty="0")
        if isinstance(node, Not):
            return f"(NOT {self.compile(node.node)})"
        raise TypeError(f"Expected a filter node, got {type(node).__name__}.")

    def _join(self, nodes: tuple[FilterNode, ...], joiner: str, empty: str) -> str:
        if not nodes:
            return empty
        return "(" + f" {joiner} ".join(self.compile(n) for n in nodes) + ")"

    def _compare(self, node: Compare) -> str:
        raw = _raw_sql(node.path, self.column)
        operator = node.operator
        if operator is Operator.IS_NULL:
            if not isinstance(node.value, bool):
                raise ValueError(f"is_null expects true or false, got {node.value!r}.")
            return f"({raw} IS NULL)" if node.value else f"({raw} IS NOT NULL)"
        if operator in (Operator.IN, Operator.NOT_IN):
            return self._membership(node)
        if isinstance(node.value, tuple):
            raise ValueError(
                f"Operator {operator.value} expects one value, got a list. "
                f"Use in or not_in for lists."
            )
        if node.value is None and operator in (Operator.EQ, Operator.NE):
            return (
                f"({raw} IS NULL)"
                if operator is Operator.EQ
                else f"({raw} IS NOT NULL)"
            )
        if operator in (Operator.CONTAINS, Operator.STARTS_WITH):
            return self._like(node, raw)

        value = _value_sql(node.path, node.operand, self.column)
        parameter = _parameter_sql(node.operand)
        self.params.append(_bind_value(node.value, node.operand))
        if operator is Operator.NE:
            return f"coalesce({value} <> {parameter}, 1)"
        return f"coalesce({value} {_COMPARISONS[operator]} {parameter}, 0)"

    def _membership(self, node: Compare) -> str:
        if not isinstance(node.value, tuple):
            raise ValueError(
                f"Operator {node.operator.value} expects a list of values, "
                f"got {node.value!r}."
            )
        raw = _raw_sql(node.path, self.column)
        values = [v for v in node.value if v is not None]
        with_null = len(values) < len(node.value)
        negate = node.operator is Operator.NOT_IN

        if values:
            value = _value_sql(node.path, node.operand, self.column)
            placeholders = ", ".join(_parameter_sql(node.operand) for _ in values)
            self.params.extend(_bind_value(v, node.operand) for v in values)
            if negate:
                listed = f"coalesce({value} NOT IN ({placeholders}), 1)"
            else:
                listed = f"coalesce({value} IN ({placeholders}), 0)"
        else:
            listed = "1" if negate else "0"

        if not with_null:
            return listed
        if negate:
            return f"({listed} AND {raw} IS NOT NULL)"
        return f"({listed} OR {raw} IS NULL)"

    def _like(self, node: Compare, raw: str) -> str:
        if not isinstance(node.value, str):
            raise ValueError(
                f"Operator {node.operator.value} expects text, got {node.value!r}."
            )
        prefix_only = node.operator is Operator.STARTS_WITH
        self.params.append(_like_pattern(node.value, prefix_only=prefix_only))
        return f"coalesce(ag_fold({raw}) LIKE ? ESCAPE '{_LIKE_ESCAPE}', 0)"

    def _list_compare(self, node: ListCompare) -> str:
        path = json_path(node.path)
        is_array = f"coalesce(json_type({self.column}, {path}) = 'array', 0)"

        def has(values: tuple[Scalar, ...]) -> str:
            self.params.extend(_bind_list_value(v) for v in values)
            matches = " OR ".join("e.value IS ?" for _ in values)
            return (
                f"EXISTS (SELECT 1 FROM json_each({self.column}, {path}) AS e "
                f"WHERE {matches})"
            )

        if node.operator is ListOperator.HAS_ANY:
            if not node.values:
                return "0"
            return f"({is_array} AND {has(node.values)})"
        # HAS and HAS_ALL: every value must be in the list, so an empty
        # tuple of values matches every record.
        if not node.values:
            return "1"
        all_present = " AND ".join(has((v,)) for v in node.values)
        return f"({is_array} AND {all_present})"

    def _within_radius(self, node: WithinRadius) -> str:
        center_lat = float(node.lat)
        center_lng = float(node.lng)
        meters = float(node.meters)
        if not all(math.isfinite(v) for v in (center_lat, center_lng, meters)):
            raise ValueError(
                f"A radius filter expects finite numbers, got lat={node.lat}, "
                f"lng={node.lng}, meters={node.meters}."
            )
        if meters < 0:
            return "0"

        lat = f"CAST({_raw_sql((*node.path, 'lat'), self.column)} AS REAL)"
        lng = f"CAST({_raw_sql((*node.path, 'lng'), self.column)} AS REAL)"
        conditions = [f"{lat} BETWEEN ? AND ?"]
        lat_min, lat_max, lng_span = _bounding_box(center_lat, center_lng, meters)
        self.params.extend([lat_min, lat_max])
        if lng_span is not None:
            conditions.append(f"{lng} BETWEEN ? AND ?")
            self.params.extend(lng_span)
        conditions.append(f"ag_distance_m({lat}, {lng}, ?, ?) <= ?")
        self.params.extend([center_lat, center_lng, meters])
        return "coalesce(" + " AND ".join(conditions) + ", 0)"


_BOX_MARGIN_DEGREES = 1e-9
"""Widening of the prefilter box (about 0.1 mm) so that rounding in the box
never drops a point that the exact distance test keeps."""


def _bounding_box(
    lat: float, lng: float, meters: float
) -> tuple[float, float, tuple[float, float] | None]:
    """Return latitude bounds and longitude bounds of a circle's bounding box.

    The longitude bounds are None when the circle covers a pole or crosses
    the antimeridian, because the box then spans every longitude.
    """
    angular = meters / EARTH_RADIUS_M
    delta_lat = math.degrees(angular) + _BOX_MARGIN_DEGREES
    lat_min = lat - delta_lat
    lat_max = lat + delta_lat
    if lat_min <= -90 or lat_max >= 90:
        return lat_min, lat_max, None
    # The widest longitude offset of a circle of angular radius r centred at
    # latitude phi is asin(sin r / cos phi).
    ratio = math.sin(angular) / math.cos(math.radians(lat))
    delta_lng = math.degrees(math.asin(min(1.0, ratio))) + _BOX_MARGIN_DEGREES
    if lng - delta_lng < -180 or lng + delta_lng > 180:
        return lat_min, lat_max, None
    return lat_min, lat_max, (lng - delta_lng, lng + delta_lng)
