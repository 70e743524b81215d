import asyncio
import sqlite3
from decimal import Decimal
from pathlib import Path

import pytest

from blocks.errors import ConflictError, NotFoundError
from store import App, EventKind, PendingEvent, SQLiteStore, Store, Workspace
from tests.store.conftest import DEFINITION


async def test_insert_record_returns_created(store: Store, app: App) -> None:
    record, created = await store.insert_record(
        app.workspace_id, app.id, 1, {"name": "Ann"}, "user-1"
    )

    assert created is True
    assert record.data == {"name": "Ann"}
    assert record.revision == 1
    assert record.version == 1
    assert record.updated_by == "user-1"
    assert record.updated_at == record.created_at
    assert record.deleted_at is None


async def test_insert_record_is_readable(store: Store, app: App) -> None:
    record, _ = await store.insert_record(
        app.workspace_id, app.id, 1, {"name": "Ann", "tags": ["a"]}, "user-1", "k1"
    )

    assert await store.get_record(record.id) == record


async def test_insert_record_copies_data(store: Store, app: App) -> None:
    data = {"name": "Ann"}
    record, _ = await store.insert_record(app.workspace_id, app.id, 1, data, "user-1")
    data["name"] = "Bob"

    assert record.data == {"name": "Ann"}


async def test_insert_record_writes_created_event(store: Store, app: App) -> None:
    record, _ = await store.insert_record(
        app.workspace_id, app.id, 1, {"name": "Ann"}, "user-1"
    )

    event = (await store.list_events(app.workspace_id, 0, 10))[-1]

    assert event.kind == EventKind.RECORD_CREATED
    assert event.subject_id == record.id
    assert event.owner == "user-1"
    assert event.app_id == app.id
    assert event.payload == {
        "record_id": record.id,
        "app_id": app.id,
        "version": 1,
        "revision": 1,
        "data": {"name": "Ann"},
    }


async def test_insert_record_writes_pending_events(store: Store, app: App) -> None:
    record, _ = await store.insert_record(
        app.workspace_id,
        app.id,
        1,
        {"name": "Ann"},
        "user-1",
        events=[PendingEvent("workflow.triggered", {"workflow_id": "w1"})],
    )

    event = (await store.list_events(app.workspace_id, 0, 10))[-1]

    assert event.kind == "workflow.triggered"
    assert event.subject_id == record.id
    assert event.payload == {
        "workflow_id": "w1",
        "record_id": record.id,
        "app_id": app.id,
        "version": 1,
    }


async def test_insert_record_unknown_app_raises(store: Store, app: App) -> None:
    with pytest.raises(NotFoundError):
        await store.insert_record(app.workspace_id, "missing", 1, {}, "user-1")


async def test_insert_record_app_of_other_workspace_raises(
    store: Store, app: App, other_workspace: Workspace
) -> None:
    with pytest.raises(NotFoundError):
        await store.insert_record(other_workspace.id, app.id, 1, {}, "user-1")


async def test_insert_record_unknown_version_raises(store: Store, app: App) -> None:
    with pytest.raises(NotFoundError, match="version 2"):
        await store.insert_record(app.workspace_id, app.id, 2, {}, "user-1")


async def test_insert_record_rejects_non_json(store: Store, app: App) -> None:
    with pytest.raises(ValueError, match="JSON"):
        await store.insert_record(
            app.workspace_id, app.id, 1, {"amount": Decimal("1.5")}, "user-1"
        )

    assert await store.count_records(app.id) == 0


async def test_insert_record_idempotent_repeat(store: Store, app: App) -> None:
    first, _ = await store.insert_record(
        app.workspace_id, app.id, 1, {"name": "Ann"}, "user-1", "key-1"
    )

    again, created = await store.insert_record(
        app.workspace_id, app.id, 1, {"name": "Ann"}, "user-1", "key-1"
    )

    assert created is False
    assert again == first


async def test_insert_record_repeat_writes_no_event(store: Store, app: App) -> None:
    for _ in range(2):
        await store.insert_record(
            app.workspace_id,
            app.id,
            1,
            {"name": "Ann"},
            "user-1",
            "key-1",
            events=[PendingEvent("workflow.triggered")],
        )

    kinds = [e.kind for e in await store.list_events(app.workspace_id, 0, 10)]

    assert kinds.count(EventKind.RECORD_CREATED) == 1
    assert kinds.count("workflow.triggered") == 1


