from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.workflows.receivers import HttpReceiver, StaticResolver
from workflows.guard import GuardedClient, GuardPolicy
from workflows.http_call import (
    HttpCallError,
    HttpCallSpec,
    check_http_call,
    perform_http_call,
)
from workflows.secrets import Secret
from workflows.templates import TemplateSyntaxError

CONTEXT: dict[str, Any] = {
    "record": {"id": "r1", "amount": 42, "customer": "Ada"},
    "run": {"id": "run-7"},
}


@pytest.fixture
def receiver() -> Iterator[HttpReceiver]:
    with HttpReceiver() as server:
        yield server


@pytest.fixture
def client() -> GuardedClient:
    policy = GuardPolicy(allowed_networks=["127.0.0.1/32"], timeout=5.0)
    return GuardedClient(policy, resolver=StaticResolver({}))


def hook_spec(receiver: HttpReceiver, **changes: Any) -> HttpCallSpec:
    values: dict[str, Any] = {
        "url": receiver.url("/hooks/{{ record.id }}"),
        "headers": {"X-Customer": "{{ record.customer }}", "X-Token": Secret("t0k")},
        "body": {"amount": "{{ record.amount }}", "note": "run {{ run.id }}"},
    }
    values.update(changes)
    return HttpCallSpec(**values)


async def test_call_renders_and_sends(
    receiver: HttpReceiver, client: GuardedClient
) -> None:
    result = await perform_http_call(
        hook_spec(receiver), CONTEXT, idempotency_key="run-7:hook", client=client
    )

    [request] = receiver.requests
    assert request.method == "POST"
    assert request.path == "/hooks/r1"
    assert request.json() == {"amount": 42, "note": "run run-7"}
    assert request.headers["idempotency-key"] == "run-7:hook"
    assert request.headers["x-customer"] == "Ada"
    assert request.headers["x-token"] == "t0k"
    assert request.headers["content-type"] == "application/json"
    assert result.status == 200
    assert result.body == {
        "received": True,
        "attempt": 1,
        "echo": {"amount": 42, "note": "run run-7"},
    }
    assert result.headers == {
        "content-type": "application/json",
        "x-request-id": "req-1",
    }
    assert result.to_json()["status"] == 200


async def test_retry_counted_per_key(
    receiver: HttpReceiver, client: GuardedClient
) -> None:
    receiver.fail_first = 2
    spec = hook_spec(receiver)
    errors: list[HttpCallError] = []

    for _ in range(3):
        try:
            result = await perform_http_call(
                spec, CONTEXT, idempotency_key="run-7:hook", client=client
            )
        except HttpCallError as error:
            errors.append(error)

    assert [e.retryable for e in errors] == [True, True]
    assert str(errors[0]) == (
        f"HTTP call to {receiver.url('/hooks/r1')} failed with status 500."
    )
    assert errors[0].result is not None
    assert errors[0].result.body == {"error": "failing on purpose"}
    assert result.body["attempt"] == 3  # type: ignore[index,call-overload]
    assert receiver.counts == {"run-7:hook": 3}


async def test_other_key_counted_apart(
    receiver: HttpReceiver, client: GuardedClient
) -> None:
    receiver.fail_first = 1
    spec = hook_spec(receiver)

    for key in ("run-1:a", "run-2:a"):
        with pytest.raises(HttpCallError):
            await perform_http_call(spec, CONTEXT, idempotency_key=key, client=client)

    assert receiver.counts == {"run-1:a": 1, "run-2:a": 1}


@pytest.mark.parametrize(
    ("status", "retryable", "retry_after"),
    [(404, False, None), (400, False, None), (429, True, 7.0), (503, True, 7.0)],
)
async def test_status_classified(
    receiver: HttpReceiver,
    client: GuardedClient,
    status: int,
    retryable: bool,
    retry_after: float | None,
) -> None:
    spec = HttpCallSpec(url=receiver.url(f"/status/{status}"), method="GET")

    with pytest.raises(HttpCallError) as caught:
        await perform_http_call(spec, CONTEXT, idempotency_key="k", client=client)

    assert caught.value.retryable is retryable
    assert caught.value.retry_after == retry_after
    assert str(caught.value).endswith(f"failed with status {status}.")


