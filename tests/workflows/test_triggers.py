from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from store import SQLiteStore
from store.sqlite.workflows import SQLiteWorkflowStore
from store.workflows import NewRun, RecordState, RunStatus
from tests.workflows.conftest import World
from workflows.triggers import CONSUMER_NAME, Scheduler, latest_due_time

STOP = [{"id": "done", "type": "stop"}]


def workflow(trigger: dict[str, Any], enabled: bool = True) -> dict[str, Any]:
    return {"name": "W", "enabled": enabled, "trigger": trigger, "steps": STOP}


async def test_one_run_per_workflow_and_event(world: World) -> None:
    first = await world.add_workflow(workflow({"type": "record_created"}))
    second = await world.add_workflow(workflow({"type": "record_created"}))
    await world.add_order(name="a", amount=1)

    runs = await world.dispatch()
    db = world.store._writer
    assert db is not None
    await db.execute("DELETE FROM workflow_consumers WHERE name = ?", (CONSUMER_NAME,))
    again = await world.dispatch()

    assert len(runs) == 2
    assert again == []
    assert len(await world.workflows.list_runs(first)) == 1
    assert len(await world.workflows.list_runs(second)) == 1


async def test_offset_resumes_after_handled_events(world: World) -> None:
    await world.add_workflow(workflow({"type": "record_created"}))
    await world.add_order(name="a", amount=1)
    await world.dispatch()
    await world.add_order(name="b", amount=1)

    runs = await world.dispatch()

    assert len(runs) == 1
    run = await world.workflows.get_run(runs[0])
    assert run is not None
    assert run.trigger["record"]["name"] == "b"
    assert await world.workflows.get_consumer_offset(CONSUMER_NAME) == run.event_seq


async def test_events_before_workflow_are_ignored(world: World) -> None:
    await world.add_order(name="old", amount=1)
    await world.add_workflow(workflow({"type": "record_created"}))

    assert await world.dispatch() == []


async def test_disabled_workflow_never_runs(world: World) -> None:
    await world.add_workflow(workflow({"type": "record_created"}, enabled=False))
    await world.add_order(name="a", amount=1)

    assert await world.dispatch() == []


async def test_when_condition_filters_events(world: World) -> None:
    await world.add_workflow(
        workflow({"type": "record_created", "when": "record.amount >= 10"})
    )
    await world.add_order(name="small", amount=9)
    await world.add_order(name="large", amount="10.5")

    runs = await world.dispatch()

    assert len(runs) == 1
    run = await world.workflows.get_run(runs[0])
    assert run is not None
    assert run.trigger["record"]["name"] == "large"
    assert run.trigger["kind"] == "record_created"
    assert run.depth == 1


async def test_field_changed_from_and_to(world: World) -> None:
    await world.add_workflow(
        workflow(
            {
                "type": "field_changed",
                "field": "status",
                "from": "new",
                "to": "approved",
            }
        )
    )
    order_id = await world.add_order(name="a", status="new")
    await world.dispatch()

    await world.store.update_record(order_id, {"name": "b", "status": "new"}, 1, "u")
    unchanged = await world.dispatch()
    await world.store.update_record(
        order_id, {"name": "b", "status": "approved"}, 1, "u"
    )
    changed = await world.dispatch()
    await world.store.update_record(
        order_id, {"name": "c", "status": "approved"}, 1, "u"
    )
    same_again = await world.dispatch()

    assert unchanged == []
    assert len(changed) == 1
    assert same_again == []
    run = await world.workflows.get_run(changed[0])
    assert run is not None
    assert run.trigger["previous"]["status"] == "new"
    assert run.trigger["record"]["status"] == "approved"


async def test_record_updated_sees_previous(world: World) -> None:
    await world.add_workflow(
        workflow({"type": "record_updated", "when": "record.amount > previous.amount"})
    )
    order_id = await world.add_order(name="a", amount=5)
    await world.dispatch()
    await world.store.update_record(order_id, {"amount": 3}, 1, "u")
    lower = await world.dispatch()
    await world.store.update_record(order_id, {"amount": 8}, 1, "u")
    higher = await world.dispatch()

    assert lower == []
    assert len(higher) == 1


