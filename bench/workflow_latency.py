"""Latency from a committed submission to the first step of its workflow.

Four systems run side by side, each in its own driver process:

- ``embedded-workflow``: a :class:`workflows.WorkflowRuntime` without Redis,
  so a stub broker and an in-process worker;
- ``embedded-dramatiq``: the same stub broker and worker settings with a
  bare async actor (the baseline);
- ``redis-workflow``: a runtime with a Redis URL and no worker of its own,
  plus one ``python -m workflows`` worker process;
- ``redis-dramatiq``: a bare async actor on the same Redis server, executed
  by one worker process with the same threads and prefetch (the baseline).

A submission is one record inserted through the store, which commits the
record with its outbox event, followed by ``runtime.wake()``, which
docs/workflows.md tells a process that writes records to call. Its latency runs from
just after the commit to the moment the first step's code runs: the
workflow has one step of the ``bench_timestamp`` type, registered by this
module as a plugin, which stores ``time.time()``. A baseline message's
latency runs from just before ``send`` to the moment its actor runs. Both
ends read the wall clock of the same machine.

Regimes: single submissions after 30 s of idleness, single submissions
after 2 s, and a sustained 200 submissions per second for 10 s. Single
submissions to the four systems are 0.5 s apart, so they do not overlap,
and each system is idle for the whole gap before its own sample. The
Redis systems use a private ``redis-server`` on a free port.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import os
import select
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Any, ClassVar, Protocol

import dramatiq
import redis
from dramatiq import Worker

from bench._common import Result, free_port, median, percentile
from blocks.registry import BlockRegistry
from plugins import hookimpl
from plugins.manager import create_plugin_manager
from store.sqlite.backend import SQLiteStore
from workflows.queue import create_broker
from workflows.runtime import WorkflowRuntime
from workflows.settings import WorkflowSettings
from workflows.steps import StepContext, StepOutcome, StepRegistry, StepType

NAME = "workflow_latency"
ROOT = Path(__file__).resolve().parents[1]
PLUGIN_MODULE = "bench.workflow_latency"

KINDS = ("embedded-workflow", "embedded-dramatiq", "redis-workflow", "redis-dramatiq")
IDLE_SECONDS = 30.0
IDLE_ROUNDS = 3
SHORT_IDLE_SECONDS = 2.0
SHORT_ROUNDS = 5
STAGGER_SECONDS = 0.5
RATE = 200
RATE_SECONDS = 10.0
WARMUP_SUBMISSIONS = 3
PREFETCH = "200"
"""Messages a Redis worker prefetches, as the workflow documentation
recommends. Dramatiq reads it from ``dramatiq_queue_prefetch`` at import."""
TARGET_P99_MS = 50.0
COLLECT_TIMEOUT = 60.0
REPLY_TIMEOUT = 240.0

APP_DEFINITION: dict[str, Any] = {"blocks": [{"id": "name", "type": "text"}]}
WORKFLOW: dict[str, Any] = {
    "name": "Benchmark",
    "trigger": {"type": "record_created"},
    "steps": [{"id": "mark", "type": "bench_timestamp", "config": {}}],
}


# The step type ---------------------------------------------------------------


class TimestampStepType(StepType):
    """Stores the wall-clock time at which the step's code started."""

    name = "bench_timestamp"
    label = "Benchmark timestamp"
    config_schema: ClassVar[Mapping[str, Any]] = {
        "type": "object",
        "properties": {},
        "additionalProperties": False,
    }

    async def run(self, ctx: StepContext) -> StepOutcome:
        return StepOutcome({"started": time.time()})


@hookimpl
def appgraph_step_types() -> list[StepType]:
    return [TimestampStepType()]


def plugin_registries() -> tuple[BlockRegistry, StepRegistry]:
    """Return the installed block and step types plus this module's step type."""
    manager = create_plugin_manager()
    manager.register(importlib.import_module(PLUGIN_MODULE), name=PLUGIN_MODULE)
    return (
        BlockRegistry.from_plugin_manager(manager),
        StepRegistry.from_plugin_manager(manager),
    )


# Systems under test ------------------------------------------------------------


