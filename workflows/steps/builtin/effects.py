"""Step types with effects outside appgraph: email, SMS and HTTP calls.

Texts, addresses, URLs, headers and JSON bodies are sandboxed Jinja templates
rendered over the run's context (``record``, ``previous``, ``trigger``,
``steps``, ``item``, ``index``, ``now``). Each effect carries the step's
idempotency key: as the Message-ID of an email, and as the
``Idempotency-Key`` header of SMS and HTTP requests, so a receiver that
honours it applies a repeated attempt once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from blocks.errors import ErrorCode, Problem
from workflows.email import EmailDeliveryError, OutgoingEmail, send_email
from workflows.errors import StepError
from workflows.http_call import (
    ALLOWED_METHODS,
    HttpCallError,
    HttpCallSpec,
    check_http_call,
    perform_http_call,
)
from workflows.model import Step
from workflows.sms import SmsDeliveryError, SmsMessage
from workflows.steps.base import (
    RetryPolicy,
    StepConfigContext,
    StepContext,
    StepOutcome,
    StepType,
)
from workflows.templates import TemplateError, check_template, render_template

_TEMPLATE = {"type": "string", "minLength": 1}
_EFFECT_RETRY = RetryPolicy(max_attempts=5, backoff=30.0, max_backoff=3600.0)


def _template_problems(step: Step, keys: Sequence[str]) -> list[Problem]:
    """Check the templates at config ``keys``; a list key checks each item."""
    problems = []
    for key in keys:
        value = step.config.get(key)
        items = value if isinstance(value, list) else [value]
        for index, source in enumerate(items):
            if not isinstance(source, str):
                continue
            path: tuple[str | int, ...] = (
                (key, index) if isinstance(value, list) else (key,)
            )
            try:
                check_template(source, path=key)
            except TemplateError as error:
                problems.append(
                    Problem(
                        path, ErrorCode.INVALID_CONFIG, f"Invalid template: {error}"
                    )
                )
    return problems


def _render(ctx: StepContext, source: str, key: str, html: bool = False) -> str:
    try:
        return render_template(source, ctx.template_context(), html=html, path=key)
    except TemplateError as error:
        raise ctx.template_error(key, error) from error


class SendEmailStepType(StepType):
    """Send an email through the operator's SMTP server."""

    name = "send_email"
    label = "Send email"
    description = "Send an email; every text is a template."
    config_schema: ClassVar[Mapping[str, Any]] = {
        "type": "object",
        "properties": {
            "to": {"type": "array", "items": _TEMPLATE, "minItems": 1, "maxItems": 50},
            "cc": {"type": "array", "items": _TEMPLATE, "maxItems": 50},
            "reply_to": _TEMPLATE,
            "subject": _TEMPLATE,
            "text": _TEMPLATE,
            "html": _TEMPLATE,
        },
        "required": ["to", "subject", "text"],
        "additionalProperties": False,
    }
    retry: ClassVar[RetryPolicy] = _EFFECT_RETRY
    _templates = ("to", "cc", "reply_to", "subject", "text", "html")

    def validate_config(self, step: Step, context: StepConfigContext) -> list[Problem]:
        """Check the schema and every template."""
        problems = super().validate_config(step, context)
        return problems or _template_problems(step, self._templates)

    async def run(self, ctx: StepContext) -> StepOutcome:
        """Render the message and send it."""
        smtp = ctx.resources.smtp
        if smtp is None:
            raise StepError(
                "No SMTP server is configured, so email steps cannot send. Ask the "
                "operator to set one up, then retry the run.",
                retryable=False,
            )
        config = ctx.step.config
        html = config.get("html")
        reply_to = config.get("reply_to")
        email = OutgoingEmail(
            to=[_render(ctx, t, "to").strip() for t in config["to"]],
            cc=[_render(ctx, t, "cc").strip() for t in config.get("cc", [])],
            reply_to=_render(ctx, reply_to, "reply_to").strip() if reply_to else None,
            subject=_render(ctx, config["subject"], "subject"),
            text=_render(ctx, config["text"], "text"),
            html=_render(ctx, html, "html", html=True) if html else None,
        )
        try:
            result = await send_email(smtp, email, idempotency_key=ctx.idempotency_key)
        except EmailDeliveryError as error:
            raise StepError(
                f"Step {ctx.step.id!r}: {error}", retryable=error.retryable
            ) from error
        return StepOutcome(
            {
                "message_id": result.message_id,
                "recipients": list(result.recipients),
                "refused": result.refused,
            }
        )


