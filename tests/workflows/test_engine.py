from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from blocks.errors import ConflictError, NotFoundError
from store.workflows import (
    RECORD_WRITTEN_EVENT,
    RunRelease,
    RunStatus,
    StepStart,
    StepStatus,
)
from tests.workflows.conftest import World
from workflows.records import RecordWriter


def on_created(*steps: dict[str, Any], when: str | None = None) -> dict[str, Any]:
    trigger: dict[str, Any] = {"type": "record_created"}
    if when:
        trigger["when"] = when
    return {"name": "Test", "trigger": trigger, "steps": list(steps)}


async def start(world: World, definition: dict[str, Any], **order: Any) -> str:
    await world.add_workflow(definition)
    await world.add_order(**order)
    runs = await world.dispatch()
    assert len(runs) == 1
    return runs[0]


async def invoices(world: World) -> list[dict[str, Any]]:
    page = await world.store.query_records(world.invoices.id, first=100)
    return [record.data for record in page.items]


CREATE_INVOICE = {
    "id": "invoice",
    "type": "create_record",
    "config": {
        "app": "invoices",
        "fields": {"reference": "record.name", "total": "record.amount * 2"},
    },
}


async def test_last_step_completes_run_at_once(world: World) -> None:
    definition = on_created(CREATE_INVOICE)
    run_id = await start(world, definition, name="A-1", amount=2)

    result = await world.engine.advance(run_id)
    again = await world.engine.advance(run_id)

    assert result.status is RunStatus.COMPLETED
    assert result.delay is None
    assert again.status is RunStatus.COMPLETED
    assert again.delay is None
    run = await world.workflows.get_run(run_id)
    assert run is not None
    assert run.status is RunStatus.COMPLETED
    assert run.lease_until is None
    assert run.finished_at is not None
    assert len(await invoices(world)) == 1


async def test_step_before_last_queues_next(world: World) -> None:
    condition = {
        "id": "big",
        "type": "condition",
        "config": {"if": "record.amount > 100"},
        "then": [CREATE_INVOICE],
    }
    run_id = await start(world, on_created(condition), name="A-1", amount=150)

    first = await world.engine.advance(run_id)
    second = await world.engine.advance(run_id)

    assert first.status is RunStatus.QUEUED
    assert first.delay == 0.0
    assert second.status is RunStatus.COMPLETED
    assert second.delay is None


async def test_branch_not_taken_completes_run(world: World) -> None:
    condition = {
        "id": "big",
        "type": "condition",
        "config": {"if": "record.amount > 100"},
        "then": [CREATE_INVOICE],
    }
    run_id = await start(world, on_created(condition), name="A-1", amount=5)

    result = await world.engine.advance(run_id)

    assert result.status is RunStatus.COMPLETED
    assert result.delay is None
    assert await invoices(world) == []


async def test_condition_runs_then_branch(world: World) -> None:
    definition = on_created(
        {
            "id": "big",
            "type": "condition",
            "config": {"if": "record.amount > 100"},
            "then": [CREATE_INVOICE],
            "else": [
                {"id": "small", "type": "fail", "config": {"message": "Too small."}}
            ],
        }
    )
    run_id = await start(world, definition, name="A-1", amount="150.5")

    run = await world.run_to_end(run_id)

    assert run.status is RunStatus.COMPLETED
    assert await invoices(world) == [{"reference": "A-1", "total": "301"}]
    executions = await world.workflows.list_step_executions(run_id)
    assert [(e.step_key, e.status, e.branch) for e in executions] == [
        ("big", StepStatus.DONE, "then"),
        ("invoice", StepStatus.DONE, None),
    ]
    assert executions[0].output == {"result": True}


async def test_condition_else_branch_fails_run(world: World) -> None:
    definition = on_created(
        {
            "id": "big",
            "type": "condition",
            "config": {"if": "record.amount > 100"},
            "then": [CREATE_INVOICE],
            "else": [
                {"id": "small", "type": "fail", "config": {"message": "Too small."}}
            ],
        }
    )
    run_id = await start(world, definition, name="A-2", amount=5)

    run = await world.run_to_end(run_id)

    assert run.status is RunStatus.FAILED
    assert run.error == "Too small."
    assert run.error_step == "small"
    assert await invoices(world) == []


