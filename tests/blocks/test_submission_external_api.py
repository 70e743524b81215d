from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from blocks.base import ConfigContext, ValueContext
from blocks.definition import parse_definition
from blocks.errors import ErrorCode, SubmissionError
from blocks.registry import BlockRegistry
from blocks.submission import normalize_submission
from blocks.validation import validate_definition
from tests.blocks.builtin.fakes import FakeFiles, FakeRecords, FakeSequences
from tests.workflows.receivers import HttpReceiver
from workflows.guard import GuardedClient, GuardPolicy


@pytest.fixture
def receiver() -> Iterator[HttpReceiver]:
    with HttpReceiver() as server:
        yield server


def context(policy: GuardPolicy) -> ValueContext:
    return ValueContext(
        "ws1",
        "app1",
        FakeFiles(),
        FakeRecords(),
        FakeSequences(),
        http=GuardedClient(policy),
    )


async def submit(
    blocks: list[dict[str, Any]], data: dict[str, Any], ctx: ValueContext
) -> dict[str, Any]:
    registry = BlockRegistry.default(load_entry_points=False)
    definition = parse_definition({"blocks": blocks})
    assert validate_definition(definition, registry, ConfigContext()) == []
    return await normalize_submission(definition, registry, data, ctx)


def blocks(url: str) -> list[dict[str, Any]]:
    return [
        {
            "id": "price",
            "type": "external_api",
            "config": {
                "url": url,
                "method": "POST",
                "body": {"total": "{{ total }}"},
                "extract": "echo.total",
                "value_type": "number",
            },
        },
        {"id": "qty", "type": "number"},
        {
            "id": "total",
            "type": "calculation",
            "config": {"expression": "qty * 2", "result": "number"},
        },
        {"id": "big", "type": "boolean", "visible_if": "price > 5"},
    ]


async def test_on_submit_value_stored(receiver: HttpReceiver) -> None:
    ctx = context(GuardPolicy(allowed_networks=["127.0.0.1/32"]))
    stored = await submit(
        blocks(receiver.url("/p")), {"qty": 3, "price": "ignored", "big": True}, ctx
    )
    assert stored == {"price": "6", "qty": "3", "total": "6", "big": True}


async def test_on_submit_blocked(receiver: HttpReceiver) -> None:
    ctx = context(GuardPolicy())
    with pytest.raises(SubmissionError) as caught:
        await submit(blocks(receiver.url("/p")), {"qty": 3}, ctx)
    [problem] = caught.value.problems
    assert problem.path == ("price",)
    assert problem.code is ErrorCode.INVALID
    assert "127.0.0.1" in problem.message
    assert "loopback" in problem.message
    assert receiver.requests == []


async def test_on_request_option_rechecked(receiver: HttpReceiver) -> None:
    ctx = context(GuardPolicy(allowed_networks=["127.0.0.1/32"]))
    block = {
        "id": "country",
        "type": "external_api",
        "config": {
            "url": receiver.url("/c"),
            "method": "POST",
            "body": ["{{ region }}", "KE"],
            "mode": "options",
            "fetch": "on_request",
            "extract": "echo",
        },
    }
    region = {"id": "region", "type": "text"}
    assert await submit([block, region], {"country": "TZ", "region": "TZ"}, ctx) == {
        "country": "TZ",
        "region": "TZ",
    }
    with pytest.raises(SubmissionError) as caught:
        await submit([block, region], {"country": "UG", "region": "TZ"}, ctx)
    assert caught.value.problems[0].code is ErrorCode.UNKNOWN_OPTION
