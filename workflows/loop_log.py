"""Logging of the failures of the runtime's background loops.

A loop that fails retries at its next pass, which may be every second. While
a dependency such as Redis is down, every pass fails the same way, so
:class:`LoopFailureLog` logs the first failure of a kind as one line with
its cause, and then at most one summary line per ``repeat_interval`` with
the count. The traceback goes to DEBUG only.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from urllib.parse import urlsplit

import dramatiq.errors
import redis.exceptions

__all__ = ["LoopFailureLog", "describe_failure"]

logger = logging.getLogger(__name__)

REPEAT_INTERVAL = 60.0
"""Seconds between two summary lines for the same kind of failure."""


def describe_failure(error: Exception, redis_url: str | None) -> str:
    """Return one line that names the cause of a loop failure, without secrets."""
    unreachable = (
        redis.exceptions.ConnectionError,
        dramatiq.errors.BrokerConnectionError,
    )
    if isinstance(error, unreachable) and redis_url:
        return f"Cannot reach Redis at {_redis_address(redis_url)}: {error}"
    return f"{type(error).__name__}: {error}"


def _redis_address(url: str) -> str:
    # Only the host and port are shown, because the URL may carry a password.
    parts = urlsplit(url)
    return f"{parts.hostname or 'localhost'}:{parts.port or 6379}"


class LoopFailureLog:
    """Rate-limited log of one loop's failures.

    Args:
        loop: Name of the loop in the log lines, such as ``"_dispatch"``.
        interval: Seconds between the loop's passes, shown as the retry delay.
        redis_url: The broker URL, to name the Redis that cannot be reached.
        repeat_interval: Seconds between summary lines of repeated failures.
        clock: Monotonic clock in seconds; tests pass their own.
    """

    def __init__(
        self,
        loop: str,
        interval: float,
        redis_url: str | None,
        *,
        repeat_interval: float = REPEAT_INTERVAL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.loop = loop
        self.interval = interval
        self.redis_url = redis_url
        self.repeat_interval = repeat_interval
        self.clock = clock
        self._cause: str | None = None
        self._repeats = 0
        self._total = 0
        self._last_logged = 0.0

    def failed(self, error: Exception) -> None:
        """Log ``error`` unless the same cause was logged within the interval."""
        cause = describe_failure(error, self.redis_url)
        logger.debug("Workflow loop %s failed", self.loop, exc_info=error)
        now = self.clock()
        self._total += 1
        if cause != self._cause:
            self._cause = cause
            self._repeats = 0
            self._last_logged = now
            logger.error(
                "Workflow loop %s failed: %s; retrying every %g s",
                self.loop,
                cause,
                self.interval,
            )
            return
        self._repeats += 1
        if now - self._last_logged >= self.repeat_interval:
            logger.error(
                "Workflow loop %s failed %d more times in %.0f s: %s; still retrying",
                self.loop,
                self._repeats,
                now - self._last_logged,
                cause,
            )
            self._repeats = 0
            self._last_logged = now

    def succeeded(self) -> None:
        """Log the recovery once, after a run of failures."""
        if self._cause is None:
            return
        logger.warning(
            "Workflow loop %s recovered after %d failed passes",
            self.loop,
            self._total,
        )
        self._cause = None
        self._repeats = 0
        self._total = 0