async def test_created_record_is_written_by_workflow(world: World) -> None:
    run_id = await start(world, on_created(CREATE_INVOICE), name="B", amount=1)

    await world.run_to_end(run_id)

    page = await world.store.query_records(world.invoices.id, first=1)
    record = page.items[0]
    run = await world.workflows.get_run(run_id)
    assert run is not None
    assert record.created_by == f"workflow:{run.workflow_id}"
    assert record.idempotency_key == f"{run_id}:invoice"
    events = await world.store.list_events(
        world.workspace.id, 0, 100, kinds=[RECORD_WRITTEN_EVENT]
    )
    assert events[-1].payload["chain_depth"] == 1
    assert events[-1].payload["idempotency_key"] == f"{run_id}:invoice"


async def test_invalid_field_value_fails_without_retry(world: World) -> None:
    step = {
        "id": "invoice",
        "type": "create_record",
        "config": {"app": "invoices", "fields": {"total": "'many'"}},
    }
    run_id = await start(world, on_created(step), name="C", amount=1)

    run = await world.run_to_end(run_id)

    assert run.status is RunStatus.FAILED
    assert run.error is not None
    assert run.error.startswith("The data for app 'invoices' is invalid: total:")
    executions = await world.workflows.list_step_executions(run_id)
    assert executions[0].attempts == 1


async def test_expression_error_fails_run(world: World) -> None:
    step = {"id": "check", "type": "condition", "config": {"if": "record.name + 1"}}
    run_id = await start(world, on_created(step), name="D", amount=1)

    run = await world.run_to_end(run_id)

    assert run.status is RunStatus.FAILED
    assert run.error is not None
    assert run.error.startswith(
        "Step 'check': the expression 'record.name + 1' in if failed:"
    )


async def test_set_fields_updates_trigger_record(world: World) -> None:
    step = {
        "id": "approve",
        "type": "set_fields",
        "config": {"fields": {"status": "'approved'", "touched": {"value": 7}}},
    }
    run_id = await start(world, on_created(step), name="E", amount=1)

    run = await world.run_to_end(run_id)

    record = await world.store.get_record(run.trigger["record_id"])
    assert record is not None
    assert record.data["status"] == "approved"
    assert record.data["touched"] == "7"
    assert record.data["name"] == "E"
    assert record.revision == 2


async def test_for_each_over_repeat_rows(world: World) -> None:
    definition = on_created(
        {
            "id": "each_line",
            "type": "for_each",
            "config": {"items": "record.lines"},
            "body": [
                {
                    "id": "line_invoice",
                    "type": "create_record",
                    "config": {
                        "app": "invoices",
                        "fields": {
                            "reference": "record.name + '/' + item.product",
                            "total": "item.quantity",
                            "note": "concat('line ', index)",
                        },
                    },
                }
            ],
        },
        {
            "id": "after",
            "type": "condition",
            "config": {"if": "steps.each_line.count = 2"},
        },
    )
    lines = [{"product": "nut", "quantity": 3}, {"product": "bolt", "quantity": 4}]
    run_id = await start(world, definition, name="F", amount=1, lines=lines)

    run = await world.run_to_end(run_id)

    assert run.status is RunStatus.COMPLETED
    assert sorted(
        (i["reference"], i["total"], i["note"]) for i in await invoices(world)
    ) == [
        ("F/bolt", "4", "line 2"),
        ("F/nut", "3", "line 1"),
    ]
    keys = [e.step_key for e in await world.workflows.list_step_executions(run_id)]
    assert keys == [
        "each_line",
        "each_line[0]/line_invoice",
        "each_line[1]/line_invoice",
        "after",
    ]


async def test_for_each_rejects_too_many_items(world: World) -> None:
    definition = on_created(
        {
            "id": "loop",
            "type": "for_each",
            "config": {"items": "record.lines", "max_items": 1},
            "body": [{"id": "noop", "type": "stop"}],
        }
    )
    lines = [{"product": "a"}, {"product": "b"}]
    run_id = await start(world, definition, name="G", amount=1, lines=lines)

    run = await world.run_to_end(run_id)

    assert run.status is RunStatus.FAILED
    assert run.error == (
        "Step 'loop': 'items' gave 2 items, more than the maximum of 1. Filter the "
        "list or raise max_items."
    )


