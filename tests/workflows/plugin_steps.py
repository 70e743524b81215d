"""Step types of a test plugin, registered the way a third party registers them.

``record_effect`` writes its effect to a directory the way a receiver that
honours idempotency keys would: one file per key, created only once, plus a
line in ``attempts.log`` for every attempt. While the file named by
``hold_while`` exists, the step waits after writing its effect, so a test
can kill the worker in the middle of the step.

``flaky`` (and ``quick_flaky``, with a shorter backoff) fails its first
``failures`` attempts with a retryable error, and every attempt while the
file named by ``fail_while`` exists.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

from plugins import hookimpl
from workflows.errors import StepError
from workflows.steps import RetryPolicy, StepContext, StepOutcome, StepType


class RecordEffectStepType(StepType):
    name = "record_effect"
    label = "Record effect"
    config_schema: ClassVar[Mapping[str, Any]] = {
        "type": "object",
        "properties": {
            "directory": {"type": "string"},
            "hold_while": {"type": "string"},
        },
        "required": ["directory"],
        "additionalProperties": False,
    }
    retry: ClassVar[RetryPolicy] = RetryPolicy(max_attempts=3, backoff=0.1)

    async def run(self, ctx: StepContext) -> StepOutcome:
        directory = Path(ctx.step.config["directory"])
        key = ctx.idempotency_key.replace(":", "_").replace("/", "_")
        with open(directory / "attempts.log", "a", encoding="utf-8") as log:
            log.write(f"{ctx.idempotency_key} {os.getpid()}\n")
        try:
            fd = os.open(
                directory / f"effect-{key}", os.O_CREAT | os.O_EXCL | os.O_WRONLY
            )
        except FileExistsError:
            created = False
        else:
            os.write(fd, ctx.idempotency_key.encode())
            os.close(fd)
            created = True
        hold = ctx.step.config.get("hold_while")
        while hold and Path(hold).exists():
            await asyncio.sleep(0.05)
        return StepOutcome({"created": created})


class FlakyStepType(StepType):
    name = "flaky"
    label = "Flaky"
    config_schema: ClassVar[Mapping[str, Any]] = {
        "type": "object",
        "properties": {
            "failures": {"type": "integer", "minimum": 0},
            "fail_while": {"type": "string"},
        },
        "additionalProperties": False,
    }
    retry: ClassVar[RetryPolicy] = RetryPolicy(max_attempts=3, backoff=10.0)

    async def run(self, ctx: StepContext) -> StepOutcome:
        fail_while = ctx.step.config.get("fail_while")
        if ctx.attempt <= ctx.step.config.get("failures", 0) or (
            fail_while and Path(fail_while).exists()
        ):
            raise StepError(f"Service unavailable on attempt {ctx.attempt}.")
        return StepOutcome({"attempt": ctx.attempt})


class QuickFlakyStepType(FlakyStepType):
    name = "quick_flaky"
    label = "Quick flaky"
    retry: ClassVar[RetryPolicy] = RetryPolicy(max_attempts=2, backoff=0.05)


@hookimpl
def appgraph_step_types() -> list[StepType]:
    return [RecordEffectStepType(), FlakyStepType(), QuickFlakyStepType()]