async def test_insert_record_concurrent_same_key(store: Store, app: App) -> None:
    results = await asyncio.gather(
        *(
            store.insert_record(
                app.workspace_id, app.id, 1, {"attempt": i}, "user-1", "key-1"
            )
            for i in range(20)
        )
    )

    events = await store.list_events(
        app.workspace_id, 0, 100, kinds=[EventKind.RECORD_CREATED]
    )

    assert sum(created for _, created in results) == 1
    assert len({record.id for record, _ in results}) == 1
    assert len(events) == 1
    assert await store.count_records(app.id) == 1


async def test_insert_record_key_is_per_user(store: Store, app: App) -> None:
    first, _ = await store.insert_record(
        app.workspace_id, app.id, 1, {}, "user-1", "key-1"
    )
    second, created = await store.insert_record(
        app.workspace_id, app.id, 1, {}, "user-2", "key-1"
    )

    assert created is True
    assert second.id != first.id


async def test_insert_record_key_is_per_app(
    store: Store, app: App, workspace: Workspace
) -> None:
    other, _ = await store.create_app(
        workspace.id, "visits", "Visits", "", DEFINITION, "admin-1"
    )
    await store.insert_record(workspace.id, app.id, 1, {}, "user-1", "key-1")

    _, created = await store.insert_record(
        workspace.id, other.id, 1, {}, "user-1", "key-1"
    )

    assert created is True


async def test_insert_record_without_key_repeats(store: Store, app: App) -> None:
    for _ in range(2):
        await store.insert_record(app.workspace_id, app.id, 1, {}, "user-1")

    assert await store.count_records(app.id) == 2


async def test_insert_record_key_after_delete(store: Store, app: App) -> None:
    first, _ = await store.insert_record(
        app.workspace_id, app.id, 1, {}, "user-1", "key-1"
    )
    await store.delete_record(first.id, "user-1")

    again, created = await store.insert_record(
        app.workspace_id, app.id, 1, {}, "user-1", "key-1"
    )

    assert created is False
    assert again.id == first.id
    assert again.deleted_at is not None


async def test_insert_record_stores_fingerprint(store: Store, app: App) -> None:
    record, _ = await store.insert_record(
        app.workspace_id,
        app.id,
        1,
        {"name": "Ann"},
        "user-1",
        "key-1",
        idempotency_fingerprint="f1",
    )

    fetched = await store.get_record(record.id)

    assert record.idempotency_fingerprint == "f1"
    assert fetched is not None
    assert fetched.idempotency_fingerprint == "f1"


async def test_insert_record_fingerprint_defaults_none(store: Store, app: App) -> None:
    record, _ = await store.insert_record(
        app.workspace_id, app.id, 1, {"name": "Ann"}, "user-1", "key-1"
    )

    fetched = await store.get_record(record.id)

    assert record.idempotency_fingerprint is None
    assert fetched is not None
    assert fetched.idempotency_fingerprint is None


async def test_insert_record_repeat_returns_first_fingerprint(
    store: Store, app: App
) -> None:
    first, _ = await store.insert_record(
        app.workspace_id,
        app.id,
        1,
        {"name": "Ann"},
        "user-1",
        "key-1",
        idempotency_fingerprint="f1",
    )

    again, created = await store.insert_record(
        app.workspace_id,
        app.id,
        1,
        {"name": "Bob"},
        "user-1",
        "key-1",
        idempotency_fingerprint="f2",
    )

    assert created is False
    assert again.id == first.id
    assert again.data == {"name": "Ann"}
    assert again.idempotency_fingerprint == "f1"
    assert await store.count_records(app.id) == 1


async def test_insert_record_tombstone_keeps_fingerprint(
    store: Store, app: App
) -> None:
    first, _ = await store.insert_record(
        app.workspace_id,
        app.id,
        1,
        {},
        "user-1",
        "key-1",
        idempotency_fingerprint="f1",
    )
    tombstone = await store.delete_record(first.id, "user-1")

    again, created = await store.insert_record(
        app.workspace_id,
        app.id,
        1,
        {},
        "user-1",
        "key-1",
        idempotency_fingerprint="f1",
    )

    assert tombstone.idempotency_fingerprint == "f1"
    assert created is False
    assert again.deleted_at is not None
    assert again.idempotency_fingerprint == "f1"


