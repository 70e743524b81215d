"""Step types that steer a run: condition, for_each, wait, stop and fail."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, time, timedelta
from typing import Any, ClassVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from blocks.errors import ErrorCode, Path, Problem
from workflows.errors import StepError
from workflows.model import NON_IANA_ZONES, Step
from workflows.steps.base import (
    NO_RETRY,
    RetryPolicy,
    StepConfigContext,
    StepContext,
    StepOutcome,
    StepType,
    to_json,
)
from workflows.templates import TemplateError, check_template, render_template

_EXPRESSION = {"type": "string", "minLength": 1}


class ConditionStepType(StepType):
    """Run the ``then`` steps when an expression is true, else the ``else`` steps."""

    name = "condition"
    label = "Condition"
    description = "Branch on an expression: true runs 'then', anything else 'else'."
    config_schema: ClassVar[Mapping[str, Any]] = {
        "type": "object",
        "properties": {"if": _EXPRESSION},
        "required": ["if"],
        "additionalProperties": False,
    }
    branches = ("then", "else")
    retry: ClassVar[RetryPolicy] = NO_RETRY

    def config_expressions(self, config: Mapping[str, Any]) -> Mapping[Path, str]:
        """Return the ``if`` expression."""
        return {("if",): config["if"]}

    async def run(self, ctx: StepContext) -> StepOutcome:
        """Evaluate ``if`` and choose the branch."""
        result = ctx.evaluate(ctx.step.config["if"], "if") is True
        return StepOutcome({"result": result}, branch="then" if result else "else")


class ForEachStepType(StepType):
    """Run the ``body`` steps once per item of a list, in order."""

    name = "for_each"
    label = "For each"
    description = (
        "Run the body once per item of a list, such as the rows of a "
        "repeatable section or the records an earlier step returned. The "
        "body reads the item as 'item' and its 1-based position as 'index'."
    )
    config_schema: ClassVar[Mapping[str, Any]] = {
        "type": "object",
        "properties": {
            "items": _EXPRESSION,
            "max_items": {"type": "integer", "minimum": 1},
        },
        "required": ["items"],
        "additionalProperties": False,
    }
    branches = ("body",)
    retry: ClassVar[RetryPolicy] = NO_RETRY

    def config_expressions(self, config: Mapping[str, Any]) -> Mapping[Path, str]:
        """Return the ``items`` expression."""
        return {("items",): config["items"]}

    async def run(self, ctx: StepContext) -> StepOutcome:
        """Evaluate the items and check them against the bound."""
        value = ctx.evaluate(ctx.step.config["items"], "items")
        if value is None:
            value = []
        if not isinstance(value, list | tuple):
            raise StepError(
                f"Step {ctx.step.id!r}: 'items' must give a list, got "
                f"{type(value).__name__}.",
                retryable=False,
            )
        limit = min(
            int(ctx.step.config.get("max_items", ctx.settings.max_iterations)),
            ctx.settings.max_iterations,
        )
        if len(value) > limit:
            raise StepError(
                f"Step {ctx.step.id!r}: 'items' gave {len(value)} items, more than "
                f"the maximum of {limit}. Filter the list or raise max_items.",
                retryable=False,
            )
        return StepOutcome(items=[to_json(item) for item in value])


class WaitStepType(StepType):
    """Hold the run for a duration, or until a time read from the record."""

    name = "wait"
    label = "Wait"
    description = (
        "Hold the run for a duration, or until the date or datetime an "
        "expression gives. A date means midnight in 'timezone'."
    )
    config_schema: ClassVar[Mapping[str, Any]] = {
        "type": "object",
        "properties": {
            "duration": {
                "type": "object",
                "properties": {
                    unit: {"type": "integer", "minimum": 0}
                    for unit in ("days", "hours", "minutes", "seconds")
                },
                "additionalProperties": False,
                "minProperties": 1,
            },
            "until": _EXPRESSION,
            "timezone": {"type": "string", "minLength": 1},
        },
        "oneOf": [{"required": ["duration"]}, {"required": ["until"]}],
        "additionalProperties": False,
    }
    retry: ClassVar[RetryPolicy] = NO_RETRY

    def validate_config(self, step: Step, context: StepConfigContext) -> list[Problem]:
        """Check the schema and the time zone name."""
        problems = super().validate_config(step, context)
        zone = step.config.get("timezone")
        if not problems and isinstance(zone, str) and _zone(zone) is None:
            problems.append(
                Problem(
                    ("timezone",),
                    ErrorCode.INVALID_CONFIG,
                    f"Unknown time zone {zone!r}; use an IANA name such as "
                    f"'Europe/Paris'.",
                )
            )
        return problems

    def config_expressions(self, config: Mapping[str, Any]) -> Mapping[Path, str]:
        """Return the ``until`` expression, if any."""
        return {("until",): config["until"]} if "until" in config else {}

    async def run(self, ctx: StepContext) -> StepOutcome:
        """Compute the time to wait until."""
        config = ctx.step.config
        if "duration" in config:
            delta = timedelta(**config["duration"])
            until = ctx.now + delta
        else:
            zone = _zone(config.get("timezone", "UTC")) or ZoneInfo("UTC")
            until = _moment(ctx.evaluate(config["until"], "until"), zone, ctx)
        return StepOutcome({"until": until.isoformat()}, wait_until=until)


class StopStepType(StepType):
    """Complete the run now, skipping the remaining steps."""

    name = "stop"
    label = "Stop"
    description = "Complete the run successfully without running later steps."
    config_schema: ClassVar[Mapping[str, Any]] = {
        "type": "object",
        "properties": {"reason": {"type": "string"}},
        "additionalProperties": False,
    }
    retry: ClassVar[RetryPolicy] = NO_RETRY

    async def run(self, ctx: StepContext) -> StepOutcome:
        """Return an outcome that stops the run."""
        return StepOutcome({"reason": ctx.step.config.get("reason", "")}, stop=True)


class FailStepType(StepType):
    """Fail the run with a message."""

    name = "fail"
    label = "Fail"
    description = "Fail the run with the given message; it is not retried."
    config_schema: ClassVar[Mapping[str, Any]] = {
        "type": "object",
        "properties": {"message": {"type": "string", "minLength": 1}},
        "required": ["message"],
        "additionalProperties": False,
    }
    retry: ClassVar[RetryPolicy] = NO_RETRY

    def validate_config(self, step: Step, context: StepConfigContext) -> list[Problem]:
        """Check the schema and the message template."""
        problems = super().validate_config(step, context)
        if problems:
            return problems
        try:
            check_template(step.config["message"], path="message")
        except TemplateError as error:
            problems.append(
                Problem(
                    ("message",), ErrorCode.INVALID_CONFIG, f"Invalid template: {error}"
                )
            )
        return problems

    async def run(self, ctx: StepContext) -> StepOutcome:
        """Render the message and raise it as a permanent step error."""
        source = ctx.step.config["message"]
        try:
            message = render_template(source, ctx.template_context(), path="message")
        except TemplateError as error:
            raise ctx.template_error("message", error) from error
        raise StepError(message, retryable=False)


def _zone(name: str) -> ZoneInfo | None:
    if name in NON_IANA_ZONES:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def _moment(value: object, zone: ZoneInfo, ctx: StepContext) -> datetime:
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            raise StepError(
                f"Step {ctx.step.id!r}: 'until' gave {value!r}, which is not an "
                f"ISO 8601 date or datetime.",
                retryable=False,
            ) from None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=zone)
    if isinstance(value, date):
        return datetime.combine(value, time(0), tzinfo=zone)
    if value is None:
        # Completing at once would hide an empty or misspelled field.
        raise StepError(
            f"'until' of step {ctx.step.id!r} gave null; make the expression "
            f"give a date or datetime, for example by checking the field in a "
            f"condition step before the wait.",
            retryable=False,
        )
    raise StepError(
        f"Step {ctx.step.id!r}: 'until' must give a date or datetime, got "
        f"{type(value).__name__}.",
        retryable=False,
    )
