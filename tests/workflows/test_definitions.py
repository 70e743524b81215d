from __future__ import annotations

import sqlite3
from typing import Any

import pytest

from blocks.errors import ConflictError, ErrorCode, NotFoundError, Problem
from tests.workflows.conftest import World
from workflows.definitions import StepChange, diff_workflows
from workflows.errors import WorkflowDefinitionError
from workflows.model import TriggerType, dump_workflow, parse_workflow

VALID: dict[str, Any] = {
    "name": "Invoice large orders",
    "trigger": {"type": "record_created", "when": "record.amount > 100"},
    "steps": [
        {
            "id": "big",
            "type": "condition",
            "config": {"if": "record.amount > 1000"},
            "then": [
                {
                    "id": "invoice",
                    "type": "create_record",
                    "config": {
                        "app": "invoices",
                        "fields": {
                            "reference": "record.name",
                            "total": "record.amount",
                        },
                    },
                }
            ],
            "else": [{"id": "done", "type": "stop"}],
        }
    ],
}


def problems_of(
    error: pytest.ExceptionInfo[WorkflowDefinitionError],
) -> set[tuple[Any, ...]]:
    return {(".".join(map(str, p.path)), p.code) for p in error.value.problems}


async def test_create_stores_version_one(world: World) -> None:
    workflow, version = await world.definitions.create(
        world.workspace.id, world.orders.id, VALID, "admin-1", "first"
    )

    assert workflow.name == "Invoice large orders"
    assert workflow.current_version == 1
    assert version.number == 1
    assert version.author == "admin-1"
    assert version.note == "first"
    assert version.definition == dump_workflow(parse_workflow(VALID))


async def test_save_rollback_and_list_versions(world: World) -> None:
    workflow_id = await world.add_workflow(VALID)
    changed = {**VALID, "name": "Renamed", "enabled": False}

    second = await world.definitions.save(workflow_id, changed, "admin-2", "rename")
    third = await world.definitions.rollback(workflow_id, 1, "admin-3")

    versions = await world.workflows.list_workflow_versions(workflow_id)
    assert [v.number for v in versions] == [1, 2, 3]
    assert second.definition["name"] == "Renamed"
    assert third.definition == versions[0].definition
    assert third.note == "Rollback to version 1"
    assert third.author == "admin-3"
    workflow = await world.workflows.get_workflow(workflow_id)
    assert workflow is not None
    assert workflow.current_version == 3
    assert workflow.name == "Invoice large orders"


async def test_save_rejects_stale_version(world: World) -> None:
    workflow_id = await world.add_workflow(VALID)
    await world.definitions.save(workflow_id, VALID, "admin-1")

    with pytest.raises(
        ConflictError, match="is at version 2, but the change was based on version 1"
    ):
        await world.definitions.save(workflow_id, VALID, "admin-1", expected_current=1)


async def test_rollback_to_missing_version(world: World) -> None:
    workflow_id = await world.add_workflow(VALID)

    with pytest.raises(
        NotFoundError, match="has no version 7; versions run from 1 to 1"
    ):
        await world.definitions.rollback(workflow_id, 7, "admin-1")


async def test_versions_are_immutable(world: World) -> None:
    workflow_id = await world.add_workflow(VALID)
    db = world.store._writer
    assert db is not None

    with pytest.raises(sqlite3.IntegrityError, match="workflow versions are immutable"):
        await db.execute(
            "UPDATE workflow_versions SET note = 'x' WHERE workflow_id = ?",
            (workflow_id,),
        )


async def test_create_in_unknown_app(world: World) -> None:
    with pytest.raises(
        NotFoundError, match="App 'nope' was not found in the workspace"
    ):
        await world.definitions.create(world.workspace.id, "nope", VALID, "admin-1")


