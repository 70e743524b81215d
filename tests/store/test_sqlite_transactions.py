"""One-call write transactions of the SQLite store (``_run_in_write_transaction``)."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from pathlib import Path

import pytest

from blocks.errors import StorageError
from store import SQLiteStore


def _insert_workspace(db: sqlite3.Connection, slug: str) -> None:
    db.execute(
        "INSERT INTO workspaces (id, slug, name, created_at) VALUES (?, ?, ?, ?)",
        (f"id-{slug}", slug, slug.title(), "2026-03-02T09:00:00.000000+00:00"),
    )


async def test_transaction_commits_and_returns(sqlite_store: SQLiteStore) -> None:
    def insert(db: sqlite3.Connection) -> int:
        _insert_workspace(db, "acme")
        return db.total_changes

    changes = await sqlite_store._run_in_write_transaction(insert)

    assert changes >= 1
    workspace = await sqlite_store.get_workspace_by_slug("acme")
    assert workspace is not None
    assert workspace.id == "id-acme"


async def test_transaction_reader_sees_commit(tmp_path: Path) -> None:
    async with SQLiteStore(tmp_path / "store.db") as store:
        assert store._reader is not store._writer
        await store._run_in_write_transaction(lambda db: _insert_workspace(db, "acme"))
        slugs = [workspace.slug for workspace in await store.list_workspaces()]
        assert slugs == ["acme"]


async def test_transaction_commits_in_memory() -> None:
    async with SQLiteStore(":memory:") as store:
        await store._run_in_write_transaction(lambda db: _insert_workspace(db, "acme"))
        assert await store.get_workspace_by_slug("acme") is not None


async def test_transaction_rolls_back_on_exception(
    sqlite_store: SQLiteStore,
) -> None:
    def insert_then_fail(db: sqlite3.Connection) -> None:
        _insert_workspace(db, "acme")
        raise ValueError("The change is invalid.")

    with pytest.raises(ValueError, match="The change is invalid."):
        await sqlite_store._run_in_write_transaction(insert_then_fail)

    assert await sqlite_store.get_workspace_by_slug("acme") is None
    # The writer left the failed transaction, so the next one can begin.
    await sqlite_store._run_in_write_transaction(
        lambda db: _insert_workspace(db, "globex")
    )
    assert await sqlite_store.get_workspace_by_slug("globex") is not None


async def test_transaction_rolls_back_failed_statement(
    sqlite_store: SQLiteStore,
) -> None:
    await sqlite_store.create_workspace("acme", "Acme")

    def insert_two(db: sqlite3.Connection) -> None:
        _insert_workspace(db, "globex")
        db.execute(
            "INSERT INTO workspaces (id, slug, name, created_at) "
            "VALUES ('other', 'acme', 'Acme', '2026-03-02T09:00:00.000000+00:00')"
        )

    with pytest.raises(sqlite3.IntegrityError, match="workspaces.slug"):
        await sqlite_store._run_in_write_transaction(insert_two)

    assert await sqlite_store.get_workspace_by_slug("globex") is None


async def test_transaction_runs_on_writer_thread(sqlite_store: SQLiteStore) -> None:
    def inspect(db: sqlite3.Connection) -> tuple[int, bool]:
        return threading.get_ident(), db.in_transaction

    thread_id, in_transaction = await sqlite_store._run_in_write_transaction(inspect)

    assert thread_id != threading.get_ident()
    assert in_transaction


async def test_transaction_serialized_with_write(sqlite_store: SQLiteStore) -> None:
    async def write_in_steps(slug: str) -> None:
        await sqlite_store.create_workspace(slug, slug.title())

    async def write_in_one_call(slug: str) -> None:
        await sqlite_store._run_in_write_transaction(
            lambda db: _insert_workspace(db, slug)
        )

    await asyncio.gather(
        *(write_in_steps(f"steps-{i}") for i in range(5)),
        *(write_in_one_call(f"call-{i}") for i in range(5)),
    )

    workspaces = await sqlite_store.list_workspaces()
    assert len(workspaces) == 10


async def test_transaction_on_closed_store(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "store.db")

    with pytest.raises(StorageError, match="The SQLite store is not open"):
        await store._run_in_write_transaction(lambda db: None)
