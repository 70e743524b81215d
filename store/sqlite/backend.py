"""The embedded store: one SQLite file in WAL mode, through aiosqlite.

SQLite allows one writer at a time, so all writes of a store go through one
connection, serialized by an asyncio lock, each in a ``BEGIN IMMEDIATE``
transaction that takes the write lock at its start. That makes each write
method one atomic step, also against other processes that open the same
file. Reads use a second connection and see the last committed state,
because WAL lets readers run beside the writer.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import aiosqlite

from blocks.errors import ConflictError, NotFoundError, StorageError
from blocks.filters import FilterNode, OrderBy
from store.base import (
    TOKEN_PREFIX,
    CursorPosition,
    CursorValue,
    Store,
    decode_cursor,
    encode_cursor,
    generate_token,
    hash_token,
    new_id,
)
from store.models import (
    ApiToken,
    App,
    AppVersion,
    EventKind,
    OutboxEvent,
    Page,
    PendingEvent,
    Record,
    Role,
    StoredFile,
    Workspace,
)
from store.sqlite.filters import SQL_FUNCTIONS, compile_filter, sort_key_sql
from store.sqlite.schema import migrate

logger = logging.getLogger(__name__)

_SYNCHRONOUS_MODES = ("NORMAL", "FULL", "EXTRA")
_MEMORY = ":memory:"

_T = TypeVar("_T")


class SQLiteStore(Store):
    """A :class:`~store.base.Store` in one SQLite file.

    Args:
        path: The database file, created when missing. ``":memory:"`` keeps
            the data in memory on one connection, for tests.
        busy_timeout: Seconds to wait for another process's write lock.
        synchronous: SQLite's ``synchronous`` setting. With WAL, ``NORMAL``
            (the default) keeps every committed write through an application
            crash, but a power loss or OS crash may undo the last commits.
            ``FULL`` syncs the WAL at every commit, so commits survive those
            too, at the cost of one fsync per write (SQLite documentation of
            ``PRAGMA synchronous``).
    """

    def __init__(
        self,
        path: str | Path,
        *,
        busy_timeout: float = 5.0,
        synchronous: str = "NORMAL",
    ) -> None:
        if synchronous not in _SYNCHRONOUS_MODES:
            raise ValueError(
                f"Invalid synchronous mode {synchronous!r}: expected one of "
                f"{', '.join(_SYNCHRONOUS_MODES)}."
            )
        self.path = path if str(path) == _MEMORY else Path(path)
        self._busy_timeout = busy_timeout
        self._synchronous = synchronous
        self._writer: aiosqlite.Connection | None = None
        self._reader: aiosqlite.Connection | None = None
        self._lock = asyncio.Lock()

    # Lifecycle -------------------------------------------------------------

    async def open(self) -> None:
        """Connect, enable WAL and apply the schema migrations."""
        if self._writer is not None:
            return
        writer = await self._connect()
        try:
            await migrate(writer)
            reader = writer if self.path == _MEMORY else await self._connect()
        except BaseException:
            await writer.close()
            raise
        if reader is not writer:
            await reader.execute("PRAGMA query_only = ON")
        self._writer, self._reader = writer, reader
        logger.debug("Opened the SQLite store at %s", self.path)

    async def close(self) -> None:
        """Close both connections."""
        writer, reader = self._writer, self._reader
        self._writer = self._reader = None
        if reader is not None and reader is not writer:
            await reader.close()
        if writer is not None:
            await writer.close()
            logger.debug("Closed the SQLite store at %s", self.path)

    async def _connect(self) -> aiosqlite.Connection:
        db = await aiosqlite.connect(
            self.path, timeout=self._busy_timeout, isolation_level=None
        )
        try:
            db.row_factory = aiosqlite.Row
            await db.execute("PRAGMA journal_mode = WAL")
            await db.execute(f"PRAGMA synchronous = {self._synchronous}")
            await db.execute("PRAGMA foreign_keys = ON")
            await db.execute(f"PRAGMA busy_timeout = {int(self._busy_timeout * 1000)}")
            for name, arguments, function in SQL_FUNCTIONS:
                await db.create_function(name, arguments, function, deterministic=True)
        except BaseException:
            await db.close()
            raise
        return db

    @asynccontextmanager
    async def _write(self) -> AsyncIterator[aiosqlite.Connection]:
        """Run the body in one write transaction, committed when it returns."""
        db = self._connection(self._writer)
        async with self._lock:
            await db.execute("BEGIN IMMEDIATE")
            try:
                yield db
                await db.execute("COMMIT")
            except BaseException:
                if db.in_transaction:
                    await db.execute("ROLLBACK")
                raise

    async def _run_in_write_transaction(
        self, transaction: Callable[[sqlite3.Connection], _T]
    ) -> _T:
        """Run ``transaction`` in one write transaction on the writer's thread.

        ``BEGIN IMMEDIATE``, the function and ``COMMIT`` (or ``ROLLBACK`` when
        it raises) run as one call on the writer connection's thread, so the
        whole transaction costs one round trip from the event loop, where
        :meth:`_write` costs one per statement. The function is synchronous
        and runs while the write lock is held. A caller cancelled meanwhile
        releases the lock, but the transaction still ends in ``COMMIT`` or
        ``ROLLBACK`` before the thread runs any later call on the connection.
        """
        db = self._connection(self._writer)
        async with self._lock:
            # NOTE: aiosqlite 0.22 has no public call that runs a function on
            # a connection's thread. Connection._execute queues one and awaits
            # its result, as its own execute() does.
            result: _T = await db._execute(  # type: ignore[no-untyped-call]
                _run_transaction, db._conn, transaction
            )
        return result

    async def _fetch_one(
        self, sql: str, params: Sequence[object] = ()
    ) -> aiosqlite.Row | None:
        rows = await self._fetch_all(sql, params)
        return rows[0] if rows else None

    async def _fetch_all(
        self, sql: str, params: Sequence[object] = ()
    ) -> list[aiosqlite.Row]:
        db = self._connection(self._reader)
        if db is self._writer:
            # One in-memory connection: wait for writes so that a read never
            # returns rows of a transaction that may still roll back.
            async with self._lock:
                return await _fetch(db, sql, params)
        return await _fetch(db, sql, params)

    def _connection(self, db: aiosqlite.Connection | None) -> aiosqlite.Connection:
        if db is None:
            raise StorageError(
                "The SQLite store is not open. Call open() first or use it as "
                "'async with SQLiteStore(...) as store'."
            )
        return db

    # Workspaces ------------------------------------------------------------

    async def create_workspace(self, slug: str, name: str) -> Workspace:
        """Create a workspace, raising ConflictError when the slug is taken."""
        workspace = Workspace(new_id(), slug, name, _now())
        async with self._write() as db:
            try:
                await db.execute(
                    "INSERT INTO workspaces (id, slug, name, created_at) "
                    "VALUES (?, ?, ?, ?)",
                    (workspace.id, slug, name, _text(workspace.created_at)),
                )
            except sqlite3.IntegrityError as error:
                if not _is_unique_violation(error, "workspaces.slug"):
                    raise
                raise ConflictError(
                    f"A workspace with slug {slug!r} already exists. Choose "
                    f"another slug."
                ) from error
        return workspace

    async def get_workspace(self, workspace_id: str) -> Workspace | None:
        """Return the workspace with ``workspace_id``, or None."""
        row = await self._fetch_one(
            "SELECT * FROM workspaces WHERE id = ?", (workspace_id,)
        )
        return None if row is None else _workspace(row)

    async def get_workspace_by_slug(self, slug: str) -> Workspace | None:
        """Return the workspace with ``slug``, or None."""
        row = await self._fetch_one("SELECT * FROM workspaces WHERE slug = ?", (slug,))
        return None if row is None else _workspace(row)

    async def list_workspaces(self) -> list[Workspace]:
        """Return every workspace, ordered by slug."""
        rows = await self._fetch_all("SELECT * FROM workspaces ORDER BY slug")
        return [_workspace(row) for row in rows]

    # API tokens ------------------------------------------------------------

    async def create_token(
        self, workspace_id: str, role: Role, user_id: str, label: str
    ) -> tuple[str, ApiToken]:
        """Create a token and return its plaintext, which is not stored."""
        plaintext = generate_token()
        token = ApiToken(new_id(), workspace_id, user_id, Role(role), label, _now())
        async with self._write() as db:
            await _require_workspace(db, workspace_id)
            await db.execute(
                "INSERT INTO api_tokens (id, workspace_id, user_id, role, label, "
                "token_hash, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    token.id,
                    workspace_id,
                    user_id,
                    token.role.value,
                    label,
                    hash_token(plaintext),
                    _text(token.created_at),
                ),
            )
        return plaintext, token

    async def authenticate(self, token: str) -> ApiToken | None:
        """Return the unrevoked token with this plaintext, or None."""
        if not token.startswith(TOKEN_PREFIX):
            return None
        row = await self._fetch_one(
            "SELECT * FROM api_tokens WHERE token_hash = ? AND revoked_at IS NULL",
            (hash_token(token),),
        )
        return None if row is None else _token(row)

    async def revoke_token(
        self, token_id: str, *, workspace_id: str | None = None
    ) -> None:
        """Revoke a token, checking its workspace when ``workspace_id`` is given."""
        async with self._write() as db:
            rows = await _fetch(
                db, "SELECT workspace_id FROM api_tokens WHERE id = ?", (token_id,)
            )
            if not rows or workspace_id not in (None, rows[0]["workspace_id"]):
                raise NotFoundError(
                    f"Token {token_id!r} was not found in the workspace. List "
                    f"the workspace's tokens for valid ids."
                )
            await db.execute(
                "UPDATE api_tokens SET revoked_at = ? "
                "WHERE id = ? AND revoked_at IS NULL",
                (_text(_now()), token_id),
            )

    async def list_tokens(self, workspace_id: str) -> list[ApiToken]:
        """Return the unrevoked tokens of a workspace, oldest first."""
        rows = await self._fetch_all(
            "SELECT * FROM api_tokens WHERE workspace_id = ? AND revoked_at IS NULL "
            "ORDER BY id",
            (workspace_id,),
        )
        return [_token(row) for row in rows]

    # Apps and versions -----------------------------------------------------

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
        """Create an app, its version 1 and the version's event atomically."""
        now = _now()
        app = App(
            id=new_id(),
            workspace_id=workspace_id,
            slug=slug,
            name=name,
            description=description,
            current_version=1,
            shared_with_members=shared_with_members,
            created_at=now,
            updated_at=now,
        )
        version = AppVersion(app.id, 1, _copy_json(definition), author, now, note)
        async with self._write() as db:
            await _require_workspace(db, workspace_id)
            try:
                await db.execute(
                    "INSERT INTO apps (id, workspace_id, slug, name, description, "
                    "current_version, shared_with_members, created_at, updated_at) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        app.id,
                        workspace_id,
                        slug,
                        name,
                        description,
                        1,
                        int(shared_with_members),
                        _text(now),
                        _text(now),
                    ),
                )
            except sqlite3.IntegrityError as error:
                if not _is_unique_violation(error, "apps.slug"):
                    raise
                raise ConflictError(
                    f"An app with slug {slug!r} already exists in this workspace. "
                    f"Choose another slug."
                ) from error
            await _insert_version(db, workspace_id, version)
        return app, version

    async def save_version(
        self,
        app_id: str,
        definition: dict[str, Any],
        author: str,
        note: str = "",
        expected_current: int | None = None,
    ) -> AppVersion:
        """Save version n + 1 and make it current, with its event, atomically."""
        async with self._write() as db:
            rows = await _fetch(
                db,
                "SELECT workspace_id, current_version FROM apps WHERE id = ?",
                (app_id,),
            )
            if not rows:
                raise _app_not_found(app_id)
            current = int(rows[0]["current_version"])
            if expected_current is not None and expected_current != current:
                raise ConflictError(
                    f"App {app_id!r} is at version {current}, but the change was "
                    f"based on version {expected_current}. Reload the app and "
                    f"apply the change again."
                )
            now = _now()
            version = AppVersion(
                app_id, current + 1, _copy_json(definition), author, now, note
            )
            await _insert_version(db, rows[0]["workspace_id"], version)
            await db.execute(
                "UPDATE apps SET current_version = ?, updated_at = ? WHERE id = ?",
                (version.number, _text(now), app_id),
            )
        return version

    async def get_app(self, app_id: str) -> App | None:
        """Return the app with ``app_id``, or None."""
        row = await self._fetch_one("SELECT * FROM apps WHERE id = ?", (app_id,))
        return None if row is None else _app(row)

    async def get_app_by_slug(self, workspace_id: str, slug: str) -> App | None:
        """Return the app of a workspace with ``slug``, or None."""
        row = await self._fetch_one(
            "SELECT * FROM apps WHERE workspace_id = ? AND slug = ?",
            (workspace_id, slug),
        )
        return None if row is None else _app(row)

    async def list_apps(self, workspace_id: str) -> list[App]:
        """Return the apps of a workspace, ordered by slug."""
        rows = await self._fetch_all(
            "SELECT * FROM apps WHERE workspace_id = ? ORDER BY slug", (workspace_id,)
        )
        return [_app(row) for row in rows]

    async def update_app(
        self,
        app_id: str,
        *,
        name: str | None = None,
        description: str | None = None,
        shared_with_members: bool | None = None,
    ) -> App:
        """Change the given attributes of an app and return the app."""
        if name is None and description is None and shared_with_members is None:
            app = await self.get_app(app_id)
            if app is None:
                raise _app_not_found(app_id)
            return app
        shared = None if shared_with_members is None else int(shared_with_members)
        async with self._write() as db:
            rows = await _fetch(
                db,
                "UPDATE apps SET name = coalesce(?, name), "
                "description = coalesce(?, description), "
                "shared_with_members = coalesce(?, shared_with_members), "
                "updated_at = ? WHERE id = ? RETURNING *",
                (name, description, shared, _text(_now()), app_id),
            )
        if not rows:
            raise _app_not_found(app_id)
        return _app(rows[0])

    async def get_version(self, app_id: str, number: int) -> AppVersion | None:
        """Return version ``number`` of an app, or None."""
        row = await self._fetch_one(
            "SELECT * FROM app_versions WHERE app_id = ? AND number = ?",
            (app_id, number),
        )
        return None if row is None else _version(row)

    async def list_versions(self, app_id: str) -> list[AppVersion]:
        """Return every version of an app, oldest first."""
        rows = await self._fetch_all(
            "SELECT * FROM app_versions WHERE app_id = ? ORDER BY number", (app_id,)
        )
        return [_version(row) for row in rows]

    # Records ---------------------------------------------------------------

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
        """Insert a record with its events, or return the idempotent original."""
        now = _now()
        data_text = _dump_json(data, "record data")
        record = Record(
            id=new_id(),
            workspace_id=workspace_id,
            app_id=app_id,
            version=version,
            data=json.loads(data_text),
            created_by=created_by,
            created_at=now,
            updated_by=created_by,
            updated_at=now,
            revision=1,
            idempotency_key=idempotency_key,
            idempotency_fingerprint=idempotency_fingerprint,
        )
        async with self._write() as db:
            await _require_app_version(db, app_id, version, workspace_id)
            try:
                await db.execute(
                    "INSERT INTO records (id, workspace_id, app_id, version, data, "
                    "created_by, created_at, updated_by, updated_at, revision, "
                    "idempotency_key, idempotency_fingerprint) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        record.id,
                        workspace_id,
                        app_id,
                        version,
                        data_text,
                        created_by,
                        _text(now),
                        created_by,
                        _text(now),
                        1,
                        idempotency_key,
                        idempotency_fingerprint,
                    ),
                )
            except sqlite3.IntegrityError as error:
                # The unique index decides which of two racing inserts wins.
                # The loser returns the winner's record and writes no event.
                if idempotency_key is None or not _is_unique_violation(
                    error, "records.idempotency_key"
                ):
                    raise
                rows = await _fetch(
                    db,
                    "SELECT * FROM records WHERE app_id = ? AND created_by = ? "
                    "AND idempotency_key = ?",
                    (app_id, created_by, idempotency_key),
                )
                return _record(rows[0]), False
            await _insert_record_events(db, record, EventKind.RECORD_CREATED, events)
        return record, True

    async def update_record(
        self,
        record_id: str,
        data: dict[str, Any],
        version: int,
        updated_by: str,
        expected_revision: int | None = None,
        events: Sequence[PendingEvent] = (),
    ) -> Record:
        """Replace a record's data as revision n + 1, with its events."""
        data_text = _dump_json(data, "record data")
        now = _now()
        async with self._write() as db:
            current = await _require_live_record(db, record_id)
            if expected_revision is not None and expected_revision != current.revision:
                raise ConflictError(
                    f"Record {record_id!r} is at revision {current.revision}, but "
                    f"the update was based on revision {expected_revision}. Reload "
                    f"the record and apply the change again."
                )
            await _require_app_version(db, current.app_id, version)
            rows = await _fetch(
                db,
                "UPDATE records SET data = ?, version = ?, updated_by = ?, "
                "updated_at = ?, revision = revision + 1 WHERE id = ? RETURNING *",
                (data_text, version, updated_by, _text(now), record_id),
            )
            record = _record(rows[0])
            await _insert_record_events(
                db, record, EventKind.RECORD_UPDATED, events, current.data
            )
        return record

    async def delete_record(
        self,
        record_id: str,
        deleted_by: str,
        events: Sequence[PendingEvent] = (),
    ) -> Record:
        """Mark a record deleted, keep its tombstone and write its events."""
        async with self._write() as db:
            await _require_live_record(db, record_id)
            rows = await _fetch(
                db,
                "UPDATE records SET deleted_at = ?, deleted_by = ? WHERE id = ? "
                "RETURNING *",
                (_text(_now()), deleted_by, record_id),
            )
            record = _record(rows[0])
            await _insert_record_events(
                db, record, EventKind.RECORD_DELETED, events, record.data
            )
        return record

    async def get_record(self, record_id: str) -> Record | None:
        """Return the undeleted record with ``record_id``, or None."""
        row = await self._fetch_one(
            "SELECT * FROM records WHERE id = ? AND deleted_at IS NULL", (record_id,)
        )
        return None if row is None else _record(row)

    async def record_exists(
        self, workspace_id: str, app_id: str, record_id: str
    ) -> bool:
        """Return whether the app of the workspace has the undeleted record."""
        row = await self._fetch_one(
            "SELECT 1 FROM records WHERE id = ? AND app_id = ? AND workspace_id = ? "
            "AND deleted_at IS NULL",
            (record_id, app_id, workspace_id),
        )
        return row is not None

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
        """Return one page of records in one SELECT, sorted by ``order`` and id."""
        if first < 0:
            raise ValueError(f"first must be 0 or more, got {first}.")
        order = tuple(order)
        conditions, params = _record_conditions(app_id, where, created_by)
        keys = [sort_key_sql(o, "r.data") for o in order]
        if after is not None:
            position = decode_cursor(after, order)
            after_sql, after_params = _after_condition(keys, order, position)
            conditions.append(after_sql)
            params.extend(after_params)

        selected = "".join(f", {key} AS sort_{i}" for i, key in enumerate(keys))
        sorting = [
            f"sort_{i} DESC NULLS FIRST" if o.descending else f"sort_{i} ASC NULLS LAST"
            for i, o in enumerate(order)
        ]
        sql = (
            f"SELECT r.*{selected} FROM records AS r "
            f"WHERE {' AND '.join(conditions)} "
            f"ORDER BY {', '.join([*sorting, 'r.id ASC'])} LIMIT ?"
        )
        rows = await self._fetch_all(sql, [*params, first + 1])

        items = [_record(row) for row in rows[:first]]
        cursors = tuple(
            encode_cursor(
                order,
                CursorPosition(
                    tuple(row[f"sort_{i}"] for i in range(len(order))), row["id"]
                ),
            )
            for row in rows[:first]
        )
        return Page(
            items=items,
            end_cursor=cursors[-1] if cursors else None,
            has_next=len(rows) > first,
            cursors=cursors,
        )

    async def count_records(
        self,
        app_id: str,
        where: FilterNode | None = None,
        created_by: str | None = None,
    ) -> int:
        """Return how many undeleted records of an app match ``where``."""
        conditions, params = _record_conditions(app_id, where, created_by)
        row = await self._fetch_one(
            f"SELECT count(*) FROM records AS r WHERE {' AND '.join(conditions)}",
            params,
        )
        return 0 if row is None else int(row[0])

    # Sequences -------------------------------------------------------------

    async def next_number(self, app_id: str, block_id: str, start: int) -> int:
        """Allocate the next number, starting at ``start`` on the first call."""
        async with self._write() as db:
            try:
                rows = await _fetch(
                    db,
                    "INSERT INTO sequences (app_id, block_id, last_value) "
                    "VALUES (?, ?, ?) ON CONFLICT (app_id, block_id) "
                    "DO UPDATE SET last_value = last_value + 1 RETURNING last_value",
                    (app_id, block_id, start),
                )
            except sqlite3.IntegrityError as error:
                if error.sqlite_errorname != "SQLITE_CONSTRAINT_FOREIGNKEY":
                    raise
                raise _app_not_found(app_id) from error
        return int(rows[0]["last_value"])

    # Files -----------------------------------------------------------------

    async def put_file(
        self,
        workspace_id: str,
        filename: str,
        content_type: str,
        size: int,
        sha256: str,
        created_by: str,
    ) -> StoredFile:
        """Store the metadata of a file whose bytes are in the blob store."""
        stored = StoredFile(
            new_id(),
            workspace_id,
            filename,
            content_type,
            size,
            sha256,
            created_by,
            _now(),
        )
        async with self._write() as db:
            await _require_workspace(db, workspace_id)
            await db.execute(
                "INSERT INTO files (id, workspace_id, filename, content_type, size, "
                "sha256, created_by, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    stored.id,
                    workspace_id,
                    filename,
                    content_type,
                    size,
                    sha256,
                    created_by,
                    _text(stored.created_at),
                ),
            )
        return stored

    async def get_file(self, workspace_id: str, file_id: str) -> StoredFile | None:
        """Return the file of ``workspace_id`` with ``file_id``, or None."""
        row = await self._fetch_one(
            "SELECT * FROM files WHERE id = ? AND workspace_id = ?",
            (file_id, workspace_id),
        )
        return None if row is None else _file(row)

    # Outbox ----------------------------------------------------------------

    async def list_events(
        self,
        workspace_id: str,
        after_seq: int,
        limit: int,
        owner: str | None = None,
        kinds: Sequence[str] | None = None,
    ) -> list[OutboxEvent]:
        """Return up to ``limit`` events of a workspace after ``after_seq``."""
        if limit < 0:
            raise ValueError(f"limit must be 0 or more, got {limit}.")
        conditions = ["workspace_id = ?", "seq > ?"]
        params: list[object] = [workspace_id, after_seq]
        if owner is not None:
            conditions.append("(owner IS NULL OR owner = ?)")
            params.append(owner)
        if kinds is not None:
            conditions.append("kind IN (SELECT value FROM json_each(?))")
            params.append(json.dumps([str(kind) for kind in kinds]))
        rows = await self._fetch_all(
            f"SELECT * FROM outbox WHERE {' AND '.join(conditions)} "
            f"ORDER BY seq LIMIT ?",
            [*params, limit],
        )
        return [_event(row) for row in rows]

    async def fetch_undispatched(self, limit: int) -> list[OutboxEvent]:
        """Return up to ``limit`` undispatched events, oldest first."""
        if limit < 0:
            raise ValueError(f"limit must be 0 or more, got {limit}.")
        rows = await self._fetch_all(
            "SELECT * FROM outbox WHERE dispatched_at IS NULL ORDER BY seq LIMIT ?",
            (limit,),
        )
        return [_event(row) for row in rows]

    async def mark_dispatched(self, seqs: Sequence[int]) -> None:
        """Mark events as delivered so that the dispatcher skips them."""
        if not seqs:
            return
        async with self._write() as db:
            await db.execute(
                "UPDATE outbox SET dispatched_at = ? "
                "WHERE seq IN (SELECT value FROM json_each(?)) "
                "AND dispatched_at IS NULL",
                (_text(_now()), json.dumps([int(seq) for seq in seqs])),
            )

    async def latest_seq(self, workspace_id: str) -> int:
        """Return the greatest ``seq`` of a workspace's events, or 0."""
        row = await self._fetch_one(
            "SELECT max(seq) FROM outbox WHERE workspace_id = ?", (workspace_id,)
        )
        return 0 if row is None or row[0] is None else int(row[0])