class System(Protocol):
    """One broker setup that takes submissions and reports when they started."""

    async def open(self) -> None: ...

    async def submit(self, wake: bool = True) -> tuple[str, float]:
        """Submit one item and return its key and the wall-clock time of the commit."""
        ...

    async def started_times(self) -> dict[str, float]:
        """Return the start time of every item whose step or actor has run."""
        ...

    async def completed(self) -> tuple[int, float]:
        """Return how many items finished and the latest finish time."""
        ...

    def wake(self) -> None: ...

    async def close(self) -> None: ...


def start_process(
    arguments: list[str], log_path: Path, env: Mapping[str, str]
) -> subprocess.Popen[bytes]:
    """Start a Python process in the project root, logging to ``log_path``."""
    with open(log_path, "ab") as log:
        return subprocess.Popen(
            [sys.executable, *arguments],
            cwd=ROOT,
            env={**os.environ, **env},
            stdout=log,
            stderr=subprocess.STDOUT,
        )


def stop_process(process: subprocess.Popen[bytes] | None) -> None:
    """Stop ``process`` with SIGTERM, then SIGKILL after 15 s."""
    if process is None or process.poll() is not None:
        return
    os.kill(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


class WorkflowSystem:
    """A store with one app and a one-step workflow, and the runtime."""

    def __init__(
        self,
        directory: Path,
        redis_url: str | None,
        queue_name: str,
        dispatch_interval: float,
    ) -> None:
        self.directory = directory
        self.database = directory / "store.db"
        self.redis_url = redis_url
        self.settings = WorkflowSettings(
            redis_url=redis_url,
            queue_name=queue_name,
            dispatch_interval=dispatch_interval,
        )
        self.store = SQLiteStore(self.database)
        self.runtime: WorkflowRuntime | None = None
        self.worker: subprocess.Popen[bytes] | None = None
        self.workspace_id = ""
        self.app_id = ""
        self.count = 0

    async def open(self) -> None:
        await self.store.open()
        workspace = await self.store.create_workspace("bench", "Benchmark")
        app, _ = await self.store.create_app(
            workspace.id, "submissions", "Submissions", "", APP_DEFINITION, "bench"
        )
        self.workspace_id, self.app_id = workspace.id, app.id
        blocks, steps = plugin_registries()
        self.runtime = WorkflowRuntime(self.store, blocks, self.settings, steps=steps)
        await self.runtime.definitions.create(workspace.id, app.id, WORKFLOW, "bench")
        await self.runtime.start()
        if self.redis_url is not None:
            self.worker = start_process(
                [
                    "-m",
                    "workflows",
                    "--redis-url",
                    self.redis_url,
                    "--database",
                    str(self.database),
                    "--plugin",
                    PLUGIN_MODULE,
                ],
                self.directory / "worker.log",
                {
                    "APPGRAPH_WORKFLOW_QUEUE_NAME": self.settings.queue_name,
                    "dramatiq_queue_prefetch": PREFETCH,
                },
            )

    async def submit(self, wake: bool = True) -> tuple[str, float]:
        self.count += 1
        record, _ = await self.store.insert_record(
            self.workspace_id, self.app_id, 1, {"name": f"s{self.count}"}, "bench"
        )
        committed = time.time()
        if wake:
            self.wake()
        return record.id, committed

    def wake(self) -> None:
        assert self.runtime is not None
        self.runtime.wake()

    async def started_times(self) -> dict[str, float]:
        rows = await asyncio.to_thread(
            self._query,
            "SELECT json_extract(r.trigger, '$.record_id'), "
            "json_extract(s.output, '$.started') FROM workflow_runs r "
            "JOIN workflow_step_executions s ON s.run_id = r.id "
            "WHERE s.step_key = 'mark' AND s.status = 'done'",
        )
        return {str(key): float(value) for key, value in rows}

    async def completed(self) -> tuple[int, float]:
        rows = await asyncio.to_thread(
            self._query,
            "SELECT count(*), max(finished_at) FROM workflow_runs "
            "WHERE status = 'completed'",
        )
        count, latest = rows[0]
        if not latest:
            return 0, 0.0
        return int(count), datetime.fromisoformat(str(latest)).timestamp()

    def _query(self, sql: str) -> list[tuple[Any, ...]]:
        with sqlite3.connect(self.database, timeout=30) as connection:
            return list(connection.execute(sql))

    async def close(self) -> None:
        stop_process(self.worker)
        if self.runtime is not None:
            await self.runtime.stop()
        await self.store.close()


BASELINE_ACTOR = "bench_noop"


def declare_baseline_actor(
    broker: dramatiq.Broker, queue_name: str, record: Any
) -> dramatiq.Actor[[int], None]:
    """Declare the baseline's async actor, which calls ``record(index, now)``."""

    async def bench_noop(index: int) -> None:
        record(index, time.time())

    declare = dramatiq.actor(
        broker=broker, actor_name=BASELINE_ACTOR, queue_name=queue_name
    )
    actor: dramatiq.Actor[[int], None] = declare(bench_noop)
    return actor


def worker_settings() -> WorkflowSettings:
    """Return the settings whose worker threads and timeout the baseline copies."""
    return WorkflowSettings()


class DramatiqSystem:
    """A bare async actor on the broker the workflow runtime would create."""

    def __init__(self, directory: Path, redis_url: str | None, queue_name: str):
        self.directory = directory
        self.redis_url = redis_url
        self.queue_name = queue_name
        self.output = directory / "started.log"
        self.broker = create_broker(redis_url)
        self.worker: Worker | None = None
        self.process: subprocess.Popen[bytes] | None = None
        self.started: dict[str, float] = {}
        self.lock = threading.Lock()
        self.count = 0

        def record(index: int, now: float) -> None:
            with self.lock:
                self.started[str(index)] = now

        self.actor = declare_baseline_actor(self.broker, queue_name, record)

    async def open(self) -> None:
        settings = worker_settings()
        if self.redis_url is None:
            self.worker = Worker(
                self.broker,
                worker_threads=settings.worker_threads,
                queues={self.queue_name},
                worker_timeout=int(settings.worker_timeout * 1000),
            )
            self.worker.start()
            return
        self.process = start_process(
            [
                "-m",
                PLUGIN_MODULE,
                "worker",
                "--redis-url",
                self.redis_url,
                "--queue",
                self.queue_name,
                "--output",
                str(self.output),
            ],
            self.directory / "worker.log",
            {"dramatiq_queue_prefetch": PREFETCH},
        )

    async def submit(self, wake: bool = True) -> tuple[str, float]:
        self.count += 1
        sent = time.time()
        self.actor.send(self.count)
        return str(self.count), sent

    def wake(self) -> None:
        pass

    async def started_times(self) -> dict[str, float]:
        if self.redis_url is None:
            with self.lock:
                return dict(self.started)
        return await asyncio.to_thread(read_started_file, self.output)

    async def completed(self) -> tuple[int, float]:
        started = await self.started_times()
        return len(started), max(started.values(), default=0.0)

    async def close(self) -> None:
        stop_process(self.process)
        if self.worker is not None:
            await asyncio.to_thread(self.worker.stop, 10_000)
        self.broker.close()


def read_started_file(path: Path) -> dict[str, float]:
    """Return index -> start time from the lines a baseline worker wrote."""
    if not path.exists():
        return {}
    started: dict[str, float] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        parts = line.split()
        if len(parts) == 2:
            started[parts[0]] = float(parts[1])
    return started


def run_baseline_worker(redis_url: str, queue_name: str, output: Path) -> None:
    """Execute baseline messages from Redis until SIGTERM or SIGINT."""
    settings = worker_settings()
    broker = create_broker(redis_url)
    lock = threading.Lock()
    with open(output, "a", encoding="utf-8") as log:

        def record(index: int, now: float) -> None:
            with lock:
                log.write(f"{index} {now}\n")
                log.flush()

        declare_baseline_actor(broker, queue_name, record)
        # The same idle wait as a workflow worker process (run_worker).
        worker = Worker(
            broker,
            worker_threads=settings.worker_threads,
            queues={queue_name},
            worker_timeout=int(settings.redis_worker_timeout * 1000),
        )
        stop = threading.Event()
        for number in (signal.SIGTERM, signal.SIGINT):
            signal.signal(number, lambda *_: stop.set())
        worker.start()
        stop.wait()
        worker.stop(10_000)
        broker.close()


def create_system(
    kind: str, directory: Path, redis_url: str, dispatch_interval: float
) -> System:
    """Return the system named ``kind``, not yet opened."""
    queue_name = f"bench_{uuid.uuid4().hex[:12]}"
    url = redis_url if kind.startswith("redis") else None
    if kind.endswith("workflow"):
        return WorkflowSystem(directory, url, queue_name, dispatch_interval)
    return DramatiqSystem(directory, url, queue_name)


# The driver process ------------------------------------------------------------


@dataclass
class Submissions:
    """Submitted items by key, with the label of their regime."""

    committed: dict[str, float] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)

    def add(self, key: str, committed: float, label: str) -> None:
        self.committed[key] = committed
        self.labels[key] = label


