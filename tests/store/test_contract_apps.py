import copy
import sqlite3
from pathlib import Path

import pytest

from blocks.errors import ConflictError, NotFoundError
from store import App, EventKind, SQLiteStore, Store, Workspace
from tests.store.conftest import DEFINITION


def _definition(label: str) -> dict[str, object]:
    changed = copy.deepcopy(DEFINITION)
    changed["blocks"][0]["label"] = {"default": label}
    return changed


async def test_create_app_starts_at_version_one(
    store: Store, workspace: Workspace
) -> None:
    app, version = await store.create_app(
        workspace.id, "orders", "Orders", "", DEFINITION, "admin-1"
    )

    assert app.current_version == 1
    assert version.number == 1
    assert version.app_id == app.id


async def test_create_app_stores_attributes(store: Store, workspace: Workspace) -> None:
    app, _ = await store.create_app(
        workspace.id,
        "orders",
        "Orders",
        "Customer orders",
        DEFINITION,
        "admin-1",
        shared_with_members=True,
    )

    assert await store.get_app(app.id) == app
    assert app.shared_with_members is True
    assert app.description == "Customer orders"


async def test_create_app_stores_version_one(
    store: Store, workspace: Workspace
) -> None:
    app, version = await store.create_app(
        workspace.id, "orders", "Orders", "", DEFINITION, "admin-1", note="first"
    )

    assert await store.get_version(app.id, 1) == version
    assert version.definition == DEFINITION
    assert version.note == "first"
    assert version.author == "admin-1"


async def test_create_app_writes_version_event(
    store: Store, workspace: Workspace
) -> None:
    app, _ = await store.create_app(
        workspace.id, "orders", "Orders", "", DEFINITION, "admin-1"
    )

    events = await store.list_events(workspace.id, 0, 10)

    assert [(e.kind, e.subject_id, e.owner) for e in events] == [
        (EventKind.DEFINITION_VERSION_CREATED, app.id, None)
    ]
    assert events[0].payload == {"app_id": app.id, "version": 1}


async def test_create_app_copies_definition(store: Store, workspace: Workspace) -> None:
    definition = copy.deepcopy(DEFINITION)
    app, _ = await store.create_app(
        workspace.id, "orders", "Orders", "", definition, "admin-1"
    )
    definition["blocks"].clear()

    stored = await store.get_version(app.id, 1)

    assert stored is not None
    assert stored.definition == DEFINITION


async def test_create_app_duplicate_slug_conflicts(store: Store, app: App) -> None:
    with pytest.raises(ConflictError, match="'orders'"):
        await store.create_app(
            app.workspace_id, "orders", "Other", "", DEFINITION, "admin-1"
        )


async def test_create_app_duplicate_writes_nothing(store: Store, app: App) -> None:
    with pytest.raises(ConflictError):
        await store.create_app(
            app.workspace_id, "orders", "Other", "", DEFINITION, "admin-1"
        )

    assert await store.list_apps(app.workspace_id) == [app]
    assert len(await store.list_events(app.workspace_id, 0, 10)) == 1


async def test_create_app_same_slug_other_workspace(
    store: Store, app: App, other_workspace: Workspace
) -> None:
    other, _ = await store.create_app(
        other_workspace.id, "orders", "Orders", "", DEFINITION, "admin-2"
    )

    assert other.id != app.id


async def test_create_app_unknown_workspace_raises(store: Store) -> None:
    with pytest.raises(NotFoundError):
        await store.create_app("missing", "orders", "Orders", "", DEFINITION, "a")


async def test_save_version_numbers_grow(store: Store, app: App) -> None:
    second = await store.save_version(app.id, _definition("two"), "admin-1")
    third = await store.save_version(app.id, _definition("three"), "admin-2", "fix")

    assert [second.number, third.number] == [2, 3]
    assert third.author == "admin-2"
    assert third.note == "fix"


async def test_save_version_moves_current(store: Store, app: App) -> None:
    await store.save_version(app.id, _definition("two"), "admin-1")

    updated = await store.get_app(app.id)

    assert updated is not None
    assert updated.current_version == 2
    assert updated.updated_at >= app.updated_at


