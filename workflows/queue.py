"""The Dramatiq side: the broker, the actor that advances runs, and its hosts.

Messages carry a run id and nothing else. The actor calls
:meth:`workflows.engine.Engine.advance` once and sends the next message
itself, at once or delayed until a retry or a wait is due. Delivery is at
least once: a duplicate message finds the run leased or its step done, and
does nothing. A lost message is replaced by the sweep of
:class:`workflows.runtime.WorkflowRuntime`, which reads open runs from the
store, so the queue holds no state that the store does not.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import dramatiq
from dramatiq.brokers.redis import RedisBroker
from dramatiq.brokers.stub import StubBroker
from dramatiq.middleware import AsyncIO

from workflows.engine import AdvanceResult, Engine

logger = logging.getLogger(__name__)

ACTOR_NAME = "advance_workflow_run"
MAX_MESSAGE_DELAY = 3600.0
"""Longest delay of one message, in seconds. A longer wait is covered by
several messages, so a worker never holds a delayed message for days."""


class EngineHost(Protocol):
    """Runs :meth:`Engine.advance` where the engine's store lives."""

    async def advance(self, run_id: str) -> AdvanceResult:
        """Advance the run and return the result."""
        ...


class LoopEngineHost:
    """Runs the engine on the event loop that opened its store.

    The embedded worker executes actors on Dramatiq's own event loop thread,
    while the store's connections and locks belong to the application's
    loop, so each call is handed over to that loop.
    """

    def __init__(self, engine: Engine, loop: asyncio.AbstractEventLoop) -> None:
        self.engine = engine
        self.loop = loop

    async def advance(self, run_id: str) -> AdvanceResult:
        """Advance the run on the application's loop and wait for it here."""
        future = asyncio.run_coroutine_threadsafe(
            self.engine.advance(run_id), self.loop
        )
        return await asyncio.wrap_future(future)


class LazyEngineHost:
    """Builds the engine on the first call, on the loop that runs the actors.

    Args:
        factory: Opens the store and returns the engine.
        close: Closes what ``factory`` opened.
    """

    def __init__(
        self,
        factory: Callable[[], Awaitable[Engine]],
        close: Callable[[], Awaitable[None]],
    ) -> None:
        self._factory = factory
        self._close = close
        self._engine: Engine | None = None
        self._lock: asyncio.Lock | None = None

    async def advance(self, run_id: str) -> AdvanceResult:
        """Advance the run with the engine, opening it first if needed."""
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            if self._engine is None:
                self._engine = await self._factory()
        return await self._engine.advance(run_id)

    async def close(self) -> None:
        """Close the engine's store if it was opened."""
        if self._engine is not None:
            self._engine = None
            await self._close()


def create_broker(redis_url: str | None, **options: Any) -> dramatiq.Broker:
    """Return a Redis broker for ``redis_url``, or a stub broker for None.

    Both have the AsyncIO middleware that async actors need. ``options``
    go to :class:`dramatiq.brokers.redis.RedisBroker`.
    """
    broker: dramatiq.Broker
    if redis_url:
        broker = RedisBroker(url=redis_url, **options)  # type: ignore[no-untyped-call]
    else:
        broker = StubBroker()
    broker.add_middleware(AsyncIO())
    return broker


class RunQueue:
    """The actor that advances runs, bound to one broker.

    Args:
        broker: The broker the actor is declared on.
        queue_name: The Dramatiq queue of the messages.
        host: Runs the engine when this process executes messages, or None
            for a process that only sends them.
        time_limit: Milliseconds one message may take.
    """

    def __init__(
        self,
        broker: dramatiq.Broker,
        queue_name: str,
        host: EngineHost | None,
        time_limit: int = 600_000,
    ) -> None:
        self.broker = broker
        self.queue_name = queue_name
        self.host = host

        async def advance_workflow_run(run_id: str) -> None:
            if self.host is None:
                raise RuntimeError(
                    "This process only sends workflow messages; start a worker "
                    "with run_worker() to execute them."
                )
            result = await self.host.advance(run_id)
            if result.delay is not None:
                self.send(run_id, result.delay)

        declare = dramatiq.actor(
            broker=broker,
            actor_name=ACTOR_NAME,
            queue_name=queue_name,
            max_retries=5,
            min_backoff=1_000,
            max_backoff=60_000,
            time_limit=time_limit,
        )
        self.actor: dramatiq.Actor[[str], None] = declare(advance_workflow_run)

    def send(self, run_id: str, delay: float | None = None) -> None:
        """Send the message of a run, to be processed after ``delay`` seconds."""
        milliseconds = None
        if delay:
            milliseconds = int(min(delay, MAX_MESSAGE_DELAY) * 1000)
        self.actor.send_with_options(args=(run_id,), delay=milliseconds)
        logger.debug("Sent workflow run %s (delay %s ms)", run_id, milliseconds)
