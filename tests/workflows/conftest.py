"""Fixtures of the workflow tests: a SQLite store with two apps, the engine.

``orders`` has a name, an amount, a status, a due date and repeatable
``lines``. ``invoices`` has a reference, a total and a note. Test step types
come from the ``plugin_steps`` module, registered as a plugin.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from blocks.registry import BlockRegistry
from plugins.manager import create_plugin_manager
from store import App, SQLiteStore, Workspace
from store.sqlite.workflows import SQLiteWorkflowStore
from store.workflows import RunStatus, WorkflowRun
from tests.workflows import plugin_steps
from workflows.definitions import WorkflowDefinitions
from workflows.engine import Engine
from workflows.settings import WorkflowSettings
from workflows.steps import StepRegistry
from workflows.triggers import TriggerDispatcher

ORDERS: dict[str, Any] = {
    "blocks": [
        {"id": "name", "type": "text"},
        {"id": "amount", "type": "number"},
        {
            "id": "status",
            "type": "select_one",
            "config": {
                "options": [
                    {"value": "new"},
                    {"value": "pending"},
                    {"value": "approved"},
                    {"value": "rejected"},
                    {"value": "review"},
                ]
            },
        },
        {"id": "due", "type": "date"},
        {"id": "touched", "type": "number"},
        {
            "id": "lines",
            "type": "repeat",
            "children": [
                {"id": "product", "type": "text"},
                {"id": "quantity", "type": "number"},
            ],
        },
    ]
}
INVOICES: dict[str, Any] = {
    "blocks": [
        {"id": "reference", "type": "text"},
        {"id": "total", "type": "number"},
        {"id": "note", "type": "text"},
    ]
}


@dataclass
class FakeClock:
    now: datetime = field(
        default_factory=lambda: datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    )

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@dataclass
class World:
    store: SQLiteStore
    workflows: SQLiteWorkflowStore
    blocks: BlockRegistry
    steps: StepRegistry
    settings: WorkflowSettings
    clock: FakeClock
    engine: Engine
    definitions: WorkflowDefinitions
    workspace: Workspace
    orders: App
    invoices: App
    enqueued: list[str]
    dispatcher: TriggerDispatcher

    async def add_workflow(
        self, definition: dict[str, Any], app: App | None = None
    ) -> str:
        workflow, _ = await self.definitions.create(
            self.workspace.id, (app or self.orders).id, definition, "admin-1"
        )
        return workflow.id

    async def add_order(self, **data: Any) -> str:
        record, _ = await self.store.insert_record(
            self.workspace.id, self.orders.id, 1, data, "user-1"
        )
        return record.id

    async def dispatch(self) -> list[str]:
        self.enqueued.clear()
        await self.dispatcher.dispatch_pending()
        return list(self.enqueued)

    async def run_to_end(self, run_id: str, max_calls: int = 200) -> WorkflowRun:
        """Advance a run until it needs no call, moving the clock over waits."""
        for _ in range(max_calls):
            result = await self.engine.advance(run_id)
            if result.delay is None:
                break
            self.clock.advance(result.delay)
        run = await self.workflows.get_run(run_id)
        assert run is not None
        return run


def registries() -> tuple[BlockRegistry, StepRegistry]:
    manager = create_plugin_manager(load_entry_points=False)
    manager.register(plugin_steps, name="tests.workflows.plugin_steps")
    return (
        BlockRegistry.from_plugin_manager(manager),
        StepRegistry.from_plugin_manager(manager),
    )


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    blocks, steps = registries()
    settings = WorkflowSettings(lease_seconds=30)
    clock = FakeClock()
    async with SQLiteStore(tmp_path / "store.db") as store:
        workflows = SQLiteWorkflowStore(store)
        workspace = await store.create_workspace("acme", "Acme")
        orders, _ = await store.create_app(
            workspace.id, "orders", "Orders", "", ORDERS, "admin-1"
        )
        invoices, _ = await store.create_app(
            workspace.id, "invoices", "Invoices", "", INVOICES, "admin-1"
        )
        enqueued: list[str] = []

        async def send(run_ids: Any) -> None:
            enqueued.extend(run_ids)

        yield World(
            store=store,
            workflows=workflows,
            blocks=blocks,
            steps=steps,
            settings=settings,
            clock=clock,
            engine=Engine(store, workflows, steps, blocks, settings, clock),
            definitions=WorkflowDefinitions(store, workflows, steps),
            workspace=workspace,
            orders=orders,
            invoices=invoices,
            enqueued=enqueued,
            dispatcher=TriggerDispatcher(
                store, workflows, blocks, settings, send, clock
            ),
        )


COMPLETED = RunStatus.COMPLETED
FAILED = RunStatus.FAILED