async def test_save_version_keeps_old_versions(store: Store, app: App) -> None:
    first = await store.get_version(app.id, 1)
    await store.save_version(app.id, _definition("two"), "admin-1")
    await store.save_version(app.id, _definition("three"), "admin-1")

    versions = await store.list_versions(app.id)

    assert [v.number for v in versions] == [1, 2, 3]
    assert versions[0] == first
    assert versions[2].definition == _definition("three")


async def test_save_version_writes_event(store: Store, app: App) -> None:
    await store.save_version(app.id, _definition("two"), "admin-1")

    events = await store.list_events(app.workspace_id, 0, 10)

    assert events[-1].kind == EventKind.DEFINITION_VERSION_CREATED
    assert events[-1].payload == {"app_id": app.id, "version": 2}


async def test_save_version_expected_current_matches(store: Store, app: App) -> None:
    version = await store.save_version(
        app.id, _definition("two"), "admin-1", expected_current=1
    )

    assert version.number == 2


async def test_save_version_stale_expected_conflicts(store: Store, app: App) -> None:
    await store.save_version(app.id, _definition("two"), "admin-1")

    with pytest.raises(ConflictError, match="version 2"):
        await store.save_version(
            app.id, _definition("stale"), "admin-2", expected_current=1
        )


async def test_save_version_conflict_writes_nothing(store: Store, app: App) -> None:
    with pytest.raises(ConflictError):
        await store.save_version(
            app.id, _definition("stale"), "admin-2", expected_current=5
        )

    assert [v.number for v in await store.list_versions(app.id)] == [1]
    assert len(await store.list_events(app.workspace_id, 0, 10)) == 1


async def test_save_version_unknown_app_raises(store: Store) -> None:
    with pytest.raises(NotFoundError):
        await store.save_version("missing", DEFINITION, "admin-1")


async def test_get_version_missing_is_none(store: Store, app: App) -> None:
    assert await store.get_version(app.id, 2) is None


async def test_get_app_missing_is_none(store: Store) -> None:
    assert await store.get_app("missing") is None


async def test_get_app_by_slug(store: Store, app: App) -> None:
    assert await store.get_app_by_slug(app.workspace_id, "orders") == app


async def test_get_app_by_slug_other_workspace_is_none(
    store: Store, app: App, other_workspace: Workspace
) -> None:
    assert await store.get_app_by_slug(other_workspace.id, "orders") is None


async def test_list_apps_ordered_by_slug(store: Store, workspace: Workspace) -> None:
    for slug in ("visits", "audits", "orders"):
        await store.create_app(workspace.id, slug, slug, "", DEFINITION, "admin-1")

    slugs = [a.slug for a in await store.list_apps(workspace.id)]

    assert slugs == ["audits", "orders", "visits"]


async def test_list_apps_per_workspace(
    store: Store, app: App, other_workspace: Workspace
) -> None:
    assert await store.list_apps(other_workspace.id) == []


async def test_update_app_changes_given_fields(store: Store, app: App) -> None:
    updated = await store.update_app(app.id, name="Sales orders")

    assert updated.name == "Sales orders"
    assert updated.description == app.description
    assert updated.shared_with_members is False


async def test_update_app_sets_sharing(store: Store, app: App) -> None:
    updated = await store.update_app(app.id, shared_with_members=True)

    assert updated.shared_with_members is True
    assert await store.get_app(app.id) == updated


async def test_update_app_clears_description(store: Store, app: App) -> None:
    updated = await store.update_app(app.id, description="")

    assert updated.description == ""


async def test_update_app_without_changes(store: Store, app: App) -> None:
    assert await store.update_app(app.id) == app


async def test_update_app_unknown_raises(store: Store) -> None:
    with pytest.raises(NotFoundError):
        await store.update_app("missing", name="x")


# SQLite only ------------------------------------------------------------------


async def test_sqlite_version_rows_reject_updates(
    sqlite_store: SQLiteStore, tmp_path: Path
) -> None:
    workspace = await sqlite_store.create_workspace("acme", "Acme")
    app, _ = await sqlite_store.create_app(
        workspace.id, "orders", "Orders", "", DEFINITION, "admin-1"
    )
    db = sqlite3.connect(tmp_path / "store.db")
    try:
        with pytest.raises(sqlite3.IntegrityError, match="immutable"):
            db.execute(
                "UPDATE app_versions SET note = 'changed' WHERE app_id = ?", (app.id,)
            )
    finally:
        db.close()
