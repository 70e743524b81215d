from datetime import UTC

import pytest

from blocks.errors import ConflictError
from store import Store


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
