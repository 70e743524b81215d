"""Storing uploaded files: size limits, content-type sniffing, sha256."""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from typing import Protocol

import filetype

from blocks.base import FileInfo
from blocks.errors import ErrorCode, UploadError
from store import BlobStore, Store, StoredFile

logger = logging.getLogger(__name__)

_CHUNK = 1 << 16

# Media types whose bytes carry no magic number; the declared type is kept
# when sniffing finds nothing.
_UNSNIFFABLE_PREFIXES = ("text/", "application/json", "application/xml")


class UploadLike(Protocol):
    """The part of ``starlette.datastructures.UploadFile`` used here."""

    filename: str | None
    content_type: str | None

    async def read(self, size: int = -1) -> bytes:
        """Read up to ``size`` bytes."""


async def read_limited(upload: UploadLike, max_bytes: int) -> bytes:
    """Read an upload, failing as soon as it exceeds ``max_bytes``."""
    chunks: list[bytes] = []
    total = 0
    while True:
        chunk = await upload.read(_CHUNK)
        if not chunk:
            break
        total += len(chunk)
        if total > max_bytes:
            raise UploadError(
                ErrorCode.FILE_TOO_LARGE,
                f"File {upload.filename!r} is larger than the limit of "
                f"{max_bytes} bytes; send a smaller file.",
            )
        chunks.append(chunk)
    return b"".join(chunks)


def sniff_content_type(data: bytes, declared: str | None, filename: str) -> str:
    """Return the media type of ``data``, checked against the declared one.

    Raises:
        UploadError: the bytes are of a different type than declared.
    """
    declared = (declared or "").split(";")[0].strip().lower()
    guess = filetype.guess(data)
    if guess is None:
        if declared.startswith(_UNSNIFFABLE_PREFIXES):
            return declared
        return "application/octet-stream"
    sniffed = str(guess.mime)
    if declared and declared != "application/octet-stream" and declared != sniffed:
        raise UploadError(
            ErrorCode.CONTENT_TYPE_MISMATCH,
            f"File {filename!r} was declared as {declared} but its bytes are "
            f"{sniffed}; send it with its real media type.",
        )
    return sniffed


@dataclass(frozen=True)
class StagedUpload:
    """An upload read and checked in memory, not yet stored."""

    placeholder_id: str
    """File id that stands for this upload until it is stored."""
    filename: str
    content_type: str
    data: bytes
    sha256: str

    def to_file_info(self) -> FileInfo:
        """Return the file as a media block sees it, under the placeholder id."""
        return FileInfo(
            self.placeholder_id,
            self.filename,
            self.content_type,
            len(self.data),
            self.sha256,
        )


async def stage_upload(
    upload: UploadLike, placeholder_id: str, max_bytes: int
) -> StagedUpload:
    """Read an upload and check its size and content type, storing nothing.

    Raises:
        UploadError: the file is empty, larger than ``max_bytes`` or of
            another type than declared.
    """
    filename = upload.filename or "upload"
    data = await read_limited(upload, max_bytes)
    if not data:
        raise UploadError(
            ErrorCode.FILE_EMPTY, f"File {filename!r} is empty; send a non-empty file."
        )
    content_type = sniff_content_type(data, upload.content_type, filename)
    sha256 = hashlib.sha256(data).hexdigest()
    return StagedUpload(placeholder_id, filename, content_type, data, sha256)


async def save_upload(
    store: Store,
    blobs: BlobStore,
    staged: StagedUpload,
    *,
    workspace_id: str,
    created_by: str,
) -> StoredFile:
    """Put a staged upload's bytes in the blob store and record the file."""
    await blobs.put(staged.data)
    stored = await store.put_file(
        workspace_id,
        staged.filename,
        staged.content_type,
        len(staged.data),
        staged.sha256,
        created_by,
    )
    logger.info(
        "Stored file %s (%s, %d bytes) in workspace %s",
        stored.id,
        staged.content_type,
        len(staged.data),
        workspace_id,
    )
    return stored


async def store_upload(
    store: Store,
    blobs: BlobStore,
    upload: UploadLike,
    *,
    workspace_id: str,
    created_by: str,
    max_bytes: int,
) -> StoredFile:
    """Check an upload, put its bytes in the blob store and record it."""
    staged = await stage_upload(upload, "upload", max_bytes)
    return await save_upload(
        store, blobs, staged, workspace_id=workspace_id, created_by=created_by
    )
