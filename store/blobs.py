"""Content-addressed storage of file bytes.

A blob's key is the SHA-256 of its bytes in lowercase hex, so storing the
same bytes twice keeps one copy, and a key names its content for good. File
metadata (:class:`store.models.StoredFile`) refers to blobs by that key.
"""

from __future__ import annotations

import abc
import asyncio
import hashlib
import logging
import os
import re
import tempfile
from pathlib import Path

from blocks.errors import NotFoundError

logger = logging.getLogger(__name__)

_KEY_PATTERN = re.compile(r"[0-9a-f]{64}")


def blob_key(data: bytes) -> str:
    """Return the key of ``data``: its SHA-256 in lowercase hex."""
    return hashlib.sha256(data).hexdigest()


def validate_key(key: str) -> str:
    """Return ``key`` if it is a valid blob key.

    Raises:
        ValueError: ``key`` is not 64 lowercase hex characters.
    """
    if not isinstance(key, str) or not _KEY_PATTERN.fullmatch(key):
        raise ValueError(
            f"Invalid blob key {key!r}: expected a SHA-256 of 64 lowercase hex "
            f"characters, as put() returns."
        )
    return key


class BlobStore(abc.ABC):
    """Async storage of file bytes by their SHA-256."""

    @abc.abstractmethod
    async def put(self, data: bytes) -> str:
        """Store ``data`` unless its key exists already, and return the key."""

    @abc.abstractmethod
    async def open(self, key: str) -> bytes:
        """Return the bytes stored under ``key``.

        Raises:
            ValueError: ``key`` is not a valid blob key.
            NotFoundError: nothing is stored under ``key``.
        """

    @abc.abstractmethod
    async def exists(self, key: str) -> bool:
        """Return whether bytes are stored under ``key``.

        Raises:
            ValueError: ``key`` is not a valid blob key.
        """

    @abc.abstractmethod
    async def delete(self, key: str) -> None:
        """Remove the bytes under ``key`` if there are any.

        Blobs are shared by every file with the same bytes, so delete a key
        only when no file metadata refers to it any more.

        Raises:
            ValueError: ``key`` is not a valid blob key.
        """


class LocalBlobStore(BlobStore):
    """Blobs as files in a directory, fanned out by the key's first two characters.

    A blob is written to a temporary file in its final directory, synced and
    renamed into place, so a reader sees either no file or the whole file,
    also after a crash.

    Args:
        directory: Root directory, created on the first :meth:`put`.
    """

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)

    def path_of(self, key: str) -> Path:
        """Return the file path of the blob with ``key``."""
        validate_key(key)
        return self.directory / key[:2] / key

    async def put(self, data: bytes) -> str:
        """Store ``data`` unless a blob with its key exists, and return the key."""
        return await asyncio.to_thread(self._put, bytes(data))

    async def open(self, key: str) -> bytes:
        """Return the bytes stored under ``key``."""
        path = self.path_of(key)
        try:
            return await asyncio.to_thread(path.read_bytes)
        except FileNotFoundError:
            raise NotFoundError(
                f"No blob is stored under key {key}. The file's bytes were never "
                f"uploaded or have been deleted."
            ) from None

    async def exists(self, key: str) -> bool:
        """Return whether a blob is stored under ``key``."""
        return await asyncio.to_thread(self.path_of(key).is_file)

    async def delete(self, key: str) -> None:
        """Remove the blob under ``key`` if there is one."""
        path = self.path_of(key)
        await asyncio.to_thread(path.unlink, missing_ok=True)

    def _put(self, data: bytes) -> str:
        key = blob_key(data)
        path = self.path_of(key)
        if path.is_file():
            return key

        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=".partial-")
        try:
            with os.fdopen(descriptor, "wb") as file:
                file.write(data)
                file.flush()
                os.fsync(file.fileno())
            # When two puts of the same bytes race, the second rename replaces
            # an identical file, which readers cannot tell apart.
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        _sync_directory(path.parent)
        logger.debug("Stored blob %s (%d bytes)", key, len(data))
        return key


def _sync_directory(directory: Path) -> None:
    """Flush a directory entry to disk, so that a rename survives a crash."""
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
