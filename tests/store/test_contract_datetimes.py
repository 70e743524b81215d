"""Datetime and time filters and ordering compare UTC instants in every backend.

The stored values keep the offset they were written with, including offsets
with seconds, and some of them reach before year 1 or after year 9999 once
converted to UTC.
"""

from collections.abc import Iterator
from typing import Any

import pytest

from blocks.filters import And, Compare, FilterNode, Not, Operand, Operator, OrderBy
from store import App, Record, Store
from tests.api.runtime_fixtures import Served, serve

DATA: dict[str, dict[str, Any]] = {
    "kathmandu": {"at": "2024-01-01T10:00:00+05:45:30", "time": "10:00:00+05:45:30"},
    "far": {"at": "9999-12-31T23:59:59-12:00", "time": "23:59:59-12:00"},
    "early": {"at": "0001-01-01T00:00:00+01:00", "time": "00:00:00+01:00"},
    "missing": {},
    "invalid": {"at": "next tuesday", "time": "noon"},
}
"""In UTC: kathmandu is 2024-01-01T04:14:30, far is 10000-01-01T11:59:59 and
early is 0000-12-31T23:00:00. The times fall on the reference day, the day
after it and the day before it."""

ALL = frozenset(DATA)
VALID = frozenset({"kathmandu", "far", "early"})
ASCENDING = ["early", "kathmandu", "far"]


@pytest.fixture
async def records(store: Store, app: App) -> dict[str, Record]:
    created = {}
    for name, data in DATA.items():
        created[name], _ = await store.insert_record(
            app.workspace_id, app.id, 1, {"name": name, **data}, "user-1"
        )
    return created


def _at(operator: Operator, value: Any) -> Compare:
    return Compare(("at",), operator, value, Operand.DATETIME)


def _time(operator: Operator, value: Any) -> Compare:
    return Compare(("time",), operator, value, Operand.TIME)


def _case(node: FilterNode, expected: set[str] | frozenset[str], id: str) -> Any:
    return pytest.param(node, frozenset(expected), id=id)


async def _names(store: Store, app: App, node: FilterNode) -> frozenset[str]:
    page = await store.query_records(app.id, where=node, first=100)
    return frozenset(r.data["name"] for r in page.items)


async def _ordered(store: Store, app: App, order: list[OrderBy]) -> list[str]:
    page = await store.query_records(app.id, order=order, first=100)
    return [r.data["name"] for r in page.items]


async def _paged(store: Store, app: App, order: list[OrderBy], size: int) -> list[str]:
    names: list[str] = []
    after = None
    while True:
        page = await store.query_records(app.id, order=order, first=size, after=after)
        names.extend(r.data["name"] for r in page.items)
        if not page.has_next:
            return names
        after = page.end_cursor


OP = Operator

FILTER_CASES = [
    _case(_at(OP.GT, "2025-01-01T00:00:00Z"), {"far"}, "gt-finds-after-9999"),
    _case(_at(OP.GT, "2024-01-01T04:00:00Z"), {"kathmandu", "far"}, "gt-offset-secs"),
    _case(_at(OP.EQ, "2024-01-01T04:14:30Z"), {"kathmandu"}, "eq-same-instant"),
    _case(_at(OP.EQ, "2024-01-01T10:00:00+05:45:30"), {"kathmandu"}, "eq-same-text"),
    _case(_at(OP.EQ, "2024-01-01T04:14:30.000001Z"), set(), "eq-microsecond-off"),
    _case(_at(OP.NE, "2024-01-01T04:14:30Z"), ALL - {"kathmandu"}, "ne-keeps-others"),
    _case(_at(OP.GTE, "2024-01-01T04:14:30Z"), {"kathmandu", "far"}, "gte-boundary"),
    _case(_at(OP.LT, "2024-01-01T04:14:30Z"), {"early"}, "lt-boundary"),
    _case(_at(OP.LTE, "2024-01-01T04:14:30Z"), {"early", "kathmandu"}, "lte-boundary"),
    _case(_at(OP.LT, "0001-01-01T00:00:00Z"), {"early"}, "lt-before-year-1"),
    _case(_at(OP.LT, "0001-01-01T00:00:00+02:00"), set(), "lt-earlier-in-year-0"),
    _case(_at(OP.GT, "9999-12-31T23:59:59.999999Z"), {"far"}, "gt-after-year-9999"),
    _case(_at(OP.LT, "9999-12-31T23:59:59-13:00"), VALID, "lt-later-in-year-10000"),
    _case(
        _at(OP.IN, ("2024-01-01T05:14:30+01:00", "9999-12-31T23:59:59-12:00")),
        {"kathmandu", "far"},
        "in-other-offsets",
    ),
    _case(
        _at(OP.IN, ("0001-01-01T00:00:00+01:00", None)),
        {"early", "missing"},
        "in-with-null",
    ),
    _case(
        _at(OP.NOT_IN, ("2024-01-01T04:14:30+00:00",)),
        ALL - {"kathmandu"},
        "not-in",
    ),
    _case(
        And(
            (
                _at(OP.GTE, "0001-01-01T00:00:00+02:00"),
                _at(OP.LT, "2024-01-01T04:14:30.000001Z"),
            )
        ),
        {"early", "kathmandu"},
        "range",
    ),
    _case(Not(_at(OP.GT, "2025-01-01T00:00:00Z")), ALL - {"far"}, "not-gt"),
    _case(_at(OP.IS_NULL, True), {"missing"}, "is-null-sees-invalid-text"),
    _case(_time(OP.EQ, "04:14:30Z"), {"kathmandu"}, "time-eq-same-instant"),
    _case(_time(OP.GT, "23:59:59.999999Z"), {"far"}, "time-gt-next-day"),
    _case(_time(OP.LT, "00:00:00Z"), {"early"}, "time-lt-day-before"),
    _case(_time(OP.NE, "10:00:00+05:45:30"), ALL - {"kathmandu"}, "time-ne"),
]


