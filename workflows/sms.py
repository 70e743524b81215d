"""SMS delivery for workflow steps: a provider interface and an HTTP adapter.

:class:`HttpJsonSmsProvider` fits the many providers that accept a JSON POST
with an API key header. Its body template receives ``to`` and ``body``, and
the request goes through the guard with an ``Idempotency-Key`` header, so a
provider that honours the header sends a repeated message once.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Protocol

from blocks.errors import AppgraphError
from workflows.guard import GuardedClient, GuardedResponse, OutgoingRequestError
from workflows.http_call import is_retryable_status, read_response
from workflows.secrets import Secret, redact
from workflows.templates import (
    JsonValue,
    TemplateError,
    check_json_template,
    render_json_template,
)

__all__ = [
    "DEFAULT_BODY_TEMPLATE",
    "MAX_SMS_CHARS",
    "HttpJsonSmsProvider",
    "HttpJsonSmsSettings",
    "SmsDeliveryError",
    "SmsMessage",
    "SmsProvider",
    "SmsResult",
    "normalize_phone_number",
]

# Ten concatenated segments of 160 GSM-7 characters, a common provider limit.
MAX_SMS_CHARS = 1600
DEFAULT_BODY_TEMPLATE: JsonValue = {"to": "{{ to }}", "body": "{{ body }}"}
E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")
PHONE_SEPARATORS = re.compile(r"[\s().-]")


@dataclass(frozen=True)
class SmsMessage:
    """One text message; ``to`` is an E.164 number such as +15551234567."""

    to: str
    body: str


@dataclass(frozen=True)
class SmsResult:
    """A message the provider accepted."""

    provider: str
    status: int
    provider_message_id: str | None
    response: JsonValue


class SmsDeliveryError(AppgraphError):
    """Sending failed; ``retryable`` is true when a later attempt may succeed."""

    def __init__(
        self, message: str, *, retryable: bool, status: int | None = None
    ) -> None:
        self.retryable = retryable
        self.status = status
        super().__init__(message)


class SmsProvider(Protocol):
    """Sends text messages; every adapter raises SmsDeliveryError on failure."""

    name: str

    async def send(self, message: SmsMessage, *, idempotency_key: str) -> SmsResult:
        """Send ``message`` once per ``idempotency_key`` where the provider allows."""
        ...


@dataclass(frozen=True)
class HttpJsonSmsSettings:
    """A provider that takes a JSON request.

    ``body_template`` is a JSON template over ``to`` and ``body``.
    ``auth_value`` is sent in the ``auth_header`` header (for example
    ``Authorization: Bearer ...``). ``message_id_field`` names the key of
    the provider's JSON response that contains its message id, dotted for nested
    objects (``data.id``).
    """

    url: str
    auth_value: Secret | None = field(default=None, repr=False)
    auth_header: str = "Authorization"
    body_template: JsonValue = field(default_factory=lambda: DEFAULT_BODY_TEMPLATE)
    message_id_field: str | None = None
    timeout: float | None = None

    def __post_init__(self) -> None:
        check_json_template(self.body_template, path="body_template")


def normalize_phone_number(value: str) -> str:
    """Return ``value`` in E.164 form without spaces, dots, dashes or brackets.

    Raises:
        SmsDeliveryError: the number is not an international E.164 number.
    """
    number = PHONE_SEPARATORS.sub("", value)
    if number.startswith("00"):
        number = "+" + number[2:]
    if not E164.match(number):
        raise SmsDeliveryError(
            f"Phone number {value!r} is invalid; expected an international "
            "number such as +15551234567.",
            retryable=False,
        )
    return number


class HttpJsonSmsProvider:
    """SMS provider reached by a JSON request through the guard."""

    def __init__(
        self,
        settings: HttpJsonSmsSettings,
        client: GuardedClient,
        *,
        name: str = "http-json",
    ) -> None:
        self.settings = settings
        self.client = client
        self.name = name

    async def send(self, message: SmsMessage, *, idempotency_key: str) -> SmsResult:
        """Send ``message`` and return the provider's response.

        Raises:
            SmsDeliveryError: the number or text is invalid, the guard rejected
                the URL, the network failed or the provider responded with
                status 400 or more.
        """
        to = normalize_phone_number(message.to)
        if not message.body.strip():
            raise SmsDeliveryError("SMS text is empty.", retryable=False)
        if len(message.body) > MAX_SMS_CHARS:
            raise SmsDeliveryError(
                f"SMS text has {len(message.body)} characters; the maximum is "
                f"{MAX_SMS_CHARS}.",
                retryable=False,
            )

        try:
            payload = render_json_template(
                self.settings.body_template,
                {"to": to, "body": message.body},
                path="body_template",
            )
        except TemplateError as error:
            raise SmsDeliveryError(
                f"SMS provider {self.name} body template failed: {error}",
                retryable=False,
            ) from None

        response = await self._post(payload, idempotency_key)
        result = read_response(response)
        if response.status_code >= 400:
            raise SmsDeliveryError(
                self._redact(
                    f"SMS provider {self.name} responded with status "
                    f"{response.status_code}: {str(result.body)[:200]}"
                ),
                retryable=is_retryable_status(response.status_code),
                status=response.status_code,
            )
        return SmsResult(
            self.name,
            response.status_code,
            _find_field(result.body, self.settings.message_id_field),
            result.body,
        )

    async def _post(self, payload: JsonValue, idempotency_key: str) -> GuardedResponse:
        headers = {
            "Content-Type": "application/json",
            "Idempotency-Key": idempotency_key,
        }
        if self.settings.auth_value is not None:
            headers[self.settings.auth_header] = self.settings.auth_value.reveal()
        try:
            return await self.client.request(
                "POST",
                self.settings.url,
                headers=headers,
                content=json.dumps(payload, ensure_ascii=False).encode("utf-8"),
                timeout=self.settings.timeout,
            )
        except OutgoingRequestError as error:
            raise SmsDeliveryError(
                self._redact(f"SMS provider {self.name} request failed: {error}"),
                retryable=error.retryable,
            ) from None

    def _redact(self, text: str) -> str:
        return redact(text, [self.settings.auth_value])


def _find_field(body: JsonValue, path: str | None) -> str | None:
    if path is None:
        return None
    value: JsonValue = body
    for key in path.split("."):
        if not isinstance(value, dict) or key not in value:
            return None
        value = value[key]
    return None if value is None or isinstance(value, dict | list) else str(value)
