"""The store interface that every document backend implements.

A backend stores workspaces, API tokens, apps with their immutable versions,
records, file metadata, number sequences and the transactional outbox. Every
write that causes events stores the events in the same transaction, so the
outbox dispatcher delivers exactly what was committed, at least once.

The helpers at the end (ids, tokens, cursors) are shared by the backends so
that ids, token hashes and cursors mean the same thing in each of them.
"""

from __future__ import annotations

import abc
import base64
import binascii
import hashlib
import json
import math
import secrets
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self

from blocks.errors import StorageError
from blocks.filters import FilterNode, OrderBy
from store.models import (
    ApiToken,
    App,
    AppVersion,
    OutboxEvent,
    Page,
    PendingEvent,
    Record,
    Role,
    StoredFile,
    Workspace,
)


class InvalidCursorError(StorageError):
    """A pagination cursor is malformed or belongs to a different ordering."""


class Store(abc.ABC):
    """Async access to every document appgraph stores.

    Use a store as an async context manager, or call :meth:`open` before the
    first operation and :meth:`close` after the last. Methods named ``get_*``
    return None for a missing object. Writes raise
    :class:`~blocks.errors.NotFoundError` when the object they change or
    refer to does not exist.
    """

    async def __aenter__(self) -> Self:
        await self.open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    # Lifecycle -------------------------------------------------------------

    @abc.abstractmethod
    async def open(self) -> None:
        """Connect and create or migrate the schema, unless the store is open."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Release the connections, unless the store is closed already."""

    # Workspaces ------------------------------------------------------------

    @abc.abstractmethod
    async def create_workspace(self, slug: str, name: str) -> Workspace:
        """Create a workspace.

        Raises:
            ConflictError: a workspace with ``slug`` exists.
        """

    @abc.abstractmethod
    async def get_workspace(self, workspace_id: str) -> Workspace | None:
        """Return the workspace with ``workspace_id``, or None."""

    @abc.abstractmethod
    async def get_workspace_by_slug(self, slug: str) -> Workspace | None:
        """Return the workspace with ``slug``, or None."""

    @abc.abstractmethod
    async def list_workspaces(self) -> list[Workspace]:
        """Return every workspace, ordered by slug."""

    # API tokens ------------------------------------------------------------

    @abc.abstractmethod
    async def create_token(
        self, workspace_id: str, role: Role, user_id: str, label: str
    ) -> tuple[str, ApiToken]:
        """Create an API token and return its plaintext with its metadata.

        The plaintext (``ag_`` and 43 URL-safe characters) is returned only
        here. The store keeps its SHA-256 hash.

        Raises:
            NotFoundError: the workspace does not exist.
        """

    @abc.abstractmethod
    async def authenticate(self, token: str) -> ApiToken | None:
        """Return the unrevoked token whose plaintext is ``token``, or None.

        The lookup goes by the token's hash, so the time it takes does not
        depend on how much of a guess matches a stored token.
        """

    @abc.abstractmethod
    async def revoke_token(
        self, token_id: str, *, workspace_id: str | None = None
    ) -> None:
        """Revoke a token, so that it no longer authenticates.

        Revoking a revoked token does nothing.

        Args:
            token_id: Id of the token.
            workspace_id: When given, the token must belong to this workspace.

        Raises:
            NotFoundError: no such token (in ``workspace_id``, when given).
        """

    @abc.abstractmethod
    async def list_tokens(self, workspace_id: str) -> list[ApiToken]:
        """Return the unrevoked tokens of a workspace, oldest first."""

    # Apps and versions -----------------------------------------------------

    @abc.abstractmethod
    async def create_app(
        self,
        workspace_id: str,
        slug: str,
        name: str,
        description: str,
        definition: dict[str, Any],
        author: str,
        shared_with_members: bool = False,
        note: str = "",
    ) -> tuple[App, AppVersion]:
        """Create an app with version 1 of its definition.

        The app, the version and a ``definition.version_created`` event are
        written in one transaction.

        Raises:
            NotFoundError: the workspace does not exist.
            ConflictError: the workspace has an app with ``slug``.
        """

    @abc.abstractmethod
    async def save_version(
        self,
        app_id: str,
        definition: dict[str, Any],
        author: str,
        note: str = "",
        expected_current: int | None = None,
    ) -> AppVersion:
        """Save the next version of an app's definition and make it current.

        The version, the app's new ``current_version`` and a
        ``definition.version_created`` event are written in one transaction.
        Saved versions never change.

        Args:
            app_id: Id of the app.
            definition: The new definition as JSON data.
            author: User id of the author.
            note: What changed, in the author's words.
            expected_current: When given, the version the caller based the
                change on. The save fails if another version was saved since.

        Raises:
            NotFoundError: the app does not exist.
            ConflictError: ``expected_current`` is not the current version.
        """

    @abc.abstractmethod
    async def get_app(self, app_id: str) -> App | None:
        """Return the app with ``app_id``, or None."""

    @abc.abstractmethod
    async def get_app_by_slug(self, workspace_id: str, slug: str) -> App | None:
        """Return the app of a workspace with ``slug``, or None."""

    @abc.abstractmethod
    async def list_apps(self, workspace_id: str) -> list[App]:
        """Return the apps of a workspace, ordered by slug."""

    @abc.abstractmethod
    async def update_app(
        self,
        app_id: str,
        *,
        name: str | None = None,
        description: str | None = None,
        shared_with_members: bool | None = None,
    ) -> App:
        """Change the given attributes of an app and return the app.

        Raises:
            NotFoundError: the app does not exist.
        """

    @abc.abstractmethod
    async def get_version(self, app_id: str, number: int) -> AppVersion | None:
        """Return version ``number`` of an app, or None."""

    @abc.abstractmethod
    async def list_versions(self, app_id: str) -> list[AppVersion]:
        """Return every version of an app, oldest first."""

    # Records ---------------------------------------------------------------

    @abc.abstractmethod
    async def insert_record(
        self,
        workspace_id: str,
        app_id: str,
        version: int,
        data: dict[str, Any],
        created_by: str,
        idempotency_key: str | None = None,
        events: Sequence[PendingEvent] = (),
        idempotency_fingerprint: str | None = None,
    ) -> tuple[Record, bool]:
        """Insert a record and return it with whether it was created.

        The record, a ``record.created`` event and ``events`` are written in
        one transaction. The payload of every record event has ``record_id``,
        ``app_id``, ``version``, ``revision`` and ``data``, the record's data
        as committed; ``record.updated`` and ``record.deleted`` events also
        have ``previous``, the data before the change. When ``created_by``
        already created a record of the app with the same
        ``idempotency_key``, nothing is written and that record is returned
        (even if deleted since) with False.

        ``idempotency_fingerprint`` is stored with the record and returned
        in :attr:`Record.idempotency_fingerprint`, also on a repeat, where
        it is the fingerprint of the first insert. The store does not
        compare fingerprints: a caller that needs a repeated key to carry
        the same request compares the returned fingerprint with its own.

        Raises:
            NotFoundError: the app is not in the workspace, or it has no
                version ``version``.
        """

    @abc.abstractmethod
    async def update_record(
        self,
        record_id: str,
        data: dict[str, Any],
        version: int,
        updated_by: str,
        expected_revision: int | None = None,
        events: Sequence[PendingEvent] = (),
    ) -> Record:
        """Replace a record's data and return the record with its new revision.

        The record, a ``record.updated`` event with the new ``data`` and the
        ``previous`` data, and ``events`` are written in one transaction.

        Raises:
            NotFoundError: the record does not exist or is deleted, or its app
                has no version ``version``.
            ConflictError: ``expected_revision`` is not the current revision.
        """

    @abc.abstractmethod
    async def delete_record(
        self,
        record_id: str,
        deleted_by: str,
        events: Sequence[PendingEvent] = (),
    ) -> Record:
        """Delete a record and return its tombstone.

        The tombstone stays so that :meth:`insert_record` keeps honouring the
        idempotency key. A ``record.deleted`` event, whose ``data`` and
        ``previous`` are both the data at deletion, and ``events`` are
        written in the same transaction.

        Raises:
            NotFoundError: the record does not exist or is deleted.
        """

    @abc.abstractmethod
    async def get_record(self, record_id: str) -> Record | None:
        """Return the record with ``record_id``, or None if missing or deleted."""

    @abc.abstractmethod
    async def record_exists(
        self, workspace_id: str, app_id: str, record_id: str
    ) -> bool:
        """Return whether the app of the workspace has the undeleted record."""

    @abc.abstractmethod
    async def query_records(
        self,
        app_id: str,
        *,
        where: FilterNode | None = None,
        order: Sequence[OrderBy] = (),
        first: int,
        after: str | None = None,
        created_by: str | None = None,
    ) -> Page:
        """Return one page of an app's undeleted records.

        Records are sorted by ``order`` and then by id, so records with equal
        keys keep a stable order across pages. Without ``order`` the page is
        in creation order. Missing values sort last in ascending order and
        first in descending order.

        Args:
            app_id: Id of the app.
            where: Filter the records must match, or None for all records.
            order: Sort keys, most significant first.
            first: Maximum number of records on the page, 0 or more.
            after: ``end_cursor`` of the previous page, for the next page.
            created_by: When given, only records this user created.

        Raises:
            InvalidCursorError: ``after`` is malformed or was made for a
                different ``order``.
            ValueError: ``first`` is negative, or a filter or sort path is
                not a sequence of valid keys.
        """

    @abc.abstractmethod
    async def count_records(
        self,
        app_id: str,
        where: FilterNode | None = None,
        created_by: str | None = None,
    ) -> int:
        """Return how many undeleted records of an app match ``where``."""

    # Sequences -------------------------------------------------------------

    @abc.abstractmethod
    async def next_number(self, app_id: str, block_id: str, start: int) -> int:
        """Allocate the next number of an app's sequence for ``block_id``.

        The first call returns ``start``, and each later call returns one
        more than the one before, also under concurrent callers. A number
        allocated for a submission that then fails is not reused, so a
        sequence can have gaps.

        Raises:
            NotFoundError: the app does not exist.
        """

    # Files -----------------------------------------------------------------

    @abc.abstractmethod
    async def put_file(
        self,
        workspace_id: str,
        filename: str,
        content_type: str,
        size: int,
        sha256: str,
        created_by: str,
    ) -> StoredFile:
        """Store the metadata of a file whose bytes are in the blob store.

        Raises:
            NotFoundError: the workspace does not exist.
        """

    @abc.abstractmethod
    async def get_file(self, workspace_id: str, file_id: str) -> StoredFile | None:
        """Return the file of ``workspace_id`` with ``file_id``, or None.

        A file of another workspace is None too.
        """

    # Outbox ----------------------------------------------------------------

    @abc.abstractmethod
    async def list_events(
        self,
        workspace_id: str,
        after_seq: int,
        limit: int,
        owner: str | None = None,
        kinds: Sequence[str] | None = None,
    ) -> list[OutboxEvent]:
        """Return up to ``limit`` events of a workspace after ``after_seq``.

        Events come in ``seq`` order, dispatched or not, so that a client
        can catch up on the changes it missed.

        Args:
            workspace_id: Id of the workspace.
            after_seq: Return events with a greater ``seq``, or 0 for all.
            limit: Maximum number of events.
            owner: When given, skip events owned by other users. Events
                without an owner (definition events) are kept.
            kinds: When given, only events of these kinds.
        """

    @abc.abstractmethod
    async def fetch_undispatched(self, limit: int) -> list[OutboxEvent]:
        """Return up to ``limit`` undispatched events of every workspace.

        An event is returned again on every call until :meth:`mark_dispatched`
        marks it, which gives at-least-once delivery.
        """

    @abc.abstractmethod
    async def mark_dispatched(self, seqs: Sequence[int]) -> None:
        """Mark the events with ``seqs`` as delivered, ignoring unknown seqs."""

    @abc.abstractmethod
    async def latest_seq(self, workspace_id: str) -> int:
        """Return the greatest ``seq`` of a workspace's events, or 0."""