async def test_find_update_delete_records(world: World) -> None:
    await world.store.insert_record(
        world.workspace.id, world.invoices.id, 1, {"reference": "H", "total": 1}, "u"
    )
    definition = on_created(
        {
            "id": "find",
            "type": "find_record",
            "config": {"app": "invoices", "match": {"reference": "record.name"}},
        },
        {
            "id": "missing",
            "type": "find_record",
            "config": {"app": "invoices", "match": {"reference": "'none'"}},
        },
        {
            "id": "update",
            "type": "update_record",
            "config": {
                "app": "invoices",
                "record_id": "steps.find.record_id",
                "fields": {"note": "'seen'"},
            },
        },
        {
            "id": "remove",
            "type": "delete_record",
            "config": {"app": "invoices", "record_id": "steps.find.record_id"},
        },
    )
    run_id = await start(world, definition, name="H", amount=1)

    run = await world.run_to_end(run_id)

    assert run.status is RunStatus.COMPLETED
    outputs = {
        e.step_id: e.output for e in await world.workflows.list_step_executions(run_id)
    }
    assert outputs["find"]["found"] is True
    assert outputs["find"]["record"]["reference"] == "H"
    assert outputs["missing"] == {"found": False, "record_id": None, "record": None}
    assert outputs["update"]["revision"] == 2
    assert outputs["remove"]["deleted"] is True
    assert await invoices(world) == []


async def test_update_record_of_other_app_fails(world: World) -> None:
    definition = on_created(
        {
            "id": "update",
            "type": "update_record",
            "config": {
                "app": "invoices",
                "record_id": "trigger.record_id",
                "fields": {"note": "'x'"},
            },
        }
    )
    run_id = await start(world, definition, name="I", amount=1)

    run = await world.run_to_end(run_id)

    record_id = run.trigger["record_id"]
    assert run.error == (
        f"Step 'update': record {record_id!r} was not found in app 'invoices'."
    )


async def test_wait_duration_then_continue(world: World) -> None:
    definition = on_created(
        {"id": "pause", "type": "wait", "config": {"duration": {"hours": 2}}},
        CREATE_INVOICE,
    )
    run_id = await start(world, definition, name="J", amount=1)

    first = await world.engine.advance(run_id)
    early = await world.engine.advance(run_id)
    world.clock.advance(7200)
    resumed = await world.engine.advance(run_id)
    run = await world.run_to_end(run_id)

    assert first.status is RunStatus.WAITING
    assert first.delay == 7200
    assert early.status is RunStatus.WAITING
    assert early.delay == 7200
    assert resumed.status is RunStatus.QUEUED
    assert run.status is RunStatus.COMPLETED
    assert len(await invoices(world)) == 1


async def test_wait_until_record_date(world: World) -> None:
    definition = on_created(
        {
            "id": "pause",
            "type": "wait",
            "config": {"until": "record.due", "timezone": "Europe/Paris"},
        }
    )
    run_id = await start(world, definition, name="K", amount=1, due="2026-03-04")

    result = await world.engine.advance(run_id)

    # Midnight in Paris on 4 March is 23:00 UTC on 3 March; the clock is at
    # 9:00 UTC on 2 March.
    assert result.delay == timedelta(hours=38).total_seconds()


async def test_stop_skips_later_steps(world: World) -> None:
    definition = on_created(
        {"id": "halt", "type": "stop", "config": {"reason": "enough"}}, CREATE_INVOICE
    )
    run_id = await start(world, definition, name="L", amount=1)

    run = await world.run_to_end(run_id)

    assert run.status is RunStatus.COMPLETED
    assert await invoices(world) == []
    again = await world.engine.advance(run_id)
    assert again.status is RunStatus.COMPLETED
    assert again.delay is None


