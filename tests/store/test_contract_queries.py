import base64
import json
from decimal import Decimal
from typing import Any

import pytest

from blocks.errors import StorageError
from blocks.filters import (
    And,
    Compare,
    FilterNode,
    ListCompare,
    ListOperator,
    Not,
    Operand,
    Operator,
    Or,
    OrderBy,
    WithinRadius,
)
from store import App, InvalidCursorError, Record, SQLiteStore, Store
from tests.store.conftest import DEFINITION

BIG = 2**62 + 1
"""An integer that a double cannot hold exactly."""

BERLIN = (Decimal("52.52"), Decimal("13.405"))

DATA: dict[str, dict[str, Any]] = {
    "a": {
        "title": "Alpha",
        "amount": 10,
        "big": BIG,
        "active": True,
        "day": "2026-01-15",
        "at": "2026-03-01T10:00:00+02:00",
        "time": "09:00:00",
        "tags": ["red", "blue"],
        "site": {"lat": 52.52, "lng": 13.405},
        "address": {"city": "Berlin"},
    },
    "b": {
        "title": "beta",
        "amount": "10.50",
        "big": BIG - 1,
        "active": False,
        "day": "2026-02-01",
        "at": "2026-03-01T08:30:00Z",
        "time": "10:30:00+02:00",
        "tags": ["blue"],
        "site": {"lat": 52.53, "lng": 13.41},
    },
    "c": {
        "title": "Gamma 50%",
        "amount": "9.99",
        "big": BIG + 1,
        "active": True,
        "day": "2025-12-31",
        "at": "2026-03-01T12:00:00+04:00",
        "time": "08:30:00Z",
        "tags": [],
        "site": {"lat": 48.8566, "lng": 2.3522},
    },
    "d": {
        "title": "delta_x",
        "amount": -3,
        "at": "2026-02-28T23:30:00-10:00",
        "tags": ["green"],
    },
    "e": {"amount": None, "title": None},
    "f": {
        "title": "Gamma 500",
        "amount": 100,
        "active": True,
        "day": "2026-01-15",
        "tags": "red",
        "site": {"lat": 0.0, "lng": -179.999},
    },
    "g": {
        "title": "deltaQx",
        "amount": "0.5",
        "active": False,
        "tags": ["red", "green", "blue"],
        "site": {"lat": 0.0, "lng": 179.999},
    },
}
ALL = frozenset(DATA)


def _text(operator: Operator, value: Any, path: str = "title") -> Compare:
    return Compare((path,), operator, value, Operand.TEXT)


def _number(operator: Operator, value: Any, path: str = "amount") -> Compare:
    return Compare((path,), operator, value, Operand.NUMBER)


def _compare(path: str, operand: Operand, operator: Operator, value: Any) -> Compare:
    return Compare((path,), operator, value, operand)


def _radius(lat: Decimal, lng: Decimal, meters: str) -> WithinRadius:
    return WithinRadius(("site",), lat, lng, Decimal(meters))


def _tags(operator: ListOperator, *values: str) -> ListCompare:
    return ListCompare(("tags",), operator, values)


def case(node: FilterNode, expected: str | frozenset[str], id: str) -> Any:
    names = expected if isinstance(expected, frozenset) else frozenset(expected)
    return pytest.param(node, names, id=id)


DATE, DATETIME, TIME, BOOLEAN = (
    Operand.DATE,
    Operand.DATETIME,
    Operand.TIME,
    Operand.BOOLEAN,
)
OP = Operator

