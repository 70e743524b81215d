"""The embedded mode end to end: stub broker, in-process Dramatiq worker."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from blocks.errors import NotFoundError
from store import SQLiteStore
from store.workflows import NewRun, RunStatus, WorkflowRun
from tests.workflows.conftest import INVOICES, ORDERS, registries
from workflows import RunStateError, WorkflowRuntime, WorkflowSettings

SETTINGS = WorkflowSettings(
    lease_seconds=5,
    dispatch_interval=0.05,
    sweep_interval=0.1,
    requeue_after=0.5,
    schedule_interval=0.1,
    worker_threads=2,
    worker_timeout=0.1,
)
INVOICE_STEP = {
    "id": "invoice",
    "type": "create_record",
    "config": {"app": "invoices", "fields": {"reference": "record.name"}},
}


class Setup:
    def __init__(
        self, store: SQLiteStore, workspace_id: str, orders_id: str, invoices_id: str
    ) -> None:
        self.store = store
        self.workspace_id = workspace_id
        self.orders_id = orders_id
        self.invoices_id = invoices_id

    def runtime(self) -> WorkflowRuntime:
        blocks, steps = registries()
        return WorkflowRuntime(self.store, blocks, SETTINGS, steps=steps)

    async def add_order(self, name: str) -> str:
        record, _ = await self.store.insert_record(
            self.workspace_id, self.orders_id, 1, {"name": name}, "user-1"
        )
        return record.id

    async def invoice_references(self) -> list[str]:
        page = await self.store.query_records(self.invoices_id, first=100)
        return sorted(record.data["reference"] for record in page.items)


@pytest.fixture
async def setup(tmp_path: Path) -> AsyncIterator[Setup]:
    async with SQLiteStore(tmp_path / "store.db") as store:
        workspace = await store.create_workspace("acme", "Acme")
        orders, _ = await store.create_app(
            workspace.id, "orders", "Orders", "", ORDERS, "a"
        )
        invoices, _ = await store.create_app(
            workspace.id, "invoices", "Invoices", "", INVOICES, "a"
        )
        yield Setup(store, workspace.id, orders.id, invoices.id)


async def wait_for_run(
    runtime: WorkflowRuntime, run_id: str, status: RunStatus
) -> WorkflowRun:
    for _ in range(400):
        run = await runtime.workflows.get_run(run_id)
        if run is not None and run.status is status:
            return run
        await asyncio.sleep(0.025)
    raise AssertionError(f"Run {run_id} did not reach {status}: {run}")


async def wait_for_runs(
    runtime: WorkflowRuntime, workflow_id: str, count: int
) -> list[WorkflowRun]:
    for _ in range(400):
        runs = await runtime.workflows.list_runs(workflow_id)
        if len(runs) >= count and all(r.status is RunStatus.COMPLETED for r in runs):
            return runs
        await asyncio.sleep(0.025)
    raise AssertionError(f"Workflow {workflow_id} runs did not complete: {runs}")


def on_created(*steps: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": "Invoice",
        "trigger": {"type": "record_created"},
        "steps": list(steps),
    }


async def test_record_submission_completes_run(setup: Setup) -> None:
    runtime = setup.runtime()
    await runtime.start()
    try:
        workflow, _ = await runtime.definitions.create(
            setup.workspace_id, setup.orders_id, on_created(INVOICE_STEP), "admin"
        )
        await setup.add_order("first")
        runtime.wake()

        runs = await wait_for_runs(runtime, workflow.id, 1)
    finally:
        await runtime.stop()

    assert len(runs) == 1
    assert await setup.invoice_references() == ["first"]


async def test_restart_resumes_offset_and_open_runs(setup: Setup) -> None:
    first = setup.runtime()
    await first.start()
    workflow, version = await first.definitions.create(
        setup.workspace_id, setup.orders_id, on_created(INVOICE_STEP), "admin"
    )
    await first.stop()
    await setup.add_order("while stopped")
    order_id = await setup.add_order("left open")
    orphan, _ = await first.workflows.insert_run(
        NewRun(
            workspace_id=setup.workspace_id,
            workflow_id=workflow.id,
            workflow_version=version.number,
            trigger={
                "kind": "manual",
                "record_id": order_id,
                "record": {"name": "orphan"},
            },
            depth=1,
        )
    )

    second = setup.runtime()
    await second.start()
    try:
        await wait_for_run(second, orphan.id, RunStatus.COMPLETED)
        runs = await wait_for_runs(second, workflow.id, 3)
    finally:
        await second.stop()

    assert len(runs) == 3
    assert await setup.invoice_references() == ["left open", "orphan", "while stopped"]


async def test_wait_step_resumes_from_delayed_message(setup: Setup) -> None:
    runtime = setup.runtime()
    await runtime.start()
    try:
        workflow, _ = await runtime.definitions.create(
            setup.workspace_id,
            setup.orders_id,
            on_created(
                {"id": "pause", "type": "wait", "config": {"duration": {"seconds": 1}}},
                INVOICE_STEP,
            ),
            "admin",
        )
        await setup.add_order("later")
        runtime.wake()
        runs = await wait_for_runs(runtime, workflow.id, 1)
    finally:
        await runtime.stop()

    assert await setup.invoice_references() == ["later"]
    executions = await runtime.workflows.list_step_executions(runs[0].id)
    assert [e.step_id for e in executions] == ["pause", "invoice"]


async def test_manual_run_and_retry(setup: Setup, tmp_path: Path) -> None:
    outage = tmp_path / "outage"
    outage.touch()
    definition = {
        "name": "By hand",
        "trigger": {"type": "manual"},
        "steps": [
            {
                "id": "call",
                "type": "quick_flaky",
                "config": {"fail_while": str(outage)},
            },
            {
                "id": "invoice",
                "type": "create_record",
                "config": {
                    "app": "invoices",
                    "fields": {"reference": "trigger.input.ref"},
                },
            },
        ],
    }
    runtime = setup.runtime()
    await runtime.start()
    try:
        workflow, _ = await runtime.definitions.create(
            setup.workspace_id, setup.orders_id, definition, "admin"
        )
        run = await runtime.start_run(workflow.id, "admin", {"ref": "R-1"})
        failed = await wait_for_run(runtime, run.id, RunStatus.FAILED)
        outage.unlink()
        await runtime.retry_run(run.id)
        await wait_for_run(runtime, run.id, RunStatus.COMPLETED)
    finally:
        await runtime.stop()

    assert failed.error == "Service unavailable on attempt 2. (after 2 attempts)"
    assert await setup.invoice_references() == ["R-1"]


async def test_manual_start_errors(setup: Setup) -> None:
    runtime = setup.runtime()
    await runtime.start()
    try:
        workflow, _ = await runtime.definitions.create(
            setup.workspace_id, setup.orders_id, on_created(INVOICE_STEP), "admin"
        )
        with pytest.raises(
            RunStateError,
            match="has a record_created trigger; only workflows with a manual trigger",
        ):
            await runtime.start_run(workflow.id, "admin")
        with pytest.raises(NotFoundError, match="Workflow 'nope' was not found."):
            await runtime.start_run("nope", "admin")
    finally:
        await runtime.stop()


async def test_enqueue_before_start_fails(setup: Setup) -> None:
    runtime = setup.runtime()

    with pytest.raises(
        RunStateError,
        match="The workflow runtime is not started; call start\\(\\) first.",
    ):
        await runtime.enqueue(["x"])


async def test_decision_wakes_waiting_run(setup: Setup) -> None:
    approval = {
        "id": "approve",
        "type": "approval",
        "config": {"levels": [{"approvers": ["user:mgr-1"]}], "status_field": "status"},
    }
    runtime = setup.runtime()
    await runtime.start()
    try:
        workflow, _ = await runtime.definitions.create(
            setup.workspace_id, setup.orders_id, on_created(approval, INVOICE_STEP), "a"
        )
        order_id = await setup.add_order("needs approval")
        runtime.wake()
        pending = []
        for _ in range(400):
            pending = await runtime.list_pending_approvals(
                setup.workspace_id, "mgr-1", "member"
            )
            if pending:
                break
            await asyncio.sleep(0.025)
        assert len(pending) == 1
        await runtime.decide_approval(
            pending[0].run_id,
            "approve",
            workspace_id=setup.workspace_id,
            user_id="mgr-1",
            role="member",
            decision="approve",
            comment=None,
        )
        await wait_for_run(runtime, pending[0].run_id, RunStatus.COMPLETED)
    finally:
        await runtime.stop()

    record = await setup.store.get_record(order_id)
    assert record is not None
    assert record.data["status"] == "approved"
    assert await setup.invoice_references() == ["needs approval"]
    assert pending[0].workflow_id == workflow.id