async def wait_started(
    system: System, submissions: Submissions, timeout: float
) -> tuple[dict[str, float], int]:
    """Wait until every submission started, or until ``timeout`` seconds passed.

    Returns the start times by key and the number of submissions not started.
    """
    deadline = time.monotonic() + timeout
    while True:
        started = await system.started_times()
        missing = sum(1 for key in submissions.committed if key not in started)
        if missing == 0 or time.monotonic() > deadline:
            return started, missing
        await asyncio.sleep(0.1)


async def collect(system: System, submissions: Submissions) -> dict[str, Any]:
    """Return the latencies in milliseconds by regime label, and clear them."""
    started, missing = await wait_started(system, submissions, COLLECT_TIMEOUT)
    latencies: dict[str, list[float]] = {}
    for key, committed in submissions.committed.items():
        if key in started:
            label = submissions.labels[key]
            latencies.setdefault(label, []).append((started[key] - committed) * 1000)
    submissions.committed.clear()
    submissions.labels.clear()
    return {"latencies": latencies, "missing": missing}


async def submit_at_rate(
    system: System, submissions: Submissions, label: str, rate: float, seconds: float
) -> dict[str, Any]:
    """Submit ``rate`` items per second for ``seconds`` and return the achieved rate."""
    total = int(rate * seconds)
    begin = time.monotonic()
    for index in range(total):
        delay = begin + index / rate - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        key, committed = await system.submit()
        submissions.add(key, committed, label)
    elapsed = time.monotonic() - begin
    return {"submitted": total, "seconds": elapsed, "rate": total / elapsed}