# Ids -----------------------------------------------------------------------

_id_lock = threading.Lock()
_last_id_parts = (0, 0)
_RANDOM_LIMIT = 2**80


def new_id() -> str:
    """Return a new unique id of 32 lowercase hex characters.

    Ids sort by creation time as text. The first 12 characters are the Unix
    time in milliseconds and the other 20 are random. While the clock has
    not moved past the millisecond of this process's last id, the next id
    increments that id's random part instead, so ids made here also sort in
    the order they were made.
    """
    global _last_id_parts
    with _id_lock:
        millis = time.time_ns() // 1_000_000
        last_millis, last_random = _last_id_parts
        if millis <= last_millis:
            millis = last_millis
            random_part = last_random + 1
            if random_part >= _RANDOM_LIMIT:
                millis, random_part = millis + 1, 0
        else:
            random_part = secrets.randbits(80)
        _last_id_parts = (millis, random_part)
    return f"{millis:012x}{random_part:020x}"


# Tokens --------------------------------------------------------------------

TOKEN_PREFIX = "ag_"


def generate_token() -> str:
    """Return a new API token plaintext: ``ag_`` and 32 random bytes."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    """Return the SHA-256 of a token plaintext, lowercase hex, as stored."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


# Cursors -------------------------------------------------------------------

