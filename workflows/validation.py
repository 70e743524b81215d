"""Checks of a whole workflow definition before it is saved.

:func:`check_workflow` rejects the definition with every problem found, each
located by its path in the JSON form: unknown step types and branches,
configs that break their step type's JSON schema, expressions that do not
parse, names that expressions read but the engine does not provide, unknown
apps and fields, duplicate step ids, and invalid triggers.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import CroniterBadDateError, croniter

from blocks.errors import ErrorCode, Path, Problem
from blocks.expressions import ExpressionError, parse_cached
from workflows.errors import WorkflowDefinitionError
from workflows.model import (
    NON_IANA_ZONES,
    RECORD_TRIGGERS,
    TriggerType,
    WorkflowDefinition,
    parse_workflow,
)
from workflows.references import reference_problems
from workflows.steps.base import StepConfigContext, with_article
from workflows.steps.registry import StepRegistry

CRON_MACROS = (
    "@yearly",
    "@annually",
    "@monthly",
    "@weekly",
    "@daily",
    "@midnight",
    "@hourly",
)
"""Names croniter accepts in place of five cron fields."""

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
    valid_configs: set[Path] = set()
    problems.extend(_step_problems(definition, registry, context, valid_configs))
    problems.extend(reference_problems(definition, registry, valid_configs))
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
        problems.extend(_schedule_problems(trigger.cron, trigger.timezone, path))
    return problems


def _schedule_problems(cron: str, timezone: str, path: Path) -> list[Problem]:
    problems = []
    cron_problem = check_cron(cron)
    if cron_problem is not None:
        problems.append(Problem((*path, "cron"), ErrorCode.INVALID, cron_problem))
    if timezone in NON_IANA_ZONES:
        problems.append(
            Problem(
                (*path, "timezone"),
                ErrorCode.INVALID,
                f"Time zone {timezone!r} depends on the server's files and is not "
                f"an IANA name; use one such as 'Africa/Dar_es_Salaam' or 'UTC'.",
            )
        )
        return problems
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        problems.append(
            Problem(
                (*path, "timezone"),
                ErrorCode.INVALID,
                f"Unknown time zone {timezone!r}; use an IANA name such as "
                f"'Europe/Paris'.",
            )
        )
    return problems


def check_cron(cron: str) -> str | None:
    """Return why ``cron`` is not a usable schedule, or None if it is.

    A schedule has five fields (minute, hour, day of month, month, day of
    week) or is one of :data:`CRON_MACROS`, and matches a date within
    croniter's search of 50 years after now.
    """
    fields = cron.split()
    if len(fields) == 1 and fields[0] in CRON_MACROS:
        return None
    if len(fields) != 5 or not croniter.is_valid(cron):
        # The macros are in the documentation; this message stays short.
        return (
            f"Invalid cron expression {cron!r}; expected five fields such as "
            f"'0 9 * * MON-FRI'."
        )
    try:
        croniter(cron, datetime.now(UTC)).get_next(datetime)
    except CroniterBadDateError:
        return f"cron {cron!r} never matches a date; check the day and the month."
    return None


def _step_problems(
    definition: WorkflowDefinition,
    registry: StepRegistry,
    context: StepConfigContext,
    valid_configs: set[Path],
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
                        f"{with_article(step.type).capitalize()} step has no "
                        f"branch {branch!r}; its branches are {allowed}.",
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
        if not config_problems:
            valid_configs.add(path)
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