FILTER_CASES = [
    # Text.
    case(_text(OP.EQ, "Alpha"), "a", "text-eq"),
    case(_text(OP.EQ, "alpha"), "", "text-eq-case-sensitive"),
    case(_text(OP.NE, "Alpha"), ALL - {"a"}, "text-ne-keeps-missing"),
    case(_text(OP.IN, ("Alpha", "beta")), "ab", "text-in"),
    case(_text(OP.IN, ()), "", "text-in-empty"),
    case(_text(OP.IN, ("Alpha", None)), "ae", "text-in-with-null"),
    case(_text(OP.NOT_IN, ("Alpha",)), ALL - {"a"}, "text-not-in"),
    case(_text(OP.NOT_IN, ()), ALL, "text-not-in-empty"),
    case(_text(OP.NOT_IN, ("Alpha", None)), ALL - {"a", "e"}, "text-not-in-null"),
    case(_text(OP.LT, "beta"), "acf", "text-lt-binary"),
    case(_text(OP.LTE, "beta"), "abcf", "text-lte"),
    case(_text(OP.GT, "delta"), "dg", "text-gt"),
    case(_text(OP.GTE, "deltaQx"), "dg", "text-gte"),
    case(_text(OP.CONTAINS, "ALP"), "a", "text-contains-ignores-case"),
    case(_text(OP.CONTAINS, "50%"), "c", "text-contains-percent-literal"),
    case(_text(OP.CONTAINS, "a_x"), "d", "text-contains-underscore-literal"),
    case(_text(OP.STARTS_WITH, "gamma"), "cf", "text-starts-with"),
    case(_text(OP.STARTS_WITH, "%"), "", "text-starts-with-percent"),
    case(_text(OP.IS_NULL, True), "e", "text-is-null"),
    case(_text(OP.IS_NULL, False), ALL - {"e"}, "text-is-not-null"),
    case(_text(OP.EQ, None), "e", "text-eq-none"),
    case(_text(OP.EQ, "'); DROP TABLE records; --"), "", "text-injection-eq"),
    case(_text(OP.CONTAINS, "' OR 1=1 --"), "", "text-injection-contains"),
    case(Compare(("address", "city"), OP.EQ, "Berlin"), "a", "text-nested-path"),
    # Numbers.
    case(_number(OP.EQ, Decimal("10")), "a", "number-eq-int"),
    case(_number(OP.EQ, Decimal("10.5")), "b", "number-eq-decimal-string"),
    case(_number(OP.EQ, Decimal("1E+2")), "f", "number-eq-exponent"),
    case(_number(OP.GT, Decimal("9.99")), "abf", "number-gt"),
    case(_number(OP.GTE, Decimal("9.99")), "abcf", "number-gte"),
    case(_number(OP.LT, 0), "d", "number-lt"),
    case(_number(OP.LTE, Decimal("0.5")), "dg", "number-lte"),
    case(_number(OP.NE, 10), ALL - {"a"}, "number-ne-keeps-null"),
    case(_number(OP.IN, (Decimal("9.99"), 100)), "cf", "number-in"),
    case(_number(OP.NOT_IN, (10,)), ALL - {"a"}, "number-not-in"),
    case(_number(OP.IS_NULL, True), "e", "number-is-null"),
    case(_number(OP.EQ, BIG, "big"), "a", "number-big-eq-exact"),
    case(_number(OP.EQ, Decimal(BIG), "big"), "a", "number-big-decimal-exact"),
    case(_number(OP.GT, BIG - 1, "big"), "ac", "number-big-gt-exact"),
    case(_number(OP.LT, BIG, "big"), "b", "number-big-lt-exact"),
    # Booleans.
    case(_compare("active", BOOLEAN, OP.EQ, True), "acf", "boolean-eq-true"),
    case(_compare("active", BOOLEAN, OP.EQ, False), "bg", "boolean-eq-false"),
    case(_compare("active", BOOLEAN, OP.NE, True), "bdeg", "boolean-ne"),
    case(_compare("active", BOOLEAN, OP.IN, (False,)), "bg", "boolean-in"),
    case(_compare("active", BOOLEAN, OP.IS_NULL, True), "de", "boolean-is-null"),
    # Dates.
    case(_compare("day", DATE, OP.EQ, "2026-01-15"), "af", "date-eq"),
    case(_compare("day", DATE, OP.LT, "2026-01-01"), "c", "date-lt"),
    case(_compare("day", DATE, OP.GTE, "2026-01-15"), "abf", "date-gte"),
    case(_compare("day", DATE, OP.IN, ("2025-12-31", "2026-02-01")), "bc", "date-in"),
    case(_compare("day", DATE, OP.IS_NULL, True), "deg", "date-is-null"),
    # Datetimes compare as instants, whatever their offsets.
    case(
        _compare("at", DATETIME, OP.EQ, "2026-03-01T08:00:00Z"),
        "ac",
        "datetime-eq-across-offsets",
    ),
    case(
        _compare("at", DATETIME, OP.GT, "2026-03-01T08:00:00+00:00"),
        "bd",
        "datetime-gt",
    ),
    case(
        _compare("at", DATETIME, OP.LT, "2026-03-01T09:00:00+01:00"),
        "",
        "datetime-lt",
    ),
    case(
        _compare("at", DATETIME, OP.LTE, "2026-03-01T09:00:00+01:00"),
        "ac",
        "datetime-lte",
    ),
    case(
        _compare("at", DATETIME, OP.GTE, "2026-03-01T04:00:00-05:00"),
        "d",
        "datetime-gte-negative-offset",
    ),
    case(
        _compare("at", DATETIME, OP.NE, "2026-03-01T08:00:00Z"),
        ALL - {"a", "c"},
        "datetime-ne",
    ),
    case(
        _compare("at", DATETIME, OP.IN, ("2026-03-01T09:30:00Z",)),
        "d",
        "datetime-in",
    ),
    # Times.
    case(_compare("time", TIME, OP.EQ, "08:30:00"), "bc", "time-eq-across-offsets"),
    case(_compare("time", TIME, OP.GT, "08:45:00"), "a", "time-gt"),
    case(_compare("time", TIME, OP.LT, "09:00:00+00:00"), "bc", "time-lt"),
    # Lists.
    case(_tags(ListOperator.HAS, "blue"), "abg", "list-has"),
    case(_tags(ListOperator.HAS_ANY, "red", "green"), "adg", "list-has-any"),
    case(_tags(ListOperator.HAS_ALL, "red", "blue"), "ag", "list-has-all"),
    case(_tags(ListOperator.HAS_ANY), "", "list-has-any-empty"),
    case(_tags(ListOperator.HAS_ALL), ALL, "list-has-all-empty"),
    case(Not(_tags(ListOperator.HAS, "blue")), "cdef", "list-not-has"),
    case(_text(OP.EQ, "'); DROP TABLE records; --", "tags"), "", "list-injection"),
    case(Compare(("tags",), OP.IS_NULL, True), "e", "list-is-null"),
    # Radius.
    case(_radius(*BERLIN, "2000"), "ab", "radius-2-km"),
    case(_radius(*BERLIN, "500"), "a", "radius-500-m"),
    case(_radius(*BERLIN, "0"), "a", "radius-zero-at-point"),
    case(_radius(*BERLIN, "800000"), "ab", "radius-800-km-excludes-paris"),
    case(_radius(*BERLIN, "900000"), "abc", "radius-900-km-includes-paris"),
    case(_radius(Decimal("0"), Decimal("180"), "1000"), "fg", "radius-antimeridian"),
    case(_radius(*BERLIN, "-1"), "", "radius-negative"),
    # Combinations.
    case(And(()), ALL, "and-empty"),
    case(Or(()), "", "or-empty"),
    case(And((_text(OP.STARTS_WITH, "gamma"), _number(OP.GT, 50))), "f", "and-nodes"),
    case(Or((_text(OP.EQ, "Alpha"), _text(OP.EQ, "beta"))), "ab", "or-nodes"),
    case(Not(_text(OP.EQ, "Alpha")), ALL - {"a"}, "not-eq-keeps-missing"),
    case(Not(_number(OP.GT, Decimal("9.99"))), "cdeg", "not-is-complement"),
    case(Not(Not(_text(OP.EQ, "Alpha"))), "a", "not-not"),
]


