"""Error paths of the step types, the registry, the settings and the engine."""

from __future__ import annotations

import logging
from typing import Any, ClassVar

import pytest

from plugins.manager import PluginError
from store.workflows import NewRun, RunStatus
from tests.workflows.conftest import World
from workflows.errors import WorkflowDefinitionError
from workflows.model import parse_workflow
from workflows.runtime import workflow_store_for
from workflows.settings import WorkflowSettings
from workflows.steps import StepRegistry, StepType
from workflows.steps.builtin.control import StopStepType


async def run_steps(
    world: World,
    *steps: dict[str, Any],
    trigger: str = "record_created",
    **order: Any,
) -> str:
    await world.add_workflow(
        {"name": "Errors", "trigger": {"type": trigger}, "steps": list(steps)}
    )
    await world.add_order(name="x", **order)
    (run_id,) = await world.dispatch()
    run = await world.run_to_end(run_id)
    assert run.status is RunStatus.FAILED
    assert run.error is not None
    return run.error


async def test_for_each_items_not_list(world: World) -> None:
    step = {
        "id": "loop",
        "type": "for_each",
        "config": {"items": "record.name"},
        "body": [],
    }

    error = await run_steps(world, step)

    assert error == "Step 'loop': 'items' must give a list, got str."


async def test_wait_until_not_a_date(world: World) -> None:
    step = {"id": "pause", "type": "wait", "config": {"until": "record.name"}}

    error = await run_steps(world, step)

    assert error == (
        "Step 'pause': 'until' gave 'x', which is not an ISO 8601 date or datetime."
    )


async def test_wait_until_wrong_type(world: World) -> None:
    step = {"id": "pause", "type": "wait", "config": {"until": "1 = 1"}}

    error = await run_steps(world, step)

    assert error == "Step 'pause': 'until' must give a date or datetime, got bool."


async def test_wait_rejects_unknown_zone(world: World) -> None:
    definition = {
        "name": "Zone",
        "trigger": {"type": "record_created"},
        "steps": [
            {
                "id": "pause",
                "type": "wait",
                "config": {"until": "record.due", "timezone": "Nowhere/Land"},
            }
        ],
    }

    with pytest.raises(
        WorkflowDefinitionError, match="Unknown time zone 'Nowhere/Land'"
    ):
        await world.add_workflow(definition)


async def test_find_record_unknown_field(world: World) -> None:
    step = {
        "id": "find",
        "type": "find_record",
        "config": {"app": "invoices", "match": {"reference": "'a'"}},
    }
    await world.add_workflow(
        {"name": "Find", "trigger": {"type": "record_created"}, "steps": [step]}
    )
    await world.store.save_version(
        world.invoices.id, {"blocks": [{"id": "total", "type": "number"}]}, "admin"
    )
    await world.add_order(name="x")
    (run_id,) = await world.dispatch()

    run = await world.run_to_end(run_id)

    assert run.error == (
        "App 'invoices' has no field 'reference' to match on. Use the block id "
        "of a value field."
    )


async def test_find_record_number_mismatch(world: World) -> None:
    step = {
        "id": "find",
        "type": "find_record",
        "config": {"app": "invoices", "match": {"total": "'lots'"}},
    }

    error = await run_steps(world, step)

    assert error == "Expected a number to match on, got 'lots'."


async def test_delete_record_of_other_app(world: World) -> None:
    step = {
        "id": "remove",
        "type": "delete_record",
        "config": {"app": "invoices", "record_id": "trigger.record_id"},
    }

    error = await run_steps(world, step)

    assert error.startswith("Step 'remove': record '")
    assert error.endswith("' is not in app 'invoices'.")


async def test_record_id_expression_not_text(world: World) -> None:
    step = {
        "id": "remove",
        "type": "delete_record",
        "config": {"app": "invoices", "record_id": "42"},
    }

    error = await run_steps(world, step)

    assert error == "Step 'remove': 'record_id' must give a record id, got 42."


async def test_create_record_app_renamed(world: World) -> None:
    step = {
        "id": "invoice",
        "type": "create_record",
        "config": {"app": "invoices", "fields": {}},
    }
    await world.add_workflow(
        {"name": "Gone", "trigger": {"type": "record_created"}, "steps": [step]}
    )
    db = world.store._writer
    assert db is not None
    await db.execute(
        "UPDATE apps SET slug = 'bills' WHERE id = ?", (world.invoices.id,)
    )
    await world.add_order(name="x")
    (run_id,) = await world.dispatch()

    run = await world.run_to_end(run_id)

    assert run.error == (
        "App 'invoices' was not found in the workspace. Change the step to name "
        "an existing app."
    )


async def test_set_fields_needs_record_trigger(world: World) -> None:
    workflow_id = await world.add_workflow(
        {
            "name": "Manual",
            "trigger": {"type": "manual"},
            "steps": [{"id": "stop", "type": "stop"}],
        }
    )
    run, _ = await world.workflows.insert_run(
        NewRun(world.workspace.id, workflow_id, 1, {"kind": "manual"}, 1)
    )
    # The stored definition is valid. The engine's cached copy differs, as an
    # older definition with a record trigger would.
    world.engine._definitions[(workflow_id, 1)] = parse_workflow(
        {
            "name": "Manual",
            "trigger": {"type": "record_created"},
            "steps": [
                {
                    "id": "touch",
                    "type": "set_fields",
                    "config": {"fields": {"touched": "1"}},
                }
            ],
        }
    )

    finished = await world.run_to_end(run.id)

    assert finished.error == (
        "Step 'touch': set_fields needs a run started by a record; this run was "
        "started by 'manual'."
    )


