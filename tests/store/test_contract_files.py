import hashlib

import pytest

from blocks.base import FileInfo
from blocks.errors import NotFoundError
from store import Store, Workspace

SHA256 = hashlib.sha256(b"photo").hexdigest()


async def test_put_file_is_readable(store: Store, workspace: Workspace) -> None:
    stored = await store.put_file(
        workspace.id, "photo.jpg", "image/jpeg", 5, SHA256, "user-1"
    )

    assert await store.get_file(workspace.id, stored.id) == stored


async def test_put_file_keeps_metadata(store: Store, workspace: Workspace) -> None:
    stored = await store.put_file(
        workspace.id, "photo.jpg", "image/jpeg", 5, SHA256, "user-1"
    )

    assert stored.filename == "photo.jpg"
    assert stored.content_type == "image/jpeg"
    assert stored.size == 5
    assert stored.sha256 == SHA256
    assert stored.created_by == "user-1"
    assert stored.workspace_id == workspace.id


async def test_stored_file_to_file_info(store: Store, workspace: Workspace) -> None:
    stored = await store.put_file(
        workspace.id, "photo.jpg", "image/jpeg", 5, SHA256, "user-1"
    )

    assert stored.to_file_info() == FileInfo(
        stored.id, "photo.jpg", "image/jpeg", 5, SHA256
    )


async def test_same_bytes_twice_are_two_files(
    store: Store, workspace: Workspace
) -> None:
    first = await store.put_file(workspace.id, "a.jpg", "image/jpeg", 5, SHA256, "u")
    second = await store.put_file(workspace.id, "b.jpg", "image/jpeg", 5, SHA256, "u")

    assert first.id != second.id


async def test_get_file_other_workspace_is_none(
    store: Store, workspace: Workspace, other_workspace: Workspace
) -> None:
    stored = await store.put_file(
        workspace.id, "photo.jpg", "image/jpeg", 5, SHA256, "user-1"
    )

    assert await store.get_file(other_workspace.id, stored.id) is None


async def test_get_file_missing_is_none(store: Store, workspace: Workspace) -> None:
    assert await store.get_file(workspace.id, "missing") is None


async def test_put_file_unknown_workspace_raises(store: Store) -> None:
    with pytest.raises(NotFoundError):
        await store.put_file("missing", "a.jpg", "image/jpeg", 5, SHA256, "user-1")
