"""Email, SMS and HTTP step types against real servers on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from blocks.errors import ErrorCode
from store.workflows import RunStatus
from tests.workflows.conftest import World
from tests.workflows.receivers import HttpReceiver, SmtpReceiver, StaticResolver
from workflows.email import SmtpSettings
from workflows.engine import Engine
from workflows.errors import WorkflowDefinitionError
from workflows.guard import GuardedClient, GuardPolicy
from workflows.sms import HttpJsonSmsProvider, HttpJsonSmsSettings
from workflows.steps import StepResources


@pytest.fixture
def receiver() -> Iterator[HttpReceiver]:
    with HttpReceiver() as server:
        yield server


@pytest.fixture
def smtp() -> Iterator[SmtpReceiver]:
    with SmtpReceiver() as server:
        yield server


def guarded_client() -> GuardedClient:
    policy = GuardPolicy(allowed_networks=["127.0.0.1/32"], timeout=5.0)
    return GuardedClient(policy, resolver=StaticResolver({}))


def use_resources(world: World, resources: StepResources) -> None:
    world.engine = Engine(
        world.store,
        world.workflows,
        world.steps,
        world.blocks,
        world.settings,
        world.clock,
        resources,
    )


async def run_workflow(world: World, *steps: dict[str, Any], **order: Any) -> str:
    await world.add_workflow(
        {"name": "Effects", "trigger": {"type": "record_created"}, "steps": list(steps)}
    )
    await world.add_order(**order)
    (run_id,) = await world.dispatch()
    return run_id


async def test_http_request_sends_idempotency_key(
    world: World, receiver: HttpReceiver
) -> None:
    use_resources(world, StepResources(http=guarded_client()))
    receiver.fail_first = 1
    step = {
        "id": "hook",
        "type": "http_request",
        "config": {
            "url": receiver.url("/orders/{{ record.name }}"),
            "body": {"amount": "{{ record.amount }}", "lines": "{{ record.lines }}"},
        },
    }
    run_id = await run_workflow(world, step, name="A-1", amount=12, lines=[])

    run = await world.run_to_end(run_id)

    assert run.status is RunStatus.COMPLETED
    assert [r.path for r in receiver.requests] == ["/orders/A-1", "/orders/A-1"]
    keys = {r.headers["idempotency-key"] for r in receiver.requests}
    assert keys == {f"{run_id}:hook"}
    assert receiver.requests[0].json() == {"amount": 12, "lines": []}
    execution = (await world.workflows.list_step_executions(run_id))[0]
    assert execution.attempts == 2
    assert execution.output["status"] == 200
    assert execution.output["body"]["attempt"] == 2


async def test_http_request_client_error_fails_at_once(
    world: World, receiver: HttpReceiver
) -> None:
    use_resources(world, StepResources(http=guarded_client()))
    step = {
        "id": "hook",
        "type": "http_request",
        "config": {"url": receiver.url("/status/404")},
    }
    run_id = await run_workflow(world, step, name="B")

    run = await world.run_to_end(run_id)

    assert run.status is RunStatus.FAILED
    assert run.error is not None
    assert run.error.startswith("Step 'hook': HTTP call to http://127.0.0.1:")
    assert run.error.endswith("/status/404 failed with status 404.")


async def test_http_request_honours_retry_after(
    world: World, receiver: HttpReceiver
) -> None:
    use_resources(world, StepResources(http=guarded_client()))
    step = {
        "id": "hook",
        "type": "http_request",
        "config": {"url": receiver.url("/status/503")},
    }
    run_id = await run_workflow(world, step, name="C")

    result = await world.engine.advance(run_id)

    # The receiver sends Retry-After: 7, shorter than the first backoff of 10 s.
    assert result.delay == 10.0
    assert result.status is RunStatus.WAITING


async def test_http_request_blocked_without_client(world: World) -> None:
    step = {
        "id": "hook",
        "type": "http_request",
        "config": {"url": "http://example.test/"},
    }
    run_id = await run_workflow(world, step, name="D")

    run = await world.run_to_end(run_id)

    assert run.error == (
        "Outgoing HTTP requests are turned off on this server, so HTTP steps "
        "cannot run."
    )


async def test_send_email_invalid_address_fails(
    world: World, smtp: SmtpReceiver
) -> None:
    settings = SmtpSettings(
        host="127.0.0.1",
        port=smtp.port,
        from_address="workflows@example.com",
        starttls=False,
        timeout=5.0,
    )
    use_resources(world, StepResources(smtp=settings))
    step = {
        "id": "mail",
        "type": "send_email",
        "config": {
            "to": ["{{ record.name }}@example.com"],
            "subject": "Order {{ record.name }}",
            "text": "Amount: {{ record.amount }}",
            "html": "<p>{{ record.name }}</p>",
        },
    }
    run_id = await run_workflow(world, step, name="ada<b>", amount=3)

    run = await world.run_to_end(run_id)

    assert run.status is RunStatus.FAILED
    assert run.error is not None
    assert "ada<b>@example.com" in run.error


async def test_send_email_delivers_once_per_key(
    world: World, smtp: SmtpReceiver
) -> None:
    settings = SmtpSettings(
        host="127.0.0.1",
        port=smtp.port,
        from_address="workflows@example.com",
        starttls=False,
        timeout=5.0,
    )
    use_resources(world, StepResources(smtp=settings))
    step = {
        "id": "mail",
        "type": "send_email",
        "config": {
            "to": ["{{ record.name }}@example.com"],
            "subject": "Order {{ record.name }}",
            "text": "Amount: {{ record.amount }}",
            "html": "<p>{{ record.name ~ ' & co' }}</p>",
        },
    }
    run_id = await run_workflow(world, step, name="ada", amount=3)

    run = await world.run_to_end(run_id)

    assert run.status is RunStatus.COMPLETED
    assert len(smtp.messages) == 1
    message = smtp.messages[0].message
    assert message["To"] == "ada@example.com"
    assert message["Subject"] == "Order ada"
    html = message.get_body(("html",))
    assert html is not None
    assert "ada &amp; co" in html.get_content()
    execution = (await world.workflows.list_step_executions(run_id))[0]
    assert execution.output["message_id"] == message["Message-ID"]


async def test_send_email_without_server(world: World) -> None:
    step = {
        "id": "mail",
        "type": "send_email",
        "config": {"to": ["a@example.com"], "subject": "s", "text": "t"},
    }
    run_id = await run_workflow(world, step, name="E")

    run = await world.run_to_end(run_id)

    assert run.error == (
        "No SMTP server is configured, so email steps cannot send. Ask the "
        "operator to set one up, then retry the run."
    )


async def test_send_sms_through_provider(world: World, receiver: HttpReceiver) -> None:
    provider = HttpJsonSmsProvider(
        HttpJsonSmsSettings(url=receiver.url("/sms")), guarded_client()
    )
    use_resources(world, StepResources(sms=provider))
    step = {
        "id": "text",
        "type": "send_sms",
        "config": {"to": "+15551234567", "body": "Order {{ record.name }} is in."},
    }
    run_id = await run_workflow(world, step, name="F")

    run = await world.run_to_end(run_id)

    assert run.status is RunStatus.COMPLETED
    assert len(receiver.requests) == 1
    request = receiver.requests[0]
    assert request.headers["idempotency-key"] == f"{run_id}:text"
    assert "Order F is in." in request.body.decode()


async def test_template_field_mapping(world: World) -> None:
    step = {
        "id": "invoice",
        "type": "create_record",
        "config": {
            "app": "invoices",
            "fields": {"reference": {"template": "INV-{{ record.name | upper }}"}},
        },
    }
    run_id = await run_workflow(world, step, name="g7")

    await world.run_to_end(run_id)

    page = await world.store.query_records(world.invoices.id, first=1)
    assert page.items[0].data["reference"] == "INV-G7"


async def test_invalid_templates_rejected_on_save(world: World) -> None:
    definition = {
        "name": "Bad templates",
        "trigger": {"type": "record_created"},
        "steps": [
            {
                "id": "mail",
                "type": "send_email",
                "config": {
                    "to": ["{{ record.name"],
                    "subject": "s",
                    "text": "{% if %}",
                },
            },
            {
                "id": "hook",
                "type": "http_request",
                "config": {"url": "http://x.test/", "method": "GET", "body": {"a": 1}},
            },
            {
                "id": "invoice",
                "type": "create_record",
                "config": {"app": "invoices", "fields": {"note": {"template": "{{"}}},
            },
        ],
    }

    with pytest.raises(WorkflowDefinitionError) as error:
        await world.definitions.create(
            world.workspace.id, world.orders.id, definition, "admin-1"
        )

    found = {(".".join(map(str, p.path)), p.code) for p in error.value.problems}
    assert found == {
        ("steps.0.config.to.0", ErrorCode.INVALID_CONFIG),
        ("steps.0.config.text", ErrorCode.INVALID_CONFIG),
        ("steps.1.config", ErrorCode.INVALID_CONFIG),
        ("steps.2.config.fields.note.template", ErrorCode.INVALID_CONFIG),
    }
    messages = [p.message for p in error.value.problems]
    assert "HTTP method GET cannot send a body; remove the body." in messages


async def test_http_request_500_twice_then_200(
    world: World, receiver: HttpReceiver
) -> None:
    use_resources(world, StepResources(http=guarded_client()))
    receiver.fail_first = 2
    step = {
        "id": "hook",
        "type": "http_request",
        "config": {"url": receiver.url("/orders"), "body": {"n": "{{ record.name }}"}},
    }
    run_id = await run_workflow(world, step, name="B-2", amount=1, lines=[])

    run = await world.run_to_end(run_id)

    assert run.status is RunStatus.COMPLETED
    keys = {r.headers["idempotency-key"] for r in receiver.requests}
    assert len(receiver.requests) == 3
    assert keys == {f"{run_id}:hook"}
    assert receiver.counts[f"{run_id}:hook"] == 3
    [execution] = await world.workflows.list_step_executions(run_id)
    assert execution.attempts == 3
    assert execution.output["status"] == 200
    # The receiver answered 500 to attempts 1 and 2, so the one effect it
    # accepted is attempt 3, and no request followed it.
    assert execution.output["body"]["attempt"] == 3
