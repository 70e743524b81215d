import asyncio

import pytest

from blocks.errors import NotFoundError
from store import App, Store, Workspace
from tests.store.conftest import DEFINITION


async def test_next_number_starts_at_start(store: Store, app: App) -> None:
    assert await store.next_number(app.id, "order_no", 1000) == 1000


async def test_next_number_counts_up(store: Store, app: App) -> None:
    numbers = [await store.next_number(app.id, "order_no", 1) for _ in range(3)]

    assert numbers == [1, 2, 3]


async def test_next_number_ignores_later_start(store: Store, app: App) -> None:
    await store.next_number(app.id, "order_no", 1)

    assert await store.next_number(app.id, "order_no", 500) == 2


async def test_next_number_per_block(store: Store, app: App) -> None:
    await store.next_number(app.id, "order_no", 1)

    assert await store.next_number(app.id, "invoice_no", 1) == 1


async def test_next_number_per_app(
    store: Store, app: App, workspace: Workspace
) -> None:
    other, _ = await store.create_app(
        workspace.id, "visits", "Visits", "", DEFINITION, "admin-1"
    )
    await store.next_number(app.id, "order_no", 1)

    assert await store.next_number(other.id, "order_no", 1) == 1


async def test_next_number_concurrent_calls(store: Store, app: App) -> None:
    numbers = await asyncio.gather(
        *(store.next_number(app.id, "order_no", 10) for _ in range(50))
    )

    assert sorted(numbers) == list(range(10, 60))


async def test_next_number_big_start(store: Store, app: App) -> None:
    start = 2**62

    await store.next_number(app.id, "order_no", start)

    assert await store.next_number(app.id, "order_no", start) == start + 1


async def test_next_number_unknown_app_raises(store: Store) -> None:
    with pytest.raises(NotFoundError):
        await store.next_number("missing", "order_no", 1)