async def test_update_record_bumps_revision(store: Store, app: App) -> None:
    record, _ = await store.insert_record(
        app.workspace_id, app.id, 1, {"name": "Ann"}, "user-1"
    )
    await store.save_version(app.id, DEFINITION, "admin-1")

    updated = await store.update_record(record.id, {"name": "Bea"}, 2, "user-2")

    assert updated.revision == 2
    assert updated.data == {"name": "Bea"}
    assert updated.version == 2
    assert updated.updated_by == "user-2"
    assert updated.created_by == "user-1"
    assert updated.created_at == record.created_at
    assert await store.get_record(record.id) == updated


async def test_update_record_writes_event(store: Store, app: App) -> None:
    record, _ = await store.insert_record(
        app.workspace_id, app.id, 1, {"name": "Ann"}, "user-1"
    )

    await store.update_record(record.id, {"name": "Bea"}, 1, "admin-1")

    event = (await store.list_events(app.workspace_id, 0, 10))[-1]

    assert event.kind == EventKind.RECORD_UPDATED
    assert event.owner == "user-1"
    assert event.payload == {
        "record_id": record.id,
        "app_id": app.id,
        "version": 1,
        "revision": 2,
        "data": {"name": "Bea"},
        "previous": {"name": "Ann"},
    }


async def test_update_events_keep_each_snapshot(store: Store, app: App) -> None:
    record, _ = await store.insert_record(
        app.workspace_id, app.id, 1, {"name": "Ann"}, "user-1"
    )
    await store.update_record(record.id, {"name": "Bea"}, 1, "admin-1")
    await store.update_record(record.id, {"name": "Cy"}, 1, "admin-1")

    events = await store.list_events(
        app.workspace_id, 0, 10, kinds=[EventKind.RECORD_UPDATED]
    )

    assert [e.payload["previous"] for e in events] == [{"name": "Ann"}, {"name": "Bea"}]
    assert [e.payload["data"] for e in events] == [{"name": "Bea"}, {"name": "Cy"}]
    assert [e.payload["revision"] for e in events] == [2, 3]


async def test_update_record_expected_revision_matches(store: Store, app: App) -> None:
    record, _ = await store.insert_record(app.workspace_id, app.id, 1, {}, "user-1")

    updated = await store.update_record(
        record.id, {"name": "Bea"}, 1, "user-1", expected_revision=1
    )

    assert updated.revision == 2


async def test_update_record_stale_revision_conflicts(store: Store, app: App) -> None:
    record, _ = await store.insert_record(app.workspace_id, app.id, 1, {}, "user-1")
    await store.update_record(record.id, {"name": "Bea"}, 1, "user-1")

    with pytest.raises(ConflictError, match="revision 2"):
        await store.update_record(
            record.id, {"name": "Cid"}, 1, "user-2", expected_revision=1
        )


async def test_update_record_conflict_keeps_data(store: Store, app: App) -> None:
    record, _ = await store.insert_record(
        app.workspace_id, app.id, 1, {"name": "Ann"}, "user-1"
    )
    with pytest.raises(ConflictError):
        await store.update_record(
            record.id, {"name": "Cid"}, 1, "user-2", expected_revision=3
        )

    assert await store.get_record(record.id) == record


async def test_update_record_unknown_version_raises(store: Store, app: App) -> None:
    record, _ = await store.insert_record(app.workspace_id, app.id, 1, {}, "user-1")

    with pytest.raises(NotFoundError, match="version 9"):
        await store.update_record(record.id, {}, 9, "user-1")


async def test_update_record_unknown_raises(store: Store) -> None:
    with pytest.raises(NotFoundError):
        await store.update_record("missing", {}, 1, "user-1")


async def test_update_record_deleted_raises(store: Store, app: App) -> None:
    record, _ = await store.insert_record(app.workspace_id, app.id, 1, {}, "user-1")
    await store.delete_record(record.id, "user-1")

    with pytest.raises(NotFoundError):
        await store.update_record(record.id, {}, 1, "user-1")


async def test_delete_record_returns_tombstone(store: Store, app: App) -> None:
    record, _ = await store.insert_record(
        app.workspace_id, app.id, 1, {"name": "Ann"}, "user-1"
    )

    tombstone = await store.delete_record(record.id, "admin-1")

    assert tombstone.id == record.id
    assert tombstone.deleted_at is not None
    assert tombstone.data == {"name": "Ann"}