# Statements inside a write transaction --------------------------------------


def _run_transaction(
    connection: sqlite3.Connection, transaction: Callable[[sqlite3.Connection], _T]
) -> _T:
    # Runs on the connection's thread, so no other call on the connection can
    # come between BEGIN and COMMIT.
    connection.execute("BEGIN IMMEDIATE")
    try:
        result = transaction(connection)
        connection.execute("COMMIT")
    except BaseException:
        if connection.in_transaction:
            connection.execute("ROLLBACK")
        raise
    return result


async def _fetch(
    db: aiosqlite.Connection, sql: str, params: Iterable[object] = ()
) -> list[aiosqlite.Row]:
    # execute_fetchall runs the statement to its end in one call on the
    # connection's thread. With a cursor held across awaits, another read on
    # the shared reader connection would join the open read transaction and
    # see a snapshot from before later commits.
    return list(await db.execute_fetchall(sql, tuple(params)))


async def _require_workspace(db: aiosqlite.Connection, workspace_id: str) -> None:
    rows = await _fetch(db, "SELECT 1 FROM workspaces WHERE id = ?", (workspace_id,))
    if not rows:
        raise NotFoundError(
            f"Workspace {workspace_id!r} was not found. Create it first or "
            f"check the id."
        )


async def _require_app_version(
    db: aiosqlite.Connection,
    app_id: str,
    version: int,
    workspace_id: str | None = None,
) -> None:
    rows = await _fetch(
        db,
        "SELECT a.workspace_id, v.number FROM apps AS a "
        "LEFT JOIN app_versions AS v ON v.app_id = a.id AND v.number = ? "
        "WHERE a.id = ?",
        (version, app_id),
    )
    if not rows or workspace_id not in (None, rows[0]["workspace_id"]):
        raise _app_not_found(app_id)
    if rows[0]["number"] is None:
        raise NotFoundError(
            f"App {app_id!r} has no version {version}. Submit against a saved "
            f"version of the app."
        )


