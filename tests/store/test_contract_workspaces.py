import re
import sqlite3
from datetime import UTC
from pathlib import Path

import pytest

from blocks.errors import ConflictError, StorageError
from store import SQLiteStore, Store, new_id
from store.sqlite.schema import SCHEMA_VERSION


async def test_create_workspace_is_readable_by_id(store: Store) -> None:
    workspace = await store.create_workspace("acme", "Acme")

    assert await store.get_workspace(workspace.id) == workspace


async def test_create_workspace_sets_utc_time(store: Store) -> None:
    workspace = await store.create_workspace("acme", "Acme")

    assert workspace.created_at.tzinfo == UTC


async def test_get_workspace_by_slug(store: Store) -> None:
    workspace = await store.create_workspace("acme", "Acme")

    assert await store.get_workspace_by_slug("acme") == workspace


async def test_get_workspace_missing_is_none(store: Store) -> None:
    assert await store.get_workspace("missing") is None


async def test_get_workspace_by_slug_missing_is_none(store: Store) -> None:
    assert await store.get_workspace_by_slug("missing") is None


async def test_create_workspace_duplicate_slug_conflicts(store: Store) -> None:
    await store.create_workspace("acme", "Acme")

    with pytest.raises(ConflictError, match="'acme'"):
        await store.create_workspace("acme", "Acme again")


async def test_create_workspace_duplicate_keeps_first(store: Store) -> None:
    first = await store.create_workspace("acme", "Acme")
    with pytest.raises(ConflictError):
        await store.create_workspace("acme", "Acme again")

    assert await store.list_workspaces() == [first]


async def test_list_workspaces_ordered_by_slug(store: Store) -> None:
    for slug in ("globex", "acme", "initech"):
        await store.create_workspace(slug, slug.title())

    slugs = [w.slug for w in await store.list_workspaces()]

    assert slugs == ["acme", "globex", "initech"]


async def test_workspace_ids_are_unique(store: Store) -> None:
    first = await store.create_workspace("acme", "Acme")
    second = await store.create_workspace("globex", "Globex")

    assert first.id != second.id


async def test_open_twice_is_harmless(store: Store) -> None:
    workspace = await store.create_workspace("acme", "Acme")
    await store.open()

    assert await store.get_workspace(workspace.id) == workspace


# SQLite only ------------------------------------------------------------------


async def test_sqlite_keeps_data_after_reopen(tmp_path: Path) -> None:
    async with SQLiteStore(tmp_path / "store.db") as first:
        workspace = await first.create_workspace("acme", "Acme")

    async with SQLiteStore(tmp_path / "store.db") as second:
        assert await second.get_workspace(workspace.id) == workspace


async def test_sqlite_records_schema_version_once(tmp_path: Path) -> None:
    for _ in range(2):
        async with SQLiteStore(tmp_path / "store.db"):
            pass
    db = sqlite3.connect(tmp_path / "store.db")
    try:
        rows = db.execute("SELECT version FROM schema_version").fetchall()
    finally:
        db.close()

    assert rows == [(version,) for version in range(1, SCHEMA_VERSION + 1)]


async def test_sqlite_newer_schema_raises(tmp_path: Path) -> None:
    async with SQLiteStore(tmp_path / "store.db"):
        pass
    db = sqlite3.connect(tmp_path / "store.db")
    try:
        db.execute(
            "INSERT INTO schema_version VALUES (?, '2030-01-01')", (SCHEMA_VERSION + 1,)
        )
        db.commit()
    finally:
        db.close()

    with pytest.raises(StorageError, match="Upgrade appgraph"):
        await SQLiteStore(tmp_path / "store.db").open()


async def test_sqlite_uses_wal(sqlite_store: SQLiteStore, tmp_path: Path) -> None:
    db = sqlite3.connect(tmp_path / "store.db")
    try:
        (mode,) = db.execute("PRAGMA journal_mode").fetchone()
    finally:
        db.close()

    assert mode == "wal"


async def test_sqlite_in_memory_store() -> None:
    async with SQLiteStore(":memory:") as store:
        workspace = await store.create_workspace("acme", "Acme")

        assert await store.get_workspace_by_slug("acme") == workspace


async def test_sqlite_closed_store_raises(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "store.db")

    with pytest.raises(StorageError, match="not open"):
        await store.list_workspaces()


def test_sqlite_invalid_synchronous_raises(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="synchronous"):
        SQLiteStore(tmp_path / "store.db", synchronous="OFF")


# Ids --------------------------------------------------------------------------


def test_new_ids_sort_in_creation_order() -> None:
    ids = [new_id() for _ in range(2000)]

    assert sorted(ids) == ids
    assert len(set(ids)) == len(ids)
    assert all(re.fullmatch(r"[0-9a-f]{32}", i) for i in ids)
