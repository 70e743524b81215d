"""The step-type contract: what a plugin implements to add a workflow step.

A step type is a :class:`StepType` subclass instance returned from the
``appgraph_step_types`` hook. The engine calls :meth:`StepType.run` with a
:class:`StepContext` and stores the returned :class:`StepOutcome` before it
moves on. A run can execute a step more than once: after a failed attempt
and after a worker died in the middle of one. Anything a step does outside
the store must therefore pass :attr:`StepContext.idempotency_key` to the
other system, or check whether the effect already happened.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, ClassVar

import jsonschema

from blocks.errors import ErrorCode, Path, Problem
from blocks.expressions import ExpressionError, parse_cached
from workflows.errors import StepError
from workflows.model import Step
from workflows.templates import TemplateBudgetError, TemplateError

if TYPE_CHECKING:
    from blocks.registry import BlockRegistry
    from store.base import Store
    from store.workflows import WorkflowRun, WorkflowStore
    from workflows.email import SmtpSettings
    from workflows.guard import GuardedClient
    from workflows.records import RecordWriter
    from workflows.settings import WorkflowSettings
    from workflows.sms import SmsProvider


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how soon a failed attempt of a step is repeated.

    The delay before attempt ``n + 1`` is ``backoff * multiplier ** (n - 1)``
    seconds, at most ``max_backoff``.
    """

    max_attempts: int = 3
    backoff: float = 5.0
    multiplier: float = 2.0
    max_backoff: float = 600.0

    def delay(self, attempt: int) -> float:
        """Return the seconds to wait after failed attempt ``attempt`` (from 1)."""
        delay = self.backoff * self.multiplier ** max(attempt - 1, 0)
        return float(min(delay, self.max_backoff))


NO_RETRY = RetryPolicy(max_attempts=1)


@dataclass(frozen=True)
class StepConfigContext:
    """Apps and fields of the workspace, to check a step's config against."""

    app_slugs: frozenset[str] = frozenset()
    """Slugs of the apps of the workflow's workspace."""
    app_fields: Mapping[str, frozenset[str]] = field(default_factory=dict)
    """Top-level block ids of each app's current definition, by app slug."""
    own_app_slug: str = ""
    """Slug of the app the workflow belongs to."""


@dataclass(frozen=True)
class StepResources:
    """Connections to the outside world that an operator configures.

    Attributes:
        http: The SSRF-guarded client of HTTP steps, or None to reject them.
        smtp: The SMTP server of email steps, or None when none is set up.
        sms: The SMS provider of SMS steps, or None when none is set up.
    """

    http: GuardedClient | None = None
    smtp: SmtpSettings | None = None
    sms: SmsProvider | None = None


@dataclass(frozen=True)
class StepOutcome:
    """Result of a step, stored before the run moves on.

    Attributes:
        output: JSON data that later steps read as ``steps.<id>``.
        branch: For a step type with branches, the branch to execute next,
            or None to skip them all.
        items: For a step type with a ``body`` branch, the items to run the
            body for, once each, in order.
        wait_until: Hold the run until this time (aware), then move on, or
            for a step type with ``rerun_on_wake``, run the step again.
        stop: Complete the run now, skipping the remaining steps.
    """

    output: Mapping[str, Any] = field(default_factory=dict)
    branch: str | None = None
    items: Sequence[Any] | None = None
    wait_until: datetime | None = None
    stop: bool = False


@dataclass
class StepContext:
    """Run state and services that a step reads while it runs.

    Attributes:
        run: The run, with the trigger snapshot taken when it started.
        step: The step definition.
        step_key: The step's path in the run, with for-each iteration
            indexes, such as ``each_line[2]/notify``.
        attempt: The attempt number, from 1.
        env: The expression environment: ``record``, ``previous``,
            ``trigger``, ``steps``, ``item``, ``index`` and ``now``.
        store: The record store.
        workflows: The workflow store.
        registry: The block types, for validating record data.
        records: Writes records with the chain depth and idempotency key.
        settings: The engine settings.
        now: The time the attempt started (aware, UTC).
        resources: HTTP client, SMTP server and SMS provider.
    """

    run: WorkflowRun
    step: Step
    step_key: str
    attempt: int
    env: Mapping[str, object]
    store: Store
    workflows: WorkflowStore
    registry: BlockRegistry
    records: RecordWriter
    settings: WorkflowSettings
    now: datetime
    resources: StepResources = field(default_factory=StepResources)

    @property
    def idempotency_key(self) -> str:
        """Return ``"<run id>:<step key>"``, the same on every attempt."""
        return f"{self.run.id}:{self.step_key}"

    @property
    def trigger(self) -> Mapping[str, Any]:
        """Return the snapshot of what started the run."""
        return self.run.trigger

    def evaluate(self, source: str, where: str = "") -> object:
        """Evaluate an expression of the step's config against :attr:`env`.

        Raises:
            StepError: not retryable, because the same expression fails the
                same way on the same snapshot.
        """
        try:
            return parse_cached(source).evaluate(self.env)
        except ExpressionError as error:
            place = f" in {where}" if where else ""
            raise StepError(
                f"Step {self.step.id!r}: the expression {source!r}{place} failed: "
                f"{error}",
                retryable=False,
            ) from error

    def template_error(self, where: str, error: TemplateError) -> StepError:
        """Return the non-retryable StepError for a template that failed to render.

        The same template fails the same way on the same snapshot, so no
        attempt is repeated.
        """
        if isinstance(error, TemplateBudgetError):
            return StepError(
                f"Template of step {self.step.id!r} in {where} exceeded "
                f"{error.limit}; simplify it.",
                retryable=False,
            )
        return StepError(
            f"Step {self.step.id!r}: the template in {where} failed: {error}",
            retryable=False,
        )

    def template_context(self) -> dict[str, Any]:
        """Return :attr:`env` as JSON data, the context of templates."""
        context: dict[str, Any] = to_json(dict(self.env))
        return context