async def measure_throughput(system: System, count: int) -> dict[str, Any]:
    """Process ``count`` items and return items per second.

    A workflow system stores all records first and then wakes the trigger
    dispatcher, so the time covers dispatch and execution of every run. A
    baseline system sends its messages after the clock starts.
    """
    done_before, _ = await system.completed()
    if isinstance(system, WorkflowSystem):
        for _ in range(count):
            await system.submit(wake=False)
        began = time.time()
        system.wake()
    else:
        began = time.time()
        for _ in range(count):
            await system.submit()
    deadline = time.monotonic() + 120
    while True:
        done, latest = await system.completed()
        if done >= done_before + count:
            break
        if time.monotonic() > deadline:
            return {"error": f"{done - done_before} of {count} finished in 120 s"}
        await asyncio.sleep(0.05)
    seconds = latest - began
    return {"count": count, "seconds": seconds, "per_second": count / seconds}


async def handle(
    system: System, submissions: Submissions, command: list[str]
) -> dict[str, Any]:
    """Execute one command line of the parent process."""
    match command:
        case ["one", label]:
            key, committed = await system.submit()
            submissions.add(key, committed, label)
            return {"ok": True}
        case ["rate", label, rate, seconds]:
            return await submit_at_rate(
                system, submissions, label, float(rate), float(seconds)
            )
        case ["collect"]:
            return await collect(system, submissions)
        case ["throughput", count]:
            return await measure_throughput(system, int(count))
    raise ValueError(
        f"Unknown driver command {command!r}; expected one, rate, collect, "
        f"throughput or quit."
    )


def reply(message: Mapping[str, Any]) -> None:
    """Write one protocol line to the parent."""
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


async def drive(
    kind: str, directory: Path, redis_url: str, dispatch_interval: float
) -> None:
    """Open one system, warm it up, then execute commands from stdin."""
    system = create_system(kind, directory, redis_url, dispatch_interval)
    submissions = Submissions()
    try:
        await system.open()
        for _ in range(WARMUP_SUBMISSIONS):
            key, committed = await system.submit()
            submissions.add(key, committed, "warm-up")
            await asyncio.sleep(0.2)
        warmup = await collect(system, submissions)
        reply({"ready": True, "warmup": warmup})
        loop = asyncio.get_running_loop()
        while True:
            line = await loop.run_in_executor(None, sys.stdin.readline)
            command = line.split()
            if not command or command == ["quit"]:
                break
            reply(await handle(system, submissions, command))
    finally:
        await system.close()
    reply({"closed": True})


# The parent process -------------------------------------------------------------