@pytest.fixture
async def records(store: Store, app: App) -> dict[str, Record]:
    created = {}
    for name, data in DATA.items():
        record, _ = await store.insert_record(
            app.workspace_id, app.id, 1, {"name": name, **data}, "user-1"
        )
        created[name] = record
    return created


async def _names(store: Store, app: App, node: FilterNode) -> frozenset[str]:
    page = await store.query_records(app.id, where=node, first=100)
    return frozenset(r.data["name"] for r in page.items)


@pytest.mark.parametrize(("node", "expected"), FILTER_CASES)
async def test_query_records_filter(
    store: Store,
    app: App,
    records: dict[str, Record],
    node: FilterNode,
    expected: frozenset[str],
) -> None:
    assert await _names(store, app, node) == expected


@pytest.mark.parametrize(("node", "expected"), FILTER_CASES[:12])
async def test_count_records_filter(
    store: Store,
    app: App,
    records: dict[str, Record],
    node: FilterNode,
    expected: frozenset[str],
) -> None:
    assert await store.count_records(app.id, node) == len(expected)


async def test_query_records_injection_keeps_table(
    store: Store, app: App, records: dict[str, Record]
) -> None:
    await _names(store, app, _text(OP.EQ, "x'); DROP TABLE records; --"))

    assert await store.count_records(app.id) == len(DATA)