@pytest.mark.parametrize(("node", "expected"), FILTER_CASES)
async def test_datetime_filter(
    store: Store,
    app: App,
    records: dict[str, Record],
    node: FilterNode,
    expected: frozenset[str],
) -> None:
    assert await _names(store, app, node) == expected


async def test_datetime_count_matches_query(
    store: Store, app: App, records: dict[str, Record]
) -> None:
    count = await store.count_records(app.id, _at(OP.GT, "2024-01-01T04:00:00Z"))

    assert count == 2


async def test_datetime_order_ascending(
    store: Store, app: App, records: dict[str, Record]
) -> None:
    names = await _ordered(store, app, [OrderBy(("at",), operand=Operand.DATETIME)])

    assert names[:3] == ASCENDING
    assert set(names[3:]) == {"missing", "invalid"}


async def test_datetime_order_descending(
    store: Store, app: App, records: dict[str, Record]
) -> None:
    order = [OrderBy(("at",), descending=True, operand=Operand.DATETIME)]

    names = await _ordered(store, app, order)

    assert set(names[:2]) == {"missing", "invalid"}
    assert names[2:] == ASCENDING[::-1]


async def test_time_order_ascending(
    store: Store, app: App, records: dict[str, Record]
) -> None:
    names = await _ordered(store, app, [OrderBy(("time",), operand=Operand.TIME)])

    assert names[:3] == ASCENDING


@pytest.mark.parametrize("descending", [False, True], ids=["asc", "desc"])
@pytest.mark.parametrize("operand", [Operand.DATETIME, Operand.TIME])
async def test_datetime_pages_follow_order(
    store: Store,
    app: App,
    records: dict[str, Record],
    operand: Operand,
    descending: bool,
) -> None:
    path = "at" if operand is Operand.DATETIME else "time"
    order = [OrderBy((path,), descending=descending, operand=operand)]

    whole = await _ordered(store, app, order)
    paged = await _paged(store, app, order, 1)

    assert paged == whole
    assert sorted(paged) == sorted(ALL)


async def test_datetime_pages_with_filter(
    store: Store, app: App, records: dict[str, Record]
) -> None:
    order = [OrderBy(("at",), descending=True, operand=Operand.DATETIME)]
    node = _at(OP.GT, "0001-01-01T00:00:00Z")

    first = await store.query_records(app.id, where=node, order=order, first=1)
    rest = await store.query_records(
        app.id, where=node, order=order, first=10, after=first.end_cursor
    )

    assert [r.data["name"] for r in first.items] == ["far"]
    assert [r.data["name"] for r in rest.items] == ["kathmandu"]
    assert rest.has_next is False


async def test_created_at_filter_and_order(
    store: Store, app: App, records: dict[str, Record]
) -> None:
    created = Compare(
        ("$created_at",), OP.GT, "0001-01-01T00:00:00+01:00", Operand.DATETIME
    )
    order = [OrderBy(("$created_at",), descending=True, operand=Operand.DATETIME)]

    page = await store.query_records(app.id, where=created, order=order, first=100)

    assert len(page.items) == len(DATA)
    assert [r.created_at for r in page.items] == sorted(
        (r.created_at for r in page.items), reverse=True
    )


# Through the GraphQL API -----------------------------------------------------
# The runtime stores its records in its default SQLite store.

MOMENTS = {
    "blocks": [{"id": "label", "type": "text"}, {"id": "at", "type": "datetime"}]
}

CREATE = """
mutation($data: MomentsData!) {
  momentsCreate(input: {data: $data}) { errors { path code message } }
}
"""

LIST = """
query($where: MomentsFilter, $orderBy: [MomentsOrderBy!], $after: String) {
  momentsRecords(where: $where, orderBy: $orderBy, first: 1, after: $after) {
    totalCount
    edges { node { label at } }
    pageInfo { hasNextPage endCursor }
  }
}
"""


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    yield from serve(tmp_path_factory.mktemp("runtime"))


def test_api_datetime_filter_and_pages(served: Served) -> None:
    workspace = served.workspace("moments")
    assert workspace.create_app("moments", MOMENTS)["errors"] == []
    for name in ASCENDING:
        data = {"label": name, "at": DATA[name]["at"]}
        payload = served.data(workspace.admin, CREATE, {"data": data})
        assert payload["momentsCreate"]["errors"] == []

    variables: dict[str, Any] = {
        "where": {"at": {"gt": "2024-01-01T04:00:00Z"}},
        "orderBy": [{"at": "DESC"}],
    }
    labels: list[str] = []
    while True:
        page = served.data(workspace.admin, LIST, variables)["momentsRecords"]
        labels.extend(edge["node"]["label"] for edge in page["edges"])
        if not page["pageInfo"]["hasNextPage"]:
            break
        variables["after"] = page["pageInfo"]["endCursor"]

    assert labels == ["far", "kathmandu"]
    assert page["totalCount"] == 2
    assert page["edges"][0]["node"]["at"] == "2024-01-01T10:00:00+05:45:30"
