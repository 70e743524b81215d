"""A worker process that executes workflow runs from a Redis queue.

Start it with :func:`run_worker`, or ``python -m workflows --redis-url URL
--database FILE``. The
number of messages each worker prefetches is read by Dramatiq from the
``dramatiq_queue_prefetch`` environment variable when it is imported, so set
it before the process starts. Dramatiq's default (twice the thread count)
makes one thread slow on Redis.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import signal
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import dramatiq
from dramatiq import Worker
from dramatiq.middleware import Middleware

from blocks.registry import BlockRegistry
from plugins.manager import create_plugin_manager
from store.sqlite.backend import SQLiteStore
from store.sqlite.workflows import SQLiteWorkflowStore
from workflows.engine import Engine
from workflows.queue import LazyEngineHost, RunQueue, create_broker
from workflows.runtime import default_resources
from workflows.settings import WorkflowSettings
from workflows.steps.base import StepResources
from workflows.steps.registry import StepRegistry

logger = logging.getLogger(__name__)


class _CloseHost(Middleware):
    """Closes the engine's store on Dramatiq's loop before that loop stops."""

    def __init__(self, host: LazyEngineHost) -> None:
        self.host = host

    def after_worker_shutdown(self, broker: dramatiq.Broker, worker: Worker) -> None:
        from dramatiq.asyncio import get_event_loop_thread

        loop_thread = get_event_loop_thread()
        if loop_thread is not None:
            loop_thread.run_coroutine(self.host.close())


def run_worker(
    redis_url: str,
    database: str | Path,
    *,
    settings: WorkflowSettings | None = None,
    worker_threads: int | None = None,
    plugins: Sequence[str] = (),
    stop: threading.Event | None = None,
    broker_options: dict[str, Any] | None = None,
    resources: StepResources | None = None,
) -> None:
    """Execute workflow runs from Redis until ``stop`` is set or a signal arrives.

    Args:
        redis_url: The Redis URL, such as ``redis://127.0.0.1:6379/0``.
        database: The SQLite file of the store.
        settings: Engine settings; :meth:`WorkflowSettings.from_env` when None.
        worker_threads: Threads that take messages; the settings' value when
            None.
        plugins: Modules to register as plugins besides the installed ones.
        stop: Set it to stop the worker. Without it, SIGTERM and SIGINT stop
            the worker when it runs in the main thread.
        broker_options: Passed to the Redis broker.
        resources: HTTP client, SMTP server and SMS provider of effect
            steps; :func:`workflows.runtime.default_resources` when None.
    """
    settings = settings or WorkflowSettings.from_env()
    manager = create_plugin_manager()
    for name in plugins:
        manager.register(importlib.import_module(name), name=name)
    blocks = BlockRegistry.from_plugin_manager(manager)
    steps = StepRegistry.from_plugin_manager(manager)
    store = SQLiteStore(database)

    async def open_engine() -> Engine:
        await store.open()
        return Engine(
            store,
            SQLiteWorkflowStore(store),
            steps,
            blocks,
            settings,
            resources=resources or default_resources(),
        )

    host = LazyEngineHost(open_engine, store.close)
    broker = create_broker(redis_url, **(broker_options or {}))
    # Dramatiq calls after_* hooks in reverse order, so a middleware added
    # after AsyncIO closes the store while the event loop still runs.
    broker.add_middleware(_CloseHost(host))
    time_limit = int((settings.lease_seconds + 60) * 1000)
    RunQueue(broker, settings.queue_name, host, time_limit)
    worker = Worker(
        broker,
        worker_threads=worker_threads or settings.worker_threads,
        queues={settings.queue_name},
        worker_timeout=int(settings.redis_worker_timeout * 1000),
    )

    stop = stop or _signal_event()
    worker.start()
    logger.info(
        "Workflow worker started on queue %s with %d threads",
        settings.queue_name,
        worker.worker_threads,
    )
    try:
        stop.wait()
    finally:
        logger.info("Workflow worker stopping")
        # Dramatiq retries the acknowledgement of a finished message until
        # Redis is reachable, so without a timeout a worker whose Redis is
        # down never stops. Its threads are daemons, and an unacknowledged
        # message is redelivered once Redis is back.
        worker.stop(int(settings.shutdown_timeout * 1000))
        broker.close()
        logger.info("Workflow worker stopped")


def _signal_event() -> threading.Event:
    event = threading.Event()
    if threading.current_thread() is threading.main_thread():
        for number in (signal.SIGTERM, signal.SIGINT):
            signal.signal(number, lambda *_: event.set())
    return event


def main(argv: Sequence[str] | None = None) -> None:
    """Parse command-line arguments and run a worker."""
    parser = argparse.ArgumentParser(description="Execute appgraph workflow runs.")
    parser.add_argument("--redis-url", required=True, help="Redis URL of the queue.")
    parser.add_argument("--database", required=True, help="SQLite file of the store.")
    parser.add_argument("--threads", type=int, help="Worker threads.")
    parser.add_argument(
        "--plugin",
        action="append",
        default=[],
        help="Module to register as a plugin; repeat for several.",
    )
    arguments = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    run_worker(
        arguments.redis_url,
        arguments.database,
        worker_threads=arguments.threads,
        plugins=arguments.plugin,
    )
