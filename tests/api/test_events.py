import asyncio
from datetime import UTC, datetime

from api.events import EventBus
from store import OutboxEvent


def _event(seq: int, workspace_id: str = "w1") -> OutboxEvent:
    return OutboxEvent(
        seq=seq,
        workspace_id=workspace_id,
        app_id="a1",
        kind="record.created",
        subject_id=f"r{seq}",
        payload={},
        owner=None,
        created_at=datetime.now(UTC),
    )


async def _first(bus: EventBus, workspace_id: str, count: int) -> list[int]:
    seen: list[int] = []
    async for event in bus.subscribe(workspace_id):
        seen.append(event.seq)
        if len(seen) == count:
            break
    return seen


async def test_bus_drops_redelivered_event() -> None:
    bus = EventBus()
    reader = asyncio.create_task(_first(bus, "w1", 2))
    await asyncio.sleep(0)
    for seq in (1, 1, 2):
        bus.publish(_event(seq))
    assert await asyncio.wait_for(reader, 1) == [1, 2]


async def test_bus_keeps_workspaces_apart() -> None:
    bus = EventBus()
    reader = asyncio.create_task(_first(bus, "w1", 1))
    await asyncio.sleep(0)
    bus.publish(_event(1, "w2"))
    bus.publish(_event(2, "w1"))
    assert await asyncio.wait_for(reader, 1) == [2]
