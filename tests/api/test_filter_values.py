"""Filter values that cannot be compared are rejected with the expected format."""

import pytest

from tests.api.runtime_fixtures import Served, Workspace

EVENTS = {
    "blocks": [
        {"id": "dt", "type": "datetime"},
        {"id": "d", "type": "date"},
        {"id": "p", "type": "geopoint"},
    ]
}


@pytest.fixture(scope="module")
def events(served: Served) -> Workspace:
    workspace = served.workspace("events")
    assert workspace.create_app("events", EVENTS)["errors"] == []
    return workspace


@pytest.mark.parametrize(
    ("where", "message"),
    [
        (
            '{dt: {gt: "garbage"}}',
            "The filter dt.gt has the invalid value 'garbage'; expected an ISO "
            "8601 date and time with an offset such as 2026-12-04T14:30:00+03:00.",
        ),
        (
            '{d: {gt: "2024-02-30"}}',
            "The filter d.gt has the invalid value '2024-02-30'; expected an ISO "
            "8601 date such as 2026-12-04.",
        ),
        (
            "{p: {withinRadius: {lat: 200, lng: 0, meters: 10}}}",
            "The filter p.withinRadius has lat 200; expected degrees from -90 to 90.",
        ),
        (
            "{p: {withinRadius: {lat: 0, lng: 0, meters: -1}}}",
            "The filter p.withinRadius has meters -1; expected a radius of 0 or "
            "more metres.",
        ),
    ],
)
def test_invalid_filter_value_rejected(
    served: Served, events: Workspace, where: str, message: str
) -> None:
    messages = served.errors(
        events.admin, f"{{ eventsRecords(where: {where}) {{ totalCount }} }}"
    )
    assert messages == [message]


def test_invalid_datetime_variable_rejected(served: Served, events: Workspace) -> None:
    messages = served.errors(
        events.admin,
        "query($t: DateTime) { eventsRecords(where: {dt: {gt: $t}}) { totalCount } }",
        {"t": "garbage"},
    )
    assert messages == [
        "The filter dt.gt has the invalid value 'garbage'; expected an ISO 8601 "
        "date and time with an offset such as 2026-12-04T14:30:00+03:00."
    ]
