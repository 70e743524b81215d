"""Step types that read and write records.

``set_fields`` changes the record that triggered the run. The others work on
any app of the workflow's workspace, named by slug. Field values are mapped
by block id: a string is an expression, ``{"template": "..."}`` is a
sandboxed Jinja template that renders text, and ``{"value": ...}`` is a
literal.
Written data is validated like a client's submission.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from blocks.errors import ErrorCode, Path, Problem
from workflows.errors import StepError
from workflows.model import Step
from workflows.steps.base import (
    RetryPolicy,
    StepConfigContext,
    StepContext,
    StepOutcome,
    StepType,
    to_json,
)
from workflows.templates import TemplateError, check_template, render_template

_RECORD_RETRY = RetryPolicy(max_attempts=3, backoff=2.0)
_EXPRESSION = {"type": "string", "minLength": 1}
_SLUG = {"type": "string", "minLength": 1}
_FIELD_VALUE = {
    "oneOf": [
        _EXPRESSION,
        {
            "type": "object",
            "properties": {"value": {}},
            "required": ["value"],
            "additionalProperties": False,
        },
        {
            "type": "object",
            "properties": {"template": {"type": "string"}},
            "required": ["template"],
            "additionalProperties": False,
        },
    ]
}
_FIELDS = {"type": "object", "additionalProperties": _FIELD_VALUE}


def _schema(properties: Mapping[str, Any], required: list[str]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": dict(properties),
        "required": required,
        "additionalProperties": False,
    }


def field_expressions(
    config: Mapping[str, Any], key: str = "fields"
) -> dict[Path, str]:
    """Return the expressions of a field mapping by path in the config."""
    return {
        (key, field_id): value
        for field_id, value in config.get(key, {}).items()
        if isinstance(value, str)
    }


def evaluate_fields(
    ctx: StepContext, mapping: Mapping[str, Any], key: str = "fields"
) -> dict[str, Any]:
    """Evaluate a field mapping to record data keyed by block id."""
    data: dict[str, Any] = {}
    for field_id, value in mapping.items():
        where = f"{key}.{field_id}"
        if isinstance(value, str):
            data[field_id] = to_json(ctx.evaluate(value, where))
        elif "template" in value:
            data[field_id] = _render(ctx, value["template"], where)
        else:
            data[field_id] = value["value"]
    return data


def field_template_problems(config: Mapping[str, Any], key: str) -> list[Problem]:
    """Return a problem for each template of a field mapping that does not parse."""
    problems = []
    for field_id, value in config.get(key, {}).items():
        if isinstance(value, Mapping) and "template" in value:
            try:
                check_template(value["template"], path=f"{key}.{field_id}")
            except TemplateError as error:
                problems.append(
                    Problem(
                        (key, field_id, "template"),
                        ErrorCode.INVALID_CONFIG,
                        f"Invalid template: {error}",
                    )
                )
    return problems


def _render(ctx: StepContext, source: str, where: str) -> str:
    try:
        return render_template(source, ctx.template_context(), path=where)
    except TemplateError as error:
        raise ctx.template_error(where, error) from error


class _AppStepType(StepType):
    """A step type whose config names an app by slug in ``app``."""

    field_keys: ClassVar[tuple[str, ...]] = ()
    """Config keys whose objects are keyed by block ids of the app."""

    def validate_config(self, step: Step, context: StepConfigContext) -> list[Problem]:
        """Check the schema, the app slug and the field ids."""
        problems = super().validate_config(step, context)
        if problems:
            return problems
        slug = step.config["app"]
        if slug not in context.app_slugs:
            return [
                Problem(
                    ("app",),
                    ErrorCode.UNKNOWN_REFERENCE,
                    f"Unknown app {slug!r}; name an app of this workspace by its slug.",
                )
            ]
        problems = _unknown_fields(step, context.app_fields.get(slug), self.field_keys)
        for key in self.field_keys:
            problems.extend(field_template_problems(step.config, key))
        return problems

    def config_expressions(self, config: Mapping[str, Any]) -> Mapping[Path, str]:
        """Return the field expressions and the ``record_id`` expression."""
        expressions: dict[Path, str] = {}
        for key in self.field_keys:
            expressions.update(field_expressions(config, key))
        if "record_id" in config:
            expressions[("record_id",)] = config["record_id"]
        return expressions


class SetFieldsStepType(StepType):
    """Change fields of the record that triggered the run."""

    name = "set_fields"
    label = "Set fields"
    description = "Change fields of the record that started the run."
    config_schema: ClassVar[Mapping[str, Any]] = _schema(
        {"fields": {**_FIELDS, "minProperties": 1}}, ["fields"]
    )
    retry: ClassVar[RetryPolicy] = _RECORD_RETRY

    def validate_config(self, step: Step, context: StepConfigContext) -> list[Problem]:
        """Check the schema and that the fields exist in the workflow's app."""
        problems = super().validate_config(step, context)
        if problems:
            return problems
        fields = context.app_fields.get(context.own_app_slug)
        problems = _unknown_fields(step, fields, ("fields",))
        problems.extend(field_template_problems(step.config, "fields"))
        return problems

    def config_expressions(self, config: Mapping[str, Any]) -> Mapping[Path, str]:
        """Return the field expressions."""
        return field_expressions(config)

    async def run(self, ctx: StepContext) -> StepOutcome:
        """Update the triggering record with the evaluated fields."""
        record_id = ctx.trigger.get("record_id")
        if not isinstance(record_id, str):
            raise StepError(
                f"Step {ctx.step.id!r}: set_fields needs a run started by a "
                f"record; this run was started by {ctx.trigger.get('kind')!r}.",
                retryable=False,
            )
        data = evaluate_fields(ctx, ctx.step.config["fields"])
        record = await ctx.records.update(record_id, data)
        return StepOutcome({"record_id": record.id, "fields": data})