async def _require_live_record(db: aiosqlite.Connection, record_id: str) -> Record:
    rows = await _fetch(
        db,
        "SELECT * FROM records WHERE id = ? AND deleted_at IS NULL",
        (record_id,),
    )
    if not rows:
        raise NotFoundError(
            f"Record {record_id!r} was not found or was deleted. Check the id."
        )
    return _record(rows[0])


async def _insert_version(
    db: aiosqlite.Connection, workspace_id: str, version: AppVersion
) -> None:
    await db.execute(
        "INSERT INTO app_versions (app_id, number, definition, author, note, "
        "created_at) VALUES (?, ?, ?, ?, ?, ?)",
        (
            version.app_id,
            version.number,
            _dump_json(version.definition, "definition"),
            version.author,
            version.note,
            _text(version.created_at),
        ),
    )
    await _insert_event(
        db,
        workspace_id=workspace_id,
        app_id=version.app_id,
        kind=EventKind.DEFINITION_VERSION_CREATED,
        subject_id=version.app_id,
        payload={"app_id": version.app_id, "version": version.number},
        owner=None,
    )


async def _insert_record_events(
    db: aiosqlite.Connection,
    record: Record,
    kind: EventKind,
    extra: Sequence[PendingEvent],
    previous: dict[str, Any] | None = None,
) -> None:
    payload: dict[str, Any] = {
        "record_id": record.id,
        "app_id": record.app_id,
        "version": record.version,
    }
    if kind is EventKind.RECORD_UPDATED:
        payload["revision"] = record.revision
    # The record event carries the data as committed, so a consumer that
    # handles it later (the workflow triggers) reads this change and not the
    # record as it is by then. Extra events get only the identifying keys.
    snapshot: dict[str, Any] = {
        **payload,
        "revision": record.revision,
        "data": record.data,
    }
    if kind is not EventKind.RECORD_CREATED:
        snapshot["previous"] = previous
    events = [(str(kind), snapshot)]
    events.extend((e.kind, {**e.payload, **payload}) for e in extra)
    for event_kind, event_payload in events:
        await _insert_event(
            db,
            workspace_id=record.workspace_id,
            app_id=record.app_id,
            kind=event_kind,
            subject_id=record.id,
            payload=event_payload,
            owner=record.created_by,
        )