async def test_delete_record_hides_record(store: Store, app: App) -> None:
    record, _ = await store.insert_record(app.workspace_id, app.id, 1, {}, "user-1")

    await store.delete_record(record.id, "admin-1")

    assert await store.get_record(record.id) is None
    assert not await store.record_exists(app.workspace_id, app.id, record.id)
    assert await store.count_records(app.id) == 0
    assert (await store.query_records(app.id, first=10)).items == []


async def test_delete_record_writes_event(store: Store, app: App) -> None:
    record, _ = await store.insert_record(app.workspace_id, app.id, 1, {}, "user-1")

    await store.delete_record(record.id, "admin-1")

    event = (await store.list_events(app.workspace_id, 0, 10))[-1]

    assert event.kind == EventKind.RECORD_DELETED
    assert event.subject_id == record.id
    assert event.owner == "user-1"
    assert event.payload == {
        "record_id": record.id,
        "app_id": app.id,
        "version": 1,
        "revision": 1,
        "data": {},
        "previous": {},
    }


async def test_delete_record_twice_raises(store: Store, app: App) -> None:
    record, _ = await store.insert_record(app.workspace_id, app.id, 1, {}, "user-1")
    await store.delete_record(record.id, "admin-1")

    with pytest.raises(NotFoundError):
        await store.delete_record(record.id, "admin-1")


async def test_get_record_missing_is_none(store: Store) -> None:
    assert await store.get_record("missing") is None


async def test_record_exists_in_its_app(store: Store, app: App) -> None:
    record, _ = await store.insert_record(app.workspace_id, app.id, 1, {}, "user-1")

    assert await store.record_exists(app.workspace_id, app.id, record.id)


async def test_record_exists_other_workspace_is_false(
    store: Store, app: App, other_workspace: Workspace
) -> None:
    record, _ = await store.insert_record(app.workspace_id, app.id, 1, {}, "user-1")

    assert not await store.record_exists(other_workspace.id, app.id, record.id)


async def test_record_exists_other_app_is_false(
    store: Store, app: App, workspace: Workspace
) -> None:
    other, _ = await store.create_app(
        workspace.id, "visits", "Visits", "", DEFINITION, "admin-1"
    )
    record, _ = await store.insert_record(workspace.id, app.id, 1, {}, "user-1")

    assert not await store.record_exists(workspace.id, other.id, record.id)


# SQLite only ------------------------------------------------------------------


async def test_sqlite_failed_event_rolls_back_record(
    sqlite_store: SQLiteStore, tmp_path: Path
) -> None:
    workspace = await sqlite_store.create_workspace("acme", "Acme")
    app, _ = await sqlite_store.create_app(
        workspace.id, "orders", "Orders", "", DEFINITION, "admin-1"
    )
    db = sqlite3.connect(tmp_path / "store.db")
    try:
        db.execute(
            "CREATE TRIGGER outbox_broken BEFORE INSERT ON outbox "
            "BEGIN SELECT RAISE(ABORT, 'outbox unavailable'); END"
        )
        db.commit()

        with pytest.raises(sqlite3.IntegrityError, match="outbox unavailable"):
            await sqlite_store.insert_record(workspace.id, app.id, 1, {}, "user-1")

        (rows,) = db.execute("SELECT count(*) FROM records").fetchone()
    finally:
        db.close()

    assert rows == 0


async def test_sqlite_failed_event_rolls_back_version(
    sqlite_store: SQLiteStore, tmp_path: Path
) -> None:
    workspace = await sqlite_store.create_workspace("acme", "Acme")
    app, _ = await sqlite_store.create_app(
        workspace.id, "orders", "Orders", "", DEFINITION, "admin-1"
    )
    db = sqlite3.connect(tmp_path / "store.db")
    try:
        db.execute(
            "CREATE TRIGGER outbox_broken BEFORE INSERT ON outbox "
            "BEGIN SELECT RAISE(ABORT, 'outbox unavailable'); END"
        )
        db.commit()
    finally:
        db.close()

    with pytest.raises(sqlite3.IntegrityError):
        await sqlite_store.save_version(app.id, DEFINITION, "admin-1")

    current = await sqlite_store.get_app(app.id)
    assert current is not None
    assert current.current_version == 1
    assert await sqlite_store.get_version(app.id, 2) is None
