"""Work done once per outbox event and shared by every subscriber.

A definition change reaches every open subscription of its workspace, and
each needs the new version and its diff. Computed per subscriber, a
thousand subscribers would repeat the same reads and the same diff a
thousand times. :class:`SharedResults` runs such a computation once per
event and hands the result to each subscriber, which still checks its own
read access.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from typing import Any, TypeVar

T = TypeVar("T")

_SHARE_TOKEN = "_appgraph_share_token"
_tokens = itertools.count(1)


def mark_shared(event: object) -> None:
    """Mark a subscription event object as the same for every subscriber.

    The websocket layer executes the selection set over a marked event once
    per (document, variables, workspace, role) and sends the same bytes to
    each subscriber. Mark only events whose fields resolve the same for every
    caller of one workspace and role.
    """
    object.__setattr__(event, _SHARE_TOKEN, next(_tokens))


def share_token(event: object) -> int | None:
    """Return the token of a shared event, unique in this process, or None."""
    token = getattr(event, _SHARE_TOKEN, None)
    return token if isinstance(token, int) else None


class SharedResults:
    """Caches the result of one computation per key, such as an event seq.

    The first subscriber starts the computation as a task and later ones
    await the same task. A failed computation is dropped from the cache, so
    the next subscriber tries again. At most ``size`` results are kept,
    oldest first out, because subscribers read events within moments of
    their dispatch.
    """

    def __init__(self, size: int = 256) -> None:
        self.size = size
        self._tasks: OrderedDict[Hashable, asyncio.Future[Any]] = OrderedDict()

    async def get(self, key: Hashable, compute: Callable[[], Awaitable[T]]) -> T:
        """Return the result of ``compute`` for ``key``, computing it once."""
        task = self._tasks.get(key)
        if task is None:
            task = asyncio.ensure_future(compute())
            self._tasks[key] = task
            while len(self._tasks) > self.size:
                self._tasks.popitem(last=False)
        if task.done() and not task.cancelled() and task.exception() is None:
            done: T = task.result()
            return done
        try:
            # shield: a subscriber that disconnects must not cancel the
            # computation the others are waiting for.
            result: T = await asyncio.shield(task)
        except Exception:
            if self._tasks.get(key) is task:
                del self._tasks[key]
            raise
        return result
