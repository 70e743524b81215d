"""The records a store reads and writes, as frozen dataclasses.

Ids are opaque strings. Times are aware datetimes in UTC. Mappings such as
``AppVersion.definition`` and ``Record.data`` are JSON data: str, int, bool,
None, lists and mappings of those, with exact decimals stored as strings.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from blocks.base import FileInfo


class Role(StrEnum):
    """What an API token may do in its workspace."""

    ADMIN = "admin"
    """Manages apps, definitions, tokens and every record."""
    MEMBER = "member"
    """Submits records and sees its own, plus the records of shared apps."""


class EventKind(StrEnum):
    """Kinds of outbox events that the store writes itself."""

    DEFINITION_VERSION_CREATED = "definition.version_created"
    RECORD_CREATED = "record.created"
    RECORD_UPDATED = "record.updated"
    RECORD_DELETED = "record.deleted"


@dataclass(frozen=True)
class Workspace:
    """A tenant: apps, records, files and tokens belong to one workspace."""

    id: str
    slug: str
    name: str
    created_at: datetime


@dataclass(frozen=True)
class ApiToken:
    """The stored metadata of an API token, which excludes the plaintext."""

    id: str
    workspace_id: str
    user_id: str
    role: Role
    label: str
    created_at: datetime
    revoked_at: datetime | None = None


@dataclass(frozen=True)
class App:
    """An app of a workspace, whose definition lives in numbered versions."""

    id: str
    workspace_id: str
    slug: str
    name: str
    description: str
    current_version: int
    shared_with_members: bool
    """Whether members see every record of the app, not only their own."""
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class AppVersion:
    """One immutable version of an app's definition."""

    app_id: str
    number: int
    """Starts at 1 and grows by 1 with each saved version."""
    definition: dict[str, Any]
    """The definition as :func:`blocks.definition.dump_definition` returns it."""
    author: str
    created_at: datetime
    note: str


@dataclass(frozen=True)
class Record:
    """One submitted record of an app."""

    id: str
    workspace_id: str
    app_id: str
    version: int
    """Number of the app version the data was last validated against."""
    data: dict[str, Any]
    created_by: str
    created_at: datetime
    updated_by: str
    updated_at: datetime
    revision: int
    """Starts at 1 and grows by 1 with each update."""
    idempotency_key: str | None
    deleted_at: datetime | None = None
    """Deletion time, set on the tombstone of a deleted record."""
    idempotency_fingerprint: str | None = None
    """Fingerprint of the request that created the record with its
    idempotency key, or None when the creator passed none."""


@dataclass(frozen=True)
class StoredFile:
    """Metadata of an uploaded file, whose bytes are in a blob store by SHA-256."""

    id: str
    workspace_id: str
    filename: str
    content_type: str
    size: int
    """Size in bytes."""
    sha256: str
    """SHA-256 of the bytes in lowercase hex, which is also the blob key."""
    created_by: str
    created_at: datetime

    def to_file_info(self) -> FileInfo:
        """Return the file as media block types see it."""
        return FileInfo(
            id=self.id,
            filename=self.filename,
            content_type=self.content_type,
            size=self.size,
            sha256=self.sha256,
        )


@dataclass(frozen=True)
class OutboxEvent:
    """An event written in the same transaction as the change it reports.

    ``seq`` grows with every event of the store and is never reused, so a
    client that has seen ``seq`` can ask for the events after it.
    """

    seq: int
    workspace_id: str
    app_id: str
    kind: str
    subject_id: str
    """The record id for record events, the app id for definition events."""
    payload: dict[str, Any]
    owner: str | None
    """The record's creator for record events, or None for definition events."""
    created_at: datetime


@dataclass(frozen=True)
class PendingEvent:
    """An extra outbox event to write in the same transaction as a record write.

    The store sets the subject to the record id and the owner to the record's
    creator, and adds ``record_id``, ``app_id`` and ``version`` to the payload.
    """

    kind: str
    payload: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Page:
    """One page of a record query, with what is needed to fetch the next."""

    items: list[Record]
    end_cursor: str | None
    """Cursor of the last item to pass as ``after``, or None for an empty page."""
    has_next: bool
    cursors: tuple[str, ...] = ()
    """Cursor of each item, in the order of ``items``."""