@pytest.mark.parametrize(
    "path", [("x'); DROP TABLE records; --",), ('a"b',), ("",), ()]
)
async def test_query_records_invalid_path_raises(
    store: Store, app: App, path: tuple[str, ...]
) -> None:
    with pytest.raises(ValueError, match="path"):
        await store.query_records(app.id, where=Compare(path, OP.EQ, "x"), first=1)


async def test_query_records_number_order(
    store: Store, app: App, records: dict[str, Record]
) -> None:
    page = await store.query_records(
        app.id, order=[OrderBy(("amount",), operand=Operand.NUMBER)], first=100
    )

    assert [r.data["name"] for r in page.items] == ["d", "g", "c", "a", "b", "f", "e"]


async def test_query_records_datetime_order(
    store: Store, app: App, records: dict[str, Record]
) -> None:
    order = [OrderBy(("at",), operand=Operand.DATETIME)]

    page = await store.query_records(app.id, order=order, first=100)

    assert [r.data["name"] for r in page.items] == ["a", "c", "b", "d", "e", "f", "g"]


async def test_query_records_created_by(store: Store, app: App) -> None:
    for user in ("user-1", "user-2", "user-1"):
        await store.insert_record(app.workspace_id, app.id, 1, {}, user)

    page = await store.query_records(app.id, first=10, created_by="user-1")

    assert [r.created_by for r in page.items] == ["user-1", "user-1"]
    assert await store.count_records(app.id, created_by="user-2") == 1


async def test_query_records_other_app_excluded(
    store: Store, app: App, records: dict[str, Record]
) -> None:
    other, _ = await store.create_app(
        app.workspace_id, "visits", "Visits", "", DEFINITION, "admin-1"
    )

    assert (await store.query_records(other.id, first=10)).items == []
    assert await store.count_records(other.id) == 0


# Pagination -------------------------------------------------------------------

RANKS = [3, 1, None, 2, 1, 1, None, 2, 5, 1, 3]


@pytest.fixture
async def ranked(store: Store, app: App) -> list[Record]:
    created = []
    for index, rank in enumerate(RANKS):
        data = {"index": index, "group": index % 2}
        if rank is not None:
            data["rank"] = rank
        record, _ = await store.insert_record(
            app.workspace_id, app.id, 1, data, "user-1"
        )
        created.append(record)
    return created


async def _all_pages(
    store: Store, app: App, order: list[OrderBy], size: int
) -> list[list[Record]]:
    pages: list[list[Record]] = []
    after = None
    while True:
        page = await store.query_records(app.id, order=order, first=size, after=after)
        pages.append(page.items)
        if not page.has_next:
            return pages
        after = page.end_cursor


def _rank_ascending(record: Record) -> tuple[Any, ...]:
    rank = record.data.get("rank")
    return (rank is None, rank or 0, record.id)


def _rank_descending(record: Record) -> tuple[Any, ...]:
    rank = record.data.get("rank")
    return (rank is not None, -(rank or 0), record.id)


async def test_pages_ascending_with_ties(
    store: Store, app: App, ranked: list[Record]
) -> None:
    order = [OrderBy(("rank",), operand=Operand.NUMBER)]

    pages = await _all_pages(store, app, order, size=2)

    ids = [r.id for page in pages for r in page]
    assert ids == [r.id for r in sorted(ranked, key=_rank_ascending)]
    assert len(pages) == 6


async def test_pages_descending_with_ties(
    store: Store, app: App, ranked: list[Record]
) -> None:
    order = [OrderBy(("rank",), descending=True, operand=Operand.NUMBER)]

    pages = await _all_pages(store, app, order, size=3)

    ids = [r.id for page in pages for r in page]
    assert ids == [r.id for r in sorted(ranked, key=_rank_descending)]


async def test_pages_two_keys(store: Store, app: App, ranked: list[Record]) -> None:
    order = [
        OrderBy(("group",), operand=Operand.NUMBER),
        OrderBy(("rank",), descending=True, operand=Operand.NUMBER),
    ]

    pages = await _all_pages(store, app, order, size=1)

    expected = sorted(ranked, key=lambda r: (r.data["group"], *_rank_descending(r)))
    assert [r.id for page in pages for r in page] == [r.id for r in expected]


async def test_pages_default_creation_order(
    store: Store, app: App, ranked: list[Record]
) -> None:
    pages = await _all_pages(store, app, [], size=4)

    assert [r.id for page in pages for r in page] == [r.id for r in ranked]