async def _insert_event(
    db: aiosqlite.Connection,
    *,
    workspace_id: str,
    app_id: str,
    kind: str,
    subject_id: str,
    payload: dict[str, Any],
    owner: str | None,
) -> None:
    await db.execute(
        "INSERT INTO outbox (workspace_id, app_id, kind, subject_id, payload, owner, "
        "created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (
            workspace_id,
            app_id,
            str(kind),
            subject_id,
            _dump_json(payload, "event payload"),
            owner,
            _text(_now()),
        ),
    )


# Queries ----------------------------------------------------------------------


def _record_conditions(
    app_id: str, where: FilterNode | None, created_by: str | None
) -> tuple[list[str], list[object]]:
    conditions = ["r.app_id = ?", "r.deleted_at IS NULL"]
    params: list[object] = [app_id]
    if created_by is not None:
        conditions.append("r.created_by = ?")
        params.append(created_by)
    if where is not None:
        sql, where_params = compile_filter(where, "r.data")
        conditions.append(sql)
        params.extend(where_params)
    return conditions, params


def _after_condition(
    keys: Sequence[str], order: Sequence[OrderBy], position: CursorPosition
) -> tuple[str, list[object]]:
    """Return the condition for rows after ``position`` in the page order.

    A row comes after the cursor when its keys equal the cursor's up to some
    key and that key comes later, or when all keys are equal and its id is
    greater. NULLs sort last ascending and first descending.
    """
    alternatives: list[str] = []
    params: list[object] = []
    equal_sql: list[str] = []
    equal_params: list[object] = []
    for key, ordering, value in zip(keys, order, position.values, strict=True):
        later_sql, later_params = _later_than(key, ordering.descending, value)
        if later_sql is not None:
            alternatives.append(" AND ".join([*equal_sql, later_sql]))
            params.extend([*equal_params, *later_params])
        if value is None:
            equal_sql.append(f"{key} IS NULL")
        else:
            equal_sql.append(f"{key} = ?")
            equal_params.append(value)
    alternatives.append(" AND ".join([*equal_sql, "r.id > ?"]))
    params.extend([*equal_params, position.record_id])
    return "(" + " OR ".join(f"({a})" for a in alternatives) + ")", params