class CreateRecordStepType(_AppStepType):
    """Create a record in an app of the workspace."""

    name = "create_record"
    label = "Create record"
    description = "Create a record in an app of the workspace."
    config_schema: ClassVar[Mapping[str, Any]] = _schema(
        {"app": _SLUG, "fields": _FIELDS}, ["app", "fields"]
    )
    retry: ClassVar[RetryPolicy] = _RECORD_RETRY
    field_keys = ("fields",)

    async def run(self, ctx: StepContext) -> StepOutcome:
        """Insert the record, once per step key."""
        app = await ctx.records.app(ctx.step.config["app"])
        data = evaluate_fields(ctx, ctx.step.config["fields"])
        record = await ctx.records.create(app, data)
        return StepOutcome({"record_id": record.id, "app": app.slug})


class UpdateRecordStepType(_AppStepType):
    """Update a record of an app of the workspace."""

    name = "update_record"
    label = "Update record"
    description = "Change fields of a record, found by an id expression."
    config_schema: ClassVar[Mapping[str, Any]] = _schema(
        {"app": _SLUG, "record_id": _EXPRESSION, "fields": _FIELDS},
        ["app", "record_id", "fields"],
    )
    retry: ClassVar[RetryPolicy] = _RECORD_RETRY
    field_keys = ("fields",)

    async def run(self, ctx: StepContext) -> StepOutcome:
        """Update the record, once per step key."""
        app = await ctx.records.app(ctx.step.config["app"])
        record_id = _record_id(ctx)
        data = evaluate_fields(ctx, ctx.step.config["fields"])
        record = await ctx.store.get_record(record_id)
        if record is None or record.app_id != app.id:
            raise StepError(
                f"Step {ctx.step.id!r}: record {record_id!r} was not found in app "
                f"{app.slug!r}.",
                retryable=False,
            )
        updated = await ctx.records.update(record_id, data)
        return StepOutcome({"record_id": updated.id, "revision": updated.revision})


class FindRecordStepType(_AppStepType):
    """Find the oldest record of an app whose fields equal given values."""

    name = "find_record"
    label = "Find record"
    description = (
        "Find the oldest record of an app whose fields equal the values of "
        "'match'. The output has found, record_id and record."
    )
    config_schema: ClassVar[Mapping[str, Any]] = _schema(
        {"app": _SLUG, "match": {**_FIELDS, "minProperties": 1}}, ["app", "match"]
    )
    retry: ClassVar[RetryPolicy] = _RECORD_RETRY
    field_keys = ("match",)

    async def run(self, ctx: StepContext) -> StepOutcome:
        """Query the app for the first match."""
        app = await ctx.records.app(ctx.step.config["app"])
        match = evaluate_fields(ctx, ctx.step.config["match"], "match")
        record = await ctx.records.find(app, match)
        if record is None:
            return StepOutcome({"found": False, "record_id": None, "record": None})
        return StepOutcome(
            {"found": True, "record_id": record.id, "record": record.data}
        )


class DeleteRecordStepType(_AppStepType):
    """Delete a record of an app of the workspace."""

    name = "delete_record"
    label = "Delete record"
    description = "Delete a record, found by an id expression."
    config_schema: ClassVar[Mapping[str, Any]] = _schema(
        {"app": _SLUG, "record_id": _EXPRESSION}, ["app", "record_id"]
    )
    retry: ClassVar[RetryPolicy] = _RECORD_RETRY

    async def run(self, ctx: StepContext) -> StepOutcome:
        """Delete the record, once per step key."""
        app = await ctx.records.app(ctx.step.config["app"])
        record_id = _record_id(ctx)
        record = await ctx.store.get_record(record_id)
        if record is not None and record.app_id != app.id:
            raise StepError(
                f"Step {ctx.step.id!r}: record {record_id!r} is not in app "
                f"{app.slug!r}.",
                retryable=False,
            )
        deleted = await ctx.records.delete(record_id)
        return StepOutcome({"record_id": record_id, "deleted": deleted})


def _record_id(ctx: StepContext) -> str:
    value = ctx.evaluate(ctx.step.config["record_id"], "record_id")
    if not isinstance(value, str) or not value:
        raise StepError(
            f"Step {ctx.step.id!r}: 'record_id' must give a record id, got {value!r}.",
            retryable=False,
        )
    return value


def _unknown_fields(
    step: Step, fields: frozenset[str] | None, keys: tuple[str, ...]
) -> list[Problem]:
    if fields is None:
        return []
    problems = []
    for key in keys:
        for field_id in step.config.get(key, {}):
            if field_id not in fields:
                problems.append(
                    Problem(
                        (key, field_id),
                        ErrorCode.UNKNOWN_FIELD,
                        f"The app has no field {field_id!r}. Use block ids of "
                        f"its current definition.",
                    )
                )
    return problems