async def test_pages_survive_deleted_cursor_record(
    store: Store, app: App, ranked: list[Record]
) -> None:
    order = [OrderBy(("rank",), operand=Operand.NUMBER)]
    expected = [r.id for r in sorted(ranked, key=_rank_ascending)]
    first = await store.query_records(app.id, order=order, first=3)
    await store.delete_record(first.items[-1].id, "admin-1")

    rest = await store.query_records(
        app.id, order=order, first=100, after=first.end_cursor
    )

    assert [r.id for r in rest.items] == expected[3:]


async def test_page_cursors_match_items(
    store: Store, app: App, ranked: list[Record]
) -> None:
    page = await store.query_records(app.id, first=4)

    assert len(page.cursors) == 4
    assert page.end_cursor == page.cursors[-1]
    assert page.has_next is True


async def test_page_cursor_resumes_after_item(
    store: Store, app: App, ranked: list[Record]
) -> None:
    page = await store.query_records(app.id, first=4)

    resumed = await store.query_records(app.id, first=1, after=page.cursors[1])

    assert resumed.items == [page.items[2]]


async def test_page_last_has_no_next(
    store: Store, app: App, ranked: list[Record]
) -> None:
    page = await store.query_records(app.id, first=len(RANKS))

    assert len(page.items) == len(RANKS)
    assert page.has_next is False


async def test_page_empty_has_no_cursor(store: Store, app: App) -> None:
    page = await store.query_records(app.id, first=10)

    assert page.items == []
    assert page.end_cursor is None
    assert page.has_next is False


async def test_page_first_zero(store: Store, app: App, ranked: list[Record]) -> None:
    page = await store.query_records(app.id, first=0)

    assert page.items == []
    assert page.has_next is True


async def test_page_first_negative_raises(store: Store, app: App) -> None:
    with pytest.raises(ValueError, match="first"):
        await store.query_records(app.id, first=-1)


def _encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@pytest.mark.parametrize(
    "cursor",
    [
        "not a cursor!",
        _encode(b"\xff\xfe"),
        _encode(b"[1, 2]"),
        _encode(json.dumps({"o": "x", "k": "rank", "id": "1"}).encode()),
        _encode(json.dumps({"o": "x", "k": [True], "id": "1"}).encode()),
        _encode(b'{"o": "x", "k": [NaN], "id": "1"}'),
        _encode(json.dumps({"o": "x", "k": [], "id": 1}).encode()),
    ],
    ids=["text", "bytes", "list", "keys", "bool", "nan", "id"],
)
async def test_query_records_malformed_cursor_raises(
    store: Store, app: App, cursor: str
) -> None:
    with pytest.raises(InvalidCursorError, match="cursor"):
        await store.query_records(app.id, first=1, after=cursor)


async def test_cursor_of_other_order_raises(
    store: Store, app: App, ranked: list[Record]
) -> None:
    page = await store.query_records(app.id, first=1)
    order = [OrderBy(("rank",), operand=Operand.NUMBER)]

    with pytest.raises(InvalidCursorError, match="different ordering"):
        await store.query_records(app.id, order=order, first=1, after=page.end_cursor)


def test_invalid_cursor_is_storage_error() -> None:
    assert issubclass(InvalidCursorError, StorageError)


# SQLite only ------------------------------------------------------------------


async def test_sqlite_page_of_100_is_one_statement(sqlite_store: SQLiteStore) -> None:
    workspace = await sqlite_store.create_workspace("acme", "Acme")
    app, _ = await sqlite_store.create_app(
        workspace.id, "orders", "Orders", "", DEFINITION, "admin-1"
    )
    for index in range(100):
        await sqlite_store.insert_record(
            workspace.id, app.id, 1, {"index": index, "name": f"n{index}"}, "user-1"
        )
    statements: list[str] = []
    # The reader connection is internal; tracing it counts the page's queries.
    reader = sqlite_store._reader
    assert reader is not None
    await reader.set_trace_callback(statements.append)

    page = await sqlite_store.query_records(
        app.id,
        where=_text(OP.STARTS_WITH, "n", "name"),
        order=[OrderBy(("index",), descending=True, operand=Operand.NUMBER)],
        first=100,
    )
    traced = list(statements)

    assert len(page.items) == 100
    assert len(traced) == 1
