"""Checks of a whole workflow definition before it is saved.

:func:`check_workflow` rejects the definition with every problem found, each
located by its path in the JSON form: unknown step types and branches,
configs that break their step type's JSON schema, expressions that do not
parse, unknown apps and fields, duplicate step ids, and invalid triggers.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter

from blocks.errors import ErrorCode, Path, Problem
from blocks.expressions import ExpressionError, parse_cached
from workflows.errors import WorkflowDefinitionError
from workflows.model import (
    RECORD_TRIGGERS,
    TriggerType,
    WorkflowDefinition,
    parse_workflow,
)
from workflows.steps.base import StepConfigContext
from workflows.steps.registry import StepRegistry

MAX_STEPS = 500
"""Most steps of one definition, counting steps inside branches."""


def check_workflow(
    data: Mapping[str, Any], registry: StepRegistry, context: StepConfigContext
) -> WorkflowDefinition:
    """Parse and check a definition; return it when it is valid.

    Raises:
        WorkflowDefinitionError: with one problem per invalid part.
    """
    definition = parse_workflow(data)
    problems = _trigger_problems(definition, context)
    problems.extend(_step_problems(definition, registry, context))
    if problems:
        raise WorkflowDefinitionError(problems)
    return definition


def _trigger_problems(
    definition: WorkflowDefinition, context: StepConfigContext
) -> list[Problem]:
    trigger = definition.trigger
    path: Path = ("trigger",)
    problems = []
    if trigger.when is not None:
        problems.extend(_expression_problem((*path, "when"), trigger.when))
    if trigger.type is TriggerType.FIELD_CHANGED and trigger.field is not None:
        fields = context.app_fields.get(context.own_app_slug)
        if fields is not None and trigger.field not in fields:
            problems.append(
                Problem(
                    (*path, "field"),
                    ErrorCode.UNKNOWN_FIELD,
                    f"The app has no field {trigger.field!r} to watch. Use a "
                    f"block id of its current definition.",
                )
            )
    if trigger.type is TriggerType.SCHEDULE and trigger.cron is not None:
        if not croniter.is_valid(trigger.cron):
            problems.append(
                Problem(
                    (*path, "cron"),
                    ErrorCode.INVALID,
                    f"Invalid cron expression {trigger.cron!r}; expected five "
                    f"fields such as '0 9 * * MON-FRI'.",
                )
            )
        try:
            ZoneInfo(trigger.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            problems.append(
                Problem(
                    (*path, "timezone"),
                    ErrorCode.INVALID,
                    f"Unknown time zone {trigger.timezone!r}; use an IANA name "
                    f"such as 'Europe/Paris'.",
                )
            )
    return problems


def _step_problems(
    definition: WorkflowDefinition,
    registry: StepRegistry,
    context: StepConfigContext,
) -> list[Problem]:
    problems: list[Problem] = []
    seen: dict[str, Path] = {}
    count = 0
    for path, step in definition.walk():
        count += 1
        if step.id:
            if step.id in seen:
                first = ".".join(map(str, seen[step.id]))
                problems.append(
                    Problem(
                        (*path, "id"),
                        ErrorCode.DUPLICATE_ID,
                        f"Step id {step.id!r} is already used at {first}; give "
                        f"each step a unique id.",
                    )
                )
            else:
                seen[step.id] = path
        step_type = registry.get(step.type)
        if step_type is None:
            if step.type:
                problems.append(
                    Problem(
                        (*path, "type"),
                        ErrorCode.UNKNOWN_REFERENCE,
                        f"Unknown step type {step.type!r}; installed types are "
                        f"{', '.join(registry.names())}.",
                    )
                )
            continue
        for branch in step.branches:
            if branch not in step_type.branches:
                allowed = ", ".join(step_type.branches) or "none"
                problems.append(
                    Problem(
                        (*path, branch),
                        ErrorCode.UNKNOWN_FIELD,
                        f"A {step.type} step has no branch {branch!r}; its "
                        f"branches are {allowed}.",
                    )
                )
        if step.type in ("set_fields",) and (
            definition.trigger.type not in RECORD_TRIGGERS
            or definition.trigger.type is TriggerType.RECORD_DELETED
        ):
            problems.append(
                Problem(
                    (*path, "type"),
                    ErrorCode.INVALID,
                    "A set_fields step changes the record that started the run, "
                    "so it needs a record_created, record_updated or "
                    "field_changed trigger.",
                )
            )
        config_problems = step_type.validate_config(step, context)
        problems.extend(p.with_prefix((*path, "config")) for p in config_problems)
    if count > MAX_STEPS:
        problems.append(
            Problem(
                ("steps",),
                ErrorCode.TOO_MANY,
                f"The workflow has {count} steps, more than the maximum of "
                f"{MAX_STEPS}. Split it into several workflows.",
            )
        )
    return problems


def _expression_problem(path: Path, source: str) -> list[Problem]:
    try:
        parse_cached(source)
    except ExpressionError as error:
        return [
            Problem(
                path,
                ErrorCode.INVALID_EXPRESSION,
                f"Invalid expression {source!r}: {error}",
            )
        ]
    return []
