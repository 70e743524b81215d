from collections.abc import Iterator

import pytest

from tests.api.runtime_fixtures import Served, serve


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """Return one real Runtime per test module, served through a TestClient."""
    yield from serve(tmp_path_factory.mktemp("runtime"))
