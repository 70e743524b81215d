"""Test doubles of the outer world that block types consult while normalizing."""

from __future__ import annotations

from blocks.base import FileInfo


class FakeFiles:
    """Files of one workspace, held in a dict."""

    def __init__(self) -> None:
        self.files: dict[str, FileInfo] = {}

    def add(self, info: FileInfo) -> FileInfo:
        self.files[info.id] = info
        return info

    async def get_file(self, file_id: str) -> FileInfo | None:
        return self.files.get(file_id)


class FakeRecords:
    """Record ids per app slug, held in a set."""

    def __init__(self) -> None:
        self.records: set[tuple[str, str]] = set()

    async def record_exists(self, app_slug: str, record_id: str) -> bool:
        return (app_slug, record_id) in self.records


class FakeSequences:
    """Counters per block id, starting at the requested start."""

    def __init__(self) -> None:
        self.last: dict[str, int] = {}

    async def next_number(self, block_id: str, start: int) -> int:
        number = self.last.get(block_id, start - 1) + 1
        self.last[block_id] = number
        return number
