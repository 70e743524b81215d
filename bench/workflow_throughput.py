"""Runs per second of a one-step workflow against no-op Dramatiq messages.

The systems and driver processes are those of :mod:`bench.workflow_latency`.
One is an embedded runtime (stub broker, in-process worker), another a
runtime with a Redis URL plus one ``python -m workflows`` worker process.
Each has a baseline: a bare async actor on the same broker with the same
worker threads, timeout and prefetch. The private ``redis-server`` runs on a free port.

A workflow trial stores ``RUNS`` records (the trigger dispatcher sleeps
meanwhile, because the drivers' dispatch interval is an hour), starts the
clock, wakes the dispatcher and waits until every run completed. The run's
one step is the ``bench_timestamp`` step, which only reads the clock, so
each run costs its share of the dispatch, one message and the stored
state. Its rate is the runs divided by the time from the wake to the
latest ``finished_at``. A baseline trial starts the clock,
sends ``MESSAGES`` messages and waits until the actor has run for each of
them. The median of ``TRIALS`` trials is reported.
"""

from __future__ import annotations

import time
from typing import Any

from bench._common import Result, median
from bench.workflow_latency import Driver, drivers

NAME = "workflow_throughput"
RUNS = 600
MESSAGES = 6000
TRIALS = 3
TARGET_RATIO = 0.5
DISPATCH_INTERVAL = 3600.0


def measure(driver: Driver, count: int) -> list[dict[str, Any]]:
    """Run the trials of one system; return their replies."""
    trials = []
    for _ in range(TRIALS):
        time.sleep(0.5)
        reply = driver.request(f"throughput {count}")
        if "error" in reply:
            raise RuntimeError(f"The {driver.kind} trial failed: {reply['error']}")
        trials.append(reply)
    return trials


def run() -> Result:
    """Run the benchmark and return its result."""
    began = time.perf_counter()
    result = Result(NAME)
    rates: dict[str, float] = {}
    with drivers(DISPATCH_INTERVAL) as systems:
        for driver in systems:
            count = RUNS if driver.kind.endswith("workflow") else MESSAGES
            trials = measure(driver, count)
            rates[driver.kind] = median([trial["per_second"] for trial in trials])
            result.numbers[driver.kind] = trials
    for mode in ("embedded", "redis"):
        baseline = rates[f"{mode}-dramatiq"]
        workflow = rates[f"{mode}-workflow"]
        ratio = workflow / baseline
        result.add(f"{mode}: no-op Dramatiq messages/s (baseline)", f"{baseline:,.0f}")
        result.add(f"{mode}: one-step workflow runs/s", f"{workflow:,.0f}")
        result.add(
            f"{mode}: ratio runs / messages",
            f"{ratio:.3f}",
            f">= {TARGET_RATIO}",
            ratio >= TARGET_RATIO,
        )
    result.notes.append(
        f"Median of {TRIALS} trials: {RUNS} runs per workflow trial, "
        f"{MESSAGES} messages per baseline trial."
    )
    result.seconds = time.perf_counter() - began
    return result
