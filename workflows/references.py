"""Checks that the names a definition's expressions read exist at run time.

The expression language evaluates an unknown name to null, so a misspelt
``recrod.amount`` would silently make every condition false. Saving rejects
such names instead. The names each place provides are those the engine puts
in the environment there:

* a trigger's ``when``: ``record`` and ``previous`` (see
  :func:`workflows.triggers._matches`);
* a step's config: ``record``, ``previous``, ``trigger``, ``steps`` and
  ``now``, without ``record`` and ``previous`` when a schedule or a manual
  start begins the run, because such a run has no triggering record;
* inside a ``for_each`` body also ``item`` and ``index``.

``steps.<id>`` must name a step that comes before the expression's step in
the definition.
"""

from __future__ import annotations

from collections.abc import Sequence

from blocks.errors import ErrorCode, Path, Problem
from blocks.expressions import ExpressionError, parse_cached
from workflows.model import RECORD_TRIGGERS, Step, TriggerType, WorkflowDefinition
from workflows.steps.registry import StepRegistry

__all__ = ["LOOP_NAMES", "STEP_NAMES", "WHEN_NAMES", "reference_problems"]

WHEN_NAMES = ("record", "previous")
STEP_NAMES = ("record", "previous", "trigger", "steps", "now")
LOOP_NAMES = ("item", "index")
_RECORD_NAMES = frozenset({"record", "previous"})


class _Scope:
    def __init__(self, names: tuple[str, ...], trigger: TriggerType) -> None:
        self.names = names
        self.trigger = trigger
        self.earlier: list[str] = []


def reference_problems(
    definition: WorkflowDefinition,
    registry: StepRegistry,
    valid_configs: set[Path],
) -> list[Problem]:
    """Return an UNKNOWN_REFERENCE problem for each name no expression can read.

    Only the steps whose paths are in ``valid_configs`` are checked, because
    a step type lists the expressions of a config that passed its schema.
    """
    trigger = definition.trigger
    problems: list[Problem] = []
    if trigger.when is not None:
        when_scope = _Scope(WHEN_NAMES, trigger.type)
        problems.extend(_name_problems(("trigger", "when"), trigger.when, when_scope))

    names: tuple[str, ...] = STEP_NAMES
    if trigger.type not in RECORD_TRIGGERS:
        names = tuple(name for name in names if name not in _RECORD_NAMES)
    scope = _Scope(names, trigger.type)
    _check_steps(definition.steps, ("steps",), registry, valid_configs, scope, problems)
    return problems


def _check_steps(
    steps: Sequence[Step],
    prefix: Path,
    registry: StepRegistry,
    valid_configs: set[Path],
    scope: _Scope,
    problems: list[Problem],
) -> None:
    for index, step in enumerate(steps):
        path = (*prefix, index)
        step_type = registry.get(step.type)
        if step_type is not None and path in valid_configs:
            expressions = step_type.config_expressions(step.config)
            for where, source in expressions.items():
                config_path = (*path, "config", *where)
                problems.extend(_name_problems(config_path, source, scope))
        if step.id:
            scope.earlier.append(step.id)

        for branch, children in step.branches.items():
            child_scope = scope
            if step.type == "for_each" and branch == "body":
                child_scope = _Scope((*scope.names, *LOOP_NAMES), scope.trigger)
                child_scope.earlier = scope.earlier
            _check_steps(
                children,
                (*path, branch),
                registry,
                valid_configs,
                child_scope,
                problems,
            )


def _name_problems(path: Path, source: str, scope: _Scope) -> list[Problem]:
    try:
        expression = parse_cached(source)
    except ExpressionError:
        return []  # Reported as INVALID_EXPRESSION by the syntax check.

    problems = []
    for name in sorted(expression.references()):
        if name not in scope.names:
            message = _unknown_name_message(name, source, scope)
            problems.append(Problem(path, ErrorCode.UNKNOWN_REFERENCE, message))
    if "steps" in scope.names:
        for step_id in sorted(_step_ids(expression.reference_paths())):
            if step_id not in scope.earlier:
                earlier = ", ".join(scope.earlier) or "none"
                problems.append(
                    Problem(
                        path,
                        ErrorCode.UNKNOWN_REFERENCE,
                        f"steps.{step_id} in {source!r} does not name an earlier "
                        f"step; the steps before this one are: {earlier}.",
                    )
                )
    return problems


def _step_ids(paths: frozenset[tuple[str, ...]]) -> set[str]:
    return {path[1] for path in paths if len(path) > 1 and path[0] == "steps"}


def _unknown_name_message(name: str, source: str, scope: _Scope) -> str:
    valid = ", ".join(scope.names)
    if name in _RECORD_NAMES:
        return (
            f"{name!r} in {source!r} is not available: a {scope.trigger.value} "
            f"trigger starts the run, so the run has no triggering record. "
            f"The names available here are: {valid}."
        )
    if name in LOOP_NAMES:
        return (
            f"{name!r} in {source!r} is only available inside a for_each body; "
            f"the names available here are: {valid}."
        )
    return (
        f"Unknown name {name!r} in {source!r}; the names available here are: {valid}."
    )