@contextmanager
def private_redis(directory: Path) -> Iterator[str]:
    """Run a redis-server on a free port without persistence; yield its URL."""
    port = free_port()
    with open(directory / "redis.log", "ab") as log:
        server = subprocess.Popen(
            [
                "redis-server",
                "--bind",
                "127.0.0.1",
                "--port",
                str(port),
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            cwd=directory,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    url = f"redis://127.0.0.1:{port}/0"
    try:
        client = redis.Redis.from_url(url)
        for _ in range(100):
            try:
                client.ping()
                break
            except redis.ConnectionError:
                time.sleep(0.05)
        client.close()
        yield url
    finally:
        os.kill(server.pid, signal.SIGTERM)
        server.wait(timeout=10)


class Driver:
    """A driver process seen from the parent: send a command, read the reply."""

    def __init__(
        self, kind: str, directory: Path, redis_url: str, dispatch_interval: float
    ) -> None:
        self.kind = kind
        directory.mkdir()
        self.log_path = directory / "driver.log"
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    PLUGIN_MODULE,
                    "drive",
                    kind,
                    "--directory",
                    str(directory),
                    "--redis-url",
                    redis_url,
                    "--dispatch-interval",
                    str(dispatch_interval),
                ],
                cwd=ROOT,
                env={**os.environ, "dramatiq_queue_prefetch": PREFETCH},
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
            )

    def read(self, timeout: float = REPLY_TIMEOUT) -> dict[str, Any]:
        """Read one reply, or raise with the tail of the driver's log if none comes."""
        stdout: IO[str] | None = self.process.stdout
        assert stdout is not None
        readable, _, _ = select.select([stdout], [], [], timeout)
        line = stdout.readline() if readable else ""
        if not line:
            tail = self.log_path.read_text(errors="replace")[-3000:]
            raise RuntimeError(
                f"The {self.kind} driver sent no reply within {timeout:.0f} s:\n{tail}"
            )
        message: dict[str, Any] = json.loads(line)
        return message

    def request(self, command: str) -> dict[str, Any]:
        """Send one command and return the reply."""
        stdin = self.process.stdin
        assert stdin is not None
        stdin.write(command + "\n")
        stdin.flush()
        return self.read()

    def close(self) -> None:
        """Ask the driver to quit; kill it if it does not within 30 s."""
        if self.process.poll() is None:
            try:
                self.request("quit")
                self.process.wait(timeout=30)
            except (RuntimeError, OSError, subprocess.TimeoutExpired):
                os.kill(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)


@contextmanager
def drivers(dispatch_interval: float = 1.0) -> Iterator[list[Driver]]:
    """Start one ready driver per kind, with a private Redis for the Redis ones."""
    with tempfile.TemporaryDirectory() as temporary:
        directory = Path(temporary)
        with private_redis(directory) as redis_url:
            started: list[Driver] = []
            try:
                for kind in KINDS:
                    started.append(
                        Driver(kind, directory / kind, redis_url, dispatch_interval)
                    )
                for driver in started:
                    ready = driver.read()
                    if ready["warmup"]["missing"]:
                        raise RuntimeError(
                            f"The {driver.kind} driver's warm-up submissions did "
                            f"not start within {COLLECT_TIMEOUT:.0f} s."
                        )
                yield started
            finally:
                for driver in started:
                    driver.close()


def single_rounds(systems: list[Driver], label: str, gap: float, rounds: int) -> None:
    """Submit one item to each system per round, after ``gap`` seconds idle."""
    for _ in range(rounds):
        time.sleep(max(0.0, gap - STAGGER_SECONDS * (len(systems) - 1)))
        for index, driver in enumerate(systems):
            if index:
                time.sleep(STAGGER_SECONDS)
            driver.request(f"one {label}")


@dataclass(frozen=True)
class Regime:
    """A way of submitting and its label in the results."""

    label: str
    title: str


REGIMES = (
    Regime("idle30", f"after {IDLE_SECONDS:.0f} s idle"),
    Regime("idle2", f"after {SHORT_IDLE_SECONDS:.0f} s idle"),
    Regime("sustained", f"{RATE}/s for {RATE_SECONDS:.0f} s"),
)


def summarize(values: list[float]) -> dict[str, float]:
    """Return n, p50, p99 and max of latencies in milliseconds."""
    return {
        "n": len(values),
        "p50": median(values),
        "p99": percentile(values, 0.99),
        "max": max(values),
    }


