from datetime import timedelta
from typing import Any

from store import App, EventKind, Store, Workspace
from tests.store.conftest import DEFINITION


async def _insert(store: Store, app: App, user: str, **data: Any) -> str:
    record, _ = await store.insert_record(app.workspace_id, app.id, 1, data, user)
    return record.id


async def test_list_events_in_seq_order(store: Store, app: App) -> None:
    for _ in range(3):
        await _insert(store, app, "user-1")

    seqs = [e.seq for e in await store.list_events(app.workspace_id, 0, 10)]

    assert seqs == sorted(seqs)
    assert len(set(seqs)) == 4


async def test_list_events_after_seq(store: Store, app: App) -> None:
    first = await store.list_events(app.workspace_id, 0, 10)
    record_id = await _insert(store, app, "user-1")

    later = await store.list_events(app.workspace_id, first[-1].seq, 10)

    assert [e.subject_id for e in later] == [record_id]


async def test_list_events_limit(store: Store, app: App) -> None:
    for _ in range(5):
        await _insert(store, app, "user-1")

    events = await store.list_events(app.workspace_id, 0, 2)

    assert len(events) == 2
    assert events[0].kind == EventKind.DEFINITION_VERSION_CREATED


async def test_list_events_owner_keeps_definitions(store: Store, app: App) -> None:
    mine = await _insert(store, app, "user-1")
    await _insert(store, app, "user-2")
    await store.save_version(app.id, DEFINITION, "admin-1")

    events = await store.list_events(app.workspace_id, 0, 10, owner="user-1")

    assert [(e.kind, e.subject_id) for e in events] == [
        (EventKind.DEFINITION_VERSION_CREATED, app.id),
        (EventKind.RECORD_CREATED, mine),
        (EventKind.DEFINITION_VERSION_CREATED, app.id),
    ]


async def test_list_events_owner_follows_creator(store: Store, app: App) -> None:
    record_id = await _insert(store, app, "user-1")
    await store.update_record(record_id, {"x": 1}, 1, "admin-1")

    events = await store.list_events(app.workspace_id, 0, 10, owner="admin-1")

    assert [e.kind for e in events] == [EventKind.DEFINITION_VERSION_CREATED]


async def test_list_events_kinds(store: Store, app: App) -> None:
    record_id = await _insert(store, app, "user-1")
    await store.delete_record(record_id, "user-1")

    events = await store.list_events(
        app.workspace_id, 0, 10, kinds=[EventKind.RECORD_DELETED]
    )

    assert [(e.kind, e.subject_id) for e in events] == [
        (EventKind.RECORD_DELETED, record_id)
    ]


async def test_list_events_empty_kinds(store: Store, app: App) -> None:
    assert await store.list_events(app.workspace_id, 0, 10, kinds=[]) == []


async def test_list_events_reports_deletions(store: Store, app: App) -> None:
    record_id = await _insert(store, app, "user-1")
    seen = await store.latest_seq(app.workspace_id)
    await store.delete_record(record_id, "user-1")

    events = await store.list_events(app.workspace_id, seen, 10, owner="user-1")

    assert [(e.kind, e.subject_id) for e in events] == [
        (EventKind.RECORD_DELETED, record_id)
    ]


async def test_list_events_per_workspace(
    store: Store, app: App, other_workspace: Workspace
) -> None:
    await _insert(store, app, "user-1")
    other, _ = await store.create_app(
        other_workspace.id, "orders", "Orders", "", DEFINITION, "admin-2"
    )

    events = await store.list_events(other_workspace.id, 0, 100)

    assert {e.workspace_id for e in events} == {other_workspace.id}
    assert [e.subject_id for e in events] == [other.id]


async def test_list_events_include_dispatched(store: Store, app: App) -> None:
    pending = await store.fetch_undispatched(10)
    await store.mark_dispatched([e.seq for e in pending])

    assert await store.list_events(app.workspace_id, 0, 10) == pending


async def test_fetch_undispatched_repeats_until_marked(store: Store, app: App) -> None:
    await _insert(store, app, "user-1")

    first = await store.fetch_undispatched(10)
    again = await store.fetch_undispatched(10)

    assert len(first) == 2
    assert again == first


async def test_mark_dispatched_removes_events(store: Store, app: App) -> None:
    await _insert(store, app, "user-1")
    pending = await store.fetch_undispatched(10)

    await store.mark_dispatched([pending[0].seq])

    assert await store.fetch_undispatched(10) == pending[1:]


async def test_fetch_undispatched_limit_and_order(store: Store, app: App) -> None:
    for _ in range(3):
        await _insert(store, app, "user-1")

    events = await store.fetch_undispatched(2)

    assert [e.seq for e in events] == sorted(e.seq for e in events)
    assert len(events) == 2


async def test_fetch_undispatched_spans_workspaces(
    store: Store, app: App, other_workspace: Workspace
) -> None:
    await store.create_app(
        other_workspace.id, "orders", "Orders", "", DEFINITION, "admin-2"
    )

    events = await store.fetch_undispatched(10)

    assert {e.workspace_id for e in events} == {app.workspace_id, other_workspace.id}


async def test_mark_dispatched_ignores_unknown(store: Store, app: App) -> None:
    await store.mark_dispatched([999_999])
    await store.mark_dispatched([])

    assert len(await store.fetch_undispatched(10)) == 1


async def test_latest_seq_tracks_workspace(
    store: Store, app: App, other_workspace: Workspace
) -> None:
    await _insert(store, app, "user-1")
    events = await store.list_events(app.workspace_id, 0, 10)

    assert await store.latest_seq(app.workspace_id) == events[-1].seq
    assert await store.latest_seq(other_workspace.id) == 0


async def test_event_times_are_utc(store: Store, app: App) -> None:
    event = (await store.list_events(app.workspace_id, 0, 1))[0]

    assert event.created_at.utcoffset() == timedelta(0)