CursorValue = int | float | str | None


@dataclass(frozen=True)
class CursorPosition:
    """The sort-key values and id of the last record of a page."""

    values: tuple[CursorValue, ...]
    record_id: str


def order_signature(order: Sequence[OrderBy]) -> str:
    """Return a short fingerprint of an ordering, kept in its cursors."""
    spec = [[list(o.path), o.descending, o.operand.value] for o in order]
    encoded = json.dumps(spec, separators=(",", ":")).encode("utf-8")
    return hashlib.sha256(encoded).hexdigest()[:16]


def encode_cursor(order: Sequence[OrderBy], position: CursorPosition) -> str:
    """Return the opaque cursor of a record's position in ``order``."""
    body = {
        "o": order_signature(order),
        "k": list(position.values),
        "id": position.record_id,
    }
    raw = json.dumps(body, separators=(",", ":"), allow_nan=False).encode("utf-8")
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def decode_cursor(cursor: str, order: Sequence[OrderBy]) -> CursorPosition:
    """Return the position in a cursor made by :func:`encode_cursor`.

    Raises:
        InvalidCursorError: the cursor is malformed or was made for a
            different ordering.
    """
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        body = json.loads(raw.decode("utf-8"))
    except (binascii.Error, UnicodeDecodeError, ValueError) as error:
        raise InvalidCursorError(
            f"Invalid cursor {cursor[:40]!r}: expected a cursor returned by a "
            f"previous page. Pass an end cursor unchanged or omit it."
        ) from error
    if (
        not isinstance(body, dict)
        or not isinstance(body.get("k"), list)
        or not isinstance(body.get("id"), str)
        or not all(_is_cursor_value(v) for v in body["k"])
    ):
        raise InvalidCursorError(
            f"Invalid cursor {cursor[:40]!r}: its content is not a page "
            f"position. Pass an end cursor unchanged or omit it."
        )
    if body.get("o") != order_signature(order) or len(body["k"]) != len(order):
        raise InvalidCursorError(
            "The cursor was made for a different ordering. Request the first "
            "page again with this ordering."
        )
    return CursorPosition(tuple(body["k"]), body["id"])


def _is_cursor_value(value: object) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    return value is None or (
        isinstance(value, int | str) and not isinstance(value, bool)
    )
