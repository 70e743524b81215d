"""Fixtures: a value context backed by in-memory files, records and sequences."""

from __future__ import annotations

import pytest

from blocks.base import ValueContext
from tests.blocks.builtin.fakes import FakeFiles, FakeRecords, FakeSequences


@pytest.fixture
def files() -> FakeFiles:
    return FakeFiles()


@pytest.fixture
def records() -> FakeRecords:
    return FakeRecords()


@pytest.fixture
def sequences() -> FakeSequences:
    return FakeSequences()


@pytest.fixture
def context(
    files: FakeFiles, records: FakeRecords, sequences: FakeSequences
) -> ValueContext:
    return ValueContext(
        workspace_id="ws1",
        app_id="app1",
        files=files,
        records=records,
        sequences=sequences,
    )
