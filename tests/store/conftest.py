"""Fixtures of the store contract suite.

The ``store`` fixture runs each contract test once per backend. SQLite runs
always, in a file under ``tmp_path``. MongoDB runs when APPGRAPH_MONGO_URL
names a server: the suite builds ``store.mongo.MongoStore(url,
database=name)`` on a fresh database and calls ``drop_database()`` on it
afterwards, so a Mongo backend joins by providing that class.
"""

from __future__ import annotations

import importlib
import os
import secrets
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from store import App, BlobStore, LocalBlobStore, SQLiteStore, Store, Workspace

MONGO_URL_VARIABLE = "APPGRAPH_MONGO_URL"

DEFINITION: dict[str, Any] = {
    "languages": [],
    "default_language": "default",
    "blocks": [{"id": "name", "type": "text"}, {"id": "amount", "type": "number"}],
}


def _mongo_param() -> Any:
    return pytest.param(
        "mongo",
        marks=pytest.mark.skipif(
            not os.environ.get(MONGO_URL_VARIABLE),
            reason=f"{MONGO_URL_VARIABLE} is not set",
        ),
    )


@pytest.fixture(params=["sqlite", _mongo_param()])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    if request.param == "sqlite":
        async with SQLiteStore(tmp_path / "store.db") as backend:
            yield backend
        return

    mongo = importlib.import_module("store.mongo")
    database = f"appgraph_test_{secrets.token_hex(6)}"
    backend = mongo.MongoStore(os.environ[MONGO_URL_VARIABLE], database=database)
    try:
        async with backend:
            yield backend
    finally:
        await backend.drop_database()


@pytest.fixture
async def sqlite_store(tmp_path: Path) -> AsyncIterator[SQLiteStore]:
    async with SQLiteStore(tmp_path / "store.db") as backend:
        yield backend


@pytest.fixture
async def workspace(store: Store) -> Workspace:
    return await store.create_workspace("acme", "Acme")


@pytest.fixture
async def other_workspace(store: Store) -> Workspace:
    return await store.create_workspace("globex", "Globex")


@pytest.fixture
async def app(store: Store, workspace: Workspace) -> App:
    created, _ = await store.create_app(
        workspace.id, "orders", "Orders", "Customer orders", DEFINITION, "admin-1"
    )
    return created


@pytest.fixture(params=["local"])
def blob_store(request: pytest.FixtureRequest, tmp_path: Path) -> BlobStore:
    if request.param == "local":
        return LocalBlobStore(tmp_path / "blobs")
    raise AssertionError(f"Unknown blob store backend {request.param!r}.")