class StepType:
    """Base class of every workflow step type.

    Subclasses set the class attributes and implement :meth:`run`.
    """

    name: ClassVar[str]
    """Unique type name used in definitions, such as ``"create_record"``."""
    label: ClassVar[str]
    """Human name shown in designer front ends."""
    description: ClassVar[str] = ""
    config_schema: ClassVar[Mapping[str, Any]] = {
        "type": "object",
        "properties": {},
        "additionalProperties": False,
    }
    """JSON Schema (draft 2020-12) of ``Step.config``."""
    retry: ClassVar[RetryPolicy] = RetryPolicy()
    branches: ClassVar[tuple[str, ...]] = ()
    """Names of the child step lists this type takes, such as ``("body",)``."""
    timeout: ClassVar[float] = 60.0
    """Seconds one attempt may take before it counts as failed."""
    rerun_on_wake: ClassVar[bool] = False
    """Whether the engine runs the step again, instead of finishing it, when
    the run wakes from the step's ``wait_until`` or from
    :meth:`~store.workflows.WorkflowStore.wake_run`. Such a step keeps its
    state in the store and returns ``wait_until`` until it is done; the
    approval step waits for decisions this way."""

    def validate_config(self, step: Step, context: StepConfigContext) -> list[Problem]:
        """Check ``step.config``; return problems with paths inside the config.

        The default checks the config against :attr:`config_schema` and parses
        the expressions :meth:`config_expressions` names. Override to add
        checks, and call this first.
        """
        validator = jsonschema.Draft202012Validator(self.config_schema)
        problems = []
        for error in sorted(validator.iter_errors(step.config), key=str):
            problems.append(
                Problem(
                    tuple(error.absolute_path),
                    ErrorCode.INVALID_CONFIG,
                    f"Invalid config for {with_article(self.name)} step: "
                    f"{_schema_message(error)}.",
                )
            )
        if problems:
            return problems
        for path, source in self.config_expressions(step.config).items():
            try:
                parse_cached(source)
            except ExpressionError as error:
                problems.append(
                    Problem(
                        path,
                        ErrorCode.INVALID_EXPRESSION,
                        f"Invalid expression {source!r}: {error}",
                    )
                )
        return problems

    def config_expressions(self, config: Mapping[str, Any]) -> Mapping[Path, str]:
        """Return the expressions inside a valid config, by path in the config."""
        return {}

    async def run(self, ctx: StepContext) -> StepOutcome:
        """Do the step's work and return its outcome.

        Raises:
            StepError: the step failed. ``retryable`` is whether another
                attempt may succeed. Any other exception counts as a
                retryable failure, with its message.
        """
        raise NotImplementedError(f"Step type {self.name!r} does not implement run.")


PATTERN_FORMS = "x-pattern-forms"
"""Config schema keyword beside ``pattern`` that describes the accepted forms,
shown in the error message instead of the regular expression."""


def with_article(word: str) -> str:
    """Return ``word`` after "a" or "an", by its first letter."""
    article = "an" if word[:1].lower() in "aeiou" else "a"
    return f"{article} {word}"


def _schema_message(error: jsonschema.ValidationError) -> str:
    # A regular expression means little to an admin, so a schema may name
    # the accepted forms in PATTERN_FORMS, which JSON Schema ignores.
    schema = error.schema
    if error.validator == "pattern" and isinstance(schema, Mapping):
        forms = schema.get(PATTERN_FORMS)
        if isinstance(forms, str):
            return f"{error.instance!r} is invalid; expected {forms}"
    return error.message


def to_json(value: object) -> Any:
    """Return an expression value as JSON data.

    Decimals that are whole numbers become ints and others decimal strings,
    dates and times ISO 8601 text, and tuples lists.
    """
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, Decimal):
        if value == value.to_integral_value():
            return int(value)
        return format(value.normalize(), "f")
    if isinstance(value, float):
        return value
    if isinstance(value, Mapping):
        return {str(key): to_json(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [to_json(item) for item in value]
    isoformat = getattr(value, "isoformat", None)
    if callable(isoformat):
        return str(isoformat())
    raise TypeError(f"Cannot store a {type(value).__name__} value as JSON data.")
