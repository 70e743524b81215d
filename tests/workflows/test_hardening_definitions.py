"""Save-time checks of schedules, names, ids and the names expressions read."""

from __future__ import annotations

from typing import Any

import pytest

from blocks.errors import ErrorCode
from tests.workflows.conftest import World
from workflows.errors import WorkflowDefinitionError

STEP_NAMES = "trigger, steps, now"
RECORD_STEP_NAMES = "record, previous, trigger, steps, now"


def definition(
    trigger: dict[str, Any], *steps: dict[str, Any], name: str = "Checked"
) -> dict[str, Any]:
    return {"name": name, "trigger": trigger, "steps": list(steps)}


async def problems(world: World, data: dict[str, Any]) -> list[tuple[str, str, str]]:
    with pytest.raises(WorkflowDefinitionError) as caught:
        await world.add_workflow(data)
    return [
        (".".join(map(str, p.path)), p.code, p.message) for p in caught.value.problems
    ]


def schedule(cron: Any, timezone: str = "UTC") -> dict[str, Any]:
    return {"type": "schedule", "cron": cron, "timezone": timezone}


STOP = {"id": "end", "type": "stop"}


async def test_cron_never_matching_rejected(world: World) -> None:
    found = await problems(world, definition(schedule("0 0 30 2 *"), STOP))

    assert found == [
        (
            "trigger.cron",
            ErrorCode.INVALID,
            "cron '0 0 30 2 *' never matches a date; check the day and the month.",
        )
    ]


@pytest.mark.parametrize("cron", ["* * * * * *", "*/1 * * * * */10", "0 9 * *"])
async def test_cron_needs_five_fields(world: World, cron: str) -> None:
    found = await problems(world, definition(schedule(cron), STOP))

    assert found == [
        (
            "trigger.cron",
            ErrorCode.INVALID,
            f"Invalid cron expression {cron!r}; expected five fields such as "
            f"'0 9 * * MON-FRI'.",
        )
    ]


@pytest.mark.parametrize("cron", ["@hourly", "@daily", "0 0 29 2 *"])
async def test_cron_macros_and_leap_day_accepted(world: World, cron: str) -> None:
    workflow_id = await world.add_workflow(definition(schedule(cron), STOP))

    assert workflow_id


async def test_cron_number_is_invalid_type(world: World) -> None:
    found = await problems(world, definition(schedule(5), STOP))

    assert found == [
        (
            "trigger.cron",
            ErrorCode.INVALID_TYPE,
            'Expected a cron expression such as "0 9 * * *", got int.',
        )
    ]


async def test_localtime_zone_rejected(world: World) -> None:
    found = await problems(world, definition(schedule("0 9 * * *", "localtime"), STOP))

    assert found == [
        (
            "trigger.timezone",
            ErrorCode.INVALID,
            "Time zone 'localtime' depends on the server's files and is not an "
            "IANA name; use one such as 'Africa/Dar_es_Salaam' or 'UTC'.",
        )
    ]


async def test_wait_localtime_zone_rejected(world: World) -> None:
    wait = {
        "id": "pause",
        "type": "wait",
        "config": {"until": "record.due", "timezone": "localtime"},
    }

    found = await problems(world, definition({"type": "record_created"}, wait))

    assert found == [
        (
            "steps.0.config.timezone",
            ErrorCode.INVALID_CONFIG,
            "Unknown time zone 'localtime'; use an IANA name such as 'Europe/Paris'.",
        )
    ]


async def test_long_name_too_long(world: World) -> None:
    found = await problems(world, definition({"type": "manual"}, STOP, name="n" * 201))

    assert found == [
        (
            "name",
            ErrorCode.TOO_LONG,
            "The workflow name has 201 characters; the maximum is 200.",
        )
    ]


async def test_name_of_200_characters_saved(world: World) -> None:
    workflow_id = await world.add_workflow(
        definition({"type": "manual"}, STOP, name="n" * 200)
    )

    assert workflow_id


async def test_step_without_id_required(world: World) -> None:
    found = await problems(
        world, definition({"type": "manual"}, STOP, {"type": "stop"})
    )

    assert found == [
        (
            "steps.1.id",
            ErrorCode.REQUIRED,
            "Step at steps.1 needs an id: 1 to 64 ASCII letters, digits or '_', "
            "not starting with a digit.",
        )
    ]


