"""Runs that hit template budgets, null waits, failing steps and bad schedules."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from store.workflows import RunStatus
from tests.workflows.conftest import World
from tests.workflows.receivers import SmtpReceiver, StaticResolver
from workflows.email import SmtpSettings
from workflows.engine import Engine
from workflows.guard import GuardedClient, GuardPolicy
from workflows.steps import StepResources
from workflows.triggers import Scheduler

NESTED_LOOPS = (
    "{% for i in range(50000) %}{% for j in range(50000) %}{% endfor %}{% endfor %}done"
)


@pytest.fixture
def smtp() -> Iterator[SmtpReceiver]:
    with SmtpReceiver() as server:
        yield server


def use_resources(world: World, resources: StepResources) -> None:
    world.engine = Engine(
        world.store,
        world.workflows,
        world.steps,
        world.blocks,
        world.settings,
        world.clock,
        resources,
    )


async def run_steps(world: World, *steps: dict[str, Any], **order: Any) -> str:
    await world.add_workflow(
        {"name": "Hardened", "trigger": {"type": "record_created"}, "steps": [*steps]}
    )
    await world.add_order(**order)
    (run_id,) = await world.dispatch()
    return run_id


async def step_attempts(world: World, run_id: str) -> int:
    executions = await world.workflows.list_step_executions(run_id)
    return executions[0].attempts


async def test_nested_loops_exceed_budget(world: World) -> None:
    step = {
        "id": "slow",
        "type": "create_record",
        "config": {
            "app": "invoices",
            "fields": {"reference": {"template": NESTED_LOOPS}},
        },
    }
    run_id = await run_steps(world, step, name="A")

    run = await world.run_to_end(run_id)

    assert run.status is RunStatus.FAILED
    assert run.error == (
        "Template of step 'slow' in fields.reference exceeded 100,000 loop "
        "iterations and calls; simplify it."
    )
    assert await step_attempts(world, run_id) == 1


async def test_fail_message_rendered(world: World) -> None:
    step = {
        "id": "stop",
        "type": "fail",
        "config": {"message": "boom {{ record.name }}"},
    }
    run_id = await run_steps(world, step, name="A-7")

    run = await world.run_to_end(run_id)

    assert run.status is RunStatus.FAILED
    assert run.error == "boom A-7"


async def test_fail_message_template_error(world: World) -> None:
    step = {"id": "stop", "type": "fail", "config": {"message": "{{ record.nope }}"}}
    run_id = await run_steps(world, step, name="A-7")

    run = await world.run_to_end(run_id)

    assert run.status is RunStatus.FAILED
    assert run.error is not None
    assert run.error.startswith(
        "Step 'stop': the template in message failed: Template at message line 1: "
        "key 'nope' is missing"
    )


async def test_wait_until_null_fails(world: World) -> None:
    step = {"id": "pause", "type": "wait", "config": {"until": "record.due"}}
    run_id = await run_steps(world, step, name="A")

    run = await world.run_to_end(run_id)

    assert run.status is RunStatus.FAILED
    assert run.error is not None
    assert run.error.startswith("'until' of step 'pause' gave null; ")
    assert await step_attempts(world, run_id) == 1


async def test_http_invalid_port_fails_at_once(world: World) -> None:
    policy = GuardPolicy(allowed_networks=["127.0.0.1/32"], timeout=5.0)
    client = GuardedClient(policy, resolver=StaticResolver({}))
    use_resources(world, StepResources(http=client))
    step = {
        "id": "hook",
        "type": "http_request",
        "config": {"url": "http://127.0.0.1:99999/"},
    }
    run_id = await run_steps(world, step, name="A")

    run = await world.run_to_end(run_id)

    assert run.status is RunStatus.FAILED
    assert run.error is not None
    assert "invalid port 99999" in run.error
    assert await step_attempts(world, run_id) == 1


async def test_email_error_names_step(world: World, smtp: SmtpReceiver) -> None:
    settings = SmtpSettings(
        host="127.0.0.1",
        port=smtp.port,
        from_address="workflows@example.com",
        starttls=False,
        timeout=5.0,
    )
    use_resources(world, StepResources(smtp=settings))
    step = {
        "id": "mail",
        "type": "send_email",
        "config": {
            "to": ["{{ record.name }}@example.com"],
            "subject": "s",
            "text": "t",
        },
    }
    run_id = await run_steps(world, step, name="ada<b>")

    run = await world.run_to_end(run_id)

    assert run.status is RunStatus.FAILED
    assert run.error is not None
    assert run.error.startswith("Step 'mail': ")


async def test_bad_schedule_skipped_others_fire(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    good_id = await world.add_workflow(
        {
            "name": "Every five minutes",
            "trigger": {"type": "schedule", "cron": "*/5 * * * *"},
            "steps": [{"id": "end", "type": "stop"}],
        }
    )
    # Stored directly, as a definition saved before the check existed.
    bad, _ = await world.workflows.create_workflow(
        world.workspace.id,
        world.orders.id,
        "Never",
        {
            "name": "Never",
            "trigger": {"type": "schedule", "cron": "0 0 30 2 *", "timezone": "UTC"},
            "steps": [{"id": "end", "type": "stop"}],
        },
        "admin-1",
    )
    version = await world.workflows.get_workflow_version(good_id, 1)
    assert version is not None
    later = version.created_at + timedelta(minutes=11)
    sent: list[str] = []

    async def enqueue(run_ids: Any) -> None:
        sent.extend(run_ids)

    scheduler = Scheduler(world.workflows, enqueue, lambda: later)
    with caplog.at_level(logging.ERROR, logger="workflows.triggers"):
        created = await scheduler.fire_due()
        await scheduler.fire_due()

    assert [run.workflow_id for run in created] == [good_id]
    assert sent == [created[0].id]
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == [
        f"Schedule of workflow {bad.id} version 1 skipped: CroniterBadDateError: "
        f"failed to find prev date"
    ]