class SendSmsStepType(StepType):
    """Send a text message through the operator's SMS provider."""

    name = "send_sms"
    label = "Send SMS"
    description = "Send a text message; the number and the text are templates."
    config_schema: ClassVar[Mapping[str, Any]] = {
        "type": "object",
        "properties": {"to": _TEMPLATE, "body": _TEMPLATE},
        "required": ["to", "body"],
        "additionalProperties": False,
    }
    retry: ClassVar[RetryPolicy] = _EFFECT_RETRY

    def validate_config(self, step: Step, context: StepConfigContext) -> list[Problem]:
        """Check the schema and both templates."""
        problems = super().validate_config(step, context)
        return problems or _template_problems(step, ("to", "body"))

    async def run(self, ctx: StepContext) -> StepOutcome:
        """Render the message and send it."""
        provider = ctx.resources.sms
        if provider is None:
            raise StepError(
                "No SMS provider is configured, so SMS steps cannot send. Ask the "
                "operator to set one up, then retry the run.",
                retryable=False,
            )
        message = SmsMessage(
            to=_render(ctx, ctx.step.config["to"], "to").strip(),
            body=_render(ctx, ctx.step.config["body"], "body"),
        )
        try:
            result = await provider.send(message, idempotency_key=ctx.idempotency_key)
        except SmsDeliveryError as error:
            raise StepError(
                f"Step {ctx.step.id!r}: {error}", retryable=error.retryable
            ) from error
        return StepOutcome(
            {
                "provider": result.provider,
                "status": result.status,
                "provider_message_id": result.provider_message_id,
            }
        )


class HttpRequestStepType(StepType):
    """Send an HTTP request (a webhook or an API call) through the guard."""

    name = "http_request"
    label = "HTTP request"
    description = (
        "Send an HTTP request. The URL, header values and JSON body are "
        "templates. Later steps read status, headers and body."
    )
    config_schema: ClassVar[Mapping[str, Any]] = {
        "type": "object",
        "properties": {
            "url": _TEMPLATE,
            "method": {"enum": sorted(ALLOWED_METHODS)},
            "headers": {"type": "object", "additionalProperties": {"type": "string"}},
            "body": {},
            "timeout": {"type": "number", "exclusiveMinimum": 0},
        },
        "required": ["url"],
        "additionalProperties": False,
    }
    retry: ClassVar[RetryPolicy] = RetryPolicy(max_attempts=5, backoff=10.0)

    def validate_config(self, step: Step, context: StepConfigContext) -> list[Problem]:
        """Check the schema, the method and every template."""
        problems = super().validate_config(step, context)
        if problems:
            return problems
        try:
            check_http_call(_spec(step.config))
        except (TemplateError, ValueError) as error:
            problems.append(Problem((), ErrorCode.INVALID_CONFIG, str(error)))
        return problems

    async def run(self, ctx: StepContext) -> StepOutcome:
        """Render the request, send it and return the response data."""
        client = ctx.resources.http
        if client is None:
            raise StepError(
                "Outgoing HTTP requests are turned off on this server, so HTTP "
                "steps cannot run.",
                retryable=False,
            )
        try:
            result = await perform_http_call(
                _spec(ctx.step.config),
                ctx.template_context(),
                idempotency_key=ctx.idempotency_key,
                client=client,
            )
        except HttpCallError as error:
            raise StepError(
                f"Step {ctx.step.id!r}: {error}",
                retryable=error.retryable,
                retry_after=error.retry_after,
            ) from error
        return StepOutcome(result.to_json())


def _spec(config: Mapping[str, Any]) -> HttpCallSpec:
    return HttpCallSpec(
        url=config["url"],
        method=config.get("method", "POST"),
        headers=dict(config.get("headers", {})),
        body=config.get("body"),
        timeout=config.get("timeout"),
    )