async def test_unknown_name_in_condition(world: World) -> None:
    step = {"id": "check", "type": "condition", "config": {"if": "nosuch > 1"}}

    found = await problems(world, definition({"type": "record_created"}, step))

    assert found == [
        (
            "steps.0.config.if",
            ErrorCode.UNKNOWN_REFERENCE,
            f"Unknown name 'nosuch' in 'nosuch > 1'; the names available here "
            f"are: {RECORD_STEP_NAMES}.",
        )
    ]


async def test_unknown_name_in_trigger_when(world: World) -> None:
    trigger = {"type": "record_created", "when": "foo.bar == 1"}

    found = await problems(world, definition(trigger, STOP))

    assert found == [
        (
            "trigger.when",
            ErrorCode.UNKNOWN_REFERENCE,
            "Unknown name 'foo' in 'foo.bar == 1'; the names available here "
            "are: record, previous.",
        )
    ]


async def test_steps_name_in_trigger_when(world: World) -> None:
    trigger = {"type": "record_updated", "when": "steps.x.found"}

    found = await problems(world, definition(trigger, STOP))

    assert [(path, code) for path, code, _ in found] == [
        ("trigger.when", ErrorCode.UNKNOWN_REFERENCE)
    ]


async def test_record_in_manual_run_rejected(world: World) -> None:
    step = {"id": "check", "type": "condition", "config": {"if": "record.nope"}}

    found = await problems(world, definition({"type": "manual"}, step))

    assert found == [
        (
            "steps.0.config.if",
            ErrorCode.UNKNOWN_REFERENCE,
            f"'record' in 'record.nope' is not available: a manual trigger "
            f"starts the run, so the run has no triggering record. The names "
            f"available here are: {STEP_NAMES}.",
        )
    ]


async def test_item_outside_for_each_rejected(world: World) -> None:
    step = {"id": "check", "type": "condition", "config": {"if": "item.x"}}

    found = await problems(world, definition({"type": "record_created"}, step))

    assert found == [
        (
            "steps.0.config.if",
            ErrorCode.UNKNOWN_REFERENCE,
            f"'item' in 'item.x' is only available inside a for_each body; the "
            f"names available here are: {RECORD_STEP_NAMES}.",
        )
    ]


async def test_item_inside_for_each_accepted(world: World) -> None:
    loop = {
        "id": "each",
        "type": "for_each",
        "config": {"items": "record.lines"},
        "body": [
            {
                "id": "check",
                "type": "condition",
                "config": {"if": "item.qty > index and steps.each.count > 0"},
            }
        ],
    }

    workflow_id = await world.add_workflow(definition({"type": "record_created"}, loop))

    assert workflow_id


async def test_later_step_reference_rejected(world: World) -> None:
    first = {"id": "check", "type": "condition", "config": {"if": "steps.find.found"}}
    second = {
        "id": "find",
        "type": "find_record",
        "config": {"app": "invoices", "match": {"reference": "record.name"}},
    }

    found = await problems(world, definition({"type": "record_created"}, first, second))

    assert found == [
        (
            "steps.0.config.if",
            ErrorCode.UNKNOWN_REFERENCE,
            "steps.find in 'steps.find.found' does not name an earlier step; the "
            "steps before this one are: none.",
        )
    ]


async def test_earlier_step_reference_accepted(world: World) -> None:
    first = {
        "id": "find",
        "type": "find_record",
        "config": {"app": "invoices", "match": {"reference": "record.name"}},
    }
    second = {"id": "check", "type": "condition", "config": {"if": "steps.find.found"}}

    workflow_id = await world.add_workflow(
        definition({"type": "record_created"}, first, second)
    )

    assert workflow_id


async def test_approver_form_explained(world: World) -> None:
    step = {
        "id": "approve",
        "type": "approval",
        "config": {"levels": [{"approvers": ["boss"]}]},
    }

    found = await problems(world, definition({"type": "record_created"}, step))

    assert found == [
        (
            "steps.0.config.levels.0.approvers.0",
            ErrorCode.INVALID_CONFIG,
            "Invalid config for an approval step: 'boss' is invalid; expected "
            "user:<id>, role:<name> or submitter.<attribute>.",
        )
    ]


async def test_fail_message_template_checked(world: World) -> None:
    step = {"id": "stop", "type": "fail", "config": {"message": "boom {{ x"}}

    found = await problems(world, definition({"type": "record_created"}, step))

    assert [(path, code) for path, code, _ in found] == [
        ("steps.0.config.message", ErrorCode.INVALID_CONFIG)
    ]
    assert found[0][2].startswith("Invalid template: Template at message line 1: ")
