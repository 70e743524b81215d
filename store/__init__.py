"""Documents and file bytes behind async interfaces, with swappable backends.

:class:`Store` keeps workspaces, tokens, apps with immutable versions,
records, file metadata, sequences and the transactional outbox.
:class:`SQLiteStore` is the embedded backend. :class:`BlobStore` keeps file
bytes by their SHA-256, and :class:`LocalBlobStore` keeps them in a
directory::

    async with SQLiteStore("appgraph.db") as store:
        workspace = await store.create_workspace("acme", "Acme")
"""

from store.base import (
    CursorPosition,
    InvalidCursorError,
    Store,
    decode_cursor,
    encode_cursor,
    generate_token,
    hash_token,
    new_id,
)
from store.blobs import BlobStore, LocalBlobStore
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
from store.sqlite import SQLiteStore

__all__ = [
    "ApiToken",
    "App",
    "AppVersion",
    "BlobStore",
    "CursorPosition",
    "EventKind",
    "InvalidCursorError",
    "LocalBlobStore",
    "OutboxEvent",
    "Page",
    "PendingEvent",
    "Record",
    "Role",
    "SQLiteStore",
    "Store",
    "StoredFile",
    "Workspace",
    "decode_cursor",
    "encode_cursor",
    "generate_token",
    "hash_token",
    "new_id",
]
