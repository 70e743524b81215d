"""Workflow definitions as immutable objects, and their JSON form.

A definition is JSON data::

    {
      "name": "Escalate large orders",
      "enabled": true,
      "trigger": {"type": "record_created", "when": "record.amount > 1000"},
      "steps": [
        {"id": "check", "type": "condition", "config": {"if": "record.vip"},
         "then": [{"id": "done", "type": "stop"}],
         "else": [{"id": "flag", "type": "set_fields",
                   "config": {"fields": {"status": "'review'"}}}]}
      ]
    }

Steps form a tree: a step type that has branches (``condition`` has
``then`` and ``else``, ``for_each`` has ``body``) takes them as keys of the
step beside ``config``. :func:`parse_workflow` checks the shape only; step
types, configs and expressions are checked by
:func:`workflows.validation.check_workflow`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from blocks.errors import ErrorCode, Path, Problem
from workflows.errors import WorkflowDefinitionError

STEP_ID_PATTERN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
"""Step ids are expression names, so ``steps.<id>`` reads a step's output."""

_STEP_KEYS = frozenset({"id", "type", "label", "config"})
NON_IANA_ZONES = frozenset({"localtime", "posixrules", "Factory"})
"""Files of the system's zoneinfo directory that ZoneInfo loads but that are
not IANA zone names: their meaning changes with the server."""

MAX_NAME_LENGTH = 200
"""Maximum characters of a workflow name, after stripping white space."""

_TOP_KEYS = frozenset({"name", "description", "enabled", "trigger", "steps"})


class TriggerType(StrEnum):
    """Kind of event that starts a run of a workflow."""

    RECORD_CREATED = "record_created"
    RECORD_UPDATED = "record_updated"
    RECORD_DELETED = "record_deleted"
    FIELD_CHANGED = "field_changed"
    """A record update changed the value of one field (such as a status)."""
    SCHEDULE = "schedule"
    MANUAL = "manual"


RECORD_TRIGGERS = frozenset(
    {
        TriggerType.RECORD_CREATED,
        TriggerType.RECORD_UPDATED,
        TriggerType.RECORD_DELETED,
        TriggerType.FIELD_CHANGED,
    }
)


@dataclass(frozen=True)
class Trigger:
    """When a workflow starts.

    ``when`` is an optional expression over ``record`` (and ``previous`` for
    updates) that must be true for a record event to start a run. A
    ``field_changed`` trigger fires when ``field`` differs between the
    previous and the new data, and, when given, the previous value equals
    ``changed_from`` and the new one equals ``changed_to``.
    """

    type: TriggerType
    when: str | None = None
    field: str | None = None
    changed_from: Any = None
    changed_to: Any = None
    has_changed_from: bool = False
    has_changed_to: bool = False
    cron: str | None = None
    timezone: str = "UTC"


@dataclass(frozen=True)
class Step:
    """One step of a workflow, with its child steps by branch name."""

    id: str
    type: str
    config: Mapping[str, Any] = field(default_factory=dict)
    branches: Mapping[str, tuple[Step, ...]] = field(default_factory=dict)
    label: str = ""


@dataclass(frozen=True)
class WorkflowDefinition:
    """A parsed workflow definition."""

    name: str
    trigger: Trigger
    steps: tuple[Step, ...]
    enabled: bool = True
    description: str = ""

    def walk(self) -> Iterator[tuple[Path, Step]]:
        """Yield every step with its path in the JSON form, depth first."""
        yield from walk_steps(self.steps, ("steps",))


def walk_steps(steps: Sequence[Step], prefix: Path) -> Iterator[tuple[Path, Step]]:
    """Yield ``steps`` and their descendants with their JSON paths."""
    for index, step in enumerate(steps):
        path = (*prefix, index)
        yield path, step
        for branch, children in step.branches.items():
            yield from walk_steps(children, (*path, branch))