def _later_than(
    key: str, descending: bool, value: CursorValue
) -> tuple[str | None, list[object]]:
    if descending:
        if value is None:
            return f"{key} IS NOT NULL", []
        return f"{key} < ?", [value]
    if value is None:
        return None, []
    return f"({key} > ? OR {key} IS NULL)", [value]


# Rows to models --------------------------------------------------------------


def _now() -> datetime:
    return datetime.now(UTC)


def _text(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text)


def _optional_time(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


def _dump_json(value: Any, label: str) -> str:
    try:
        return json.dumps(
            value, ensure_ascii=False, separators=(",", ":"), allow_nan=False
        )
    except (TypeError, ValueError) as error:
        raise ValueError(
            f"The {label} is not JSON data ({error}). Store exact decimals as "
            f"strings and use only str, int, bool, None, lists and dicts."
        ) from error


def _copy_json(value: dict[str, Any]) -> dict[str, Any]:
    copied: dict[str, Any] = json.loads(_dump_json(value, "definition"))
    return copied


def _is_unique_violation(error: sqlite3.IntegrityError, column: str) -> bool:
    return error.sqlite_errorname == "SQLITE_CONSTRAINT_UNIQUE" and column in str(error)


def _app_not_found(app_id: str) -> NotFoundError:
    return NotFoundError(
        f"App {app_id!r} was not found in the workspace. Check the app id."
    )


def _workspace(row: aiosqlite.Row) -> Workspace:
    return Workspace(row["id"], row["slug"], row["name"], _time(row["created_at"]))


def _token(row: aiosqlite.Row) -> ApiToken:
    return ApiToken(
        id=row["id"],
        workspace_id=row["workspace_id"],
        user_id=row["user_id"],
        role=Role(row["role"]),
        label=row["label"],
        created_at=_time(row["created_at"]),
        revoked_at=_optional_time(row["revoked_at"]),
    )


def _app(row: aiosqlite.Row) -> App:
    return App(
        id=row["id"],
        workspace_id=row["workspace_id"],
        slug=row["slug"],
        name=row["name"],
        description=row["description"],
        current_version=row["current_version"],
        shared_with_members=bool(row["shared_with_members"]),
        created_at=_time(row["created_at"]),
        updated_at=_time(row["updated_at"]),
    )


def _version(row: aiosqlite.Row) -> AppVersion:
    return AppVersion(
        app_id=row["app_id"],
        number=row["number"],
        definition=json.loads(row["definition"]),
        author=row["author"],
        created_at=_time(row["created_at"]),
        note=row["note"],
    )


def _record(row: aiosqlite.Row) -> Record:
    return Record(
        id=row["id"],
        workspace_id=row["workspace_id"],
        app_id=row["app_id"],
        version=row["version"],
        data=json.loads(row["data"]),
        created_by=row["created_by"],
        created_at=_time(row["created_at"]),
        updated_by=row["updated_by"],
        updated_at=_time(row["updated_at"]),
        revision=row["revision"],
        idempotency_key=row["idempotency_key"],
        deleted_at=_optional_time(row["deleted_at"]),
        idempotency_fingerprint=row["idempotency_fingerprint"],
    )


def _file(row: aiosqlite.Row) -> StoredFile:
    return StoredFile(
        id=row["id"],
        workspace_id=row["workspace_id"],
        filename=row["filename"],
        content_type=row["content_type"],
        size=row["size"],
        sha256=row["sha256"],
        created_by=row["created_by"],
        created_at=_time(row["created_at"]),
    )


def _event(row: aiosqlite.Row) -> OutboxEvent:
    return OutboxEvent(
        seq=row["seq"],
        workspace_id=row["workspace_id"],
        app_id=row["app_id"],
        kind=row["kind"],
        subject_id=row["subject_id"],
        payload=json.loads(row["payload"]),
        owner=row["owner"],
        created_at=_time(row["created_at"]),
    )
