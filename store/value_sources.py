"""The store seen through the protocols block types consult while validating.

:class:`blocks.base.ValueContext` asks for files, records and sequences of
one workspace or app. These adapters answer from a :class:`store.base.Store`,
for submissions through the API and for records written by workflow steps.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from blocks.base import FileInfo
from store.base import Store


@dataclass
class WorkspaceFiles:
    """Files of one workspace, plus uploads checked but not stored yet."""

    store: Store
    workspace_id: str
    staged: Mapping[str, FileInfo] = field(default_factory=dict)
    """Uploads of the submission, by placeholder id."""

    async def get_file(self, file_id: str) -> FileInfo | None:
        """Return a staged upload or a stored file of the workspace, or None."""
        staged = self.staged.get(file_id)
        if staged is not None:
            return staged
        stored = await self.store.get_file(self.workspace_id, file_id)
        return stored.to_file_info() if stored else None


@dataclass
class WorkspaceRecords:
    """Record lookups in one workspace, for lookup blocks."""

    store: Store
    workspace_id: str

    async def record_exists(self, app_slug: str, record_id: str) -> bool:
        """Return whether the app of the workspace has the record."""
        app = await self.store.get_app_by_slug(self.workspace_id, app_slug)
        if app is None:
            return False
        return await self.store.record_exists(self.workspace_id, app.id, record_id)


@dataclass
class AppSequences:
    """Sequences of one app, for unique-number blocks."""

    store: Store
    app_id: str

    async def next_number(self, block_id: str, start: int) -> int:
        """Return the next number of the block's sequence."""
        return await self.store.next_number(self.app_id, block_id, start)