def parse_workflow(data: Mapping[str, Any]) -> WorkflowDefinition:
    """Build a definition from JSON data, checking its shape.

    Raises:
        WorkflowDefinitionError: with one problem per malformed part.
    """
    problems: list[Problem] = []
    if not isinstance(data, Mapping):
        raise WorkflowDefinitionError(
            [Problem((), ErrorCode.INVALID_TYPE, "Expected a workflow object.")]
        )
    for key in sorted(set(data) - _TOP_KEYS):
        problems.append(
            Problem(
                (key,),
                ErrorCode.UNKNOWN_FIELD,
                f"Unknown key {key!r}; a workflow has {', '.join(sorted(_TOP_KEYS))}.",
            )
        )

    name = data.get("name")
    if not isinstance(name, str) or not name.strip():
        problems.append(
            Problem(("name",), ErrorCode.REQUIRED, "A workflow needs a name.")
        )
        name = ""
    elif len(name.strip()) > MAX_NAME_LENGTH:
        problems.append(
            Problem(
                ("name",),
                ErrorCode.TOO_LONG,
                f"The workflow name has {len(name.strip())} characters; the "
                f"maximum is {MAX_NAME_LENGTH}.",
            )
        )
    description = data.get("description", "")
    if not isinstance(description, str):
        problems.append(_type_problem(("description",), "text", description))
        description = ""
    enabled = data.get("enabled", True)
    if not isinstance(enabled, bool):
        problems.append(_type_problem(("enabled",), "true or false", enabled))
        enabled = True

    trigger = _parse_trigger(data.get("trigger"), problems)
    raw_steps = data.get("steps", [])
    steps = _parse_steps(raw_steps, ("steps",), problems)
    if problems or trigger is None:
        raise WorkflowDefinitionError(problems)
    return WorkflowDefinition(
        name=name.strip(),
        trigger=trigger,
        steps=steps,
        enabled=enabled,
        description=description,
    )


def dump_workflow(definition: WorkflowDefinition) -> dict[str, Any]:
    """Return the JSON form of a definition, as :func:`parse_workflow` reads it."""
    return {
        "name": definition.name,
        "description": definition.description,
        "enabled": definition.enabled,
        "trigger": _dump_trigger(definition.trigger),
        "steps": [_dump_step(step) for step in definition.steps],
    }


# Triggers --------------------------------------------------------------------

_TRIGGER_KEYS: dict[TriggerType, frozenset[str]] = {
    TriggerType.RECORD_CREATED: frozenset({"type", "when"}),
    TriggerType.RECORD_UPDATED: frozenset({"type", "when"}),
    TriggerType.RECORD_DELETED: frozenset({"type", "when"}),
    TriggerType.FIELD_CHANGED: frozenset({"type", "when", "field", "from", "to"}),
    TriggerType.SCHEDULE: frozenset({"type", "cron", "timezone"}),
    TriggerType.MANUAL: frozenset({"type"}),
}


def _parse_trigger(raw: Any, problems: list[Problem]) -> Trigger | None:
    path: Path = ("trigger",)
    if not isinstance(raw, Mapping):
        problems.append(
            Problem(
                path,
                ErrorCode.REQUIRED,
                'A workflow needs a trigger object such as {"type": "record_created"}.',
            )
        )
        return None
    kind = raw.get("type")
    try:
        trigger_type = TriggerType(str(kind))
    except ValueError:
        problems.append(
            Problem(
                (*path, "type"),
                ErrorCode.INVALID,
                f"Unknown trigger type {kind!r}; expected one of "
                f"{', '.join(t.value for t in TriggerType)}.",
            )
        )
        return None

    allowed = _TRIGGER_KEYS[trigger_type]
    for key in sorted(set(raw) - allowed):
        problems.append(
            Problem(
                (*path, key),
                ErrorCode.UNKNOWN_FIELD,
                f"A {trigger_type} trigger has no key {key!r}; it takes "
                f"{', '.join(sorted(allowed))}.",
            )
        )
    when = raw.get("when")
    if when is not None and not isinstance(when, str):
        problems.append(_type_problem((*path, "when"), "an expression", when))
        when = None
    field_id = raw.get("field")
    if trigger_type is TriggerType.FIELD_CHANGED and (
        not isinstance(field_id, str) or not field_id
    ):
        problems.append(
            Problem(
                (*path, "field"),
                ErrorCode.REQUIRED,
                "A field_changed trigger needs the block id of the field to "
                'watch, such as "status".',
            )
        )
        field_id = None
    cron = raw.get("cron")
    timezone = raw.get("timezone", "UTC")
    if trigger_type is TriggerType.SCHEDULE:
        if cron is not None and not isinstance(cron, str):
            problems.append(
                _type_problem(
                    (*path, "cron"), 'a cron expression such as "0 9 * * *"', cron
                )
            )
            cron = None
        elif not isinstance(cron, str) or not cron.strip():
            problems.append(
                Problem(
                    (*path, "cron"),
                    ErrorCode.REQUIRED,
                    "A schedule trigger needs a cron expression such as "
                    '"0 9 * * MON-FRI".',
                )
            )
            cron = None
        if not isinstance(timezone, str):
            problems.append(_type_problem((*path, "timezone"), "text", timezone))
            timezone = "UTC"
    return Trigger(
        type=trigger_type,
        when=when,
        field=field_id if isinstance(field_id, str) else None,
        changed_from=raw.get("from"),
        changed_to=raw.get("to"),
        has_changed_from="from" in raw,
        has_changed_to="to" in raw,
        cron=cron if isinstance(cron, str) else None,
        timezone=timezone if isinstance(timezone, str) else "UTC",
    )