def report(
    result: Result, measured: dict[str, dict[str, Any]], rates: dict[str, Any]
) -> None:
    """Add the rows: per mode and regime, baseline and workflow p50 / p99."""
    for mode in ("embedded", "redis"):
        workflow = measured[f"{mode}-workflow"]["latencies"]
        baseline = measured[f"{mode}-dramatiq"]["latencies"]
        for regime in REGIMES:
            flow = summarize(workflow.get(regime.label, [0.0]))
            base = summarize(baseline.get(regime.label, [0.0]))
            key = f"{mode} {regime.label}"
            result.numbers[key] = {"workflow": flow, "dramatiq": base}
            result.add(
                f"{mode}, {regime.title}: Dramatiq actor p50 / p99 (n={base['n']})",
                f"{base['p50']:.1f} / {base['p99']:.1f} ms",
            )
            met = flow["p99"] <= TARGET_P99_MS
            result.add(
                f"{mode}, {regime.title}: workflow first step p50 / p99 "
                f"(n={flow['n']})",
                f"{flow['p50']:.1f} / {flow['p99']:.1f} ms",
                f"p99 <= {TARGET_P99_MS:.0f} ms",
                met,
            )
            ratio = flow["p99"] / base["p99"] if base["p99"] > 0 else float("inf")
            result.add(f"{mode}, {regime.title}: ratio p99", f"{ratio:.2f}")
    for kind, rate in rates.items():
        result.notes.append(
            f"{kind}: {rate['submitted']} submissions in {rate['seconds']:.2f} s "
            f"({rate['rate']:.0f}/s) in the sustained regime."
        )
    missing = {kind: data["missing"] for kind, data in measured.items()}
    if any(missing.values()):
        result.notes.append(
            f"Submissions whose step never started within "
            f"{COLLECT_TIMEOUT:.0f} s: {missing}"
        )


def run() -> Result:
    """Run the benchmark and return its result."""
    began = time.perf_counter()
    result = Result(NAME)
    measured: dict[str, dict[str, Any]] = {}
    rates: dict[str, Any] = {}
    with drivers() as systems:
        single_rounds(systems, "idle30", IDLE_SECONDS, IDLE_ROUNDS)
        single_rounds(systems, "idle2", SHORT_IDLE_SECONDS, SHORT_ROUNDS)
        for driver in systems:
            time.sleep(1.0)
            rates[driver.kind] = driver.request(f"rate sustained {RATE} {RATE_SECONDS}")
        for driver in systems:
            measured[driver.kind] = driver.request("collect")
    report(result, measured, rates)
    result.numbers["rates"] = rates
    result.notes.append(
        f"Single submissions: {IDLE_ROUNDS} after {IDLE_SECONDS:.0f} s idle and "
        f"{SHORT_ROUNDS} after {SHORT_IDLE_SECONDS:.0f} s idle per system. "
        f"Ratio: workflow p99 / Dramatiq actor p99 on the same broker."
    )
    result.seconds = time.perf_counter() - began
    return result


# Command line of the child processes ---------------------------------------------


def main(argv: list[str] | None = None) -> None:
    """Run a driver or a baseline worker process (used by :func:`run`)."""
    parser = argparse.ArgumentParser(prog=f"python -m {PLUGIN_MODULE}")
    commands = parser.add_subparsers(dest="command", required=True)
    driver = commands.add_parser("drive", help="Run one system under test.")
    driver.add_argument("kind", choices=KINDS)
    driver.add_argument("--directory", required=True, type=Path)
    driver.add_argument("--redis-url", required=True)
    driver.add_argument(
        "--dispatch-interval",
        type=float,
        default=1.0,
        help="Seconds between outbox reads when not woken.",
    )
    worker = commands.add_parser("worker", help="Run the baseline Redis worker.")
    worker.add_argument("--redis-url", required=True)
    worker.add_argument("--queue", required=True)
    worker.add_argument("--output", required=True, type=Path)
    arguments = parser.parse_args(argv)
    if arguments.command == "drive":
        asyncio.run(
            drive(
                arguments.kind,
                arguments.directory,
                arguments.redis_url,
                arguments.dispatch_interval,
            )
        )
    else:
        run_baseline_worker(arguments.redis_url, arguments.queue, arguments.output)


if __name__ == "__main__":
    main()