async def test_max_steps_per_run(world: World) -> None:
    world.engine.settings = WorkflowSettings(max_steps_per_run=2)
    steps = [
        {"id": f"check_{n}", "type": "condition", "config": {"if": "true"}}
        for n in range(3)
    ]

    error = await run_steps(world, *steps)

    assert error == (
        "The run executed 2 steps, the maximum per run. Bound the loops of the "
        "workflow."
    )


async def test_invalid_stored_definition_fails_run(world: World) -> None:
    workflow_id = await world.add_workflow(
        {"name": "W", "trigger": {"type": "manual"}, "steps": []}
    )
    db = world.store._writer
    assert db is not None
    await db.execute("DROP TRIGGER workflow_versions_immutable")
    await db.execute(
        "UPDATE workflow_versions SET definition = '{\"name\": 1}' "
        "WHERE workflow_id = ?",
        (workflow_id,),
    )
    run, _ = await world.workflows.insert_run(
        NewRun(world.workspace.id, workflow_id, 1, {"kind": "manual"}, 1)
    )

    finished = await world.run_to_end(run.id)

    assert finished.error is not None
    assert finished.error.startswith(
        f"Version 1 of workflow {workflow_id!r} is invalid: name: A workflow needs"
    )


async def test_missing_version_fails_run(world: World) -> None:
    workflow_id = await world.add_workflow(
        {"name": "W", "trigger": {"type": "manual"}, "steps": []}
    )
    run, _ = await world.workflows.insert_run(
        NewRun(world.workspace.id, workflow_id, 9, {"kind": "manual"}, 1)
    )

    finished = await world.run_to_end(run.id)

    assert finished.error == f"Version 9 of workflow {workflow_id!r} was not found."


async def test_when_error_skips_event(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    await world.add_workflow(
        {
            "name": "W",
            "trigger": {"type": "record_created", "when": "record.name > 1"},
            "steps": [],
        }
    )
    await world.add_order(name="x")

    with caplog.at_level(logging.WARNING, logger="workflows.triggers"):
        runs = await world.dispatch()

    assert runs == []
    assert "Trigger condition 'record.name > 1' failed on record" in caplog.text


class _Nameless(StepType):
    label = "No name"


class _BadBranch(StopStepType):
    name = "bad_branch"
    branches: ClassVar[tuple[str, ...]] = ("config",)


def test_registry_rejects_invalid_types() -> None:
    registry = StepRegistry()
    registry.add(StopStepType(), "first")

    with pytest.raises(PluginError, match="returned 'text' from appgraph_step_types"):
        registry.add("text", "bad")  # type: ignore[arg-type]
    with pytest.raises(PluginError, match="registered a step type named None"):
        registry.add(_Nameless(), "bad")
    with pytest.raises(PluginError, match="names a branch 'config'"):
        registry.add(_BadBranch(), "bad")
    with pytest.raises(
        PluginError, match="'stop' is registered by both 'first' and 'second'"
    ):
        registry.add(StopStepType(), "second")


def test_default_registry_has_builtins() -> None:
    names = StepRegistry.default(load_entry_points=False).names()

    assert names == [
        "approval",
        "condition",
        "create_record",
        "delete_record",
        "fail",
        "find_record",
        "for_each",
        "http_request",
        "send_email",
        "send_sms",
        "set_fields",
        "stop",
        "update_record",
        "wait",
    ]


def test_settings_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("APPGRAPH_REDIS_URL", "redis://127.0.0.1:1/0")
    monkeypatch.setenv("APPGRAPH_WORKFLOW_MAX_CHAIN_DEPTH", "3")
    monkeypatch.setenv("APPGRAPH_WORKFLOW_LEASE_SECONDS", "9.5")

    settings = WorkflowSettings.from_env()

    assert settings.redis_url == "redis://127.0.0.1:1/0"
    assert settings.max_chain_depth == 3
    assert settings.lease_seconds == 9.5


def test_settings_reject_bad_number(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("APPGRAPH_WORKFLOW_MAX_ITERATIONS", "many")

    with pytest.raises(
        ValueError,
        match="APPGRAPH_WORKFLOW_MAX_ITERATIONS must be an integer, got 'many'.",
    ):
        WorkflowSettings.from_env()


def test_workflow_store_needs_sqlite() -> None:
    with pytest.raises(TypeError, match="No workflow store exists for object"):
        workflow_store_for(object())  # type: ignore[arg-type]


async def test_crashed_attempts_fail_step(world: World) -> None:
    await world.add_workflow(
        {
            "name": "Crashes",
            "trigger": {"type": "record_created"},
            "steps": [{"id": "check", "type": "condition", "config": {"if": "true"}}],
        }
    )
    await world.add_order(name="x")
    (run_id,) = await world.dispatch()
    # Three attempts that started and never finished, as after three crashes.
    for _ in range(3):
        await world.workflows.start_step(
            run_id, "check", "check", "condition", world.clock(), {}
        )

    run = await world.run_to_end(run_id)

    assert run.error == (
        "Step 'check' was started 3 times without finishing; its worker may "
        "have crashed."
    )
    assert run.error_step == "check"