def _dump_trigger(trigger: Trigger) -> dict[str, Any]:
    data: dict[str, Any] = {"type": trigger.type.value}
    if trigger.when is not None:
        data["when"] = trigger.when
    if trigger.field is not None:
        data["field"] = trigger.field
    if trigger.has_changed_from:
        data["from"] = trigger.changed_from
    if trigger.has_changed_to:
        data["to"] = trigger.changed_to
    if trigger.type is TriggerType.SCHEDULE:
        data["cron"] = trigger.cron
        data["timezone"] = trigger.timezone
    return data


# Steps -----------------------------------------------------------------------


def _parse_steps(raw: Any, path: Path, problems: list[Problem]) -> tuple[Step, ...]:
    if not isinstance(raw, list):
        problems.append(_type_problem(path, "a list of steps", raw))
        return ()
    steps = []
    for index, item in enumerate(raw):
        step = _parse_step(item, (*path, index), problems)
        if step is not None:
            steps.append(step)
    return tuple(steps)


def _parse_step(raw: Any, path: Path, problems: list[Problem]) -> Step | None:
    if not isinstance(raw, Mapping):
        problems.append(_type_problem(path, "a step object", raw))
        return None
    step_id = raw.get("id")
    if step_id is None or step_id == "":
        index = ".".join(map(str, path))
        problems.append(
            Problem(
                (*path, "id"),
                ErrorCode.REQUIRED,
                f"Step at {index} needs an id: 1 to 64 ASCII letters, digits or "
                f"'_', not starting with a digit.",
            )
        )
        step_id = ""
    elif not isinstance(step_id, str) or not STEP_ID_PATTERN.match(step_id):
        problems.append(
            Problem(
                (*path, "id"),
                ErrorCode.INVALID_NAME,
                f"Invalid step id {step_id!r}: expected 1 to 64 ASCII letters, "
                f"digits or '_', not starting with a digit.",
            )
        )
        step_id = ""
    step_type = raw.get("type")
    if not isinstance(step_type, str) or not step_type:
        problems.append(
            Problem((*path, "type"), ErrorCode.REQUIRED, "A step needs a type.")
        )
        step_type = ""
    config = raw.get("config", {})
    if not isinstance(config, Mapping):
        problems.append(_type_problem((*path, "config"), "an object", config))
        config = {}
    label = raw.get("label", "")
    if not isinstance(label, str):
        problems.append(_type_problem((*path, "label"), "text", label))
        label = ""
    branches = {
        key: _parse_steps(value, (*path, key), problems)
        for key, value in raw.items()
        if key not in _STEP_KEYS
    }
    return Step(
        id=step_id,
        type=step_type,
        config=dict(config),
        branches=branches,
        label=label,
    )


def _dump_step(step: Step) -> dict[str, Any]:
    data: dict[str, Any] = {"id": step.id, "type": step.type}
    if step.label:
        data["label"] = step.label
    data["config"] = dict(step.config)
    for branch, children in step.branches.items():
        data[branch] = [_dump_step(child) for child in children]
    return data


def _type_problem(path: Path, expected: str, value: Any) -> Problem:
    return Problem(
        path,
        ErrorCode.INVALID_TYPE,
        f"Expected {expected}, got {type(value).__name__}.",
    )
