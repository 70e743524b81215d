"""The scale-out mode with a real Redis and worker processes.

A worker killed with SIGKILL in the middle of a step and a Redis restarted
with its queued messages lost must both end with every run completed and
every effect done once. Recovery comes from the run table: the sweep of the
runtime re-sends runs whose lease expired or whose message is overdue.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import subprocess
import sys
import threading
import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import redis

from store import SQLiteStore
from store.workflows import RunStatus, WorkflowRun
from tests.conftest import RedisServer
from tests.workflows.conftest import INVOICES, ORDERS, registries
from workflows import WorkflowRuntime, WorkflowSettings
from workflows.worker import run_worker

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]


class Deployment:
    """A store file, a runtime without a worker, and worker processes."""

    def __init__(self, tmp_path: Path, redis_url: str) -> None:
        self.tmp_path = tmp_path
        self.redis_url = redis_url
        self.database = tmp_path / "store.db"
        self.settings = WorkflowSettings(
            redis_url=redis_url,
            queue_name=f"wf_test_{uuid.uuid4().hex[:12]}",
            lease_seconds=2,
            requeue_after=0.5,
            sweep_interval=0.2,
            dispatch_interval=0.05,
            schedule_interval=5,
            worker_timeout=0.1,
        )
        self.workers: list[subprocess.Popen[bytes]] = []
        self.store = SQLiteStore(self.database)
        self.runtime: WorkflowRuntime | None = None
        self.workspace_id = self.orders_id = self.invoices_id = ""

    async def open(self) -> None:
        await self.store.open()
        workspace = await self.store.create_workspace("acme", "Acme")
        orders, _ = await self.store.create_app(
            workspace.id, "orders", "Orders", "", ORDERS, "a"
        )
        invoices, _ = await self.store.create_app(
            workspace.id, "invoices", "Invoices", "", INVOICES, "a"
        )
        self.workspace_id, self.orders_id, self.invoices_id = (
            workspace.id,
            orders.id,
            invoices.id,
        )
        blocks, steps = registries()
        self.runtime = WorkflowRuntime(
            self.store, blocks, self.settings, steps=steps, embedded_worker=False
        )
        await self.runtime.start()

    async def close(self) -> None:
        for worker in self.workers:
            if worker.poll() is None:
                os.kill(worker.pid, signal.SIGKILL)
                worker.wait(timeout=10)
        if self.runtime is not None:
            await self.runtime.stop()
        await self.store.close()
        client = redis.Redis.from_url(self.redis_url)
        try:
            keys = list(client.scan_iter(f"dramatiq:{self.settings.queue_name}*"))
            if keys:
                client.delete(*keys)
        except redis.RedisError:
            pass

    def start_worker(self) -> subprocess.Popen[bytes]:
        env = {
            **os.environ,
            "APPGRAPH_WORKFLOW_QUEUE_NAME": self.settings.queue_name,
            "APPGRAPH_WORKFLOW_LEASE_SECONDS": str(self.settings.lease_seconds),
            "APPGRAPH_WORKFLOW_WORKER_TIMEOUT": "0.1",
            "dramatiq_queue_prefetch": "1",
        }
        log = open(self.tmp_path / f"worker-{len(self.workers)}.log", "wb")  # noqa: SIM115
        worker = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "workflows",
                "--redis-url",
                self.redis_url,
                "--database",
                str(self.database),
                "--plugin",
                "tests.workflows.plugin_steps",
                "--threads",
                "2",
            ],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        self.workers.append(worker)
        return worker

    async def add_workflow(self, steps: list[dict[str, Any]]) -> str:
        assert self.runtime is not None
        workflow, _ = await self.runtime.definitions.create(
            self.workspace_id,
            self.orders_id,
            {"name": "W", "trigger": {"type": "record_created"}, "steps": steps},
            "admin",
        )
        return workflow.id

    async def add_order(self, name: str) -> None:
        await self.store.insert_record(
            self.workspace_id, self.orders_id, 1, {"name": name}, "user-1"
        )
        assert self.runtime is not None
        self.runtime.wake()

    async def wait_for_runs(
        self, workflow_id: str, count: int, status: RunStatus
    ) -> list[WorkflowRun]:
        runs: list[WorkflowRun] = []
        for _ in range(1200):
            runs = await self.store_runs(workflow_id)
            if len(runs) == count and all(run.status is status for run in runs):
                return runs
            await asyncio.sleep(0.025)
        logs = "\n".join(
            p.read_text(errors="replace")[-3000:]
            for p in self.tmp_path.glob("worker-*.log")
        )
        raise AssertionError(f"Runs did not reach {status}: {runs}\n{logs}")

    async def store_runs(self, workflow_id: str) -> list[WorkflowRun]:
        assert self.runtime is not None
        return await self.runtime.workflows.list_runs(workflow_id)

    async def invoice_count(self) -> int:
        return await self.store.count_records(self.invoices_id)


@pytest.fixture
async def deployment(tmp_path: Path, redis_url: str) -> AsyncIterator[Deployment]:
    setup = Deployment(tmp_path, redis_url)
    await setup.open()
    try:
        yield setup
    finally:
        await setup.close()


@pytest.fixture
async def private_deployment(
    tmp_path: Path, private_redis: RedisServer
) -> AsyncIterator[Deployment]:
    setup = Deployment(tmp_path, private_redis.url)
    await setup.open()
    try:
        yield setup
    finally:
        await setup.close()


async def wait_for_file(path: Path) -> None:
    for _ in range(800):
        if path.exists():
            return
        await asyncio.sleep(0.025)
    raise AssertionError(f"{path} was not created")


async def test_killed_worker_run_completes_once(
    deployment: Deployment, tmp_path: Path
) -> None:
    effects = tmp_path / "effects"
    effects.mkdir()
    hold = tmp_path / "hold"
    hold.touch()
    workflow_id = await deployment.add_workflow(
        [
            {
                "id": "effect",
                "type": "record_effect",
                "config": {"directory": str(effects), "hold_while": str(hold)},
            },
            {
                "id": "invoice",
                "type": "create_record",
                "config": {"app": "invoices", "fields": {"reference": "record.name"}},
            },
        ]
    )
    first = deployment.start_worker()
    await deployment.add_order("A")

    await wait_for_file(effects / "attempts.log")
    os.kill(first.pid, signal.SIGKILL)
    first.wait(timeout=10)
    hold.unlink()
    second = deployment.start_worker()
    runs = await deployment.wait_for_runs(workflow_id, 1, RunStatus.COMPLETED)
    os.kill(second.pid, signal.SIGTERM)
    exit_code = second.wait(timeout=30)

    attempts = (effects / "attempts.log").read_text().splitlines()
    assert len(list(effects.glob("effect-*"))) == 1
    assert len(attempts) == 2
    assert {line.split()[0] for line in attempts} == {f"{runs[0].id}:effect"}
    assert {line.split()[1] for line in attempts} == {str(first.pid), str(second.pid)}
    assert await deployment.invoice_count() == 1
    assert exit_code == 0


async def test_queued_runs_survive_redis_restart(
    private_deployment: Deployment, private_redis: RedisServer
) -> None:
    deployment = private_deployment
    workflow_id = await deployment.add_workflow(
        [
            {
                "id": "invoice",
                "type": "create_record",
                "config": {"app": "invoices", "fields": {"reference": "record.name"}},
            }
        ]
    )
    for name in ("A", "B", "C"):
        await deployment.add_order(name)
    queued = await deployment.wait_for_runs(workflow_id, 3, RunStatus.QUEUED)
    assert all(run.enqueued_at is not None for run in queued)
    queue_key = f"dramatiq:{deployment.settings.queue_name}"
    assert redis.Redis.from_url(private_redis.url).hlen(f"{queue_key}.msgs") == 3

    private_redis.kill()
    private_redis.start()
    assert redis.Redis.from_url(private_redis.url).hlen(f"{queue_key}.msgs") == 0
    deployment.start_worker()
    await deployment.wait_for_runs(workflow_id, 3, RunStatus.COMPLETED)

    assert await deployment.invoice_count() == 3


async def test_worker_stops_while_redis_is_down(
    private_deployment: Deployment,
    private_redis: RedisServer,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    deployment = private_deployment
    effects = tmp_path / "effects"
    effects.mkdir()
    hold = tmp_path / "hold"
    hold.touch()
    await deployment.add_workflow(
        [
            {
                "id": "effect",
                "type": "record_effect",
                "config": {"directory": str(effects), "hold_while": str(hold)},
            }
        ]
    )
    settings = replace(deployment.settings, shutdown_timeout=1.0)
    stop = threading.Event()
    worker = threading.Thread(
        target=run_worker,
        args=(deployment.redis_url, deployment.database),
        kwargs={
            "settings": settings,
            "plugins": ["tests.workflows.plugin_steps"],
            "stop": stop,
        },
    )
    caplog.set_level(logging.INFO, logger="workflows.worker")
    worker.start()
    try:
        await deployment.add_order("A")
        await wait_for_file(effects / "attempts.log")
        private_redis.kill()
        # The step finishes while Redis is down, so Dramatiq cannot
        # acknowledge its message and retries until the worker stops.
        hold.unlink()
        await asyncio.sleep(0.5)
    finally:
        stop.set()
        await asyncio.to_thread(worker.join, 30)

    assert not worker.is_alive()
    assert "Workflow worker stopped" in caplog.messages
