import hashlib
from pathlib import Path

import pytest

from blocks.errors import NotFoundError
from store import BlobStore, LocalBlobStore
from store.blobs import blob_key

DATA = b"\x89PNG\r\n\x1a\n photo bytes"
KEY = hashlib.sha256(DATA).hexdigest()

INVALID_KEYS = [
    "../../etc/passwd",
    KEY.upper(),
    KEY[:-1],
    KEY + "0",
    "/" + KEY[1:],
    "",
]


async def test_put_returns_sha256(blob_store: BlobStore) -> None:
    assert await blob_store.put(DATA) == KEY


async def test_open_returns_bytes(blob_store: BlobStore) -> None:
    key = await blob_store.put(DATA)

    assert await blob_store.open(key) == DATA


async def test_put_same_bytes_twice(blob_store: BlobStore) -> None:
    first = await blob_store.put(DATA)
    second = await blob_store.put(DATA)

    assert first == second
    assert await blob_store.open(second) == DATA


async def test_put_empty_bytes(blob_store: BlobStore) -> None:
    key = await blob_store.put(b"")

    assert key == hashlib.sha256(b"").hexdigest()
    assert await blob_store.open(key) == b""


async def test_exists_after_put(blob_store: BlobStore) -> None:
    await blob_store.put(DATA)

    assert await blob_store.exists(KEY)


async def test_exists_missing_is_false(blob_store: BlobStore) -> None:
    assert not await blob_store.exists(KEY)


async def test_open_missing_raises(blob_store: BlobStore) -> None:
    with pytest.raises(NotFoundError, match=KEY):
        await blob_store.open(KEY)


async def test_delete_removes_blob(blob_store: BlobStore) -> None:
    await blob_store.put(DATA)

    await blob_store.delete(KEY)

    assert not await blob_store.exists(KEY)


async def test_delete_missing_is_harmless(blob_store: BlobStore) -> None:
    await blob_store.delete(KEY)

    assert not await blob_store.exists(KEY)


@pytest.mark.parametrize("key", INVALID_KEYS)
async def test_open_invalid_key_raises(blob_store: BlobStore, key: str) -> None:
    with pytest.raises(ValueError, match="Invalid blob key"):
        await blob_store.open(key)


@pytest.mark.parametrize("key", INVALID_KEYS)
async def test_exists_invalid_key_raises(blob_store: BlobStore, key: str) -> None:
    with pytest.raises(ValueError, match="Invalid blob key"):
        await blob_store.exists(key)


@pytest.mark.parametrize("key", INVALID_KEYS)
async def test_delete_invalid_key_raises(blob_store: BlobStore, key: str) -> None:
    with pytest.raises(ValueError, match="Invalid blob key"):
        await blob_store.delete(key)


def test_blob_key_is_sha256() -> None:
    assert blob_key(DATA) == KEY


# Local directory only -----------------------------------------------------------


async def test_local_fans_out_by_prefix(tmp_path: Path) -> None:
    blobs = LocalBlobStore(tmp_path / "blobs")

    await blobs.put(DATA)

    assert (tmp_path / "blobs" / KEY[:2] / KEY).read_bytes() == DATA


async def test_local_leaves_no_partial_files(tmp_path: Path) -> None:
    blobs = LocalBlobStore(tmp_path / "blobs")

    await blobs.put(DATA)
    await blobs.put(DATA)

    assert [p.name for p in (tmp_path / "blobs").rglob("*") if p.is_file()] == [KEY]


async def test_local_keeps_existing_file(tmp_path: Path) -> None:
    blobs = LocalBlobStore(tmp_path / "blobs")
    await blobs.put(DATA)
    path = blobs.path_of(KEY)
    before = path.stat().st_mtime_ns

    await blobs.put(DATA)

    assert path.stat().st_mtime_ns == before


async def test_local_open_before_any_put(tmp_path: Path) -> None:
    blobs = LocalBlobStore(tmp_path / "never-created")

    with pytest.raises(NotFoundError):
        await blobs.open(KEY)
