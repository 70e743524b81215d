from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.workflows.receivers import HttpReceiver, StaticResolver
from workflows.guard import GuardedClient, GuardPolicy
from workflows.secrets import Secret
from workflows.sms import (
    HttpJsonSmsProvider,
    HttpJsonSmsSettings,
    SmsDeliveryError,
    SmsMessage,
    SmsProvider,
    normalize_phone_number,
)
from workflows.templates import TemplateSyntaxError

API_KEY = "sk_live_do_not_leak"


@pytest.fixture
def receiver() -> Iterator[HttpReceiver]:
    with HttpReceiver() as server:
        yield server


@pytest.fixture
def client() -> GuardedClient:
    policy = GuardPolicy(allowed_networks=["127.0.0.1/32"], timeout=5.0)
    return GuardedClient(policy, resolver=StaticResolver({}))


def provider_for(
    receiver: HttpReceiver, client: GuardedClient, path: str = "/sms"
) -> HttpJsonSmsProvider:
    settings = HttpJsonSmsSettings(
        url=receiver.url(path),
        auth_header="X-Api-Key",
        auth_value=Secret(API_KEY),
        body_template={"destination": "{{ to }}", "text": "{{ body }}", "kind": "sms"},
        message_id_field="echo.destination",
    )
    return HttpJsonSmsProvider(settings, client, name="acme")


async def test_send_through_provider(
    receiver: HttpReceiver, client: GuardedClient
) -> None:
    provider: SmsProvider = provider_for(receiver, client)

    result = await provider.send(
        SmsMessage(to="+1 (555) 123-4567", body="Order approved"),
        idempotency_key="run-1:sms",
    )

    [request] = receiver.requests
    assert request.json() == {
        "destination": "+15551234567",
        "text": "Order approved",
        "kind": "sms",
    }
    assert request.headers["x-api-key"] == API_KEY
    assert request.headers["idempotency-key"] == "run-1:sms"
    assert result.provider == "acme"
    assert result.status == 200
    assert result.provider_message_id == "+15551234567"


async def test_default_body_template(
    receiver: HttpReceiver, client: GuardedClient
) -> None:
    provider = HttpJsonSmsProvider(
        HttpJsonSmsSettings(url=receiver.url("/sms")), client
    )

    await provider.send(
        SmsMessage(to="0044 20 7946 0958", body="Hi"), idempotency_key="k"
    )

    assert receiver.requests[0].json() == {"to": "+442079460958", "body": "Hi"}
    assert "authorization" not in receiver.requests[0].headers


async def test_retry_counted_per_key(
    receiver: HttpReceiver, client: GuardedClient
) -> None:
    receiver.fail_first = 2
    provider = provider_for(receiver, client)
    message = SmsMessage(to="+15551234567", body="Hello")
    retryable: list[bool] = []

    for _ in range(3):
        try:
            result = await provider.send(message, idempotency_key="run-3:sms")
        except SmsDeliveryError as error:
            retryable.append(error.retryable)

    assert retryable == [True, True]
    assert result.status == 200
    assert receiver.counts == {"run-3:sms": 3}


async def test_rejection_hides_api_key(
    receiver: HttpReceiver, client: GuardedClient
) -> None:
    provider = provider_for(receiver, client, path="/status/401")

    with pytest.raises(SmsDeliveryError) as caught:
        await provider.send(
            SmsMessage(to="+15551234567", body="x"), idempotency_key="k"
        )

    assert (
        str(caught.value)
        == "SMS provider acme responded with status 401: {'status': 401}"
    )
    assert caught.value.retryable is False
    assert caught.value.status == 401
    assert API_KEY not in repr(provider.settings)


async def test_blocked_provider_url() -> None:
    client = GuardedClient(resolver=StaticResolver({"sms.internal": ["10.0.0.8"]}))
    settings = HttpJsonSmsSettings(url="https://sms.internal/send")
    provider = HttpJsonSmsProvider(settings, client, name="acme")

    with pytest.raises(SmsDeliveryError) as caught:
        await provider.send(
            SmsMessage(to="+15551234567", body="x"), idempotency_key="k"
        )

    assert str(caught.value).startswith(
        "SMS provider acme request failed: Request to sms.internal (10.0.0.8) was "
        "blocked: private (RFC 1918) address."
    )
    assert caught.value.retryable is False


@pytest.mark.parametrize(
    ("message", "error"),
    [
        (SmsMessage(to="555-1234", body="x"), "Phone number '555-1234' is invalid"),
        (
            SmsMessage(to="+1555abc4567", body="x"),
            "Phone number '+1555abc4567' is invalid",
        ),
        (SmsMessage(to="+15551234567", body="  "), "SMS text is empty."),
        (
            SmsMessage(to="+15551234567", body="x" * 1601),
            "SMS text has 1601 characters; the maximum is 1600.",
        ),
    ],
)
async def test_invalid_message_rejected(
    receiver: HttpReceiver, client: GuardedClient, message: SmsMessage, error: str
) -> None:
    provider = provider_for(receiver, client)

    with pytest.raises(SmsDeliveryError) as caught:
        await provider.send(message, idempotency_key="k")

    assert str(caught.value).startswith(error)
    assert caught.value.retryable is False
    assert receiver.requests == []


def test_body_template_checked() -> None:
    with pytest.raises(TemplateSyntaxError) as caught:
        HttpJsonSmsSettings(
            url="https://sms.example.com/", body_template={"to": "{{ to"}
        )

    assert caught.value.path == "body_template.to"


def test_phone_number_normalized() -> None:
    assert normalize_phone_number("+49 (30) 1234-5678") == "+493012345678"
    assert normalize_phone_number("0033.1.23.45.67.89") == "+33123456789"