async def test_retry_with_backoff_then_success(world: World) -> None:
    definition = on_created({"id": "call", "type": "flaky", "config": {"failures": 2}})
    run_id = await start(world, definition, name="M", amount=1)

    delays = []
    for _ in range(3):
        result = await world.engine.advance(run_id)
        delays.append(result.delay)
        world.clock.advance(result.delay or 0)
    run = await world.run_to_end(run_id)

    # The third attempt succeeds and completes the run in the same call.
    assert delays == [10.0, 20.0, None]
    assert run.status is RunStatus.COMPLETED
    execution = (await world.workflows.list_step_executions(run_id))[0]
    assert execution.attempts == 3
    assert execution.output == {"attempt": 3}


async def test_retry_exhaustion_then_retry_run(world: World, tmp_path: Path) -> None:
    outage = tmp_path / "outage"
    outage.touch()
    definition = on_created(
        {"id": "call", "type": "flaky", "config": {"fail_while": str(outage)}},
        CREATE_INVOICE,
    )
    run_id = await start(world, definition, name="N", amount=1)

    failed = await world.run_to_end(run_id)
    outage.unlink()
    restarted = await world.engine.retry_run(run_id)
    completed = await world.run_to_end(run_id)

    assert failed.status is RunStatus.FAILED
    assert failed.error == "Service unavailable on attempt 3. (after 3 attempts)"
    assert failed.error_step == "call"
    assert restarted.status is RunStatus.QUEUED
    assert restarted.error is None
    assert completed.status is RunStatus.COMPLETED
    assert len(await invoices(world)) == 1
    execution = (await world.workflows.list_step_executions(run_id))[0]
    assert execution.attempts == 1


async def test_retry_run_rejects_open_run(world: World) -> None:
    run_id = await start(world, on_created(CREATE_INVOICE), name="O", amount=1)

    with pytest.raises(
        ConflictError, match="is queued, not failed. Only a failed run can be retried."
    ):
        await world.engine.retry_run(run_id)


async def test_retry_reads_trigger_snapshot(world: World) -> None:
    definition = on_created(
        {"id": "call", "type": "flaky", "config": {"failures": 1}}, CREATE_INVOICE
    )
    run_id = await start(world, definition, name="P", amount=10)
    run = await world.workflows.get_run(run_id)
    assert run is not None

    await world.engine.advance(run_id)
    await world.store.update_record(
        run.trigger["record_id"], {"name": "changed", "amount": 99}, 1, "user-1"
    )
    world.clock.advance(60)
    await world.run_to_end(run_id)

    assert await invoices(world) == [{"reference": "P", "total": "20"}]


async def test_leased_run_is_not_advanced(world: World) -> None:
    run_id = await start(world, on_created(CREATE_INVOICE), name="Q", amount=1)
    now = world.clock()
    await world.workflows.claim_run(run_id, now, now + timedelta(seconds=30))

    result = await world.engine.advance(run_id)

    assert result.status is RunStatus.RUNNING
    assert result.delay is None
    assert await world.workflows.list_step_executions(run_id) == []


async def test_expired_lease_is_taken_over(world: World) -> None:
    run_id = await start(world, on_created(CREATE_INVOICE), name="R", amount=1)
    now = world.clock()
    await world.workflows.claim_run(run_id, now, now + timedelta(seconds=30))
    world.clock.advance(31)

    run = await world.run_to_end(run_id)

    assert run.status is RunStatus.COMPLETED


async def test_missing_step_type_fails_run(world: World) -> None:
    run_id = await start(world, on_created(CREATE_INVOICE), name="S", amount=1)
    world.engine.steps._entries.pop("create_record")

    run = await world.run_to_end(run_id)

    assert run.error == (
        "Step type 'create_record' of step 'invoice' is not installed. Install "
        "its plugin, then retry the run."
    )


async def test_repeated_update_attempt_writes_once(world: World) -> None:
    run_id = await start(world, on_created(CREATE_INVOICE), name="T", amount=1)
    run = await world.workflows.get_run(run_id)
    assert run is not None
    record_id = run.trigger["record_id"]

    for attempt in (1, 2):
        writer = RecordWriter(
            world.store, world.workflows, world.blocks, run, "touch", attempt
        )
        await writer.update(record_id, {"touched": attempt})

    record = await world.store.get_record(record_id)
    assert record is not None
    assert record.revision == 2
    assert record.data["touched"] == "1"