async def test_blocked_address_not_retryable() -> None:
    client = GuardedClient(resolver=StaticResolver({}))
    spec = HttpCallSpec(url="http://169.254.169.254/latest/meta-data/", method="GET")

    with pytest.raises(HttpCallError) as caught:
        await perform_http_call(spec, CONTEXT, idempotency_key="k", client=client)

    assert caught.value.retryable is False
    assert str(caught.value) == (
        "HTTP call failed: Request to 169.254.169.254 (169.254.169.254) was blocked: "
        "cloud metadata address. An operator can allow this destination in the "
        "outgoing request policy."
    )


async def test_connect_error_retryable(client: GuardedClient) -> None:
    spec = HttpCallSpec(url="http://127.0.0.1:1/hook")

    with pytest.raises(HttpCallError) as caught:
        await perform_http_call(spec, CONTEXT, idempotency_key="k", client=client)

    assert caught.value.retryable is True
    assert str(caught.value).startswith(
        "HTTP call failed: Could not connect to 127.0.0.1"
    )


async def test_timeout_retryable(receiver: HttpReceiver, client: GuardedClient) -> None:
    spec = HttpCallSpec(url=receiver.url("/slow"), method="GET", timeout=0.2)

    with pytest.raises(HttpCallError) as caught:
        await perform_http_call(spec, CONTEXT, idempotency_key="k", client=client)

    assert caught.value.retryable is True
    assert str(caught.value) == (
        "HTTP call failed: Request to 127.0.0.1 timed out after 0.2 seconds."
    )


async def test_text_body_truncated(
    receiver: HttpReceiver, client: GuardedClient
) -> None:
    spec = HttpCallSpec(url=receiver.url("/bytes/3000"), method="GET")

    result = await perform_http_call(
        spec, CONTEXT, idempotency_key="k", client=client, max_body_chars=100
    )

    assert result.body == "x" * 100
    assert result.body_truncated is True


async def test_missing_variable_not_retryable(
    receiver: HttpReceiver, client: GuardedClient
) -> None:
    spec = hook_spec(receiver, url=receiver.url("/hooks/{{ record.missing }}"))

    with pytest.raises(HttpCallError) as caught:
        await perform_http_call(spec, CONTEXT, idempotency_key="k", client=client)

    assert caught.value.retryable is False
    assert str(caught.value) == (
        "HTTP call is invalid: Template at url line 1: key 'missing' is missing "
        "(available keys: amount, customer, id)"
    )
    assert receiver.requests == []


async def test_header_line_break_rejected(
    receiver: HttpReceiver, client: GuardedClient
) -> None:
    context = {**CONTEXT, "record": {**CONTEXT["record"], "customer": "A\r\nX-Evil: 1"}}

    with pytest.raises(HttpCallError) as caught:
        await perform_http_call(
            hook_spec(receiver), context, idempotency_key="k", client=client
        )

    assert "Header 'X-Customer' is empty or contains a line break" in str(caught.value)
    assert caught.value.retryable is False


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (
            HttpCallSpec(url="http://x.test/", method="TRACE"),
            "HTTP method 'TRACE' is not",
        ),
        (
            HttpCallSpec(url="http://x.test/", method="GET", body={"a": 1}),
            "HTTP method GET cannot send a body; remove the body.",
        ),
        (
            HttpCallSpec(url="http://x.test/", timeout=0),
            "HTTP call timeout must be a positive number of seconds.",
        ),
    ],
)
def test_check_rejects_invalid_spec(spec: HttpCallSpec, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        check_http_call(spec)


def test_check_reports_template_path() -> None:
    spec = HttpCallSpec(url="http://x.test/", headers={"X-A": "{{ oops"})

    with pytest.raises(TemplateSyntaxError) as caught:
        check_http_call(spec)

    assert caught.value.path == "headers.X-A"
    assert caught.value.line == 1