async def test_deleted_record_keeps_data(world: World) -> None:
    await world.add_workflow(workflow({"type": "record_deleted"}))
    order_id = await world.add_order(name="gone", amount=1)
    await world.store.delete_record(order_id, "u")

    runs = await world.dispatch()

    assert len(runs) == 1
    run = await world.workflows.get_run(runs[0])
    assert run is not None
    assert run.trigger["record"]["name"] == "gone"
    assert run.trigger["event"] == "record.deleted"


async def test_schedule_fires_once_per_due_time(world: World) -> None:
    workflow_id = await world.add_workflow(
        workflow({"type": "schedule", "cron": "*/5 * * * *", "timezone": "UTC"})
    )
    version = await world.workflows.get_workflow_version(workflow_id, 1)
    assert version is not None
    later = version.created_at.replace(second=0, microsecond=0) + timedelta(minutes=11)
    sent: list[str] = []

    async def enqueue(run_ids: Any) -> None:
        sent.extend(run_ids)

    # The second scheduler has its own connections to the file, as a second
    # process would.
    async with SQLiteStore(world.store.path) as other_store:
        schedulers = [
            Scheduler(world.workflows, enqueue, lambda: later),
            Scheduler(SQLiteWorkflowStore(other_store), enqueue, lambda: later),
        ]
        created = [await scheduler.fire_due() for scheduler in schedulers]
        repeated = await schedulers[1].fire_due()

    assert len(created[0]) == 1
    assert created[1] == []
    assert repeated == []
    run = created[0][0]
    assert run.scheduled_for is not None
    assert run.scheduled_for.minute % 5 == 0
    assert run.scheduled_for <= later
    assert run.trigger["kind"] == "schedule"
    assert sent == [run.id]
    assert run.status is RunStatus.QUEUED


def test_due_time_follows_local_time_over_dst() -> None:
    # Paris moves from UTC+1 to UTC+2 on 29 March 2026.
    before = latest_due_time(
        "0 9 * * *",
        "Europe/Paris",
        datetime(2026, 3, 27, 12, tzinfo=UTC),
        datetime(2026, 3, 28, 12, tzinfo=UTC),
    )
    after = latest_due_time(
        "0 9 * * *",
        "Europe/Paris",
        datetime(2026, 3, 28, 12, tzinfo=UTC),
        datetime(2026, 3, 29, 12, tzinfo=UTC),
    )

    assert before is not None
    assert after is not None
    assert before.astimezone(UTC) == datetime(2026, 3, 28, 8, tzinfo=UTC)
    assert after.astimezone(UTC) == datetime(2026, 3, 29, 7, tzinfo=UTC)


def test_no_due_time_since_last_run() -> None:
    since = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)

    assert (
        latest_due_time("0 9 * * *", "UTC", since, since + timedelta(hours=5)) is None
    )


async def test_quick_updates_keep_their_snapshots(world: World) -> None:
    await world.add_workflow(
        workflow({"type": "field_changed", "field": "status", "to": "approved"})
    )
    order_id = await world.add_order(name="a", status="new")
    await world.store.update_record(order_id, {"status": "approved"}, 1, "u")
    await world.store.update_record(order_id, {"status": "review"}, 1, "u")

    runs = await world.dispatch()

    assert len(runs) == 1
    run = await world.workflows.get_run(runs[0])
    assert run is not None
    assert run.trigger["previous"]["status"] == "new"
    assert run.trigger["record"]["status"] == "approved"
    assert run.trigger["revision"] == 2


async def test_deleted_record_run_reads_event(world: World) -> None:
    await world.add_workflow(workflow({"type": "record_deleted"}))
    order_id = await world.add_order(name="gone", amount=1)
    await world.store.update_record(order_id, {"name": "renamed"}, 1, "u")
    await world.store.delete_record(order_id, "u")
    db = world.store._writer
    assert db is not None
    # The data that the run uses is the event's, not the stored record's.
    await db.execute("UPDATE records SET data = '{}' WHERE id = ?", (order_id,))
    await db.commit()

    runs = await world.dispatch()

    run = await world.workflows.get_run(runs[0])
    assert run is not None
    assert run.trigger["record"]["name"] == "renamed"
    assert run.trigger["previous"]["name"] == "renamed"