async def test_loop_guard_stops_self_trigger(world: World) -> None:
    definition = {
        "name": "Touch on update",
        "trigger": {"type": "record_updated"},
        "steps": [
            {
                "id": "touch",
                "type": "set_fields",
                "config": {"fields": {"touched": "coalesce(record.touched, 0) + 1"}},
            }
        ],
    }
    await world.add_workflow(definition)
    order_id = await world.add_order(name="U", amount=1)
    await world.store.update_record(order_id, {"name": "U", "amount": 2}, 1, "user-1")

    statuses = []
    for _ in range(10):
        runs = await world.dispatch()
        if not runs:
            break
        for run_id in runs:
            statuses.append((await world.run_to_end(run_id)).status)

    all_runs = await world.workflows.list_runs(
        (await world.workflows.list_workflows(world.workspace.id))[0].id
    )
    failed = [r for r in all_runs if r.status is RunStatus.FAILED]
    assert statuses == [RunStatus.COMPLETED] * 5
    assert len(failed) == 1
    assert failed[0].depth == 6
    assert failed[0].error is not None
    assert failed[0].error.startswith(
        "Workflow chain too deep: this run would be number 6"
    )
    record = await world.store.get_record(order_id)
    assert record is not None
    assert record.data["touched"] == "5"


async def test_claim_and_start_rejects_changed_run(world: World) -> None:
    definition = on_created(
        CREATE_INVOICE,
        {**CREATE_INVOICE, "id": "second"},
        {**CREATE_INVOICE, "id": "third"},
    )
    run_id = await start(world, definition, name="A-1", amount=2)
    await world.engine.advance(run_id)
    seen = await world.workflows.get_run(run_id)
    assert seen is not None
    now = world.clock()
    lease_until = now + timedelta(seconds=30)
    second = StepStart("second", "second", "create_record", {})

    # Another worker executes the second step at the same (fixed) time, so
    # updated_at is unchanged and only the count of done steps differs.
    await world.engine.advance(run_id)
    stale = await world.workflows.claim_run_and_start_step(
        run_id, now, lease_until, seen.updated_at, 1, second
    )
    moved = await world.workflows.claim_run_and_start_step(
        run_id, now, lease_until, now - timedelta(seconds=1), 2, second
    )

    assert stale is None
    assert moved is None
    run = await world.workflows.get_run(run_id)
    assert run is not None
    assert run.status is RunStatus.QUEUED
    assert run.lease_until is None
    executions = await world.workflows.list_step_executions(run_id)
    assert [(e.step_key, e.attempts) for e in executions] == [
        ("invoice", 1),
        ("second", 1),
    ]


async def test_claim_and_start_takes_unchanged_run(world: World) -> None:
    run_id = await start(world, on_created(CREATE_INVOICE), name="A-1", amount=2)
    seen = await world.workflows.get_run(run_id)
    assert seen is not None
    now = world.clock()
    lease_until = now + timedelta(seconds=30)
    step = StepStart("invoice", "invoice", "create_record", {"config": {}})

    claimed = await world.workflows.claim_run_and_start_step(
        run_id, now, lease_until, seen.updated_at, 0, step
    )
    again = await world.workflows.claim_run_and_start_step(
        run_id, now, lease_until, seen.updated_at, 0, step
    )

    assert claimed is not None
    run, execution = claimed
    assert run.status is RunStatus.RUNNING
    assert run.lease_until == lease_until
    assert execution.status is StepStatus.RUNNING
    assert execution.attempts == 1
    assert again is None


async def test_finish_and_release_needs_started_step(world: World) -> None:
    run_id = await start(world, on_created(CREATE_INVOICE), name="A-1", amount=2)
    now = world.clock()
    await world.workflows.claim_run(run_id, now, now + timedelta(seconds=30))

    with pytest.raises(NotFoundError, match="has no execution of step 'invoice'"):
        await world.workflows.finish_step_and_release(
            run_id, "invoice", now, StepStatus.DONE, RunRelease(RunStatus.COMPLETED)
        )

    run = await world.workflows.get_run(run_id)
    assert run is not None
    assert run.status is RunStatus.RUNNING
    assert run.lease_until is not None
