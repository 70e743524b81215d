"""Run cancellation: which runs can be cancelled, and that the engine stops."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from blocks.errors import ConflictError, ErrorCode, NotFoundError
from store import SQLiteStore
from store.sqlite import schema
from store.sqlite.workflows import SQLiteWorkflowStore
from store.workflows import RunStatus, StepStatus
from tests.workflows.conftest import World
from workflows import WorkflowRuntime, WorkflowSettings
from workflows.errors import ApprovalNotWaitingError

QUIET = WorkflowSettings(
    lease_seconds=30,
    dispatch_interval=3600,
    sweep_interval=3600,
    schedule_interval=3600,
)


@pytest.fixture
async def runtime(world: World) -> AsyncIterator[WorkflowRuntime]:
    runtime = WorkflowRuntime(
        world.store,
        world.blocks,
        QUIET,
        steps=world.steps,
        workflows=world.workflows,
        embedded_worker=False,
        clock=world.clock,
    )
    await runtime.start()
    try:
        yield runtime
    finally:
        await runtime.stop()


def effect(step_id: str, directory: Path, **config: Any) -> dict[str, Any]:
    return {
        "id": step_id,
        "type": "record_effect",
        "config": {"directory": str(directory), **config},
    }


async def start(world: World, *steps: dict[str, Any], **order: Any) -> str:
    """Create a workflow of the steps and an order; return the run id."""
    await world.add_workflow(
        {
            "name": "Cancel me",
            "trigger": {"type": "record_created"},
            "steps": list(steps),
        }
    )
    await world.add_order(name="A-1", amount=10, **order)
    (run_id,) = await world.dispatch()
    return run_id


async def settle(world: World, run_id: str) -> RunStatus:
    """Advance the run until it waits or finishes, without moving the clock."""
    for _ in range(50):
        result = await world.engine.advance(run_id)
        if result.delay != 0:
            break
    run = await world.workflows.get_run(run_id)
    assert run is not None
    return run.status


async def cancel(
    runtime: WorkflowRuntime,
    world: World,
    run_id: str,
    reason: str | None = "No longer needed",
) -> None:
    await runtime.cancel_run(
        run_id, workspace_id=world.workspace.id, user_id="admin-1", reason=reason
    )


def effects(directory: Path) -> list[str]:
    return sorted(path.name for path in directory.glob("effect-*"))


async def test_cancel_waiting_run_ignores_wake(
    world: World, runtime: WorkflowRuntime, tmp_path: Path
) -> None:
    pause = {"id": "pause", "type": "wait", "config": {"until": "record.due"}}
    run_id = await start(
        world, pause, effect("after", tmp_path), due="2099-12-31", status="new"
    )
    assert await settle(world, run_id) is RunStatus.WAITING

    await cancel(runtime, world, run_id)
    await world.workflows.wake_run(run_id, world.clock.now)
    world.clock.now = world.clock.now.replace(year=2100)
    result = await world.engine.advance(run_id)

    run = await world.workflows.get_run(run_id)
    assert run is not None
    assert result.status is RunStatus.CANCELLED
    assert result.delay is None
    assert run.status is RunStatus.CANCELLED
    assert run.cancelled_by == "admin-1"
    assert run.cancel_reason == "No longer needed"
    assert run.finished_at is not None
    assert run.next_attempt_at is None
    assert effects(tmp_path) == []
    assert run_id not in await world.workflows.list_open_runs(100)
    due = await world.workflows.list_due_runs(
        world.clock.now, world.clock.now, limit=100
    )
    assert run_id not in due


async def test_cancel_without_reason(world: World, runtime: WorkflowRuntime) -> None:
    pause = {"id": "pause", "type": "wait", "config": {"until": "record.due"}}
    run_id = await start(world, pause, due="2099-12-31")

    await cancel(runtime, world, run_id, reason=None)

    run = await world.workflows.get_run(run_id)
    assert run is not None
    assert run.status is RunStatus.CANCELLED
    assert run.cancel_reason is None


async def test_cancel_during_approval(world: World, runtime: WorkflowRuntime) -> None:
    approval = {
        "id": "approve",
        "type": "approval",
        "config": {"levels": [{"approvers": ["user:mgr-1"]}]},
    }
    run_id = await start(world, approval)
    assert await settle(world, run_id) is RunStatus.WAITING
    workspace_id = world.workspace.id
    before = await runtime.list_pending_approvals(workspace_id, "mgr-1", "member")
    assert [state.run_id for state in before] == [run_id]

    await cancel(runtime, world, run_id)

    after = await runtime.list_pending_approvals(workspace_id, "mgr-1", "member")
    assert after == []
    with pytest.raises(ApprovalNotWaitingError) as raised:
        await runtime.decide_approval(
            run_id,
            "approve",
            workspace_id=workspace_id,
            user_id="mgr-1",
            role="member",
            decision="approve",
            comment=None,
        )
    assert raised.value.code is ErrorCode.CONFLICT
    assert str(raised.value) == (
        f"Run {run_id!r} is cancelled, so step 'approve' takes no more decisions."
    )
    assert await world.workflows.list_approval_decisions(run_id, "approve") == []


async def test_cancel_completed_run_conflicts(
    world: World, runtime: WorkflowRuntime, tmp_path: Path
) -> None:
    run_id = await start(world, effect("only", tmp_path))
    assert (await world.run_to_end(run_id)).status is RunStatus.COMPLETED

    with pytest.raises(ConflictError) as raised:
        await cancel(runtime, world, run_id)

    assert str(raised.value) == (
        f"Run {run_id!r} is completed. Only a queued, running, waiting or failed "
        f"run can be cancelled."
    )
    run = await world.workflows.get_run(run_id)
    assert run is not None
    assert run.status is RunStatus.COMPLETED
    assert run.cancelled_by is None


async def test_cancel_twice_conflicts(world: World, runtime: WorkflowRuntime) -> None:
    pause = {"id": "pause", "type": "wait", "config": {"until": "record.due"}}
    run_id = await start(world, pause, due="2099-12-31")
    await cancel(runtime, world, run_id, reason="first")

    with pytest.raises(ConflictError, match="is cancelled. Only a queued"):
        await cancel(runtime, world, run_id, reason="second")

    run = await world.workflows.get_run(run_id)
    assert run is not None
    assert run.cancel_reason == "first"


async def test_cancel_failed_run(world: World, runtime: WorkflowRuntime) -> None:
    stop = {"id": "broken", "type": "fail", "config": {"message": "Broken"}}
    run_id = await start(world, stop)
    assert (await world.run_to_end(run_id)).status is RunStatus.FAILED

    await cancel(runtime, world, run_id)

    run = await world.workflows.get_run(run_id)
    assert run is not None
    assert run.status is RunStatus.CANCELLED
    with pytest.raises(ConflictError, match="is cancelled, not failed"):
        await runtime.retry_run(run_id)


async def test_cancel_other_workspace_not_found(
    world: World, runtime: WorkflowRuntime
) -> None:
    pause = {"id": "pause", "type": "wait", "config": {"until": "record.due"}}
    run_id = await start(world, pause, due="2099-12-31")
    other = await world.store.create_workspace("other", "Other")

    with pytest.raises(NotFoundError) as raised:
        await runtime.cancel_run(
            run_id, workspace_id=other.id, user_id="admin-2", reason=None
        )

    assert str(raised.value) == (
        f"Workflow run {run_id!r} was not found. Check the id."
    )
    run = await world.workflows.get_run(run_id)
    assert run is not None
    assert run.status is RunStatus.QUEUED


async def test_cancel_missing_run_not_found(
    world: World, runtime: WorkflowRuntime
) -> None:
    with pytest.raises(NotFoundError, match="Workflow run 'missing' was not found"):
        await cancel(runtime, world, "missing")


async def test_redelivered_message_runs_no_step(
    world: World, runtime: WorkflowRuntime, tmp_path: Path
) -> None:
    run_id = await start(world, effect("first", tmp_path), effect("second", tmp_path))
    first = await world.engine.advance(run_id)
    assert first.status is RunStatus.QUEUED

    await cancel(runtime, world, run_id)
    redelivered = await world.engine.advance(run_id)

    assert redelivered.status is RunStatus.CANCELLED
    assert redelivered.delay is None
    assert effects(tmp_path) == [f"effect-{run_id}_first"]
    executions = await world.workflows.list_step_executions(run_id)
    assert [e.step_key for e in executions] == ["first"]


async def test_step_in_flight_keeps_run_cancelled(
    world: World, runtime: WorkflowRuntime, tmp_path: Path
) -> None:
    hold = tmp_path / "hold"
    hold.touch()
    run_id = await start(
        world,
        effect("first", tmp_path, hold_while=str(hold)),
        effect("second", tmp_path),
    )
    in_flight = asyncio.create_task(world.engine.advance(run_id))
    for _ in range(500):
        if (tmp_path / "attempts.log").exists():
            break
        await asyncio.sleep(0.01)
    assert (tmp_path / "attempts.log").exists()

    await cancel(runtime, world, run_id)
    hold.unlink()
    result = await in_flight
    again = await world.engine.advance(run_id)

    assert result.status is RunStatus.CANCELLED
    assert result.delay is None
    assert again.status is RunStatus.CANCELLED
    run = await world.workflows.get_run(run_id)
    assert run is not None
    assert run.status is RunStatus.CANCELLED
    assert run.lease_until is None
    assert run.cancelled_by == "admin-1"
    executions = await world.workflows.list_step_executions(run_id)
    assert [(e.step_key, e.status) for e in executions] == [("first", StepStatus.DONE)]
    assert executions[0].output == {"created": True}
    assert effects(tmp_path) == [f"effect-{run_id}_first"]


async def test_sweep_skips_cancelled_leased_run(
    world: World, runtime: WorkflowRuntime, tmp_path: Path
) -> None:
    run_id = await start(world, effect("first", tmp_path))
    now = world.clock.now
    claimed = await world.workflows.claim_run(run_id, now, now + timedelta(seconds=30))
    assert claimed is not None

    await cancel(runtime, world, run_id)
    world.clock.advance(3600)

    assert await runtime.sweep() == 0
    run = await world.workflows.get_run(run_id)
    assert run is not None
    assert run.status is RunStatus.CANCELLED


async def test_migration_keeps_existing_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "old.db"
    with monkeypatch.context() as old:
        old.setattr(schema, "MIGRATIONS", schema.MIGRATIONS[:4])
        old.setattr(schema, "SCHEMA_VERSION", 4)
        async with SQLiteStore(path) as store:
            workspace = await store.create_workspace("acme", "Acme")
            app, _ = await store.create_app(
                workspace.id, "orders", "Orders", "", {"blocks": []}, "admin-1"
            )
            workflow, _ = await SQLiteWorkflowStore(store).create_workflow(
                workspace.id, app.id, "Old", {"name": "Old"}, "admin-1"
            )
    db = sqlite3.connect(path)
    try:
        db.execute(
            "INSERT INTO workflow_runs (id, workspace_id, workflow_id, "
            "workflow_version, status, trigger, depth, created_at, updated_at) "
            "VALUES ('run-1', ?, ?, 1, 'waiting', '{}', 1, '2026-01-01T00:00:00', "
            "'2026-01-01T00:00:00')",
            (workspace.id, workflow.id),
        )
        db.execute(
            "INSERT INTO workflow_step_executions (run_id, step_key, step_id, "
            "step_type, status, attempts, position, input, output) VALUES "
            "('run-1', 'pause', 'pause', 'wait', 'waiting', 1, 0, '{}', '{}')"
        )
        db.commit()
    finally:
        db.close()

    async with SQLiteStore(path) as store:
        workflows = SQLiteWorkflowStore(store)
        run = await workflows.get_run("run-1")
        executions = await workflows.list_step_executions("run-1")
        cancelled = await workflows.cancel_run(
            "run-1",
            run.created_at if run else workflow.created_at,
            workspace_id=workspace.id,
            user_id="admin-1",
            reason="Moved on",
        )

    assert run is not None
    assert run.status is RunStatus.WAITING
    assert [e.step_key for e in executions] == ["pause"]
    assert cancelled.status is RunStatus.CANCELLED
    db = sqlite3.connect(path)
    try:
        db.execute("PRAGMA foreign_keys = ON")
        with pytest.raises(sqlite3.IntegrityError, match="FOREIGN KEY"):
            db.execute(
                "INSERT INTO workflow_step_executions (run_id, step_key, step_id, "
                "step_type, status, attempts, position, input, output) VALUES "
                "('no-run', 'x', 'x', 'wait', 'waiting', 1, 0, '{}', '{}')"
            )
    finally:
        db.close()


async def test_migration_rejects_broken_foreign_keys(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    broken = [
        "INSERT INTO workflow_step_executions (run_id, step_key, step_id, "
        "step_type, status, attempts, position, input, output) VALUES "
        "('no-run', 'x', 'x', 'wait', 'waiting', 1, 0, '{}', '{}')"
    ]
    monkeypatch.setattr(schema, "MIGRATIONS", [*schema.MIGRATIONS, broken])
    monkeypatch.setattr(schema, "SCHEMA_VERSION", len(schema.MIGRATIONS))

    with pytest.raises(schema.StorageError) as raised:
        await SQLiteStore(tmp_path / "store.db").open()

    assert str(raised.value).startswith(
        f"Migration {len(schema.MIGRATIONS)} of the SQLite store left rows whose "
        f"foreign keys refer to no row, such as ('workflow_step_executions',"
    )
    assert str(raised.value).endswith(
        "It was rolled back, so the database is unchanged."
    )