async def test_events_without_data_read_record(world: World) -> None:
    await world.add_workflow(
        workflow({"type": "field_changed", "field": "status", "to": "approved"})
    )
    db = world.store._writer
    assert db is not None

    async def strip_event_data() -> None:
        # Events written before record events carried data have only ids.
        await db.execute(
            "UPDATE outbox SET payload = json_remove(payload, '$.data', '$.previous')"
        )
        await db.commit()

    order_id = await world.add_order(name="a", status="new")
    await strip_event_data()
    await world.dispatch()
    await world.store.update_record(order_id, {"status": "approved"}, 1, "u")
    await strip_event_data()

    runs = await world.dispatch()

    run = await world.workflows.get_run(runs[0])
    assert run is not None
    assert run.trigger["previous"]["status"] == "new"
    assert run.trigger["record"]["status"] == "approved"


async def test_events_without_data_in_one_batch(world: World) -> None:
    workflow_id = await world.add_workflow(
        workflow({"type": "field_changed", "field": "status", "to": "approved"})
    )
    db = world.store._writer
    assert db is not None
    order_id = await world.add_order(name="a", status="new")
    await world.dispatch()
    approved = {"name": "a", "status": "approved"}
    await world.store.update_record(order_id, approved, 1, "u")
    await world.store.update_record(order_id, {**approved, "name": "b"}, 1, "u")
    await db.execute(
        "UPDATE outbox SET payload = json_remove(payload, '$.data', '$.previous')"
    )
    await db.commit()

    runs = await world.dispatch()

    # Both events read the newest data. The second reads the snapshot that
    # the first kept in the same batch, so the status changed only once.
    assert len(runs) == 1
    assert len(await world.workflows.list_runs(workflow_id)) == 1
    snapshot = await world.workflows.get_record_snapshot(order_id)
    assert snapshot is not None
    assert snapshot.data["status"] == "approved"
    assert snapshot.revision == 3


async def test_failed_send_leaves_runs_unsent(world: World) -> None:
    workflow_id = await world.add_workflow(workflow({"type": "record_created"}))
    await world.add_order(name="a", amount=1)

    async def send(run_ids: Any) -> None:
        raise ConnectionError("Broker unavailable.")

    world.dispatcher.send = send
    with pytest.raises(ConnectionError, match="Broker unavailable"):
        await world.dispatcher.dispatch_batch()

    runs = await world.workflows.list_runs(workflow_id)
    assert len(runs) == 1
    assert runs[0].status is RunStatus.QUEUED
    assert runs[0].enqueued_at is None
    now = world.clock()
    due = await world.workflows.list_due_runs(now, now - timedelta(seconds=60), 10)
    assert due == [runs[0].id]
    assert await world.workflows.get_consumer_offset(CONSUMER_NAME) is not None


async def test_batch_marks_runs_as_sent(world: World) -> None:
    workflow_id = await world.add_workflow(workflow({"type": "record_created"}))
    await world.add_order(name="a", amount=1)
    await world.add_order(name="b", amount=1)

    sent = await world.dispatch()

    runs = await world.workflows.list_runs(workflow_id)
    assert sorted(sent) == sorted(run.id for run in runs)
    assert all(run.enqueued_at == world.clock() for run in runs)
    now = world.clock()
    due = await world.workflows.list_due_runs(now, now - timedelta(seconds=60), 10)
    assert due == []


async def test_failed_batch_stores_nothing(world: World) -> None:
    workflow_id = await world.add_workflow(workflow({"type": "record_created"}))
    record_id = await world.add_order(name="a", amount=1)
    new = NewRun(
        workspace_id=world.workspace.id,
        workflow_id=workflow_id,
        workflow_version=1,
        trigger={"kind": "record_created"},
        depth=1,
        event_seq=1,
    )
    invalid = RecordState(record_id, 1, {"amount": float("nan")})

    with pytest.raises(ValueError, match="The record data is not JSON data"):
        await world.workflows.insert_trigger_runs(
            [new], [invalid], CONSUMER_NAME, 99, world.clock()
        )

    assert await world.workflows.list_runs(workflow_id) == []
    assert await world.workflows.get_consumer_offset(CONSUMER_NAME) is None
    assert await world.workflows.get_record_snapshot(record_id) is None
