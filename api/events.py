"""Delivery of outbox events to subscribers inside one process.

Writes store their events in the outbox in the same transaction. The
:class:`OutboxDispatcher` reads undispatched events in order, lets handlers
act on them (the schema manager rebuilds on definition events before anyone
is told), publishes them on the :class:`EventBus`, and only then marks them
dispatched, so a crash before the mark delivers them again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import suppress

from store import OutboxEvent, Store

logger = logging.getLogger(__name__)

EventHandler = Callable[[OutboxEvent], Awaitable[None]]


class EventBus:
    """Fans events out to subscribers of a workspace, in memory.

    Each subscriber has a bounded queue; a subscriber that falls more than
    ``max_queue`` events behind is dropped and its iterator ends with
    :class:`SubscriberOverflowError`, rather than holding memory unbounded.
    """

    def __init__(self, max_queue: int = 1000) -> None:
        self.max_queue = max_queue
        self._subscribers: dict[str, set[_Subscriber]] = {}

    def publish(self, event: OutboxEvent) -> None:
        """Queue ``event`` for every subscriber of its workspace."""
        for subscriber in list(self._subscribers.get(event.workspace_id, ())):
            subscriber.put(event)

    async def subscribe(self, workspace_id: str) -> AsyncIterator[OutboxEvent]:
        """Yield events of ``workspace_id`` published from now on."""
        subscriber = _Subscriber(self.max_queue)
        self._subscribers.setdefault(workspace_id, set()).add(subscriber)
        try:
            while True:
                yield await subscriber.get()
        finally:
            subscribers = self._subscribers.get(workspace_id)
            if subscribers is not None:
                subscribers.discard(subscriber)
                if not subscribers:
                    del self._subscribers[workspace_id]

    def subscriber_count(self, workspace_id: str | None = None) -> int:
        """Return how many subscribers are open, in one or all workspaces."""
        if workspace_id is not None:
            return len(self._subscribers.get(workspace_id, ()))
        return sum(len(s) for s in self._subscribers.values())


class SubscriberOverflowError(Exception):
    """A subscriber fell too far behind and was dropped."""


class _Subscriber:
    def __init__(self, max_queue: int) -> None:
        self.queue: asyncio.Queue[OutboxEvent | None] = asyncio.Queue(max_queue + 1)
        self.overflowed = False
        self.last_seq = 0

    def put(self, event: OutboxEvent) -> None:
        # Dispatch is at least once, so an event may be published again after
        # a crash between delivery and marking. A subscriber gets it once.
        if self.overflowed or event.seq <= self.last_seq:
            return
        self.last_seq = event.seq
        if self.queue.qsize() >= self.queue.maxsize - 1:
            self.overflowed = True
            self.queue.put_nowait(None)
            return
        self.queue.put_nowait(event)

    async def get(self) -> OutboxEvent:
        event = await self.queue.get()
        if event is None:
            raise SubscriberOverflowError(
                "The subscription fell behind by more events than the server "
                "buffers; resubscribe and catch up with the `changes` query."
            )
        return event


class OutboxDispatcher:
    """Moves outbox events to the bus, at least once and in order."""

    def __init__(
        self,
        store: Store,
        bus: EventBus,
        handlers: list[EventHandler] | None = None,
        *,
        poll_interval: float = 1.0,
        batch_size: int = 500,
    ) -> None:
        self.store = store
        self.bus = bus
        self.handlers = handlers or []
        self.poll_interval = poll_interval
        self.batch_size = batch_size
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self._enabled = True

    def disable(self) -> None:
        """Leave every event in the outbox, for the server on the same store.

        Short-lived commands call this before they write. An event that they
        marked dispatched would never reach the server's dispatcher, so the
        server would neither rebuild its schema nor publish the event.
        """
        self._enabled = False

    def wake(self) -> None:
        """Ask the dispatcher to look at the outbox now."""
        self._wake.set()

    def start(self) -> None:
        """Start the dispatch loop as a task of the running event loop."""
        if self._enabled and self._task is None:
            self._task = asyncio.create_task(self._run(), name="outbox-dispatcher")
            logger.debug("Outbox dispatcher started")

    async def stop(self) -> None:
        """Stop the dispatch loop; undispatched events stay in the outbox."""
        if self._task is not None:
            self._task.cancel()
            with suppress(asyncio.CancelledError):
                await self._task
            self._task = None
            logger.debug("Outbox dispatcher stopped")

    async def dispatch_pending(self) -> int:
        """Dispatch every undispatched event now; return how many.

        A disabled dispatcher dispatches none and returns 0.
        """
        total = 0
        if not self._enabled:
            return total
        async with self._lock:
            while True:
                events = await self.store.fetch_undispatched(self.batch_size)
                if not events:
                    return total
                for event in events:
                    await self._deliver(event)
                await self.store.mark_dispatched([e.seq for e in events])
                total += len(events)

    async def _deliver(self, event: OutboxEvent) -> None:
        for handler in self.handlers:
            try:
                await handler(event)
            except Exception:
                logger.exception(
                    "Event handler failed on event %d (%s of %s)",
                    event.seq,
                    event.kind,
                    event.subject_id,
                )
        self.bus.publish(event)

    async def _run(self) -> None:
        while True:
            try:
                await self.dispatch_pending()
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("Outbox dispatch failed; retrying")
            self._wake.clear()
            with suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.poll_interval)
