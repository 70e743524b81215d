"""Settings of the workflow engine, with embedded defaults."""

from __future__ import annotations

import os
from dataclasses import dataclass, fields


@dataclass(frozen=True)
class WorkflowSettings:
    """Limits and intervals of the workflow engine.

    Intervals and durations are in seconds.
    """

    redis_url: str | None = None
    """Redis URL of the scale-out queue. None runs an in-process worker on a
    stub broker."""
    queue_name: str = "appgraph_workflows"
    worker_threads: int = 4
    """Threads of the embedded worker. Async actors share one event loop, so
    this bounds how many messages are taken at once."""
    worker_timeout: float = 1.0
    """Seconds a worker thread waits for a message before it checks for a
    stop request, which bounds how long stopping takes. Dramatiq's Redis
    consumer also sleeps up to this long between two fetches of an empty
    queue, so it bounds how long a message that arrives at an idle worker
    waits; :func:`workflows.worker.run_worker` uses
    :attr:`redis_worker_timeout` instead."""
    redis_worker_timeout: float = 0.02
    """The :attr:`worker_timeout` of Redis worker processes. While the queue
    is empty, each of a worker's two Dramatiq consumers (the queue and its
    delay queue) fetches from Redis up to about 1 / this value times per
    second, 50 at 0.02 s. Each worker thread wakes as often."""
    shutdown_timeout: float = 10.0
    """Seconds that stopping a worker waits for its threads to finish their
    messages. A message still running after that is redelivered later."""
    max_chain_depth: int = 5
    """A run started by a record that a chain of more workflow runs wrote
    fails instead of running, which stops workflows that trigger each
    other forever."""
    max_iterations: int = 100
    """Most items one for-each step runs its body for."""
    max_steps_per_run: int = 1000
    """Most step executions of one run, loops included."""
    lease_seconds: float = 120.0
    """How long a worker keeps the lease of a run while it executes one step. Another
    worker takes the run over after that, so keep it above every step
    type's timeout."""
    dispatch_interval: float = 1.0
    """Maximum pause between two reads of the outbox for triggers."""
    dispatch_batch: int = 200
    sweep_interval: float = 5.0
    """Pause between two looks for runs whose message was lost."""
    requeue_after: float = 60.0
    """A queued run that no worker took this long after its last message
    gets another message."""
    schedule_interval: float = 15.0
    """Pause between two checks of schedule triggers."""

    @classmethod
    def from_env(cls) -> WorkflowSettings:
        """Read settings from ``APPGRAPH_WORKFLOW_*`` environment variables.

        The variable of a field is its name in upper case, such as
        ``APPGRAPH_WORKFLOW_MAX_CHAIN_DEPTH``, and ``APPGRAPH_REDIS_URL``
        for :attr:`redis_url`.

        Raises:
            ValueError: a variable is not a number where a number is expected.
        """
        values: dict[str, object] = {}
        redis_url = os.environ.get("APPGRAPH_REDIS_URL")
        if redis_url:
            values["redis_url"] = redis_url
        for item in fields(cls):
            if item.name == "redis_url":
                continue
            variable = f"APPGRAPH_WORKFLOW_{item.name.upper()}"
            raw = os.environ.get(variable)
            if raw is None or raw == "":
                continue
            default = getattr(cls, item.name)
            try:
                values[item.name] = type(default)(raw)
            except ValueError:
                expected = "an integer" if isinstance(default, int) else "a number"
                raise ValueError(
                    f"{variable} must be {expected}, got {raw!r}."
                ) from None
        return cls(**values)  # type: ignore[arg-type]