async def test_rejects_every_problem_at_once(world: World) -> None:
    definition = {
        "name": "Broken",
        "trigger": {
            "type": "field_changed",
            "field": "colour",
            "when": "record.amount >",
        },
        "steps": [
            {"id": "a", "type": "teleport"},
            {"id": "a", "type": "condition", "config": {"if": "1 +"}},
            {
                "id": "c",
                "type": "create_record",
                "config": {"app": "ghosts", "fields": {}},
            },
            {
                "id": "d",
                "type": "create_record",
                "config": {"app": "invoices", "fields": {"bogus": "1"}},
            },
            {"id": "e", "type": "wait", "config": {"duration": {"weeks": 1}}},
            {"id": "f", "type": "stop", "body": []},
            {
                "id": "g",
                "type": "set_fields",
                "config": {"fields": {"status": "'x' +"}},
            },
        ],
    }

    with pytest.raises(WorkflowDefinitionError) as error:
        await world.definitions.create(
            world.workspace.id, world.orders.id, definition, "admin-1"
        )

    found = problems_of(error)
    assert ("trigger.field", ErrorCode.UNKNOWN_FIELD) in found
    assert ("trigger.when", ErrorCode.INVALID_EXPRESSION) in found
    assert ("steps.0.type", ErrorCode.UNKNOWN_REFERENCE) in found
    assert ("steps.1.id", ErrorCode.DUPLICATE_ID) in found
    assert ("steps.1.config.if", ErrorCode.INVALID_EXPRESSION) in found
    assert ("steps.2.config.app", ErrorCode.UNKNOWN_REFERENCE) in found
    assert ("steps.3.config.fields.bogus", ErrorCode.UNKNOWN_FIELD) in found
    assert ("steps.4.config.duration", ErrorCode.INVALID_CONFIG) in found
    assert ("steps.5.body", ErrorCode.UNKNOWN_FIELD) in found
    assert ("steps.6.config.fields.status", ErrorCode.INVALID_EXPRESSION) in found
    assert len(found) == 10
    messages = " ".join(p.message for p in error.value.problems)
    assert "Unknown step type 'teleport'" in messages
    assert "Step id 'a' is already used at steps.0" in messages
    assert "Unknown app 'ghosts'" in messages


def test_parse_rejects_shape_problems() -> None:
    with pytest.raises(WorkflowDefinitionError) as error:
        parse_workflow(
            {
                "name": " ",
                "trigger": {"type": "sometimes"},
                "steps": [{"id": "1st", "type": "stop"}, "text"],
                "colour": "red",
            }
        )

    assert error.value.problems == (
        Problem(
            ("colour",),
            ErrorCode.UNKNOWN_FIELD,
            "Unknown key 'colour'; a workflow has description, enabled, name, "
            "steps, trigger.",
        ),
        Problem(("name",), ErrorCode.REQUIRED, "A workflow needs a name."),
        Problem(
            ("trigger", "type"),
            ErrorCode.INVALID,
            "Unknown trigger type 'sometimes'; expected one of record_created, "
            "record_updated, record_deleted, field_changed, schedule, manual.",
        ),
        Problem(
            ("steps", 0, "id"),
            ErrorCode.INVALID_NAME,
            "Invalid step id '1st': expected 1 to 64 ASCII letters, digits or '_', "
            "not starting with a digit.",
        ),
        Problem(
            ("steps", 1), ErrorCode.INVALID_TYPE, "Expected a step object, got str."
        ),
    )


async def test_schedule_trigger_checks(world: World) -> None:
    definition = {
        "name": "Nightly",
        "trigger": {
            "type": "schedule",
            "cron": "61 * * * *",
            "timezone": "Mars/Olympus",
        },
        "steps": [
            {"id": "s", "type": "set_fields", "config": {"fields": {"touched": "1"}}}
        ],
    }

    with pytest.raises(WorkflowDefinitionError) as error:
        await world.definitions.create(
            world.workspace.id, world.orders.id, definition, "admin-1"
        )

    assert problems_of(error) == {
        ("trigger.cron", ErrorCode.INVALID),
        ("trigger.timezone", ErrorCode.INVALID),
        ("steps.0.type", ErrorCode.INVALID),
    }
    messages = [p.message for p in error.value.problems]
    assert (
        "Invalid cron expression '61 * * * *'; expected five fields such as "
        "'0 9 * * MON-FRI'." in messages
    )
    assert (
        "Unknown time zone 'Mars/Olympus'; use an IANA name such as 'Europe/Paris'."
        in messages
    )


def test_parse_round_trip() -> None:
    definition = parse_workflow(VALID)

    assert definition.trigger.type is TriggerType.RECORD_CREATED
    assert [s.id for s in definition.steps[0].branches["then"]] == ["invoice"]
    assert parse_workflow(dump_workflow(definition)) == definition


def test_diff_reports_steps_and_fields() -> None:
    old = parse_workflow(VALID)
    changed = {
        **VALID,
        "enabled": False,
        "steps": [
            {
                "id": "big",
                "type": "condition",
                "config": {"if": "record.amount > 5000"},
                "then": [],
                "else": [{"id": "done", "type": "stop"}],
            },
            {"id": "later", "type": "stop"},
        ],
    }

    diff = diff_workflows(old, parse_workflow(changed), 1, 2)

    assert diff.changed_fields == ("enabled",)
    assert diff.added_steps == ("later",)
    assert diff.removed_steps == ("invoice",)
    assert diff.changed_steps == (StepChange("big", ("config",)),)


async def test_diff_between_stored_versions(world: World) -> None:
    workflow_id = await world.add_workflow(VALID)
    await world.definitions.save(workflow_id, {**VALID, "name": "Other"}, "admin-1")

    diff = await world.definitions.diff(workflow_id, 1, 2)

    assert diff.changed_fields == ("name",)
    assert diff.changed_steps == ()
